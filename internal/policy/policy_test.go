package policy

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelgate/modelgate/internal/analyzer"
	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/knowledge"
	"github.com/modelgate/modelgate/internal/report"
	"github.com/modelgate/modelgate/internal/scan"
)

const (
	shaA = "5b51dcd64fcf0a4b2b1f1c8b7a2c6b1e9d3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b"
	shaB = "742a0000000000000000000000000000000000000000000000000000000000ff"
)

const fullPolicy = `# an organisation's policy
version: 1
fail_on: medium
severity:
  PICKLE-UNKNOWN-GLOBAL: low
  pickle-old-protocol: info   # rule ids are case-insensitive
allow:
  - global: mycorp.models.*
  - global: mycorp.util.load_weights
    calls: true
    reason: "reads tensors only"
  - global: "mycorp.nn:Outer.Inner"
deny:
  - global: mycorp.legacy.*
    severity: high
    reason: runs shell commands
  - global: collections.OrderedDict
suppressions:
  - sha256: ` + shaA + `
    rule: PICKLE-UNKNOWN-CALL
    reason: "reviewed in SEC-123"
    owner: alice@example.com
    expires: 2027-03-31
formats:
  disabled: [TFLite]
limits:
  max_depth: 4
  max_decompressed: 1GiB
  max_total_decompressed: 2_000_000_000
  max_members: 1000
  max_opcodes: 500_000
  max_ratio: 50
  max_findings: 100
`

func mustParse(t *testing.T, src string) *Policy {
	t.Helper()
	p, err := Parse([]byte(src), "test.yaml")
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return p
}

func TestParseValid(t *testing.T) {
	p := mustParse(t, fullPolicy)
	if p.Source != "test.yaml" || p.FailOn != finding.Medium || p.Threshold() != finding.Medium {
		t.Errorf("source %q fail_on %v", p.Source, p.FailOn)
	}
	if p.Severity["PICKLE-UNKNOWN-GLOBAL"] != finding.Low || p.Severity["PICKLE-OLD-PROTOCOL"] != finding.Info || len(p.Severity) != 2 {
		t.Errorf("severity %v", p.Severity)
	}
	wantAllow := []Allow{
		{Global: Global{"mycorp.models", ""}, Line: 8},
		{Global: Global{"mycorp.util", "load_weights"}, Calls: true, Reason: "reads tensors only", Line: 9},
		{Global: Global{"mycorp.nn", "Outer.Inner"}, Line: 12},
	}
	if !slices.Equal(p.Allow, wantAllow) {
		t.Errorf("allow %+v", p.Allow)
	}
	wantDeny := []Deny{
		{Global: Global{"mycorp.legacy", ""}, Severity: finding.High, Reason: "runs shell commands", Line: 14},
		{Global: Global{"collections", "OrderedDict"}, Severity: finding.Critical, Line: 17},
	}
	if !slices.Equal(p.Deny, wantDeny) {
		t.Errorf("deny %+v", p.Deny)
	}
	wantSup := []Suppression{{SHA256: shaA, Rule: "PICKLE-UNKNOWN-CALL", Reason: "reviewed in SEC-123",
		Owner: "alice@example.com", Expires: "2027-03-31", Line: 19}}
	if !slices.Equal(p.Suppressions, wantSup) {
		t.Errorf("suppressions %+v", p.Suppressions)
	}
	if !slices.Equal(p.Formats.Disabled, []string{"tflite"}) || p.FormatEnabled("tflite") || p.FormatEnabled("TFLITE") || !p.FormatEnabled("pickle") {
		t.Errorf("formats %+v", p.Formats)
	}
	want := Limits{MaxDepth: 4, MaxDecompressed: 1 << 30, MaxTotalDecompressed: 2_000_000_000, MaxRatio: 50,
		MaxMembers: 1000, MaxOpcodes: 500_000, MaxFindings: 100}
	if p.Limits != want {
		t.Errorf("limits %+v", p.Limits)
	}
	lim := analyzer.DefaultLimits()
	p.ApplyLimits(&lim)
	if lim.MaxDepth != 4 || lim.MaxDecompressed != 1<<30 || lim.MaxTotalDecompressed != 2_000_000_000 || lim.MaxRatio != 50 ||
		lim.MaxMembers != 1000 || lim.Pickle.MaxOpcodes != 500_000 || lim.MaxFindings != 100 || lim.Catalogue == nil ||
		lim.Pickle.MaxStack != analyzer.DefaultLimits().Pickle.MaxStack {
		t.Errorf("ApplyLimits: %+v", lim)
	}
	if !p.NeedsDigest() || Default().NeedsDigest() {
		t.Error("NeedsDigest")
	}
	if Explain(p) == "" {
		t.Error("empty Explain")
	}
}

