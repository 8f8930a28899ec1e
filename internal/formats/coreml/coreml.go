// Package coreml reads Apple Core ML models: the .mlmodel protobuf
// (CoreML.Specification.Model, apple/coremltools mlmodel/format), alone or
// as Data/com.apple.CoreML/model.mlmodel inside an .mlpackage folder, and
// the package's ML-program weight file (weights/weight.bin, MIL blob
// storage v2; see milblob.go).
//
// Loading a Core ML model runs Apple's own layers and ops, a closed set
// that Core ML compiles: the file itself holds no code. What it can do is
// ask for code or for other files: a neural network's custom layer and a
// custom model name an Objective-C/Swift class that the app must supply
// (MLCustomLayer, MLCustomModel), a linked model names another compiled
// model found on a file-system search path, and an ML program names the
// files its weights are in. Those are reported. The walk is strict like the
// SentencePiece analyser's: every length is checked before use, what Core
// ML would refuse is COREML-MALFORMED, fields outside the schema are
// reported and handed to the engine (an embedded pickle or zip is then
// found), and weight bytes are never read, only skipped by length.
//
// ML programs (MIL.proto) have no notion of a custom op: Operation.type
// names an op of the function's opset, which Core ML implements or refuses
// at compile time (coremltools' custom ops exist only for the neuralNetwork
// backend, where they become CustomLayerParams and are reported as such).
// Op types are therefore counted for the summary, not judged.
package coreml

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/modelgate/modelgate/internal/analyzer"
	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/knowledge"
	"github.com/modelgate/modelgate/internal/pickle"
)

// tagSpecVersion is Model field 1 (specificationVersion) with wire type 0:
// the first byte of every model coremltools writes (fields are serialised
// in number order and the version is never 0). It is not a pickle opcode,
// so pickle.load refuses a file that Match accepts at its first byte.
const tagSpecVersion = 0x08

const (
	// maxSpecVersion is the highest specificationVersion Match accepts: 9
	// is Core ML 8 (iOS 18), the rest is room for the yearly releases. A
	// later version is not recognised (and so refused by the gate) until
	// this is raised.
	maxSpecVersion = 12
	// maxText is the longest string read whole; longer strings are blobs.
	maxText = 64 << 10
	// bigBlob is where an unknown field stops being a note and becomes
	// room for a payload.
	bigBlob = 1 << 10
	// minNested is the smallest blob handed to the engine; maxNested caps
	// them, maxQuoted the anomalies quoted per finding.
	minNested = 16
	maxNested = 64
	maxQuoted = 8
	// maxDepth is protobuf's default recursion limit (the C++ parser Core
	// ML uses refuses deeper messages).
	maxDepth = 100
	// maxNames caps the inputs, outputs, functions and op types kept for
	// the summary; maxBlobRefs the weight references checked.
	maxNames    = 256
	maxBlobRefs = 1 << 17
	// maxTagAndLength is the longest tag plus the longest length varint.
	maxTagAndLength = 20
)

// Analyzer handles .mlmodel files.
type Analyzer struct{}

// Format implements analyzer.Analyzer.
func (Analyzer) Format() string { return "coreml" }

// Match implements analyzer.Analyzer. A Core ML model has no magic, so it
// needs both the .mlmodel name and a content check: the first field is
// specificationVersion in 1..maxSpecVersion, and the next one is a Model
// field with the schema's wire type (a description whose own first field
// is a ModelDescription field with the right wire type). A pickle, a zip
// or a SentencePiece model fails at byte 0; an ONNX model at its
// producer_name or graph.
func (Analyzer) Match(name string, head []byte) bool {
	if !hasSuffixFold(name, ".mlmodel") || len(head) < 2 || head[0] != tagSpecVersion {
		return false
	}
	v, n := protowire.ConsumeVarint(head[1:])
	if n < 0 || v < 1 || v > maxSpecVersion {
		return false
	}
	b := head[1+n:]
	num, typ, k := protowire.ConsumeTag(b)
	if k < 0 {
		return false
	}
	f, ok := modelMsg.fields[num]
	if !ok || f.kind.wire() != typ || num == fieldSpecVersion {
		return false
	}
	if f.msg != modelDesc {
		return true
	}
	l, m := protowire.ConsumeVarint(b[k:])
	if m < 0 {
		return false
	}
	d := b[k+m:]
	if uint64(len(d)) > l {
		d = d[:l]
	}
	if len(d) == 0 {
		return l == 0 || len(head) == analyzer.HeadSize
	}
	dn, dt, dk := protowire.ConsumeTag(d)
	fd, ok := modelDesc.fields[dn]
	return dk > 0 && ok && fd.kind.wire() == dt
}

