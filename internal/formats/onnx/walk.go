package onnx

import (
	"context"
	"errors"
	"fmt"
	"io"

	"google.golang.org/protobuf/encoding/protowire"
)

// Budgets of the walk. A protobuf message has no header to cap: every
// length and count below is checked as it is read.
const (
	// maxDepth is protobuf's default recursion limit (C++ and upb): a
	// loader refuses messages nested deeper, so nothing deeper can load.
	maxDepth = 100
	// maxFields caps the fields decoded in one file. Tensor payloads are
	// skipped in one step, so real models use a few per node and tensor;
	// only unpacked repeated numbers (which no writer emits) come near it.
	maxFields = 50_000_000
	// maxName caps names, domains and op types kept for messages.
	maxName = 1 << 10
	// maxLocation caps an external_data location read for checking. Paths
	// longer than this cannot be opened on any common system.
	maxLocation = 64 << 10
	// maxDistinct caps distinct operators, local functions and external
	// files remembered (real models use a few hundred at most).
	maxDistinct = 10_000
	// maxStored caps the bytes of every string kept until the report.
	maxStored = 16 << 20
	// windowSize is the read-ahead buffer: the walk goes forward, so one
	// window serves many small fields and skipped payloads are never read.
	windowSize = 32 << 10
)

// errLimit marks a walk stopped by one of our own budgets.
var errLimit = errors.New("limit reached")

// cutError is a length-delimited field that runs past the end of its
// message; f holds the part that is there.
type cutError struct {
	f    field
	want uint64
}

func (e *cutError) Error() string {
	return fmt.Sprintf("field %d at offset %d: length %d runs past the end of its message (%d bytes left)", e.f.num, e.f.off, e.want, e.f.end-e.f.start)
}

// source reads an io.ReaderAt through one small window.
type source struct {
	r    io.ReaderAt
	size int64
	buf  []byte
	win  []byte // valid part of buf
	off  int64  // file offset of win[0]
}

func newSource(r io.ReaderAt, size int64) *source {
	return &source{r: r, size: size, buf: make([]byte, windowSize)}
}

// peek returns up to n (≤ windowSize) bytes at p, fewer at the end of the
// data. The slice is valid until the next call.
func (s *source) peek(p int64, n int) ([]byte, error) {
	n = int(min(int64(n), s.size-p))
	if n <= 0 {
		return nil, nil
	}
	if p < s.off || p+int64(n) > s.off+int64(len(s.win)) {
		m := int(min(int64(windowSize), s.size-p))
		got, err := s.r.ReadAt(s.buf[:m], p)
		if got < m {
			if err == nil || errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			s.win = nil
			return nil, fmt.Errorf("read at offset %d: %w", p, err)
		}
		s.win, s.off = s.buf[:m], p
	}
	return s.win[p-s.off : p-s.off+int64(n)], nil
}

// read returns a copy of n bytes at p; callers cap n first.
func (s *source) read(p int64, n int) ([]byte, error) {
	if n <= windowSize {
		b, err := s.peek(p, n)
		if err != nil || len(b) < n {
			return nil, errors.Join(err, fmt.Errorf("read at offset %d: %w", p, io.ErrUnexpectedEOF))
		}
		return append([]byte(nil), b...), nil
	}
	b := make([]byte, n)
	if _, err := s.r.ReadAt(b, p); err != nil {
		return nil, fmt.Errorf("read at offset %d: %w", p, err)
	}
	return b, nil
}

// field is one decoded protobuf field. For length-delimited fields only the
// bounds of the content are known: nothing is read until a handler asks.
type field struct {
	num protowire.Number
	typ protowire.Type
	off int64  // offset of the tag
	val uint64 // value of a varint field
	// content of a length-delimited field
	start, end int64
}

// walker decodes protobuf messages from a source without a schema: the
// handlers in model.go pick the fields they need, everything else is
// skipped by offset.
type walker struct {
	ctx    context.Context
	src    *source
	depth  int
	fields int64
}

