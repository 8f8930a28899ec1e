// Package safetensors reads Hugging Face safetensors files: an 8-byte
// little-endian header length N, N bytes of JSON describing every tensor
// (dtype, shape, byte range in the data section), then the raw tensor data.
// Only the header is read; tensor data never is. The header is checked the
// way the reference loader (the safetensors Rust crate behind the Python
// package) checks it, and every place where another reader could see
// something different is reported. The file is also decoded from byte 0 as
// pickle.load would decode it: a safetensors file whose first bytes are
// pickle opcodes can be both valid weights and a pickle that runs code
// (THREATS item 25).
package safetensors

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/modelgate/modelgate/internal/analyzer"
	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/knowledge"
)

const (
	// MaxHeader is the largest header the safetensors crate accepts
	// (MAX_HEADER_SIZE, 100 MB); syft's parser uses the same ceiling. A
	// longer header is reported and not read.
	MaxHeader = 100_000_000
	// matchMaxHeader is the largest length Match accepts: beyond the real
	// cap, so that an oversized header is reported as such instead of as an
	// unknown format, yet small enough (the top four bytes zero) that the
	// bytes of other formats do not pass for a length.
	matchMaxHeader = 1 << 32
	// maxDepth caps JSON nesting; a safetensors header needs three levels.
	maxDepth = 64
	// maxExamples is how many names a grouped finding quotes.
	maxExamples = 5
	// maxGaps caps the uncovered byte ranges handed back to the engine.
	maxGaps = 8
)

// dtypeBits is every dtype the safetensors crate (0.8) knows, with its
// width in bits (sub-byte formats are packed).
var dtypeBits = map[string]uint64{
	"BOOL": 8, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6, "U8": 8, "I8": 8,
	"F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8, "F8_E4M3FNUZ": 8, "F8_E5M2FNUZ": 8,
	"I16": 16, "U16": 16, "F16": 16, "BF16": 16, "I32": 32, "U32": 32, "F32": 32,
	"C64": 64, "F64": 64, "I64": 64, "U64": 64,
}

// Tensor is one entry of the header.
type Tensor struct {
	Name       string
	Dtype      string
	Shape      []uint64
	Begin, End uint64 // data_offsets, relative to the data section
	// Offset is where the entry's key is in the file.
	Offset int64
}

// Header is a parsed safetensors header.
type Header struct {
	Len      int64 // N, the JSON length
	Tensors  []Tensor
	Metadata map[string]string // the string values of __metadata__
	// HasMetadata is set when __metadata__ is present (even if invalid).
	HasMetadata bool
	// Invalid counts entries that are not readable tensor entries: with
	// any, the data section's coverage means nothing and is not checked.
	Invalid int
}

// DataStart is the file offset of the data section.
func (h *Header) DataStart() int64 { return 8 + h.Len }

// Analyzer handles safetensors files.
type Analyzer struct{}

// Format implements analyzer.Analyzer.
func (Analyzer) Format() string { return "safetensors" }

