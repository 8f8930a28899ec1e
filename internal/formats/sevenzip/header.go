package sevenzip

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/ulikunitz/xz/lzma"
)

// The header check. github.com/bodgit/sevenzip allocates slices sized by
// counts it reads from the archive header (up to 2^32 entries: file
// tables, CRC tables, time tables, coder properties) and sizes decoder
// dictionaries by coder properties (LZMA, LZMA2, PPMd: up to 4 GiB) before
// anything is decoded. A few hundred crafted bytes would make it allocate
// gigabytes, which no recover() can undo. So the header is first walked
// here, with the library's own grammar (the same bytes give the same counts,
// quirks included), and every count and dictionary is checked against a cap
// before the library sees the archive. Nothing here allocates from a value
// read from the file: only from lengths already checked against a cap.

// Property ids of the 7z header (7zFormat.txt).
const (
	idEnd                   = 0x00
	idHeader                = 0x01
	idArchiveProperties     = 0x02
	idAdditionalStreamsInfo = 0x03
	idMainStreamsInfo       = 0x04
	idFilesInfo             = 0x05
	idPackInfo              = 0x06
	idUnpackInfo            = 0x07
	idSubStreamsInfo        = 0x08
	idSize                  = 0x09
	idCRC                   = 0x0a
	idFolder                = 0x0b
	idCodersUnpackSize      = 0x0c
	idNumUnpackStream       = 0x0d
	idEmptyStream           = 0x0e
	idEmptyFile             = 0x0f
	idName                  = 0x11
	idCTime                 = 0x12
	idATime                 = 0x13
	idMTime                 = 0x14
	idWinAttributes         = 0x15
	idEncodedHeader         = 0x17
	idDummy                 = 0x19
)

// Coder method ids that matter here.
var (
	methodCopy  = []byte{0x00}
	methodLZMA  = []byte{0x03, 0x01, 0x01}
	methodLZMA2 = []byte{0x21}
	methodPPMd  = []byte{0x03, 0x04, 0x01}
	methodAES   = []byte{0x06, 0xf1, 0x07, 0x01}
	methodZstd  = []byte{0x04, 0xf7, 0x11, 0x01}
)

// Fixed caps. 7-Zip itself allows at most 64 coders and 64 streams per
// folder; coder properties of every known method fit in 34 bytes.
const (
	maxCoders     = 64
	maxStreams    = 64
	maxPropsSize  = 128
	signatureSize = 32
	// maxHeaderSize bounds the header as stored and as decoded. 7-Zip needs
	// roughly 100 bytes per entry; this leaves room for a million entries.
	maxHeaderSize = 64 << 20
	// maxEntriesCap bounds the per-archive entry cap whatever the member
	// budget says: each entry costs the library about 150 bytes.
	maxEntriesCap = 1 << 20
	// minEntriesCap keeps small member budgets (tests, policies) from
	// refusing whole archives: the member budget itself stops the scan.
	minEntriesCap = 1 << 16
	// minCoderMemory is the smallest dictionary/model cap: 7-Zip's default
	// presets use up to 64 MiB.
	minCoderMemory = 64 << 20
)

// caps are the bounds a header must respect.
type caps struct {
	entries     uint64 // files, folders, pack streams, substreams
	coderMemory uint64 // dictionary or model memory of one coder
}

// errLimit marks a header refused for exceeding a cap (reported as a
// SCAN-LIMIT finding, not as corruption).
var errLimit = errors.New("7z header exceeds a scan limit")

// errEncryptedHeader marks archives whose file list is itself encrypted.
var errEncryptedHeader = errors.New("the 7z file list is encrypted (password protected): nothing could be analysed")

func limitErr(format string, a ...any) error {
	return fmt.Errorf("%w: %s", errLimit, fmt.Sprintf(format, a...))
}

// coderInfo is what the check keeps of one coder.
type coderInfo struct {
	id         []byte
	in, out    uint64
	properties []byte // a window onto the header buffer (at most maxPropsSize)
}

