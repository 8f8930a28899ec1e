package knowledge

import (
	"slices"
	"strings"
	"testing"

	"github.com/modelgate/modelgate/internal/finding"
)

func TestTFDangerousOpsAreDocumented(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range TFDangerousOps {
		if seen[r.Op] {
			t.Errorf("%s listed twice", r.Op)
		}
		seen[r.Op] = true
		if r.Why == "" || !strings.HasPrefix(r.Ref, "https://") || r.Category == "" {
			t.Errorf("%s: every entry needs why, category and a public reference: %+v", r.Op, r)
		}
		if r.Severity < finding.Medium {
			t.Errorf("%s: severity %v below medium has no place in the dangerous table", r.Op, r.Severity)
		}
		switch r.When {
		case TFConstPath:
			if len(r.PathInputs) == 0 {
				t.Errorf("%s: TFConstPath needs PathInputs", r.Op)
			}
		case TFAttrURL, TFAttrFile:
			if r.Attr == "" {
				t.Errorf("%s: attribute conditions need Attr", r.Op)
			}
		}
		if _, known := LookupTFOp(r.Op); !known {
			t.Errorf("%s: dangerous ops are TensorFlow ops too", r.Op)
		}
	}
}

func TestTFKnownOps(t *testing.T) {
	if !slices.IsSorted(TFKnownOps) {
		t.Error("TFKnownOps not sorted")
	}
	if len(TFKnownOps) < 1400 {
		t.Errorf("only %d known ops", len(TFKnownOps))
	}
	for _, op := range TFKnownOps {
		if strings.TrimSpace(op) != op || op == "" {
			t.Errorf("bad op name %q", op)
		}
	}
	for _, dangerous := range []string{"ReadFile", "WriteFile", "RegisterDataset", "RpcCall", "DebugIdentityV3"} {
		if !slices.Contains(TFKnownOps, dangerous) {
			t.Errorf("%s missing from the known list", dangerous)
		}
	}
}

// TestLookupTFOp pins the tier of the ops THREATS.md item 28 names and of
// the ops every real SavedModel contains.
func TestLookupTFOp(t *testing.T) {
	cases := []struct {
		op        string
		dangerous bool
		when      TFCondition
		sev       finding.Severity
		known     bool
	}{
		{"ReadFile", true, TFAlways, finding.High, true},
		{"WriteFile", true, TFAlways, finding.High, true},
		{"MatchingFiles", true, TFAlways, finding.High, true},
		{"PyFunc", true, TFAlways, finding.High, true},
		{"PyFuncStateless", true, TFAlways, finding.High, true},
		{"EagerPyFunc", true, TFAlways, finding.High, true},
		{"ImmutableConst", true, TFAlways, finding.High, true},
		{"WholeFileReaderV2", true, TFAlways, finding.High, true},
		{"SaveV2", true, TFConstPath, finding.High, true},
		{"RestoreV2", true, TFConstPath, finding.High, true},
		{"MergeV2Checkpoints", true, TFConstPath, finding.High, true},
		{"DebugIdentity", true, TFAttrURL, finding.High, true},
		{"PrintV2", true, TFAttrFile, finding.Medium, true},
		{"CreateSummaryFileWriter", true, TFAlways, finding.Medium, true},
		{"WriteSummary", true, TFAlways, finding.Medium, true},
		// Safe and common.
		{"MatMul", false, 0, 0, true},
		{"VarHandleOp", false, 0, 0, true},
		{"StatefulPartitionedCall", false, 0, 0, true},
		{"DisableCopyOnRead", false, 0, 0, true},
		{"StaticRegexFullMatch", false, 0, 0, true},
		{"Assert", false, 0, 0, true},
		{"Print", false, 0, 0, true},
		{"IdentityReader", false, 0, 0, true}, // outputs its queued work strings; opens nothing
		{"_Arg", false, 0, 0, true},
		// Custom ops.
		{"MyCustomOp", false, 0, 0, false},
		{"SentencepieceOp", false, 0, 0, false},
		{"readfile", false, 0, 0, false}, // op names are case-sensitive
	}
	for _, c := range cases {
		r, known := LookupTFOp(c.op)
		if known != c.known || (r != nil) != c.dangerous {
			t.Errorf("%s: dangerous %v known %v, want %v %v", c.op, r != nil, known, c.dangerous, c.known)
			continue
		}
		if r != nil && (r.When != c.when || r.Severity != c.sev) {
			t.Errorf("%s: when %v severity %v, want %v %v", c.op, r.When, r.Severity, c.when, c.sev)
		}
	}
}
