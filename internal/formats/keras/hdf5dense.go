package keras

import (
	"errors"
	"fmt"
	"math/bits"
)

// Dense attribute storage (HDF5 1.8+, libver "latest" with many or large
// attributes): the attribute messages live in a fractal heap, indexed by
// name in a version 2 B-tree. A file could hide its model_config there
// from a reader that only knows compact attributes, so it is read too.

// denseAttributes reads the attributes an Attribute Info message points to.
func (f *h5File) denseAttributes(info []byte) ([]h5Attr, error) {
	c := &cursor{b: info}
	if v := c.u(1); v != 0 {
		return nil, fmt.Errorf("HDF5 attribute info message version %d", v)
	}
	flags := c.u(1)
	if flags&0x01 != 0 {
		c.skip(2) // maximum creation index
	}
	heapAddr, nameIndex := c.u(f.offSize), c.u(f.offSize)
	if c.err != nil {
		return nil, fmt.Errorf("HDF5 attribute info message: %w", c.err)
	}
	if heapAddr == undefinedAddress || nameIndex == undefinedAddress {
		return nil, nil // no attribute in dense storage
	}
	heap, err := f.fractalHeap(heapAddr)
	if err != nil {
		return nil, fmt.Errorf("HDF5 dense attribute storage: %w", err)
	}
	var attrs []h5Attr
	var errs []error
	err = f.btree2(nameIndex, 8, func(rec []byte) bool {
		// Record type 8: heap ID, message flags, creation order, name hash.
		if len(rec) < heap.idLen+1 {
			errs = append(errs, errors.New("HDF5 attribute name index record too short"))
			return false
		}
		if rec[heap.idLen]&0x02 != 0 {
			errs = append(errs, errors.New("HDF5 shared attribute in dense storage: not supported, not read"))
			return len(attrs) < maxAttrs
		}
		msg, err := heap.object(rec[:heap.idLen])
		if err != nil {
			errs = append(errs, fmt.Errorf("HDF5 dense attribute: %w", err))
			return len(errs) < 16
		}
		f.Dense++
		attrs = append(attrs, f.attribute(msg))
		return len(attrs) < maxAttrs
	})
	if err != nil {
		errs = append(errs, fmt.Errorf("HDF5 attribute name index: %w", err))
	}
	return attrs, errors.Join(errs...)
}

// fractalHeap is the part of a fractal heap header needed to find objects.
type fractalHeap struct {
	f            *h5File
	addr         uint64
	idLen        int
	filtered     bool
	checksummed  bool // direct blocks carry a checksum
	maxManaged   uint64
	hugeBTree    uint64
	width        uint64
	startBlock   uint64
	maxDirect    uint64
	maxHeapBits  int
	rootAddr     uint64
	rootRows     uint64
	offSize      int // bytes of a heap offset in IDs and block headers
	lenSize      int // bytes of a managed object length in IDs
	maxDirectRow uint64
}

func (f *h5File) fractalHeap(addr uint64) (*fractalHeap, error) {
	b, err := f.upTo(addr, 256)
	if err != nil {
		return nil, err
	}
	c := &cursor{b: b}
	if string(c.bytes(4)) != "FRHP" {
		return nil, fmt.Errorf("no fractal heap at %#x", addr)
	}
	if v := c.u(1); v != 0 {
		return nil, fmt.Errorf("fractal heap version %d", v)
	}
	h := &fractalHeap{f: f, addr: addr}
	h.idLen = int(c.u(2))
	filterLen := c.u(2)
	flags := c.u(1)
	h.maxManaged = c.u(4)
	c.skip(f.lenSize) // next huge object ID
	h.hugeBTree = c.u(f.offSize)
	c.skip(f.lenSize + f.offSize + 8*f.lenSize) // free space, its manager, and the space/object counters
	h.width = c.u(2)
	h.startBlock = c.u(f.lenSize)
	h.maxDirect = c.u(f.lenSize)
	h.maxHeapBits = int(c.u(2))
	c.skip(2) // starting rows in the root indirect block
	h.rootAddr = c.u(f.offSize)
	h.rootRows = c.u(2)
	if c.err != nil {
		return nil, c.err
	}
	h.filtered = filterLen > 0
	h.checksummed = flags&0x02 != 0
	pow2 := func(v uint64) bool { return v != 0 && v&(v-1) == 0 }
	if h.idLen < 2 || h.idLen > 64 || h.width == 0 || h.width > 1<<16 || !pow2(h.width) || !pow2(h.startBlock) || !pow2(h.maxDirect) ||
		h.maxDirect < h.startBlock || h.maxHeapBits == 0 || h.maxHeapBits > 64 {
		return nil, errors.New("fractal heap header out of range")
	}
	h.offSize = (h.maxHeapBits + 7) / 8
	h.lenSize = min((bits.Len64(h.maxDirect)-1+7)/8, limitEncSize(h.maxManaged))
	h.maxDirectRow = uint64(bits.Len64(h.maxDirect)-bits.Len64(h.startBlock)) + 2
	return h, nil
}

