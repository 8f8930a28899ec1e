// Package onnx reads ONNX models (a protobuf ModelProto) without running
// them: the operators every graph, subgraph and local function uses, and the
// external_data locations of every tensor. Tensor payloads, which make up
// nearly all of a model, are skipped by offset and never read.
//
// ONNX itself runs no code on load. What a model file can make a loader do
// is read files named by its tensors' external_data (THREATS.md 29: path
// traversal, and onnxruntime's in-memory address tag) and require native
// custom-operator libraries for operators outside the standard domains.
package onnx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/modelgate/modelgate/internal/analyzer"
	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/formats/picklefile"
	"github.com/modelgate/modelgate/internal/knowledge"
	"github.com/modelgate/modelgate/internal/pickle"
)

// Analyzer handles ONNX model files.
type Analyzer struct{}

// Format implements analyzer.Analyzer.
func (Analyzer) Format() string { return "onnx" }

// Match recognises a ModelProto by decoding the head: protobuf has no magic
// bytes. Every field in the head must be well formed, the first one and
// every known one must carry the wire type onnx.proto gives it, and the head
// must show something only a model has: an ir_version field with a
// plausible value, a graph whose first field is a GraphProto field, or an
// opset_import that decodes. Writers put ir_version (tag 0x08) first, and
// 0x08 is not a pickle opcode, so real models never look like pickles.
// producer_name and the other strings must be text: TensorFlow's SavedModel
// and Core ML also start with a varint 1 then field 2, a binary message.
// The ".onnx" extension only relaxes the need for a second field and lets a
// truncated model be recognised (and reported as such).
func (Analyzer) Match(name string, head []byte) bool {
	h := sniff(head)
	onnxName := strings.HasSuffix(strings.ToLower(name), ".onnx")
	if !h.ok || !h.strong || (h.cut && !onnxName) {
		return false
	}
	return h.fields >= 2 || onnxName
}

// modelWire is the wire type of every ModelProto field, for Match.
var modelWire = map[protowire.Number]protowire.Type{
	modelIRVersion: protowire.VarintType, modelProducerName: protowire.BytesType,
	modelProducerVersion: protowire.BytesType, modelDomain: protowire.BytesType,
	modelModelVersion: protowire.VarintType, 6 /* doc_string */ : protowire.BytesType,
	modelGraph: protowire.BytesType, modelOpsetImport: protowire.BytesType,
	modelMetadataProps: protowire.BytesType, modelTrainingInfo: protowire.BytesType,
	modelFunctions: protowire.BytesType,
}

// graphWire is the wire type of every GraphProto field, for Match.
var graphWire = map[protowire.Number]protowire.Type{
	graphNode: protowire.BytesType, 2 /* name */ : protowire.BytesType, graphInitializer: protowire.BytesType,
	10 /* doc_string */ : protowire.BytesType, 11 /* input */ : protowire.BytesType, 12 /* output */ : protowire.BytesType,
	13 /* value_info */ : protowire.BytesType, 14 /* quantization_annotation */ : protowire.BytesType,
	graphSparseInitializer: protowire.BytesType, 16 /* metadata_props */ : protowire.BytesType,
}

// sniffed is what the head of an input shows.
type sniffed struct {
	strong bool // a model-only field was seen
	fields int  // fields decoded
	ok     bool // nothing malformed, no known field with the wrong wire type
	cut    bool // the whole input is shorter than its fields say (truncated)
}

