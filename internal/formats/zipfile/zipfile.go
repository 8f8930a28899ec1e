// Package zipfile is a tolerant zip reader that behaves like the loaders
// model files are read by (PyTorch's miniz-based reader, NumPy's npz): it
// locates members through the central directory, then reads each local
// header, and never stops at what a strict validator rejects — a bad CRC,
// odd flag bits, names that differ between the two headers, duplicate
// names. Those are recorded as anomalies instead: where a loader and a
// validator would see different files, that difference is itself a finding.
//
// Member data is never read here: Open returns a reader over a member, so
// callers read only the members that can carry code.
package zipfile

import (
	"bytes"
	"cmp"
	"compress/bzip2"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
	"strings"
)

// Signatures.
const (
	sigLocal      = 0x04034b50
	sigCentral    = 0x02014b50
	sigEnd        = 0x06054b50
	sigEnd64      = 0x06064b50
	sigEnd64Loc   = 0x07064b50
	localLen      = 30
	centralLen    = 46
	endLen        = 22
	end64LocLen   = 20
	end64Len      = 56
	maxCommentLen = 65535
)

// Compression methods.
const (
	Store   = 0
	Deflate = 8
	BZip2   = 12
)

// Flag bits that make strict readers refuse a member.
const (
	FlagEncrypted       = 0x1
	FlagDataDescriptor  = 0x8
	FlagPatched         = 0x20
	FlagStrongEncrypted = 0x40
)

// Entry is one member as the central directory (or, without one, its local
// header) describes it.
type Entry struct {
	Name             string // central directory name
	LocalName        string // local header name
	Flags            uint16
	Method           uint16
	CRC32            uint32
	CompressedSize   uint64
	UncompressedSize uint64
	HeaderOffset     int64 // of the local header
	DataOffset       int64 // of the member data, after the local header
	// Err is set when the member cannot be located (its local header is
	// missing or out of range); Open fails for it.
	Err error
}

// AnomalyKind names a way the archive is unusual.
type AnomalyKind string

// Anomaly kinds.
const (
	DuplicateName  AnomalyKind = "duplicate-name"
	NameMismatch   AnomalyKind = "name-mismatch"
	SizeMismatch   AnomalyKind = "size-mismatch"
	OddFlags       AnomalyKind = "odd-flags"
	Overlap        AnomalyKind = "overlapping-members"
	PrefixData     AnomalyKind = "prefix-data"
	NoCentralDir   AnomalyKind = "no-central-directory"
	BadLocalHeader AnomalyKind = "bad-local-header"
	UnusualMethod  AnomalyKind = "unusual-method"
)

// Anomaly is one structural oddity.
type Anomaly struct {
	Kind   AnomalyKind
	Entry  string // member name, if it concerns one
	Offset int64
	Detail string
}

// Archive is a read zip directory.
type Archive struct {
	Entries   []*Entry
	Anomalies []Anomaly
	// Base is the offset that the archive's own offsets are relative to
	// (non-zero when data was prepended, as in self-extracting archives or
	// polyglot files).
	Base int64

	r    io.ReaderAt
	size int64
}

// ErrNotZip means no central directory and no local header was found.
var ErrNotZip = errors.New("not a zip archive")

// ErrTooManyEntries is returned (with the entries read so far) when the
// archive has more than maxEntries members.
var ErrTooManyEntries = errors.New("too many zip members")

// Read reads the directory of the zip archive in r. At most maxEntries
// entries are read; if there are more, the archive is returned with
// ErrTooManyEntries. Other errors also come with whatever was read.
func Read(r io.ReaderAt, size int64, maxEntries int) (*Archive, error) {
	a := &Archive{r: r, size: size}
	endOff, err := a.findEnd()
	if err != nil {
		// No end record: a truncated download or a stream written without
		// one. Walk the local headers instead, as streaming readers do.
		a.Anomalies = append(a.Anomalies, Anomaly{Kind: NoCentralDir, Offset: 0,
			Detail: "no end of central directory record; members were found by walking local headers"})
		if werr := a.walkLocal(maxEntries); werr != nil {
			return a, werr
		}
		if len(a.Entries) == 0 {
			return a, ErrNotZip
		}
		a.check()
		return a, nil
	}
	cdOff, cdSize, count, err := a.readEnd(endOff)
	if err != nil {
		return a, err
	}
	err = a.readCentral(cdOff, cdSize, count, maxEntries)
	a.locate()
	a.check()
	return a, err
}