// Match implements analyzer.Analyzer: the first 8 bytes are a plausible
// length and the JSON object starts right after them (serde_json allows
// leading whitespace). Content only: a pickle named .safetensors is a pickle.
func (Analyzer) Match(_ string, head []byte) bool {
	if len(head) < 10 {
		return false
	}
	if n := binary.LittleEndian.Uint64(head); n < 2 || n >= matchMaxHeader {
		return false
	}
	i := skipSpace(head, 8)
	if i >= len(head) || head[i] != '{' {
		return false
	}
	i = skipSpace(head, i+1)
	return i >= len(head) || head[i] == '"' || head[i] == '}'
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// isSpace is JSON whitespace.
func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// Analyze decodes the file as a pickle (the polyglot check), then reads and
// checks the header. Findings found before an error are kept.
func (Analyzer) Analyze(_ context.Context, in analyzer.Input, lim analyzer.Limits, out *analyzer.Output) error {
	checkPolyglot(in, lim, out)
	raw, n, err := readHeader(in.R, in.Size)
	if err != nil {
		out.Add(finding.Finding{RuleID: knowledge.RuleSafetensorsHeader, Severity: finding.Medium, Offset: 0,
			Message: err.Error(), Evidence: fmt.Sprintf("header length %d, file %d bytes", n, in.Size)})
		return fmt.Errorf("safetensors: %w", err)
	}
	c := &checker{out: out, groups: map[string]*group{}}
	h, err := c.parse(raw, n)
	if err != nil {
		c.flush()
		out.Add(finding.Finding{RuleID: knowledge.RuleSafetensorsHeader, Severity: finding.Medium, Offset: 8,
			Message: "header is not a JSON object that safetensors can read: " + err.Error(), Evidence: quote(raw[:min(len(raw), 40)])})
		return fmt.Errorf("safetensors: header: %w", err)
	}
	truncated := c.layout(h, in)
	c.flush()
	out.Add(finding.Finding{RuleID: knowledge.RuleFormatSummary, Severity: finding.Info, Offset: finding.NoOffset,
		Message: summary(h, in.Size)})
	if truncated != nil {
		return fmt.Errorf("safetensors: %w", truncated)
	}
	return nil
}

// readHeader reads the N bytes of JSON after the length, within the cap and
// the file. The buffer grows with the bytes actually read, never from N.
func readHeader(r io.ReaderAt, size int64) ([]byte, int64, error) {
	var pre [8]byte
	if size < 8 {
		return nil, 0, fmt.Errorf("file of %d bytes is shorter than the 8-byte header length", size)
	}
	// io.ReaderAt may return io.EOF with a full read at the end of the data.
	if k, err := r.ReadAt(pre[:], 0); k < len(pre) {
		return nil, 0, fmt.Errorf("read header length: %w", err)
	}
	u := binary.LittleEndian.Uint64(pre[:])
	n := int64(min(u, 1<<62))
	switch {
	case u > MaxHeader:
		return nil, n, fmt.Errorf("header length %d is over the %d-byte limit of the safetensors loader: not read", u, MaxHeader)
	case n > size-8:
		return nil, n, fmt.Errorf("header length %d runs past the end of the file (%d bytes after the length): truncated", n, size-8)
	}
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, io.LimitReader(io.NewSectionReader(r, 8, n), n)); err != nil {
		return nil, n, fmt.Errorf("read header: %w", err)
	}
	if int64(buf.Len()) != n {
		return nil, n, fmt.Errorf("header truncated: %d of %d bytes", buf.Len(), n)
	}
	return buf.Bytes(), n, nil
}

// group collects one kind of problem over many tensors into one finding.
type group struct {
	rule  string
	sev   finding.Severity
	what  string
	first int64
	names []string
	count int
	order int
}

// checker accumulates grouped findings while the header is checked.
type checker struct {
	out    *analyzer.Output
	groups map[string]*group
}

// note records one occurrence of a problem kind.
func (c *checker) note(kind, rule string, sev finding.Severity, what, example string, off int64) {
	g, ok := c.groups[kind]
	if !ok {
		g = &group{rule: rule, sev: sev, what: what, first: off, order: len(c.groups)}
		c.groups[kind] = g
	}
	g.count++
	if len(g.names) < maxExamples {
		g.names = append(g.names, example)
	}
}

// flush turns the groups into findings, in the order they were first met.
func (c *checker) flush() {
	gs := slices.SortedFunc(maps.Values(c.groups), func(a, b *group) int { return cmp.Compare(a.order, b.order) })
	for _, g := range gs {
		msg := g.what
		if g.count > 1 {
			msg += fmt.Sprintf(" (%d occurrences)", g.count)
		}
		ev := strings.Join(g.names, "; ")
		if g.count > len(g.names) {
			ev += "; …"
		}
		c.out.Add(finding.Finding{RuleID: g.rule, Severity: g.sev, Message: msg, Offset: g.first, Evidence: ev})
	}
	clear(c.groups)
}

func (c *checker) header(kind, what, example string, off int64) {
	c.note(kind, knowledge.RuleSafetensorsHeader, finding.Medium, what, example, off)
}

func (c *checker) layoutNote(kind, what, example string, off int64) {
	c.note(kind, knowledge.RuleSafetensorsLayout, finding.Medium, what, example, off)
}

