package gguf

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"math/bits"
	"strings"
)

// Magic is the first four bytes of every GGUF file.
const Magic = "GGUF"

// Bounds on what a header may declare. Every count and length read from a
// file is checked against these (and against the bytes left in the file)
// before it is used; none is used to allocate.
const (
	// MaxKV caps the metadata entries; real models have a few dozen.
	MaxKV = 1 << 20
	// MaxTensors caps the tensor infos; the largest models have a few
	// thousand tensors.
	MaxTensors = 1 << 20
	// MaxArrayLen caps one metadata array; vocabularies have up to a few
	// hundred thousand entries.
	MaxArrayLen = 1 << 24
	// MaxArrayDepth caps arrays nested in arrays (llama.cpp accepts none).
	MaxArrayDepth = 8
	// MaxString caps one string; chat templates are kilobytes.
	MaxString = 64 << 20
	// MaxTemplate is how much of each chat template is kept and checked.
	MaxTemplate = 1 << 20
	// MaxTemplates and MaxTemplateBytes cap the chat templates kept from
	// one file (real files have one to three): memory and parse time.
	MaxTemplates     = 64
	MaxTemplateBytes = 4 << 20
	// MaxElements caps the array elements that are walked one by one
	// (strings and nested arrays) over the whole header, so that a header
	// of millions of tiny strings ends in a finding, not in minutes of reads.
	MaxElements = 1 << 26
	// MaxDims is the most tensor dimensions parsed; llama.cpp accepts 4.
	MaxDims = 8
	// ggmlMaxDims is GGML_MAX_DIMS: more dimensions than this and llama.cpp
	// refuses the file.
	ggmlMaxDims = 4
	// ggmlMaxName is GGML_MAX_NAME: llama.cpp refuses longer tensor names.
	ggmlMaxName = 63
	// defaultAlignment is GGUF_DEFAULT_ALIGNMENT.
	defaultAlignment = 32
	// keepKey is how much of a metadata key is kept for matching and messages.
	keepKey = 1024
	// keepShort is how much of a plain string value (the architecture) is kept.
	keepShort = 256
	// window is the read-ahead of the buffered reader.
	window = 256 << 10
)

// elementBudget is MaxElements; tests lower it.
var elementBudget int64 = MaxElements

// GGUF metadata value types (gguf.md, "gguf_metadata_value_type").
const (
	typeUint8 uint32 = iota
	typeInt8
	typeUint16
	typeInt16
	typeUint32
	typeInt32
	typeFloat32
	typeBool
	typeString
	typeArray
	typeUint64
	typeInt64
	typeFloat64
	typeCount
)

