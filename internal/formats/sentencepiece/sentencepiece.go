// Package sentencepiece reads SentencePiece tokenizer models
// (tokenizer.model, spiece.model, sentencepiece.bpe.model): a serialized
// sentencepiece.ModelProto, as the C++ library writes and parses it.
//
// Loading one runs no code: the library parses the protobuf and builds its
// vocabulary and normaliser from it. The risk is a file that only claims to
// be a tokenizer — a pickle or zip renamed tokenizer.model — or a real model
// carrying a payload for other code in fields the library ignores. So Match
// is strict (the first piece must decode exactly as the schema says) and
// Analyze walks the whole message against the schema with every length
// capped, reports what the loader would refuse, and hands every blob the
// loader ignores to the engine as a nested input.
package sentencepiece

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/modelgate/modelgate/internal/analyzer"
	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/formats/picklefile"
	"github.com/modelgate/modelgate/internal/knowledge"
	"github.com/modelgate/modelgate/internal/pickle"
)

// tagPieces is ModelProto field 1 (pieces) with wire type 2: the first byte
// of every model the library writes (fields are serialised in number order,
// and a model without pieces does not load). It is not a pickle opcode, so
// pickle.load refuses a file that Match accepts at its first byte.
const tagPieces = 0x0a

const (
	// maxPieces caps the vocabulary (Gemma's 256 000 is the largest in
	// common use).
	maxPieces = 1 << 21
	// maxText is the longest string field read whole (UTF-8 checked,
	// sniffed); longer strings are oversized blobs.
	maxText = 64 << 10
	// maxCharsmap caps precompiled_charsmap (nmt_nfkc's is 240 KB).
	maxCharsmap = 64 << 20
	// maxNormalized is the longest normalised string a charsmap may map to
	// (real rules map a character to a few characters).
	maxNormalized = 1 << 10
	// bigBlob is where an unused field stops being a note and becomes room
	// for a payload.
	bigBlob = 1 << 10
	// minNested is the smallest blob handed to the engine.
	minNested = 16
	// maxNested caps the blobs handed to the engine; maxQuoted the
	// anomalies quoted per finding.
	maxNested = 64
	maxQuoted = 8
	// maxDepth bounds recursion; the schema itself is three levels deep.
	maxDepth = 4
)

// Analyzer handles SentencePiece models.
type Analyzer struct{}

// Format implements analyzer.Analyzer.
func (Analyzer) Format() string { return "sentencepiece" }

// Match implements analyzer.Analyzer, by content only (the names are
// free-form): the input starts with ModelProto.pieces, its first piece
// decodes with the schema's wire types and a non-empty UTF-8 piece, and the
// top-level fields after it, as far as the head shows, are length-delimited
// as the schema says.
func (Analyzer) Match(_ string, head []byte) bool {
	if len(head) < 2 || head[0] != tagPieces {
		return false
	}
	pieces := 0
	for b := head; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return pieces > 0
		}
		if num <= 5 && typ != protowire.BytesType {
			return false
		}
		if num > 5 || typ != protowire.BytesType {
			return pieces > 0 // an extension or anything else: Analyze judges
		}
		v, m := protowire.ConsumeBytes(b[n:])
		if m < 0 {
			return pieces > 0 // runs past the head (or the file: Analyze says so)
		}
		if num == 1 {
			if !pieceDecodes(v) {
				return false
			}
			pieces++
		}
		b = b[n+m:]
	}
	return pieces > 0
}

// pieceDecodes reports whether b is a SentencePiece message with a
// non-empty UTF-8 piece and nothing but the schema's fields.
func pieceDecodes(b []byte) bool {
	hasPiece := false
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		switch {
		case num == 1 && typ == protowire.BytesType:
			v, m := protowire.ConsumeBytes(b)
			if m < 0 || len(v) == 0 || !utf8.Valid(v) {
				return false
			}
			hasPiece, b = true, b[m:]
		case num == 2 && typ == protowire.Fixed32Type:
			if len(b) < 4 {
				return false
			}
			b = b[4:]
		case num == 3 && typ == protowire.VarintType:
			_, m := protowire.ConsumeVarint(b)
			if m < 0 {
				return false
			}
			b = b[m:]
		default:
			return false
		}
	}
	return hasPiece
}