// parse walks the JSON object: every top-level key with its offset, the
// value of each decoded on its own. Duplicate keys are looked for at every
// level. Later duplicates win, as in serde_json's maps and Python's json.
func (c *checker) parse(raw []byte, n int64) (*Header, error) {
	h := &Header{Len: n}
	if !utf8.Valid(raw) {
		c.header("utf8", "header is not valid UTF-8: the safetensors loader refuses it (InvalidHeader), Go and other lenient readers replace the bytes",
			quote(raw[:min(len(raw), 40)]), 8)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil {
		return nil, err
	} else if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("top level is %v, not an object", tok)
	}
	index := map[string]int{}
	seen := map[string]bool{}
	for dec.More() {
		start := keyStart(raw, dec.InputOffset())
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := tok.(string)
		off := 8 + start
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return nil, fmt.Errorf("value of %q: %w", key, err)
		}
		if seen[key] {
			c.header("duplicate", "duplicate keys in the header: readers disagree on which entry wins (serde_json and Python keep the last, others the first)",
				strconv.Quote(key), off)
		}
		seen[key] = true
		c.nestedDuplicates(val, key, off)
		if key == "__metadata__" {
			h.HasMetadata = true
			h.Metadata = c.metadata(val, off)
			continue
		}
		t, ok := c.tensor(key, val, off)
		if !ok {
			h.Invalid++
			continue
		}
		if i, dup := index[key]; dup {
			h.Tensors[i] = t
			continue
		}
		index[key] = len(h.Tensors)
		h.Tensors = append(h.Tensors, t)
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	if tok, err := dec.Token(); err != io.EOF {
		after := 8 + dec.InputOffset()
		if err == nil {
			err = fmt.Errorf("%v", tok)
		}
		c.header("trailing", "bytes after the JSON object inside the header: serde_json refuses them, lenient readers stop before them",
			trimErr(err), after)
	}
	return h, nil
}

// keyStart finds where the next key starts after the previous token.
func keyStart(raw []byte, from int64) int64 {
	for i := from; i < int64(len(raw)); i++ {
		if c := raw[i]; c != ',' && !isSpace(c) {
			return i
		}
	}
	return from
}

func trimErr(err error) string {
	s := err.Error()
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return s
}

// nestedDuplicates looks for duplicate keys inside one value (a tensor
// entry with two "dtype" keys: serde_json refuses a duplicate struct field,
// Python's json keeps the last).
func (c *checker) nestedDuplicates(val json.RawMessage, key string, off int64) {
	if len(val) == 0 || val[0] != '{' && val[0] != '[' {
		return
	}
	dec := json.NewDecoder(bytes.NewReader(val))
	type frame struct {
		keys     map[string]bool
		isObject bool
		wantKey  bool
	}
	var stack []frame
	valueDone := func() {
		if len(stack) > 0 && stack[len(stack)-1].isObject {
			stack[len(stack)-1].wantKey = true
		}
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			return // the value was decoded once already; io.EOF ends it
		}
		if len(stack) > 0 && stack[len(stack)-1].isObject && stack[len(stack)-1].wantKey {
			top := &stack[len(stack)-1]
			if k, ok := tok.(string); ok {
				if top.keys[k] {
					c.header("duplicate", "duplicate keys in the header: readers disagree on which entry wins (serde_json and Python keep the last, others the first)",
						strconv.Quote(key)+"."+strconv.Quote(k), off)
				}
				top.keys[k] = true
				top.wantKey = false
				continue
			}
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			if len(stack) >= maxDepth {
				c.header("depth", fmt.Sprintf("header nested deeper than %d levels", maxDepth), strconv.Quote(key), off)
				return
			}
			stack = append(stack, frame{keys: map[string]bool{}, isObject: tok == json.Delim('{'), wantKey: tok == json.Delim('{')})
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			valueDone()
		default:
			valueDone()
		}
	}
}