func TestParseDefaults(t *testing.T) {
	p := mustParse(t, "version: 1\n")
	if p.Hash() != Default().Hash() {
		t.Errorf("version-only policy hash %s, default %s", p.Hash(), Default().Hash())
	}
	// Empty sections are allowed and change nothing.
	p = mustParse(t, "version: 1\nseverity:\nallow:\ndeny: []\nsuppressions:\nformats:\nlimits: {}\n")
	if p.Hash() != Default().Hash() {
		t.Error("empty sections changed the hash")
	}
	lim := analyzer.DefaultLimits()
	Default().ApplyLimits(&lim)
	if want := analyzer.DefaultLimits(); lim.MaxDepth != want.MaxDepth || lim.MaxDecompressed != want.MaxDecompressed ||
		lim.Pickle != want.Pickle || lim.Catalogue != nil {
		t.Errorf("default ApplyLimits changed the limits: %+v", lim)
	}
	for _, f := range []string{"", "empty", "unknown", "pickle", "tflite"} {
		if !Default().FormatEnabled(f) {
			t.Errorf("default policy disables %q", f)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string // substrings of the error, positions included
	}{
		{"unknown top key", "version: 1\nfial_on: high\n", []string{`test.yaml:2:1: `, `unknown key "fial_on"`, `did you mean "fail_on"`}},
		{"unknown nested key", "version: 1\nallow:\n  - global: a.b\n    call: true\n", []string{`test.yaml:4:5:`, `unknown key "call"`, `"calls"`}},
		{"unknown suppression key", "version: 1\nsuppressions:\n  - sha256: " + shaA + "\n    rule: X\n    reason: r\n    owner: o\n    expires: 2027-01-01\n    member: a\n", []string{`test.yaml:8:5:`, `unknown key "member"`}},
		{"unknown limit", "version: 1\nlimits:\n  max_dept: 3\n", []string{`3:3:`, `did you mean "max_depth"`}},
		{"duplicate key", "version: 1\nfail_on: high\nfail_on: low\n", []string{`3:1:`, `duplicate key "fail_on" (first at line 2)`}},
		{"bad severity", "version: 1\nfail_on: severe\n", []string{`2:10:`, `fail_on: unknown severity "severe"`, `critical`}},
		{"severity number", "version: 1\nfail_on: 3\n", []string{`2:10:`, `want a severity`, `the number 3`}},
		{"bad override severity", "version: 1\nseverity:\n  PICKLE-UNKNOWN-CALL: meh\n", []string{`3:24:`, `severity.PICKLE-UNKNOWN-CALL`}},
		{"bad rule id", "version: 1\nseverity:\n  not a rule: low\n", []string{`3:3:`, `is not a rule id`}},
		{"bad deny severity", "version: 1\ndeny:\n  - global: a.b\n    severity: urgent\n", []string{`4:15:`, `deny.severity`}},
		{"bad sha256", "version: 1\nsuppressions:\n  - sha256: abc123\n    rule: PICKLE-UNKNOWN-CALL\n    reason: r\n    owner: o\n    expires: 2027-01-01\n", []string{`3:13:`, `64 hex digits`}},
		{"sha256 not hex", "version: 1\nsuppressions:\n  - sha256: " + strings.Repeat("g", 64) + "\n    rule: PICKLE-UNKNOWN-CALL\n    reason: r\n    owner: o\n    expires: 2027-01-01\n", []string{`3:13:`, `64 hex digits`}},
		{"bad date", "version: 1\nsuppressions:\n  - sha256: " + shaA + "\n    rule: PICKLE-UNKNOWN-CALL\n    reason: r\n    owner: o\n    expires: 2027-02-30\n", []string{`7:14:`, `YYYY-MM-DD`}},
		{"date with time", "version: 1\nsuppressions:\n  - sha256: " + shaA + "\n    rule: PICKLE-UNKNOWN-CALL\n    reason: r\n    owner: o\n    expires: 2027-02-03T10:00:00Z\n", []string{`7:14:`, `YYYY-MM-DD`}},
		{"date words", "version: 1\nsuppressions:\n  - sha256: " + shaA + "\n    rule: PICKLE-UNKNOWN-CALL\n    reason: r\n    owner: o\n    expires: next year\n", []string{`7:14:`, `YYYY-MM-DD`}},
		{"missing suppression fields", "version: 1\nsuppressions:\n  - sha256: " + shaA + "\n    rule: PICKLE-UNKNOWN-CALL\n", []string{`3:5:`, `missing reason, owner, expires`}},
		{"duplicate suppression", "version: 1\nsuppressions:\n  - {sha256: " + shaA + ", rule: R, reason: r, owner: o, expires: 2027-01-01}\n  - {sha256: " + strings.ToUpper(shaA) + ", rule: r, reason: s, owner: o, expires: 2028-01-01}\n", []string{`4:5:`, `already suppressed`, `line 3`}},
		{"bad glob middle star", "version: 1\nallow:\n  - global: mycorp.*.models\n", []string{`3:13:`, `'*' is only allowed as the whole name`}},
		{"bad glob partial star", "version: 1\ndeny:\n  - global: mycorp.mod*\n", []string{`3:13:`, `'*'`}},
		{"bad glob bare module", "version: 1\ndeny:\n  - global: mycorp\n", []string{`3:13:`, `names a module, not a global`}},
		{"bad glob star only", "version: 1\nallow:\n  - global: '*'\n", []string{`3:13:`}},
		{"bad glob empty segment", "version: 1\nallow:\n  - global: a..b\n", []string{`3:13:`, `not a dotted Python name`}},
		{"bad glob digit", "version: 1\nallow:\n  - global: a.1b\n", []string{`3:13:`, `not a Python name`}},
		{"bad glob colon", "version: 1\nallow:\n  - global: 'a.b:'\n", []string{`3:13:`, `nothing after ':'`}},
		{"wildcard calls", "version: 1\nallow:\n  - global: mycorp.*\n    calls: true\n", []string{`3:13:`, `only an exact name`}},
		{"calls not bool", "version: 1\nallow:\n  - global: mycorp.f\n    calls: yes\n", []string{`4:12:`, `want true or false`}},
		{"missing global", "version: 1\nallow:\n  - reason: x\n", []string{`3:5:`, `missing global`}},
		{"duplicate allow", "version: 1\nallow:\n  - global: a.b\n  - global: 'a:b'\n", []string{`4:13:`, `listed twice (first at line 3)`}},
		{"allow not a list", "version: 1\nallow: a.b\n", []string{`2:8:`, `want a list`}},
		{"allow item not a mapping", "version: 1\nallow:\n  - a.b\n", []string{`3:5:`, `want a mapping`}},
		{"missing version", "fail_on: high\n", []string{`1:1:`, `version: missing`}},
		{"wrong version", "version: 2\n", []string{`1:10:`, `unsupported policy version 2`}},
		{"version text", "version: one\n", []string{`1:10:`, `whole number`}},
		{"empty", "", []string{`empty policy`}},
		{"comments only", "# nothing\n", []string{`empty policy`}},
		{"null document", "~\n", []string{`empty policy`}},
		{"not a mapping", "- version: 1\n", []string{`1:1:`, `want a mapping`}},
		{"syntax error", "version: 1\nfail_on: [high\n", []string{`test.yaml:`, `invalid YAML`}},
		{"tab indentation", "version: 1\nlimits:\n\tmax_depth: 3\n", []string{`invalid YAML`}},
		{"two documents", "version: 1\n---\nversion: 1\n", []string{`one YAML document`}},
		{"alias", "version: 1\nfail_on: &x high\nseverity:\n  PICKLE-UNKNOWN-CALL: *x\n", []string{`4:24:`, `aliases`}},
		{"merge key", "version: 1\nlimits:\n  <<: {max_depth: 3}\n", []string{`3:3:`}},
		{"bad size unit", "version: 1\nlimits:\n  max_decompressed: 16 parsecs\n", []string{`3:21:`, `want a size`}},
		{"size fraction", "version: 1\nlimits:\n  max_decompressed: 1.5GiB\n", []string{`3:21:`, `want a size`}},
		{"size overflow", "version: 1\nlimits:\n  max_decompressed: 9000000TiB\n", []string{`3:21:`, `too large`}},
		{"zero limit", "version: 1\nlimits:\n  max_depth: 0\n", []string{`3:14:`, `at least 1`}},
		{"negative limit", "version: 1\nlimits:\n  max_members: -5\n", []string{`3:16:`, `whole number`}},
		{"huge depth", "version: 1\nlimits:\n  max_depth: 100000\n", []string{`3:14:`, `at most 1000`}},
		{"limit float", "version: 1\nlimits:\n  max_opcodes: 1e9\n", []string{`3:16:`, `whole number`}},
		{"format in both lists", "version: 1\nformats:\n  enabled: [pickle]\n  disabled: [pickle]\n", []string{`4:14:`, `already listed`}},
		{"bad format id", "version: 1\nformats:\n  disabled: ['py torch']\n", []string{`3:14:`, `not a format id`}},
		{"formats key", "version: 1\nformats:\n  disable: [tflite]\n", []string{`3:3:`, `did you mean "disabled"`}},
		{"many errors", "version: 1\nfail_on: x\nfoo: 1\nlimits:\n  max_depth: x\n", []string{`2:10:`, `3:1:`, `5:14:`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse([]byte(tt.src), "test.yaml")
			if err == nil {
				t.Fatalf("no error; parsed %+v", p)
			}
			if p != nil {
				t.Error("policy returned with an error")
			}
			var es Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Errorf("error is %T, want Errors", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}
}

func TestParseGlobal(t *testing.T) {
	for in, want := range map[string]Global{
		"a.b":            {"a", "b"},
		"a.b.c":          {"a.b", "c"},
		"a.b.*":          {"a.b", ""},
		"a:*":            {"a", ""},
		"a.b:C.d":        {"a.b", "C.d"},
		"__main__.Net":   {"__main__", "Net"},
		"módulo.Clase":   {"módulo", "Clase"},
		"torch._utils.x": {"torch._utils", "x"},
	} {
		g, err := ParseGlobal(in)
		if err != nil || g != want {
			t.Errorf("ParseGlobal(%q) = %+v, %v; want %+v", in, g, err, want)
		}
	}
	// String renders a form that parses back to the same global.
	for _, g := range []Global{{"a", "b"}, {"a.b", ""}, {"a.b", "C.d"}} {
		if back, err := ParseGlobal(g.String()); err != nil || back != g {
			t.Errorf("%+v → %q → %+v, %v", g, g.String(), back, err)
		}
	}
}

func TestHashStability(t *testing.T) {
	base := mustParse(t, fullPolicy)
	// The same policy: lists and keys reordered, comments, flow style,
	// other spellings of the same values.
	same := `
# reordered, re-spelled
limits:
  max_findings: 100
  max_ratio: 50
  max_opcodes: 500000
  max_members: 1_000
  max_total_decompressed: 2000000000B
  max_decompressed: 1073741824
  max_depth: 4
formats: {disabled: [tflite]}
suppressions:
  - owner: alice@example.com      # the owner
    expires: "2027-03-31"
    reason: reviewed in SEC-123
    rule: pickle-unknown-call
    sha256: "sha256:` + strings.ToUpper(shaA) + `"
deny:
  - {global: "collections:OrderedDict", severity: CRITICAL}
  - global: mycorp.legacy:*
    reason: "  runs shell commands  "
    severity: High
allow:
  - global: mycorp.nn:Outer.Inner
  - {global: mycorp.util:load_weights, reason: reads tensors only, calls: true}
  - global: mycorp.models.*
    calls: false
severity: {PICKLE-OLD-PROTOCOL: info, PICKLE-UNKNOWN-GLOBAL: Low}
fail_on: MEDIUM
version: 1
`
	if h := mustParse(t, same).Hash(); h != base.Hash() {
		t.Errorf("equal policies hash differently:\n%s\n%s", base.Canonical(), mustParse(t, same).Canonical())
	}
	// Writing a default explicitly does not change the effective policy.
	explicit := "version: 1\nfail_on: high\nlimits:\n  max_depth: 8\n  max_decompressed: 16GiB\n  max_members: 100000\n  max_opcodes: 500000000\n"
	if mustParse(t, explicit).Hash() != Default().Hash() {
		t.Error("explicit defaults change the hash")
	}
	// The source is not part of the policy.
	other, _ := Parse([]byte(fullPolicy), "elsewhere/modelgate.yaml")
	if other.Hash() != base.Hash() {
		t.Error("source changes the hash")
	}
	// Any real change does.
	seen := map[string]string{base.Hash(): "base"}
	for name, edit := range map[string][2]string{
		"fail_on":    {"fail_on: medium", "fail_on: high"},
		"override":   {"PICKLE-UNKNOWN-GLOBAL: low", "PICKLE-UNKNOWN-GLOBAL: info"},
		"calls":      {"calls: true", "calls: false"},
		"reason":     {`reason: "reads tensors only"`, `reason: "reads tensors"`},
		"deny sev":   {"severity: high", "severity: medium"},
		"expires":    {"expires: 2027-03-31", "expires: 2027-04-01"},
		"owner":      {"owner: alice@example.com", "owner: bob@example.com"},
		"format":     {"disabled: [TFLite]", "disabled: [gguf]"},
		"limit":      {"max_depth: 4", "max_depth: 5"},
		"glob":       {"mycorp.models.*", "mycorp.models.Net"},
		"sha256":     {shaA, shaB},
		"rule":       {"rule: PICKLE-UNKNOWN-CALL", "rule: PICKLE-UNKNOWN-GLOBAL"},
		"enable all": {"disabled: [TFLite]", "enabled: [TFLite]"},
	} {
		src := strings.Replace(fullPolicy, edit[0], edit[1], 1)
		if src == fullPolicy {
			t.Fatalf("%s: edit did not apply", name)
		}
		h := mustParse(t, src).Hash()
		if prev, dup := seen[h]; dup {
			t.Errorf("%s: same hash as %s", name, prev)
		}
		seen[h] = name
	}
}

// defaultHash pins the built-in default policy's hash: reports carry it, so
// a change is a visible change of the effective policy (for example new
// default limits). Update it deliberately.
const defaultHash = "f036218fefa06bc7dc69a3991401930c1caf3338e81167bb544a9d0437acf1d4"

func TestDefaultHashStable(t *testing.T) {
	h := Default().Hash()
	if h != Default().Hash() || !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(h) {
		t.Fatalf("default hash %q", h)
	}
	if h != defaultHash {
		t.Errorf("default policy hash is %s, pinned %s (canonical form %s)", h, defaultHash, Default().Canonical())
	}
}

func TestInitTemplate(t *testing.T) {
	p := mustParse(t, InitTemplate)
	if p.Hash() != Default().Hash() {
		t.Errorf("InitTemplate hash %s, Default %s", p.Hash(), Default().Hash())
	}
	if probs := Check(p, time.Now()); len(probs) != 0 {
		t.Errorf("Check(InitTemplate) = %q", probs)
	}
	// Uncommenting the limits block (which shows the defaults) changes
	// nothing; uncommenting the examples gives a valid policy.
	// An example block starts at a commented top-level key and ends at the
	// next blank line.
	uncomment := func(keys string) string {
		header := regexp.MustCompile(`^# (` + keys + `):`)
		var out []string
		in := false
		for _, l := range strings.Split(InitTemplate, "\n") {
			if header.MatchString(l) {
				in = true
			}
			if l == "" {
				in = false
			}
			if in {
				l = strings.TrimPrefix(l, "# ")
			}
			out = append(out, l)
		}
		return strings.Join(out, "\n")
	}
	limits := strings.Split(uncomment("limits"), "\n")
	examples := strings.Split(uncomment("severity|allow|deny|suppressions|formats"), "\n")
	if p := mustParse(t, strings.Join(limits, "\n")); p.Hash() != Default().Hash() {
		t.Errorf("the template's limits are not the defaults: %+v, want %+v", p.Limits, Default().Limits)
	}
	ex := mustParse(t, strings.Join(examples, "\n"))
	if len(ex.Allow) != 2 || len(ex.Deny) != 1 || len(ex.Suppressions) != 1 || len(ex.Severity) != 1 || !slices.Equal(ex.Formats.Disabled, []string{"tflite"}) {
		t.Errorf("uncommented examples: %+v", ex)
	}
}

func fileResult(path, sha, format string, fs ...finding.Finding) scan.FileResult {
	return scan.FileResult{Path: path, Format: format, Size: 100, SHA256: sha, Findings: fs}
}

func fnd(rule string, sev finding.Severity) finding.Finding {
	return finding.Finding{RuleID: rule, Severity: sev, Message: "m", Offset: 10}
}

func suppressionPolicy(t *testing.T, sha, rule, expires string) *Policy {
	t.Helper()
	return mustParse(t, "version: 1\nsuppressions:\n  - sha256: "+sha+"\n    rule: "+rule+
		"\n    reason: reviewed in SEC-123\n    owner: alice@example.com\n    expires: "+expires+"\n")
}

func TestApply(t *testing.T) {
	now := time.Date(2027, 3, 31, 23, 59, 0, 0, time.UTC) // the expiry date's last minute
	failing := func() *report.Document {
		return &report.Document{Files: []scan.FileResult{
			fileResult("a.pkl", shaA, "pickle", fnd(knowledge.RuleUnknownCall, finding.High), fnd(knowledge.RuleSummary, finding.Info)),
		}}
	}
	t.Run("suppression passes the document", func(t *testing.T) {
		doc := failing()
		if doc.Verdict() != report.Fail {
			t.Fatal("fixture does not fail")
		}
		p := suppressionPolicy(t, shaA, knowledge.RuleUnknownCall, "2027-03-31")
		p.Apply(doc, now)
		if doc.Verdict() != report.Pass {
			t.Errorf("verdict %v, want pass", doc.Verdict())
		}
		got := doc.Files[0].Findings[0]
		if got.Suppression == nil || *got.Suppression != (finding.Suppression{Reason: "reviewed in SEC-123", Owner: "alice@example.com", Expires: "2027-03-31"}) {
			t.Errorf("suppression %+v", got.Suppression)
		}
		if doc.Files[0].Findings[1].Suppression != nil {
			t.Error("the other rule was suppressed too")
		}
		if doc.PolicyHash != p.Hash() || doc.PolicySource != "test.yaml" || doc.FailOn != finding.High {
			t.Errorf("document policy fields %q %q %v", doc.PolicyHash, doc.PolicySource, doc.FailOn)
		}
		if s := doc.Summarize(); s.Suppressed != 1 {
			t.Errorf("summary %+v", s)
		}
	})
	t.Run("expired suppression", func(t *testing.T) {
		doc := failing()
		p := suppressionPolicy(t, shaA, knowledge.RuleUnknownCall, "2027-03-30")
		p.Apply(doc, now)
		if doc.Verdict() != report.Fail {
			t.Errorf("verdict %v, want fail", doc.Verdict())
		}
		var expired []finding.Finding
		for _, f := range doc.Files[0].Findings {
			if f.Suppression != nil {
				t.Errorf("suppressed %s", f.RuleID)
			}
			if f.RuleID == knowledge.RulePolicySuppressionExpired {
				expired = append(expired, f)
			}
		}
		if len(expired) != 1 || expired[0].Severity != finding.Medium || !strings.Contains(expired[0].Message, "2027-03-30") ||
			!strings.Contains(expired[0].Message, knowledge.RuleUnknownCall) || !strings.Contains(expired[0].Message, "test.yaml:3") {
			t.Errorf("expired findings %+v", expired)
		}
		if _, ok := knowledge.RuleByID(knowledge.RulePolicySuppressionExpired); !ok {
			t.Error("the expired rule is not in knowledge.Rules")
		}
	})
	t.Run("expiry is inclusive in UTC", func(t *testing.T) {
		p := suppressionPolicy(t, shaA, knowledge.RuleUnknownCall, "2027-03-31")
		for _, tc := range []struct {
			now     time.Time
			expired bool
		}{
			{time.Date(2027, 3, 31, 0, 0, 0, 0, time.UTC), false},
			{time.Date(2027, 3, 31, 23, 59, 59, 0, time.UTC), false},
			{time.Date(2027, 4, 1, 0, 0, 0, 0, time.UTC), true},
			// 2027-03-31 20:00 in New York is 2027-04-01 00:00 UTC.
			{time.Date(2027, 3, 31, 20, 0, 0, 0, time.FixedZone("EDT", -4*3600)), true},
			{time.Date(2027, 4, 1, 1, 0, 0, 0, time.FixedZone("CEST", 2*3600)), false},
		} {
			doc := failing()
			p.Apply(doc, tc.now)
			if got := doc.Verdict() == report.Fail; got != tc.expired {
				t.Errorf("at %v: expired %v, want %v", tc.now, got, tc.expired)
			}
		}
	})
	t.Run("rule mismatch", func(t *testing.T) {
		doc := failing()
		suppressionPolicy(t, shaA, knowledge.RuleDangerousCall, "2027-12-31").Apply(doc, now)
		if doc.Verdict() != report.Fail || doc.Summarize().Suppressed != 0 {
			t.Error("a suppression of another rule applied")
		}
	})
	t.Run("sha256 mismatch", func(t *testing.T) {
		doc := failing()
		suppressionPolicy(t, shaB, knowledge.RuleUnknownCall, "2027-12-31").Apply(doc, now)
		if doc.Verdict() != report.Fail || doc.Summarize().Suppressed != 0 || len(doc.Files[0].Findings) != 2 {
			t.Error("a suppression for another file applied")
		}
		// An expired one for another file says nothing either.
		doc = failing()
		suppressionPolicy(t, shaB, knowledge.RuleUnknownCall, "2020-01-01").Apply(doc, now)
		if len(doc.Files[0].Findings) != 2 {
			t.Errorf("findings %+v", doc.Files[0].Findings)
		}
	})
	t.Run("no digest matches nothing", func(t *testing.T) {
		doc := failing()
		doc.Files[0].SHA256 = ""
		suppressionPolicy(t, shaA, knowledge.RuleUnknownCall, "2027-12-31").Apply(doc, now)
		if doc.Verdict() != report.Fail {
			t.Error("suppressed without a digest")
		}
	})
	t.Run("upper-case digest in the report", func(t *testing.T) {
		doc := failing()
		doc.Files[0].SHA256 = strings.ToUpper(shaA)
		suppressionPolicy(t, shaA, knowledge.RuleUnknownCall, "2027-12-31").Apply(doc, now)
		if doc.Verdict() != report.Pass {
			t.Error("not suppressed")
		}
	})
	t.Run("severity override", func(t *testing.T) {
		doc := failing()
		p := mustParse(t, "version: 1\nseverity:\n  PICKLE-UNKNOWN-CALL: low\n  PICKLE-SUMMARY: medium\n")
		p.Apply(doc, now)
		fs := doc.Files[0].Findings
		// Re-sorted: the summary (now medium) comes first.
		if fs[0].RuleID != knowledge.RuleSummary || fs[0].Severity != finding.Medium || fs[1].Severity != finding.Low {
			t.Errorf("findings %+v", fs)
		}
		if !strings.Contains(fs[1].Message, "severity low by policy; was high") {
			t.Errorf("message %q", fs[1].Message)
		}
		if doc.Verdict() != report.Pass {
			t.Errorf("verdict %v", doc.Verdict())
		}
		// Raising a rule above the threshold fails the scan.
		doc = failing()
		mustParse(t, "version: 1\nfail_on: critical\nseverity:\n  PICKLE-SUMMARY: critical\n").Apply(doc, now)
		if doc.Verdict() != report.Fail || doc.FailOn != finding.Critical {
			t.Error("raised severity did not fail")
		}
	})
	t.Run("override applies to the expired finding", func(t *testing.T) {
		doc := failing()
		p := mustParse(t, "version: 1\nseverity:\n  POLICY-SUPPRESSION-EXPIRED: high\nsuppressions:\n  - {sha256: "+shaA+
			", rule: PICKLE-UNKNOWN-CALL, reason: r, owner: o, expires: 2020-01-01}\n")
		p.Apply(doc, now)
		if fs := doc.Files[0].Findings; len(fs) != 3 || fs[0].RuleID != knowledge.RulePolicySuppressionExpired || fs[0].Severity != finding.High ||
			fs[1].RuleID != knowledge.RuleUnknownCall {
			t.Errorf("findings %+v", fs)
		}
	})
	t.Run("disabled format", func(t *testing.T) {
		doc := &report.Document{Files: []scan.FileResult{
			fileResult("m.tflite", shaA, "tflite", fnd(knowledge.RuleTFLiteCustomOp, finding.High)),
			fileResult("a.pkl", shaB, "pickle", fnd(knowledge.RuleSummary, finding.Info)),
			fileResult("e", "", "empty"),
		}}
		mustParse(t, "version: 1\nformats:\n  disabled: [tflite]\n").Apply(doc, now)
		if f := doc.Files[0]; len(f.Findings) != 0 || !slices.Equal(f.Errors, []string{"format tflite disabled by policy: not analysed"}) {
			t.Errorf("disabled file %+v", f)
		}
		if f := doc.Files[1]; len(f.Findings) != 1 || len(f.Errors) != 0 {
			t.Errorf("enabled file %+v", f)
		}
		if doc.Verdict() != report.Incomplete {
			t.Errorf("verdict %v, want incomplete", doc.Verdict())
		}
		doc = &report.Document{Files: []scan.FileResult{fileResult("a.pkl", shaB, "pickle"), fileResult("e", "", "empty")}}
		mustParse(t, "version: 1\nformats:\n  enabled: [pytorch-zip]\n").Apply(doc, now)
		if len(doc.Files[0].Errors) != 1 || len(doc.Files[1].Errors) != 0 {
			t.Errorf("enabled list: %+v", doc.Files)
		}
	})
	t.Run("default policy changes nothing", func(t *testing.T) {
		doc := failing()
		want := failing()
		Default().Apply(doc, now)
		if !slices.EqualFunc(doc.Files[0].Findings, want.Files[0].Findings, func(a, b finding.Finding) bool { return a == b }) ||
			doc.PolicySource != DefaultSource || doc.PolicyHash != Default().Hash() {
			t.Errorf("default apply: %+v", doc)
		}
	})
}

// TestApplyRealScan suppresses the real malicious fixture by its SHA-256:
// exit 1 becomes exit 0, and an expired suppression keeps exit 1.
func TestApplyRealScan(t *testing.T) {
	path := filepath.Join("..", "formats", "picklefile", "testdata", "malicious", "01-posix-system-p2.pkl")
	scanDoc := func() *report.Document {
		return &report.Document{FailOn: finding.High, Files: scan.New().ScanPaths(context.Background(), []string{path})}
	}
	doc := scanDoc()
	if doc.Verdict() != report.Fail || len(doc.Files) != 1 || doc.Files[0].SHA256 == "" {
		t.Fatalf("fixture scan: %+v", doc.Files)
	}
	sha := doc.Files[0].SHA256
	now := time.Date(2027, 1, 1, 12, 0, 0, 0, time.UTC)
	suppressionPolicy(t, sha, knowledge.RuleDangerousCall, "2027-01-01").Apply(doc, now)
	if doc.Verdict() != report.Pass {
		t.Errorf("suppressed scan verdict %v: %+v", doc.Verdict(), doc.Files[0].Findings)
	}
	doc = scanDoc()
	suppressionPolicy(t, sha, knowledge.RuleDangerousCall, "2026-12-31").Apply(doc, now)
	if doc.Verdict() != report.Fail || !hasRule(doc.Files[0].Findings, knowledge.RulePolicySuppressionExpired) {
		t.Errorf("expired suppression verdict %v", doc.Verdict())
	}
}

func TestCatalogue(t *testing.T) {
	if Default().Catalogue() != nil {
		t.Error("the default policy has a catalogue")
	}
	p := mustParse(t, `version: 1
allow:
  - global: mycorp.models.*
    reason: our models
  - global: mycorp.util.load_weights
    calls: true
  - global: mycorp.util.Net
  - global: posix.system
deny:
  - global: collections.OrderedDict
    reason: we never pickle OrderedDicts
  - global: mycorp.legacy.*
    severity: high
`)
	c := p.Catalogue()
	tests := []struct {
		module, name string
		use          knowledge.Use
		tier         knowledge.Tier
		report       bool
		sev          finding.Severity
	}{
		// Deny an otherwise safe global.
		{"collections", "OrderedDict", knowledge.Called, knowledge.TierDangerous, true, finding.Critical},
		{"mycorp.legacy.io", "Loader", knowledge.Instantiated, knowledge.TierDangerous, true, finding.High},
		// Allow unknown classes: instantiation is safe, calls are not.
		{"mycorp.models", "Net", knowledge.Instantiated, knowledge.TierSafe, false, 0},
		{"mycorp.models.vision", "ResNet", knowledge.StateSet, knowledge.TierSafe, false, 0},
		{"mycorp.models", "Net", knowledge.Called, knowledge.TierSafe, true, finding.High},
		{"mycorp.util", "load_weights", knowledge.Called, knowledge.TierSafe, false, 0},
		{"mycorp.util", "Net", knowledge.Called, knowledge.TierSafe, true, finding.High},
		{"mycorp.util", "other", knowledge.Instantiated, knowledge.TierUnknown, true, finding.Medium},
		// Allow never overrides the built-in denylist.
		{"posix", "system", knowledge.Called, knowledge.TierDangerous, true, finding.Critical},
	}
	for _, tt := range tests {
		v := c.Classify(tt.module, tt.name)
		j := knowledge.Judge(v, tt.use)
		if v.Tier != tt.tier || j.Report != tt.report || (j.Report && j.Severity != tt.sev) {
			t.Errorf("%s.%s %v: tier %v judgement %+v; want %v report=%v %v", tt.module, tt.name, tt.use, v.Tier, j, tt.tier, tt.report, tt.sev)
		}
	}
	// Built-in alone: OrderedDict is safe, mycorp is unknown.
	if knowledge.Classify("collections", "OrderedDict").Tier != knowledge.TierSafe || knowledge.Classify("mycorp.models", "Net").Tier != knowledge.TierUnknown {
		t.Error("built-in catalogue changed under the test")
	}
	if v := c.Classify("collections", "OrderedDict"); v.Danger.Ref != "policy" || v.Danger.Why != "we never pickle OrderedDicts" {
		t.Errorf("deny entry %+v", v.Danger)
	}
	if v := c.Classify("mycorp.models", "Net"); v.Safe.Why != "our models" {
		t.Errorf("allow entry %+v", v.Safe)
	}
}

func TestCheck(t *testing.T) {
	now := time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)
	p := mustParse(t, `version: 1
fail_on: critical
severity:
  PICKLE-UNKNOWN-CALLS: low
  PICKLE-DANGEROUS-CALL: medium
allow:
  - global: posix.system
  - global: subprocess.*
  - global: collections.OrderedDict
  - global: collections.defaultdict
    calls: true
  - global: builtins.getattr
  - global: mycorp.legacy.Thing
  - global: mycorp.fine.Thing
deny:
  - global: mycorp.legacy.*
suppressions:
  - {sha256: `+shaA+`, rule: PICKLE-UNKNOWN-CALL, reason: r, owner: alice, expires: 2027-02-28}
  - {sha256: `+shaA+`, rule: PICKLE-UNKNOWN-GLOBAL, reason: r, owner: bob, expires: 2027-03-15}
  - {sha256: `+shaB+`, rule: PICKEL-UNKNOWN-CALL, reason: r, owner: carol, expires: 2028-01-01}
  - {sha256: `+shaB+`, rule: PICKLE-MULTIPLE, reason: r, owner: dave, expires: 2028-01-01}
formats:
  disabled: [tflite, pytroch-zip]
`)
	got := strings.Join(Check(p, now), "\n")
	for _, want := range []string{
		"fail_on critical: load-time calls",
		`unknown rule id PICKLE-UNKNOWN-CALLS (did you mean "PICKLE-UNKNOWN-CALL"?)`,
		"PICKLE-DANGEROUS-CALL is lowered from critical to medium, below fail_on critical",
		"line 7: allow posix.system does nothing: the built-in catalogue lists it as dangerous",
		"line 8: allow subprocess.* does nothing",
		"line 9: allow collections.OrderedDict is redundant",
		"line 10: allow collections.defaultdict is redundant",
		"line 12: allow builtins.getattr does nothing",
		"line 13: allow mycorp.legacy.Thing does nothing: deny mycorp.legacy.* (line 16) covers it",
		"line 18: suppression of PICKLE-UNKNOWN-CALL for sha256 " + shaA[:12] + "… (owner alice) expired on 2027-02-28",
		"line 19: suppression of PICKLE-UNKNOWN-GLOBAL for sha256 " + shaA[:12] + "… (owner bob) expires on 2027-03-15 (in 14 days)",
		`line 20: suppression: unknown rule id PICKEL-UNKNOWN-CALL (did you mean "PICKLE-UNKNOWN-CALL"?)`,
		`formats: "pytroch-zip" is not a format id this modelgate reports (did you mean "pytorch-zip"?)`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("Check output lacks %q:\n%s", want, got)
		}
	}
	for _, not := range []string{"mycorp.fine", "dave", "tflite\""} {
		if strings.Contains(got, not) {
			t.Errorf("Check mentions %q:\n%s", not, got)
		}
	}
	if probs := Check(Default(), now); len(probs) != 0 {
		t.Errorf("Check(Default()) = %q", probs)
	}
	ex := Explain(p)
	for _, want := range []string{"policy test.yaml", p.Hash(), "threshold: a finding at or above critical", "PICKLE-DANGEROUS-CALL", "usually critical",
		"subprocess.*: its classes may be rebuilt", "mycorp.legacy.*: critical", "until 2027-02-28, owner alice", "formats disabled: pytroch-zip, tflite",
		"max_decompressed         16GiB"} {
		if !strings.Contains(ex, want) {
			t.Errorf("Explain lacks %q:\n%s", want, ex)
		}
	}
}

func TestFindAndLoad(t *testing.T) {
	dir := t.TempDir()
	if _, ok := Find(dir); ok {
		t.Error("found a policy in an empty directory")
	}
	hidden := filepath.Join(dir, ".modelgate.yaml")
	if err := os.WriteFile(hidden, []byte("version: 1\nfail_on: low\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if p, ok := Find(dir); !ok || p != hidden {
		t.Errorf("Find = %q, %v", p, ok)
	}
	plain := filepath.Join(dir, "modelgate.yaml")
	if err := os.WriteFile(plain, []byte("version: 1\nfail_on: critical\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	path, ok := Find(dir)
	if !ok || path != plain {
		t.Errorf("Find = %q, %v; want modelgate.yaml first", path, ok)
	}
	p, err := Load(path)
	if err != nil || p.FailOn != finding.Critical || p.Source != plain {
		t.Errorf("Load: %+v, %v", p, err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub", "modelgate.yaml"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, ok := Find(filepath.Join(dir, "sub")); ok {
		t.Error("a directory named modelgate.yaml was taken for a policy")
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Error("Load of a missing file succeeded")
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("version: 1\nfoo: 1\n"), 0o644)
	if _, err := Load(bad); err == nil || !strings.Contains(err.Error(), bad+":2:1:") {
		t.Errorf("Load error %v", err)
	}
	big := filepath.Join(dir, "big.yaml")
	os.WriteFile(big, make([]byte, maxFileSize+1), 0o644)
	if _, err := Load(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("Load of a huge file: %v", err)
	}
}

func TestFormatSize(t *testing.T) {
	for n, want := range map[int64]string{16 << 30: "16GiB", 1 << 40: "1TiB", 1536: "1536", 3 << 10: "3KiB", 1000: "1KB", 2e9: "2GB", 1e6 + 1: "1000001", 0: "0"} {
		if got := FormatSize(n); got != want {
			t.Errorf("FormatSize(%d) = %q, want %q", n, got, want)
		}
	}
}