// sniff decodes the ModelProto fields of head. A field that runs past the
// end of a full head is normal (the graph holds the tensors); past the end
// of a shorter head, the file itself is cut short.
func sniff(head []byte) sniffed {
	var h sniffed
	full := len(head) >= analyzer.HeadSize
	stop := func() sniffed { // a field runs past the end of head
		h.ok, h.cut = h.fields > 0, !full
		return h
	}
	for b := head; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			if len(b) < 16 && errors.Is(protowire.ParseError(n), io.ErrUnexpectedEOF) {
				return stop()
			}
			return h
		}
		want, known := modelWire[num]
		if (known && want != typ) || (!known && h.fields == 0) || num > protowire.MaxValidNumber {
			return h
		}
		h.fields++
		b = b[n:]
		if typ == protowire.BytesType {
			v, m := protowire.ConsumeVarint(b)
			if m < 0 {
				if errors.Is(protowire.ParseError(m), io.ErrUnexpectedEOF) {
					return stop()
				}
				return h
			}
			content := b[m:]
			past := v > uint64(len(content))
			if !past {
				content = content[:v]
			}
			switch num {
			case modelProducerName, modelProducerVersion, modelDomain, 6 /* doc_string */ :
				// Text. Other protobuf formats that also start with a
				// small varint 1 (TensorFlow's SavedModel, Core ML) put
				// a binary message in field 2.
				if !textual(content, past) {
					return h
				}
			case modelGraph:
				gn, gt, k := protowire.ConsumeTag(content)
				want, known := graphWire[gn]
				h.strong = h.strong || v == 0 || (k > 0 && known && want == gt)
			case modelOpsetImport:
				h.strong = h.strong || (!past && opsetDecodes(content))
			}
			if past {
				return stop()
			}
			b = b[m+int(v):]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			if errors.Is(protowire.ParseError(m), io.ErrUnexpectedEOF) {
				return stop()
			}
			return h
		}
		if num == modelIRVersion {
			v, _ := protowire.ConsumeVarint(b)
			h.strong = h.strong || (v >= 1 && v < 64)
		}
		b = b[m:]
	}
	h.ok = true
	return h
}

// textual says whether b is UTF-8 text without control characters other
// than tab and newlines; cut allows a rune cut at the end.
func textual(b []byte, cut bool) bool {
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n <= 1 {
			return cut && len(b) < utf8.UTFMax && !utf8.FullRune(b)
		}
		if r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0x7f {
			return false
		}
		b = b[n:]
	}
	return true
}

// opsetDecodes says whether b is an OperatorSetIdProto with a version.
func opsetDecodes(b []byte) bool {
	version := false
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return false
		}
		switch {
		case num == opsetDomain && typ == protowire.BytesType:
		case num == opsetVersion && typ == protowire.VarintType:
			version = true
		default:
			return false
		}
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if m < 0 {
			return false
		}
		b = b[n+m:]
	}
	return version
}

// Analyze walks the model and reports its external data and operators.
// Findings made before a malformed field are kept.
func (Analyzer) Analyze(ctx context.Context, in analyzer.Input, lim analyzer.Limits, out *analyzer.Output) error {
	w := &walker{ctx: ctx, src: newSource(in.R, in.Size)}
	m := newModel(w)
	err := m.walkModel(0, in.Size)
	switch {
	case errors.Is(err, errLimit):
		out.Add(finding.Finding{RuleID: knowledge.RuleScanLimit, Severity: finding.Medium, Offset: finding.NoOffset,
			Message: fmt.Sprintf("ONNX model not read to the end: %v", err)})
	case err != nil && ctx.Err() == nil:
		err = fmt.Errorf("malformed ONNX protobuf: %w", err)
	}
	m.report(out, err == nil)
	// A file that is both a model and a pickle is read by whichever loader
	// is handed it: analyse the pickle reading as well. Real models start
	// with 0x08, which is not a pickle opcode, so this costs them nothing.
	head := make([]byte, min(int64(analyzer.HeadSize), in.Size))
	if n, _ := in.R.ReadAt(head, 0); n == len(head) && pickle.Sniff(head) {
		au := picklefile.Run(in.R, 0, in.Size, picklefile.Options{Limits: lim.Pickle, Catalogue: lim.Catalogue})
		out.Findings = append(out.Findings, au.Findings...)
		out.Nested = append(out.Nested, au.Nested...)
		out.Add(finding.Finding{RuleID: knowledge.RuleFormatSummary, Severity: finding.Medium, Offset: 0,
			Message: "the file decodes both as an ONNX model and as a pickle: pickle.load would run the pickle, which was analysed too"})
		err = errors.Join(err, au.Result.Err)
	}
	return err
}

// Caps on what one finding lists.
const (
	maxLocationFindings = 100
	maxListed           = 20
)

// report turns what the walk found into findings. complete says whether the
// walk reached the end of the model.
func (m *model) report(out *analyzer.Output, complete bool) {
	m.reportExternalData(out)
	m.reportOperators(out)
	out.Add(finding.Finding{RuleID: knowledge.RuleFormatSummary, Severity: finding.Info, Offset: finding.NoOffset,
		Message: m.summary(complete)})
}