// folderInfo is what the check keeps of one folder (a decoding chain).
type folderInfo struct {
	coders        []coderInfo
	in, out       uint64
	bindIn        []uint64
	bindOut       []uint64
	packedStreams uint64
	packed        uint64 // number of packed inputs, as the library counts them
	sizes         []uint64
	encrypted     bool
}

// unpackSize mirrors the library: the size of the last output stream that
// is not bound to another coder's input.
func (f *folderInfo) unpackSize() uint64 {
	if len(f.sizes) == 0 {
		return 0
	}
	for i := len(f.sizes) - 1; i >= 0; i-- {
		bound := false
		for _, o := range f.bindOut {
			bound = bound || o == uint64(i)
		}
		if !bound {
			return f.sizes[i]
		}
	}
	return f.sizes[len(f.sizes)-1]
}

// streamsInfo is what the check keeps of a StreamsInfo block.
type streamsInfo struct {
	packPos     uint64
	packSizes   []uint64
	folders     []folderInfo
	folderCRC   []bool // folder has a CRC (digest defined)
	folderCRCs  []uint32
	substreams  []uint64 // per folder; nil when absent
	hasSubSizes bool
	hasSubs     bool
}

// archiveInfo is the result of the check: the folders (which of them are
// encrypted), and how many entries the archive lists.
type archiveInfo struct {
	folders  []folderInfo
	files    uint64
	nonEmpty uint64
}

// parser reads a header held in memory; it never reads past the buffer.
type parser struct {
	b    []byte
	off  int
	caps caps
}

var errTruncated = errors.New("7z header is truncated")

func (p *parser) byte() (byte, error) {
	if p.off >= len(p.b) {
		return 0, errTruncated
	}
	c := p.b[p.off]
	p.off++
	return c, nil
}

func (p *parser) take(n uint64) ([]byte, error) {
	if n > uint64(len(p.b)-p.off) {
		return nil, errTruncated
	}
	s := p.b[p.off : p.off+int(n)]
	p.off += int(n)
	return s, nil
}

// number decodes 7z's variable-length integer (the first byte's leading
// ones say how many bytes follow), exactly as the library does.
func (p *parser) number() (uint64, error) {
	first, err := p.byte()
	if err != nil {
		return 0, err
	}
	var v uint64
	mask := byte(0x80)
	i := 0
	for ; i < 8 && first&mask != 0; i++ {
		mask >>= 1
	}
	if i < 7 {
		v = uint64(first&(mask-1)) << (8 * i)
	}
	for j := range i {
		c, err := p.byte()
		if err != nil {
			return 0, err
		}
		v |= uint64(c) << (8 * j)
	}
	return v, nil
}

// count reads a number the library would use to size a slice, and checks it
// against the cap (and, like the library, against zero when nonZero).
func (p *parser) count(what string, nonZero bool, limit uint64) (uint64, error) {
	v, err := p.number()
	if err != nil {
		return 0, err
	}
	if nonZero && v == 0 {
		return 0, fmt.Errorf("7z header: %s is zero", what)
	}
	if v > limit {
		return 0, limitErr("%s is %d, more than the cap of %d", what, v, limit)
	}
	return v, nil
}

// bools reads a bit vector of n entries (n already capped).
func (p *parser) bools(n uint64) ([]bool, error) {
	if n == 0 {
		return nil, errors.New("7z header: empty bit vector")
	}
	out := make([]bool, n)
	var b, mask byte
	for i := range out {
		if mask == 0 {
			var err error
			if b, err = p.byte(); err != nil {
				return nil, err
			}
			mask = 0x80
		}
		out[i] = b&mask != 0
		mask >>= 1
	}
	return out, nil
}

// optionalBools reads the "all defined" byte, then a bit vector if needed.
func (p *parser) optionalBools(n uint64) ([]bool, error) {
	if n == 0 {
		return nil, errors.New("7z header: empty bit vector")
	}
	all, err := p.byte()
	if err != nil {
		return nil, err
	}
	if all == 0 {
		return p.bools(n)
	}
	out := make([]bool, n)
	for i := range out {
		out[i] = true
	}
	return out, nil
}

