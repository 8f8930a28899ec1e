// Package flaxmsgpack reads Flax checkpoints (flax_model.msgpack): a
// msgpack map of string keys whose leaves are the ext types of
// flax.serialization — 1 ndarray, 2 native complex, 3 numpy scalar — each
// an ext payload that is itself msgpack: (shape, dtype name, row-major
// bytes) or (real, imag).
//
// flax.serialization.msgpack_restore runs no code: msgpack.unpackb with
// flax's ext hook builds arrays with np.frombuffer and returns any other ext
// code untouched as msgpack.ExtType. The risk is a file that only claims to
// be a Flax checkpoint (a pickle named flax_model.msgpack, which falls
// through to the pickle analyser because Match checks content), a file that
// is both (a pickle polyglot: several fixmap header bytes are pickle
// opcodes), and payloads aimed at loaders with their own ext hook or at
// msgpack-numpy style decoders. The walk is bounded and never reads tensor
// bytes: every payload is skipped by its length.
package flaxmsgpack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/modelgate/modelgate/internal/analyzer"
	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/formats/picklefile"
	"github.com/modelgate/modelgate/internal/knowledge"
)

// flax.serialization._MsgpackExtType.
const (
	extNdarray       = 1
	extNativeComplex = 2
	extNpScalar      = 3
)

const (
	// maxDepth bounds nesting (flax state dicts are a few levels deep).
	maxDepth = 64
	// maxNodes caps the values walked.
	maxNodes = 1 << 24
	// maxDims is NumPy's limit on dimensions (NPY_MAXDIMS, 64 in NumPy 2).
	maxDims = 64
	// maxText is the longest string read whole (keys, dtype names, string
	// leaves); longer strings are handed over unread.
	maxText = 64 << 10
	// minNested is the smallest bin leaf handed to the engine: a pickle
	// in a bytes leaf is what msgpack-numpy style decoders unpickle.
	minNested = 64
	maxNested = 64
	maxQuoted = 8
	maxKeyLen = 128 // bytes of a key kept for paths
)

// Analyzer handles Flax msgpack checkpoints.
type Analyzer struct{}

// Format implements analyzer.Analyzer.
func (Analyzer) Format() string { return "flax-msgpack" }

// Match implements analyzer.Analyzer: a .msgpack name (flax_model.msgpack,
// flax_model-00001-of-00002.msgpack) and a msgpack map at byte 0 whose
// first key is a string. The key check keeps pickles out: 0x80 0x02..0x05
// (PROTO) is a fixmap header followed by a byte that is not a string
// header.
func (Analyzer) Match(name string, head []byte) bool {
	if !strings.HasSuffix(strings.ToLower(name), ".msgpack") || len(head) == 0 {
		return false
	}
	var key int
	switch c := head[0]; {
	case c == 0x80:
		return len(head) == 1 // {}
	case c > 0x80 && c <= 0x8f:
		key = 1
	case c == 0xde:
		key = 3
	case c == 0xdf:
		key = 5
	default:
		return false
	}
	if len(head) <= key {
		return false
	}
	k := head[key]
	return k >= 0xa0 && k <= 0xbf || k >= 0xd9 && k <= 0xdb
}

