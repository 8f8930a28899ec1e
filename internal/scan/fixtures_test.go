package scan_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/report"
	"github.com/modelgate/modelgate/internal/scan"
)

// fixtureDir holds the raw-pickle fixtures written by make_fixtures.py with
// the real CPython pickler and libraries; every malicious one was proven by
// that script to run its payload under pickle.load. The other format
// packages have their own testdata/manifest.json of the same shape, made
// with torch.save, joblib.dump and np.save and proven with torch.load,
// joblib.load and np.load.
const fixtureDir = "../formats/picklefile/testdata"

// manifests lists every fixture manifest.
func manifests(t *testing.T) []string {
	t.Helper()
	m, err := filepath.Glob("../formats/*/testdata/manifest.json")
	if err != nil || len(m) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	return m
}

type manifestEntry struct {
	File        string   `json:"file"`
	Expect      string   `json:"expect"` // malicious, malformed, benign, benign-nested
	Threat      int      `json:"threat"`
	MinSeverity string   `json:"min_severity"`
	Evidence    string   `json:"evidence"`
	Proven      bool     `json:"proven"`
	Description string   `json:"description"`
	Globals     []string `json:"globals"`
	Format      string   `json:"format"`
	dir         string
}

func loadManifest(t *testing.T, path string) []manifestEntry {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m []manifestEntry
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	for i := range m {
		m[i].dir = filepath.Dir(path)
	}
	return m
}

func allFixtures(t *testing.T) []manifestEntry {
	var all []manifestEntry
	for _, p := range manifests(t) {
		all = append(all, loadManifest(t, p)...)
	}
	if len(all) < 150 {
		t.Fatalf("manifests list only %d fixtures", len(all))
	}
	return all
}

func scanOne(t *testing.T, path string) scan.FileResult {
	t.Helper()
	res := scan.New().ScanPaths(context.Background(), []string{path})
	if len(res) != 1 {
		t.Fatalf("%s: %d results", path, len(res))
	}
	return res[0]
}

func describe(r scan.FileResult) string {
	var b strings.Builder
	for _, f := range r.Findings {
		b.WriteString("\n  " + f.Severity.String() + " " + f.RuleID + " " + f.Message + " | " + f.Evidence)
	}
	for _, e := range r.Errors {
		b.WriteString("\n  error: " + e)
	}
	return b.String()
}

// TestFixtures is the positive and negative table of the raw-pickle engine:
// every malicious fixture fails at or above its expected severity with the
// expected evidence; every benign one passes the default threshold with no
// error; malformed ones never pass silently.
func TestFixtures(t *testing.T) {
	for _, e := range allFixtures(t) {
		pkg := filepath.Base(filepath.Dir(e.dir))
		t.Run(pkg+"/"+e.File, func(t *testing.T) {
			r := scanOne(t, filepath.Join(e.dir, e.File))
			if e.Format != "" && r.Format != e.Format {
				t.Errorf("format %q, want %q", r.Format, e.Format)
			}
			doc := report.Document{Files: []scan.FileResult{r}, FailOn: finding.High}
			maxSev, _ := finding.Max(r.Findings)
			switch e.Expect {
			case "malicious":
				want, err := finding.ParseSeverity(e.MinSeverity)
				if err != nil {
					t.Fatal(err)
				}
				if maxSev < want || doc.Verdict() != report.Fail {
					t.Fatalf("%s (threat %d): max severity %s, want >= %s%s", e.Description, e.Threat, maxSev, want, describe(r))
				}
				if e.Evidence != "" && !hasEvidence(r, e.Evidence) {
					t.Errorf("%s: no finding with evidence containing %q%s", e.Description, e.Evidence, describe(r))
				}
			case "malformed":
				if doc.Verdict() == report.Pass {
					t.Fatalf("%s: a malformed file passed%s", e.Description, describe(r))
				}
			case "benign", "benign-nested":
				if doc.Verdict() != report.Pass {
					t.Fatalf("%s: verdict %d, want pass%s", e.Description, doc.Verdict(), describe(r))
				}
			default:
				t.Fatalf("unknown expectation %q", e.Expect)
			}
		})
	}
}

func hasEvidence(r scan.FileResult, s string) bool {
	for _, f := range r.Findings {
		if strings.Contains(f.Evidence, s) {
			return true
		}
	}
	return false
}

// TestFixtureThreatCoverage checks that every pickle-level threat of
// THREATS.md (items 1-17) has a proven malicious fixture, except item 17
// whose modules are not installable here.
func TestFixtureThreatCoverage(t *testing.T) {
	proven := map[int]int{}
	for _, e := range loadManifest(t, filepath.Join(fixtureDir, "manifest.json")) {
		if e.Expect == "malicious" && e.Proven {
			proven[e.Threat]++
		}
	}
	for item := 1; item <= 16; item++ {
		if proven[item] == 0 {
			t.Errorf("THREATS.md item %d has no proven malicious fixture", item)
		}
	}
}
