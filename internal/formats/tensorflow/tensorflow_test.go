package tensorflow_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/modelgate/modelgate/internal/analyzer"
	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/formats/tensorflow"
	"github.com/modelgate/modelgate/internal/knowledge"
	"github.com/modelgate/modelgate/internal/scan"
)

// analyzers are this package's, in the order the registry tries them.
var analyzers = []analyzer.Analyzer{tensorflow.SavedModelAnalyzer{}, tensorflow.GraphDefAnalyzer{}, tensorflow.CheckpointAnalyzer{}}

type result struct {
	format   string
	findings []finding.Finding
	err      error
}

func (r result) max() finding.Severity {
	s, _ := finding.Max(r.findings)
	return s
}

func (r result) find(rule string, sev finding.Severity) []finding.Finding {
	var out []finding.Finding
	for _, f := range r.findings {
		if f.RuleID == rule && f.Severity == sev {
			out = append(out, f)
		}
	}
	return out
}

// analyze runs the first of this package's analysers that matches.
func analyze(t *testing.T, name string, data []byte) result {
	t.Helper()
	head := data[:min(len(data), analyzer.HeadSize)]
	for _, a := range analyzers {
		if !a.Match(name, head) {
			continue
		}
		var out analyzer.Output
		in := analyzer.Input{Name: name, R: bytes.NewReader(data), Size: int64(len(data)), Budget: analyzer.NewBudget(analyzer.DefaultLimits())}
		err := a.Analyze(context.Background(), in, analyzer.DefaultLimits(), &out)
		format := out.Format
		if format == "" {
			format = a.Format()
		}
		return result{format, out.Findings, err}
	}
	return result{}
}

func readFixture(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", filepath.FromSlash(p)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFixtures(t *testing.T) {
	cases := []struct {
		file     string
		format   string
		max      finding.Severity
		rule     string // a finding of this rule at max severity
		evidence string // in that finding's evidence
		message  string // in that finding's message
	}{
		{"benign/tf2/saved_model.pb", "tf-savedmodel", finding.Info, "", "", ""},
		{"benign/tf2/fingerprint.pb", "tf-fingerprint", finding.Info, "", "", ""},
		{"benign/tf2/variables/variables.index", "tf-checkpoint-index", finding.Info, knowledge.RuleFormatSummary, "", "3 tensors, 184 bytes of tensor data in 1 shard"},
		{"benign/tf2/variables/variables.data-00000-of-00001", "tf-checkpoint-data", finding.Info, "", "", ""},
		{"benign/tf1/saved_model.pb", "tf-savedmodel", finding.Info, "", "", ""},
		{"benign/frozen_graph.pb", "tf-graphdef", finding.Info, "", "", ""},
		{"benign/ckpt/checkpoint", "tf-checkpoint-state", finding.Info, "", "", ""},

		{"malicious/readfile/saved_model.pb", "tf-savedmodel", finding.High, knowledge.RuleTFDangerousOp, "ReadFile('/etc/passwd')", `function "__inference_serve_10"`},
		{"malicious/writefile.pb", "tf-graphdef", finding.High, knowledge.RuleTFDangerousOp, "WriteFile('/tmp/pwned')", "writes a tensor"},
		{"malicious/pyfunc.pb", "tf-graphdef", finding.High, knowledge.RuleTFDangerousOp, "PyFunc(token='pyfunc_0')", "Python"},
		{"malicious/eagerpyfunc/saved_model.pb", "tf-savedmodel", finding.High, knowledge.RuleTFDangerousOp, "EagerPyFunc(", `function "__inference_hook_7"`},
		{"malicious/savev2-traversal/saved_model.pb", "tf-savedmodel", finding.High, knowledge.RuleTFDangerousOp, "SaveV2('../../../tmp/x')", "constant outside"},
		{"malicious/savev2-call-arg/saved_model.pb", "tf-savedmodel", finding.High, knowledge.RuleTFDangerousOp, "SaveV2('/tmp/exfil')", `function "__inference_save_3"`},
		{"malicious/savev2-stringjoin.pb", "tf-graphdef", finding.High, knowledge.RuleTFDangerousOp, "SaveV2('/var/www/html/')", ""},
		{"malicious/custom-op.pb", "tf-graphdef", finding.Medium, knowledge.RuleTFUnknownOp, "MyCustomOp", "custom-op library"},
		{"malicious/debug-identity.pb", "tf-graphdef", finding.High, knowledge.RuleTFDangerousOp, "debug_urls=['file:///tmp/tfdbg_dump']", ""},
		{"malicious/matchingfiles.pb", "tf-graphdef", finding.High, knowledge.RuleTFDangerousOp, "MatchingFiles('/home/*/.ssh/id_*')", ""},
		{"malicious/printv2-file/saved_model.pb", "tf-savedmodel", finding.Medium, knowledge.RuleTFDangerousOp, "output_stream='file:///home/user/.bashrc'", ""},
		{"malicious/asset-traversal/saved_model.pb", "tf-savedmodel", finding.High, knowledge.RuleTFDangerousOp, "filename='../../../../etc/shadow'", "assets/"},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			r := analyze(t, path.Base(c.file), readFixture(t, c.file))
			if r.err != nil {
				t.Fatalf("error: %v", r.err)
			}
			if r.format != c.format {
				t.Fatalf("format %q, want %q", r.format, c.format)
			}
			if r.max() != c.max {
				t.Errorf("max severity %v, want %v: %+v", r.max(), c.max, r.findings)
			}
			if c.rule == "" {
				return
			}
			for _, f := range r.find(c.rule, c.max) {
				if strings.Contains(f.Evidence, c.evidence) && strings.Contains(f.Message, c.message) {
					return
				}
			}
			t.Errorf("no %s %v finding with evidence %q and message %q in %+v", c.rule, c.max, c.evidence, c.message, r.findings)
		})
	}
}