// Analyze walks the whole msgpack value. The file is also decoded as a
// pickle from byte 0, as TFLite does: fixmap headers 0x81-0x8f are pickle
// opcodes (LONG1 0x8a, SHORT_BINUNICODE 0x8c, BINBYTES8 0x8e…) that can make
// pickle.load skip into a bin value holding opcodes.
func (Analyzer) Analyze(_ context.Context, in analyzer.Input, lim analyzer.Limits, out *analyzer.Output) error {
	if pr := picklefile.ReadAsPickle(in.R, in.Size, picklefile.Options{Limits: lim.Pickle, Catalogue: lim.Catalogue}); len(pr.Acts) > 0 {
		out.Findings = append(out.Findings, pr.Audit.Findings...)
		out.Nested = append(out.Nested, pr.Audit.Nested...)
	}
	w := &walker{rd: &reader{r: in.R, size: in.Size, win: fileWindow}, r: in.R, dtypes: map[string]int{}}
	end, err := w.value(0, 0, nil)
	if err == nil && end < in.Size {
		w.note(&w.malformed, &w.nMalformed, end, "%d bytes after the top-level map (msgpack.unpackb raises ExtraData)", in.Size-end)
		w.blob("bytes after the map", end, in.Size-end)
		err = fmt.Errorf("%d bytes after the top-level map at offset %d; msgpack_restore refuses the file", in.Size-end, end)
	}
	w.report(out, err == nil)
	if err != nil {
		return fmt.Errorf("flax msgpack: %w", err)
	}
	return nil
}

// itemSize is the byte size of every dtype name flax writes for plain
// numeric arrays: NumPy's, and the ml_dtypes jax registers (bfloat16,
// float8, int4…), which flax names by dtype.name too.
var itemSize = map[string]int64{
	"bool": 1, "int8": 1, "uint8": 1, "int16": 2, "uint16": 2, "int32": 4, "uint32": 4,
	"int64": 8, "uint64": 8, "float16": 2, "float32": 4, "float64": 8, "float96": 12, "float128": 16,
	"complex64": 8, "complex128": 16, "complex192": 24, "complex256": 32,
	"bfloat16": 2, "float8_e4m3fn": 1, "float8_e5m2": 1, "float8_e4m3b11fnuz": 1, "float8_e4m3fnuz": 1,
	"float8_e5m2fnuz": 1, "float8_e3m4": 1, "float8_e4m3": 1, "float8_e8m0fnu": 1, "float4_e2m1fn": 1,
	"float6_e2m3fn": 1, "float6_e3m2fn": 1, "int4": 1, "uint4": 1, "int2": 1, "uint2": 1,
}

type note struct {
	off  int64
	text string
}

type walker struct {
	rd *reader
	r  io.ReaderAt

	nodes, depth                  int
	arrays, scalars, complexes    int
	chunked, maps, lists          int
	tensorBytes                   int64
	dtypes                        map[string]int
	malformed, exts, badDtypes    []note
	nMalformed, nExts, nBadDtypes int
	objectDtype                   bool
	nested                        []analyzer.Nested
	path                          []string
}

func (w *walker) note(list *[]note, count *int, off int64, format string, args ...any) {
	*count++
	if len(*list) < maxQuoted {
		*list = append(*list, note{off, fmt.Sprintf(format, args...)})
	}
}

func (w *walker) where() string {
	if len(w.path) == 0 {
		return "the top level"
	}
	return strconv.Quote(strings.Join(w.path, "/"))
}

// header is one decoded msgpack header.
type header struct {
	class byte  // 'i' int, 'u' uint, 'f' float, 'n' nil, 'b' bool, 's' str, 'B' bin, 'a' array, 'm' map, 'e' ext
	n     int64 // length (str, bin, ext), count (array, map)
	i     int64 // int value
	u     uint64
	code  int8  // ext type
	size  int64 // bytes of the header itself (for ext: with the type byte)
}

