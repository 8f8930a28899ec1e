package convert

import (
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
)

// storage is the raw bytes behind one or more tensors: a zip member, a
// span of a legacy file, the data of an .npy array. Tensors that share a
// storage (tied weights, views) point at the same *storage.
type storage struct {
	key   string // for messages and sharing reports
	r     io.ReaderAt
	size  int64 // bytes
	dtype DType
	// swap is set when the stored elements are big-endian.
	swap bool
}

// Tensor is one named tensor of a model file: a dtype, a shape, and where
// its elements are (a storage with an element offset and strides, as torch
// describes views).
type Tensor struct {
	Name  string
	DType DType
	Shape []int64
	// Offset and Strides are in elements of DType, as in torch.
	Offset  int64
	Strides []int64

	st *storage
}

// Numel is the number of elements.
func (t *Tensor) Numel() int64 {
	n := int64(1)
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// ByteSize is the size of the tensor written contiguously.
func (t *Tensor) ByteSize() int64 { return t.Numel() * int64(t.DType.Size) }

// maxTensorBytes caps one tensor (and so products of shapes) far beyond any
// real model, so that shape arithmetic never overflows.
const maxTensorBytes = 1 << 50

// maxDims is torch's own limit on tensor dimensions.
const maxDims = 64

// check validates shape, strides and offset against the storage before
// anything is read: every element the view reaches must be inside it.
func (t *Tensor) check() error {
	if len(t.Shape) > maxDims {
		return fmt.Errorf("tensor %q has %d dimensions (at most %d)", t.Name, len(t.Shape), maxDims)
	}
	if len(t.Strides) != len(t.Shape) {
		return fmt.Errorf("tensor %q: %d sizes but %d strides", t.Name, len(t.Shape), len(t.Strides))
	}
	if t.Offset < 0 {
		return fmt.Errorf("tensor %q: negative storage offset %d", t.Name, t.Offset)
	}
	numel := uint64(1)
	for i, d := range t.Shape {
		if d < 0 {
			return fmt.Errorf("tensor %q: negative size %d", t.Name, d)
		}
		if t.Strides[i] < 0 {
			return fmt.Errorf("tensor %q: negative stride %d", t.Name, t.Strides[i])
		}
		hi, lo := bits.Mul64(numel, uint64(d))
		if hi != 0 || lo > maxTensorBytes {
			return fmt.Errorf("tensor %q: shape %v is too large", t.Name, t.Shape)
		}
		numel = lo
	}
	if numel*uint64(t.DType.Size) > maxTensorBytes {
		return fmt.Errorf("tensor %q: shape %v is too large", t.Name, t.Shape)
	}
	if numel == 0 {
		return nil
	}
	// Last element index: offset + sum((size-1)*stride), overflow-checked.
	last := uint64(t.Offset)
	for i, d := range t.Shape {
		hi, lo := bits.Mul64(uint64(d-1), uint64(t.Strides[i]))
		if hi != 0 || lo > math.MaxInt64/2 {
			return fmt.Errorf("tensor %q: stride %d out of range", t.Name, t.Strides[i])
		}
		last += lo
		if last > math.MaxInt64/2 {
			return fmt.Errorf("tensor %q: view out of range", t.Name)
		}
	}
	es := uint64(t.DType.Size)
	if t.st == nil {
		return fmt.Errorf("tensor %q has no storage", t.Name)
	}
	if hi, lo := bits.Mul64(last+1, es); hi != 0 || lo > uint64(t.st.size) {
		return fmt.Errorf("tensor %q: view (offset %d, size %v, stride %v) reaches element %d, past the end of storage %q of %d elements",
			t.Name, t.Offset, t.Shape, t.Strides, last, t.st.key, uint64(t.st.size)/es)
	}
	return nil
}

// maxCompressedSpan caps the memory a strided view of a deflated member
// may take (the span of storage it reaches).
const maxCompressedSpan = 1 << 30

// span returns the first and last element indices the view reaches (numel
// must be > 0 and check must have passed).
func (t *Tensor) span() (first, last int64) {
	first, last = t.Offset, t.Offset
	for i, d := range t.Shape {
		last += (d - 1) * t.Strides[i]
	}
	return first, last
}

// contiguous reports whether the view is row-major contiguous (dimensions
// of size 1 have no meaningful stride).
func (t *Tensor) contiguous() bool {
	want := int64(1)
	for i := len(t.Shape) - 1; i >= 0; i-- {
		if t.Shape[i] == 1 {
			continue
		}
		if t.Strides[i] != want {
			return false
		}
		want *= t.Shape[i]
	}
	return true
}

// chunkSize is the unit of reads and writes when copying tensors out.
const chunkSize = 1 << 20

// WriteTo writes the tensor's elements contiguously, row-major and
// little-endian. Memory is bounded by a chunk for contiguous tensors and by
// a page cache (viewCache bytes) for strided views.
func (t *Tensor) WriteTo(w io.Writer) (int64, error) {
	return t.writeTo(w, defaultViewCache)
}

func (t *Tensor) writeTo(w io.Writer, viewCache int64) (int64, error) {
	if err := t.check(); err != nil {
		return 0, err
	}
	n := t.Numel()
	if n == 0 {
		return 0, nil
	}
	es := int64(t.DType.Size)
	out := &chunkWriter{w: w, swap: t.st.swap, es: int(es)}
	if t.contiguous() {
		err := copySpan(out, t.st.r, t.Offset*es, n*es)
		return out.total, err
	}
	// Strided view: collapse the innermost dimensions that are contiguous
	// among themselves into runs, then walk the outer index.
	dims := len(t.Shape)
	run := int64(1)
	inner := dims
	if t.Strides[dims-1] == 1 || t.Shape[dims-1] == 1 {
		want := int64(1)
		for inner > 0 && (t.Strides[inner-1] == want || t.Shape[inner-1] == 1) {
			run *= t.Shape[inner-1]
			want = run
			inner--
		}
	}
	if m, ok := t.st.r.(*memberAt); ok && m.raw == nil {
		// A compressed member can only be read forwards cheaply: let the
		// cache hold the view's whole span so that it is inflated once.
		first, last := t.span()
		span := (last - first + 1) * es
		if span > maxCompressedSpan {
			return 0, fmt.Errorf("strided view spanning %d bytes of a compressed member (at most %d)", span, int64(maxCompressedSpan))
		}
		viewCache = max(viewCache, span+2*pageSize)
	}
	pages := newPageCache(t.st.r, t.st.size, viewCache)
	idx := make([]int64, inner)
	buf := make([]byte, min(run*es, chunkSize))
	for {
		off := t.Offset
		for i := 0; i < inner; i++ {
			off += idx[i] * t.Strides[i]
		}
		if err := copyRun(out, pages, off*es, run*es, buf); err != nil {
			return out.total, err
		}
		// Next outer index.
		i := inner - 1
		for ; i >= 0; i-- {
			idx[i]++
			if idx[i] < t.Shape[i] {
				break
			}
			idx[i] = 0
		}
		if i < 0 {
			break
		}
	}
	return out.total, out.flush()
}

func copyRun(out *chunkWriter, r io.ReaderAt, off, n int64, buf []byte) error {
	for n > 0 {
		k := min(n, int64(len(buf)))
		if err := readFull(r, buf[:k], off); err != nil {
			return err
		}
		if err := out.write(buf[:k]); err != nil {
			return err
		}
		off += k
		n -= k
	}
	return nil
}

// copySpan copies n bytes at off, a chunk at a time.
func copySpan(out *chunkWriter, r io.ReaderAt, off, n int64) error {
	buf := make([]byte, min(n, chunkSize))
	for n > 0 {
		k := min(n, int64(len(buf)))
		if err := readFull(r, buf[:k], off); err != nil {
			return err
		}
		if err := out.writeDirect(buf[:k]); err != nil {
			return err
		}
		off += k
		n -= k
	}
	return out.flush()
}

var errShortStorage = errors.New("storage data is truncated")

func readFull(r io.ReaderAt, b []byte, off int64) error {
	n, err := r.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		return errShortStorage
	}
	return err
}