// message calls fn for every field of the message in [start, end), in file
// order. Groups (unknown to ONNX, but legal) are skipped like protobuf
// skips unknown fields.
func (w *walker) message(start, end int64, fn func(f field) error) error {
	w.depth++
	defer func() { w.depth-- }()
	if w.depth > maxDepth {
		return fmt.Errorf("messages nested deeper than %d at offset %d: protobuf's recursion limit, no loader parses this", maxDepth, start)
	}
	for p := start; p < end; {
		f, next, err := w.next(p, end)
		var cut *cutError
		if errors.As(err, &cut) {
			// A truncated file: walk what there is of the field, so that
			// the nodes before the cut are still seen, then fail.
			_ = fn(cut.f)
			return err
		}
		if err != nil {
			return err
		}
		switch f.typ {
		case protowire.StartGroupType:
			next, err = w.skipGroup(f.num, next, end)
		case protowire.EndGroupType:
			err = fmt.Errorf("end-group tag at offset %d without a group", f.off)
		default:
			err = fn(f)
		}
		if err != nil {
			return err
		}
		p = next
	}
	return nil
}

// skipGroup skips the fields of a group up to its end tag and returns the
// offset after it.
func (w *walker) skipGroup(num protowire.Number, p, end int64) (int64, error) {
	w.depth++
	defer func() { w.depth-- }()
	if w.depth > maxDepth {
		return 0, fmt.Errorf("groups nested deeper than %d at offset %d", maxDepth, p)
	}
	for p < end {
		f, next, err := w.next(p, end)
		if err != nil {
			return 0, err
		}
		switch f.typ {
		case protowire.EndGroupType:
			if f.num != num {
				return 0, fmt.Errorf("end-group tag %d at offset %d closes group %d", f.num, f.off, num)
			}
			return next, nil
		case protowire.StartGroupType:
			if next, err = w.skipGroup(f.num, next, end); err != nil {
				return 0, err
			}
		}
		p = next
	}
	return 0, fmt.Errorf("group %d is not closed before offset %d", num, end)
}

// next decodes the field at p inside a message ending at end and returns
// it with the offset of the following field.
func (w *walker) next(p, end int64) (field, int64, error) {
	w.fields++
	if w.fields > maxFields {
		return field{}, 0, fmt.Errorf("more than %d protobuf fields: %w", maxFields, errLimit)
	}
	if w.fields&0xffff == 0 {
		if err := w.ctx.Err(); err != nil {
			return field{}, 0, err
		}
	}
	f := field{off: p}
	b, err := w.src.peek(p, int(min(20, end-p))) // a tag and a varint
	if err != nil {
		return f, 0, err
	}
	num, typ, n := protowire.ConsumeTag(b)
	if n < 0 {
		return f, 0, fmt.Errorf("bad tag at offset %d: %w", p, protowire.ParseError(n))
	}
	if num > protowire.MaxValidNumber {
		return f, 0, fmt.Errorf("bad tag at offset %d: field number %d out of range", p, num)
	}
	f.num, f.typ = num, typ
	b = b[n:]
	q := p + int64(n)
	switch typ {
	case protowire.VarintType:
		v, m := protowire.ConsumeVarint(b)
		if m < 0 {
			return f, 0, fmt.Errorf("bad varint at offset %d: %w", q, protowire.ParseError(m))
		}
		f.val = v
		return f, q + int64(m), nil
	case protowire.Fixed32Type, protowire.Fixed64Type:
		size := int64(4)
		if typ == protowire.Fixed64Type {
			size = 8
		}
		if end-q < size {
			return f, 0, fmt.Errorf("field %d at offset %d runs past the end of its message (offset %d)", num, p, end)
		}
		return f, q + size, nil
	case protowire.BytesType:
		v, m := protowire.ConsumeVarint(b)
		if m < 0 {
			return f, 0, fmt.Errorf("bad length at offset %d: %w", q, protowire.ParseError(m))
		}
		q += int64(m)
		// protobuf refuses lengths over 2 GiB; compare before converting.
		if v > uint64(end-q) || v > 1<<31-1 {
			f.start, f.end = q, end
			return f, 0, &cutError{f: f, want: v}
		}
		f.start, f.end = q, q+int64(v)
		return f, f.end, nil
	case protowire.StartGroupType, protowire.EndGroupType:
		return f, q, nil
	default:
		return f, 0, fmt.Errorf("reserved wire type %d at offset %d", typ, p)
	}
}

// str reads the content of a length-delimited field as a string, at most
// limit bytes; truncated says whether it was longer.
func (w *walker) str(f field, limit int) (s string, truncated bool, err error) {
	n := f.end - f.start
	if n > int64(limit) {
		n, truncated = int64(limit), true
	}
	b, err := w.src.read(f.start, int(n))
	return string(b), truncated, err
}
