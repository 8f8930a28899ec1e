package onnx_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/modelgate/modelgate/internal/analyzer"
	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/formats/onnx"
	"github.com/modelgate/modelgate/internal/knowledge"
	"github.com/modelgate/modelgate/internal/pickle"
	pt "github.com/modelgate/modelgate/internal/pickle/pickletest"
	"google.golang.org/protobuf/encoding/protowire"
)

var update = flag.Bool("update", false, "rewrite the crafted fixtures in testdata/")

func analyze(t testing.TB, name string, file []byte) (analyzer.Output, error) {
	t.Helper()
	var out analyzer.Output
	err := onnx.Analyzer{}.Analyze(context.Background(), analyzer.Input{Name: name, R: bytes.NewReader(file), Size: int64(len(file)),
		Budget: analyzer.NewBudget(analyzer.DefaultLimits())}, analyzer.DefaultLimits(), &out)
	return out, err
}

// find returns the findings with rule id.
func find(out analyzer.Output, rule string) []finding.Finding {
	var fs []finding.Finding
	for _, f := range out.Findings {
		if f.RuleID == rule {
			fs = append(fs, f)
		}
	}
	return fs
}

func worst(out analyzer.Output) finding.Severity {
	s, _ := finding.Max(out.Findings)
	return s
}

// TestFixturesAreCurrent keeps the committed crafted fixtures equal to what
// the builders in build_test.go write.
func TestFixturesAreCurrent(t *testing.T) {
	for name, m := range fixtures() {
		path := filepath.Join("testdata", name)
		if *update {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, m, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test ./internal/formats/onnx -run TestFixturesAreCurrent -update)", err)
		}
		if !bytes.Equal(got, m) {
			t.Errorf("%s differs from its builder (run with -update and review)", name)
		}
	}
}

func TestFixtures(t *testing.T) {
	for _, tc := range []struct {
		file     string
		severity finding.Severity
		rule     string // a finding of this rule at severity must exist
		evidence string // ... whose evidence or message contains this
		err      bool
	}{
		{"benign/add.onnx", finding.Info, knowledge.RuleFormatSummary, "IR version 8, opsets ai.onnx 17", false},
		{"benign/com-microsoft.onnx", finding.Info, knowledge.RuleONNXCustomDomain, "com.microsoft: Gelu", false},
		{"benign/external-relative.onnx", finding.Info, knowledge.RuleONNXExternalData, `"weights/W.bin"`, false},
		{"benign/local-function.onnx", finding.Info, knowledge.RuleONNXCustomDomain, "functions defined in the model", false},
		{"benign/real-test_if.onnx", finding.Info, knowledge.RuleFormatSummary, "+2 in 2 subgraphs", false},
		{"malicious/custom-domain.onnx", finding.Medium, knowledge.RuleONNXCustomDomain, "evil.custom: Backdoor", false},
		{"malicious/if-subgraph-custom.onnx", finding.Medium, knowledge.RuleONNXCustomDomain, "evil.custom: Backdoor", false},
		{"malicious/pyop.onnx", finding.Medium, knowledge.RuleONNXCustomDomain, `PyOp(module="os", class_name="system"`, false},
		{"malicious/external-traversal.onnx", finding.High, knowledge.RuleONNXExternalData, `location="../../etc/passwd"`, false},
		{"malicious/external-absolute.onnx", finding.High, knowledge.RuleONNXExternalData, `location="/etc/passwd"`, false},
		{"malicious/external-inner-traversal.onnx", finding.High, knowledge.RuleONNXExternalData, `location="weights/../../secret.bin"`, false},
		{"malicious/external-ort-mem-addr.onnx", finding.High, knowledge.RuleONNXExternalData, `location="*/_ORT_MEM_ADDR_/*"`, false},
		{"malformed/truncated.onnx", finding.Info, knowledge.RuleFormatSummary, "not read to the end", true},
	} {
		t.Run(tc.file, func(t *testing.T) {
			file, err := os.ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if !(onnx.Analyzer{}).Match(filepath.Base(tc.file), file[:min(len(file), analyzer.HeadSize)]) {
				t.Error("Match is false")
			}
			out, err := analyze(t, tc.file, file)
			if (err != nil) != tc.err {
				t.Errorf("error %v, want error %v", err, tc.err)
			}
			if got := worst(out); got != tc.severity {
				t.Errorf("worst severity %v, want %v: %+v", got, tc.severity, out.Findings)
			}
			ok := false
			for _, f := range find(out, tc.rule) {
				ok = ok || f.Severity == tc.severity && strings.Contains(f.Evidence+" | "+f.Message, tc.evidence)
			}
			if !ok {
				t.Errorf("no %s %s finding with %q: %+v", tc.severity, tc.rule, tc.evidence, out.Findings)
			}
		})
	}
}