// limitEncSize is HDF5's H5VM_limit_enc_size: bytes to encode values up to l.
func limitEncSize(l uint64) int {
	if l == 0 {
		return 1
	}
	return (bits.Len64(l)-1)/8 + 1
}

// object returns the heap object a heap ID names.
func (h *fractalHeap) object(id []byte) ([]byte, error) {
	if len(id) == 0 || id[0]>>6 != 0 {
		return nil, errors.New("unknown heap ID version")
	}
	switch (id[0] >> 4) & 0x03 {
	case 0: // managed
		c := &cursor{b: id[1:]}
		off, n := c.u(h.offSize), c.u(h.lenSize)
		if c.err != nil {
			return nil, c.err
		}
		if n > h.maxManaged || n > MaxConfig {
			return nil, fmt.Errorf("managed heap object of %d bytes", n)
		}
		if h.filtered {
			return nil, errors.New("filtered (compressed) fractal heap: not supported")
		}
		addr, err := h.locate(off, n)
		if err != nil {
			return nil, err
		}
		return h.f.at(addr, int64(n))
	case 1: // huge
		h.f.Huge++
		return h.huge(id[1:])
	case 2: // tiny: the object is in the ID
		if h.idLen <= 18 {
			n := int(id[0]&0x0f) + 1
			if 1+n > len(id) {
				return nil, errors.New("tiny heap object longer than its ID")
			}
			return id[1 : 1+n], nil
		}
		if len(id) < 2 {
			return nil, errors.New("tiny heap ID truncated")
		}
		n := (int(id[0]&0x0f)<<8 | int(id[1])) + 1
		if 2+n > len(id) {
			return nil, errors.New("tiny heap object longer than its ID")
		}
		return id[2 : 2+n], nil
	}
	return nil, errors.New("unknown heap ID type")
}

// rowBlockSize is the size of the blocks in row r of a doubling table.
func (h *fractalHeap) rowBlockSize(r uint64) (uint64, bool) {
	if r == 0 {
		return h.startBlock, true
	}
	if r-1 >= 63 {
		return 0, false
	}
	hi, lo := bits.Mul64(h.startBlock, 1<<(r-1))
	return lo, hi == 0
}

// locate finds the file address of n bytes at heap offset off.
func (h *fractalHeap) locate(off, n uint64) (uint64, error) {
	if h.rootAddr == undefinedAddress {
		return 0, errors.New("empty fractal heap")
	}
	if h.rootRows == 0 {
		// The root is a single direct block of the starting size.
		if off+n < off || off+n > h.startBlock {
			return 0, errors.New("heap offset outside the root direct block")
		}
		return h.rootAddr + off, nil
	}
	return h.inIndirect(h.rootAddr, h.rootRows, 0, off, n, 0)
}

