package policy

import (
	"testing"
	"time"

	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/report"
	"github.com/modelgate/modelgate/internal/scan"
)

// FuzzParse: parsing never panics, and whatever parses can be hashed,
// checked, explained and applied, and its hash does not depend on the run.
func FuzzParse(f *testing.F) {
	f.Add([]byte(fullPolicy))
	f.Add([]byte(InitTemplate))
	f.Add([]byte("version: 1\n"))
	f.Add([]byte("version: 1\nallow:\n  - global: a.b:C.d\n    calls: true\n"))
	f.Add([]byte("version: 1\nlimits: {max_decompressed: 16GiB, max_depth: 3}\n"))
	f.Add([]byte("version: 1\nx: &a [*a]\n"))
	f.Add([]byte("version: 1\n---\n"))
	f.Add([]byte("{version: 1, severity: {A: low}, formats: {enabled: [pickle]}}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data, "fuzz.yaml")
		if err != nil {
			if p != nil {
				t.Fatal("policy with an error")
			}
			_ = err.Error()
			return
		}
		h := p.Hash()
		q, err := Parse(data, "again.yaml")
		if err != nil || q.Hash() != h {
			t.Fatalf("reparse: %v", err)
		}
		now := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
		_ = Check(p, now)
		_ = Explain(p)
		_ = p.Catalogue().Classify("mycorp.models", "Net")
		doc := &report.Document{Files: []scan.FileResult{{Path: "x", Format: "pickle",
			SHA256:   "5b51dcd64fcf0a4b2b1f1c8b7a2c6b1e9d3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b",
			Findings: []finding.Finding{{RuleID: "PICKLE-UNKNOWN-CALL", Severity: finding.High, Offset: finding.NoOffset}}}}}
		p.Apply(doc, now)
		_ = doc.Verdict()
	})
}