// head decodes the header at pos.
func (w *walker) head(pos int64) (header, error) {
	b, err := w.rd.at(pos, int(min(9, w.rd.size-pos)))
	if err != nil || len(b) == 0 {
		return header{}, fmt.Errorf("offset %d: %w", pos, io.ErrUnexpectedEOF)
	}
	c := b[0]
	need := func(k int) error {
		if len(b) < k {
			return fmt.Errorf("offset %d: header cut short: %w", pos, io.ErrUnexpectedEOF)
		}
		return nil
	}
	be := func(k int) uint64 {
		var v uint64
		for _, x := range b[1 : 1+k] {
			v = v<<8 | uint64(x)
		}
		return v
	}
	sized := func(class byte, k int) (header, error) {
		if err := need(1 + k); err != nil {
			return header{}, err
		}
		return header{class: class, n: int64(be(k)), size: int64(1 + k)}, nil
	}
	switch {
	case c <= 0x7f:
		return header{class: 'u', u: uint64(c), i: int64(c), size: 1}, nil
	case c >= 0xe0:
		return header{class: 'i', i: int64(int8(c)), size: 1}, nil
	case c <= 0x8f:
		return header{class: 'm', n: int64(c & 0x0f), size: 1}, nil
	case c <= 0x9f:
		return header{class: 'a', n: int64(c & 0x0f), size: 1}, nil
	case c <= 0xbf:
		return header{class: 's', n: int64(c & 0x1f), size: 1}, nil
	}
	switch c {
	case 0xc0:
		return header{class: 'n', size: 1}, nil
	case 0xc2, 0xc3:
		return header{class: 'b', size: 1}, nil
	case 0xc4, 0xc5, 0xc6:
		return sized('B', 1<<(c-0xc4))
	case 0xc7, 0xc8, 0xc9:
		k := 1 << (c - 0xc7)
		if err := need(2 + k); err != nil {
			return header{}, err
		}
		return header{class: 'e', n: int64(be(k)), code: int8(b[1+k]), size: int64(2 + k)}, nil
	case 0xca, 0xcb:
		k := int64(4 << (c - 0xca))
		if err := need(int(1 + k)); err != nil {
			return header{}, err
		}
		return header{class: 'f', size: 1 + k}, nil
	case 0xcc, 0xcd, 0xce, 0xcf:
		k := 1 << (c - 0xcc)
		if err := need(1 + k); err != nil {
			return header{}, err
		}
		u := be(k)
		return header{class: 'u', u: u, i: int64(min(u, math.MaxInt64)), size: int64(1 + k)}, nil
	case 0xd0, 0xd1, 0xd2, 0xd3:
		k := 1 << (c - 0xd0)
		if err := need(1 + k); err != nil {
			return header{}, err
		}
		u := be(k)
		shift := 64 - 8*k
		return header{class: 'i', i: int64(u<<shift) >> shift, size: int64(1 + k)}, nil
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8:
		if err := need(2); err != nil {
			return header{}, err
		}
		return header{class: 'e', n: 1 << (c - 0xd4), code: int8(b[1]), size: 2}, nil
	case 0xd9, 0xda, 0xdb:
		return sized('s', 1<<(c-0xd9))
	case 0xdc, 0xdd:
		return sized('a', 2<<(c-0xdc))
	case 0xde, 0xdf:
		return sized('m', 2<<(c-0xde))
	}
	return header{}, fmt.Errorf("offset %d: byte 0x%02x is not a msgpack type (msgpack refuses it)", pos, c)
}

// value walks the value at pos and returns where it ends. key is set when
// the value is a map key; the key's text is appended to it.
func (w *walker) value(pos int64, depth int, key *string) (int64, error) {
	w.nodes++
	if w.nodes > maxNodes {
		return pos, fmt.Errorf("more than %d msgpack values", maxNodes)
	}
	if depth > maxDepth {
		return pos, fmt.Errorf("offset %d: nesting deeper than %d", pos, maxDepth)
	}
	w.depth = max(w.depth, depth)
	h, err := w.head(pos)
	if err != nil {
		return pos, err
	}
	body := pos + h.size
	if h.class == 's' || h.class == 'B' || h.class == 'e' {
		if h.n > w.rd.size-body {
			return pos, fmt.Errorf("offset %d: a value of %d bytes runs past the end (%d left): %w", pos, h.n, w.rd.size-body, io.ErrUnexpectedEOF)
		}
	}
	if key != nil && h.class != 's' {
		// msgpack's strict_map_key refuses other keys than str and bytes;
		// flax's state dicts have str keys only.
		w.note(&w.malformed, &w.nMalformed, pos, "a map key at %s is not a string", w.where())
	}
	switch h.class {
	case 's':
		return body + h.n, w.str(body, h.n, key)
	case 'B':
		if h.n >= minNested {
			w.blob("bin at "+strings.Join(w.path, "/"), body, h.n)
		}
		return body + h.n, nil
	case 'e':
		w.ext(h.code, body, h.n)
		return body + h.n, nil
	case 'a':
		w.lists++
		for k := int64(0); k < h.n; k++ {
			if body, err = w.value(body, depth+1, nil); err != nil {
				return body, err
			}
		}
		return body, nil
	case 'm':
		return w.mapBody(body, h.n, depth)
	}
	return body, nil
}