// metadata checks __metadata__: an object of string to string (or null).
func (c *checker) metadata(val json.RawMessage, off int64) map[string]string {
	const what = "__metadata__ is not an object of string values: the safetensors loader refuses the file"
	if string(val) == "null" {
		return nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(val, &m); err != nil {
		c.note("metadata", knowledge.RuleSafetensorsMetadata, finding.Low, what, "__metadata__ = "+short(val), off)
		return nil
	}
	out := map[string]string{}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		var s string
		if err := json.Unmarshal(m[k], &s); err != nil {
			c.note("metadata", knowledge.RuleSafetensorsMetadata, finding.Low, what, strconv.Quote(k)+": "+short(m[k]), off)
			continue
		}
		out[k] = s
	}
	return out
}

// tensor decodes one entry as serde would into TensorInfo: dtype one of the
// known names, shape a list of unsigned integers, data_offsets exactly two.
// Unknown fields are ignored, as serde does.
func (c *checker) tensor(name string, val json.RawMessage, off int64) (Tensor, bool) {
	t := Tensor{Name: name, Offset: off}
	bad := func(why string) (Tensor, bool) {
		c.header("entry", "tensor entries the safetensors loader cannot read", strconv.Quote(name)+": "+why, off)
		return t, false
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(val, &m); err != nil {
		return bad("not an object: " + short(val))
	}
	for _, f := range []string{"dtype", "shape", "data_offsets"} {
		if _, ok := m[f]; !ok {
			return bad("no " + f)
		}
	}
	if err := json.Unmarshal(m["dtype"], &t.Dtype); err != nil {
		return bad("dtype " + short(m["dtype"]))
	}
	if _, ok := dtypeBits[t.Dtype]; !ok {
		return bad("unknown dtype " + strconv.Quote(t.Dtype))
	}
	shape, ok := uints(m["shape"])
	if !ok {
		return bad("shape " + short(m["shape"]))
	}
	t.Shape = shape
	offs, ok := uints(m["data_offsets"])
	if !ok || len(offs) != 2 {
		return bad("data_offsets " + short(m["data_offsets"]))
	}
	t.Begin, t.End = offs[0], offs[1]
	return t, true
}

// uints decodes a JSON array of non-negative integers that fit in 64 bits,
// refusing 1.0, -1 and 1e3 as serde does for usize.
func uints(raw json.RawMessage) ([]uint64, bool) {
	var nums []json.RawMessage
	if err := json.Unmarshal(raw, &nums); err != nil || nums == nil {
		return nil, false
	}
	out := make([]uint64, 0, len(nums))
	for _, n := range nums {
		v, err := strconv.ParseUint(string(n), 10, 64)
		if err != nil {
			return nil, false
		}
		out = append(out, v)
	}
	return out, true
}

// byteSize is dtype × shape in bytes; ok is false on overflow or when the
// bits do not fill whole bytes (the loader's ValidationOverflow and
// MisalignedSlice).
func byteSize(t Tensor) (size uint64, overflow, partial bool) {
	n := uint64(1)
	for _, d := range t.Shape {
		hi, lo := bits.Mul64(n, d)
		if hi != 0 {
			return 0, true, false
		}
		n = lo
	}
	hi, nbits := bits.Mul64(n, dtypeBits[t.Dtype])
	if hi != 0 {
		return 0, true, false
	}
	return nbits / 8, false, nbits%8 != 0
}

// layout checks every tensor's byte range against its dtype and shape and
// against the data section, the way the loader does (sorted by offsets,
// each starting where the previous ended, the last ending at the end of the
// file), and hands uncovered ranges back to the engine. It returns an error
// when the data section is shorter than the tensors need.
func (c *checker) layout(h *Header, in analyzer.Input) error {
	dataLen := uint64(max(in.Size-h.DataStart(), 0))
	ts := slices.Clone(h.Tensors)
	slices.SortStableFunc(ts, func(a, b Tensor) int {
		return cmp.Or(cmp.Compare(a.Begin, b.Begin), cmp.Compare(a.End, b.End))
	})
	var cursor, need uint64
	var prev string
	gaps := 0
	for _, t := range ts {
		ex := fmt.Sprintf("%q %s %v [%d, %d]", t.Name, t.Dtype, t.Shape, t.Begin, t.End)
		if t.Begin > t.End {
			c.layoutNote("order", "tensors whose data_offsets end before they begin", ex, t.Offset)
			continue
		}
		size, overflow, partial := byteSize(t)
		switch {
		case overflow:
			c.layoutNote("overflow", "tensors whose dtype × shape overflows 64 bits", ex, t.Offset)
		case partial:
			c.layoutNote("partial", "tensors of sub-byte dtypes that do not fill whole bytes", ex, t.Offset)
		case t.End-t.Begin != size:
			c.layoutNote("size", "tensors whose byte range disagrees with dtype × shape: loaders and validators read different bytes",
				fmt.Sprintf("%s: %d bytes, dtype × shape is %d", ex, t.End-t.Begin, size), t.Offset)
		}
		if t.End > dataLen {
			c.layoutNote("bounds", "tensors that reach past the end of the file", fmt.Sprintf("%s, data section %d bytes", ex, dataLen), t.Offset)
		}
		switch {
		case t.Begin < cursor:
			c.layoutNote("overlap", "tensors whose bytes overlap: one write changes two tensors, and the loader refuses the file",
				fmt.Sprintf("%s overlaps %q", ex, prev), t.Offset)
		case t.Begin > cursor && h.Invalid == 0:
			c.layoutNote("gap", "bytes of the data section that no tensor covers (the loader refuses the file; a payload can hide there)",
				fmt.Sprintf("[%d, %d) before %q", cursor, t.Begin, t.Name), h.DataStart()+int64(min(cursor, dataLen)))
			c.gap(h, in, cursor, min(t.Begin, dataLen), &gaps)
		}
		if t.End >= cursor {
			cursor, prev = t.End, t.Name
		}
		need = max(need, t.End)
	}
	if cursor < dataLen && h.Invalid == 0 {
		c.layoutNote("gap", "bytes of the data section that no tensor covers (the loader refuses the file; a payload can hide there)",
			fmt.Sprintf("[%d, %d) after the last tensor", cursor, dataLen), h.DataStart()+int64(cursor))
		c.gap(h, in, cursor, dataLen, &gaps)
	}
	if need > dataLen {
		return fmt.Errorf("data section truncated: the header describes %d bytes of tensor data, the file has %d", need, dataLen)
	}
	return nil
}

// gap hands an uncovered range back to the engine to be sniffed: if it
// holds a pickle or an archive, that is analysed; raw bytes are skipped.
func (c *checker) gap(h *Header, in analyzer.Input, from, to uint64, n *int) {
	if from >= to || *n >= maxGaps {
		return
	}
	*n++
	start := h.DataStart() + int64(from)
	c.out.Nested = append(c.out.Nested, analyzer.Nested{
		Name:     fmt.Sprintf("uncovered@%d", start),
		R:        io.NewSectionReader(in.R, start, int64(to-from)),
		Size:     int64(to - from),
		Optional: true,
	})
}

func summary(h *Header, size int64) string {
	counts := map[string]int{}
	for _, t := range h.Tensors {
		counts[t.Dtype]++
	}
	var dts []string
	for _, d := range slices.Sorted(maps.Keys(counts)) {
		dts = append(dts, fmt.Sprintf("%s×%d", d, counts[d]))
	}
	meta := "no __metadata__"
	if h.HasMetadata {
		meta = "__metadata__ with " + plural(len(h.Metadata), "string key")
		if f, ok := h.Metadata["format"]; ok {
			meta += fmt.Sprintf(" (format %q)", f)
		}
	}
	if len(dts) == 0 {
		dts = []string{"none"}
	}
	return fmt.Sprintf("safetensors: %s (%s), header %d bytes, data section %d bytes (not read), %s",
		plural(len(h.Tensors), "tensor"), strings.Join(dts, ", "), h.Len, max(size-h.DataStart(), 0), meta)
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// short quotes a JSON value for evidence, cut to a readable length.
func short(raw []byte) string {
	if len(raw) > 60 {
		return string(raw[:60]) + "…"
	}
	return string(raw)
}

func quote(b []byte) string { return strconv.QuoteToASCII(string(b)) }
