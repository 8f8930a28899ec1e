package keras

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/bits"
)

// A minimal, bounded HDF5 reader: the superblock (versions 0-3, found
// after a user block as the HDF5 library finds it), the root group's object
// header (versions 1 and 2, with continuation chunks) and its attributes,
// compact or in dense storage (fractal heap and version 2 B-tree), with
// fixed-length and variable-length (global heap) string values. Datasets,
// groups below the root and weights are never read.
//
// Every address is checked against the file size and every length against
// a cap before anything is allocated; the reader stops after maxH5Read
// bytes in total. See the HDF5 File Format Specification version 3.0,
// https://docs.hdfgroup.org/hdf5/develop/_f_m_t3.html.

// h5Signature is the 8-byte HDF5 format signature.
var h5Signature = []byte("\x89HDF\r\n\x1a\n")

const (
	maxH5Read       = 512 << 20 // bytes read from one file, all structures together
	maxHeaderChunks = 256       // object header chunks (the first plus continuations)
	maxChunk        = 64 << 20  // one object header chunk
	maxAttrs        = 100_000
	maxHeapScan     = 1 << 16 // objects walked in one global heap collection
	maxBTreeNodes   = 1 << 16
	maxBTreeDepth   = 16
	maxIndirect     = 8 // nesting of fractal heap indirect blocks
)

// undefinedAddress is the all-ones address ("not allocated").
const undefinedAddress = ^uint64(0)

// h5File is an HDF5 file opened to read the root group's attributes.
type h5File struct {
	r    io.ReaderAt
	size int64
	// base is where the superblock is: every address in the file is
	// relative to it (the HDF5 library rebases a file whose superblock sits
	// after a user block the same way).
	base      int64
	SBVersion int
	offSize   int
	lenSize   int
	root      uint64 // the root group's object header address
	read      int64  // bytes read so far
	// Dense and Huge count attributes read from dense storage, and huge
	// fractal-heap objects among them (tests check which path was taken).
	Dense, Huge int
}

// h5Attr is one attribute of the root group.
type h5Attr struct {
	Name string
	// Value is the string value (the first element of an array), nil for
	// attributes that are not strings.
	Value []byte
	Type  string // "string", "vlen string", or the datatype class
	Count uint64 // elements
	Err   error  // the value could not be read
}

// findSignature returns where the HDF5 signature is in head, looking
// where the library looks (offset 0, then 512, 1024, 2048, ... — user
// blocks are powers of two of at least 512 bytes).
func findSignature(head []byte) (int64, bool) {
	for off := 0; off+len(h5Signature) <= len(head); {
		if bytes.Equal(head[off:off+len(h5Signature)], h5Signature) {
			return int64(off), true
		}
		if off == 0 {
			off = 512
		} else {
			off *= 2
		}
	}
	return 0, false
}