func (a *Archive) readAt(n int, off int64) ([]byte, error) {
	if off < 0 || off > a.size || int64(n) > a.size-off {
		return nil, fmt.Errorf("%d bytes at offset %d: beyond the end of the %d-byte file", n, off, a.size)
	}
	b := make([]byte, n)
	if _, err := a.r.ReadAt(b, off); err != nil && !(errors.Is(err, io.EOF) && off+int64(n) == a.size) {
		return nil, fmt.Errorf("read %d bytes at offset %d: %w", n, off, err)
	}
	return b, nil
}

// findEnd returns the offset of the end of central directory record,
// searching backwards through the last 64 KiB + 22 bytes (the comment may
// be up to 65535 bytes).
func (a *Archive) findEnd() (int64, error) {
	if a.size < endLen {
		return 0, ErrNotZip
	}
	n := min(a.size, endLen+maxCommentLen)
	buf, err := a.readAt(int(n), a.size-n)
	if err != nil {
		return 0, err
	}
	for i := len(buf) - endLen; i >= 0; i-- {
		if binary.LittleEndian.Uint32(buf[i:]) == sigEnd {
			return a.size - n + int64(i), nil
		}
	}
	return 0, ErrNotZip
}

// readEnd parses the end record (and the zip64 one when present) and works
// out where the central directory really is, allowing for prepended data.
func (a *Archive) readEnd(endOff int64) (cdOff, cdSize int64, count uint64, err error) {
	b, err := a.readAt(endLen, endOff)
	if err != nil {
		return 0, 0, 0, err
	}
	count = uint64(binary.LittleEndian.Uint16(b[10:]))
	cdSize = int64(binary.LittleEndian.Uint32(b[12:]))
	cdOff = int64(binary.LittleEndian.Uint32(b[16:]))
	cdEnd := endOff // where the central directory should end
	if endOff >= end64LocLen {
		if loc, lerr := a.readAt(end64LocLen, endOff-end64LocLen); lerr == nil && binary.LittleEndian.Uint32(loc) == sigEnd64Loc {
			off64 := binary.LittleEndian.Uint64(loc[8:])
			if off64 < uint64(a.size) {
				if rec, rerr := a.readAt(end64Len, int64(off64)); rerr == nil && binary.LittleEndian.Uint32(rec) == sigEnd64 {
					count = binary.LittleEndian.Uint64(rec[32:])
					cdSize = int64(min(binary.LittleEndian.Uint64(rec[40:]), uint64(a.size)))
					cdOff = int64(min(binary.LittleEndian.Uint64(rec[48:]), uint64(a.size)))
					cdEnd = int64(off64)
				}
			}
		}
	}
	if cdSize < 0 || cdSize > cdEnd {
		return 0, 0, 0, fmt.Errorf("central directory size %d does not fit before offset %d", cdSize, cdEnd)
	}
	// The central directory ends where the end records start. If the
	// recorded offset disagrees, data was prepended (or the offsets lie):
	// trust the position, as Python's zipfile does, and report it.
	if real := cdEnd - cdSize; real != cdOff {
		a.Base = real - cdOff
		a.Anomalies = append(a.Anomalies, Anomaly{Kind: PrefixData, Offset: 0,
			Detail: fmt.Sprintf("the archive's offsets are shifted by %d bytes (data before the zip, or lying offsets)", a.Base)})
		cdOff = real
	}
	return cdOff, cdSize, count, nil
}