// TestRoutineCheckpointOpsAreInfo: the saver ops of real SavedModels, fed by
// saver_filename, a function argument or SaverDef, and vocabulary tables fed
// through asset_file_def, are facts, not findings.
func TestRoutineCheckpointOpsAreInfo(t *testing.T) {
	for _, file := range []string{"benign/tf2/saved_model.pb", "benign/tf1/saved_model.pb"} {
		r := analyze(t, "saved_model.pb", readFixture(t, file))
		routine := r.find(knowledge.RuleTFDangerousOp, finding.Info)
		var ops []string
		for _, f := range routine {
			ops = append(ops, strings.Fields(f.Message)[0])
		}
		want := map[string][]string{
			"benign/tf2/saved_model.pb": {"MergeV2Checkpoints", "RestoreV2", "SaveV2"},
			"benign/tf1/saved_model.pb": {"InitializeTableFromTextFileV2", "RestoreV2", "SaveV2"},
		}[file]
		if strings.Join(ops, " ") != strings.Join(want, " ") {
			t.Errorf("%s: routine ops %v, want %v", file, ops, want)
		}
	}
}

func TestSummary(t *testing.T) {
	r := analyze(t, "saved_model.pb", readFixture(t, "benign/tf2/saved_model.pb"))
	s := r.find(knowledge.RuleFormatSummary, finding.Info)
	if len(s) != 1 {
		t.Fatalf("summaries: %+v", s)
	}
	for _, want := range []string{"schema 1", "tags serve", "TensorFlow 2.15.0", "graph of 8 nodes (producer 1645)", "3 functions with 29 nodes"} {
		if !strings.Contains(s[0].Message, want) {
			t.Errorf("summary %q lacks %q", s[0].Message, want)
		}
	}
	for _, want := range []string{"SaveV2×1", "StatefulPartitionedCall×3", "ReadVariableOp×4"} {
		if !strings.Contains(s[0].Evidence, want) {
			t.Errorf("op histogram %q lacks %q", s[0].Evidence, want)
		}
	}
}