func (w *walker) mapBody(pos, n int64, depth int) (int64, error) {
	w.maps++
	var err error
	for k := int64(0); k < n; k++ {
		var key string
		if pos, err = w.value(pos, depth+1, &key); err != nil {
			return pos, err
		}
		if key == "__msgpack_chunked_array__" {
			w.chunked++
		}
		w.path = append(w.path, key)
		pos, err = w.value(pos, depth+1, nil)
		w.path = w.path[:len(w.path)-1]
		if err != nil {
			return pos, err
		}
	}
	return pos, nil
}

// str checks a string as msgpack.unpackb(raw=False) decodes it: UTF-8.
func (w *walker) str(off, n int64, key *string) error {
	if n > maxText {
		w.blob("long string at "+strings.Join(w.path, "/"), off, n)
		if key != nil {
			*key = "…"
		}
		return nil
	}
	b, err := w.rd.at(off, int(n))
	if err != nil {
		return err
	}
	if !utf8.Valid(b) {
		w.note(&w.malformed, &w.nMalformed, off, "a string at %s is not UTF-8 (unpackb(raw=False) raises)", w.where())
	}
	if key != nil {
		*key = string(b[:min(len(b), maxKeyLen)])
	}
	return nil
}

// ext judges one ext value by flax's _msgpack_ext_unpack.
func (w *walker) ext(code int8, off, n int64) {
	switch code {
	case extNdarray, extNpScalar:
		w.ndarray(code, off, n)
	case extNativeComplex:
		w.complex(off, n)
	default:
		// flax.serialization._msgpack_ext_unpack ends with
		// `return msgpack.ExtType(code, data)`: flax itself keeps an
		// unknown code as inert bytes and runs nothing. Only a loader with
		// its own ext_hook gives the payload meaning — and such hooks
		// (object arrays, msgpack-numpy's pickled dtypes) are how a
		// msgpack file runs code. Nothing flax writes uses another code.
		w.note(&w.exts, &w.nExts, off, "ext code %d (%d bytes) at %s", code, n, w.where())
		w.blob(fmt.Sprintf("ext %d at %s", code, strings.Join(w.path, "/")), off, n)
	}
}