func (m *model) reportExternalData(out *analyzer.Output) {
	var inside []string
	bad := 0
	for _, loc := range m.extOrder {
		r := m.ext[loc]
		why := escapes(r.location)
		if why == "" && r.truncated {
			why = fmt.Sprintf("longer than %d bytes, not checked", maxLocation)
		}
		if why == "" {
			inside = append(inside, r.location)
			continue
		}
		bad++
		if bad > maxLocationFindings {
			continue
		}
		msg := fmt.Sprintf("tensor %q reads its data from %q, %s: loading the model reads a file outside the model's directory", r.tensor, clip(r.location), why)
		if r.location == memoryAddressTag {
			msg = fmt.Sprintf("tensor %q has external data location %q (%s): onnxruntime-based loaders such as OpenVINO's read memory at an address the file chooses", r.tensor, r.location, why)
		}
		if r.count > 1 {
			msg += fmt.Sprintf(" (%d tensors)", r.count)
		}
		if r.notExtern {
			msg += "; data_location is not EXTERNAL, so current loaders ignore it"
		}
		out.Add(finding.Finding{RuleID: knowledge.RuleONNXExternalData, Severity: finding.High, Offset: r.off,
			Message: msg, Evidence: fmt.Sprintf("location=%q", clip(r.location))})
	}
	if bad > maxLocationFindings {
		out.Add(finding.Finding{RuleID: knowledge.RuleONNXExternalData, Severity: finding.High, Offset: finding.NoOffset,
			Message: fmt.Sprintf("%d more external data locations outside the model's directory", bad-maxLocationFindings)})
	}
	if len(inside) > 0 {
		out.Add(finding.Finding{RuleID: knowledge.RuleONNXExternalData, Severity: finding.Info, Offset: finding.NoOffset,
			Message: fmt.Sprintf("%s keep their data in %s next to the model; scanning this file alone does not read them (a directory or repository scan checks each as tensor-data)",
				count(m.externalTensors, "tensor"), count(len(inside), "external file")),
			Evidence: list(inside, func(s string) string { return fmt.Sprintf("%q", clip(s)) })})
	}
}

// reportOperators reports custom domains (medium, one finding per domain)
// and onnxruntime's built-in domains (info). Nodes that call a function
// defined in the model itself need no library: the runtime inlines it.
func (m *model) reportOperators(out *analyzer.Output) {
	byDomain := map[string][]opKey{}
	var domains []string
	var ortOps []opKey
	localCalls := 0
	for _, op := range m.opOrder {
		if m.functions[op] && !pythonOps[op.op] {
			localCalls += m.ops[op].count
			continue
		}
		switch classify(op) {
		case classOnnxruntime:
			ortOps = append(ortOps, op)
		case classCustom:
			if byDomain[op.domain] == nil {
				domains = append(domains, op.domain)
			}
			byDomain[op.domain] = append(byDomain[op.domain], op)
		}
	}
	for i, d := range domains {
		if i == maxLocationFindings {
			out.Add(finding.Finding{RuleID: knowledge.RuleONNXCustomDomain, Severity: finding.Medium, Offset: finding.NoOffset,
				Message: fmt.Sprintf("%d more custom operator domains", len(domains)-i)})
			break
		}
		ops := byDomain[d]
		nodes, off := 0, int64(-1)
		var python []string
		for _, op := range ops {
			st := m.ops[op]
			nodes += st.count
			if off < 0 || st.off < off {
				off = st.off
			}
			if pythonOps[op.op] {
				python = append(python, fmt.Sprintf("%s(%s)", op.op, attrList(st.attrs)))
			}
		}
		msg := fmt.Sprintf("%s use operators from domain %q, which neither ONNX nor onnxruntime defines: loading the model needs a custom-operator library (native code) registered for that domain", count(nodes, "node"), clip(d))
		if python != nil {
			msg = fmt.Sprintf("%s in domain %q run Python code named by the model where onnxruntime supports it (language-interop or training builds): %s", count(nodes, "node"), domainName(d), strings.Join(python, ", "))
		}
		out.Add(finding.Finding{RuleID: knowledge.RuleONNXCustomDomain, Severity: finding.Medium, Offset: off,
			Message: msg, Evidence: m.opList(ops)})
	}
	if len(ortOps) > 0 {
		slices.SortStableFunc(ortOps, func(a, b opKey) int { return strings.Compare(a.domain, b.domain) })
		out.Add(finding.Finding{RuleID: knowledge.RuleONNXCustomDomain, Severity: finding.Info, Offset: finding.NoOffset,
			Message:  "onnxruntime contrib operators: built into onnxruntime, they need no custom-operator library",
			Evidence: m.opList(ortOps)})
	}
	if localCalls > 0 {
		out.Add(finding.Finding{RuleID: knowledge.RuleONNXCustomDomain, Severity: finding.Info, Offset: finding.NoOffset,
			Message: fmt.Sprintf("%s call functions defined in the model (%s), which runtimes inline: no library needed", count(localCalls, "node"), count(m.functionsDefined, "function"))})
	}
}

