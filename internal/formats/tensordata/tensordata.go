// Package tensordata recognises raw tensor-data files: files that hold
// nothing but tensor bytes, which their loader reads at offsets named by
// another file of the same folder and never interprets otherwise.
//
//   - ONNX external data (model.onnx_data, model.onnx.data, *.data, the
//     model.onnx_data_N shards of transformers.js repositories): a sibling
//     .onnx model names the file in a TensorProto's external_data
//     "location" entry, with "offset" and "length".
//   - OpenVINO IR weights (openvino_model.bin next to openvino_model.xml):
//     every Const layer's <data offset size> indexes into the .bin.
//   - TensorFlow.js weight shards (group1-shard1of3.bin): model.json's
//     weightsManifest[].paths lists them; a group's shards are concatenated
//     and cut into tensors by dtype × shape.
//
// None of these loaders can run code from the bytes: they become numbers.
// What makes such a file safe to pass is therefore not its content but the
// sibling that references it, so this analyser is registered after every
// content-based one (a pickle named model.onnx_data is still analysed as a
// pickle) and confirms a file only when a sibling really references it.
// Unconfirmed, the result is what an unrecognised file gets: format
// "unknown" and an error, so it stays not fully analysed. The data bytes
// themselves are never read: only the sibling is, within budgets.
package tensordata

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/modelgate/modelgate/internal/analyzer"
	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/knowledge"
)

// Analyzer handles raw tensor-data files named by a sibling model.
type Analyzer struct{}

// Format implements analyzer.Analyzer.
func (Analyzer) Format() string { return "tensor-data" }

// kind is the loader family a candidate sibling belongs to.
type kind int

const (
	kindONNX kind = iota
	kindOpenVINO
	kindTFJS
)

func (k kind) String() string {
	switch k {
	case kindONNX:
		return "ONNX model"
	case kindOpenVINO:
		return "OpenVINO IR"
	}
	return "TF.js model.json"
}

// candidate is a sibling that may reference the data file.
type candidate struct {
	file string
	kind kind
}

var (
	// onnxShard is transformers.js's numbering of further external-data
	// files of one model: model.onnx_data, model.onnx_data_1, ….
	onnxShard = regexp.MustCompile(`(?i)\.onnx_data_[0-9]{1,6}$`)
	// tfjsShard is tensorflowjs_converter's shard name; releases before
	// 1.0 wrote it without the .bin extension.
	tfjsShard = regexp.MustCompile(`^group[0-9]{1,6}-shard[0-9]{1,6}of[0-9]{1,6}$`)
)

// candidates lists the siblings that may reference a file, by the naming
// conventions of the writers, most likely first. Nil means the name is not
// one raw tensor data goes by.
//
//	X.onnx_data, X.onnx_data_N  optimum, transformers.js, onnx.save(location=X.onnx_data)
//	X.onnx.data                 onnxruntime-genai's model builder, Olive, torch.onnx
//	X.data                      other onnx.save callers
//	X.bin                       OpenVINO IR (X.xml), TF.js shards (model.json)
//
// model.onnx, the name optimum and transformers.js give the main model, is
// tried last for every ONNX name: onnx.save_model takes any location.
func candidates(name string) []candidate {
	lower := strings.ToLower(name)
	var cs []candidate
	onnxStem := ""
	switch {
	case strings.HasSuffix(lower, ".onnx_data"), strings.HasSuffix(lower, ".onnx.data"):
		onnxStem = name[:len(name)-len("_data")]
	case onnxShard.MatchString(lower):
		onnxStem = name[:strings.LastIndex(lower, ".onnx_data_")+len(".onnx")]
	case strings.HasSuffix(lower, ".data"):
		onnxStem = name[:len(name)-len(".data")] + ".onnx"
	case strings.HasSuffix(lower, ".bin"):
		cs = append(cs, candidate{name[:len(name)-len(".bin")] + ".xml", kindOpenVINO}, candidate{"model.json", kindTFJS})
	case tfjsShard.MatchString(lower):
		cs = append(cs, candidate{"model.json", kindTFJS})
	}
	if onnxStem != "" {
		if len(onnxStem) > len(".onnx") {
			cs = append(cs, candidate{onnxStem, kindONNX})
		}
		if onnxStem != "model.onnx" {
			cs = append(cs, candidate{"model.onnx", kindONNX})
		}
	}
	return cs
}

// Match takes names raw tensor data goes by; Analyze confirms them. Hidden
// files are left alone: a directory walk passes over them when nothing
// recognises them, and a name alone must not change that.
func (Analyzer) Match(name string, _ []byte) bool {
	base := baseName(name)
	return base != "" && base[0] != '.' && len(candidates(base)) > 0
}

func baseName(p string) string {
	if i := strings.LastIndexAny(p, "/\\"); i >= 0 {
		return p[i+1:]
	}
	return p
}

// sibling is an opened neighbouring file.
type sibling struct {
	name string
	r    io.ReaderAt
	size int64
}

// claim is what a sibling that references the data file says of it.
type claim struct {
	sibling string
	what    string // "ONNX external data", …
	detail  string // counts and coverage, for the summary
	issues  []finding.Finding
}

