package gguf_test

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"slices"
	"testing"

	"github.com/modelgate/modelgate/internal/analyzer"
	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/formats/gguf"
	"github.com/modelgate/modelgate/internal/knowledge"
	"github.com/modelgate/modelgate/internal/scan"
)

// engine returns the scan engine with the GGUF analyser in it (added
// before the raw pickle, the catch-all, until the registry lists it).
func engine() *scan.Engine {
	e := scan.New()
	if !slices.ContainsFunc(e.Analyzers, func(a analyzer.Analyzer) bool { return a.Format() == "gguf" }) {
		last := len(e.Analyzers) - 1
		e.Analyzers = append(e.Analyzers[:last:last], gguf.Analyzer{}, e.Analyzers[last])
	}
	e.NoDigest = true
	return e
}

// TestThroughTheEngine scans a malicious GGUF file as it comes, gzipped
// and inside a zip: the template finding must come out of each, with the
// member chain.
func TestThroughTheEngine(t *testing.T) {
	file, err := os.ReadFile("testdata/gguf/malicious-cve-2024-34359-v3.gguf")
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Name = "model.gguf"
	zw.Write(file)
	zw.Close()
	var zipped bytes.Buffer
	z := zip.NewWriter(&zipped)
	w, _ := z.Create("models/model.gguf")
	w.Write(file)
	z.Close()
	for _, tc := range []struct {
		name, member string
		data         []byte
	}{
		{"model.gguf", "", file},
		{"model.gguf.gz", "model.gguf", gz.Bytes()},
		{"model.zip", "models/model.gguf", zipped.Bytes()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := engine().ScanReaderAt(context.Background(), tc.name, bytes.NewReader(tc.data), int64(len(tc.data)), false)
			if len(res.Errors) > 0 {
				t.Errorf("errors %q", res.Errors)
			}
			if !slices.ContainsFunc(res.Findings, func(f finding.Finding) bool {
				return f.RuleID == knowledge.RuleGGUFTemplateInjection && f.Severity == finding.Critical && f.Member == tc.member
			}) {
				t.Errorf("no critical template finding in %q: %+v", tc.member, res.Findings)
			}
		})
	}
}

// TestBenignThroughTheEngine checks that a benign GGUF file scans clean
// and fully analysed.
func TestBenignThroughTheEngine(t *testing.T) {
	file, err := os.ReadFile("testdata/gguf/benign-named-templates.gguf")
	if err != nil {
		t.Fatal(err)
	}
	res := engine().ScanReaderAt(context.Background(), "model.gguf", bytes.NewReader(file), int64(len(file)), false)
	if w, _ := finding.Max(res.Findings); w != finding.Info || len(res.Errors) > 0 || res.Format != "gguf" {
		t.Errorf("format %q, errors %q, findings %+v", res.Format, res.Errors, res.Findings)
	}
}