// TestMatch: protobuf has no magic, so both a name hint and the shape of the
// first fields are required; other protobufs and formats are not claimed.
func TestMatch(t *testing.T) {
	onnx := append([]byte{0x08, 0x07, 0x12, 0x07}, "pytorch\x1a\x052.1.0"...)
	keraMetadata := appendBytes(nil, 1, appendVarint(appendString(nil, 3, "root"), 2, 0))
	sm := readFixture(t, "benign/tf2/saved_model.pb")
	gd := readFixture(t, "benign/frozen_graph.pb")
	cases := []struct {
		name string
		head []byte
		want string // format id of the analyser that matches, "" for none
	}{
		{"saved_model.pb", sm, "tf-savedmodel"},
		{"exported.PB", sm, "tf-savedmodel"},
		{"saved_model.bin", sm, ""},
		{"frozen_graph.pb", gd, "tf-graphdef"},
		{"frozen_graph", gd, ""},
		{"model.pb", onnx, ""},
		{"keras_metadata.pb", keraMetadata, ""},
		{"saved_model.pb", fingerprintDef(), ""},
		{"fingerprint.pb", fingerprintDef(), "tf-checkpoint"},
		{"fingerprint.pb", sm, "tf-savedmodel"},
		{"model.pb", []byte("\x80\x04\x95\x00"), ""},
		{"model.pb", nil, ""},
		{"model.pb", []byte{0x0a, 0x05, 0x0a, 0x03, 'a', ' ', 'b'}, ""},
		{"variables.index", readFixture(t, "benign/tf2/variables/variables.index"), "tf-checkpoint"},
		{"variables.index", []byte("hello"), ""},
		{"variables.data-00000-of-00001", floatBytes(8), "tf-checkpoint"},
		{"variables.data-00000-of-00001", []byte("\x80\x02cposix\nsystem\nq\x00X\x02\x00\x00\x00idq\x01\x85q\x02Rq\x03."), ""},
		{"variables.data-0-of-1", floatBytes(8), ""},
		{"checkpoint", []byte("model_checkpoint_path: \"x\"\n"), "tf-checkpoint"},
		{"checkpoint", []byte("anything"), ""},
	}
	for _, c := range cases {
		got := ""
		for _, a := range analyzers {
			if a.Match(c.name, c.head[:min(len(c.head), analyzer.HeadSize)]) {
				got = a.Format()
				break
			}
		}
		if got != c.want {
			t.Errorf("%s %q…: matched %q, want %q", c.name, c.head[:min(len(c.head), 12)], got, c.want)
		}
	}
}

// engine returns the real engine with this package's analysers where the
// registry will list them: after every format with magic bytes, before the
// raw pickle (which only the name-based tensor-data analyser follows).
func engine() *scan.Engine {
	e := scan.New()
	e.NoDigest = true
	i := rawPickle(e.Analyzers)
	e.Analyzers = slices.Concat(e.Analyzers[:i:i], analyzers, e.Analyzers[i:])
	return e
}

// rawPickle is the index of the raw pickle analyser, the last content-based
// one; -1 when something other than tensor-data follows it.
func rawPickle(as []analyzer.Analyzer) int {
	i := slices.IndexFunc(as, func(a analyzer.Analyzer) bool { return a.Format() == "pickle" })
	for _, a := range as[i+1:] {
		if a.Format() != "tensor-data" {
			return -1
		}
	}
	return i
}

// TestSavedModelDirectory scans the fixture directories with the engine:
// every file of a SavedModel is recognised (no "not a recognised model
// format"), benign ones stay at info, malicious ones are reported.
func TestSavedModelDirectory(t *testing.T) {
	if got := scan.New().Analyzers; rawPickle(got) < 0 {
		t.Fatalf("the registry no longer ends with the raw pickle (and the name-based tensor-data): %v", got[len(got)-1].Format())
	}
	e := engine()
	for _, dir := range []string{"benign", "malicious"} {
		res := e.ScanPaths(context.Background(), []string{filepath.Join("testdata", dir)})
		if len(res) < 7 {
			t.Fatalf("%s: %d results", dir, len(res))
		}
		for _, r := range res {
			if filepath.Base(r.Path) == "README.md" {
				continue
			}
			if !strings.HasPrefix(r.Format, "tf-") || len(r.Errors) > 0 {
				t.Errorf("%s: format %q errors %v", r.Path, r.Format, r.Errors)
			}
			max, _ := finding.Max(r.Findings)
			if dir == "benign" && max > finding.Info {
				t.Errorf("%s: %v finding in a benign file: %+v", r.Path, max, r.Findings)
			}
			if dir == "malicious" && max < finding.Medium {
				t.Errorf("%s: nothing found", r.Path)
			}
		}
	}
}

