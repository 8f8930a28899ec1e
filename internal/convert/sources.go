package convert

import (
	"errors"
	"fmt"
	"io"

	"github.com/modelgate/modelgate/internal/formats/zipfile"
)

// memberAt is an io.ReaderAt over the decompressed content of a zip member.
// Stored members are read in place. Compressed ones are decompressed as a
// stream that is restarted when a read goes backwards, so that memory stays
// bounded whatever the member's size; tensors are read front to back, so a
// restart is rare (strided views go through a page cache first).
type memberAt struct {
	a    *zipfile.Archive
	e    *zipfile.Entry
	size int64

	raw io.ReaderAt // stored members
	rd  io.Reader   // compressed: the current stream
	pos int64       // its position
}

func openMember(a *zipfile.Archive, e *zipfile.Entry) (*memberAt, error) {
	if e.Err != nil {
		return nil, e.Err
	}
	if e.Flags&(zipfile.FlagEncrypted|zipfile.FlagStrongEncrypted|zipfile.FlagPatched) != 0 {
		return nil, fmt.Errorf("member %q has flag bits 0x%x (encrypted or patched): torch refuses it", e.Name, e.Flags)
	}
	if e.UncompressedSize > 1<<62 || e.CompressedSize > 1<<62 {
		return nil, fmt.Errorf("member %q: size out of range", e.Name)
	}
	m := &memberAt{a: a, e: e, size: int64(e.UncompressedSize)}
	switch e.Method {
	case zipfile.Store:
		if e.CompressedSize != e.UncompressedSize {
			return nil, fmt.Errorf("stored member %q: compressed size %d differs from size %d", e.Name, e.CompressedSize, e.UncompressedSize)
		}
		raw, err := a.Raw(e)
		if err != nil {
			return nil, err
		}
		m.raw = raw
	case zipfile.Deflate, zipfile.BZip2:
	default:
		return nil, fmt.Errorf("member %q: compression method %d is not supported", e.Name, e.Method)
	}
	return m, nil
}

func (m *memberAt) ReadAt(b []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	if off >= m.size {
		return 0, io.EOF
	}
	want := b
	if rem := m.size - off; int64(len(want)) > rem {
		want = want[:rem]
	}
	var n int
	var err error
	if m.raw != nil {
		n, err = m.raw.ReadAt(want, off)
	} else {
		n, err = m.readStream(want, off)
	}
	if n == len(b) {
		return n, nil
	}
	if err == nil {
		err = io.EOF
	}
	return n, err
}

func (m *memberAt) readStream(b []byte, off int64) (int, error) {
	if m.rd == nil || off < m.pos {
		rd, err := m.a.Open(m.e)
		if err != nil {
			return 0, err
		}
		m.rd, m.pos = rd, 0
	}
	if off > m.pos {
		k, err := io.CopyN(io.Discard, m.rd, off-m.pos)
		m.pos += k
		if err != nil {
			m.rd = nil
			return 0, fmt.Errorf("member %q: %w", m.e.Name, noEOF(err))
		}
	}
	n, err := io.ReadFull(m.rd, b)
	m.pos += int64(n)
	if err != nil {
		m.rd = nil
		return n, fmt.Errorf("member %q: %w", m.e.Name, noEOF(err))
	}
	return n, nil
}

func noEOF(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errShortStorage
	}
	return err
}
