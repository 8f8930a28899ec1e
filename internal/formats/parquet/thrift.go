package parquet

import (
	"errors"
	"fmt"
)

// Thrift compact protocol types (the low nibble of a field header, and the
// element types of lists, sets and maps), from the Thrift compact protocol
// specification (doc/specs/thrift-compact-protocol.md in apache/thrift).
const (
	tStop   = 0
	tTrue   = 1 // a bool field's value is its type; a bool element is one byte
	tFalse  = 2
	tByte   = 3
	tI16    = 4
	tI32    = 5
	tI64    = 6
	tDouble = 7
	tBinary = 8
	tList   = 9
	tSet    = 10
	tMap    = 11
	tStruct = 12
	tUUID   = 13
)

// maxThriftDepth bounds nested structs and containers (FileMetaData needs
// six levels: RowGroup, ColumnChunk, ColumnMetaData, Statistics…); the
// Thrift C++ library's default recursion limit is 64.
const maxThriftDepth = 64

// thrift reads the compact protocol from a buffer held in memory (the
// footer, whose length is checked before it is read). Every length and
// count is checked against what is left of the buffer before use: every
// element takes at least one byte, so a count larger than the bytes left
// is an error, and nothing is ever allocated from a count.
type thrift struct {
	b   []byte
	pos int
}

var errShort = errors.New("the Thrift data ends early")

func (r *thrift) errorf(format string, args ...any) error {
	return fmt.Errorf("footer byte %d: "+format, append([]any{r.pos}, args...)...)
}

func (r *thrift) byte() (byte, error) {
	if r.pos >= len(r.b) {
		return 0, fmt.Errorf("footer byte %d: %w", r.pos, errShort)
	}
	c := r.b[r.pos]
	r.pos++
	return c, nil
}

// varint reads an unsigned LEB128 varint of at most 10 bytes.
func (r *thrift) varint() (uint64, error) {
	var v uint64
	for shift := 0; shift < 70; shift += 7 {
		c, err := r.byte()
		if err != nil {
			return 0, err
		}
		if shift == 63 && c > 1 {
			return 0, r.errorf("varint overflows 64 bits")
		}
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return v, nil
		}
	}
	return 0, r.errorf("varint longer than 10 bytes")
}

// zigzag reads a signed varint (i16, i32, i64) and checks it fits in bits.
func (r *thrift) zigzag(bits int) (int64, error) {
	u, err := r.varint()
	if err != nil {
		return 0, err
	}
	v := int64(u>>1) ^ -int64(u&1)
	if bits < 64 && (v < -1<<(bits-1) || v >= 1<<(bits-1)) {
		return 0, r.errorf("%d does not fit in %d bits", v, bits)
	}
	return v, nil
}

// binary reads a length-prefixed string or binary, as a slice of the
// buffer.
func (r *thrift) binary() ([]byte, error) {
	n, err := r.varint()
	if err != nil {
		return nil, err
	}
	if n > uint64(len(r.b)-r.pos) {
		return nil, r.errorf("a string of %d bytes, %d left: %w", n, len(r.b)-r.pos, errShort)
	}
	s := r.b[r.pos : r.pos+int(n)]
	r.pos += int(n)
	return s, nil
}

// field reads a field header: the id (a delta from the previous id in the
// high nibble, or a zigzag i16 after a zero nibble) and the type. stop is
// set at the end of a struct.
func (r *thrift) field(last int16) (id int16, typ byte, stop bool, err error) {
	c, err := r.byte()
	if err != nil {
		return 0, 0, false, err
	}
	if c == tStop {
		return 0, 0, true, nil
	}
	typ = c & 0x0f
	if d := c >> 4; d != 0 {
		id = last + int16(d)
	} else {
		v, err := r.zigzag(16)
		if err != nil {
			return 0, 0, false, err
		}
		id = int16(v)
	}
	if typ > tUUID {
		return 0, 0, false, r.errorf("field %d of unknown type %d", id, typ)
	}
	return id, typ, false, nil
}

