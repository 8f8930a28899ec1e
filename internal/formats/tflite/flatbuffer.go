package tflite

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

const (
	// pageSize is the unit the reader caches: flatbuffer tables are small
	// and scattered, so reads are rounded to pages and kept.
	pageSize = 4096
	// maxRead caps the bytes read to walk the model's tables. The tables a
	// model needs sit together at the front of the file (flatbuffers are
	// built back to front and the weights are written first); a model whose
	// tables are spread over more than this is not read further.
	maxRead = 16 << 20
)

var errOutside = errors.New("offset outside the file")

// fbuf reads a flatbuffer from an io.ReaderAt through a page cache, with
// every offset checked against the file before it is followed.
type fbuf struct {
	r     io.ReaderAt
	size  int64
	pages map[int64][]byte
	read  int64
}

func newFbuf(r io.ReaderAt, size int64) *fbuf {
	return &fbuf{r: r, size: size, pages: map[int64][]byte{}}
}

// bytes returns n bytes at off (n small: a scalar or a capped string).
func (b *fbuf) bytes(off, n int64) ([]byte, error) {
	if off < 0 || n < 0 || off > b.size || n > b.size-off {
		return nil, fmt.Errorf("%w: %d bytes at %d (file %d bytes)", errOutside, n, off, b.size)
	}
	out := make([]byte, 0, n)
	for n > 0 {
		p, err := b.page(off / pageSize)
		if err != nil {
			return nil, err
		}
		in := off % pageSize
		k := min(n, int64(len(p))-in)
		if k <= 0 {
			return nil, fmt.Errorf("%w: short page at %d", errOutside, off)
		}
		out = append(out, p[in:in+k]...)
		off, n = off+k, n-k
	}
	return out, nil
}

func (b *fbuf) page(i int64) ([]byte, error) {
	if p, ok := b.pages[i]; ok {
		return p, nil
	}
	start := i * pageSize
	n := min(pageSize, b.size-start)
	if b.read+n > maxRead {
		return nil, fmt.Errorf("model tables spread over more than %d bytes: not read further", maxRead)
	}
	p := make([]byte, n)
	if k, err := b.r.ReadAt(p, start); k < len(p) {
		return nil, fmt.Errorf("read at %d: %w", start, cmpErr(err))
	}
	b.read += n
	b.pages[i] = p
	return p, nil
}

func cmpErr(err error) error {
	if err == nil {
		return io.ErrUnexpectedEOF
	}
	return err
}

func (b *fbuf) u16(off int64) (uint16, error) {
	p, err := b.bytes(off, 2)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint16(p), nil
}

func (b *fbuf) u32(off int64) (uint32, error) {
	p, err := b.bytes(off, 4)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(p), nil
}

// deref follows the uoffset stored at off.
func (b *fbuf) deref(off int64) (int64, error) {
	u, err := b.u32(off)
	if err != nil {
		return 0, err
	}
	target := off + int64(u)
	if target >= b.size {
		return 0, fmt.Errorf("%w: offset at %d points to %d", errOutside, off, target)
	}
	return target, nil
}

// table is a flatbuffer table: its position and its vtable.
type table struct {
	b      *fbuf
	pos    int64
	vt     int64
	vtSize int64 // bytes, including the two header fields
	tSize  int64 // inline size of the table
}

// tableAt reads the table at pos: a signed offset back to its vtable, which
// gives its own size, the table's size, then one uint16 per field.
func (b *fbuf) tableAt(pos int64) (table, error) {
	u, err := b.u32(pos)
	if err != nil {
		return table{}, fmt.Errorf("table at %d: %w", pos, err)
	}
	vt := pos - int64(int32(u))
	vs, err := b.u16(vt)
	if err != nil {
		return table{}, fmt.Errorf("vtable of the table at %d: %w", pos, err)
	}
	ts, err := b.u16(vt + 2)
	if err != nil {
		return table{}, fmt.Errorf("vtable of the table at %d: %w", pos, err)
	}
	if vs < 4 || vs%2 != 0 || ts < 4 || pos+int64(ts) > b.size {
		return table{}, fmt.Errorf("table at %d: bad vtable at %d (vtable %d bytes, table %d bytes)", pos, vt, vs, ts)
	}
	if _, err := b.bytes(vt, int64(vs)); err != nil {
		return table{}, fmt.Errorf("vtable of the table at %d: %w", pos, err)
	}
	return table{b: b, pos: pos, vt: vt, vtSize: int64(vs), tSize: int64(ts)}, nil
}

