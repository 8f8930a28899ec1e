package pickle

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// errTruncated is returned when an opcode's argument runs past the end of
// the data; the real loader fails the same way ("pickle data was truncated").
var errTruncated = errors.New("pickle data was truncated")

const readBufSize = 64 << 10

// reader reads forward through [start, end) of an io.ReaderAt with one
// window buffer. Large payloads are skipped by moving the offset: they are
// never read, let alone copied.
type reader struct {
	r       io.ReaderAt
	end     int64
	pos     int64 // next byte to decode
	buf     []byte
	bufOff  int64 // stream offset of buf[0]
	err     error // sticky I/O error (not EOF)
	strings arena

	// restartFrames emulates CPython 3.11's C unpickler reading a file
	// whose buffer ends where a FRAME ends: a read that needs more bytes
	// than the frame has left drops them and starts again at the frame's
	// end (see Options.FrameRestart).
	restartFrames bool
	frameEnd      int64 // end of the current frame in that mode, or -1
}

// restart applies the frame-restart rule before a read of n bytes.
func (rd *reader) restart(n int64) {
	if rd.restartFrames && rd.frameEnd >= 0 && rd.pos < rd.frameEnd && rd.pos+n > rd.frameEnd {
		rd.pos = rd.frameEnd
		rd.frameEnd = -1
	}
}

func newReader(r io.ReaderAt, start, end int64) *reader {
	size := int64(readBufSize)
	if end-start < size {
		size = max(end-start, 16)
	}
	return &reader{r: r, end: end, pos: start, bufOff: start, buf: make([]byte, 0, size)}
}

// fill makes at least n bytes from pos available in the buffer, or as many
// as remain. n must be <= cap(buf).
func (rd *reader) fill(n int) error {
	if rd.err != nil {
		return rd.err
	}
	avail := rd.bufOff + int64(len(rd.buf)) - rd.pos
	if rd.pos >= rd.bufOff && avail >= int64(n) {
		return nil
	}
	want := int64(cap(rd.buf))
	if rem := rd.end - rd.pos; rem < want {
		want = rem
	}
	rd.buf = rd.buf[:want]
	m, err := rd.r.ReadAt(rd.buf, rd.pos)
	rd.buf = rd.buf[:m]
	rd.bufOff = rd.pos
	if err != nil && !errors.Is(err, io.EOF) {
		rd.err = fmt.Errorf("read at offset %d: %w", rd.pos, err)
		return rd.err
	}
	if m < n {
		return errTruncated
	}
	return nil
}

// readByte returns the next byte.
func (rd *reader) readByte() (byte, error) {
	i := rd.pos - rd.bufOff
	if i >= 0 && i < int64(len(rd.buf)) {
		rd.pos++
		return rd.buf[i], nil
	}
	if rd.pos >= rd.end {
		return 0, io.EOF
	}
	if err := rd.fill(1); err != nil {
		return 0, err
	}
	c := rd.buf[0]
	rd.pos++
	return c, nil
}

// next returns the next n bytes (n <= 4096). The slice is valid until the
// next read.
func (rd *reader) next(n int) ([]byte, error) {
	rd.restart(int64(n))
	if rd.end-rd.pos < int64(n) {
		return nil, errTruncated
	}
	if n > cap(rd.buf) {
		rd.buf = make([]byte, 0, n)
	}
	if err := rd.fill(n); err != nil {
		return nil, err
	}
	i := rd.pos - rd.bufOff
	rd.pos += int64(n)
	return rd.buf[i : i+int64(n)], nil
}

// payload consumes n bytes and returns at most keep of them (copied). The
// rest is skipped without reading.
func (rd *reader) payload(n int64, keep int) (string, error) {
	rd.restart(n)
	if n < 0 || rd.end-rd.pos < n {
		return "", errTruncated
	}
	k := int64(keep)
	if n < k {
		k = n
	}
	var s string
	if k > 0 {
		b, err := rd.next(int(k))
		if err != nil {
			return "", err
		}
		s = rd.strings.string(b)
	}
	rd.pos += n - k
	return s, nil
}

// line consumes bytes up to and including the next '\n' and returns the
// line without it: at most keep bytes, plus the full length. Lines longer
// than maxLen fail so that a missing newline cannot make us scan the file.
func (rd *reader) line(keep int, maxLen int64) (string, int64, error) {
	if rd.restartFrames && rd.frameEnd >= 0 && rd.pos < rd.frameEnd {
		// A line that does not end inside the frame is read again from
		// the frame's end (C's _Unpickler_Readline falls back to readline()).
		if err := rd.fill(int(min(rd.frameEnd-rd.pos, int64(cap(rd.buf))))); err == nil {
			i := rd.pos - rd.bufOff
			win := rd.buf[i:min(int64(len(rd.buf)), i+rd.frameEnd-rd.pos)]
			if bytes.IndexByte(win, '\n') < 0 {
				rd.pos, rd.frameEnd = rd.frameEnd, -1
			}
		}
	}
	start := rd.pos
	var kept []byte
	for {
		if rd.pos >= rd.end {
			return "", 0, errTruncated
		}
		if err := rd.fill(1); err != nil {
			return "", 0, err
		}
		i := rd.pos - rd.bufOff
		chunk := rd.buf[i:]
		for j, c := range chunk {
			if c == '\n' {
				if room := keep - len(kept); room > 0 {
					kept = append(kept, chunk[:min(j, room)]...)
				}
				rd.pos += int64(j) + 1
				return string(kept), rd.pos - 1 - start, nil
			}
		}
		if room := keep - len(kept); room > 0 {
			kept = append(kept, chunk[:min(len(chunk), room)]...)
		}
		rd.pos += int64(len(chunk))
		if rd.pos-start > maxLen {
			return "", 0, fmt.Errorf("text argument longer than %d bytes without a newline", maxLen)
		}
	}
}
