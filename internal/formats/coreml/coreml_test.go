package coreml_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/modelgate/modelgate/internal/analyzer"
	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/formats/coreml"
	"github.com/modelgate/modelgate/internal/knowledge"
	"github.com/modelgate/modelgate/internal/pickle"
	"github.com/modelgate/modelgate/internal/report"
	"github.com/modelgate/modelgate/internal/scan"
)

var update = flag.Bool("update", false, "rewrite testdata/ from the builders")

// ---- helpers -------------------------------------------------------------------------

func read(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.ReaderAt
	n atomic.Int64
}

func (c *countingReader) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.n.Add(int64(n))
	return n, err
}

func opener(files map[string][]byte) func(string) (io.ReaderAt, int64, func() error, error) {
	return func(rel string) (io.ReaderAt, int64, func() error, error) {
		b, ok := files[rel]
		if !ok {
			return nil, 0, nil, fmt.Errorf("open %s: %w", rel, fs.ErrNotExist)
		}
		return bytes.NewReader(b), int64(len(b)), func() error { return nil }, nil
	}
}

func analyze(t testing.TB, a analyzer.Analyzer, name string, data []byte, siblings map[string][]byte) (analyzer.Output, error) {
	t.Helper()
	lim := analyzer.DefaultLimits()
	var out analyzer.Output
	in := analyzer.Input{Name: name, R: bytes.NewReader(data), Size: int64(len(data)), Budget: analyzer.NewBudget(lim)}
	if siblings != nil {
		in.Open = opener(siblings)
	}
	err := a.Analyze(context.Background(), in, lim, &out)
	return out, err
}

func findings(out analyzer.Output, rule string) []finding.Finding {
	var fs []finding.Finding
	for _, f := range out.Findings {
		if f.RuleID == rule {
			fs = append(fs, f)
		}
	}
	return fs
}

func summary(fs []finding.Finding) string {
	for _, f := range fs {
		if f.RuleID == knowledge.RuleFormatSummary {
			return f.Message
		}
	}
	return ""
}

func describe(fs []finding.Finding, errs []string) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "\n  %s %s %s | %s", f.Severity, f.RuleID, f.Message, f.Evidence)
	}
	for _, e := range errs {
		b.WriteString("\n  error: " + e)
	}
	return b.String()
}

func nestedStartsWith(out analyzer.Output, prefix string) bool {
	for _, n := range out.Nested {
		b := make([]byte, len(prefix))
		if k, _ := n.R.ReadAt(b, 0); k == len(b) && string(b) == prefix {
			return true
		}
	}
	return false
}

// ---- fixtures --------------------------------------------------------------------------

// TestFixturesAreCurrent keeps testdata/ equal to its builders.
func TestFixturesAreCurrent(t *testing.T) {
	for name, want := range fixtures() {
		path := filepath.Join("testdata", filepath.FromSlash(name))
		if *update {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%s: %v (regenerate with -update)", name, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from its builder (regenerate with -update)", name)
		}
	}
}

// entry is one manifest.json line: the fields internal/scan's fixture
// test reads, and what this package checks further.
type manifestEntry struct {
	File        string            `json:"file"`
	Expect      string            `json:"expect"`
	Description string            `json:"description"`
	Format      string            `json:"format"`
	MinSeverity string            `json:"min_severity"`
	Evidence    string            `json:"evidence"`
	Rules       map[string]string `json:"rules"`   // rule → severity it must fire at
	Absent      []string          `json:"absent"`  // rules that must not fire
	Error       bool              `json:"error"`   // the scan must report an error
	Summary     []string          `json:"summary"` // substrings of the format summary
}