// openH5 finds and parses the superblock.
func openH5(r io.ReaderAt, size int64) (*h5File, error) {
	f := &h5File{r: r, size: size}
	sig := make([]byte, len(h5Signature))
	found := false
	for off := int64(0); off+int64(len(sig)) <= size; {
		if n, _ := r.ReadAt(sig, off); n == len(sig) && bytes.Equal(sig, h5Signature) {
			f.base, found = off, true
			break
		}
		if off == 0 {
			off = 512
		} else {
			off *= 2
		}
	}
	if !found {
		return nil, errors.New("no HDF5 superblock")
	}
	sb, err := f.readAbs(f.base, min(256, f.size-f.base))
	if err != nil {
		return nil, err
	}
	if len(sb) < 12 {
		return nil, errors.New("HDF5 superblock truncated")
	}
	f.SBVersion = int(sb[8])
	var p int // where the addresses start
	switch f.SBVersion {
	case 0, 1:
		if len(sb) < 24 {
			return nil, errors.New("HDF5 superblock truncated")
		}
		f.offSize, f.lenSize = int(sb[13]), int(sb[14])
		p = 24
		if f.SBVersion == 1 {
			p = 28 // indexed storage internal node K and two reserved bytes
		}
	case 2, 3:
		f.offSize, f.lenSize = int(sb[9]), int(sb[10])
		p = 12
	default:
		return nil, fmt.Errorf("unsupported HDF5 superblock version %d", f.SBVersion)
	}
	if !validSize(f.offSize) || !validSize(f.lenSize) {
		return nil, fmt.Errorf("HDF5 superblock: unsupported sizes of offsets %d and lengths %d", f.offSize, f.lenSize)
	}
	o := f.offSize
	var need int
	if f.SBVersion < 2 {
		// base, free-space, end-of-file, driver-info addresses, then the
		// root group symbol table entry: link name offset, object header.
		need = p + 6*o
	} else {
		// base, superblock extension, end-of-file, root object header.
		need = p + 4*o
	}
	if len(sb) < need {
		return nil, errors.New("HDF5 superblock truncated")
	}
	if f.SBVersion < 2 {
		f.root = le(sb[p+5*o : p+6*o])
	} else {
		f.root = le(sb[p+3*o : p+4*o])
	}
	if f.root == undefinedAddress || !f.inFile(f.root, 1) {
		return nil, fmt.Errorf("HDF5 root group address %#x is outside the file", f.root)
	}
	return f, nil
}

func validSize(n int) bool { return n == 2 || n == 4 || n == 8 }

// le decodes a little-endian unsigned integer of 1 to 8 bytes.
func le(b []byte) uint64 {
	var v uint64
	for i := len(b) - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}

func (f *h5File) inFile(addr uint64, n int64) bool {
	if addr == undefinedAddress || addr > uint64(f.size) {
		return false
	}
	abs := f.base + int64(addr)
	return abs >= f.base && abs <= f.size && n >= 0 && n <= f.size-abs
}

// at reads n bytes at a file address (relative to the base).
func (f *h5File) at(addr uint64, n int64) ([]byte, error) {
	if !f.inFile(addr, n) {
		return nil, fmt.Errorf("HDF5 structure at %#x (%d bytes) is outside the file", addr, n)
	}
	return f.readAbs(f.base+int64(addr), n)
}

// upTo reads up to n bytes at addr: fewer at the end of the file.
func (f *h5File) upTo(addr uint64, n int64) ([]byte, error) {
	if !f.inFile(addr, 1) {
		return nil, fmt.Errorf("HDF5 structure at %#x is outside the file", addr)
	}
	return f.readAbs(f.base+int64(addr), min(n, f.size-f.base-int64(addr)))
}

func (f *h5File) readAbs(abs, n int64) ([]byte, error) {
	if n < 0 || n > maxChunk+maxConfigSlack {
		return nil, fmt.Errorf("HDF5 structure of %d bytes is over the cap", n)
	}
	if f.read+n > maxH5Read {
		return nil, fmt.Errorf("HDF5 read budget of %d bytes spent", maxH5Read)
	}
	f.read += n
	b := make([]byte, n)
	if k, err := f.r.ReadAt(b, abs); int64(k) < n {
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("read HDF5 at %d: %w", abs, err)
	}
	return b, nil
}

// maxConfigSlack lets one read hold a whole MaxConfig string.
const maxConfigSlack = MaxConfig

// cursor reads fields from a byte slice; reads past the end set err.
type cursor struct {
	b   []byte
	pos int
	err error
}

func (c *cursor) need(n int) bool {
	if c.err != nil {
		return false
	}
	if n < 0 || n > len(c.b)-c.pos {
		c.err = errors.New("HDF5 structure truncated")
		return false
	}
	return true
}

func (c *cursor) u(n int) uint64 {
	if !c.need(n) {
		return 0
	}
	v := le(c.b[c.pos : c.pos+n])
	c.pos += n
	return v
}

func (c *cursor) bytes(n int) []byte {
	if !c.need(n) {
		return nil
	}
	b := c.b[c.pos : c.pos+n]
	c.pos += n
	return b
}

func (c *cursor) skip(n int) { c.bytes(n) }

