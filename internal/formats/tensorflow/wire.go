package tensorflow

import (
	"errors"
	"fmt"
	"io"

	"google.golang.org/protobuf/encoding/protowire"
)

// window is how much of the file one read brings in. Field headers and the
// short strings we keep are read through it; everything else (tensor bytes,
// unknown fields) is skipped by offset and never read.
const window = 64 << 10

// maxFieldHeader is the longest field header: a tag and a length or value,
// ten bytes each at most.
const maxFieldHeader = 20

// maxGroupDepth bounds the nesting of (deprecated) group fields we skip.
const maxGroupDepth = 32

// wireReader walks protobuf messages over an io.ReaderAt without loading
// them: a message is a byte range, a field is a header plus either a value
// or a sub-range.
type wireReader struct {
	r    io.ReaderAt
	size int64
	buf  []byte
	off  int64 // file offset of buf[0]
}

func newWireReader(r io.ReaderAt, size int64) *wireReader {
	return &wireReader{r: r, size: size}
}

// malformedError is a protobuf that cannot be decoded at a byte offset.
type malformedError struct {
	off int64
	msg string
}

func (e *malformedError) Error() string {
	return fmt.Sprintf("malformed protobuf at offset %d: %s", e.off, e.msg)
}

func malformed(off int64, format string, args ...any) error {
	return &malformedError{off: off, msg: fmt.Sprintf(format, args...)}
}

// at returns up to n bytes at off (fewer only at the end of the data).
func (w *wireReader) at(off int64, n int) ([]byte, error) {
	if off < 0 || off > w.size {
		return nil, malformed(off, "offset outside the data")
	}
	if int64(n) > w.size-off {
		n = int(w.size - off)
	}
	if off >= w.off && off+int64(n) <= w.off+int64(len(w.buf)) {
		return w.buf[off-w.off : off-w.off+int64(n)], nil
	}
	want := int64(max(window, n))
	if want > w.size-off {
		want = w.size - off
	}
	if int64(cap(w.buf)) < want {
		w.buf = make([]byte, want)
	}
	w.buf = w.buf[:want]
	k, err := w.r.ReadAt(w.buf, off)
	w.buf, w.off = w.buf[:k], off
	if k < n {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("read at offset %d: %w", off, err)
	}
	return w.buf[:n], nil
}

// field is one decoded field header.
type field struct {
	num    protowire.Number
	typ    protowire.Type
	tag    int64  // offset of the tag
	v      uint64 // varint and fixed values
	lo, hi int64  // payload of a length-delimited field
}

// each calls fn for every field of the message in [lo, hi). fn may read the
// payload of length-delimited fields; each moves past it either way.
func (w *wireReader) each(lo, hi int64, fn func(f *field) error) error {
	var f field
	for off := lo; off < hi; {
		b, err := w.at(off, int(min(maxFieldHeader, hi-off)))
		if err != nil {
			return err
		}
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return malformed(off, "bad field tag")
		}
		f = field{num: num, typ: typ, tag: off}
		next := off + int64(n)
		switch typ {
		case protowire.VarintType:
			v, m := protowire.ConsumeVarint(b[n:])
			if m < 0 {
				return malformed(off, "bad varint in field %d", num)
			}
			f.v, next = v, next+int64(m)
		case protowire.Fixed32Type:
			next += 4
		case protowire.Fixed64Type:
			next += 8
		case protowire.BytesType:
			l, m := protowire.ConsumeVarint(b[n:])
			if m < 0 {
				return malformed(off, "bad length in field %d", num)
			}
			f.lo = next + int64(m)
			if l > uint64(hi-f.lo) {
				return malformed(off, "field %d of %d bytes overruns its message (%d bytes left)", num, l, hi-f.lo)
			}
			f.hi = f.lo + int64(l)
			next = f.hi
		case protowire.StartGroupType:
			end, err := w.skipGroup(next, hi, num, 1)
			if err != nil {
				return err
			}
			next = end
		default:
			return malformed(off, "unexpected wire type %d in field %d", typ, num)
		}
		if next > hi {
			return malformed(off, "field %d overruns its message", num)
		}
		if err := fn(&f); err != nil {
			return err
		}
		off = next
	}
	return nil
}

// skipGroup skips the fields of a group up to its end tag and returns the
// offset after it.
func (w *wireReader) skipGroup(lo, hi int64, num protowire.Number, depth int) (int64, error) {
	if depth > maxGroupDepth {
		return 0, malformed(lo, "groups nested deeper than %d", maxGroupDepth)
	}
	for off := lo; off < hi; {
		b, err := w.at(off, int(min(maxFieldHeader, hi-off)))
		if err != nil {
			return 0, err
		}
		n2, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return 0, malformed(off, "bad field tag in group")
		}
		off += int64(n)
		switch typ {
		case protowire.EndGroupType:
			if n2 != num {
				return 0, malformed(off, "group %d ended by %d", num, n2)
			}
			return off, nil
		case protowire.StartGroupType:
			if off, err = w.skipGroup(off, hi, n2, depth+1); err != nil {
				return 0, err
			}
		case protowire.VarintType:
			_, m := protowire.ConsumeVarint(b[n:])
			if m < 0 {
				return 0, malformed(off, "bad varint in group")
			}
			off += int64(m)
		case protowire.Fixed32Type:
			off += 4
		case protowire.Fixed64Type:
			off += 8
		case protowire.BytesType:
			l, m := protowire.ConsumeVarint(b[n:])
			if m < 0 || l > uint64(hi-off-int64(m)) {
				return 0, malformed(off, "bad length in group")
			}
			off += int64(m) + int64(l)
		default:
			return 0, malformed(off, "unexpected wire type %d in group", typ)
		}
	}
	return 0, malformed(lo, "group %d not closed", num)
}

// str reads a length-delimited payload as a string, keeping at most limit
// bytes; truncated tells whether it was longer.
func (w *wireReader) str(f *field, limit int) (s string, truncated bool, err error) {
	if f.typ != protowire.BytesType {
		return "", false, malformed(f.tag, "field %d is not a string", f.num)
	}
	n := f.hi - f.lo
	if n > int64(limit) {
		n, truncated = int64(limit), true
	}
	b, err := w.at(f.lo, int(n))
	if err != nil {
		return "", false, err
	}
	return string(b), truncated, nil
}
