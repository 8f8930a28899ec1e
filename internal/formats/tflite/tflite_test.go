package tflite_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/modelgate/modelgate/internal/analyzer"
	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/formats/picklefile"
	"github.com/modelgate/modelgate/internal/formats/tflite"
	"github.com/modelgate/modelgate/internal/knowledge"
	"github.com/modelgate/modelgate/internal/scan"
)

func analyze(t *testing.T, data []byte) (analyzer.Output, error) {
	t.Helper()
	var out analyzer.Output
	in := analyzer.Input{Name: "model.tflite", R: bytes.NewReader(data), Size: int64(len(data)), Budget: analyzer.NewBudget(analyzer.DefaultLimits())}
	err := tflite.Analyzer{}.Analyze(context.Background(), in, analyzer.DefaultLimits(), &out)
	return out, err
}

type expect struct {
	rule     string
	sev      finding.Severity
	evidence string // substring of evidence or message
}

func hasFinding(out analyzer.Output, w expect) bool {
	for _, f := range out.Findings {
		if f.RuleID == w.rule && f.Severity == w.sev && strings.Contains(f.Evidence+" "+f.Message, w.evidence) {
			return true
		}
	}
	return false
}

func TestFixtures(t *testing.T) {
	for _, tc := range []struct {
		file string
		want []expect
		max  finding.Severity
		err  bool
	}{
		{file: "benign/builtin.tflite", want: []expect{{knowledge.RuleFormatSummary, finding.Info,
			"TFLite schema version 3: 4 operator codes (4 builtin, 0 custom), 2 subgraphs, 6 operators, 2 buffers (not read), 0 signatures; builtin ADD, CONV_2D, FULLY_CONNECTED, op150; description \"MLIR Converted.\"; metadata \"min_runtime_version\""}},
			max: finding.Info},
		{file: "custom/custom-op.tflite", want: []expect{
			{knowledge.RuleTFLiteCustomOp, finding.Medium, `"Convolution2DTransposeBias", "MyLibraryOp"`},
			{knowledge.RuleFormatSummary, finding.Info, "(1 builtin, 2 custom)"}}, max: finding.Medium},
		{file: "custom/flex.tflite", want: []expect{
			{knowledge.RuleTFDangerousOp, finding.High, `"FlexWriteFile", "FlexSaveV2"`},
			{knowledge.RuleTFLiteCustomOp, finding.Medium, `"FlexAddV2"`}}, max: finding.High},
		{file: "malformed/bad-root.tflite", max: finding.Info, err: true},
		{file: "malformed/bad-vtable.tflite", max: finding.Info, err: true},
		{file: "malformed/huge-vector.tflite", max: finding.Info, err: true},
		{file: "malformed/bad-string.tflite", max: finding.Info, err: true},
		{file: "malformed/truncated.tflite", max: finding.Info, err: true},
		{file: "malicious/pickle-tfl3.tflite", want: []expect{{knowledge.RuleDangerousCall, finding.Critical, "posix.system('touch marker')"}}, max: finding.Critical, err: true},
	} {
		t.Run(tc.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if !(tflite.Analyzer{}).Match(tc.file, data[:min(len(data), analyzer.HeadSize)]) {
				t.Error("Match refused the file")
			}
			out, err := analyze(t, data)
			if (err != nil) != tc.err {
				t.Errorf("error %v, want error %v", err, tc.err)
			}
			for _, w := range tc.want {
				if !hasFinding(out, w) {
					t.Errorf("no %s %s with %q", w.sev, w.rule, w.evidence)
				}
			}
			for _, f := range out.Findings {
				if f.Severity > tc.max {
					t.Errorf("unexpected %s %s: %s [%s]", f.Severity, f.RuleID, f.Message, f.Evidence)
				}
			}
			if t.Failed() {
				t.Logf("error: %v", err)
				for _, f := range out.Findings {
					t.Logf("%s %s @%d: %s [%s]", f.Severity, f.RuleID, f.Offset, f.Message, f.Evidence)
				}
			}
		})
	}
}

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		name string
		head string
		want bool
	}{
		{"tflite", "\x1c\x00\x00\x00TFL3\x00\x00\x00\x00", true},
		{"root inside the identifier", "\x04\x00\x00\x00TFL3\x00\x00\x00\x00", false},
		{"unaligned root", "\x1d\x00\x00\x00TFL3\x00\x00\x00\x00", false},
		{"other identifier", "\x1c\x00\x00\x00TFL2\x00\x00\x00\x00", false},
		{"short", "\x1c\x00\x00\x00TFL3", false},
		{"pickle", "\x80\x02}q\x00(X\x01\x00\x00\x00a", false},
	} {
		if got := (tflite.Analyzer{}).Match("x", []byte(tc.head)); got != tc.want {
			t.Errorf("%s: Match = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestRead(t *testing.T) {
	m, err := tflite.Read(bytes.NewReader(builtinModel()), int64(len(builtinModel())))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, op := range m.OpCodes {
		got = append(got, tflite.BuiltinName(op.Builtin)+"/"+strconv.Itoa(int(op.Version)))
	}
	if strings.Join(got, " ") != "CONV_2D/1 ADD/1 FULLY_CONNECTED/1 op150/1" || m.Subgraphs != 2 || m.Operators != 6 {
		t.Errorf("model %+v, op codes %v", m, got)
	}
}

// engine returns the default engine with the TFLite analyser placed as the
// registry will have it: before the raw pickle analyser.
func engine() *scan.Engine {
	e := scan.New()
	e.NoDigest = true
	n := len(e.Analyzers)
	e.Analyzers = append(append(e.Analyzers[:n-1:n-1], tflite.Analyzer{}), e.Analyzers[n-1])
	return e
}

func TestThroughEngine(t *testing.T) {
	e := engine()
	for _, tc := range []struct {
		file   string
		format string
		max    finding.Severity
	}{
		{"benign/builtin.tflite", "tflite", finding.Info},
		{"custom/custom-op.tflite", "tflite", finding.Medium},
		{"custom/flex.tflite", "tflite", finding.High},
		{"malicious/pickle-tfl3.tflite", "tflite", finding.Critical},
	} {
		res := e.ScanPaths(context.Background(), []string{filepath.Join("testdata", tc.file)})
		if len(res) != 1 || res[0].Format != tc.format {
			t.Fatalf("%s: %+v", tc.file, res)
		}
		if m, _ := finding.Max(res[0].Findings); m != tc.max {
			t.Errorf("%s: max severity %s, want %s", tc.file, m, tc.max)
		}
	}
}

// realDir is where the @mediapipe/hands npm package is unpacked:
//
//	mkdir -p /tmp/npm && cd /tmp/npm && npm pack @mediapipe/hands && \
//	  tar xzf mediapipe-hands-*.tgz && mv package mediapipe-hands
func realDir() string {
	if d := os.Getenv("MODELGATE_TFLITE_DIR"); d != "" {
		return d
	}
	return "/tmp/npm/mediapipe-hands"
}

// realModel is one TFLite model inside the package: a file, or a range of
// the packed assets file (the palm detection models).
type realModel struct {
	name string
	r    io.ReaderAt
	size int64
}

func realModels(t *testing.T) []realModel {
	dir := realDir()
	files, _ := filepath.Glob(filepath.Join(dir, "*.tflite"))
	if len(files) == 0 {
		t.Skipf("no .tflite files in %s (see realDir for the npm command)", dir)
	}
	var ms []realModel
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, realModel{filepath.Base(f), bytes.NewReader(b), int64(len(b))})
	}
	// hands_solution_packed_assets_loader.js lists the packed files with
	// their byte ranges in hands_solution_packed_assets.data.
	loader, err1 := os.ReadFile(filepath.Join(dir, "hands_solution_packed_assets_loader.js"))
	data, err2 := os.ReadFile(filepath.Join(dir, "hands_solution_packed_assets.data"))
	if err1 == nil && err2 == nil {
		re := regexp.MustCompile(`"filename":\s*"([^"]+\.tflite)",\s*"start":\s*(\d+),\s*"end":\s*(\d+)`)
		for _, m := range re.FindAllStringSubmatch(string(loader), -1) {
			start, _ := strconv.ParseInt(m[2], 10, 64)
			end, _ := strconv.ParseInt(m[3], 10, 64)
			if start < 0 || end > int64(len(data)) || start >= end {
				continue
			}
			ms = append(ms, realModel{filepath.Base(m[1]), bytes.NewReader(data[start:end]), end - start})
		}
	}
	return ms
}