// chunkWriter gathers small runs into chunks, swapping byte order when the
// source is big-endian.
type chunkWriter struct {
	w     io.Writer
	buf   []byte
	swap  bool
	es    int
	total int64
}

func (c *chunkWriter) write(b []byte) error {
	if c.buf == nil {
		c.buf = make([]byte, 0, chunkSize)
	}
	for len(b) > 0 {
		k := min(len(b), cap(c.buf)-len(c.buf))
		c.buf = append(c.buf, b[:k]...)
		b = b[k:]
		if len(c.buf) == cap(c.buf) {
			if err := c.flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeDirect writes a whole chunk without copying it (it may be swapped in
// place: the caller's buffer is scratch).
func (c *chunkWriter) writeDirect(b []byte) error {
	if err := c.flush(); err != nil {
		return err
	}
	if c.swap {
		swapBytes(b, c.es)
	}
	n, err := c.w.Write(b)
	c.total += int64(n)
	return err
}

func (c *chunkWriter) flush() error {
	if len(c.buf) == 0 {
		return nil
	}
	if c.swap {
		swapBytes(c.buf, c.es)
	}
	n, err := c.w.Write(c.buf)
	c.total += int64(n)
	c.buf = c.buf[:0]
	return err
}

// swapBytes reverses each es-byte element of b (len(b) is a multiple of
// es: runs are whole elements and chunks are multiples of 8).
func swapBytes(b []byte, es int) {
	if es <= 1 {
		return
	}
	for i := 0; i+es <= len(b); i += es {
		e := b[i : i+es]
		for j, k := 0, es-1; j < k; j, k = j+1, k-1 {
			e[j], e[k] = e[k], e[j]
		}
	}
}

// defaultViewCache bounds the memory used to gather a strided view.
const defaultViewCache = 64 << 20

const pageSize = 64 << 10

// pageCache is an io.ReaderAt over r that keeps recently read pages, so
// that gathering a strided view reads each page of its span about once
// when the span fits in the budget (and stays correct when it does not).
type pageCache struct {
	r     io.ReaderAt
	size  int64
	max   int
	pages map[int64][]byte
	order []int64 // FIFO of cached page numbers
	head  int
}

func newPageCache(r io.ReaderAt, size, budget int64) *pageCache {
	return &pageCache{r: r, size: size, max: max(2, int(budget/pageSize)), pages: map[int64][]byte{}}
}

func (p *pageCache) ReadAt(b []byte, off int64) (int, error) {
	done := 0
	for done < len(b) {
		pos := off + int64(done)
		if pos >= p.size {
			return done, io.EOF
		}
		pg, err := p.page(pos / pageSize)
		if err != nil {
			return done, err
		}
		i := int(pos % pageSize)
		if i >= len(pg) {
			return done, io.EOF
		}
		done += copy(b[done:], pg[i:])
	}
	return done, nil
}

func (p *pageCache) page(n int64) ([]byte, error) {
	if pg, ok := p.pages[n]; ok {
		return pg, nil
	}
	var pg []byte
	if len(p.order) >= p.max {
		old := p.order[p.head]
		pg = p.pages[old][:cap(p.pages[old])]
		delete(p.pages, old)
		p.order[p.head] = n
		p.head = (p.head + 1) % len(p.order)
	} else {
		pg = make([]byte, pageSize)
		p.order = append(p.order, n)
	}
	want := min(int64(pageSize), p.size-n*pageSize)
	k, err := p.r.ReadAt(pg[:want], n*pageSize)
	if int64(k) < want {
		if err == nil || errors.Is(err, io.EOF) {
			err = errShortStorage
		}
		// Forget the slot's page: it holds nothing valid.
		p.pages[n] = pg[:0]
		return nil, err
	}
	p.pages[n] = pg[:want]
	return pg[:want], nil
}
