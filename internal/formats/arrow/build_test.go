package arrow_test

import (
	"encoding/binary"
	"strings"
)

// fbb lays a flatbuffer out front to back, for crafted inputs: references
// are unsigned and point forward, so a parent is written before what it
// refers to and each reference is patched once its target is written.
// (Real writers build back to front; readers cannot tell.)
type fbb struct{ b []byte }

// fv is one field of a table: a scalar of len(data) bytes, or a reference
// (ref) patched later.
type fv struct {
	slot int
	data []byte
	ref  bool
}

func (w *fbb) pad(n int) {
	for len(w.b)%n != 0 {
		w.b = append(w.b, 0)
	}
}

// table writes a vtable and, right after it, the table; it returns the
// table's position and the positions of its reference fields by slot.
func (w *fbb) table(fields ...fv) (int, map[int]int) {
	maxSlot := -1
	for _, f := range fields {
		maxSlot = max(maxSlot, f.slot)
	}
	offs := map[int]int{}
	tlen := 4
	for _, f := range fields {
		offs[f.slot] = tlen
		if f.ref {
			tlen += 4
		} else {
			tlen += len(f.data)
		}
	}
	w.pad(4)
	vt := len(w.b)
	w.b = binary.LittleEndian.AppendUint16(w.b, uint16(4+2*(maxSlot+1)))
	w.b = binary.LittleEndian.AppendUint16(w.b, uint16(tlen))
	for s := 0; s <= maxSlot; s++ {
		w.b = binary.LittleEndian.AppendUint16(w.b, uint16(offs[s]))
	}
	w.pad(4)
	tp := len(w.b)
	w.b = binary.LittleEndian.AppendUint32(w.b, uint32(tp-vt))
	refs := map[int]int{}
	for _, f := range fields {
		if f.ref {
			refs[f.slot] = len(w.b)
			w.b = append(w.b, 0, 0, 0, 0)
		} else {
			w.b = append(w.b, f.data...)
		}
	}
	return tp, refs
}

func (w *fbb) patch(at, target int) { binary.LittleEndian.PutUint32(w.b[at:], uint32(target-at)) }

// vector writes a count and n reference placeholders.
func (w *fbb) vector(n int) (int, []int) {
	w.pad(4)
	p := len(w.b)
	w.b = binary.LittleEndian.AppendUint32(w.b, uint32(n))
	var elems []int
	for range n {
		elems = append(elems, len(w.b))
		w.b = append(w.b, 0, 0, 0, 0)
	}
	return p, elems
}

func (w *fbb) str(s string) int {
	w.pad(4)
	p := len(w.b)
	w.b = binary.LittleEndian.AppendUint32(w.b, uint32(len(s)))
	w.b = append(w.b, s...)
	w.b = append(w.b, 0)
	return p
}

func u8(v byte) []byte   { return []byte{v} }
func i16(v int16) []byte { return binary.LittleEndian.AppendUint16(nil, uint16(v)) }
func i64(v int64) []byte { return binary.LittleEndian.AppendUint64(nil, uint64(v)) }

// tField is a Field to write.
type tField struct {
	name     string
	typ      byte // Type union id; 2 = Int, 13 = Struct_
	children []tField
	meta     [][2]string
}

const (
	typeInt    = 2
	typeStruct = 13
)

// schemaMessage is a flatbuffer Message{version V5, Schema{fields, meta}}.
func schemaMessage(fields []tField, meta [][2]string) []byte {
	w := &fbb{b: make([]byte, 4)}
	msg, mrefs := w.table(fv{0, i16(4), false}, fv{1, u8(1), false}, fv{2, nil, true}, fv{3, i64(0), false})
	w.patch(0, msg)
	slots := []fv{{1, nil, true}}
	if len(meta) > 0 {
		slots = append(slots, fv{2, nil, true})
	}
	schema, srefs := w.table(slots...)
	w.patch(mrefs[2], schema)
	w.fields(srefs[1], fields)
	if len(meta) > 0 {
		w.keyValues(srefs[2], meta)
	}
	return w.b
}

