package parquet_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/knowledge"
	"github.com/modelgate/modelgate/internal/scan"
)

// manifestEntry is a line of testdata/manifest.json, written by the
// generator in ../arrow/testdata/gen with the real Arrow library.
type manifestEntry struct {
	File        string `json:"file"`
	Expect      string `json:"expect"`
	Description string `json:"description"`
	Format      string `json:"format"`
	MinSeverity string `json:"min_severity"`
	Evidence    string `json:"evidence"`
}

// TestManifestFixtures scans every fixture through the engine: every
// malicious file gives ARROW-PY-EXTENSION-TYPE (high) and the nested
// pickle's critical PICKLE-DANGEROUS-CALL, with no error; every benign
// file gives no finding at medium or above and no error (column data is
// never needed); every malformed file gives an error, and a
// PARQUET-MALFORMED or ARROW-MALFORMED finding unless its footer is
// encrypted (then there is nothing to judge: the error alone says so).
func TestManifestFixtures(t *testing.T) {
	var m []manifestEntry
	if err := json.Unmarshal(read(t, "manifest.json"), &m); err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, e := range m {
		listed[e.File] = true
		t.Run(e.File, func(t *testing.T) {
			res := scan.New().ScanPaths(context.Background(), []string{filepath.Join("testdata", filepath.FromSlash(e.File))})
			if len(res) != 1 {
				t.Fatalf("%d results", len(res))
			}
			r := res[0]
			if r.Format != e.Format {
				t.Errorf("format %q, want %q", r.Format, e.Format)
			}
			worst, _ := finding.Max(r.Findings)
			switch e.Expect {
			case "malicious":
				if !has(r, knowledge.RuleArrowPyExtension, finding.High) || !has(r, knowledge.RuleDangerousCall, finding.Critical) || len(r.Errors) > 0 {
					t.Errorf("%s: want %s high, %s critical, no error%s", e.Description, knowledge.RuleArrowPyExtension, knowledge.RuleDangerousCall, describe(r))
				}
				if !strings.Contains(describe(r), e.Evidence) {
					t.Errorf("no evidence %q%s", e.Evidence, describe(r))
				}
			case "benign":
				if worst >= finding.Medium || len(r.Errors) > 0 {
					t.Errorf("%s: want nothing at medium or above and no error%s", e.Description, describe(r))
				}
			case "malformed":
				encrypted := strings.Contains(e.File, "encrypted")
				if len(r.Errors) == 0 || !encrypted && !has(r, knowledge.RuleParquetMalformed, finding.Medium) && !has(r, knowledge.RuleArrowMalformed, finding.Medium) {
					t.Errorf("%s: want an error and a malformed finding%s", e.Description, describe(r))
				}
			default:
				t.Fatalf("expectation %q", e.Expect)
			}
		})
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "*", "*.parquet"))
	for _, f := range files {
		rel, _ := filepath.Rel("testdata", f)
		if !listed[filepath.ToSlash(rel)] {
			t.Errorf("%s is not in the manifest", rel)
		}
	}
}

func has(r scan.FileResult, rule string, sev finding.Severity) bool {
	for _, f := range r.Findings {
		if f.RuleID == rule && f.Severity == sev {
			return true
		}
	}
	return false
}

func describe(r scan.FileResult) string {
	var b strings.Builder
	for _, f := range r.Findings {
		b.WriteString("\n  " + f.Severity.String() + " " + f.RuleID + " " + f.Member + " " + f.Message + " | " + f.Evidence)
	}
	for _, e := range r.Errors {
		b.WriteString("\n  error: " + e)
	}
	return b.String()
}