// digests reads n optional CRC-32s.
func (p *parser) digests(n uint64) ([]bool, []uint32, error) {
	defined, err := p.optionalBools(n)
	if err != nil {
		return nil, nil, err
	}
	crcs := make([]uint32, n)
	for i, d := range defined {
		if d {
			b, err := p.take(4)
			if err != nil {
				return nil, nil, err
			}
			crcs[i] = binary.LittleEndian.Uint32(b)
		}
	}
	return defined, crcs, nil
}

func (p *parser) expect(id byte, where string) error {
	got, err := p.byte()
	if err != nil {
		return err
	}
	if got != id {
		return fmt.Errorf("7z header: unexpected property 0x%02x in %s", got, where)
	}
	return nil
}

func (p *parser) packInfo(si *streamsInfo) error {
	var err error
	if si.packPos, err = p.number(); err != nil {
		return err
	}
	n, err := p.count("pack stream count", true, p.caps.entries)
	if err != nil {
		return err
	}
	id, err := p.byte()
	if err != nil {
		return err
	}
	if id == idSize {
		si.packSizes = make([]uint64, n)
		for i := range si.packSizes {
			if si.packSizes[i], err = p.number(); err != nil {
				return err
			}
		}
		if id, err = p.byte(); err != nil {
			return err
		}
	}
	if id == idCRC {
		if _, _, err = p.digests(n); err != nil {
			return err
		}
		if id, err = p.byte(); err != nil {
			return err
		}
	}
	if id != idEnd {
		return fmt.Errorf("7z header: unexpected property 0x%02x in pack info", id)
	}
	return nil
}

func (p *parser) coder() (coderInfo, error) {
	var c coderInfo
	v, err := p.byte()
	if err != nil {
		return c, err
	}
	if c.id, err = p.take(uint64(v & 0x0f)); err != nil {
		return c, err
	}
	c.in, c.out = 1, 1
	if v&0x10 != 0 {
		if c.in, err = p.count("coder input streams", true, maxStreams); err != nil {
			return c, err
		}
		if c.out, err = p.count("coder output streams", true, maxStreams); err != nil {
			return c, err
		}
	}
	if v&0x20 != 0 {
		size, err := p.count("coder properties size", true, maxPropsSize)
		if err != nil {
			return c, err
		}
		if c.properties, err = p.take(size); err != nil {
			return c, err
		}
	}
	return c, nil
}

func (p *parser) folder() (folderInfo, error) {
	var f folderInfo
	n, err := p.count("coders in a folder", true, maxCoders)
	if err != nil {
		return f, err
	}
	for range n {
		c, err := p.coder()
		if err != nil {
			return f, err
		}
		f.coders = append(f.coders, c)
		f.in += c.in
		f.out += c.out
		f.encrypted = f.encrypted || bytes.Equal(c.id, methodAES)
	}
	if f.in > maxStreams || f.out > maxStreams {
		return f, limitErr("a folder has %d input and %d output streams, more than the cap of %d", f.in, f.out, maxStreams)
	}
	if f.in < f.out {
		return f, errors.New("7z header: folder has fewer inputs than outputs")
	}
	for range f.out - 1 {
		in, err := p.number()
		if err != nil {
			return f, err
		}
		out, err := p.number()
		if err != nil {
			return f, err
		}
		// The library indexes its stream tables with these.
		if in >= f.in || out >= f.out {
			return f, errors.New("7z header: bind pair names a stream that does not exist")
		}
		f.bindIn = append(f.bindIn, in)
		f.bindOut = append(f.bindOut, out)
	}
	f.packedStreams = f.in - (f.out - 1)
	if f.packedStreams == 1 {
		for i := range f.in {
			bound := false
			for _, b := range f.bindIn {
				bound = bound || b == i
			}
			if !bound {
				f.packed++
			}
		}
	} else {
		f.packed = f.packedStreams
		for range f.packedStreams {
			idx, err := p.number()
			if err != nil {
				return f, err
			}
			if idx >= f.in {
				return f, errors.New("7z header: packed stream names an input that does not exist")
			}
		}
	}
	return f, nil
}

