package safetensors_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelgate/modelgate/internal/analyzer"
	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/formats/compress"
	"github.com/modelgate/modelgate/internal/formats/picklefile"
	"github.com/modelgate/modelgate/internal/formats/safetensors"
	"github.com/modelgate/modelgate/internal/knowledge"
	"github.com/modelgate/modelgate/internal/scan"
)

func analyze(t *testing.T, data []byte) (analyzer.Output, error) {
	t.Helper()
	var out analyzer.Output
	in := analyzer.Input{Name: "model.safetensors", R: bytes.NewReader(data), Size: int64(len(data)), Budget: analyzer.NewBudget(analyzer.DefaultLimits())}
	err := safetensors.Analyzer{}.Analyze(context.Background(), in, analyzer.DefaultLimits(), &out)
	return out, err
}

func find(out analyzer.Output, rule string) *finding.Finding {
	for i := range out.Findings {
		if out.Findings[i].RuleID == rule {
			return &out.Findings[i]
		}
	}
	return nil
}

// expect is one finding a fixture must produce.
type expect struct {
	rule     string
	sev      finding.Severity
	evidence string // substring of the evidence, if not empty
}

func TestFixtures(t *testing.T) {
	for _, tc := range []struct {
		file   string
		want   []expect
		max    finding.Severity // no finding above this
		err    bool
		nested int
	}{
		{file: "benign/multi.safetensors", want: []expect{{knowledge.RuleFormatSummary, finding.Info, ""}}, max: finding.Info},
		{file: "benign/metadata.safetensors", want: []expect{{knowledge.RuleFormatSummary, finding.Info, ""}}, max: finding.Info},
		{file: "benign/empty.safetensors", want: []expect{{knowledge.RuleFormatSummary, finding.Info, ""}}, max: finding.Info},
		{file: "benign/subbyte.safetensors", want: []expect{{knowledge.RuleFormatSummary, finding.Info, ""}}, max: finding.Info},
		{file: "benign/length-stack-global.safetensors", max: finding.Info},
		{file: "benign/length-proto.safetensors", max: finding.Info},
		{file: "benign/length-ext1.safetensors", max: finding.Info},
		{file: "benign/length-none-stop.safetensors", want: []expect{{knowledge.RuleSafetensorsPolyglot, finding.Low, `N.`}}, max: finding.Low},

		{file: "malformed/overlap.safetensors", want: []expect{{knowledge.RuleSafetensorsLayout, finding.Medium, `"b" F32 [2] [4, 12] overlaps "a"`}}, max: finding.Medium},
		{file: "malformed/bad-offsets.safetensors", want: []expect{
			{knowledge.RuleSafetensorsLayout, finding.Medium, `"b" U8 [2] [10, 8]`},
			{knowledge.RuleSafetensorsLayout, finding.Medium, `16`}}, max: finding.Medium, nested: 1},
		{file: "malformed/gap.safetensors", want: []expect{{knowledge.RuleSafetensorsLayout, finding.Medium, `[4, 8) before "b"`}}, max: finding.Medium, nested: 2},
		{file: "malformed/gap-pickle.safetensors", want: []expect{{knowledge.RuleSafetensorsLayout, finding.Medium, `after the last tensor`}}, max: finding.Medium, nested: 1},
		{file: "malformed/oversized-header.safetensors", want: []expect{{knowledge.RuleSafetensorsHeader, finding.Medium, "header length 200000000"}}, max: finding.Medium, err: true},
		{file: "malformed/truncated-header.safetensors", want: []expect{{knowledge.RuleSafetensorsHeader, finding.Medium, "header length 4096"}}, max: finding.Medium, err: true},
		{file: "malformed/truncated-data.safetensors", want: []expect{{knowledge.RuleSafetensorsLayout, finding.Medium, "data section 100 bytes"}}, max: finding.Medium, err: true},
		{file: "malformed/metadata-nonstring.safetensors", want: []expect{{knowledge.RuleSafetensorsMetadata, finding.Low, `"epoch": 3`}}, max: finding.Low},
		{file: "malformed/duplicate-keys.safetensors", want: []expect{{knowledge.RuleSafetensorsHeader, finding.Medium, `"a"."dtype"`}}, max: finding.Medium},
		{file: "malformed/bad-entry.safetensors", want: []expect{{knowledge.RuleSafetensorsHeader, finding.Medium, `unknown dtype "F128"`}}, max: finding.Medium},
		{file: "malformed/nul-padding.safetensors", want: []expect{{knowledge.RuleSafetensorsHeader, finding.Medium, "invalid character"}}, max: finding.Medium},
		{file: "malformed/not-json.safetensors", want: []expect{{knowledge.RuleSafetensorsHeader, finding.Medium, ""}}, max: finding.Medium, err: true},

		{file: "malicious/polyglot-string.safetensors", want: []expect{
			{knowledge.RuleSafetensorsPolyglot, finding.High, "posix.system"},
			{knowledge.RuleDangerousCall, finding.Critical, "posix.system('touch marker')"},
			{knowledge.RuleFormatSummary, finding.Info, ""}}, max: finding.Critical},
		{file: "malicious/polyglot-unicode.safetensors", want: []expect{
			{knowledge.RuleSafetensorsPolyglot, finding.High, "posix.system"},
			{knowledge.RuleDangerousCall, finding.Critical, "posix.system('touch marker')"}}, max: finding.Critical},
	} {
		t.Run(tc.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if !(safetensors.Analyzer{}).Match(tc.file, data[:min(len(data), analyzer.HeadSize)]) {
				t.Error("Match refused the file")
			}
			out, err := analyze(t, data)
			if (err != nil) != tc.err {
				t.Errorf("error %v, want error %v", err, tc.err)
			}
			for _, w := range tc.want {
				if !hasFinding(out, w) {
					t.Errorf("no %s %s finding with evidence %q", w.sev, w.rule, w.evidence)
				}
			}
			for _, f := range out.Findings {
				if f.Severity > tc.max {
					t.Errorf("unexpected %s %s: %s [%s]", f.Severity, f.RuleID, f.Message, f.Evidence)
				}
			}
			if len(out.Nested) != tc.nested {
				t.Errorf("%d nested inputs, want %d", len(out.Nested), tc.nested)
			}
			if t.Failed() {
				for _, f := range out.Findings {
					t.Logf("%s %s @%d: %s [%s]", f.Severity, f.RuleID, f.Offset, f.Message, f.Evidence)
				}
			}
		})
	}
}