// ndarray checks flax's _ndarray_from_bytes payload: msgpack (shape,
// dtype_name, buffer), exactly, with len(buffer) = prod(shape) × itemsize
// (np.frombuffer, then reshape). The buffer is skipped, never read.
func (w *walker) ndarray(code int8, off, n int64) {
	sub := &walker{rd: &reader{r: w.r, size: off + n, win: payloadWindow}, r: w.r}
	bad := func(format string, args ...any) {
		w.note(&w.malformed, &w.nMalformed, off, "ndarray at %s: %s", w.where(), fmt.Sprintf(format, args...))
	}
	h, err := sub.head(off)
	if err != nil || h.class != 'a' || h.n != 3 {
		bad("the payload is not a 3-element msgpack array (shape, dtype name, bytes)")
		return
	}
	pos := off + h.size
	sh, err := sub.head(pos)
	if err != nil || sh.class != 'a' || sh.n > maxDims {
		bad("the shape is not an array of at most %d dimensions", maxDims)
		return
	}
	pos += sh.size
	elems, overflow := int64(1), false
	for k := int64(0); k < sh.n; k++ {
		d, err := sub.head(pos)
		if err != nil || (d.class != 'u' && d.class != 'i') {
			bad("dimension %d is not an integer", k)
			return
		}
		pos += d.size
		switch {
		case d.class == 'i' && d.i < 0:
			bad("dimension %d is %d", k, d.i)
			return
		case d.i == 0:
			elems = 0
		case elems != 0 && elems > math.MaxInt64/d.i:
			overflow = true
		default:
			elems *= d.i
		}
	}
	dh, err := sub.head(pos)
	if err != nil || (dh.class != 's' && dh.class != 'B') || dh.n > 64 || pos+dh.size+dh.n > off+n {
		bad("the dtype name is not a short string")
		return
	}
	nb, err := sub.rd.at(pos+dh.size, int(dh.n))
	if err != nil {
		bad("the dtype name is cut short")
		return
	}
	dtype := string(nb)
	pos += dh.size + dh.n
	bh, err := sub.head(pos)
	if err != nil || (bh.class != 'B' && bh.class != 's') {
		bad("the array bytes are not a msgpack bin")
		return
	}
	pos += bh.size
	if pos+bh.n != off+n {
		bad("%d bytes of array data in a payload that has room for %d (unpackb raises)", bh.n, off+n-pos)
		return
	}
	if code == extNpScalar {
		w.scalars++
	} else {
		w.arrays++
	}
	w.dtypes[dtype]++
	size, ok := itemSize[dtype]
	if !ok {
		w.dtype(off, dtype)
		return
	}
	w.tensorBytes += bh.n
	if overflow || elems*size != bh.n {
		bad("dtype %s × %d elements does not match %d bytes (np.frombuffer/reshape raise)", dtype, elems, bh.n)
	}
}

// dtype reports a dtype name that is not plain numeric: object dtypes
// (flax's writer refuses them, np.frombuffer too) are high, the rest
// (strings, datetimes, structured) medium.
func (w *walker) dtype(off int64, name string) {
	lower := strings.ToLower(name)
	if strings.Contains(lower, "object") || strings.ContainsRune(name, 'O') {
		w.objectDtype = true
	}
	w.note(&w.badDtypes, &w.nBadDtypes, off, "dtype %q at %s", name, w.where())
}

// complex checks a native complex: msgpack (real, imag), two numbers.
func (w *walker) complex(off, n int64) {
	sub := &walker{rd: &reader{r: w.r, size: off + n, win: payloadWindow}, r: w.r}
	h, err := sub.head(off)
	ok := err == nil && h.class == 'a' && h.n == 2
	pos := off + h.size
	for k := 0; ok && k < 2; k++ {
		x, err := sub.head(pos)
		ok = err == nil && (x.class == 'f' || x.class == 'i' || x.class == 'u')
		pos += x.size
	}
	if !ok || pos != off+n {
		w.note(&w.malformed, &w.nMalformed, off, "complex at %s: the payload is not msgpack (real, imag)", w.where())
		return
	}
	w.complexes++
}

// blob hands [off, off+n) to the engine as an optional nested input: a
// pickle or archive in it is analysed, raw bytes are passed over.
func (w *walker) blob(what string, off, n int64) {
	if len(w.nested) >= maxNested || n <= 0 {
		return
	}
	w.nested = append(w.nested, analyzer.Nested{
		Name: strings.ReplaceAll(what, " ", "-"), R: io.NewSectionReader(w.r, off, n), Size: n, Optional: true,
	})
}