func hasSuffixFold(name, suffix string) bool {
	return len(name) >= len(suffix) && strings.EqualFold(name[len(name)-len(suffix):], suffix)
}

// Analyze walks the whole Model and, when the model references weight
// files beside it, checks that each reference points at blob metadata.
func (Analyzer) Analyze(ctx context.Context, in analyzer.Input, _ analyzer.Limits, out *analyzer.Output) error {
	w := &walker{rd: newReader(in.R, in.Size), r: in.R, ctx: ctx, modelLevel: 1, opTypes: map[string]int{}}
	err := w.walk(modelMsg, 0, in.Size, 0)
	if err == nil {
		// Bytes appended to a model can parse as a few unknown fields;
		// if they start like a pickle or zip they are handed over whole.
		if w.lastKnown < in.Size {
			w.blob("bytes after the last schema field", w.lastKnown, in.Size-w.lastKnown, false)
		}
		w.modelChecks()
	}
	weights := w.checkWeights(in)
	w.report(out, err == nil, weights)
	if err != nil {
		return fmt.Errorf("coreml: %w", err)
	}
	return nil
}

// note is one anomaly or one named thing, kept for a finding's evidence.
type note struct {
	off  int64
	text string
}

// function is one ML-program function.
type function struct {
	name string
	ops  int
}

// blobRef is one BlobFileValue.
type blobRef struct {
	pos    int64 // offset of the BlobFileValue in the model file
	file   string
	offset uint64
}

// link is one LinkedModelFile.
type link struct {
	pos        int64
	name, path string
}

type walker struct {
	rd    *reader
	r     io.ReaderAt
	ctx   context.Context
	steps int

	malformed, unknown, embedded, custom []note
	nMalformed, nUnknown, nCustom        int
	bigUnknown                           bool
	nested                               []analyzer.Nested
	lastKnown                            int64 // end of the last top-level schema field

	// What the walk found. modelLevel is 1 in the file's Model, 2 in the
	// models of its pipeline, and so on.
	modelLevel      int
	specVersion     int64
	hasSpec         bool
	types           []string // the top-level Model's Type fields, in order
	subTypes        []string // the types of the pipeline's models
	nSubModels      int
	role            string // "input" or "output" while in a top-level FeatureDescription
	inputs, outputs []string
	layers          int
	layerName       string
	sawClass        bool
	linkRole        string
	links           []link
	curLink         *link
	functions       []*function
	curFunction     *function
	ops             int
	opTypes         map[string]int
	blobs           []blobRef
	nBlobs          int
	curBlob         *blobRef
	serializedID    string
	isUpdatable     bool
}

func (w *walker) add(list *[]note, count *int, off int64, format string, args ...any) {
	if count != nil {
		*count++
	}
	if len(*list) < maxQuoted {
		*list = append(*list, note{off, fmt.Sprintf(format, args...)})
	}
}