// list reads a list or set header: a size in the high nibble (15: a varint
// follows) and the element type.
func (r *thrift) list() (n int, elem byte, err error) {
	c, err := r.byte()
	if err != nil {
		return 0, 0, err
	}
	elem = c & 0x0f
	size := uint64(c >> 4)
	if size == 15 {
		if size, err = r.varint(); err != nil {
			return 0, 0, err
		}
	}
	if elem > tUUID || elem == tStop {
		return 0, 0, r.errorf("list of unknown element type %d", elem)
	}
	if size > uint64(len(r.b)-r.pos) {
		return 0, 0, r.errorf("a list of %d elements, %d bytes left: %w", size, len(r.b)-r.pos, errShort)
	}
	return int(size), elem, nil
}

// i32 reads an i32 field value.
func (r *thrift) i32() (int32, error) {
	v, err := r.zigzag(32)
	return int32(v), err
}

// skip passes over one value of type typ. In a list, a bool takes a byte;
// as a field value it takes none (its type is the value).
func (r *thrift) skip(typ byte, depth int, inList bool) error {
	if depth > maxThriftDepth {
		return r.errorf("nested deeper than %d levels", maxThriftDepth)
	}
	switch typ {
	case tTrue, tFalse:
		if inList {
			_, err := r.byte()
			return err
		}
		return nil
	case tByte:
		_, err := r.byte()
		return err
	case tI16, tI32, tI64:
		_, err := r.varint()
		return err
	case tDouble, tUUID:
		n := 8
		if typ == tUUID {
			n = 16
		}
		if len(r.b)-r.pos < n {
			return fmt.Errorf("footer byte %d: %w", r.pos, errShort)
		}
		r.pos += n
		return nil
	case tBinary:
		_, err := r.binary()
		return err
	case tList, tSet:
		n, elem, err := r.list()
		if err != nil {
			return err
		}
		for range n {
			if err := r.skip(elem, depth+1, true); err != nil {
				return err
			}
		}
		return nil
	case tMap:
		return r.skipMap(depth)
	case tStruct:
		return r.skipStruct(depth)
	}
	return r.errorf("unknown type %d", typ)
}

// skipMap passes over a map: a varint size, then (if not empty) one byte
// of key and value types.
func (r *thrift) skipMap(depth int) error {
	n, err := r.varint()
	if err != nil || n == 0 {
		return err
	}
	kv, err := r.byte()
	if err != nil {
		return err
	}
	k, v := kv>>4, kv&0x0f
	if k > tUUID || v > tUUID || k == tStop || v == tStop {
		return r.errorf("map of unknown types %d, %d", k, v)
	}
	if n > uint64(len(r.b)-r.pos)/2 {
		return r.errorf("a map of %d entries, %d bytes left: %w", n, len(r.b)-r.pos, errShort)
	}
	for range n {
		if err := r.skip(k, depth+1, true); err != nil {
			return err
		}
		if err := r.skip(v, depth+1, true); err != nil {
			return err
		}
	}
	return nil
}

// skipStruct passes over a struct to its stop byte.
func (r *thrift) skipStruct(depth int) error {
	return r.fields(depth, func(int16, byte) (bool, error) { return false, nil })
}

// fields reads a struct's fields in order, calling read for each: read
// returns true when it consumed the value, false to have it skipped.
func (r *thrift) fields(depth int, read func(id int16, typ byte) (bool, error)) error {
	if depth > maxThriftDepth {
		return r.errorf("nested deeper than %d levels", maxThriftDepth)
	}
	var last int16
	for {
		id, typ, stop, err := r.field(last)
		if err != nil || stop {
			return err
		}
		last = id
		done, err := read(id, typ)
		if err != nil {
			return err
		}
		if !done {
			if err := r.skip(typ, depth+1, false); err != nil {
				return err
			}
		}
	}
}

// structs reads a list of structs, calling each for every element (which
// must consume it), and returns the count.
func (r *thrift) structs(depth int, each func(i int) error) (int, error) {
	n, elem, err := r.list()
	if err != nil {
		return 0, err
	}
	if elem != tStruct {
		return 0, r.errorf("a list of type %d where structs belong", elem)
	}
	for i := range n {
		if err := each(i); err != nil {
			return i, err
		}
	}
	return n, nil
}