// message is one object header message.
type message struct {
	typ   uint16
	flags byte
	data  []byte
}

// Message types used here.
const (
	msgNil          = 0x00
	msgAttribute    = 0x0c
	msgContinuation = 0x10
	msgAttrInfo     = 0x15
)

// rootAttributes reads every attribute of the root group.
func (f *h5File) rootAttributes() ([]h5Attr, error) {
	msgs, err := f.objectHeader(f.root)
	var attrs []h5Attr
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	for _, m := range msgs {
		switch m.typ {
		case msgAttribute:
			if m.flags&0x02 != 0 {
				errs = append(errs, errors.New("HDF5 shared attribute message: not supported, not read"))
				continue
			}
			attrs = append(attrs, f.attribute(m.data))
		case msgAttrInfo:
			dense, err := f.denseAttributes(m.data)
			attrs = append(attrs, dense...)
			if err != nil {
				errs = append(errs, err)
			}
		}
		if len(attrs) > maxAttrs {
			errs = append(errs, fmt.Errorf("more than %d attributes", maxAttrs))
			break
		}
	}
	return attrs, errors.Join(errs...)
}

// objectHeader returns the messages of the object header at addr, with its
// continuation chunks (each visited once).
func (f *h5File) objectHeader(addr uint64) ([]message, error) {
	prefix, err := f.upTo(addr, 16)
	if err != nil {
		return nil, err
	}
	if len(prefix) >= 4 && string(prefix[:4]) == "OHDR" {
		return f.objectHeaderV2(addr)
	}
	if len(prefix) < 16 || prefix[0] != 1 {
		return nil, fmt.Errorf("HDF5 object header at %#x: unknown version", addr)
	}
	size := le(prefix[8:12])
	type chunk struct{ addr, size uint64 }
	queue := []chunk{{addr + 16, size}}
	seen := map[uint64]bool{}
	var msgs []message
	for len(queue) > 0 {
		ch := queue[0]
		queue = queue[1:]
		if seen[ch.addr] {
			continue // a continuation loop
		}
		seen[ch.addr] = true
		if len(seen) > maxHeaderChunks {
			return msgs, fmt.Errorf("HDF5 object header with more than %d chunks", maxHeaderChunks)
		}
		if ch.size > maxChunk {
			return msgs, fmt.Errorf("HDF5 object header chunk of %d bytes is over the cap", ch.size)
		}
		b, err := f.at(ch.addr, int64(ch.size))
		if err != nil {
			return msgs, err
		}
		c := &cursor{b: b}
		for len(b)-c.pos >= 8 {
			typ, n, flags := uint16(c.u(2)), int(c.u(2)), byte(c.u(1))
			c.skip(3)
			data := c.bytes(n)
			if c.err != nil {
				return msgs, fmt.Errorf("HDF5 object header message at %#x: %w", ch.addr+uint64(c.pos), c.err)
			}
			if typ == msgContinuation {
				cc := &cursor{b: data}
				next := chunk{cc.u(f.offSize), cc.u(f.lenSize)}
				if cc.err == nil {
					queue = append(queue, next)
				}
				continue
			}
			if typ != msgNil {
				msgs = append(msgs, message{typ, flags, data})
			}
		}
	}
	return msgs, nil
}