// field returns the position of field i, or false when it is absent
// (the reader then uses the schema default).
func (t table) field(i int, width int64) (int64, bool, error) {
	slot := 4 + 2*int64(i)
	if slot+2 > t.vtSize {
		return 0, false, nil
	}
	o, err := t.b.u16(t.vt + slot)
	if err != nil || o == 0 {
		return 0, false, err
	}
	if int64(o)+width > t.tSize {
		return 0, false, fmt.Errorf("field %d of the table at %d lies outside the table", i, t.pos)
	}
	return t.pos + int64(o), true, nil
}

func (t table) u32(i int, def uint32) (uint32, error) {
	p, ok, err := t.field(i, 4)
	if err != nil || !ok {
		return def, err
	}
	return t.b.u32(p)
}

func (t table) i32(i int, def int32) (int32, error) {
	v, err := t.u32(i, uint32(def))
	return int32(v), err
}

func (t table) i8(i int, def int8) (int8, error) {
	p, ok, err := t.field(i, 1)
	if err != nil || !ok {
		return def, err
	}
	bs, err := t.b.bytes(p, 1)
	if err != nil {
		return def, err
	}
	return int8(bs[0]), nil
}

// vector returns where the elements of vector field i start and how many
// there are; a count whose elements would not fit in the file is an error,
// so counts are bounded by the file size before anything uses them.
func (t table) vector(i int, elem int64) (start, n int64, ok bool, err error) {
	p, ok, err := t.field(i, 4)
	if err != nil || !ok {
		return 0, 0, false, err
	}
	v, err := t.b.deref(p)
	if err != nil {
		return 0, 0, false, fmt.Errorf("vector field %d of the table at %d: %w", i, t.pos, err)
	}
	cnt, err := t.b.u32(v)
	if err != nil {
		return 0, 0, false, fmt.Errorf("vector at %d: %w", v, err)
	}
	if int64(cnt) > (t.b.size-v-4)/elem {
		return 0, 0, false, fmt.Errorf("vector at %d claims %d elements of %d bytes: more than the file holds", v, cnt, elem)
	}
	return v + 4, int64(cnt), true, nil
}

// tableElem is the table that element k of a vector of tables points to.
func (b *fbuf) tableElem(start, k int64) (table, error) {
	pos, err := b.deref(start + 4*k)
	if err != nil {
		return table{}, err
	}
	return b.tableAt(pos)
}

// str reads string field i, keeping at most limit bytes; the full length
// is returned too.
func (t table) str(i int, limit int64) (s string, full int64, pos int64, ok bool, err error) {
	p, ok, err := t.field(i, 4)
	if err != nil || !ok {
		return "", 0, 0, false, err
	}
	v, err := t.b.deref(p)
	if err != nil {
		return "", 0, 0, false, fmt.Errorf("string field %d of the table at %d: %w", i, t.pos, err)
	}
	n, err := t.b.u32(v)
	if err != nil {
		return "", 0, 0, false, err
	}
	if int64(n) > t.b.size-v-4 {
		return "", 0, 0, false, fmt.Errorf("string at %d of %d bytes runs past the end of the file", v, n)
	}
	bs, err := t.b.bytes(v+4, min(int64(n), limit))
	if err != nil {
		return "", 0, 0, false, err
	}
	return string(bs), int64(n), v, true, nil
}