func (p *parser) unpackInfo(si *streamsInfo) error {
	if err := p.expect(idFolder, "unpack info"); err != nil {
		return err
	}
	n, err := p.count("folder count", true, p.caps.entries)
	if err != nil {
		return err
	}
	external, err := p.byte()
	if err != nil {
		return err
	}
	if external != 0 {
		return errors.New("7z header: external folder data is not supported")
	}
	for range n {
		f, err := p.folder()
		if err != nil {
			return err
		}
		si.folders = append(si.folders, f)
	}
	if err := p.expect(idCodersUnpackSize, "unpack info"); err != nil {
		return err
	}
	for i := range si.folders {
		f := &si.folders[i]
		f.sizes = make([]uint64, f.out) // f.out <= maxStreams
		for j := range f.sizes {
			if f.sizes[j], err = p.number(); err != nil {
				return err
			}
		}
	}
	id, err := p.byte()
	if err != nil {
		return err
	}
	if id == idCRC {
		if si.folderCRC, si.folderCRCs, err = p.digests(n); err != nil {
			return err
		}
		if id, err = p.byte(); err != nil {
			return err
		}
	}
	if id != idEnd {
		return fmt.Errorf("7z header: unexpected property 0x%02x in unpack info", id)
	}
	return nil
}

func (p *parser) subStreamsInfo(si *streamsInfo) error {
	si.hasSubs = true
	si.substreams = make([]uint64, len(si.folders))
	id, err := p.byte()
	if err != nil {
		return err
	}
	if id == idNumUnpackStream {
		for i := range si.substreams {
			if si.substreams[i], err = p.count("files in a folder", false, p.caps.entries); err != nil {
				return err
			}
		}
		if id, err = p.byte(); err != nil {
			return err
		}
	} else {
		for i := range si.substreams {
			si.substreams[i] = 1
		}
	}
	var total uint64
	for _, n := range si.substreams {
		total += n // each <= cap, folders <= cap: no overflow
	}
	if total > p.caps.entries {
		return limitErr("the folders hold %d files, more than the cap of %d", total, p.caps.entries)
	}
	if id == idSize {
		si.hasSubSizes = true
		for _, n := range si.substreams {
			for j := uint64(1); j < n; j++ {
				if _, err := p.number(); err != nil {
					return err
				}
			}
		}
		if id, err = p.byte(); err != nil {
			return err
		}
	}
	if id == idCRC {
		if total == 0 {
			return errors.New("7z header: digests for no streams")
		}
		if _, _, err := p.digests(total); err != nil {
			return err
		}
		if id, err = p.byte(); err != nil {
			return err
		}
	}
	if id != idEnd {
		return fmt.Errorf("7z header: unexpected property 0x%02x in substreams info", id)
	}
	return nil
}

func (p *parser) streamsInfo() (*streamsInfo, error) {
	si := &streamsInfo{}
	id, err := p.byte()
	if err != nil {
		return nil, err
	}
	if id == idPackInfo {
		if err := p.packInfo(si); err != nil {
			return nil, err
		}
		if id, err = p.byte(); err != nil {
			return nil, err
		}
	}
	if id == idUnpackInfo {
		if err := p.unpackInfo(si); err != nil {
			return nil, err
		}
		if id, err = p.byte(); err != nil {
			return nil, err
		}
	}
	if id == idSubStreamsInfo {
		if si.folders == nil {
			return nil, errors.New("7z header: substreams without unpack info")
		}
		if err := p.subStreamsInfo(si); err != nil {
			return nil, err
		}
		if id, err = p.byte(); err != nil {
			return nil, err
		}
	}
	if id != idEnd {
		return nil, fmt.Errorf("7z header: unexpected property 0x%02x in streams info", id)
	}
	return si, si.consistent()
}