// Model is what the walk found.
type Model struct {
	Pieces         int64
	ByType         [7]int64 // by SentencePiece.Type (0: out of range)
	ModelType      int64    // TrainerSpec.model_type, 0 when absent
	VocabSize      int64    // TrainerSpec.vocab_size, 0 when absent
	Normalizer     string   // NormalizerSpec.name
	Charsmap       int64    // bytes of precompiled_charsmap
	SelfTests      int64
	Denormalizer   bool
	HasTrainerSpec bool
}

// Analyze walks the whole ModelProto. The file is also decoded as a pickle
// from byte 0, as TFLite and safetensors do: Match's first byte already
// makes pickle.load refuse it, and this keeps it so if Match ever loosens.
func (Analyzer) Analyze(_ context.Context, in analyzer.Input, lim analyzer.Limits, out *analyzer.Output) error {
	if pr := picklefile.ReadAsPickle(in.R, in.Size, picklefile.Options{Limits: lim.Pickle, Catalogue: lim.Catalogue}); len(pr.Acts) > 0 {
		out.Findings = append(out.Findings, pr.Audit.Findings...)
		out.Nested = append(out.Nested, pr.Audit.Nested...)
	}
	w := &walker{rd: newReader(in.R, in.Size), r: in.R}
	err := w.walk(modelProto, 0, in.Size, 0)
	if err == nil {
		w.loaderChecks()
	}
	w.report(out, err == nil)
	if err != nil {
		return fmt.Errorf("sentencepiece: %w", err)
	}
	return nil
}

// kind is how a field's value is read.
type kind uint8

const (
	kText    kind = iota // string: UTF-8
	kBytes               // bytes
	kMessage             // a nested message
	kVarint              // int32, uint64, bool, enum
	kFloat               // float (fixed32)
)

func (k kind) wire() protowire.Type {
	switch k {
	case kVarint:
		return protowire.VarintType
	case kFloat:
		return protowire.Fixed32Type
	}
	return protowire.BytesType
}

type field struct {
	name string
	kind kind
	msg  *message
}

type message struct {
	name   string
	fields map[protowire.Number]field
}

// The schema, from sentencepiece_model.proto (google/sentencepiece,
// src/sentencepiece_model.proto; fields up to seed_sentencepieces_file = 54
// and denormalizer_spec = 5).
var (
	pieceMsg = &message{"SentencePiece", map[protowire.Number]field{
		1: {"piece", kText, nil}, 2: {"score", kFloat, nil}, 3: {"type", kVarint, nil},
	}}
	trainerSpec = &message{"TrainerSpec", fieldsOf(map[kind][]protowire.Number{
		kText:   {1, 7, 2, 5, 53, 30, 31, 36, 44, 45, 46, 47, 48, 54},
		kVarint: {3, 4, 6, 50, 52, 11, 19, 12, 13, 14, 18, 16, 17, 20, 21, 23, 22, 24, 26, 25, 35, 32, 33, 34, 40, 41, 42, 43, 49},
		kFloat:  {51, 10, 15},
	})}
	normalizerSpec = &message{"NormalizerSpec", map[protowire.Number]field{
		1: {"name", kText, nil}, 2: {"precompiled_charsmap", kBytes, nil},
		3: {"add_dummy_prefix", kVarint, nil}, 4: {"remove_extra_whitespaces", kVarint, nil},
		5: {"escape_whitespaces", kVarint, nil}, 6: {"normalization_rule_tsv", kText, nil},
	}}
	sampleMsg    = &message{"SelfTestData.Sample", map[protowire.Number]field{1: {"input", kText, nil}, 2: {"expected", kText, nil}}}
	selfTestData = &message{"SelfTestData", map[protowire.Number]field{1: {"samples", kMessage, sampleMsg}}}
	modelProto   = &message{"ModelProto", map[protowire.Number]field{
		1: {"pieces", kMessage, pieceMsg}, 2: {"trainer_spec", kMessage, trainerSpec},
		3: {"normalizer_spec", kMessage, normalizerSpec}, 4: {"self_test_data", kMessage, selfTestData},
		5: {"denormalizer_spec", kMessage, normalizerSpec},
	}}
)

func fieldsOf(by map[kind][]protowire.Number) map[protowire.Number]field {
	m := map[protowire.Number]field{}
	for k, nums := range by {
		for _, n := range nums {
			m[n] = field{"field " + strconv.Itoa(int(n)), k, nil}
		}
	}
	return m
}