func (a *Archive) readCentral(cdOff, cdSize int64, count uint64, maxEntries int) error {
	cd, err := a.readAt(int(cdSize), cdOff)
	if err != nil {
		return fmt.Errorf("central directory: %w", err)
	}
	for p := 0; p+centralLen <= len(cd); {
		if binary.LittleEndian.Uint32(cd[p:]) != sigCentral {
			if uint64(len(a.Entries)) < count {
				return fmt.Errorf("central directory entry %d at offset %d has a bad signature", len(a.Entries), cdOff+int64(p))
			}
			break
		}
		if len(a.Entries) >= maxEntries {
			return fmt.Errorf("%w: more than %d", ErrTooManyEntries, maxEntries)
		}
		h := cd[p:]
		nameLen := int(binary.LittleEndian.Uint16(h[28:]))
		extraLen := int(binary.LittleEndian.Uint16(h[30:]))
		commentLen := int(binary.LittleEndian.Uint16(h[32:]))
		end := p + centralLen + nameLen + extraLen + commentLen
		if end > len(cd) {
			return fmt.Errorf("central directory entry %d runs past the directory", len(a.Entries))
		}
		e := &Entry{
			Flags:            binary.LittleEndian.Uint16(h[8:]),
			Method:           binary.LittleEndian.Uint16(h[10:]),
			CRC32:            binary.LittleEndian.Uint32(h[16:]),
			CompressedSize:   uint64(binary.LittleEndian.Uint32(h[20:])),
			UncompressedSize: uint64(binary.LittleEndian.Uint32(h[24:])),
			HeaderOffset:     int64(binary.LittleEndian.Uint32(h[42:])),
			Name:             string(h[centralLen : centralLen+nameLen]),
		}
		applyZip64(e, h[centralLen+nameLen:centralLen+nameLen+extraLen])
		e.HeaderOffset += a.Base
		a.Entries = append(a.Entries, e)
		p = end
	}
	if uint64(len(a.Entries)) != count && count < 1<<32 {
		a.Anomalies = append(a.Anomalies, Anomaly{Kind: SizeMismatch, Offset: cdOff,
			Detail: fmt.Sprintf("the end record counts %d members, the central directory holds %d", count, len(a.Entries))})
	}
	return nil
}

// applyZip64 replaces saturated 32-bit fields with their zip64 extra values.
func applyZip64(e *Entry, extra []byte) {
	for len(extra) >= 4 {
		id := binary.LittleEndian.Uint16(extra)
		n := int(binary.LittleEndian.Uint16(extra[2:]))
		if 4+n > len(extra) {
			return
		}
		if id == 0x0001 {
			f := extra[4 : 4+n]
			take := func() (uint64, bool) {
				if len(f) < 8 {
					return 0, false
				}
				v := binary.LittleEndian.Uint64(f)
				f = f[8:]
				return v, true
			}
			if e.UncompressedSize == 0xffffffff {
				if v, ok := take(); ok {
					e.UncompressedSize = v
				}
			}
			if e.CompressedSize == 0xffffffff {
				if v, ok := take(); ok {
					e.CompressedSize = v
				}
			}
			if e.HeaderOffset == 0xffffffff {
				if v, ok := take(); ok && v < 1<<62 {
					e.HeaderOffset = int64(v)
				}
			}
			return
		}
		extra = extra[4+n:]
	}
}

// locate reads each entry's local header to find its data and compare the
// two descriptions of the member.
func (a *Archive) locate() {
	for _, e := range a.Entries {
		h, err := a.readAt(localLen, e.HeaderOffset)
		if err != nil || binary.LittleEndian.Uint32(h) != sigLocal {
			e.Err = fmt.Errorf("member %q: no local header at offset %d", e.Name, e.HeaderOffset)
			a.Anomalies = append(a.Anomalies, Anomaly{Kind: BadLocalHeader, Entry: e.Name, Offset: e.HeaderOffset,
				Detail: "the central directory points at no local header"})
			continue
		}
		nameLen := int64(binary.LittleEndian.Uint16(h[26:]))
		extraLen := int64(binary.LittleEndian.Uint16(h[28:]))
		if name, err := a.readAt(int(nameLen), e.HeaderOffset+localLen); err == nil {
			e.LocalName = string(name)
		}
		e.DataOffset = e.HeaderOffset + localLen + nameLen + extraLen
		if e.LocalName != e.Name {
			a.Anomalies = append(a.Anomalies, Anomaly{Kind: NameMismatch, Entry: e.Name, Offset: e.HeaderOffset,
				Detail: fmt.Sprintf("the local header names this member %q, the central directory %q", e.LocalName, e.Name)})
		}
		lflags := binary.LittleEndian.Uint16(h[6:])
		lmethod := binary.LittleEndian.Uint16(h[8:])
		if lmethod != e.Method {
			a.Anomalies = append(a.Anomalies, Anomaly{Kind: SizeMismatch, Entry: e.Name, Offset: e.HeaderOffset,
				Detail: fmt.Sprintf("compression method %d in the local header, %d in the central directory", lmethod, e.Method)})
		}
		if lflags&FlagDataDescriptor == 0 {
			lcrc := binary.LittleEndian.Uint32(h[14:])
			lc := uint64(binary.LittleEndian.Uint32(h[18:]))
			lu := uint64(binary.LittleEndian.Uint32(h[22:]))
			if lc != 0xffffffff && (lc != e.CompressedSize || lu != e.UncompressedSize || lcrc != e.CRC32) {
				a.Anomalies = append(a.Anomalies, Anomaly{Kind: SizeMismatch, Entry: e.Name, Offset: e.HeaderOffset,
					Detail: fmt.Sprintf("local header says %d/%d bytes crc %08x, central directory %d/%d crc %08x",
						lc, lu, lcrc, e.CompressedSize, e.UncompressedSize, e.CRC32)})
			}
		}
		if e.DataOffset > a.size || e.CompressedSize > uint64(a.size-e.DataOffset) {
			e.Err = fmt.Errorf("member %q: %d bytes at offset %d run past the end of the file", e.Name, e.CompressedSize, e.DataOffset)
		}
	}
}