func hasFinding(out analyzer.Output, w expect) bool {
	for _, f := range out.Findings {
		if f.RuleID == w.rule && f.Severity == w.sev && strings.Contains(f.Evidence+" "+f.Message, w.evidence) {
			return true
		}
	}
	return false
}

// TestPolyglotIsValidSafetensors: the malicious fixtures pass every layout
// and header check — a loader takes them as weights — which is the point.
func TestPolyglotIsValidSafetensors(t *testing.T) {
	for _, name := range []string{"polyglot-string", "polyglot-unicode"} {
		data, err := os.ReadFile(filepath.Join("testdata", "malicious", name+".safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		out, err := analyze(t, data)
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
		for _, r := range []string{knowledge.RuleSafetensorsHeader, knowledge.RuleSafetensorsLayout, knowledge.RuleSafetensorsMetadata} {
			if f := find(out, r); f != nil {
				t.Errorf("%s: %s %s [%s]", name, r, f.Message, f.Evidence)
			}
		}
		if s := find(out, knowledge.RuleFormatSummary); s == nil || !strings.Contains(s.Message, "2 tensors") {
			t.Errorf("%s: summary %+v", name, s)
		}
	}
}

func TestSummary(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "benign", "multi.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	out, _ := analyze(t, data)
	s := find(out, knowledge.RuleFormatSummary)
	if s == nil || !strings.Contains(s.Message, "6 tensors (BF16×1, BOOL×1, F32×2, F64×1, I64×1)") || !strings.Contains(s.Message, `format "pt"`) {
		t.Errorf("summary %+v", s)
	}
}

func TestMatch(t *testing.T) {
	le := func(n uint64, rest string) []byte { return append(binary.LittleEndian.AppendUint64(nil, n), rest...) }
	for _, tc := range []struct {
		name string
		head []byte
		want bool
	}{
		{"object", le(20, `{"a":{}}`), true},
		{"empty object", le(8, `{}      `), true},
		{"leading whitespace", le(20, " \n\t{ \"a\""), true},
		{"oversized but plausible", le(200_000_000, `{"a"`), true},
		{"array", le(20, `["a"]`), false},
		{"object of numbers", le(20, `{1:2}`), false},
		{"length too large", le(1<<40, `{"a":1}`), false},
		{"length zero", le(0, `{}`), false},
		{"short", []byte("\x08\x00\x00\x00\x00\x00\x00\x00{"), false},
		{"zip", []byte("PK\x03\x04\x14\x00\x00\x00\x08\x00{\"a\""), false},
		{"gzip", []byte("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03{\"a\""), false},
		{"npy", []byte("\x93NUMPY\x01\x00v\x00{'descr'"), false},
		{"pickle p2", []byte("\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01K\x01u."), false},
		{"pickle p0", []byte("(dp0\nS'a'\np1\nI1\ns."), false},
		{"zlib-looking length", le(0x9c78, `{"a"`), true},
	} {
		if got := (safetensors.Analyzer{}).Match("x", tc.head); got != tc.want {
			t.Errorf("%s: Match = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestMatchRefusesRealPickles: no pickle of the project's corpus (raw,
// joblib, numpy, torch) is claimed as safetensors.
func TestMatchRefusesRealPickles(t *testing.T) {
	var n int
	for _, dir := range []string{"../picklefile/testdata", "../numpy/testdata", "../joblib/testdata", "../pytorch/testdata"} {
		_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return nil
			}
			n++
			if (safetensors.Analyzer{}).Match(p, b[:min(len(b), analyzer.HeadSize)]) {
				t.Errorf("%s claimed as safetensors", p)
			}
			return nil
		})
	}
	if n < 100 {
		t.Logf("only %d files checked", n)
	}
}

// TestThroughEngine scans the fixtures with the engine, the safetensors
// analyser first as the registry will have it: polyglots fail with the
// pickle's own evidence, a pickle hidden in a gap is found as a nested
// input, and clean files pass.
func TestThroughEngine(t *testing.T) {
	e := scan.New()
	e.Analyzers = append([]analyzer.Analyzer{safetensors.Analyzer{}}, e.Analyzers...)
	e.NoDigest = true
	for _, tc := range []struct {
		file     string
		max      finding.Severity
		member   string
		evidence string
		errors   bool
	}{
		{file: "benign/multi.safetensors", max: finding.Info},
		{file: "benign/length-proto.safetensors", max: finding.Info},
		{file: "malicious/polyglot-string.safetensors", max: finding.Critical, evidence: "posix.system('touch marker')"},
		{file: "malicious/polyglot-unicode.safetensors", max: finding.Critical, evidence: "posix.system('touch marker')"},
		{file: "malformed/gap-pickle.safetensors", max: finding.Critical, member: "uncovered@", evidence: "posix.system('touch marker')"},
		{file: "malformed/gap.safetensors", max: finding.Medium},
		{file: "malformed/truncated-header.safetensors", max: finding.Medium, errors: true},
	} {
		res := e.ScanPaths(context.Background(), []string{filepath.Join("testdata", tc.file)})
		if len(res) != 1 {
			t.Fatalf("%s: %d results", tc.file, len(res))
		}
		r := res[0]
		if r.Format != "safetensors" {
			t.Errorf("%s: format %q", tc.file, r.Format)
		}
		if (len(r.Errors) > 0) != tc.errors {
			t.Errorf("%s: errors %q", tc.file, r.Errors)
		}
		if m, _ := finding.Max(r.Findings); m != tc.max {
			t.Errorf("%s: max severity %s, want %s", tc.file, m, tc.max)
		}
		if tc.evidence != "" {
			ok := false
			for _, f := range r.Findings {
				ok = ok || f.Severity == tc.max && strings.Contains(f.Evidence, tc.evidence) && strings.HasPrefix(f.Member, tc.member)
			}
			if !ok {
				t.Errorf("%s: no %s finding with %q in %q", tc.file, tc.max, tc.evidence, tc.member)
				for _, f := range r.Findings {
					t.Logf("  %s %s %s: %s", f.Severity, f.RuleID, f.Location(), f.Evidence)
				}
			}
		}
	}
}

func TestInMemoryCases(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
		want expect
		err  bool
	}{
		{"shape overflow", file(`{"a":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}}`, zeros(8)),
			expect{knowledge.RuleSafetensorsLayout, finding.Medium, "overflows"}, false},
		{"sub-byte partial", file(`{"a":{"dtype":"F4","shape":[3],"data_offsets":[0,1]}}`, zeros(1)),
			expect{knowledge.RuleSafetensorsLayout, finding.Medium, "whole bytes"}, false},
		{"first tensor not at 0", file(`{"a":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}}`, zeros(4)),
			expect{knowledge.RuleSafetensorsLayout, finding.Medium, `[0, 2) before "a"`}, false},
		{"metadata not an object", file(`{"__metadata__":"pt"}`, nil),
			expect{knowledge.RuleSafetensorsMetadata, finding.Low, `__metadata__ = "pt"`}, false},
		{"metadata null is allowed", file(`{"__metadata__":null}`, nil),
			expect{knowledge.RuleFormatSummary, finding.Info, "0 tensors"}, false},
		{"data_offsets of three", file(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1,2]}}`, zeros(1)),
			expect{knowledge.RuleSafetensorsHeader, finding.Medium, "data_offsets [0,1,2]"}, false},
		{"missing dtype", file(`{"a":{"shape":[1],"data_offsets":[0,1]}}`, zeros(1)),
			expect{knowledge.RuleSafetensorsHeader, finding.Medium, "no dtype"}, false},
		{"invalid UTF-8", file("{\"a\xff\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", zeros(1)),
			expect{knowledge.RuleSafetensorsHeader, finding.Medium, "UTF-8"}, false},
		{"second object", file(`{}{}`, nil), expect{knowledge.RuleSafetensorsHeader, finding.Medium, "after the JSON object"}, false},
		{"top-level array", file(`[1]`, nil), expect{knowledge.RuleSafetensorsHeader, finding.Medium, "not an object"}, true},
		{"deep nesting", file(`{"a":{"b":`+strings.Repeat("[", 200)+strings.Repeat("]", 200)+`}}`, nil),
			expect{knowledge.RuleSafetensorsHeader, finding.Medium, "deeper"}, false},
		{"shorter than the length field", []byte{1, 2, 3}, expect{knowledge.RuleSafetensorsHeader, finding.Medium, ""}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := analyze(t, tc.data)
			if (err != nil) != tc.err {
				t.Errorf("error %v, want error %v", err, tc.err)
			}
			if !hasFinding(out, tc.want) {
				for _, f := range out.Findings {
					t.Logf("%s %s: %s [%s]", f.Severity, f.RuleID, f.Message, f.Evidence)
				}
				t.Errorf("no %s %s with %q", tc.want.sev, tc.want.rule, tc.want.evidence)
			}
		})
	}
}

// TestRegistryOrder documents why the safetensors analyser must come
// before the compression and raw pickle analysers: valid safetensors files
// whose length bytes look like their magic would be claimed by them.
func TestRegistryOrder(t *testing.T) {
	head := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return b[:min(len(b), analyzer.HeadSize)]
	}
	for _, name := range []string{"benign/length-proto.safetensors", "malicious/polyglot-unicode.safetensors"} {
		if !(picklefile.Analyzer{}).Match(name, head(name)) {
			t.Errorf("%s: the pickle analyser no longer claims it; update the registry note", name)
		}
	}
	zlibLength := file(pad(0x9c78, `{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, ""), zeros(1))
	if (compress.Analyzer{}).Match("x", zlibLength[:analyzer.HeadSize]) == false {
		t.Error("a zlib-looking length is no longer claimed by the compression analyser; update the registry note")
	}
	if !(safetensors.Analyzer{}).Match("x", zlibLength[:analyzer.HeadSize]) {
		t.Error("Match refused a file with a zlib-looking length")
	}
}