func (w *fbb) fields(ref int, fields []tField) {
	vec, elems := w.vector(len(fields))
	w.patch(ref, vec)
	for i, f := range fields {
		slots := []fv{{0, nil, true}, {1, u8(1), false}, {2, u8(f.typ), false}, {3, nil, true}, {5, nil, true}}
		if len(f.meta) > 0 {
			slots = append(slots, fv{6, nil, true})
		}
		t, refs := w.table(slots...)
		w.patch(elems[i], t)
		w.patch(refs[0], w.str(f.name))
		typ, _ := w.table()
		w.patch(refs[3], typ)
		w.fields(refs[5], f.children)
		if len(f.meta) > 0 {
			w.keyValues(refs[6], f.meta)
		}
	}
}

func (w *fbb) keyValues(ref int, kvs [][2]string) {
	vec, elems := w.vector(len(kvs))
	w.patch(ref, vec)
	for i, kv := range kvs {
		t, refs := w.table(fv{0, nil, true}, fv{1, nil, true})
		w.patch(elems[i], t)
		w.patch(refs[0], w.str(kv[0]))
		w.patch(refs[1], w.str(kv[1]))
	}
}

// sharedMessage is a schema whose one field has two children that are the
// same table, depth levels down: 2^depth paths through a small buffer.
// Every level has a name of nameLen bytes; the leaf has the key-value
// pairs leaf.
func sharedMessage(depth, nameLen int, leaf [][2]string) []byte {
	w := &fbb{b: make([]byte, 4)}
	msg, mrefs := w.table(fv{0, i16(4), false}, fv{1, u8(1), false}, fv{2, nil, true})
	w.patch(0, msg)
	schema, srefs := w.table(fv{1, nil, true})
	w.patch(mrefs[2], schema)
	vec, elems := w.vector(1)
	w.patch(srefs[1], vec)
	parents := elems
	name := strings.Repeat("n", nameLen)
	for range depth {
		t, refs := w.table(fv{0, nil, true}, fv{2, u8(typeStruct), false}, fv{5, nil, true})
		for _, p := range parents {
			w.patch(p, t)
		}
		w.patch(refs[0], w.str(name))
		vp, kids := w.vector(2)
		w.patch(refs[5], vp)
		parents = kids
	}
	slots := []fv{{2, u8(typeInt), false}}
	if len(leaf) > 0 {
		slots = append(slots, fv{6, nil, true})
	}
	t, refs := w.table(slots...)
	for _, p := range parents {
		w.patch(p, t)
	}
	if len(leaf) > 0 {
		w.keyValues(refs[6], leaf)
	}
	return w.b
}

// encapsulate frames a flatbuffer as an IPC message: continuation marker,
// length, the flatbuffer padded to 8 bytes.
func encapsulate(fb []byte) []byte {
	for len(fb)%8 != 0 {
		fb = append(fb, 0)
	}
	b := binary.LittleEndian.AppendUint32(nil, 0xFFFFFFFF)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(fb)))
	return append(b, fb...)
}

// eos is the end-of-stream marker.
var eos = []byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}

// recordBatchMessage is a Message{RecordBatch{}, bodyLength}.
func recordBatchMessage(body int64) []byte {
	w := &fbb{b: make([]byte, 4)}
	msg, refs := w.table(fv{0, i16(4), false}, fv{1, u8(3), false}, fv{2, nil, true}, fv{3, i64(body), false})
	w.patch(0, msg)
	rb, _ := w.table(fv{0, i64(1), false})
	w.patch(refs[2], rb)
	return w.b
}

// ipcFile is an IPC file: the magic, a stream whose schema has the fields
// first, then a footer whose schema has the fields footer (none: no
// schema) and the key-value pairs meta.
func ipcFile(first, footer []tField, meta [][2]string) []byte {
	b := append([]byte("ARROW1\x00\x00"), encapsulate(schemaMessage(first, nil))...)
	b = append(b, eos...)
	w := &fbb{b: make([]byte, 4)}
	slots := []fv{{0, i16(4), false}}
	if footer != nil {
		slots = append(slots, fv{1, nil, true})
	}
	if len(meta) > 0 {
		slots = append(slots, fv{4, nil, true})
	}
	t, refs := w.table(slots...)
	w.patch(0, t)
	if footer != nil {
		schema, srefs := w.table(fv{1, nil, true})
		w.patch(refs[1], schema)
		w.fields(srefs[1], footer)
	}
	if len(meta) > 0 {
		w.keyValues(refs[4], meta)
	}
	b = append(b, w.b...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(w.b)))
	return append(b, "ARROW1"...)
}