// TestRegistryLeavesProtobufsAlone: no analyser of the current registry
// (magic-byte formats, the raw pickle) claims a TensorFlow file, so the
// registry line can go anywhere before the raw pickle.
func TestRegistryLeavesProtobufsAlone(t *testing.T) {
	for _, f := range fixtures() {
		name := path.Base(f.path)
		head := f.data[:min(len(f.data), analyzer.HeadSize)]
		for _, a := range scan.New().Analyzers {
			if strings.HasPrefix(a.Format(), "tf-") {
				break
			}
			if a.Match(name, head) {
				t.Errorf("%s is claimed by %s", f.path, a.Format())
			}
		}
	}
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

// TestTensorBytesAreSkipped: a frozen graph with 2 × 16 MiB of weights is
// judged after reading a few windows of it, not its weights.
func TestTensorBytesAreSkipped(t *testing.T) {
	data := graph(append(frozenNodes(4<<20), node("evil", "ReadFile", []string{"w1"})))
	cr := &countingReader{r: bytes.NewReader(data)}
	var out analyzer.Output
	in := analyzer.Input{Name: "frozen.pb", R: cr, Size: int64(len(data)), Budget: analyzer.NewBudget(analyzer.DefaultLimits())}
	if err := (tensorflow.GraphDefAnalyzer{}).Analyze(context.Background(), in, analyzer.DefaultLimits(), &out); err != nil {
		t.Fatal(err)
	}
	if got := cr.n.Load(); got > 1<<20 {
		t.Errorf("read %d of %d bytes", got, len(data))
	}
	if s, _ := finding.Max(out.Findings); s != finding.High {
		t.Errorf("ReadFile after the weights not found: %+v", out.Findings)
	}
}

// TestBrokenFilesKeepFindings: a payload before a malformed or truncated
// part is still reported, with an error for the rest.
func TestBrokenFilesKeepFindings(t *testing.T) {
	good := readFixture(t, "malicious/writefile.pb")
	cases := map[string][]byte{
		"bad tag after":      append(append([]byte{}, good...), 0x0f, 0xff),
		"overlong field":     append(append([]byte{}, good...), 0x0a, 0x7f, 0x0a),
		"unknown group ends": append(append([]byte{}, good...), 0x2b, 0x2c),
	}
	for name, data := range cases {
		r := analyze(t, "frozen.pb", data)
		if name == "unknown group ends" {
			// A well-formed unknown group is skipped like the loader does.
			if r.err != nil || r.max() != finding.High {
				t.Errorf("%s: err %v, max %v", name, r.err, r.max())
			}
			continue
		}
		if r.err == nil || r.max() != finding.High {
			t.Errorf("%s: err %v, max %v", name, r.err, r.max())
		}
	}
	sm := readFixture(t, "malicious/readfile/saved_model.pb")
	for cut := 1; cut < len(sm); cut += 7 {
		r := analyze(t, "saved_model.pb", sm[:cut])
		if r.format == "" {
			continue // the head no longer looks like a SavedModel
		}
		if r.err == nil && cut < len(sm) {
			t.Errorf("cut at %d of %d: no error", cut, len(sm))
		}
	}
}

func TestCorruptIndex(t *testing.T) {
	idx := readFixture(t, "benign/tf2/variables/variables.index")
	for name, data := range map[string][]byte{
		"no magic":  append(append([]byte{}, idx[:len(idx)-1]...), 0),
		"short":     idx[:20],
		"bad block": append(append(append([]byte{}, idx[:len(idx)-48]...), 0x7f, 0x7f, 0x7f, 0x7f), idx[len(idx)-44:]...),
	} {
		r := analyze(t, "variables.index", data)
		if r.err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestHostileGraph: many checkpoint ops fed by one huge StringJoin of
// placeholders stay within the resolution budget and say so.
func TestHostileGraph(t *testing.T) {
	var nodes [][]byte
	var parts []string
	for i := 0; i < 20000; i++ {
		name := fmt.Sprintf("c%d", i)
		nodes = append(nodes, placeholder(name, 7))
		parts = append(parts, name)
	}
	nodes = append(nodes, node("join", "StringJoin", parts))
	for i := 0; i < 2000; i++ {
		nodes = append(nodes, node(fmt.Sprintf("s%d", i), "SaveV2", []string{"join"}))
	}
	r := analyze(t, "big.pb", graph(nodes))
	if len(r.find(knowledge.RuleScanLimit, finding.Medium)) != 1 {
		t.Errorf("no resolution limit finding: %+v", r.findings)
	}
}