// opList renders operators as "domain: Op ×n, Op; domain: Op".
func (m *model) opList(ops []opKey) string {
	var b strings.Builder
	for i, op := range ops {
		if i == maxListed {
			fmt.Fprintf(&b, ", … %d more", len(ops)-i)
			break
		}
		switch {
		case i == 0 || op.domain != ops[i-1].domain:
			if i > 0 {
				b.WriteString("; ")
			}
			fmt.Fprintf(&b, "%s: ", domainName(op.domain))
		default:
			b.WriteString(", ")
		}
		b.WriteString(clip(op.op))
		if n := m.ops[op].count; n > 1 {
			fmt.Fprintf(&b, " ×%d", n)
		}
	}
	return b.String()
}

func (m *model) summary(complete bool) string {
	var b strings.Builder
	b.WriteString("ONNX model")
	if m.hasIRVersion {
		fmt.Fprintf(&b, ", IR version %d", m.irVersion)
	} else {
		b.WriteString(", no ir_version (onnxruntime refuses it)")
	}
	if len(m.opsets) > 0 {
		var s []string
		for _, o := range m.opsets[:min(len(m.opsets), maxListed)] {
			s = append(s, fmt.Sprintf("%s %d", domainName(o.domain), o.version))
		}
		if len(m.opsets) > maxListed {
			s = append(s, "…")
		}
		fmt.Fprintf(&b, ", opsets %s", strings.Join(s, ", "))
	}
	if m.producer != "" || m.producerVersion != "" {
		fmt.Fprintf(&b, ", producer %q", clip(strings.TrimSpace(m.producer+" "+m.producerVersion)))
	}
	fmt.Fprintf(&b, "; %s", count(m.nodes, "node"))
	if m.subgraphs > 0 || m.trainingGraphs > 0 {
		fmt.Fprintf(&b, " (+%d in %s)", m.subgraphNodes, count(m.subgraphs+m.trainingGraphs, "subgraph"))
	}
	if m.functionsDefined > 0 {
		fmt.Fprintf(&b, ", %s (%s)", count(m.functionsDefined, "local function"), count(m.functionNodes, "node"))
	}
	fmt.Fprintf(&b, ", %s", count(m.initializers, "initializer"))
	if m.sparse > 0 {
		fmt.Fprintf(&b, " (+%d sparse)", m.sparse)
	}
	if m.externalTensors > 0 {
		fmt.Fprintf(&b, ", %s with external data", count(m.externalTensors, "tensor"))
	}
	if m.metadataProps > 0 {
		fmt.Fprintf(&b, ", %s", count(m.metadataProps, "metadata entry"))
	}
	if !m.hasGraph {
		b.WriteString("; no graph")
	}
	if !complete {
		b.WriteString(" (so far: the model was not read to the end)")
	} else {
		b.WriteString(" (tensor data not read)")
	}
	return b.String()
}

// count renders "1 node", "2 nodes", "2 metadata entries".
func count(n int, noun string) string {
	switch {
	case n == 1:
		return "1 " + noun
	case strings.HasSuffix(noun, "y"):
		return fmt.Sprintf("%d %sies", n, noun[:len(noun)-1])
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func domainName(d string) string {
	if d == "" {
		return "ai.onnx"
	}
	return clip(d)
}

func attrList(attrs []strAttr) string {
	var s []string
	for _, a := range attrs {
		s = append(s, fmt.Sprintf("%s=%q", clip(a.name), clip(a.value)))
	}
	return strings.Join(s, ", ")
}

func list(items []string, f func(string) string) string {
	var s []string
	for i, it := range items {
		if i == maxListed {
			s = append(s, fmt.Sprintf("… %d more", len(items)-i))
			break
		}
		s = append(s, f(it))
	}
	return strings.Join(s, ", ")
}

// clip shortens a string from the file for a message.
func clip(s string) string {
	const n = 200
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