// consistent checks what the library would index without checking: every
// folder's packed streams must have a size, and multi-file folders need
// their file sizes.
func (si *streamsInfo) consistent() error {
	var packed, packedStreams uint64
	for i := range si.folders {
		packed += si.folders[i].packed
		packedStreams += si.folders[i].packedStreams
	}
	if packed > uint64(len(si.packSizes)) || packedStreams > uint64(len(si.packSizes)) {
		return errors.New("7z header: folders use more packed streams than the archive lists")
	}
	for _, n := range si.substreams {
		if n > 1 && !si.hasSubSizes {
			return errors.New("7z header: a folder holds several files but their sizes are missing")
		}
	}
	return nil
}

// files walks FilesInfo and returns the entry count and the count of
// entries with data.
func (p *parser) files() (files, nonEmpty uint64, err error) {
	if files, err = p.count("entry count", true, p.caps.entries); err != nil {
		return 0, 0, err
	}
	empty := make([]bool, files)
	var emptyStreams uint64
	for {
		prop, err := p.byte()
		if err != nil {
			return 0, 0, err
		}
		if prop == idEnd {
			break
		}
		length, err := p.number()
		if err != nil {
			return 0, 0, err
		}
		// Like the library, parse each property by its kind and the entry
		// count, not by its stated length (only names and padding use it).
		switch prop {
		case idEmptyStream:
			v, err := p.bools(files)
			if err != nil {
				return 0, 0, err
			}
			for i, e := range v {
				empty[i] = e
				if e {
					emptyStreams++ // the library counts across repeats too
				}
			}
		case idEmptyFile:
			if emptyStreams == 0 {
				return 0, 0, errors.New("7z header: empty-file flags without empty streams")
			}
			// Only skipped: one bit per empty stream, as the library reads.
			if _, err := p.take((emptyStreams + 7) / 8); err != nil {
				return 0, 0, err
			}
		case idCTime, idATime, idMTime:
			if err := p.timesOrAttributes(files, 8); err != nil {
				return 0, 0, err
			}
		case idWinAttributes:
			if err := p.timesOrAttributes(files, 4); err != nil {
				return 0, 0, err
			}
		case idName:
			if length == 0 {
				return 0, 0, errors.New("7z header: empty name property")
			}
			external, err := p.byte()
			if err != nil {
				return 0, 0, err
			}
			if external != 0 {
				return 0, 0, errors.New("7z header: external names are not supported")
			}
			if _, err := p.take(length - 1); err != nil {
				return 0, 0, err
			}
		case idDummy:
			if _, err := p.take(length); err != nil {
				return 0, 0, err
			}
		default:
			return 0, 0, fmt.Errorf("7z header: unsupported file property 0x%02x", prop)
		}
	}
	for _, e := range empty {
		if !e {
			nonEmpty++
		}
	}
	return files, nonEmpty, nil
}

func (p *parser) timesOrAttributes(files uint64, size uint64) error {
	defined, err := p.optionalBools(files)
	if err != nil {
		return err
	}
	external, err := p.byte()
	if err != nil {
		return err
	}
	if external != 0 {
		return errors.New("7z header: external file properties are not supported")
	}
	for _, d := range defined {
		if d {
			if _, err := p.take(size); err != nil {
				return err
			}
		}
	}
	return nil
}

// header walks a plain Header (after its id byte).
func (p *parser) header() (*archiveInfo, error) {
	info := &archiveInfo{}
	id, err := p.byte()
	if err != nil {
		return nil, err
	}
	if id == idArchiveProperties || id == idAdditionalStreamsInfo {
		return nil, fmt.Errorf("7z header: property 0x%02x is not supported", id)
	}
	var si *streamsInfo
	if id == idMainStreamsInfo {
		if si, err = p.streamsInfo(); err != nil {
			return nil, err
		}
		info.folders = si.folders
		if id, err = p.byte(); err != nil {
			return nil, err
		}
	}
	if id == idFilesInfo {
		if info.files, info.nonEmpty, err = p.files(); err != nil {
			return nil, err
		}
		if id, err = p.byte(); err != nil {
			return nil, err
		}
	}
	if id != idEnd {
		return nil, fmt.Errorf("7z header: unexpected property 0x%02x in header", id)
	}
	if info.nonEmpty > 0 {
		// The library maps the n-th entry with data to a folder and a size
		// through these tables without bounds checks.
		if si == nil || len(si.folders) == 0 {
			return nil, errors.New("7z header: entries with data but no folders")
		}
		streams := uint64(len(si.folders))
		if si.hasSubs {
			streams = 0
			for _, n := range si.substreams {
				streams += n
			}
		}
		if info.nonEmpty > streams {
			return nil, fmt.Errorf("7z header: %d entries with data but only %d streams", info.nonEmpty, streams)
		}
	}
	return info, nil
}