// TestRealModels: MediaPipe's hand landmark and palm detection models
// (Apache-2.0) are recognised, read without error and pass below high.
func TestRealModels(t *testing.T) {
	e := engine()
	for _, m := range realModels(t) {
		res := e.ScanReaderAt(context.Background(), m.name, m.r, m.size, false)
		if res.Format != "tflite" || len(res.Errors) > 0 {
			t.Errorf("%s: format %q, errors %q", m.name, res.Format, res.Errors)
		}
		if s, _ := finding.Max(res.Findings); s >= finding.High {
			t.Errorf("%s: %s finding", m.name, s)
		}
		for _, f := range res.Findings {
			t.Logf("%s: %s %s %s [%s]", m.name, f.Severity, f.RuleID, f.Message, f.Evidence)
		}
	}
}

// TestRegistryOrder documents why the TFLite analyser must come before the
// raw pickle analyser: a model whose root table is at 0x80 or 0x180 starts
// with bytes that the pickle sniff takes for PROTO.
func TestRegistryOrder(t *testing.T) {
	head := []byte("\x80\x01\x00\x00TFL3\x00\x00\x00\x00")
	if !(tflite.Analyzer{}).Match("m.tflite", head) {
		t.Error("Match refused a root offset of 0x180")
	}
	if !(picklefile.Analyzer{}).Match("m.tflite", head) {
		t.Error("the pickle analyser no longer claims it; update the registry note")
	}
}
