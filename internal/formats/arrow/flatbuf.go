package arrow

import (
	"encoding/binary"
	"fmt"
)

// fb is one flatbuffer held in memory: the metadata of one IPC message or
// the file footer, never more than maxMetadata bytes. It is a minimal
// reader of the flatbuffers wire format, enough for Arrow's schema tables:
// every offset read from the buffer is checked against the buffer before
// it is followed, so a hostile buffer can point anywhere and only ever gets
// an error. No flatbuffers dependency: the generated Go code trusts its
// input (it panics on a bad offset) and the verifier is C++ only.
//
// The layout, from flatbuffers' internals documentation: a table starts
// with an int32 soffset to its vtable (vtable = table - soffset); a vtable
// is uint16 vtable size, uint16 table size, then one uint16 per field
// (the field's offset inside the table, 0 when absent). References to
// tables, vectors and strings are uint32 offsets relative to where they are
// stored. A vector or string is a uint32 count followed by the elements (a
// string also by a NUL that nothing here needs).
type fb struct {
	b []byte
	// base is the file offset of b[0]; at is the offset every finding
	// carries instead when base is negative (a buffer decoded from
	// somewhere else, such as the base64 ARROW:schema of a Parquet footer).
	base, at int64
}

// table is one table of the buffer, its vtable checked.
type table struct {
	pos  int // the table's first byte (its soffset)
	vt   int // its vtable
	vlen int // the vtable's size in bytes
	tlen int // the table's inline size in bytes
}

// offset is the file offset of position pos of the buffer.
func (f *fb) offset(pos int) int64 {
	if f.base < 0 {
		return f.at
	}
	return f.base + int64(pos)
}

func (f *fb) errorf(pos int, format string, args ...any) error {
	return fmt.Errorf("flatbuffer byte %d: %s", pos, fmt.Sprintf(format, args...))
}

// has reports whether [pos, pos+n) is inside the buffer; pos and n come
// from the file, so the sum is done in 64 bits.
func (f *fb) has(pos, n int64) bool {
	return pos >= 0 && n >= 0 && pos+n <= int64(len(f.b))
}

func (f *fb) u16(pos int) int { return int(binary.LittleEndian.Uint16(f.b[pos:])) }
func (f *fb) u32(pos int) uint32 {
	return binary.LittleEndian.Uint32(f.b[pos:])
}

// root is the table the buffer's first uint32 points at.
func (f *fb) root() (table, error) {
	if !f.has(0, 4) {
		return table{}, f.errorf(0, "buffer of %d bytes has no root offset", len(f.b))
	}
	return f.table(int64(f.u32(0)))
}

// table checks the table at pos and its vtable.
func (f *fb) table(pos int64) (table, error) {
	if !f.has(pos, 4) {
		return table{}, f.errorf(int(min(pos, 1<<31)), "table outside the %d-byte buffer", len(f.b))
	}
	p := int(pos)
	vt := pos - int64(int32(f.u32(p)))
	if !f.has(vt, 4) {
		return table{}, f.errorf(p, "vtable at %d outside the %d-byte buffer", vt, len(f.b))
	}
	t := table{pos: p, vt: int(vt), vlen: f.u16(int(vt)), tlen: f.u16(int(vt) + 2)}
	switch {
	case t.vlen < 4 || t.vlen%2 != 0 || !f.has(vt, int64(t.vlen)):
		return table{}, f.errorf(p, "vtable of %d bytes does not fit", t.vlen)
	case t.tlen < 4 || !f.has(pos, int64(t.tlen)):
		return table{}, f.errorf(p, "table of %d bytes does not fit", t.tlen)
	}
	return t, nil
}

// field returns the buffer position of a field's value of size bytes, or
// 0 when the field is absent (the vtable is shorter or says 0).
func (f *fb) field(t table, slot, size int) (int, error) {
	vo := 4 + 2*slot
	if vo+2 > t.vlen {
		return 0, nil
	}
	o := f.u16(t.vt + vo)
	if o == 0 {
		return 0, nil
	}
	if o < 4 || o+size > t.tlen {
		return 0, f.errorf(t.pos, "field %d at table offset %d outside the %d-byte table", slot, o, t.tlen)
	}
	return t.pos + o, nil
}

// u8 reads a one-byte scalar field (bool, ubyte, union type), def when absent.
func (f *fb) u8(t table, slot int, def uint8) (uint8, error) {
	p, err := f.field(t, slot, 1)
	if err != nil || p == 0 {
		return def, err
	}
	return f.b[p], nil
}

// i16 reads a short scalar field, def when absent.
func (f *fb) i16(t table, slot int, def int16) (int16, error) {
	p, err := f.field(t, slot, 2)
	if err != nil || p == 0 {
		return def, err
	}
	return int16(f.u16(p)), nil
}

// i64 reads a long scalar field, def when absent.
func (f *fb) i64(t table, slot int, def int64) (int64, error) {
	p, err := f.field(t, slot, 8)
	if err != nil || p == 0 {
		return def, err
	}
	return int64(binary.LittleEndian.Uint64(f.b[p:])), nil
}

// ref follows the uint32 reference stored in a field; ok is false when the
// field is absent.
func (f *fb) ref(t table, slot int) (pos int64, ok bool, err error) {
	p, err := f.field(t, slot, 4)
	if err != nil || p == 0 {
		return 0, false, err
	}
	return int64(p) + int64(f.u32(p)), true, nil
}

// sub is the table a field refers to.
func (f *fb) sub(t table, slot int) (table, bool, error) {
	pos, ok, err := f.ref(t, slot)
	if err != nil || !ok {
		return table{}, false, err
	}
	s, err := f.table(pos)
	return s, err == nil, err
}

// vector is the vector a field refers to: the position of its first
// element and its length, checked to fit with elements of elem bytes.
func (f *fb) vector(t table, slot, elem int) (start, n int, err error) {
	pos, ok, err := f.ref(t, slot)
	if err != nil || !ok {
		return 0, 0, err
	}
	return f.vectorAt(pos, elem)
}

func (f *fb) vectorAt(pos int64, elem int) (start, n int, err error) {
	if !f.has(pos, 4) {
		return 0, 0, f.errorf(int(min(pos, 1<<31)), "vector outside the %d-byte buffer", len(f.b))
	}
	count := int64(f.u32(int(pos)))
	if !f.has(pos+4, count*int64(elem)) {
		return 0, 0, f.errorf(int(pos), "vector of %d elements of %d bytes does not fit in the %d-byte buffer", count, elem, len(f.b))
	}
	return int(pos) + 4, int(count), nil
}

// str is the string (bytes) a field refers to; nil and false when absent.
func (f *fb) str(t table, slot int) ([]byte, bool, error) {
	pos, ok, err := f.ref(t, slot)
	if err != nil || !ok {
		return nil, false, err
	}
	start, n, err := f.vectorAt(pos, 1)
	if err != nil {
		return nil, false, err
	}
	return f.b[start : start+n], true, nil
}

// elem is the table element i of a vector of tables starting at start.
func (f *fb) elem(start, i int) (table, error) {
	p := start + 4*i
	return f.table(int64(p) + int64(f.u32(p)))
}