// checkCoders refuses decoders whose memory a coder property sets beyond
// the cap. The library builds them with exactly these values.
func checkCoders(folders []folderInfo, c caps) error {
	for fi := range folders {
		f := &folders[fi]
		for i, cd := range f.coders {
			var out uint64 = 1 << 63
			if i < len(f.sizes) {
				out = f.sizes[i]
			}
			mem, err := coderMemory(cd, out)
			if err != nil {
				return err
			}
			if mem > c.coderMemory {
				return limitErr("a coder needs %d bytes of dictionary or model memory, more than the cap of %d", mem, c.coderMemory)
			}
		}
	}
	return nil
}

// coderMemory is the dictionary or model size a coder allocates up front.
func coderMemory(c coderInfo, outSize uint64) (uint64, error) {
	switch {
	case bytes.Equal(c.id, methodLZMA):
		if len(c.properties) < 5 {
			return 0, errors.New("7z header: LZMA properties are too short")
		}
		// ulikunitz/xz/lzma shrinks the dictionary to the known output size.
		dict := uint64(binary.LittleEndian.Uint32(c.properties[1:5]))
		if outSize < 1<<63 && outSize < dict {
			dict = outSize
		}
		return dict, nil
	case bytes.Equal(c.id, methodLZMA2):
		if len(c.properties) != 1 || c.properties[0] > 40 {
			return 0, errors.New("7z header: bad LZMA2 properties")
		}
		p := c.properties[0]
		return uint64(2|p&1) << (p/2 + 11), nil
	case bytes.Equal(c.id, methodPPMd):
		if len(c.properties) != 5 {
			return 0, errors.New("7z header: bad PPMd properties")
		}
		return uint64(binary.LittleEndian.Uint32(c.properties[1:5])), nil
	}
	return 0, nil
}

// check reads and validates the archive's header. It returns what the
// analyser needs to know before handing the archive to the library.
func check(r io.ReaderAt, size int64, c caps) (*archiveInfo, error) {
	var sig [signatureSize]byte
	if _, err := r.ReadAt(sig[:], 0); err != nil {
		return nil, fmt.Errorf("7z signature header: %w", err)
	}
	if crc32.ChecksumIEEE(sig[12:32]) != binary.LittleEndian.Uint32(sig[8:12]) {
		return nil, errors.New("7z start header checksum mismatch")
	}
	next := binary.LittleEndian.Uint64(sig[12:20])
	nextSize := binary.LittleEndian.Uint64(sig[20:28])
	nextCRC := binary.LittleEndian.Uint32(sig[28:32])
	room := uint64(size - signatureSize)
	if next > room || nextSize > room-next {
		return nil, fmt.Errorf("7z header (offset %d, %d bytes) lies beyond the end of the %d-byte file (truncated archive?)", next, nextSize, size)
	}
	if nextSize == 0 {
		return nil, errors.New("7z archive has no header")
	}
	if nextSize > maxHeaderSize {
		return nil, limitErr("the header is %d bytes, more than the cap of %d", nextSize, maxHeaderSize)
	}
	raw := make([]byte, nextSize) // capped just above
	if _, err := r.ReadAt(raw, signatureSize+int64(next)); err != nil {
		return nil, fmt.Errorf("read 7z header: %w", err)
	}
	if crc32.ChecksumIEEE(raw) != nextCRC {
		return nil, errors.New("7z header checksum mismatch")
	}
	p := &parser{b: raw, caps: c}
	id, err := p.byte()
	if err != nil {
		return nil, err
	}
	var info *archiveInfo
	switch id {
	case idHeader:
		if info, err = p.header(); err != nil {
			return nil, err
		}
	case idEncodedHeader:
		si, err := p.streamsInfo()
		if err != nil {
			return nil, err
		}
		decoded, err := decodeHeader(r, size, si, c)
		if err != nil {
			return nil, err
		}
		dp := &parser{b: decoded, caps: c}
		if err := dp.expect(idHeader, "encoded header"); err != nil {
			return nil, err
		}
		if info, err = dp.header(); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("7z header starts with unexpected property 0x%02x", id)
	}
	if p.off != len(p.b) {
		return nil, errors.New("7z header has trailing bytes")
	}
	if err := checkCoders(info.folders, c); err != nil {
		return nil, err
	}
	return info, nil
}