func (f *h5File) objectHeaderV2(addr uint64) ([]message, error) {
	pre, err := f.upTo(addr, 6+16+4+8)
	if err != nil {
		return nil, err
	}
	c := &cursor{b: pre}
	c.skip(4)
	if v := c.u(1); v != 2 {
		return nil, fmt.Errorf("HDF5 object header at %#x: version %d", addr, v)
	}
	flags := byte(c.u(1))
	if flags&0x20 != 0 {
		c.skip(16) // access, modification, change and birth times
	}
	if flags&0x10 != 0 {
		c.skip(4) // attribute storage phase change values
	}
	size := c.u(1 << (flags & 3))
	if c.err != nil {
		return nil, c.err
	}
	order := flags&0x04 != 0 // messages carry a creation order
	type chunk struct {
		addr, size uint64
		first      bool
	}
	queue := []chunk{{addr + uint64(c.pos), size, true}}
	seen := map[uint64]bool{}
	var msgs []message
	for len(queue) > 0 {
		ch := queue[0]
		queue = queue[1:]
		if seen[ch.addr] {
			continue
		}
		seen[ch.addr] = true
		if len(seen) > maxHeaderChunks {
			return msgs, fmt.Errorf("HDF5 object header with more than %d chunks", maxHeaderChunks)
		}
		if ch.size > maxChunk {
			return msgs, fmt.Errorf("HDF5 object header chunk of %d bytes is over the cap", ch.size)
		}
		b, err := f.at(ch.addr, int64(ch.size))
		if err != nil {
			return msgs, err
		}
		if !ch.first {
			// A continuation chunk: "OCHK", messages, checksum.
			if len(b) < 8 || string(b[:4]) != "OCHK" {
				return msgs, fmt.Errorf("HDF5 continuation chunk at %#x has no OCHK signature", ch.addr)
			}
			b = b[4 : len(b)-4]
		}
		hdr := 4
		if order {
			hdr = 6
		}
		c := &cursor{b: b}
		for len(b)-c.pos >= hdr {
			typ, n, mflags := uint16(c.u(1)), int(c.u(2)), byte(c.u(1))
			if order {
				c.skip(2)
			}
			data := c.bytes(n)
			if c.err != nil {
				return msgs, fmt.Errorf("HDF5 object header message at %#x: %w", ch.addr+uint64(c.pos), c.err)
			}
			if typ == msgContinuation {
				cc := &cursor{b: data}
				next := chunk{addr: cc.u(f.offSize), size: cc.u(f.lenSize)}
				if cc.err == nil {
					queue = append(queue, next)
				}
				continue
			}
			if typ != msgNil {
				msgs = append(msgs, message{typ, mflags, data})
			}
		}
	}
	return msgs, nil
}

// attribute parses an attribute message (versions 1-3) and reads its
// value when it is a string.
func (f *h5File) attribute(data []byte) h5Attr {
	c := &cursor{b: data}
	version := c.u(1)
	flags := c.u(1)
	nameSize, dtSize, dsSize := int(c.u(2)), int(c.u(2)), int(c.u(2))
	if version == 3 {
		c.skip(1) // name character set
	}
	pad := func(n int) int {
		if version == 1 {
			return (n + 7) &^ 7
		}
		return n
	}
	if c.err != nil || version < 1 || version > 3 {
		return h5Attr{Err: fmt.Errorf("HDF5 attribute message version %d", version)}
	}
	name := c.bytes(pad(nameSize))
	if len(name) > nameSize {
		name = name[:nameSize]
	}
	a := h5Attr{Name: string(bytes.TrimRight(name, "\x00"))}
	dt := c.bytes(pad(dtSize))
	ds := c.bytes(pad(dsSize))
	if c.err != nil {
		a.Err = fmt.Errorf("attribute %q: %w", a.Name, c.err)
		return a
	}
	if flags&0x03 != 0 {
		a.Err = fmt.Errorf("attribute %q: shared datatype or dataspace, not supported", a.Name)
		return a
	}
	count, err := dataspaceCount(ds, f.lenSize)
	if err != nil {
		a.Err = fmt.Errorf("attribute %q: %w", a.Name, err)
		return a
	}
	a.Count = count
	value := data[c.pos:]
	if len(dt) < 8 {
		a.Err = fmt.Errorf("attribute %q: datatype truncated", a.Name)
		return a
	}
	class, b1 := dt[0]&0x0f, dt[1]
	elem := le(dt[4:8])
	switch {
	case class == 3: // fixed-length string
		a.Type = "string"
		if count == 0 {
			return a
		}
		if elem > uint64(len(value)) {
			a.Err = fmt.Errorf("attribute %q: string of %d bytes in %d bytes of data", a.Name, elem, len(value))
			return a
		}
		v := value[:elem]
		switch b1 & 0x0f {
		case 0: // null-terminated
			if i := bytes.IndexByte(v, 0); i >= 0 {
				v = v[:i]
			}
		case 1:
			v = bytes.TrimRight(v, "\x00")
		case 2:
			v = bytes.TrimRight(v, " ")
		}
		a.Value = v
	case class == 9 && b1&0x0f == 1: // variable-length string
		a.Type = "vlen string"
		if count == 0 {
			return a
		}
		vc := &cursor{b: value}
		n, coll, idx := vc.u(4), vc.u(f.offSize), uint32(vc.u(4))
		if vc.err != nil {
			a.Err = fmt.Errorf("attribute %q: %w", a.Name, vc.err)
			return a
		}
		if n == 0 {
			a.Value = []byte{}
			return a
		}
		v, err := f.globalHeapObject(coll, idx)
		if err != nil {
			a.Err = fmt.Errorf("attribute %q: %w", a.Name, err)
			return a
		}
		if uint64(len(v)) > n {
			v = v[:n]
		}
		a.Value = v
	default:
		a.Type = datatypeClasses[class]
	}
	return a
}

