package coreml

import (
	"errors"
	"fmt"
	"io"
)

// window is how much reader fetches at a time. It is small on purpose: a
// model's fields sit between weight blobs, and every window fetched after
// a skipped blob reads the start of the next one too.
const window = 8 << 10

// reader serves small reads at increasing offsets from one buffered window.
type reader struct {
	r    io.ReaderAt
	size int64
	buf  []byte
	off  int64
	read int64 // bytes fetched from r, for tests
}

func newReader(r io.ReaderAt, size int64) *reader { return &reader{r: r, size: size} }

// at returns the n bytes at pos; the slice is valid until the next call.
// Reads longer than the window (strings up to maxText) are served directly.
// Fewer than n bytes left in the input is an error.
func (rd *reader) at(pos int64, n int) ([]byte, error) {
	if n < 0 || n > maxText {
		return nil, fmt.Errorf("read of %d bytes: more than the cap of %d", n, maxText)
	}
	if pos < 0 || pos+int64(n) > rd.size {
		return nil, fmt.Errorf("read at %d: %w", pos, io.ErrUnexpectedEOF)
	}
	if pos >= rd.off && pos+int64(n) <= rd.off+int64(len(rd.buf)) {
		return rd.buf[pos-rd.off : pos-rd.off+int64(n)], nil
	}
	k := int(min(window, rd.size-pos))
	if n > k {
		k = n
	}
	if cap(rd.buf) < k {
		rd.buf = make([]byte, k)
	}
	m, err := rd.r.ReadAt(rd.buf[:k], pos)
	rd.read += int64(m)
	rd.buf, rd.off = rd.buf[:m], pos
	if m < n {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("read at %d: %w", pos, err)
	}
	return rd.buf[:n], nil
}