var typeNames = [...]string{"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "bool", "string", "array", "uint64", "int64", "float64"}

// fixedSize is the encoded size of each scalar type; 0 for string and array.
var fixedSize = [...]int64{1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8}

// Header is what the analyser learns from a GGUF header. Only the values
// that matter are kept: chat templates, the architecture and the alignment.
type Header struct {
	Version      uint32
	BigEndian    bool
	TensorCount  uint64
	KVCount      uint64
	Architecture string
	Alignment    uint64
	// Templates are the string values of tokenizer.chat_template and
	// tokenizer.chat_template.NAME, in file order (duplicates included).
	Templates []Template
	// SkippedTemplates counts chat templates not kept (over MaxTemplates
	// or MaxTemplateBytes).
	SkippedTemplates int
	// HeaderSize is where the tensor infos end (0 if the parse stopped
	// before); DataOffset is where tensor data starts (aligned).
	HeaderSize int64
	DataOffset int64
	// Problems are anomalies that did not stop the parse.
	Problems []Problem
}

// Template is one chat template found in the metadata.
type Template struct {
	Key    string
	Offset int64 // file offset of the first byte of the text
	Size   int64 // the full length declared in the file
	Text   string
	// Truncated is set when Text is only a prefix: Size is over
	// MaxTemplate (or what is left of MaxTemplateBytes), or the string runs
	// past the end of the file (PastEnd).
	Truncated, PastEnd bool
}

// Problem is a header anomaly a loader might accept, reject, or read
// differently from us; each becomes a GGUF-HEADER finding.
type Problem struct {
	Offset  int64
	Message string
	// Count is how many times this kind of problem occurred; Offset and
	// Message describe the first.
	Count int
}

// HeaderError is a header that could not be parsed past Offset.
type HeaderError struct {
	Offset int64
	Msg    string
	// Limit marks a scan budget (MaxElements, cancellation) rather than a
	// malformed file.
	Limit bool
}

func (e *HeaderError) Error() string {
	return fmt.Sprintf("GGUF header at offset %d: %s", e.Offset, e.Msg)
}

// IsTemplateKey reports whether a metadata key holds a chat template:
// llama.cpp reads tokenizer.chat_template and, for named templates (tool
// use, RAG), tokenizer.chat_template.NAME. tokenizer.chat_templates (plural)
// lists the names and is not a template.
func IsTemplateKey(key string) bool {
	return key == "tokenizer.chat_template" || strings.HasPrefix(key, "tokenizer.chat_template.")
}

// ReadHeader parses the GGUF header of the size bytes in r: metadata and
// tensor infos, never tensor data. On error the returned Header holds
// everything read before it (templates included) and the error is a
// *HeaderError.
func ReadHeader(ctx context.Context, r io.ReaderAt, size int64) (*Header, error) {
	p := &headerParser{ctx: ctx, r: reader{ra: r, size: size}, h: &Header{Alignment: defaultAlignment}, seed: maphash.MakeSeed()}
	err := p.parse()
	p.flushProblems()
	return p.h, err
}

type headerParser struct {
	ctx      context.Context
	r        reader
	h        *Header
	elements int64 // array elements walked one by one, against MaxElements
	// templateBytes is the text kept from chat templates so far.
	templateBytes int
	seed          maphash.Seed
	problems      map[string]int // kind → index in h.Problems
}

func (p *headerParser) parse() error {
	head, err := p.r.bytes(8)
	if err != nil {
		return p.fail("file too short for a GGUF header")
	}
	if string(head[:4]) != Magic {
		return p.failAt(0, "no GGUF magic")
	}
	le, be := binary.LittleEndian.Uint32(head[4:]), binary.BigEndian.Uint32(head[4:])
	switch {
	case le >= 1 && le <= 3:
		p.r.order, p.h.Version = binary.LittleEndian, le
	case be >= 1 && be <= 3:
		// gguf-py and big-endian builds of llama.cpp read byte-swapped files.
		p.r.order, p.h.Version, p.h.BigEndian = binary.BigEndian, be, true
	default:
		return p.failAt(4, fmt.Sprintf("unsupported GGUF version %d", le))
	}
	p.r.wide = p.h.Version >= 2
	if p.h.TensorCount, err = p.count(); err != nil {
		return err
	}
	if p.h.KVCount, err = p.count(); err != nil {
		return err
	}
	if p.h.KVCount > MaxKV {
		return p.failAt(p.r.off-p.r.countSize(), fmt.Sprintf("metadata count %d exceeds the cap of %d", p.h.KVCount, MaxKV))
	}
	if p.h.TensorCount > MaxTensors {
		return p.failAt(8, fmt.Sprintf("tensor count %d exceeds the cap of %d", p.h.TensorCount, MaxTensors))
	}
	// Each entry needs at least a key length, a type and one byte of value:
	// a count the file cannot hold is refused before any loop.
	if minKV := p.h.KVCount * uint64(p.r.countSize()+5); minKV > uint64(p.r.left()) {
		return p.fail(fmt.Sprintf("%d metadata entries cannot fit in the %d bytes left", p.h.KVCount, p.r.left()))
	}
	if err := p.metadata(); err != nil {
		return err
	}
	return p.tensorInfos()
}

// metadata reads every key/value pair, keeping chat templates, the
// architecture and the alignment, and skipping the rest.
func (p *headerParser) metadata() error {
	keys := make(map[uint64]struct{})
	for i := uint64(0); i < p.h.KVCount; i++ {
		if err := p.tick(i); err != nil {
			return err
		}
		keyOff := p.r.off
		key, keyLen, _, err := p.r.str(keepKey)
		if err != nil {
			return p.wrap(err, "metadata key %d", i)
		}
		if nul := strings.IndexByte(key, 0); nul >= 0 {
			// llama.cpp compares whole keys when it checks for duplicates,
			// but its key/value map and gguf_find_key use C strings:
			// "tokenizer.chat_template\0x" is the chat template to it (the
			// first such key wins), and something else to exact readers.
			p.problem("nul-key", keyOff, "metadata key %q contains a NUL byte: llama.cpp looks it up as %q", key, key[:nul])
			key = key[:nul]
		}
		if keyLen > keepKey {
			p.problem("long-key", keyOff, "metadata key %d is %d bytes long (%.40q…)", i, keyLen, key)
		} else {
			h := maphash.String(p.seed, key)
			if _, dup := keys[h]; dup {
				// llama.cpp refuses exact duplicates and takes the first of
				// keys equal up to a NUL; other readers keep the first or the
				// last value. Every value is checked.
				p.problem("dup-key", keyOff, "metadata key %q appears more than once: loaders disagree on which value wins", key)
			}
			keys[h] = struct{}{}
		}
		typOff := p.r.off
		typ, err := p.r.u32()
		if err != nil {
			return p.wrap(err, "type of metadata key %q", key)
		}
		if typ >= typeCount {
			return p.failAt(typOff, fmt.Sprintf("metadata key %q has invalid value type %d", key, typ))
		}
		if err := p.value(key, typ); err != nil {
			return err
		}
	}
	return nil
}

// value reads the value of key, of type typ.
func (p *headerParser) value(key string, typ uint32) error {
	switch {
	case typ == typeString && IsTemplateKey(key):
		keep := min(MaxTemplate, MaxTemplateBytes-p.templateBytes)
		if len(p.h.Templates) >= MaxTemplates || keep <= 0 {
			p.h.SkippedTemplates++
			_, _, _, err := p.r.str(0)
			return p.wrap(err, "value of %q", key)
		}
		text, n, start, err := p.r.str(keep)
		p.templateBytes += len(text)
		if nul := strings.IndexByte(text, 0); nul >= 0 {
			p.problem("nul-template", start+int64(nul), "%s contains a NUL byte: llama.cpp-based servers see only the text before it, gguf-py-based loaders (transformers) all of it", key)
		}
		if err == nil || text != "" {
			p.h.Templates = append(p.h.Templates, Template{Key: key, Offset: start, Size: int64(n), Text: text,
				Truncated: n > uint64(keep) || err != nil, PastEnd: err != nil})
		}
		return p.wrap(err, "value of %q", key)
	case IsTemplateKey(key):
		p.problem("template-type", p.r.off, "metadata key %q holds a value of type %s, not a string: llama.cpp skips arrays and uses the text of numbers", key, typeNames[typ])
	case key == "general.architecture" && typ == typeString:
		s, _, _, err := p.r.str(keepShort)
		if err != nil {
			return p.wrap(err, "value of %q", key)
		}
		p.h.Architecture = s
		return nil
	case key == "general.alignment":
		return p.alignment(typ)
	}
	return p.skip(key, typ, 0)
}

// alignment reads general.alignment, which llama.cpp requires to be a
// uint32 power of two.
func (p *headerParser) alignment(typ uint32) error {
	off := p.r.off
	if typ != typeUint32 {
		p.problem("alignment", off, "general.alignment is of type %s, not uint32: llama.cpp refuses the file", typeNames[typ])
		return p.skip("general.alignment", typ, 0)
	}
	v, err := p.r.u32()
	if err != nil {
		return p.wrap(err, "value of general.alignment")
	}
	if v == 0 || v&(v-1) != 0 {
		p.problem("alignment", off, "general.alignment %d is not a power of two: llama.cpp refuses the file", v)
		return nil
	}
	p.h.Alignment = uint64(v)
	return nil
}

// skip passes over a value of type typ without keeping it.
func (p *headerParser) skip(key string, typ uint32, depth int) error {
	if size := fixedSize[typ]; size > 0 {
		return p.wrap(p.r.skip(size), "value of %q", key)
	}
	if typ == typeString {
		_, _, _, err := p.r.str(0)
		return p.wrap(err, "value of %q", key)
	}
	return p.array(key, depth)
}

// array skips an array: fixed-size elements in one seek, strings and
// nested arrays one by one (their lengths must be read).
func (p *headerParser) array(key string, depth int) error {
	off := p.r.off
	if depth >= MaxArrayDepth {
		return p.failAt(off, fmt.Sprintf("arrays in %q nested deeper than %d", key, MaxArrayDepth))
	}
	elem, err := p.r.u32()
	if err != nil {
		return p.wrap(err, "array type of %q", key)
	}
	if elem >= typeCount {
		return p.failAt(off, fmt.Sprintf("array %q has invalid element type %d", key, elem))
	}
	if elem == typeArray {
		p.problem("nested-array", off, "array %q holds arrays: llama.cpp does not support nested arrays", key)
	}
	n, err := p.count()
	if err != nil {
		return p.wrap(err, "array length of %q", key)
	}
	if n > MaxArrayLen {
		return p.failAt(off+4, fmt.Sprintf("array %q has %d elements, over the cap of %d", key, n, MaxArrayLen))
	}
	if size := fixedSize[elem]; size > 0 {
		// n ≤ 2^24 and size ≤ 8: no overflow.
		return p.wrap(p.r.skip(int64(n)*size), "array %q of %d %s", key, n, typeNames[elem])
	}
	minSize := p.r.countSize() // a string's length, or a nested array's type and length
	if elem == typeArray {
		minSize += 4
	}
	if int64(n)*minSize > p.r.left() {
		return p.fail(fmt.Sprintf("array %q of %d %ss cannot fit in the %d bytes left", key, n, typeNames[elem], p.r.left()))
	}
	p.elements += int64(n)
	if p.elements > elementBudget {
		return &HeaderError{Offset: off, Msg: fmt.Sprintf("more than %d array elements to walk in the header", MaxElements), Limit: true}
	}
	for i := uint64(0); i < n; i++ {
		if err := p.tick(i); err != nil {
			return err
		}
		if err := p.skip(key, elem, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// tensorInfos reads the tensor infos and checks each against the file:
// data never read, but it must be where the header says.
func (p *headerParser) tensorInfos() error {
	minInfo := p.r.countSize() + 4 + 4 + 8
	if p.h.TensorCount*uint64(minInfo) > uint64(p.r.left()) {
		return p.fail(fmt.Sprintf("%d tensor infos cannot fit in the %d bytes left", p.h.TensorCount, p.r.left()))
	}
	type span struct{ off, size uint64 }
	tensors := make([]span, 0, min(p.h.TensorCount, 4096))
	names := make(map[uint64]struct{})
	for i := uint64(0); i < p.h.TensorCount; i++ {
		if err := p.tick(i); err != nil {
			return err
		}
		infoOff := p.r.off
		name, nameLen, _, err := p.r.str(ggmlMaxName + 1)
		if err != nil {
			return p.wrap(err, "name of tensor %d", i)
		}
		if nameLen > ggmlMaxName {
			p.problem("tensor-name", infoOff, "tensor %d has a name of %d bytes (%.40q…): llama.cpp refuses names over %d bytes", i, nameLen, name, ggmlMaxName)
		} else {
			h := maphash.String(p.seed, name)
			if _, dup := names[h]; dup {
				p.problem("dup-tensor", infoOff, "tensor name %q appears more than once: llama.cpp refuses the file", name)
			}
			names[h] = struct{}{}
		}
		nd, err := p.r.u32()
		if err != nil {
			return p.wrap(err, "dimensions of tensor %q", name)
		}
		if nd > MaxDims {
			return p.failAt(p.r.off-4, fmt.Sprintf("tensor %q has %d dimensions (cap %d)", name, nd, MaxDims))
		}
		if nd > ggmlMaxDims {
			p.problem("dims", p.r.off-4, "tensor %q has %d dimensions: llama.cpp refuses more than %d", name, nd, ggmlMaxDims)
		}
		elems, overflow := uint64(1), false
		for d := uint32(0); d < nd; d++ {
			v, err := p.count()
			if err != nil {
				return p.wrap(err, "dimension %d of tensor %q", d, name)
			}
			if int64(v) < 0 {
				p.problem("dim-value", p.r.off-p.r.countSize(), "tensor %q has a negative dimension: llama.cpp refuses the file", name)
				overflow = true
			}
			hi, lo := bits.Mul64(elems, v)
			overflow = overflow || hi != 0 || int64(lo) < 0
			elems = lo
		}
		typOff := p.r.off
		typ, err := p.r.u32()
		if err != nil {
			return p.wrap(err, "type of tensor %q", name)
		}
		off, err := p.r.u64()
		if err != nil {
			return p.wrap(err, "offset of tensor %q", name)
		}
		if overflow {
			p.problem("dim-value", typOff, "tensor %q: the number of elements overflows", name)
			continue
		}
		size, known := tensorBytes(typ, elems)
		if !known {
			p.problem("tensor-type", typOff, "tensor %q has unknown ggml type %d: llama.cpp refuses the file", name, typ)
			continue
		}
		if off%p.h.Alignment != 0 {
			p.problem("tensor-align", typOff+4, "tensor %q starts at data offset %d, not a multiple of the alignment %d", name, off, p.h.Alignment)
		}
		tensors = append(tensors, span{off, size})
	}
	p.h.HeaderSize = p.r.off
	data := (uint64(p.r.off) + p.h.Alignment - 1) / p.h.Alignment * p.h.Alignment
	p.h.DataOffset = int64(min(data, uint64(p.r.size)))
	avail := uint64(p.r.size) - uint64(p.h.DataOffset)
	for _, t := range tensors {
		if t.off > avail || t.size > avail-t.off {
			p.problem("tensor-bounds", p.h.DataOffset, "tensor data at data offset %d (%d bytes) ends past the end of the file (%d data bytes): truncated or forged", t.off, t.size, avail)
		}
	}
	return nil
}

// count reads a count or length: uint32 in GGUF v1, uint64 since v2.
func (p *headerParser) count() (uint64, error) {
	if p.r.wide {
		return p.r.u64()
	}
	v, err := p.r.u32()
	return uint64(v), err
}

// tick checks for cancellation now and then during long loops.
func (p *headerParser) tick(i uint64) error {
	if i%4096 == 0 && p.ctx != nil {
		if err := p.ctx.Err(); err != nil {
			return &HeaderError{Offset: p.r.off, Msg: err.Error(), Limit: true}
		}
	}
	return nil
}

// problem records an anomaly of a kind, keeping the first and a count.
func (p *headerParser) problem(kind string, off int64, format string, args ...any) {
	if p.problems == nil {
		p.problems = make(map[string]int)
	}
	if i, ok := p.problems[kind]; ok {
		p.h.Problems[i].Count++
		return
	}
	p.problems[kind] = len(p.h.Problems)
	p.h.Problems = append(p.h.Problems, Problem{Offset: off, Message: fmt.Sprintf(format, args...), Count: 1})
}

// flushProblems mentions repetitions in the message of each problem.
func (p *headerParser) flushProblems() {
	for i := range p.h.Problems {
		if c := p.h.Problems[i].Count; c > 1 {
			p.h.Problems[i].Message += fmt.Sprintf(" (and %d more like it)", c-1)
		}
	}
}

func (p *headerParser) fail(msg string) error { return p.failAt(p.r.off, msg) }

func (p *headerParser) failAt(off int64, msg string) error {
	return &HeaderError{Offset: off, Msg: msg}
}

// wrap gives a reader error the context of what was being read.
func (p *headerParser) wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	var he *HeaderError
	if errors.As(err, &he) {
		return &HeaderError{Offset: he.Offset, Msg: fmt.Sprintf(format, args...) + ": " + he.Msg, Limit: he.Limit}
	}
	return &HeaderError{Offset: p.r.off, Msg: fmt.Sprintf(format, args...) + ": " + err.Error()}
}

// reader is a forward-only buffered reader over an io.ReaderAt: it reads
// the header in windows and skips what it does not need by moving its
// offset, so tensor data and large arrays of numbers are never read.
type reader struct {
	ra     io.ReaderAt
	size   int64
	order  binary.ByteOrder
	wide   bool // 64-bit counts and lengths (GGUF v2+)
	off    int64
	buf    []byte // bytes [bufOff, bufOff+len(buf)) of the file
	bufOff int64
	store  []byte
}

func (r *reader) left() int64 { return r.size - r.off }

func (r *reader) countSize() int64 {
	if r.wide {
		return 8
	}
	return 4
}

// bytes returns the next n (≤ window) bytes, valid until the next call.
func (r *reader) bytes(n int) ([]byte, error) {
	if int64(n) > r.left() {
		return nil, &HeaderError{Offset: r.off, Msg: fmt.Sprintf("unexpected end of file: %d bytes needed, %d left", n, r.left())}
	}
	if r.off < r.bufOff || r.off+int64(n) > r.bufOff+int64(len(r.buf)) {
		if r.store == nil {
			r.store = make([]byte, window)
		}
		want := min(int64(window), r.left())
		k, err := r.ra.ReadAt(r.store[:want], r.off)
		if int64(k) < want {
			if err == nil {
				err = io.ErrUnexpectedEOF
			}
			return nil, &HeaderError{Offset: r.off + int64(k), Msg: "read: " + err.Error()}
		}
		r.buf, r.bufOff = r.store[:want], r.off
	}
	b := r.buf[r.off-r.bufOff : r.off-r.bufOff+int64(n)]
	r.off += int64(n)
	return b, nil
}

func (r *reader) u32() (uint32, error) {
	b, err := r.bytes(4)
	if err != nil {
		return 0, err
	}
	return r.order.Uint32(b), nil
}

func (r *reader) u64() (uint64, error) {
	b, err := r.bytes(8)
	if err != nil {
		return 0, err
	}
	return r.order.Uint64(b), nil
}

// skip moves past n bytes, which must be in the file.
func (r *reader) skip(n int64) error {
	if n < 0 || n > r.left() {
		return &HeaderError{Offset: r.off, Msg: fmt.Sprintf("unexpected end of file: %d bytes to skip, %d left", n, r.left())}
	}
	r.off += n
	return nil
}

// str reads a GGUF string, keeping at most keep bytes of it. It returns the
// kept text, the declared length and the offset of the text.
func (r *reader) str(keep int) (string, uint64, int64, error) {
	lenOff := r.off
	var n uint64
	if r.wide {
		v, err := r.u64()
		if err != nil {
			return "", 0, 0, err
		}
		n = v
	} else {
		v, err := r.u32()
		if err != nil {
			return "", 0, 0, err
		}
		n = uint64(v)
	}
	start := r.off
	if n > MaxString {
		return "", n, start, &HeaderError{Offset: lenOff, Msg: fmt.Sprintf("string of %d bytes exceeds the cap of %d", n, MaxString)}
	}
	if int64(n) > r.left() {
		// Some readers (@huggingface/gguf) clamp such a string to the bytes
		// present; they are returned with the error so they can be checked.
		err := &HeaderError{Offset: lenOff, Msg: fmt.Sprintf("string of %d bytes runs past the end of the file (%d bytes left)", n, r.left())}
		k := int(min(r.left(), int64(keep)))
		if k == 0 {
			return "", n, start, err
		}
		b := make([]byte, k)
		got, _ := r.ra.ReadAt(b, r.off)
		return string(b[:got]), n, start, err
	}
	k := int(min(n, uint64(keep)))
	var text string
	switch {
	case k == 0:
	case k <= window:
		b, err := r.bytes(k)
		if err != nil {
			return "", n, start, err
		}
		text = string(b)
	default:
		// Only chat templates are kept beyond a window; k ≤ MaxTemplate and
		// the bytes are known to be in the file.
		b := make([]byte, k)
		if got, err := r.ra.ReadAt(b, r.off); got < k {
			if err == nil {
				err = io.ErrUnexpectedEOF
			}
			return "", n, start, &HeaderError{Offset: r.off + int64(got), Msg: "read: " + err.Error()}
		}
		r.off += int64(k)
		text = string(b)
	}
	return text, n, start, r.skip(int64(n) - int64(k))
}

// tensorBytes is the size of elems elements of ggml type typ, from
// ggml's type traits (block size, bytes per block); false for types
// llama.cpp does not know (or no longer supports).
func tensorBytes(typ uint32, elems uint64) (uint64, bool) {
	if int(typ) >= len(ggmlTypes) || ggmlTypes[typ].block == 0 {
		return 0, false
	}
	t := ggmlTypes[typ]
	blocks := (elems + t.block - 1) / t.block
	hi, lo := bits.Mul64(blocks, t.bytes)
	if hi != 0 {
		return 0, false
	}
	return lo, true
}

// ggmlTypes is indexed by ggml_type (ggml.h); zero entries are removed
// types (Q4_2, Q4_3, the Q4_0_4_4 family).
var ggmlTypes = [...]struct{ block, bytes uint64 }{
	0: {1, 4}, 1: {1, 2}, // F32, F16
	2: {32, 18}, 3: {32, 20}, // Q4_0, Q4_1
	6: {32, 22}, 7: {32, 24}, 8: {32, 34}, 9: {32, 36}, // Q5_0, Q5_1, Q8_0, Q8_1
	10: {256, 84}, 11: {256, 110}, 12: {256, 144}, 13: {256, 176}, 14: {256, 210}, 15: {256, 292}, // Q2_K..Q8_K
	16: {256, 66}, 17: {256, 74}, 18: {256, 98}, 19: {256, 50}, 20: {32, 18}, // IQ2_XXS, IQ2_XS, IQ3_XXS, IQ1_S, IQ4_NL
	21: {256, 110}, 22: {256, 82}, 23: {256, 136}, // IQ3_S, IQ2_S, IQ4_XS
	24: {1, 1}, 25: {1, 2}, 26: {1, 4}, 27: {1, 8}, 28: {1, 8}, // I8, I16, I32, I64, F64
	29: {256, 56}, 30: {1, 2}, // IQ1_M, BF16
	34: {256, 54}, 35: {256, 66}, // TQ1_0, TQ2_0
	39: {32, 17}, // MXFP4
}