// field decodes the tag and value bounds of the field at pos in [pos, end).
// err is set when the bytes stop parsing there.
func (w *walker) field(msgName string, pos, end int64) (num protowire.Number, typ protowire.Type, b []byte, n int, vstart, vend int64, what string, err error) {
	b, err = w.rd.at(pos, int(min(maxTagAndLength, end-pos)))
	if err != nil {
		return 0, 0, nil, 0, 0, 0, "read", err
	}
	num, typ, n = protowire.ConsumeTag(b)
	if n < 0 {
		return 0, 0, nil, 0, 0, 0, "tag", protowire.ParseError(n)
	}
	switch typ {
	case protowire.VarintType:
		_, m := protowire.ConsumeVarint(b[n:])
		if m < 0 {
			return num, typ, nil, 0, 0, 0, "varint", protowire.ParseError(m)
		}
		vstart, vend = pos+int64(n), pos+int64(n+m)
	case protowire.Fixed32Type:
		vstart, vend = pos+int64(n), pos+int64(n)+4
	case protowire.Fixed64Type:
		vstart, vend = pos+int64(n), pos+int64(n)+8
	case protowire.BytesType:
		l, m := protowire.ConsumeVarint(b[n:])
		if m < 0 {
			return num, typ, nil, 0, 0, 0, "length", protowire.ParseError(m)
		}
		vstart = pos + int64(n+m)
		if l > uint64(end-vstart) {
			return num, typ, nil, 0, 0, 0, "length", fmt.Errorf("%s field %d claims %d bytes, %d left (truncated)", msgName, num, l, end-vstart)
		}
		vend = vstart + int64(l)
	default:
		return num, typ, nil, 0, 0, 0, "wire type", fmt.Errorf("field %d has wire type %d (groups and types 6-7 are not in this schema)", num, typ)
	}
	if vend > end {
		return num, typ, nil, 0, 0, 0, "value", io.ErrUnexpectedEOF
	}
	return num, typ, b, n, vstart, vend, "", nil
}