func TestExternalDataLocations(t *testing.T) {
	for _, tc := range []struct {
		location string
		high     bool
	}{
		{"model.onnx.data", false},
		{"weights/layer.0.bin", false},
		{"./w.bin", false},
		{"a..b/w..bin", false},
		{"", false},
		{"../w.bin", true},
		{"weights/../../w.bin", true},
		{`..\..\Windows\win.ini`, true},
		{`weights\..\..\x`, true},
		{".. /x", true},
		{"/etc/passwd", true},
		{`\Windows\win.ini`, true},
		{`C:\Windows\win.ini`, true},
		{"c:w.bin", true},
		{`\\server\share\w.bin`, true},
		{"//server/share/w.bin", true},
		{"*/_ORT_MEM_ADDR_/*", true},
		{strings.Repeat("a", 70<<10), true}, // too long to check
	} {
		out, err := analyze(t, "m.onnx", model(8, externalGraph(tc.location), onnx17))
		if err != nil {
			t.Fatalf("%q: %v", tc.location, err)
		}
		if got := worst(out) == finding.High; got != tc.high {
			t.Errorf("location %.40q: high %v, want %v: %+v", tc.location, got, tc.high, find(out, knowledge.RuleONNXExternalData))
		}
	}
}

// TestLoaderSemantics: the scanner sees what protobuf gives the loader.
func TestLoaderSemantics(t *testing.T) {
	custom := node(nodeSpec{op: "Backdoor", domain: "evil.custom", in: []string{"X"}, out: []string{"Z"}})
	for _, tc := range []struct {
		name  string
		model msg
		want  finding.Severity
	}{
		// protobuf merges a message field that occurs twice: the second
		// graph's nodes are appended to the first's.
		{"second graph field", model(8, addGraph(), onnx17).bytes(fModelGraph, msg{}.bytes(fGraphNode, custom)), finding.Medium},
		// the last occurrence of a scalar wins: the node's domain is evil.custom.
		{"last domain wins", model(8, graph(graphSpec{nodes: []msg{msg{}.str(fNodeOp, "Relu").str(fNodeDomain, "").str(fNodeDomain, "evil.custom")}}), onnx17), finding.Medium},
		{"first domain loses", model(8, graph(graphSpec{nodes: []msg{msg{}.str(fNodeOp, "Relu").str(fNodeDomain, "evil.custom").str(fNodeDomain, "ai.onnx")}}), onnx17), finding.Info},
		// a field with a wire type onnx.proto does not give it is an
		// unknown field to protobuf: the custom node inside is never seen.
		{"wrong wire type", model(8, addGraph(), onnx17).varint(fModelGraph, 1), finding.Info},
		// unknown fields and groups are skipped like protobuf skips them.
		{"unknown fields", append(model(8, addGraph(), onnx17).varint(1000, 5).bytes(1001, custom),
			group(1002, msg{}.varint(1, 1))...), finding.Info},
		// a tensor in a Constant node's attribute is checked too.
		{"constant attribute", model(8, oneNodeGraph("Constant", "", tensorAttr("value", externalTensor("W", "../x", 1))), onnx17), finding.High},
		// sparse initializers hold two tensors.
		{"sparse initializer", model(8, addGraph().bytes(15, msg{}.bytes(1, externalTensor("v", "/v", 1)).bytes(2, rawTensor("i", 1))), onnx17), finding.High},
		// training graphs are graphs too.
		{"training info", model(8, addGraph(), onnx17).bytes(20, msg{}.bytes(2, msg{}.bytes(fGraphNode, custom))), finding.Medium},
		// a function body may use custom operators.
		{"function body", model(8, addGraph(), onnx17, msg{}.str(fFuncName, "F").str(fFuncDomain, "local").bytes(fFuncNode, custom)), finding.Medium},
		// onnxruntime's training PythonOp names a Python function.
		{"PythonOp", model(8, oneNodeGraph("PythonOp", "com.microsoft", stringAttr("func_name", "mymod.Fn")), onnx17), finding.Medium},
		{"com.microsoft", model(8, oneNodeGraph("FusedMatMul", "com.microsoft"), onnx17), finding.Info},
		{"ai.onnx alias", model(8, oneNodeGraph("Relu", "ai.onnx"), onnx17), finding.Info},
		{"org.pytorch.aten", model(8, oneNodeGraph("ATen", "org.pytorch.aten"), onnx17), finding.Medium},
		// a custom opset import that no node uses needs no library.
		{"unused custom opset", model(8, addGraph(), []opsetSpec{{"", 17}, {"evil.custom", 1}}), finding.Info},
		// a node named like a local function in another domain is custom.
		{"function in other domain", model(8, oneNodeGraph("F", "evil.custom"), onnx17, function("local", "F")), finding.Medium},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := analyze(t, "m.onnx", tc.model)
			if err != nil {
				t.Fatal(err)
			}
			if got := worst(out); got != tc.want {
				t.Errorf("worst %v, want %v: %+v", got, tc.want, out.Findings)
			}
		})
	}
}