// check confirms that sib references the data file name of size bytes; why
// says otherwise. open reaches further siblings (TF.js's other shards).
type check func(ctx context.Context, name string, size int64, sib sibling, open opener) (c claim, ok bool, why string)

type opener func(rel string) (io.ReaderAt, int64, func() error, error)

var checks = map[kind]check{kindONNX: checkONNX, kindOpenVINO: checkOpenVINO, kindTFJS: checkTFJS}

// Analyze confirms that a sibling references the file and checks the
// ranges it names against the file's size. The file's own bytes are not
// read.
func (Analyzer) Analyze(ctx context.Context, in analyzer.Input, _ analyzer.Limits, out *analyzer.Output) error {
	name := baseName(in.Name)
	cands := candidates(name)
	if len(cands) == 0 {
		return unconfirmed(out, name, cands, []string{"not a name raw tensor data goes by"})
	}
	if in.Open == nil {
		return unconfirmed(out, name, cands, []string{"no neighbouring files can be read here (an archive member or standard input)"})
	}
	var why []string
	for _, c := range cands {
		if err := ctx.Err(); err != nil {
			out.Format = "unknown"
			return err
		}
		r, size, closeFn, err := in.Open(c.file)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				why = append(why, c.file+" not found")
			} else {
				why = append(why, fmt.Sprintf("%s could not be opened (%v)", c.file, err))
			}
			continue
		}
		cl, ok, whyNot := checks[c.kind](ctx, name, in.Size, sibling{c.file, r, size}, in.Open)
		if closeFn != nil {
			_ = closeFn()
		}
		if ok {
			out.Findings = append(out.Findings, cl.issues...)
			out.Add(finding.Finding{RuleID: knowledge.RuleFormatSummary, Severity: finding.Info, Offset: finding.NoOffset,
				Message: fmt.Sprintf("raw tensor bytes for %s (%s): read as raw bytes at offsets, never interpreted as code; %s", cl.sibling, cl.what, cl.detail)})
			return nil
		}
		why = append(why, whyNot)
	}
	if err := ctx.Err(); err != nil {
		out.Format = "unknown"
		return err
	}
	return unconfirmed(out, name, cands, why)
}

// unconfirmed makes the result of a file no sibling vouches for the same
// as that of a file no analyser recognises (scan.Engine's "unknown"), with
// the reason added.
func unconfirmed(out *analyzer.Output, name string, cands []candidate, why []string) error {
	out.Format = "unknown"
	var kinds []string
	for _, c := range cands {
		if k := c.kind.String(); !slices.Contains(kinds, k) {
			kinds = append(kinds, k)
		}
	}
	what := "model"
	if len(kinds) > 0 {
		what = strings.Join(kinds, " or ")
	}
	return fmt.Errorf("not a recognised model format: nothing was analysed (%s: no sibling %s references it: %s)",
		clip(name), what, strings.Join(why, "; "))
}

// sameFile says whether a reference, relative to the sibling's folder,
// names the data file: loaders join it to that folder (os.path.join,
// std::filesystem, URL resolution), so "./x" is x too.
func sameFile(ref, name string) bool {
	return ref != "" && path.Clean(ref) == name
}

// span is a byte range of the data file that a sibling references.
type span struct{ start, end int64 }

// coverage counts the bytes of [0, size) inside at least one span.
func coverage(spans []span, size int64) int64 {
	if len(spans) == 0 {
		return 0
	}
	slices.SortFunc(spans, func(a, b span) int { return cmp.Compare(a.start, b.start) })
	var n int64
	cur := span{-1, -1}
	for _, s := range spans {
		s.end = min(s.end, size)
		if s.start >= s.end {
			continue
		}
		if s.start > cur.end {
			n += max(cur.end-cur.start, 0)
			cur = s
			continue
		}
		cur.end = max(cur.end, s.end)
	}
	return n + max(cur.end-cur.start, 0)
}

// rangeIssue is a medium TENSOR-DATA-RANGE finding about one reference.
func rangeIssue(start, size int64, msg, evidence string) finding.Finding {
	off := finding.NoOffset
	if start >= 0 && start < size {
		off = start
	}
	return finding.Finding{RuleID: knowledge.RuleTensorDataRange, Severity: finding.Medium, Offset: off,
		Message: msg, Evidence: evidence}
}

// Caps on what one result lists.
const (
	maxIssues = 20
	maxListed = 8
)

// issues collects range findings, keeping the first maxIssues and counting
// the rest.
type issues struct {
	list []finding.Finding
	more int
}

func (is *issues) add(f finding.Finding) {
	if len(is.list) < maxIssues {
		is.list = append(is.list, f)
		return
	}
	is.more++
}

func (is *issues) findings(what string) []finding.Finding {
	if is.more > 0 {
		is.list = append(is.list, finding.Finding{RuleID: knowledge.RuleTensorDataRange, Severity: finding.Medium,
			Offset: finding.NoOffset, Message: fmt.Sprintf("%d more %s out of range", is.more, what)})
	}
	return is.list
}

// count renders "1 tensor", "2 tensors".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// clip shortens a string from a file for a message.
func clip(s string) string {
	const n = 200
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func list(items []string) string {
	if len(items) > maxListed {
		return strings.Join(items[:maxListed], ", ") + fmt.Sprintf(", … %d more", len(items)-maxListed)
	}
	return strings.Join(items, ", ")
}