// inIndirect finds off in the indirect block at addr, which has nrows rows
// and starts at heap offset blockOff.
func (h *fractalHeap) inIndirect(addr, nrows, blockOff, off, n uint64, depth int) (uint64, error) {
	if depth > maxIndirect || nrows > 64 {
		return 0, errors.New("fractal heap indirect blocks nested too deeply")
	}
	o := h.f.offSize
	entry := uint64(o)
	if h.filtered {
		entry += uint64(h.f.lenSize) + 4
	}
	// "FHIB", version, heap header address, block offset, then entries.
	prefix := uint64(4+1+o) + uint64(h.offSize)
	rowStart := blockOff
	for r := range nrows {
		size, ok := h.rowBlockSize(r)
		if !ok {
			break
		}
		hi, span := bits.Mul64(size, h.width)
		if hi != 0 || rowStart+span < rowStart {
			break
		}
		if off < rowStart+span {
			col := (off - rowStart) / size
			start := rowStart + col*size
			idx := r*h.width + col
			var at uint64
			if r < h.maxDirectRow {
				at = prefix + idx*entry
			} else {
				direct := min(nrows, h.maxDirectRow) * h.width
				at = prefix + direct*entry + (idx-direct)*uint64(o)
			}
			b, err := h.f.at(addr+at, int64(o))
			if err != nil {
				return 0, err
			}
			child := le(b)
			if child == undefinedAddress || child == 0 {
				return 0, errors.New("heap object in an unallocated block")
			}
			if r < h.maxDirectRow {
				if off-start+n > size {
					return 0, errors.New("heap object runs past its direct block")
				}
				return child + (off - start), nil
			}
			// A child indirect block covering size bytes.
			childRows := uint64(bits.Len64(size)-bits.Len64(h.startBlock*h.width)) + 1
			return h.inIndirect(child, childRows, start, off, n, depth+1)
		}
		rowStart += span
	}
	return 0, errors.New("heap offset outside the heap")
}