// note is one anomaly, kept for a finding's evidence.
type note struct {
	off  int64
	text string
}

type walker struct {
	rd *reader
	r  io.ReaderAt
	m  Model

	malformed, unknown, embedded []note
	nMalformed, nUnknown         int
	bigUnknown                   bool
	nested                       []analyzer.Nested
	piece                        pieceState
	lastKnown                    int64 // end of the last top-level schema field
}

// pieceState is the piece being walked.
type pieceState struct {
	hasPiece bool
	typ      int64
}

func (w *walker) add(list *[]note, count *int, off int64, format string, args ...any) {
	if count != nil {
		*count++
	}
	if len(*list) < maxQuoted {
		*list = append(*list, note{off, fmt.Sprintf(format, args...)})
	}
}

// walk reads the fields of msg in [start, end). An error means the bytes
// stop parsing there: the loader's ParseFromArray fails on them too.
func (w *walker) walk(msg *message, start, end int64, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("%s at offset %d: nesting deeper than %d", msg.name, start, maxDepth)
	}
	for pos := start; pos < end; {
		b, err := w.rd.at(pos, int(min(maxTagAndLength, end-pos)))
		if err != nil {
			return err
		}
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return w.broken(msg, pos, end, depth, "tag", protowire.ParseError(n))
		}
		var vstart, vend int64
		switch typ {
		case protowire.VarintType:
			_, m := protowire.ConsumeVarint(b[n:])
			if m < 0 {
				return w.broken(msg, pos, end, depth, "varint", protowire.ParseError(m))
			}
			vstart, vend = pos+int64(n), pos+int64(n+m)
		case protowire.Fixed32Type, protowire.Fixed64Type:
			k := int64(4)
			if typ == protowire.Fixed64Type {
				k = 8
			}
			vstart, vend = pos+int64(n), pos+int64(n)+k
		case protowire.BytesType:
			l, m := protowire.ConsumeVarint(b[n:])
			if m < 0 {
				return w.broken(msg, pos, end, depth, "length", protowire.ParseError(m))
			}
			vstart = pos + int64(n+m)
			if l > uint64(end-vstart) {
				w.add(&w.malformed, &w.nMalformed, pos, "%s field %d claims %d bytes, %d left", msg.name, num, l, end-vstart)
				return fmt.Errorf("%s field %d at offset %d claims %d bytes, %d left (truncated); sentencepiece refuses the file", msg.name, num, pos, l, end-vstart)
			}
			vend = vstart + int64(l)
		default:
			return w.broken(msg, pos, end, depth, "wire type", fmt.Errorf("field %d has wire type %d (groups and types 6-7 are not in this schema)", num, typ))
		}
		if vend > end {
			return w.broken(msg, pos, end, depth, "value", io.ErrUnexpectedEOF)
		}
		f, known := msg.fields[num]
		switch {
		case !known:
			w.unknownField(msg, num, typ, pos, vstart, vend)
		case f.kind.wire() != typ:
			// Protobuf parsers keep a field with the wrong wire type as an
			// unknown field: the loader sees the default value.
			w.add(&w.malformed, &w.nMalformed, pos, "%s.%s with wire type %d, not %d", msg.name, f.name, typ, f.kind.wire())
			w.unknownField(msg, num, typ, pos, vstart, vend)
		default:
			if err := w.value(msg, num, f, b, n, pos, vstart, vend, depth); err != nil {
				return err
			}
		}
		pos = vend
		if depth == 0 && known {
			w.lastKnown = pos
		}
	}
	return nil
}

// maxTagAndLength is the longest tag plus the longest length varint.
const maxTagAndLength = 20

// broken records where the bytes stop parsing. At the top level the rest of
// the file, from the end of the last schema field (bytes appended to a
// model may first parse as a few unknown fields), is trailing data handed
// to the engine: a pickle or zip appended to a real model is analysed as
// such.
func (w *walker) broken(msg *message, pos, end int64, depth int, what string, err error) error {
	w.add(&w.malformed, &w.nMalformed, pos, "%s: bad %s at offset %d: %v", msg.name, what, pos, err)
	if depth == 0 && w.m.Pieces > 0 {
		w.blob("bytes after the model", w.lastKnown, end-w.lastKnown, true)
	}
	return fmt.Errorf("%s does not parse from offset %d (%s: %v); sentencepiece refuses the file", msg.name, pos, what, err)
}