// walkLocal finds members by their local headers, from the start of the
// file, when there is no central directory.
func (a *Archive) walkLocal(maxEntries int) error {
	for off := int64(0); off+localLen <= a.size; {
		h, err := a.readAt(localLen, off)
		if err != nil || binary.LittleEndian.Uint32(h) != sigLocal {
			return nil
		}
		if len(a.Entries) >= maxEntries {
			return fmt.Errorf("%w: more than %d", ErrTooManyEntries, maxEntries)
		}
		nameLen := int64(binary.LittleEndian.Uint16(h[26:]))
		extraLen := int64(binary.LittleEndian.Uint16(h[28:]))
		name, _ := a.readAt(int(nameLen), off+localLen)
		e := &Entry{
			Flags:            binary.LittleEndian.Uint16(h[6:]),
			Method:           binary.LittleEndian.Uint16(h[8:]),
			CRC32:            binary.LittleEndian.Uint32(h[14:]),
			CompressedSize:   uint64(binary.LittleEndian.Uint32(h[18:])),
			UncompressedSize: uint64(binary.LittleEndian.Uint32(h[22:])),
			HeaderOffset:     off,
			Name:             string(name),
			LocalName:        string(name),
		}
		e.DataOffset = off + localLen + nameLen + extraLen
		a.Entries = append(a.Entries, e)
		if e.Flags&FlagDataDescriptor != 0 {
			// Sizes follow the data, in a descriptor: find it the way
			// streaming readers do, by its signature and a matching size.
			csize, usize, crc, ok := a.findDescriptor(e.DataOffset)
			if !ok {
				e.CompressedSize = uint64(max(a.size-e.DataOffset, 0))
				return fmt.Errorf("member %q uses a data descriptor that could not be found: members after it were not found", e.Name)
			}
			e.CompressedSize, e.UncompressedSize, e.CRC32 = csize, usize, crc
			off = e.DataOffset + int64(csize) + 16
			continue
		}
		if e.DataOffset > a.size || e.CompressedSize > uint64(a.size-e.DataOffset) {
			e.Err = fmt.Errorf("member %q is truncated", e.Name)
			return nil
		}
		off = e.DataOffset + int64(e.CompressedSize)
	}
	return nil
}

// maxDescriptorScan bounds the search for a data descriptor.
const maxDescriptorScan = 64 << 20

// findDescriptor looks for "PK\x07\x08" after data starting at off whose
// compressed size matches the distance travelled.
func (a *Archive) findDescriptor(off int64) (csize, usize uint64, crc uint32, ok bool) {
	buf := make([]byte, 64<<10)
	for pos := off; pos < a.size && pos-off < maxDescriptorScan; pos += int64(len(buf)) - 15 {
		n, _ := a.r.ReadAt(buf, pos)
		if n < 16 {
			return 0, 0, 0, false
		}
		for i := 0; i+16 <= n; i++ {
			if binary.LittleEndian.Uint32(buf[i:]) != 0x08074b50 {
				continue
			}
			c := binary.LittleEndian.Uint32(buf[i+8:])
			if int64(c) == pos+int64(i)-off {
				return uint64(c), uint64(binary.LittleEndian.Uint32(buf[i+12:])), binary.LittleEndian.Uint32(buf[i+4:]), true
			}
		}
		if n < len(buf) {
			return 0, 0, 0, false
		}
	}
	return 0, 0, 0, false
}