// group is a protobuf group field (deprecated, but every parser skips it).
func group(num protowire.Number, body msg) msg {
	b := protowire.AppendTag(nil, num, protowire.StartGroupType)
	b = append(b, body...)
	return protowire.AppendTag(b, num, protowire.EndGroupType)
}

// TestMalformed: every broken file is an error, never a panic, and what was
// found before the break is kept.
func TestMalformed(t *testing.T) {
	evil := model(8, oneNodeGraph("Backdoor", "evil.custom"), onnx17)
	deep := msg{}.str(fNodeOp, "X")
	for range 200 { // node → attribute → graph → node ...
		deep = msg{}.bytes(fGraphNode, msg{}.bytes(fNodeAttr, msg{}.bytes(fAttrG, deep)))
	}
	for _, tc := range []struct {
		name     string
		file     []byte
		keepsBad bool // the custom-domain finding made before the break survives
	}{
		{"length past the end", append(append([]byte(nil), evil...), 0x3a, 0xff, 0xff, 0x03), true},
		{"length over 2 GiB", append(append([]byte(nil), evil...), 0x3a, 0xff, 0xff, 0xff, 0xff, 0x0f), true},
		{"truncated varint", append(append([]byte(nil), evil...), 0x08, 0xff), true},
		{"varint overflow", append(append([]byte(nil), evil...), 0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f), true},
		{"reserved wire type", append(append([]byte(nil), evil...), 0x0e), true},
		{"field number 0", append(append([]byte(nil), evil...), 0x00, 0x00), true},
		{"stray end group", append(append([]byte(nil), evil...), 0x0c), true},
		{"unclosed group", append(append([]byte(nil), evil...), 0x0b, 0x08, 0x01), true},
		{"mismatched end group", append(append([]byte(nil), evil...), 0x0b, 0x14), true},
		{"fixed64 cut", append(append([]byte(nil), evil...), 0x09, 1, 2), true},
		{"nested 600 deep", model(8, deep, onnx17), false},
		{"inner length past its message", msg{}.varint(1, 8).bytes(fModelGraph, []byte{0x0a, 0x05, 0x22, 0x01}), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := analyze(t, "bad.onnx", tc.file)
			if err == nil {
				t.Fatalf("no error: %+v", out.Findings)
			}
			if tc.keepsBad && len(find(out, knowledge.RuleONNXCustomDomain)) == 0 {
				t.Errorf("finding before the break lost: %+v", out.Findings)
			}
			if len(find(out, knowledge.RuleFormatSummary)) == 0 {
				t.Errorf("no summary: %+v", out.Findings)
			}
		})
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r *bytes.Reader
	n atomic.Int64
}

func (c *countingReader) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.n.Add(int64(n))
	return n, err
}

// TestPayloadNotRead: a 64 MiB initializer costs a few kilobytes of reads.
func TestPayloadNotRead(t *testing.T) {
	g := addGraph(node(nodeSpec{op: "Backdoor", domain: "evil.custom", in: []string{"Z"}, out: []string{"Q"}}))
	g = g.bytes(fGraphInit, rawTensor("big", 16<<20))
	file := model(8, g, onnx17).bytes(fModelGraph, msg{}.bytes(fGraphInit, externalTensor("late", "../late", 1)))
	cr := &countingReader{r: bytes.NewReader(file)}
	var out analyzer.Output
	if err := (onnx.Analyzer{}).Analyze(context.Background(), analyzer.Input{Name: "big.onnx", R: cr, Size: int64(len(file))}, analyzer.DefaultLimits(), &out); err != nil {
		t.Fatal(err)
	}
	if worst(out) != finding.High || len(find(out, knowledge.RuleONNXCustomDomain)) == 0 {
		t.Errorf("findings %+v", out.Findings)
	}
	if n := cr.n.Load(); n > 256<<10 {
		t.Errorf("read %d bytes of a %d-byte file", n, len(file))
	}
}