func (w *walker) value(msg *message, num protowire.Number, f field, b []byte, n int, pos, vstart, vend int64, depth int) error {
	switch f.kind {
	case kMessage:
		return w.message(msg, num, f, pos, vstart, vend, depth)
	case kVarint:
		v, _ := protowire.ConsumeVarint(b[n:])
		w.varint(msg, num, v, pos)
	case kText:
		w.text(msg, f, pos, vstart, vend-vstart)
	case kBytes: // precompiled_charsmap, the only bytes field
		w.charsmap(vstart, vend-vstart)
	}
	return nil
}

func (w *walker) message(msg *message, num protowire.Number, f field, pos, vstart, vend int64, depth int) error {
	switch {
	case msg == modelProto && num == 1:
		w.m.Pieces++
		if w.m.Pieces > maxPieces {
			return fmt.Errorf("more than %d pieces", maxPieces)
		}
		w.piece = pieceState{typ: 1}
		if err := w.walk(f.msg, vstart, vend, depth+1); err != nil {
			return err
		}
		if !w.piece.hasPiece {
			w.add(&w.malformed, &w.nMalformed, pos, "piece %d has no piece string (the loader refuses empty pieces)", w.m.Pieces-1)
		}
		if w.piece.typ < 1 || w.piece.typ > 6 {
			w.piece.typ = 0
		}
		w.m.ByType[w.piece.typ]++
		return nil
	case msg == modelProto && num == 2:
		w.m.HasTrainerSpec = true
	case msg == modelProto && num == 5:
		w.m.Denormalizer = true
	case msg == selfTestData:
		w.m.SelfTests++
	}
	return w.walk(f.msg, vstart, vend, depth+1)
}

func (w *walker) varint(msg *message, num protowire.Number, v uint64, pos int64) {
	switch {
	case msg == pieceMsg && num == 3:
		w.piece.typ = int64(v)
		if v < 1 || v > 6 {
			w.add(&w.malformed, &w.nMalformed, pos, "piece %d has type %d, outside the Type enum (the loader reads NORMAL)", w.m.Pieces-1, v)
		}
	case msg == trainerSpec && num == 3:
		w.m.ModelType = int64(v)
		if v < 1 || v > 4 {
			w.add(&w.malformed, &w.nMalformed, pos, "trainer_spec.model_type %d is outside the ModelType enum", v)
		}
	case msg == trainerSpec && num == 4:
		w.m.VocabSize = int64(int32(v))
	}
}

// text checks a string field: UTF-8 (protobuf's proto2 runtime does not,
// but every string the library writes is), and, except for pieces, whether
// it is a pickle or zip. Strings past maxText are blobs.
func (w *walker) text(msg *message, f field, pos, off, n int64) {
	if n > maxText {
		w.add(&w.unknown, &w.nUnknown, pos, "%s.%s of %d bytes", msg.name, f.name, n)
		w.bigUnknown = true
		w.blob(msg.name+"."+f.name, off, n, true)
		return
	}
	b, err := w.rd.at(off, int(n))
	if err != nil {
		return // the walk reads past it and reports the truncation
	}
	if msg == pieceMsg {
		w.piece.hasPiece = n > 0
		if !utf8.Valid(b) {
			w.add(&w.malformed, &w.nMalformed, pos, "piece %d is not UTF-8: %s", w.m.Pieces-1, quote(b))
		}
		return
	}
	if msg == normalizerSpec && f.name == "name" && w.m.Normalizer == "" {
		w.m.Normalizer = clip(string(b), 64)
	}
	if !utf8.Valid(b) {
		w.add(&w.malformed, &w.nMalformed, pos, "%s.%s is not UTF-8: %s", msg.name, f.name, quote(b))
	}
	if n >= minNested && sniff(b) != "" {
		w.blob(msg.name+"."+f.name, off, n, false)
	}
}