var datatypeClasses = map[byte]string{0: "integer", 1: "float", 2: "time", 3: "string", 4: "bitfield",
	5: "opaque", 6: "compound", 7: "reference", 8: "enum", 9: "variable-length", 10: "array",
	11: "complex"}

// dataspaceCount returns how many elements a dataspace message describes.
func dataspaceCount(ds []byte, lenSize int) (uint64, error) {
	c := &cursor{b: ds}
	version, rank := c.u(1), int(c.u(1))
	c.skip(1) // flags: maximum dimensions follow the dimensions, not needed
	kind := uint64(1)
	switch version {
	case 1:
		c.skip(5)
		if rank == 0 {
			kind = 0
		}
	case 2:
		kind = c.u(1) // 0 scalar, 1 simple, 2 null
	default:
		return 0, fmt.Errorf("dataspace version %d", version)
	}
	if c.err != nil {
		return 0, c.err
	}
	switch kind {
	case 0:
		return 1, nil
	case 2:
		return 0, nil
	}
	count := uint64(1)
	for range rank {
		d := c.u(lenSize)
		if c.err != nil {
			return 0, c.err
		}
		hi, lo := bits.Mul64(count, d)
		if hi != 0 {
			return 0, errors.New("dataspace size overflows")
		}
		count = lo
	}
	return count, nil
}

// globalHeapObject reads object idx of the global heap collection at addr.
func (f *h5File) globalHeapObject(addr uint64, idx uint32) ([]byte, error) {
	l := f.lenSize
	hdr, err := f.at(addr, int64(8+l))
	if err != nil {
		return nil, err
	}
	if string(hdr[:4]) != "GCOL" {
		return nil, fmt.Errorf("no global heap collection at %#x", addr)
	}
	size := le(hdr[8 : 8+l])
	if !f.inFile(addr, int64(min(size, uint64(f.size)+1))) {
		return nil, fmt.Errorf("global heap collection at %#x runs past the end of the file", addr)
	}
	pos := uint64(8 + l)
	for range maxHeapScan {
		if pos+uint64(8+l) > size {
			break
		}
		oh, err := f.at(addr+pos, int64(8+l))
		if err != nil {
			return nil, err
		}
		id, n := uint32(le(oh[0:2])), le(oh[8:8+l])
		if id == 0 {
			break // free space: the rest of the collection
		}
		start := pos + uint64(8+l)
		if n > size-start {
			return nil, fmt.Errorf("global heap object %d runs past its collection", id)
		}
		if id == idx {
			if n > MaxConfig {
				return nil, fmt.Errorf("global heap object of %d bytes is over the %d-byte cap", n, MaxConfig)
			}
			return f.at(addr+start, int64(n))
		}
		pos = start + (n+7)&^7
	}
	return nil, fmt.Errorf("global heap object %d not found in the collection at %#x", idx, addr)
}