func TestMatch(t *testing.T) {
	a := onnx.Analyzer{}
	ok := model(8, addGraph(), onnx17)
	big := model(8, addGraph().bytes(fGraphInit, rawTensor("big", 4096)), onnx17)
	for _, tc := range []struct {
		name string
		head []byte
		want bool
	}{
		{"model.bin", ok, true},
		{"model.bin", big[:analyzer.HeadSize], true}, // the graph runs past the head
		{"model.bin", ok[:len(ok)-10], false},        // a short file cut in the graph
		{"graph first", msg{}.bytes(fModelGraph, addGraph()).bytes(fModelOpset, msg{}.varint(2, 17)).varint(1, 8), true},
		{"m.onnx", msg{}.varint(1, 7), true},
		{"m.bin", msg{}.varint(1, 7), false},                  // one field and no hint
		{"m.bin", msg{}.varint(1, 7000).varint(5, 1), false},  // implausible IR version
		{"m.onnx", msg{}.str(2, "x").str(3, "y"), false},      // nothing model-specific
		{"m.onnx", msg{}.varint(1000, 1).varint(1, 8), false}, // unknown first field
		{"m.onnx", msg{}.str(1, "x"), false},                  // wrong wire type
		{"m.onnx", []byte("hello, world\n"), false},
		// other protobuf formats: TensorFlow SavedModel (schema version 1,
		// then a MetaGraphDef), Core ML (spec version 4, then a
		// ModelDescription), an ONNX TensorProto test input (dims, data_type).
		{"saved_model.pb", msg{}.varint(1, 1).bytes(2, msg{}.bytes(1, msg{}.str(4, "serve").str(5, "2.15.0"))), false},
		{"model.mlmodel", msg{}.varint(1, 4).bytes(2, msg{}.bytes(1, msg{}.str(1, "input").bytes(3, msg{}.varint(1, 1)))), false},
		{"input_0.pb", msg{}.varint(1, 3).varint(2, 1).bytes(9, make([]byte, 12)), false},
		{"m.onnx", nil, false},
		{"x.pkl", pt.New().Proto(2).Call("posix", "system", "id").Stop().Bytes(), false},
		{"x.pkl", []byte("(lp0\nI1\na."), false},
		{"x.pkl", []byte("cposix\nsystem\n(S'id'\ntR."), false},
	} {
		if got := a.Match(tc.name, tc.head); got != tc.want {
			t.Errorf("Match(%q, %.24q) = %v, want %v", tc.name, tc.head, got, tc.want)
		}
	}
	// Real models never sniff as pickles (they start with 0x08).
	if pickle.Sniff(ok) {
		t.Error("pickle.Sniff claims an ONNX model")
	}
}

// TestPolyglot: a file that is a pickle and decodes as a model is analysed
// both ways.
func TestPolyglot(t *testing.T) {
	// The engine hands the analyser only what Match accepts; the second
	// reading is checked here directly on a pickle.
	p := pt.New().Proto(2).Call("posix", "system", "id").Stop().Bytes()
	if !pickle.Sniff(p) {
		t.Fatal("fixture pickle does not sniff")
	}
	out, _ := analyze(t, "x.onnx", p)
	if worst(out) != finding.Critical {
		t.Errorf("pickle reading missing: %+v", out.Findings)
	}
}

// FuzzONNX: no input panics, loops or allocates from a length.
func FuzzONNX(f *testing.F) {
	_ = filepath.WalkDir("testdata", func(path string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(path, ".onnx") {
			b, _ := os.ReadFile(path)
			f.Add(b)
		}
		return nil
	})
	for _, m := range fixtures() {
		f.Add([]byte(m))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var out analyzer.Output
		_ = onnx.Analyzer{}.Analyze(context.Background(), analyzer.Input{Name: "f.onnx", R: bytes.NewReader(data), Size: int64(len(data))}, analyzer.DefaultLimits(), &out)
		onnx.Analyzer{}.Match("f.onnx", data[:min(len(data), analyzer.HeadSize)])
	})
}

// TestLimits: budgets end in a SCAN-LIMIT finding and an error, never in
// unbounded memory.
func TestLimits(t *testing.T) {
	many := msg{}
	for i := range 10_001 {
		many = many.bytes(fGraphNode, msg{}.str(fNodeOp, fmt.Sprintf("Op%d", i)).str(fNodeDomain, "evil.custom"))
	}
	long := msg{}
	for i := range 300 { // 300 distinct 64 KiB locations: over the 16 MiB budget
		long = long.bytes(fGraphInit, externalTensor("t", fmt.Sprintf("%d%s", i, strings.Repeat("a", 64<<10)), 1))
	}
	for name, file := range map[string]msg{
		"distinct operators": model(8, many, onnx17),
		"stored strings":     model(8, long, onnx17),
	} {
		out, err := analyze(t, "m.onnx", file)
		if err == nil || len(find(out, knowledge.RuleScanLimit)) == 0 {
			t.Errorf("%s: error %v, findings %+v", name, err, find(out, knowledge.RuleScanLimit))
		}
		if worst(out) < finding.Medium {
			t.Errorf("%s: what was found before the limit is lost", name)
		}
	}
}