// charsmap checks precompiled_charsmap as normalizer.cc decodes it: a
// little-endian uint32 trie size, the Darts double-array trie (4-byte
// units), then the NUL-terminated UTF-8 strings the trie points into.
// The trie units are not checked: they are only offsets into the strings.
func (w *walker) charsmap(off, n int64) {
	w.m.Charsmap = n
	switch {
	case n == 0:
		return
	case n > maxCharsmap:
		w.add(&w.malformed, &w.nMalformed, off, "precompiled_charsmap of %d bytes, more than the cap of %d", n, maxCharsmap)
		w.blob("precompiled_charsmap", off, n, true)
		return
	case n <= 4:
		w.add(&w.malformed, &w.nMalformed, off, "precompiled_charsmap of %d bytes has no trie (the loader refuses it)", n)
		return
	}
	b, err := w.rd.at(off, 4)
	if err != nil {
		return
	}
	trie := int64(uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24)
	if trie >= n-4 || trie%4 != 0 {
		w.add(&w.malformed, &w.nMalformed, off, "precompiled_charsmap trie size %d does not fit its %d bytes in 4-byte units (the loader refuses or misreads it)", trie, n)
		return
	}
	w.normalized(off+4+trie, n-4-trie)
}

// normalized checks the charsmap's strings: UTF-8, each NUL-terminated and
// short. A long string is sniffed and handed over: it is where a payload
// would sit.
func (w *walker) normalized(off, n int64) {
	var s []byte
	var length, start int64 = 0, off
	for pos := off; pos < off+n; {
		b, err := w.rd.at(pos, int(min(window, off+n-pos)))
		if err != nil {
			return
		}
		for i, c := range b {
			if c != 0 {
				if length < maxNormalized {
					s = append(s, c)
				}
				length++
				continue
			}
			w.normalizedString(s, start, length)
			s, length, start = s[:0], 0, pos+int64(i)+1
		}
		pos += int64(len(b))
	}
	if length > 0 {
		w.add(&w.malformed, &w.nMalformed, start, "precompiled_charsmap ends inside a string (%d bytes without NUL)", length)
		w.normalizedString(s, start, length)
	}
}

func (w *walker) normalizedString(s []byte, start, length int64) {
	if length > maxNormalized {
		w.add(&w.malformed, &w.nMalformed, start, "precompiled_charsmap maps to a string of %d bytes", length)
		w.blob("precompiled_charsmap string", start, length, false)
		return
	}
	if !utf8.Valid(s) {
		w.add(&w.malformed, &w.nMalformed, start, "precompiled_charsmap string at offset %d is not UTF-8: %s", start, quote(s))
	}
}

// unknownField records a field outside the schema and hands its content to
// the engine.
func (w *walker) unknownField(msg *message, num protowire.Number, typ protowire.Type, pos, vstart, vend int64) {
	n := vend - vstart
	what := fmt.Sprintf("%s field %d (wire type %d, %d bytes)", msg.name, num, typ, n)
	w.add(&w.unknown, &w.nUnknown, pos, "%s", what)
	if typ != protowire.BytesType {
		return
	}
	if n >= bigBlob {
		w.bigUnknown = true
	}
	w.blob(fmt.Sprintf("%s field %d", msg.name, num), vstart, n, true)
}

// blob hands [off, off+n) to the engine (always when always is set, else
// only when it sniffs as a pickle or zip), and records a pickle or zip.
func (w *walker) blob(what string, off, n int64, always bool) {
	if n < minNested {
		return
	}
	head, _ := w.rd.at(off, int(min(n, pickle.SniffSize)))
	kind := sniff(head)
	if kind != "" {
		w.add(&w.embedded, nil, off, "%s at offset %d is a %s (%d bytes)", what, off, kind, n)
	}
	if (always || kind != "") && len(w.nested) < maxNested {
		w.nested = append(w.nested, analyzer.Nested{
			Name: fmt.Sprintf("%s-at-%d", strings.ReplaceAll(what, " ", "-"), off),
			R:    io.NewSectionReader(w.r, off, n), Size: n, Optional: kind == "",
		})
	}
}

// sniff says whether b starts like a pickle or a zip.
func sniff(b []byte) string {
	switch {
	case bytes.HasPrefix(b, []byte("PK\x03\x04")), bytes.HasPrefix(b, []byte("PK\x05\x06")):
		return "zip"
	case pickle.Sniff(b):
		return "pickle"
	}
	return ""
}

// loaderChecks are the vocabulary checks of the library's
// ModelInterface::InitializePieces that a whole walk can make.
func (w *walker) loaderChecks() {
	switch {
	case w.m.Pieces == 0:
		w.add(&w.malformed, &w.nMalformed, finding.NoOffset, "no pieces (the loader refuses an empty vocabulary)")
	case w.m.ByType[2] != 1:
		w.add(&w.malformed, &w.nMalformed, finding.NoOffset, "%d <unk> (UNKNOWN) pieces, not exactly one (the loader refuses the model)", w.m.ByType[2])
	}
}