func (w *walker) report(out *analyzer.Output, whole bool) {
	if len(w.exts) > 0 {
		out.Add(finding.Finding{RuleID: knowledge.RuleFlaxExtType, Severity: finding.High, Offset: w.exts[0].off,
			Message:  "msgpack ext types that flax.serialization does not define (it keeps them as inert ExtType; a loader with its own ext_hook decides what they become); payloads analysed as nested inputs",
			Evidence: joinNotes(w.exts, w.nExts)})
	}
	if len(w.badDtypes) > 0 {
		sev, msg := finding.Medium, "ndarrays with a dtype that is not plain numeric: flax writes only numeric arrays"
		if w.objectDtype {
			sev, msg = finding.High, "ndarrays with an object dtype: flax never writes them (np.frombuffer refuses them); object arrays are how pickles hide in array formats"
		}
		out.Add(finding.Finding{RuleID: knowledge.RuleFlaxDtype, Severity: sev, Offset: w.badDtypes[0].off,
			Message: msg, Evidence: joinNotes(w.badDtypes, w.nBadDtypes)})
	}
	if len(w.malformed) > 0 {
		out.Add(finding.Finding{RuleID: knowledge.RuleFlaxMalformed, Severity: finding.Medium, Offset: w.malformed[0].off,
			Message:  fmt.Sprintf("the msgpack is not what flax.serialization.msgpack_restore reads as written (%d anomalies)", w.nMalformed),
			Evidence: joinNotes(w.malformed, w.nMalformed)})
	}
	out.Nested = append(out.Nested, w.nested...)
	if !whole {
		return
	}
	var dts []string
	for _, d := range slices.Sorted(maps.Keys(w.dtypes)) {
		dts = append(dts, fmt.Sprintf("%s ×%d", d, w.dtypes[d]))
	}
	msg := fmt.Sprintf("Flax msgpack state dict: %d arrays, %d numpy scalars, %d complex scalars (%d tensor bytes, not read), %d maps, %d lists, depth %d",
		w.arrays, w.scalars, w.complexes, w.tensorBytes, w.maps, w.lists, w.depth)
	if len(dts) > 0 {
		msg += "; dtypes " + strings.Join(dts, ", ")
	}
	if w.chunked > 0 {
		msg += fmt.Sprintf("; %d chunked arrays", w.chunked)
	}
	out.Add(finding.Finding{RuleID: knowledge.RuleFormatSummary, Severity: finding.Info, Offset: finding.NoOffset, Message: msg})
}

func joinNotes(ns []note, total int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = n.text
	}
	if total > len(ns) {
		s = append(s, fmt.Sprintf("… %d more", total-len(ns)))
	}
	return strings.Join(s, "; ")
}

// Read windows: the walk of the file reads headers and keys between
// payloads it skips; an ext payload's walk reads only its (shape, dtype)
// header, never the tensor bytes after it.
const (
	fileWindow    = 16 << 10
	payloadWindow = 1 << 10
)

// reader serves small reads at increasing offsets from one buffered
// window; size bounds every read (a sub-walker of an ext payload gets the
// payload's end).
type reader struct {
	r    io.ReaderAt
	size int64
	win  int
	buf  []byte
	off  int64
}

// at returns the n (at most maxText) bytes at pos, valid until the next
// call; fewer than n bytes left is an error.
func (w *reader) at(pos int64, n int) ([]byte, error) {
	if n > maxText || n < 0 {
		return nil, fmt.Errorf("read of %d bytes: more than %d", n, maxText)
	}
	if pos < 0 || pos+int64(n) > w.size {
		return nil, fmt.Errorf("read at %d: %w", pos, io.ErrUnexpectedEOF)
	}
	if pos >= w.off && pos+int64(n) <= w.off+int64(len(w.buf)) {
		return w.buf[pos-w.off : pos-w.off+int64(n)], nil
	}
	if want := max(w.win, n); cap(w.buf) < want {
		w.buf = make([]byte, want)
	}
	k := int(min(int64(max(w.win, n)), w.size-pos))
	m, err := w.r.ReadAt(w.buf[:k], pos)
	w.buf, w.off = w.buf[:m], pos
	if m < n {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("read at %d: %w", pos, err)
	}
	return w.buf[:n], nil
}
