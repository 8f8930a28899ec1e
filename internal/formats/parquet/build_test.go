package parquet_test

import (
	"encoding/binary"
)

// tw writes the Thrift compact protocol, for crafted footers.
type tw struct {
	b    []byte
	last []int16 // the previous field id of each open struct
}

func (w *tw) varint(v uint64) {
	w.b = binary.AppendUvarint(w.b, v)
}

func (w *tw) zigzag(v int64) { w.varint(uint64(v<<1) ^ uint64(v>>63)) }

// field writes a field header, with a delta when it fits in a nibble.
func (w *tw) field(id int16, typ byte) {
	last := &w.last[len(w.last)-1]
	if d := id - *last; d > 0 && d <= 15 {
		w.b = append(w.b, byte(d)<<4|typ)
	} else {
		w.b = append(w.b, typ)
		w.zigzag(int64(id))
	}
	*last = id
}

func (w *tw) begin() { w.last = append(w.last, 0) }
func (w *tw) end() {
	w.b = append(w.b, 0)
	w.last = w.last[:len(w.last)-1]
}

func (w *tw) i32(id int16, v int32) { w.field(id, 5); w.zigzag(int64(v)) }
func (w *tw) i64(id int16, v int64) { w.field(id, 6); w.zigzag(v) }
func (w *tw) bin(id int16, b []byte) {
	w.field(id, 8)
	w.varint(uint64(len(b)))
	w.b = append(w.b, b...)
}

// list writes a list header (the elements follow).
func (w *tw) list(id int16, n int, elem byte) {
	w.field(id, 9)
	w.listHeader(n, elem)
}

func (w *tw) listHeader(n int, elem byte) {
	if n < 15 {
		w.b = append(w.b, byte(n)<<4|elem)
		return
	}
	w.b = append(w.b, 0xf0|elem)
	w.varint(uint64(n))
}

// struct opens a struct field (close it with end).
func (w *tw) strct(id int16) { w.field(id, 12); w.begin() }

// fileMeta writes a FileMetaData with one int64 leaf column, the given
// key-value pairs (a nil value is left out), and extra fields from more.
func fileMeta(kvs [][2][]byte, more func(w *tw)) []byte {
	w := &tw{}
	w.begin()
	w.i32(1, 1)
	w.list(2, 2, 12)
	w.begin()
	w.bin(4, []byte("schema"))
	w.i32(5, 1)
	w.end()
	w.begin()
	w.i32(1, 2) // INT64
	w.bin(4, []byte("id"))
	w.end()
	w.i64(3, 0)
	w.list(4, 0, 12)
	if len(kvs) > 0 {
		w.list(5, len(kvs), 12)
		for _, kv := range kvs {
			w.begin()
			w.bin(1, kv[0])
			if kv[1] != nil {
				w.bin(2, kv[1])
			}
			w.end()
		}
	}
	w.bin(6, []byte("crafted"))
	if more != nil {
		more(w)
	}
	w.end()
	return w.b
}

// file frames a footer: magic, data, footer, length, magic.
func file(magic string, data, footer []byte) []byte {
	b := append([]byte(magic), data...)
	b = append(b, footer...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(footer)))
	return append(b, magic...)
}