var modelTypes = map[int64]string{1: "unigram", 2: "bpe", 3: "word", 4: "char"}

func (w *walker) report(out *analyzer.Output, whole bool) {
	if len(w.malformed) > 0 {
		out.Add(finding.Finding{RuleID: knowledge.RuleSentencePieceMalformed, Severity: finding.Medium, Offset: w.malformed[0].off,
			Message:  fmt.Sprintf("the ModelProto does not follow sentencepiece_model.proto as the library reads it (%s)", plural(int64(w.nMalformed), "anomaly", "anomalies")),
			Evidence: joinNotes(w.malformed, w.nMalformed)})
	}
	if len(w.unknown) > 0 {
		sev, msg := finding.Low, "fields outside the schema: the loader keeps them but never uses them; their content is analysed as nested input"
		if w.bigUnknown {
			sev, msg = finding.Medium, "fields outside the schema or oversized, carrying 1 KiB or more that the loader never uses; their content is analysed as nested input"
		}
		out.Add(finding.Finding{RuleID: knowledge.RuleSentencePieceUnknownField, Severity: sev, Offset: w.unknown[0].off,
			Message: msg, Evidence: joinNotes(w.unknown, w.nUnknown)})
	}
	if len(w.embedded) > 0 {
		out.Add(finding.Finding{RuleID: knowledge.RuleSentencePieceEmbedded, Severity: finding.Medium, Offset: w.embedded[0].off,
			Message:  "a pickle or zip inside the tokenizer model: sentencepiece ignores it, other code may load it; analysed as a nested input",
			Evidence: joinNotes(w.embedded, len(w.embedded))})
	}
	out.Nested = append(out.Nested, w.nested...)
	if !whole {
		return
	}
	m := w.m
	msg := "SentencePiece model: " + plural(m.Pieces, "piece", "pieces")
	var types []string
	for i, name := range []string{"out-of-range", "normal", "unknown", "control", "user-defined", "unused", "byte"} {
		if m.ByType[i] > 0 {
			types = append(types, fmt.Sprintf("%d %s", m.ByType[i], name))
		}
	}
	msg += " (" + strings.Join(types, ", ") + ")"
	if m.HasTrainerSpec {
		name := modelTypes[m.ModelType]
		if m.ModelType == 0 {
			name = "unigram (default)"
		} else if name == "" {
			name = "type " + strconv.FormatInt(m.ModelType, 10)
		}
		msg += fmt.Sprintf(", model type %s, vocab_size %d", name, m.VocabSize)
	}
	if m.Normalizer != "" || m.Charsmap > 0 {
		msg += fmt.Sprintf(", normalizer %q (charsmap %d bytes)", m.Normalizer, m.Charsmap)
	}
	if m.Denormalizer {
		msg += ", denormalizer"
	}
	if m.SelfTests > 0 {
		msg += ", " + plural(m.SelfTests, "self-test sample", "self-test samples")
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

func plural(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func quote(b []byte) string {
	if len(b) > 32 {
		return strconv.Quote(string(b[:32])) + "…"
	}
	return strconv.Quote(string(b))
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// window is how much reader fetches at a time.
const window = 64 << 10

// reader serves small reads at increasing offsets from one buffered window,
// so that a vocabulary of 256 000 pieces costs a few hundred ReadAt calls.
type reader struct {
	r    io.ReaderAt
	size int64
	buf  []byte
	off  int64
}

func newReader(r io.ReaderAt, size int64) *reader { return &reader{r: r, size: size} }

// at returns the n (at most window) bytes at pos; the slice is valid until
// the next call. Fewer than n bytes left in the input is an error.
func (w *reader) at(pos int64, n int) ([]byte, error) {
	if n > window || n < 0 {
		return nil, fmt.Errorf("read of %d bytes: more than the window", n)
	}
	if pos < 0 || pos+int64(n) > w.size {
		return nil, fmt.Errorf("read at %d: %w", pos, io.ErrUnexpectedEOF)
	}
	if pos >= w.off && pos+int64(n) <= w.off+int64(len(w.buf)) {
		return w.buf[pos-w.off : pos-w.off+int64(n)], nil
	}
	if w.buf == nil {
		w.buf = make([]byte, window)
	}
	k := int(min(window, w.size-pos))
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