func manifest(t *testing.T) []manifestEntry {
	t.Helper()
	var m []manifestEntry
	if err := json.Unmarshal(read(t, "manifest.json"), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestManifest scans every fixture through the real engine (registry order,
// nested inputs, siblings) and checks format, rules, severities, errors and
// the summary.
func TestManifest(t *testing.T) {
	entries := manifest(t)
	listed := map[string]bool{}
	for _, e := range entries {
		listed[e.File] = true
		t.Run(e.File, func(t *testing.T) {
			res := scan.New().ScanPaths(context.Background(), []string{filepath.Join("testdata", filepath.FromSlash(e.File))})
			if len(res) != 1 {
				t.Fatalf("%d results", len(res))
			}
			r := res[0]
			ctx := describe(r.Findings, r.Errors)
			if r.Format != e.Format {
				t.Errorf("format %q, want %q%s", r.Format, e.Format, ctx)
			}
			if got := len(r.Errors) > 0; got != e.Error {
				t.Errorf("errors %v, want error %v%s", r.Errors, e.Error, ctx)
			}
			for rule, sev := range e.Rules {
				want, err := finding.ParseSeverity(sev)
				if err != nil {
					t.Fatal(err)
				}
				found := false
				for _, f := range r.Findings {
					found = found || (f.RuleID == rule && f.Severity == want)
				}
				if !found {
					t.Errorf("no %s %s%s", sev, rule, ctx)
				}
			}
			for _, rule := range e.Absent {
				for _, f := range r.Findings {
					if f.RuleID == rule {
						t.Errorf("%s fired%s", rule, ctx)
					}
				}
			}
			sum := summary(r.Findings)
			for _, s := range e.Summary {
				if !strings.Contains(sum, s) {
					t.Errorf("summary %q lacks %q", sum, s)
				}
			}
			doc := report.Document{Files: []scan.FileResult{r}, FailOn: finding.High}
			if e.Expect == "benign" && doc.Verdict() != report.Pass {
				t.Errorf("verdict %s, want pass%s", doc.Verdict(), ctx)
			}
			if e.Expect == "malicious" && doc.Verdict() != report.Fail {
				t.Errorf("verdict %s, want fail%s", doc.Verdict(), ctx)
			}
		})
	}
	for name := range fixtures() {
		if !listed[name] && !strings.HasSuffix(name, ".json") {
			t.Errorf("%s is not in manifest.json", name)
		}
	}
}

// TestPackageDirectory scans a whole .mlpackage folder as a user would:
// the model and its weights are recognised and pass, Manifest.json is
// passed over, nothing is left unanalysed.
func TestPackageDirectory(t *testing.T) {
	res := scan.New().ScanPaths(context.Background(), []string{filepath.Join("testdata", "benign", "MLProgram.mlpackage")})
	formats := map[string]bool{}
	for _, r := range res {
		formats[r.Format] = true
		if len(r.Errors) > 0 {
			t.Errorf("%s: %v", r.Path, r.Errors)
		}
		if m, ok := finding.Max(r.Findings); ok && m > finding.Info {
			t.Errorf("%s: %s", r.Path, describe(r.Findings, nil))
		}
	}
	if len(res) != 2 || !formats["coreml"] || !formats["coreml-weights"] {
		t.Errorf("results %+v", res)
	}
}

// ---- Match -----------------------------------------------------------------------------

func TestMatch(t *testing.T) {
	nn := read(t, "benign/neuralnetwork.mlmodel")
	evil := evilPickle()
	onnxLike := msg{}.varint(1, 8).str(2, "pytorch").str(3, "2.1").bytes(7, msg{}.str(2, "g"))
	onnxNoProducer := msg{}.varint(1, 8).bytes(7, msg{}.bytes(1, msg{}.str(1, "X")))
	spm := msg{}.bytes(1, msg{}.str(1, "<unk>").varint(3, 2))
	tests := []struct {
		name, file string
		data       []byte
		want       bool
	}{
		{"neural network", "model.mlmodel", nn, true},
		{"upper-case extension", "Model.MLMODEL", nn, true},
		{"pipeline", "p.mlmodel", read(t, "benign/pipeline.mlmodel"), true},
		{"ml program", "model.mlmodel", read(t, pkgDir+"Data/com.apple.CoreML/model.mlmodel"), true},
		{"truncated head", "model.mlmodel", nn[:40], true},
		{"not a .mlmodel name", "model.onnx", nn, false},
		{"no name", "", nn, false},
		{"pickle renamed", "model.mlmodel", evil, false},
		{"zip renamed", "model.mlmodel", zipWith(t, "archive/data.pkl", evil), false},
		{"onnx renamed", "model.mlmodel", onnxLike, false},
		{"onnx without producer renamed", "model.mlmodel", onnxNoProducer, false},
		{"sentencepiece renamed", "model.mlmodel", spm, false},
		{"version 0", "model.mlmodel", msg{}.varint(1, 0).bytes(2, nil), false},
		{"version past the cap", "model.mlmodel", msg{}.varint(1, 13).bytes(2, nil), false},
		{"version only", "model.mlmodel", msg{}.varint(1, 4), false},
		{"description of text", "model.mlmodel", msg{}.varint(1, 4).str(2, "pytorch 2.1"), false},
		{"type first after the version", "model.mlmodel", msg{}.varint(1, 4).bytes(500, nil), true},
		{"unknown second field", "model.mlmodel", msg{}.varint(1, 4).bytes(7, nil), false},
	}
	for _, tt := range tests {
		head := tt.data[:min(len(tt.data), analyzer.HeadSize)]
		if got := (coreml.Analyzer{}).Match(tt.file, head); got != tt.want {
			t.Errorf("%s: Match = %v, want %v", tt.name, got, tt.want)
		}
	}
	// The engine: a .mlmodel that is a pickle is a pickle, an ONNX model
	// is still ONNX under its own name.
	e := scan.New()
	for _, c := range []struct{ file, want string }{{"model.mlmodel", "coreml"}, {"model.mlmodel", "pickle"}, {"model.onnx", "onnx"}} {
		data := nn
		switch c.want {
		case "pickle":
			data = evil
		case "onnx":
			data = onnxLike
		}
		a := e.Match(c.file, data[:min(len(data), analyzer.HeadSize)])
		if a == nil || a.Format() != c.want {
			t.Errorf("engine Match(%s) = %v, want %s", c.file, a, c.want)
		}
	}
}

// TestFirstByteIsNoPickleOpcode is why a file Match accepts cannot also be
// read by pickle.load: the loader raises at byte 0.
func TestFirstByteIsNoPickleOpcode(t *testing.T) {
	if pickle.IsOpcode(0x08) {
		t.Fatal("0x08 is a pickle opcode")
	}
}

func TestWeightsMatch(t *testing.T) {
	w := weights()
	empty := make([]byte, 64)
	empty[4] = 2
	reserved := bytes.Clone(w)
	reserved[20] = 1
	tests := []struct {
		name, file string
		data       []byte
		want       bool
	}{
		{"weight.bin", "weight.bin", w, true},
		{"no blobs", "weight.bin", empty, true},
		{"no blobs, more bytes", "weight.bin", append(bytes.Clone(empty), 0), false},
		{"not .bin", "weight.dat", w, false},
		{"reserved header bytes", "weight.bin", reserved, false},
		{"version 1", "weight.bin", append([]byte{2, 0, 0, 0, 1}, w[5:]...), false},
		{"no sentinel", "weight.bin", append(bytes.Clone(w[:64]), make([]byte, 64)...), false},
		{"pickle", "weight.bin", evilPickle(), false},
		{"short", "weight.bin", w[:63], false},
	}
	for _, tt := range tests {
		if got := (coreml.WeightsAnalyzer{}).Match(tt.file, tt.data[:min(len(tt.data), analyzer.HeadSize)]); got != tt.want {
			t.Errorf("%s: Match = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func zipWith(t testing.TB, name string, content []byte) []byte {
	var b bytes.Buffer
	z := zip.NewWriter(&b)
	w, err := z.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(content)
	z.Close()
	return b.Bytes()
}

// ---- rules -----------------------------------------------------------------------------

func TestRules(t *testing.T) {
	nn := neuralNetwork(12)
	evil := evilPickle()
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	prog := mlProgram(weightFile)
	pkg := map[string][]byte{"weights/weight.bin": weights()}
	badRef := func(offset uint64) msg {
		typ := tensorType(milFloat16, 3)
		fn := msg{}.str(fFuncOpset, "CoreML5").bytes(fFuncBlocks, entry("CoreML5", msg{}.bytes(fBlockOps, constOp("b", typ, weightFile, offset))))
		return model(7, description("x", "y"), fModelProgram, msg{}.varint(fProgVersion, 1).bytes(fProgFunctions, entry("main", fn)))
	}
	deepPipeline := func(depth int) msg {
		m := neuralNetwork(1)
		for range depth {
			m = model(4, nil, fModelPipeline, msg{}.bytes(fPipelineModels, m))
		}
		return m
	}
	tests := []struct {
		name     string
		data     []byte
		siblings map[string][]byte
		rule     string
		want     finding.Severity // with absent: the rule must not fire
		absent   bool
		wantErr  bool
		nested   string // a nested input must start with this
		evidence string // a finding of the rule must say this
	}{
		{"benign: nothing but the summary", nn, nil, knowledge.RuleCoreMLMalformed, 0, true, false, "", ""},
		{"benign: no unknown field", nn, nil, knowledge.RuleCoreMLUnknownField, 0, true, false, "", ""},
		{"custom layer", read(t, "suspicious/custom-layer.mlmodel"), nil, knowledge.RuleCoreMLCustomLayer, finding.Medium, false, false, "", `"AAPLEvilLayer" (layer "mystery")`},
		{"custom layer in a branch", read(t, "suspicious/custom-layer-in-branch.mlmodel"), nil, knowledge.RuleCoreMLCustomLayer, finding.Medium, false, false, "", `"HiddenLayer"`},
		{"custom layer without class", model(4, description("x", "y"), fModelNN, network(msg{}.str(fLayerName, "c").bytes(fLayerCustom, nil))), nil, knowledge.RuleCoreMLCustomLayer, finding.Medium, false, false, "", "without a className"},
		{"custom model", customModel("MyModel"), nil, knowledge.RuleCoreMLCustomLayer, finding.Medium, false, false, "", `custom model class "MyModel"`},
		{"linked model beside", linked("Extractor.mlmodelc", ""), nil, knowledge.RuleCoreMLLinkedModel, finding.Info, false, false, "", "Extractor.mlmodelc"},
		{"linked model absolute", linked("Extractor.mlmodelc", "/var/models"), nil, knowledge.RuleCoreMLLinkedModel, finding.Medium, false, false, "", "/var/models"},
		{"linked model name climbs", linked("../x.mlmodelc", "."), nil, knowledge.RuleCoreMLLinkedModel, finding.Medium, false, false, "", "../x.mlmodelc"},
		{"weights in the package", prog, pkg, knowledge.RuleCoreMLWeightPath, 0, true, false, "", ""},
		{"weights in the package: references check out", prog, pkg, knowledge.RuleCoreMLMalformed, 0, true, false, "", ""},
		{"weights absolute", mlProgram("/etc/passwd"), pkg, knowledge.RuleCoreMLWeightPath, finding.Medium, false, false, "", "/etc/passwd"},
		{"weights climb", mlProgram("@model_path/../../x.bin"), pkg, knowledge.RuleCoreMLWeightPath, finding.Medium, false, false, "", "../../x.bin"},
		{"weight reference not at metadata", badRef(100), pkg, knowledge.RuleCoreMLMalformed, finding.Medium, false, false, "", "no blob metadata sentinel"},
		{"weight reference past the end", badRef(1 << 20), pkg, knowledge.RuleCoreMLMalformed, finding.Medium, false, false, "", "past the end"},
		{"truncated", nn[:len(nn)-5], nil, knowledge.RuleCoreMLMalformed, finding.Medium, false, true, "", "claims"},
		{"trailing garbage", cat(nn, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}), nil, knowledge.RuleCoreMLMalformed, finding.Medium, false, true, "", "bad tag"},
		{"group wire type", cat(nn, protowire.AppendTag(nil, 20, protowire.StartGroupType)), nil, knowledge.RuleCoreMLMalformed, finding.Medium, false, true, "", "wire type 3"},
		{"pickle appended", cat(nn, evil), nil, knowledge.RuleCoreMLEmbedded, finding.Medium, false, true, string(evil[:4]), "bytes after the model"},
		{"two model types", clone(nn).bytes(fModelScaler, nil), nil, knowledge.RuleCoreMLMalformed, finding.Medium, false, false, "", "neuralNetwork, scaler"},
		{"no model type", msg{}.varint(1, 4).bytes(2, description("x", "y")), nil, knowledge.RuleCoreMLMalformed, finding.Medium, false, false, "", "no model type"},
		{"wrong wire type", clone(nn).varint(fModelDesc, 1), nil, knowledge.RuleCoreMLMalformed, finding.Medium, false, false, "", "wire type 0, not 2"},
		{"small unknown field", clone(nn).varint(300, 7), nil, knowledge.RuleCoreMLUnknownField, finding.Low, false, false, "", "Model field 300"},
		{"large unknown blob", clone(nn).bytes(9000, bytes.Repeat([]byte("x"), 2048)), nil, knowledge.RuleCoreMLUnknownField, finding.Medium, false, false, "xxxx", ""},
		{"unknown field in a layer", model(4, description("x", "y"), fModelNN, network(msg(relu("r", "x", "y")).bytes(77, evil))), nil, knowledge.RuleCoreMLEmbedded, finding.Medium, false, false, string(evil[:4]), "NeuralNetworkLayer field 77"},
		{"zip in an unknown field", clone(nn).bytes(250, zipWith(t, "data.pkl", evil)), nil, knowledge.RuleCoreMLEmbedded, finding.Medium, false, false, "PK\x03\x04", "zip"},
		{"pickle in a MIL string", mlProgramWithString(string(evil)), nil, knowledge.RuleCoreMLEmbedded, finding.Medium, false, false, string(evil[:4]), "RepeatedStrings"},
		{"pickle in a serialized model", model(4, description("x", "y"), 3000, msg{}.str(1, "com.example.x").bytes(2, evil)), nil, knowledge.RuleCoreMLEmbedded, finding.Medium, false, false, string(evil[:4]), "SerializedModel"},
		{"pickle in a custom model's bytes", model(4, description("x", "y"), fModelCustom, msg{}.str(10, "C").bytes(30, entry("p", msg{}.bytes(60, evil)))), nil, knowledge.RuleCoreMLEmbedded, finding.Medium, false, false, string(evil[:4]), "bytesValue"},
		{"deep pipeline", deepPipeline(120), nil, knowledge.RuleCoreMLMalformed, finding.Medium, false, true, "", "deeper than 100"},
		{"pipeline of 30", deepPipeline(30), nil, knowledge.RuleCoreMLMalformed, 0, true, false, "", ""},
		{"bad opaque layer", model(4, description("x", "y"), fModelNN, network(msg{}.str(fLayerName, "d").bytes(fLayerInner, []byte{0x0a, 0x7f}))), nil, knowledge.RuleCoreMLMalformed, finding.Medium, false, true, "", "NeuralNetworkLayer.layer"},
	}
	for _, tt := range tests {
		out, err := analyze(t, coreml.Analyzer{}, "model.mlmodel", tt.data, tt.siblings)
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: error %v, want error %v", tt.name, err, tt.wantErr)
		}
		fs := findings(out, tt.rule)
		ctx := describe(out.Findings, nil)
		switch {
		case tt.absent && len(fs) > 0:
			t.Errorf("%s: %s fired%s", tt.name, tt.rule, ctx)
		case !tt.absent && (len(fs) == 0 || fs[0].Severity != tt.want):
			t.Errorf("%s: %s not at %s%s", tt.name, tt.rule, tt.want, ctx)
		}
		if tt.evidence != "" && !slicesContain(fs, tt.evidence) {
			t.Errorf("%s: no %s finding says %q%s", tt.name, tt.rule, tt.evidence, ctx)
		}
		if tt.nested != "" && !nestedStartsWith(out, tt.nested) {
			t.Errorf("%s: no nested input starting with %q", tt.name, tt.nested)
		}
		if summary(out.Findings) == "" {
			t.Errorf("%s: no summary%s", tt.name, ctx)
		}
	}
}

// clone copies a message before appending to it (appending to a shared
// slice would write into the other cases' bytes).
func clone(m []byte) msg { return msg(bytes.Clone(m)) }

func slicesContain(fs []finding.Finding, s string) bool {
	for _, f := range fs {
		if strings.Contains(f.Evidence, s) || strings.Contains(f.Message, s) {
			return true
		}
	}
	return false
}

// mlProgramWithString is an ML program whose one const op holds s.
func mlProgramWithString(s string) msg {
	block := msg{}.bytes(fBlockOps, msg{}.str(fOpType, "const").bytes(fOpAttrs, entry("val", stringValue(s))))
	fn := msg{}.str(fFuncOpset, "CoreML5").bytes(fFuncBlocks, entry("CoreML5", block))
	return model(7, description("x", "y"), fModelProgram, msg{}.varint(fProgVersion, 1).bytes(fProgFunctions, entry("main", fn)))
}

func TestSummary(t *testing.T) {
	for _, c := range []struct {
		data     []byte
		siblings map[string][]byte
		want     []string
	}{
		{neuralNetwork(12), nil, []string{"specification version 4", "neuralNetwork", "2 neural-network layers", `inputs: "x"`, `outputs: "y"`}},
		{pipeline(), nil, []string{"pipeline of 2 models (neuralNetwork, scaler)", "1 neural-network layer"}},
		{mlProgram(weightFile), map[string][]byte{"weights/weight.bin": weights()}, []string{"specification version 7", "mlProgram",
			`ML program functions: "main" (4 ops)`, "const 2, linear 1, relu 1", `2 weight references to weight files: "@model_path/weights/weight.bin" (all 2 offsets are blob metadata within the file)`}},
		{mlProgram(weightFile), nil, []string{"no neighbouring files here: not checked"}},
		{mlProgram(weightFile), map[string][]byte{}, []string{"not found beside the model: not checked"}},
	} {
		out, err := analyze(t, coreml.Analyzer{}, "model.mlmodel", c.data, c.siblings)
		if err != nil {
			t.Fatal(err)
		}
		sum := summary(out.Findings)
		for _, w := range c.want {
			if !strings.Contains(sum, w) {
				t.Errorf("summary %q lacks %q", sum, w)
			}
		}
	}
}

// ---- never read the weights, never panic ---------------------------------------------

// TestWeightsAreNotRead walks a model holding 16 MiB of weights (four
// 4 MiB inner-product weight blobs) and a 16 MiB weight file: the walks
// read only tags, lengths, strings and metadata.
func TestWeightsAreNotRead(t *testing.T) {
	const floats = 1 << 20
	m := model(4, description("x", "y"), fModelNN, network(
		innerProduct("a", "x", "a", floats), innerProduct("b", "a", "b", floats),
		innerProduct("c", "b", "c", floats), innerProduct("d", "c", "y", floats)))
	cr := &countingReader{r: bytes.NewReader(m)}
	lim := analyzer.DefaultLimits()
	var out analyzer.Output
	in := analyzer.Input{Name: "model.mlmodel", R: cr, Size: int64(len(m)), Budget: analyzer.NewBudget(lim)}
	if err := (coreml.Analyzer{}).Analyze(context.Background(), in, lim, &out); err != nil {
		t.Fatal(err)
	}
	if n := cr.n.Load(); n > 64<<10 {
		t.Errorf("read %d of %d bytes", n, len(m))
	}

	// A weight file of 64 blobs of 256 KiB each. Its first byte (the
	// count, 64) is '@', not a pickle opcode, so the pickle check stops at
	// once too.
	var w bytes.Buffer
	hdr := make([]byte, 64)
	hdr[0], hdr[4] = 64, 2
	w.Write(hdr)
	for range 64 {
		md := make([]byte, 64)
		le := func(off int, v uint64, n int) {
			for i := range n {
				md[off+i] = byte(v >> (8 * i))
			}
		}
		le(0, 0xDEADBEEF, 4)
		le(4, 2, 4)
		le(8, 256<<10, 8)
		le(16, uint64(w.Len()+64), 8)
		w.Write(md)
		w.Write(make([]byte, 256<<10))
	}
	cr = &countingReader{r: bytes.NewReader(w.Bytes())}
	out = analyzer.Output{}
	in = analyzer.Input{Name: "weight.bin", R: cr, Size: int64(w.Len()), Budget: analyzer.NewBudget(lim)}
	if err := (coreml.WeightsAnalyzer{}).Analyze(context.Background(), in, lim, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(summary(out.Findings), "64 blobs (float32 16777216 bytes)") {
		t.Errorf("summary %q", summary(out.Findings))
	}
	if n := cr.n.Load(); n > 64<<10 {
		t.Errorf("read %d of %d bytes of the weight file", n, w.Len())
	}
}

// TestTruncationsNeverPass cuts fixtures at every length: no cut panics,
// and each one is refused with an error or reported medium, never passed
// as a clean model.
func TestTruncationsNeverPass(t *testing.T) {
	for _, name := range []string{"benign/neuralnetwork.mlmodel", "benign/pipeline.mlmodel", pkgDir + "Data/com.apple.CoreML/model.mlmodel", "suspicious/linked-traversal.mlmodel"} {
		data := read(t, name)
		for n := 1; n < len(data); n++ {
			out, err := analyze(t, coreml.Analyzer{}, "model.mlmodel", data[:n], nil)
			if m, _ := finding.Max(out.Findings); err == nil && m < finding.Medium {
				t.Errorf("%s cut at %d: passed%s", name, n, describe(out.Findings, nil))
			}
		}
	}
	w := weights()
	for n := 64; n < len(w); n++ {
		out, err := analyze(t, coreml.WeightsAnalyzer{}, "weight.bin", w[:n], nil)
		if m, _ := finding.Max(out.Findings); err == nil && m < finding.Medium {
			t.Errorf("weight.bin cut at %d: passed%s", n, describe(out.Findings, nil))
		}
	}
}

func TestWeightsRules(t *testing.T) {
	w := weights()
	evil := evilPickle()
	set := func(b []byte, off int, v uint64, n int) []byte {
		b = bytes.Clone(b)
		for i := range n {
			b[off+i] = byte(v >> (8 * i))
		}
		return b
	}
	tests := []struct {
		name    string
		data    []byte
		want    finding.Severity // of COREML-MALFORMED; 0: absent
		wantErr bool
		nested  string
		ev      string
	}{
		{"benign", w, 0, false, "", ""},
		{"count too high", set(w, 0, 3, 4), finding.Medium, true, "", "counts 3 blobs"},
		{"bad sentinel", set(w, 192, 0x12345678, 4), finding.Medium, true, "", "sentinel 0x12345678"},
		{"data past the end", set(w, 64+8, 1<<30, 8), finding.Medium, true, "", "not between its metadata and the end"},
		{"data before its metadata", set(w, 64+16, 0, 8), finding.Medium, true, "", "not between its metadata"},
		{"unknown dtype", set(w, 64+4, 99, 4), finding.Medium, false, "", "data type 99"},
		{"padding", set(w, 64+24, 8, 8), finding.Medium, false, "", "8 bits of padding"},
		{"gap", set(set(w, 0, 1, 4), 64+16, 192, 8), finding.Medium, false, "", "starts 64 bytes after its metadata"},
		{"pickle appended", append(append(bytes.Clone(w), make([]byte, 58)...), evil...), finding.Medium, false, string(evil[:4]), "bytes after the last blob"},
	}
	for _, tt := range tests {
		out, err := analyze(t, coreml.WeightsAnalyzer{}, "weight.bin", tt.data, nil)
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: error %v, want error %v", tt.name, err, tt.wantErr)
		}
		fs := findings(out, knowledge.RuleCoreMLMalformed)
		ctx := describe(out.Findings, nil)
		switch {
		case tt.want == 0 && len(fs) > 0:
			t.Errorf("%s: malformed%s", tt.name, ctx)
		case tt.want != 0 && (len(fs) == 0 || fs[0].Severity != tt.want):
			t.Errorf("%s: not malformed%s", tt.name, ctx)
		}
		if tt.ev != "" && !slicesContain(fs, tt.ev) {
			t.Errorf("%s: no finding says %q%s", tt.name, tt.ev, ctx)
		}
		if tt.nested != "" && !nestedStartsWith(out, tt.nested) {
			t.Errorf("%s: no nested input starting with %q", tt.name, tt.nested)
		}
		if summary(out.Findings) == "" {
			t.Errorf("%s: no summary", tt.name)
		}
	}
}

// TestManifestCoversRules keeps at least one fixture per Core ML rule.
func TestManifestCoversRules(t *testing.T) {
	seen := map[string]bool{}
	for _, e := range manifest(t) {
		for r := range e.Rules {
			seen[r] = true
		}
	}
	var missing []string
	for _, r := range []string{knowledge.RuleCoreMLCustomLayer, knowledge.RuleCoreMLLinkedModel, knowledge.RuleCoreMLWeightPath,
		knowledge.RuleCoreMLMalformed, knowledge.RuleCoreMLUnknownField, knowledge.RuleCoreMLEmbedded} {
		if !seen[r] {
			missing = append(missing, r)
		}
		if _, ok := knowledge.RuleByID(r); !ok {
			t.Errorf("%s is not in knowledge.Rules", r)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("no fixture for %v", missing)
	}
}