// huge reads a huge object: its address and length are in the ID (direct)
// or in the heap's huge-object B-tree under the ID (indirect).
func (h *fractalHeap) huge(id []byte) ([]byte, error) {
	if h.filtered {
		return nil, errors.New("filtered huge heap object: not supported")
	}
	o, l := h.f.offSize, h.f.lenSize
	if len(id) >= o+l {
		c := &cursor{b: id}
		addr, n := c.u(o), c.u(l)
		if n > MaxConfig {
			return nil, fmt.Errorf("huge heap object of %d bytes is over the cap", n)
		}
		return h.f.at(addr, int64(n))
	}
	key := le(id)
	var addr, n uint64
	found := false
	err := h.f.btree2(h.hugeBTree, 1, func(rec []byte) bool {
		// Record type 1: address, length, ID.
		c := &cursor{b: rec}
		a, ln, k := c.u(o), c.u(l), c.u(l)
		if c.err == nil && k == key {
			addr, n, found = a, ln, true
			return false
		}
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("huge object index: %w", err)
	}
	if !found {
		return nil, fmt.Errorf("huge heap object %d not in its index", key)
	}
	if n > MaxConfig {
		return nil, fmt.Errorf("huge heap object of %d bytes is over the cap", n)
	}
	return h.f.at(addr, int64(n))
}

// btree2 visits every record of the version 2 B-tree at addr (of record
// type want) until visit returns false.
func (f *h5File) btree2(addr uint64, want byte, visit func([]byte) bool) error {
	b, err := f.at(addr, int64(4+1+1+4+2+2+1+1+f.offSize+2+f.lenSize))
	if err != nil {
		return err
	}
	c := &cursor{b: b}
	if string(c.bytes(4)) != "BTHD" {
		return fmt.Errorf("no B-tree header at %#x", addr)
	}
	if v := c.u(1); v != 0 {
		return fmt.Errorf("HDF5 B-tree version %d", v)
	}
	if t := byte(c.u(1)); t != want {
		return fmt.Errorf("HDF5 B-tree of record type %d, expected %d", t, want)
	}
	t := &btree2{f: f, want: want, visit: visit, seen: map[uint64]bool{}}
	t.nodeSize, t.recSize, t.depth = c.u(4), c.u(2), int(c.u(2))
	c.skip(2)
	root, nrec := c.u(f.offSize), c.u(2)
	if t.nodeSize < 16 || t.nodeSize > maxChunk || t.recSize == 0 || t.depth > maxBTreeDepth {
		return errors.New("HDF5 B-tree header out of range")
	}
	if root == undefinedAddress || nrec == 0 {
		return nil
	}
	t.nodeInfo()
	_, err = t.node(root, nrec, t.depth)
	return err
}

type btree2 struct {
	f                 *h5File
	want              byte
	visit             func([]byte) bool
	nodeSize, recSize uint64
	depth             int
	maxNrecSize       int   // bytes of a child's record count
	cumMaxNrecSize    []int // bytes of a child's total record count, by depth
	nodes             int
	seen              map[uint64]bool // a tree shares no node: a second visit is a loop
}

// nodeInfo computes the sizes of child pointer fields as the HDF5 library
// does (H5B2__hdr_init).
func (t *btree2) nodeInfo() {
	const prefix = 4 + 1 + 1 + 4 // signature, version, type, checksum
	maxNrec := make([]uint64, t.depth+1)
	cum := make([]uint64, t.depth+1)
	t.cumMaxNrecSize = make([]int, t.depth+1)
	maxNrec[0] = (t.nodeSize - prefix) / t.recSize
	cum[0] = maxNrec[0]
	t.maxNrecSize = limitEncSize(maxNrec[0])
	for d := 1; d <= t.depth; d++ {
		ptr := uint64(t.f.offSize + t.maxNrecSize)
		if d > 1 {
			ptr += uint64(t.cumMaxNrecSize[d-1])
		}
		if t.nodeSize > prefix+ptr {
			maxNrec[d] = (t.nodeSize - (prefix + ptr)) / (t.recSize + ptr)
		}
		hi, lo := bits.Mul64(maxNrec[d]+1, cum[d-1])
		if hi != 0 || lo+maxNrec[d] < lo {
			cum[d] = ^uint64(0)
		} else {
			cum[d] = lo + maxNrec[d]
		}
		t.cumMaxNrecSize[d] = limitEncSize(cum[d])
	}
}

// node visits the records of a node and its children; false means stop.
func (t *btree2) node(addr, nrec uint64, depth int) (bool, error) {
	t.nodes++
	if t.nodes > maxBTreeNodes {
		return false, errors.New("HDF5 B-tree with too many nodes")
	}
	if t.seen[addr] {
		return false, fmt.Errorf("HDF5 B-tree node at %#x reached twice", addr)
	}
	t.seen[addr] = true
	if nrec > t.nodeSize/t.recSize {
		return false, errors.New("HDF5 B-tree node with more records than fit")
	}
	b, err := t.f.at(addr, int64(t.nodeSize))
	if err != nil {
		return false, err
	}
	sig := "BTLF"
	if depth > 0 {
		sig = "BTIN"
	}
	c := &cursor{b: b}
	if string(c.bytes(4)) != sig {
		return false, fmt.Errorf("no %s node at %#x", sig, addr)
	}
	c.skip(1)
	if byte(c.u(1)) != t.want {
		return false, errors.New("HDF5 B-tree node of another record type")
	}
	records := c.bytes(int(nrec * t.recSize))
	type child struct{ addr, nrec uint64 }
	var children []child
	if depth > 0 {
		for range nrec + 1 {
			ch := child{c.u(t.f.offSize), c.u(t.maxNrecSize)}
			if depth > 1 {
				c.skip(t.cumMaxNrecSize[depth-1])
			}
			children = append(children, ch)
		}
	}
	if c.err != nil {
		return false, c.err
	}
	// In-order: child 0, record 0, child 1, record 1, ...; the order does
	// not matter here, only that every record is seen.
	for i := range nrec {
		if !t.visit(records[i*t.recSize : (i+1)*t.recSize]) {
			return false, nil
		}
	}
	for _, ch := range children {
		if ch.nrec == 0 {
			continue
		}
		more, err := t.node(ch.addr, ch.nrec, depth-1)
		if err != nil || !more {
			return more, err
		}
	}
	return true, nil
}