// check records duplicate names, odd flags, unusual methods and members
// whose data overlap.
func (a *Archive) check() {
	seen := map[string]string{}
	for _, e := range a.Entries {
		// Case-insensitive: PyTorch's reader finds members ignoring case,
		// Python's zipfile does not, so "data.pkl" and "DATA.PKL" are two
		// files to one and the same file to the other.
		key := strings.ToLower(e.Name)
		if first, dup := seen[key]; dup {
			detail := fmt.Sprintf("more than one member is named %q; loaders and validators may pick different ones", e.Name)
			if first != e.Name {
				detail = fmt.Sprintf("members %q and %q differ only in case; PyTorch's reader treats them as one name", first, e.Name)
			}
			a.Anomalies = append(a.Anomalies, Anomaly{Kind: DuplicateName, Entry: e.Name, Offset: e.HeaderOffset, Detail: detail})
		} else {
			seen[key] = e.Name
		}
		if odd := e.Flags & (FlagEncrypted | FlagPatched | FlagStrongEncrypted); odd != 0 {
			a.Anomalies = append(a.Anomalies, Anomaly{Kind: OddFlags, Entry: e.Name, Offset: e.HeaderOffset,
				Detail: fmt.Sprintf("flag bits 0x%x (encrypted/patched) that strict readers refuse and tolerant ones ignore", odd)})
		}
		if e.Method != Store && e.Method != Deflate {
			a.Anomalies = append(a.Anomalies, Anomaly{Kind: UnusualMethod, Entry: e.Name, Offset: e.HeaderOffset,
				Detail: fmt.Sprintf("compression method %d", e.Method)})
		}
	}
	// Overlaps: compare neighbours in offset order.
	byOff := make([]*Entry, 0, len(a.Entries))
	for _, e := range a.Entries {
		if e.Err == nil {
			byOff = append(byOff, e)
		}
	}
	sortByOffset(byOff)
	for i := 1; i < len(byOff); i++ {
		prev, cur := byOff[i-1], byOff[i]
		if prev.HeaderOffset == cur.HeaderOffset {
			a.Anomalies = append(a.Anomalies, Anomaly{Kind: Overlap, Entry: cur.Name, Offset: cur.HeaderOffset,
				Detail: fmt.Sprintf("members %q and %q share the same data", prev.Name, cur.Name)})
			continue
		}
		if prevEnd := prev.DataOffset + int64(prev.CompressedSize); prevEnd > cur.HeaderOffset {
			a.Anomalies = append(a.Anomalies, Anomaly{Kind: Overlap, Entry: cur.Name, Offset: cur.HeaderOffset,
				Detail: fmt.Sprintf("member %q starts inside member %q", cur.Name, prev.Name)})
		}
	}
}

// Raw returns the stored bytes of e (compressed, if it is compressed).
func (a *Archive) Raw(e *Entry) (*io.SectionReader, error) {
	if e.Err != nil {
		return nil, e.Err
	}
	return io.NewSectionReader(a.r, e.DataOffset, int64(e.CompressedSize)), nil
}

// Open returns the decompressed content of e as a stream. The caller bounds
// how much it reads.
func (a *Archive) Open(e *Entry) (io.Reader, error) {
	raw, err := a.Raw(e)
	if err != nil {
		return nil, err
	}
	switch e.Method {
	case Store:
		return raw, nil
	case Deflate:
		return flate.NewReader(raw), nil
	case BZip2:
		return bzip2.NewReader(raw), nil
	}
	return nil, fmt.Errorf("member %q: compression method %d is not supported", e.Name, e.Method)
}

// CheckCRC reads a stored member and compares its CRC-32 with the central
// directory's. It reads the whole member: call it only for members that are
// analysed anyway (pickles), never for tensor data.
func (a *Archive) CheckCRC(e *Entry) (bool, error) {
	raw, err := a.Raw(e)
	if err != nil {
		return false, err
	}
	h := crc32.NewIEEE()
	if _, err := io.Copy(h, raw); err != nil {
		return false, err
	}
	return h.Sum32() == e.CRC32, nil
}

// IsZip reports whether head starts like a zip archive (a local header, or
// the end record of an empty archive).
func IsZip(head []byte) bool {
	return bytes.HasPrefix(head, []byte("PK\x03\x04")) || bytes.HasPrefix(head, []byte("PK\x05\x06"))
}

func sortByOffset(es []*Entry) {
	slices.SortFunc(es, func(x, y *Entry) int { return cmp.Compare(x.HeaderOffset, y.HeaderOffset) })
}