// walk reads the fields of msg in [start, end). An error means the bytes
// stop parsing there: Core ML's parser refuses them too.
func (w *walker) walk(msg *message, start, end int64, depth int) error {
	if depth > maxDepth {
		w.add(&w.malformed, &w.nMalformed, start, "%s nested deeper than %d messages", msg.name, maxDepth)
		return fmt.Errorf("%s at offset %d: nesting deeper than %d (protobuf's recursion limit)", msg.name, start, maxDepth)
	}
	for pos := start; pos < end; {
		if err := w.tick(); err != nil {
			return err
		}
		num, typ, b, n, vstart, vend, what, err := w.field(msg.name, pos, end)
		if err != nil {
			return w.broken(msg, pos, end, depth, what, err)
		}
		f, known := msg.fields[num]
		switch {
		case !known:
			w.unknownField(msg, num, typ, pos, vstart, vend)
		case f.kind.wire() != typ:
			// Protobuf parsers keep a field with the wrong wire type as an
			// unknown field: Core ML sees the default value.
			w.add(&w.malformed, &w.nMalformed, pos, "%s.%s with wire type %d, not %d", msg.name, f.name, typ, f.kind.wire())
			w.unknownField(msg, num, typ, pos, vstart, vend)
		default:
			if msg == modelMsg {
				w.modelField(num)
			}
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

// tick checks for cancellation every few thousand fields.
func (w *walker) tick() error {
	w.steps++
	if w.steps&0xfff == 0 {
		return w.ctx.Err()
	}
	return nil
}

// broken records where the bytes stop parsing. At the top level the rest of
// the file, from the end of the last schema field, is handed to the engine:
// a pickle or zip appended to a real model is analysed as such.
func (w *walker) broken(msg *message, pos, end int64, depth int, what string, err error) error {
	w.add(&w.malformed, &w.nMalformed, pos, "%s: bad %s at offset %d: %v", msg.name, what, pos, err)
	if depth == 0 && w.lastKnown > 0 {
		w.blob("bytes after the model", w.lastKnown, end-w.lastKnown, true)
	}
	return fmt.Errorf("%s does not parse from offset %d (%s: %v); Core ML refuses the file", msg.name, pos, what, err)
}

// modelField records the top-level fields of a Model.
func (w *walker) modelField(num protowire.Number) {
	name, isType := modelTypes[num]
	switch {
	case !isType:
	case w.modelLevel == 1:
		w.types = append(w.types, name)
	case w.modelLevel == 2:
		w.nSubModels++
		if len(w.subTypes) < maxNames {
			w.subTypes = append(w.subTypes, name)
		}
	}
}

func (w *walker) value(msg *message, num protowire.Number, f field, b []byte, n int, pos, vstart, vend int64, depth int) error {
	switch f.kind {
	case kMessage:
		return w.message(msg, num, f, pos, vstart, vend, depth)
	case kOpaque:
		return w.opaque(msg, f, vstart, vend, depth)
	case kVarint:
		v, _ := protowire.ConsumeVarint(b[n:])
		w.varint(msg, num, v, pos)
	case kText:
		w.text(msg, num, f, pos, vstart, vend-vstart)
	case kBytes:
		// Weights and raw data are never read. The two bytes fields that
		// are not weights are a private serialised model and a custom
		// model's parameter: both are opaque to Core ML's own code, so
		// they are handed to the engine (a pickle or zip is found).
		switch msg {
		case serializedMsg:
			w.blob("SerializedModel.model", vstart, vend-vstart, true)
		case customModelValue:
			w.blob("CustomModel parameter bytesValue", vstart, vend-vstart, false)
		}
	}
	return nil
}

// message walks a nested message, keeping the context its fields need.
func (w *walker) message(parent *message, num protowire.Number, f field, pos, vstart, vend int64, depth int) error {
	walk := func() error { return w.walk(f.msg, vstart, vend, depth+1) }
	switch m := f.msg; {
	case m == modelMsg:
		w.modelLevel++
		defer func() { w.modelLevel-- }()
	case m == featureDesc && w.modelLevel == 1 && (parent == modelDesc || parent == functionDesc):
		switch {
		case parent == modelDesc && num == 1, parent == functionDesc && num == 2:
			w.role = "input"
		case parent == modelDesc && num == 10, parent == functionDesc && num == 3:
			w.role = "output"
		}
		defer func() { w.role = "" }()
	case m == nnLayer:
		w.layers++
		saved := w.layerName
		w.layerName = ""
		defer func() { w.layerName = saved }()
	case m == customLayer, m == customModel:
		what := "custom layer"
		if m == customModel {
			what = "custom model"
		}
		w.sawClass = false
		if err := walk(); err != nil {
			return err
		}
		if !w.sawClass {
			w.add(&w.custom, &w.nCustom, pos, "%s without a className%s", what, w.inLayer())
		}
		return nil
	case m == linkedModelFile:
		w.curLink = &link{pos: pos}
		if err := walk(); err != nil {
			return err
		}
		w.links = append(w.links, *w.curLink)
		w.curLink = nil
		return nil
	case m == stringParam && parent == linkedModelFile:
		w.linkRole = "name"
		if num == 2 {
			w.linkRole = "path"
		}
		defer func() { w.linkRole = "" }()
	case m == functionEntry:
		saved := w.curFunction
		w.curFunction = &function{}
		if len(w.functions) < maxNames {
			w.functions = append(w.functions, w.curFunction)
		}
		defer func() { w.curFunction = saved }()
	case m == operation:
		w.ops++
		if w.curFunction != nil {
			w.curFunction.ops++
		}
	case m == blobFileValue:
		w.curBlob = &blobRef{pos: pos}
		if err := walk(); err != nil {
			return err
		}
		w.nBlobs++
		if len(w.blobs) < maxBlobRefs {
			w.blobs = append(w.blobs, *w.curBlob)
		}
		w.curBlob = nil
		return nil
	}
	return walk()
}

func (w *walker) inLayer() string {
	if w.layerName == "" {
		return ""
	}
	return " (layer " + quote([]byte(w.layerName)) + ")"
}

// opaque checks the tags and lengths of a message this schema does not
// model, one level deep, without reading its values: they are weights,
// shapes and parameters that Core ML interprets as numbers.
func (w *walker) opaque(parent *message, f field, start, end int64, depth int) error {
	if depth+1 > maxDepth {
		return nil
	}
	for pos := start; pos < end; {
		if err := w.tick(); err != nil {
			return err
		}
		_, _, _, _, _, vend, what, err := w.field(parent.name+"."+f.name, pos, end)
		if err != nil {
			w.add(&w.malformed, &w.nMalformed, pos, "%s.%s: bad %s at offset %d: %v", parent.name, f.name, what, pos, err)
			return fmt.Errorf("%s.%s does not parse from offset %d (%s: %v); Core ML refuses the file", parent.name, f.name, pos, what, err)
		}
		pos = vend
	}
	return nil
}

func (w *walker) varint(msg *message, num protowire.Number, v uint64, pos int64) {
	switch {
	case msg == modelMsg && num == fieldSpecVersion && w.modelLevel == 1:
		w.specVersion, w.hasSpec = int64(int32(v)), true
	case msg == modelMsg && num == 10 && w.modelLevel == 1:
		w.isUpdatable = v != 0
	case msg == blobFileValue && num == 2 && w.curBlob != nil:
		w.curBlob.offset = v
	}
}

// text reads a string field, records what the summary and the detections
// need, and sniffs it for a pickle or zip. Strings past maxText are blobs.
func (w *walker) text(msg *message, num protowire.Number, f field, pos, off, n int64) {
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
	s := string(b)
	switch {
	case msg == featureDesc && num == 1 && w.role == "input":
		w.inputs = appendCapped(w.inputs, s)
	case msg == featureDesc && num == 1 && w.role == "output":
		w.outputs = appendCapped(w.outputs, s)
	case msg == nnLayer && num == 1:
		w.layerName = s
	case msg == customLayer && num == 10:
		w.sawClass = true
		w.add(&w.custom, &w.nCustom, pos, "custom layer class %s%s", quote(b), w.inLayer())
	case msg == customModel && num == 10:
		w.sawClass = true
		w.add(&w.custom, &w.nCustom, pos, "custom model class %s", quote(b))
	case msg == stringParam && w.curLink != nil && w.linkRole == "name":
		w.curLink.name = s
	case msg == stringParam && w.curLink != nil && w.linkRole == "path":
		w.curLink.path = s
	case msg == functionEntry && num == 1 && w.curFunction != nil:
		w.curFunction.name = s
	case msg == operation && num == 1:
		if _, ok := w.opTypes[s]; ok || len(w.opTypes) < maxNames {
			w.opTypes[s]++
		}
	case msg == blobFileValue && num == 1 && w.curBlob != nil:
		w.curBlob.file = s
	case msg == serializedMsg && num == 1:
		w.serializedID = s
	}
	if n >= minNested && sniff(b) != "" {
		w.blob(msg.name+"."+f.name, off, n, false)
	}
}

func appendCapped(list []string, s string) []string {
	if len(list) < maxNames {
		return append(list, s)
	}
	return list
}

// unknownField records a field outside the schema and hands its content to
// the engine.
func (w *walker) unknownField(msg *message, num protowire.Number, typ protowire.Type, pos, vstart, vend int64) {
	n := vend - vstart
	w.add(&w.unknown, &w.nUnknown, pos, "%s field %d (wire type %d, %d bytes)", msg.name, num, typ, n)
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

// modelChecks are what Core ML checks of a whole Model before compiling it
// (MLModel's validators): a version, and exactly one model type.
func (w *walker) modelChecks() {
	if !w.hasSpec || w.specVersion < 1 {
		w.add(&w.malformed, &w.nMalformed, finding.NoOffset, "specificationVersion %d (Core ML refuses a model without a version)", w.specVersion)
	}
	switch len(w.types) {
	case 0:
		w.add(&w.malformed, &w.nMalformed, finding.NoOffset, "no model type (the oneof Type is not set: Core ML refuses the model)")
	case 1:
	default:
		// Protobuf keeps the last member of a oneof; a tool that stops at
		// the first sees another model.
		w.add(&w.malformed, &w.nMalformed, finding.NoOffset, "%d model types (%s): protobuf keeps the last one, other readers may take the first",
			len(w.types), strings.Join(w.types, ", "))
	}
}

// pathEscapes says whether a file path, as a loader would join it to the
// model's folder, may point outside it: absolute (Unix, Windows drive or
// UNC), or with a ".." component.
func pathEscapes(p string) bool {
	p = strings.ReplaceAll(p, `\`, "/")
	if strings.HasPrefix(p, "/") || strings.HasPrefix(p, "~") || (len(p) >= 2 && p[1] == ':') {
		return true
	}
	return slices.Contains(strings.Split(p, "/"), "..")
}

// modelPathPrefix is how an ML program names its package's folder.
const modelPathPrefix = "@model_path/"

// weightsCheck is what checkWeights found.
type weightsCheck struct {
	files  []string // distinct weight files referenced, in order
	status map[string]string
}

// checkWeights opens the weight files the ML program references, when the
// model has neighbours (an .mlpackage on disk), and checks that every
// reference lands on blob metadata whose data lies in the file. Only the
// 64-byte header and metadata records are read, never weight data.
func (w *walker) checkWeights(in analyzer.Input) weightsCheck {
	wc := weightsCheck{status: map[string]string{}}
	byFile := map[string][]blobRef{}
	for _, b := range w.blobs {
		if _, seen := byFile[b.file]; !seen && len(wc.files) < maxQuoted {
			wc.files = append(wc.files, b.file)
		}
		byFile[b.file] = append(byFile[b.file], b)
	}
	for _, file := range wc.files {
		rel, ok := strings.CutPrefix(file, modelPathPrefix)
		switch {
		case pathEscapes(file) || pathEscapes(rel):
			wc.status[file] = "outside the package: not opened"
			continue
		case !ok:
			wc.status[file] = "not under @model_path: not checked"
			continue
		case in.Open == nil:
			wc.status[file] = "no neighbouring files here: not checked"
			continue
		}
		r, size, closeFn, err := in.Open(path.Clean(rel))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				wc.status[file] = "not found beside the model: not checked"
			} else {
				wc.status[file] = fmt.Sprintf("could not be opened (%v): not checked", err)
			}
			continue
		}
		wc.status[file] = w.checkBlobRefs(file, r, size, byFile[file])
		if closeFn != nil {
			_ = closeFn()
		}
	}
	return wc
}

// checkBlobRefs checks references into one weight file.
func (w *walker) checkBlobRefs(file string, r io.ReaderAt, size int64, refs []blobRef) string {
	var hdr [headerSize]byte
	if size < headerSize {
		w.add(&w.malformed, &w.nMalformed, refs[0].pos, "weight file %s has %d bytes, less than its header", quote([]byte(file)), size)
		return "too short"
	}
	if _, err := r.ReadAt(hdr[:], 0); err != nil {
		return fmt.Sprintf("unreadable (%v)", err)
	}
	if v := le32(hdr[4:]); v != storageVersion {
		w.add(&w.malformed, &w.nMalformed, refs[0].pos, "weight file %s has storage version %d, not 2 (Core ML refuses it)", quote([]byte(file)), v)
		return "wrong version"
	}
	bad := 0
	seen := map[uint64]bool{}
	for _, ref := range refs {
		if seen[ref.offset] {
			continue
		}
		seen[ref.offset] = true
		if why := metadataAt(r, size, ref.offset); why != "" {
			bad++
			w.add(&w.malformed, &w.nMalformed, ref.pos, "weight reference %s offset %d: %s", quote([]byte(file)), ref.offset, why)
		}
	}
	if bad > 0 {
		return fmt.Sprintf("%d of %d offsets are not blob metadata", bad, len(seen))
	}
	return fmt.Sprintf("all %d offsets are blob metadata within the file", len(seen))
}

// metadataAt says what is wrong with the blob metadata at off, or "".
func metadataAt(r io.ReaderAt, size int64, off uint64) string {
	if off > uint64(size) || uint64(size)-off < metadataSize {
		return fmt.Sprintf("past the end of the file (%d bytes)", size)
	}
	var md [metadataSize]byte
	if _, err := r.ReadAt(md[:], int64(off)); err != nil {
		return err.Error()
	}
	if le32(md[:]) != sentinel {
		return "no blob metadata sentinel there"
	}
	dataOff, n := le64(md[16:]), le64(md[8:])
	if dataOff > uint64(size) || n > uint64(size)-dataOff {
		return fmt.Sprintf("its data (%d bytes at %d) runs past the end of the file", n, dataOff)
	}
	return ""
}

func (w *walker) report(out *analyzer.Output, whole bool, wc weightsCheck) {
	if len(w.custom) > 0 {
		out.Add(finding.Finding{RuleID: knowledge.RuleCoreMLCustomLayer, Severity: finding.Medium, Offset: w.custom[0].off,
			Message: fmt.Sprintf("the model names native code the app must supply (%s): Core ML instantiates that class (MLCustomLayer / MLCustomModel) and runs it on every prediction; the file says which code it expects to run, not what that code does",
				plural(int64(w.nCustom), "custom class", "custom classes")),
			Evidence: joinNotes(w.custom, w.nCustom)})
	}
	w.reportLinks(out)
	w.reportBlobPaths(out)
	if len(w.malformed) > 0 {
		out.Add(finding.Finding{RuleID: knowledge.RuleCoreMLMalformed, Severity: finding.Medium, Offset: w.malformed[0].off,
			Message:  fmt.Sprintf("the model does not follow the Core ML schema as Core ML reads it (%s)", plural(int64(w.nMalformed), "anomaly", "anomalies")),
			Evidence: joinNotes(w.malformed, w.nMalformed)})
	}
	if len(w.unknown) > 0 {
		sev, msg := finding.Low, "fields outside the Core ML schema: Core ML keeps them but never uses them; their content is analysed as nested input"
		if w.bigUnknown {
			sev, msg = finding.Medium, "fields outside the Core ML schema or oversized strings, carrying 1 KiB or more that Core ML never uses; their content is analysed as nested input"
		}
		out.Add(finding.Finding{RuleID: knowledge.RuleCoreMLUnknownField, Severity: sev, Offset: w.unknown[0].off,
			Message: msg, Evidence: joinNotes(w.unknown, w.nUnknown)})
	}
	if len(w.embedded) > 0 {
		out.Add(finding.Finding{RuleID: knowledge.RuleCoreMLEmbedded, Severity: finding.Medium, Offset: w.embedded[0].off,
			Message:  "a pickle or zip inside the Core ML model: Core ML ignores it, other code may load it; analysed as a nested input",
			Evidence: joinNotes(w.embedded, len(w.embedded))})
	}
	out.Nested = append(out.Nested, w.nested...)
	out.Add(finding.Finding{RuleID: knowledge.RuleFormatSummary, Severity: finding.Info, Offset: finding.NoOffset, Message: w.summary(whole, wc)})
}

// reportLinks reports each linked model: medium when its file name or a
// search path may leave the model's folder, info otherwise. Core ML loads
// the linked compiled model from there; it is not part of this file and
// was not analysed.
func (w *walker) reportLinks(out *analyzer.Output) {
	for i, l := range w.links {
		if i == maxQuoted {
			out.Add(finding.Finding{RuleID: knowledge.RuleCoreMLLinkedModel, Severity: finding.Info, Offset: finding.NoOffset,
				Message: fmt.Sprintf("%d more linked models", len(w.links)-maxQuoted)})
			break
		}
		var escaping []string
		if pathEscapes(l.name) {
			escaping = append(escaping, "file name "+strconv.Quote(clip(l.name)))
		}
		special := false
		for _, p := range strings.Split(l.path, ":") {
			switch {
			case strings.HasPrefix(p, "$BUNDLE_MAIN"), strings.HasPrefix(p, "$BUNDLE_IDENTIFIER("):
				special = true
			case pathEscapes(p):
				escaping = append(escaping, "search path "+strconv.Quote(clip(p)))
			}
		}
		ev := fmt.Sprintf("linkedModelFileName %q, linkedModelSearchPath %q", clip(l.name), clip(l.path))
		f := finding.Finding{RuleID: knowledge.RuleCoreMLLinkedModel, Severity: finding.Info, Offset: l.pos, Evidence: ev,
			Message: "linked model: Core ML loads another compiled model from a file beside this one; that file is not part of this one and was not analysed here"}
		switch {
		case len(escaping) > 0:
			f.Severity = finding.Medium
			f.Message = "linked model outside the model's folder (" + strings.Join(escaping, ", ") + "): Core ML loads a compiled model from anywhere that path reaches; it was not analysed"
		case special:
			f.Message = "linked model searched in an app bundle ($BUNDLE_MAIN / $BUNDLE_IDENTIFIER): Core ML loads a compiled model shipped with the app; it was not analysed"
		}
		out.Add(f)
	}
}

// reportBlobPaths reports weight files named by an absolute path or one
// with "..": Core ML would read weights from outside the package.
func (w *walker) reportBlobPaths(out *analyzer.Output) {
	var bad []note
	n := 0
	seen := map[string]bool{}
	for _, b := range w.blobs {
		rel := strings.TrimPrefix(b.file, modelPathPrefix)
		if seen[b.file] || !(pathEscapes(b.file) || pathEscapes(rel)) {
			continue
		}
		seen[b.file] = true
		w.add(&bad, &n, b.pos, "%s", strconv.Quote(clip(b.file)))
	}
	if len(bad) > 0 {
		out.Add(finding.Finding{RuleID: knowledge.RuleCoreMLWeightPath, Severity: finding.Medium, Offset: bad[0].off,
			Message:  "ML-program weights referenced outside the model package (absolute path or '..'): Core ML reads them from wherever the path leads; they are not part of this package and were not analysed",
			Evidence: joinNotes(bad, n)})
	}
}

func (w *walker) summary(whole bool, wc weightsCheck) string {
	var b strings.Builder
	b.WriteString("Core ML model")
	if !whole {
		b.WriteString(" (partial: the walk stopped at an error)")
	}
	fmt.Fprintf(&b, ": specification version %d", w.specVersion)
	switch {
	case len(w.types) == 0:
		b.WriteString(", no model type")
	default:
		b.WriteString(", " + w.types[len(w.types)-1])
	}
	if w.serializedID != "" {
		fmt.Fprintf(&b, " (identifier %q)", clip(w.serializedID))
	}
	if w.isUpdatable {
		b.WriteString(" (updatable)")
	}
	if w.nSubModels > 0 {
		fmt.Fprintf(&b, " of %s (%s)", plural(int64(w.nSubModels), "model", "models"), list(w.subTypes, w.nSubModels))
	}
	if w.layers > 0 {
		fmt.Fprintf(&b, ", %s", plural(int64(w.layers), "neural-network layer", "neural-network layers"))
	}
	if len(w.inputs) > 0 {
		b.WriteString("; inputs: " + list(quoteAll(w.inputs), len(w.inputs)))
	}
	if len(w.outputs) > 0 {
		b.WriteString("; outputs: " + list(quoteAll(w.outputs), len(w.outputs)))
	}
	if len(w.functions) > 0 {
		var fs []string
		for _, f := range w.functions {
			fs = append(fs, fmt.Sprintf("%s (%s)", strconv.Quote(clip(f.name)), plural(int64(f.ops), "op", "ops")))
		}
		b.WriteString("; ML program functions: " + list(fs, len(fs)))
	}
	if w.ops > 0 {
		b.WriteString("; op types: " + topOps(w.opTypes))
	}
	if w.nBlobs > 0 {
		var ws []string
		for _, f := range wc.files {
			ws = append(ws, fmt.Sprintf("%s (%s)", strconv.Quote(clip(f)), wc.status[f]))
		}
		fmt.Fprintf(&b, "; %s to weight files: %s", plural(int64(w.nBlobs), "weight reference", "weight references"), strings.Join(ws, ", "))
	}
	return b.String()
}

// topOps lists the most used op types with their counts.
func topOps(counts map[string]int) string {
	type kv struct {
		k string
		v int
	}
	var kvs []kv
	for k, v := range counts {
		kvs = append(kvs, kv{k, v})
	}
	sort.Slice(kvs, func(i, j int) bool {
		if kvs[i].v != kvs[j].v {
			return kvs[i].v > kvs[j].v
		}
		return kvs[i].k < kvs[j].k
	})
	var s []string
	for _, e := range kvs {
		s = append(s, fmt.Sprintf("%s %d", clip(e.k), e.v))
	}
	return list(s, len(s))
}

func quoteAll(ss []string) []string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(clip(s))
	}
	return q
}

// list joins the first maxQuoted items of a list of total items.
func list(items []string, total int) string {
	if len(items) > maxQuoted {
		items = items[:maxQuoted]
	}
	s := strings.Join(items, ", ")
	if total > len(items) {
		s += fmt.Sprintf(", … %d more", total-len(items))
	}
	return s
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
	if len(b) > 64 {
		return strconv.Quote(string(b[:64])) + "…"
	}
	return strconv.Quote(string(b))
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