// decodeHeader decompresses an encoded (compressed) header. 7-Zip
// compresses headers with LZMA; the library decodes them with the same
// ulikunitz/xz code used here, so both see the same bytes.
func decodeHeader(r io.ReaderAt, size int64, si *streamsInfo, c caps) ([]byte, error) {
	if len(si.folders) != 1 || len(si.packSizes) == 0 {
		return nil, errors.New("7z encoded header: expected exactly one folder")
	}
	f := &si.folders[0]
	if f.encrypted {
		return nil, errEncryptedHeader
	}
	if len(f.coders) != 1 || f.in != 1 || len(f.sizes) != 1 {
		return nil, errors.New("7z encoded header: unsupported coder chain")
	}
	unpacked := f.sizes[0]
	if unpacked > maxHeaderSize {
		return nil, limitErr("the decoded header is %d bytes, more than the cap of %d", unpacked, maxHeaderSize)
	}
	packed := si.packSizes[0]
	room := uint64(size - signatureSize)
	if si.packPos > room || packed > room-si.packPos {
		return nil, errors.New("7z encoded header lies beyond the end of the file (truncated archive?)")
	}
	src := io.NewSectionReader(r, signatureSize+int64(si.packPos), int64(packed))
	if err := checkCoders(si.folders, c); err != nil {
		return nil, err
	}
	cd := f.coders[0]
	var dec io.Reader
	switch {
	case bytes.Equal(cd.id, methodCopy):
		dec = src
	case bytes.Equal(cd.id, methodLZMA):
		// The 13-byte .lzma header the library builds: properties, then
		// the unpacked size.
		var h [13]byte
		copy(h[:5], cd.properties)
		binary.LittleEndian.PutUint64(h[5:], unpacked)
		lr, err := lzma.NewReader(io.MultiReader(bytes.NewReader(h[:]), src))
		if err != nil {
			return nil, fmt.Errorf("7z encoded header: %w", err)
		}
		dec = lr
	case bytes.Equal(cd.id, methodLZMA2):
		mem, _ := coderMemory(cd, unpacked)
		lr, err := lzma.Reader2Config{DictCap: int(mem)}.NewReader2(src)
		if err != nil {
			return nil, fmt.Errorf("7z encoded header: %w", err)
		}
		dec = lr
	default:
		return nil, fmt.Errorf("7z encoded header: unsupported method %x", cd.id)
	}
	// Grows with the bytes actually decoded, never from the stated size.
	out, err := io.ReadAll(io.LimitReader(dec, int64(unpacked)))
	if err != nil {
		return nil, fmt.Errorf("7z encoded header: %w", err)
	}
	if uint64(len(out)) != unpacked {
		return nil, fmt.Errorf("7z encoded header: decoded %d bytes, expected %d", len(out), unpacked)
	}
	if len(si.folderCRC) > 0 && si.folderCRC[0] && crc32.ChecksumIEEE(out) != si.folderCRCs[0] {
		return nil, errors.New("7z encoded header checksum mismatch")
	}
	return out, nil
}
