package arrow_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/knowledge"
	"github.com/modelgate/modelgate/internal/scan"
)

// manifestEntry is a line of testdata/manifest.json, written by the
// generator in testdata/gen with the real Arrow library.
type manifestEntry struct {
	File        string `json:"file"`
	Expect      string `json:"expect"`
	Description string `json:"description"`
	Format      string `json:"format"`
	MinSeverity string `json:"min_severity"`
	Evidence    string `json:"evidence"`
}

func loadManifest(t *testing.T) []manifestEntry {
	t.Helper()
	var m []manifestEntry
	if err := json.Unmarshal(read(t, "manifest.json"), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestManifestFixtures scans every fixture through the engine, as the
// CLI and the gate do: every malicious file gives ARROW-PY-EXTENSION-TYPE
// (high) and the pickle's own finding at its expected severity
// (PICKLE-DANGEROUS-CALL, critical, for posix.system) with no error;
// every benign file gives no finding at medium or above and no error;
// every malformed file gives an error and an ARROW-MALFORMED finding.
func TestManifestFixtures(t *testing.T) {
	m := loadManifest(t)
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
				want, err := finding.ParseSeverity(e.MinSeverity)
				if err != nil {
					t.Fatal(err)
				}
				if !has(r, knowledge.RuleArrowPyExtension, finding.High) || worst < want || len(r.Errors) > 0 {
					t.Errorf("%s: want %s high and a finding at %s or above, no error%s", e.Description, knowledge.RuleArrowPyExtension, want, describe(r))
				}
				if want == finding.Critical && !has(r, knowledge.RuleDangerousCall, finding.Critical) {
					t.Errorf("no critical %s from the nested pickle%s", knowledge.RuleDangerousCall, describe(r))
				}
				if e.Evidence != "" && !strings.Contains(describe(r), e.Evidence) {
					t.Errorf("no evidence %q%s", e.Evidence, describe(r))
				}
			case "benign":
				if worst >= finding.Medium || len(r.Errors) > 0 {
					t.Errorf("%s: want nothing at medium or above and no error%s", e.Description, describe(r))
				}
			case "malformed":
				if len(r.Errors) == 0 || !has(r, knowledge.RuleArrowMalformed, finding.Medium) {
					t.Errorf("%s: want an error and %s%s", e.Description, knowledge.RuleArrowMalformed, describe(r))
				}
			default:
				t.Fatalf("expectation %q", e.Expect)
			}
		})
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "*", "*.arrow*"))
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

// TestGeneratorIsItsOwnModule checks that testdata/gen stays out of the
// main module: its go.mod makes it a module of its own (and testdata is
// never a package of ./...), so the scanner never depends on arrow-go.
func TestGeneratorIsItsOwnModule(t *testing.T) {
	mod, err := os.ReadFile(filepath.Join("testdata", "gen", "go.mod"))
	if err != nil || !strings.Contains(string(mod), "module github.com/modelgate/modelgate/internal/formats/arrow/testdata/gen") {
		t.Fatalf("testdata/gen/go.mod: %v", err)
	}
	main, err := os.ReadFile(filepath.Join("..", "..", "..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(main), "arrow-go") {
		t.Error("the main module requires arrow-go")
	}
}
