package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelgate/modelgate/internal/cli"
)

var update = flag.Bool("update", false, "rewrite golden files")

const fixtures = "../formats/picklefile/testdata"

type result struct {
	code           int
	stdout, stderr string
}

func run(t *testing.T, env map[string]string, terminal bool, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	e := &cli.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb,
		Getenv: func(k string) string { return env[k] }, IsTerminal: terminal}
	code := cli.RunEnv(context.Background(), args, e)
	return result{code, out.String(), errb.String()}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/cli -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (run go test ./internal/cli -update and review the diff)\n--- got ---\n%s", name, got)
	}
}

func TestMain(m *testing.M) {
	cli.Version = "test"
	os.Exit(m.Run())
}

func TestScanExitStatus(t *testing.T) {
	dir := t.TempDir()
	unknown := filepath.Join(dir, "weights.bin")
	if err := os.WriteFile(unknown, []byte("\x00\x01\x02 not a model format"), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.bin")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	mal := filepath.Join(fixtures, "malicious/01-posix-system-p2.pkl")
	for _, tc := range []struct {
		name string
		args []string
		want int
	}{
		{"malicious", []string{"scan", mal}, cli.ExitFail},
		{"benign", []string{"scan", filepath.Join(fixtures, "benign/builtins-p4.pkl")}, cli.ExitPass},
		{"benign directory", []string{"scan", filepath.Join(fixtures, "benign")}, cli.ExitPass},
		{"malicious among benign", []string{"scan", filepath.Join(fixtures, "benign"), mal}, cli.ExitFail},
		{"threshold above the finding", []string{"scan", "--fail-on", "critical", filepath.Join(fixtures, "malicious/16-marshal-loads-functiontype-p2.pkl")}, cli.ExitPass},
		{"flags after paths", []string{"scan", mal, "--format", "json"}, cli.ExitFail},
		{"missing file", []string{"scan", filepath.Join(dir, "nope.pkl")}, cli.ExitIncomplete},
		{"unrecognised file", []string{"scan", unknown}, cli.ExitIncomplete},
		{"empty file", []string{"scan", empty}, cli.ExitPass},
		{"torch checkpoint with a payload", []string{"scan", "../formats/pytorch/testdata/malicious/01-data-pkl-reduce.pt"}, cli.ExitFail},
		{"benign torch checkpoint", []string{"scan", "../formats/pytorch/testdata/benign/checkpoint-adam.pt"}, cli.ExitPass},
		{"explain a torch checkpoint", []string{"explain", "--member", "data.pkl", "../formats/pytorch/testdata/malicious/01-data-pkl-reduce.pt"}, cli.ExitFail},
		{"unrecognised file but a malicious one too", []string{"scan", unknown, mal}, cli.ExitFail},
		{"truncated pickle", []string{"scan", filepath.Join(fixtures, "malicious/12-binbytes8-huge-length-p4.pkl")}, cli.ExitIncomplete},
		{"no paths", []string{"scan"}, cli.ExitIncomplete},
		{"bad threshold", []string{"scan", "--fail-on", "severe", mal}, cli.ExitIncomplete},
		{"bad format", []string{"scan", "--format", "xml", mal}, cli.ExitIncomplete},
		{"sarif", []string{"scan", "--format", "sarif", mal}, cli.ExitFail},
		{"cyclonedx", []string{"scan", "--format", "cyclonedx", mal}, cli.ExitFail},
		{"unknown command", []string{"scna"}, cli.ExitIncomplete},
		{"version", []string{"version"}, cli.ExitPass},
		{"rules", []string{"rules"}, cli.ExitPass},
		{"help", []string{"help"}, cli.ExitPass},
		{"scan -h", []string{"scan", "-h"}, cli.ExitPass},
		{"unknown flag", []string{"scan", "--bogus", mal}, cli.ExitIncomplete},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r := run(t, nil, false, tc.args...); r.code != tc.want {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, tc.want, r.stdout, r.stderr)
			}
		})
	}
}

func TestScanGoldenText(t *testing.T) {
	r := run(t, nil, false, "scan",
		filepath.Join(fixtures, "malicious/01-posix-system-p2.pkl"),
		filepath.Join(fixtures, "malicious/24-compressed.pkl.gz"),
		filepath.Join(fixtures, "benign/sklearn-linear-regression-p5.pkl"))
	golden(t, "scan.txt", r.stdout)
}

func TestScanGoldenJSON(t *testing.T) {
	r := run(t, nil, false, "scan", "--format", "json",
		filepath.Join(fixtures, "malicious/01-posix-system-p2.pkl"),
		filepath.Join(fixtures, "malicious/24-compressed.pkl.gz"),
		filepath.Join(fixtures, "benign/sklearn-linear-regression-p5.pkl"))
	golden(t, "scan.json", r.stdout)
	// The contract fields are present with the right types.
	var doc struct {
		SchemaVersion string `json:"schema_version"`
		Tool          struct{ Name, Version string }
		Files         []struct {
			Path, Format, SHA256 string
			Size                 int64
			Findings             []struct {
				RuleID   string `json:"rule_id"`
				Severity string
				Message  string
				Member   string
				Offset   *int64
				Evidence string
			}
			Errors []string
		}
		Summary struct {
			Files       int
			MaxSeverity string `json:"max_severity"`
			Findings    map[string]int
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.SchemaVersion != "1" || doc.Tool.Name != "modelgate" || len(doc.Files) != 3 || doc.Summary.MaxSeverity != "critical" {
		t.Errorf("unexpected document %+v", doc)
	}
	f := doc.Files[0].Findings[0]
	if f.RuleID != "PICKLE-DANGEROUS-CALL" || f.Offset == nil || !strings.Contains(f.Evidence, "posix.system(") {
		t.Errorf("first finding %+v", f)
	}
	if gz := doc.Files[1]; gz.Format != "gzip" || gz.Findings[0].Member == "" {
		t.Errorf("gzip file %+v", gz)
	}
}

func TestColour(t *testing.T) {
	mal := filepath.Join(fixtures, "malicious/01-posix-system-p2.pkl")
	if r := run(t, nil, true, "scan", mal); !strings.Contains(r.stdout, "\x1b[") {
		t.Error("no colour on a terminal")
	}
	if r := run(t, map[string]string{"NO_COLOR": "1"}, true, "scan", mal); strings.Contains(r.stdout, "\x1b[") {
		t.Error("colour despite NO_COLOR")
	}
	if r := run(t, nil, false, "scan", mal); strings.Contains(r.stdout, "\x1b[") {
		t.Error("colour when not a terminal")
	}
}

// A directory walk skips documentation that is not a pickle, but finds a
// pickle whatever its extension.
func TestDirectoryWalkSniffsContent(t *testing.T) {
	dir := t.TempDir()
	payload, err := os.ReadFile(filepath.Join(fixtures, "malicious/01-os-system-p0.pkl"))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"README.md":          []byte("# A model\n\nThis is the card.\n"),
		"notes.txt":          []byte("Training notes.\n"),
		"tokenizer.json":     []byte(`{"version": "1.0"}`),
		"payload.txt":        payload,
		".git/objects/x.pkl": payload, // hidden directories are not walked
	}
	for name, b := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r := run(t, nil, false, "scan", "--format", "json", dir)
	if r.code != cli.ExitFail {
		t.Fatalf("exit %d\n%s", r.code, r.stdout)
	}
	var doc struct{ Files []struct{ Path string } }
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Files) != 1 || filepath.Base(doc.Files[0].Path) != "payload.txt" {
		t.Errorf("files %+v", doc.Files)
	}
}

func TestExplainGolden(t *testing.T) {
	r := run(t, nil, false, "explain", filepath.Join(fixtures, "malicious/07-ext1-add-extension-p2.pkl"))
	if r.code != cli.ExitFail {
		t.Errorf("exit %d: %s", r.code, r.stderr)
	}
	golden(t, "explain.txt", r.stdout)
}

func TestRulesListsCatalogue(t *testing.T) {
	r := run(t, nil, false, "rules")
	for _, want := range []string{"PICKLE-DANGEROUS-CALL", "PICKLE-UNKNOWN-CALL", "posix.*", "https://"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("rules output lacks %q", want)
		}
	}
	r = run(t, nil, false, "rules", "--format", "json")
	var doc struct {
		Rules     []struct{ ID string }
		Dangerous []struct{ Global string } `json:"dangerous_globals"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || len(doc.Rules) < 10 || len(doc.Dangerous) < 50 {
		t.Errorf("rules json: %v, %d rules, %d globals", err, len(doc.Rules), len(doc.Dangerous))
	}
}

func TestScanOutputQuietVerbose(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "report.json")
	mal := filepath.Join(fixtures, "malicious/01-posix-system-p2.pkl")
	benign := filepath.Join(fixtures, "benign/builtins-p4.pkl")
	r := run(t, nil, false, "scan", "--format", "json", "--output", out, mal)
	if r.code != cli.ExitFail || r.stdout != "" {
		t.Fatalf("exit %d, stdout %q", r.code, r.stdout)
	}
	if b, err := os.ReadFile(out); err != nil || !strings.Contains(string(b), `"PICKLE-DANGEROUS-CALL"`) {
		t.Errorf("report file: %v %s", err, b)
	}
	r = run(t, nil, false, "scan", "--quiet", mal, benign)
	if strings.Contains(r.stdout, "builtins-p4.pkl") || strings.Contains(r.stdout, "PICKLE-SUMMARY") || !strings.Contains(r.stdout, "PICKLE-DANGEROUS-CALL") {
		t.Errorf("quiet output:\n%s", r.stdout)
	}
	r = run(t, nil, false, "scan", "--verbose", mal)
	if !strings.Contains(r.stdout, "import    posix.system") {
		t.Errorf("verbose output:\n%s", r.stdout)
	}
	if r := run(t, nil, false, "scan", "--quiet", "--verbose", mal); r.code != cli.ExitIncomplete {
		t.Errorf("--quiet --verbose: exit %d", r.code)
	}
}

func TestVerdictCache(t *testing.T) {
	dir := t.TempDir()
	cacheDir := filepath.Join(dir, "cache")
	model := filepath.Join(dir, "model.pkl")
	data, err := os.ReadFile(filepath.Join(fixtures, "malicious/01-posix-system-p2.pkl"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(model, data, 0o644); err != nil {
		t.Fatal(err)
	}
	first := run(t, nil, false, "scan", "--verbose", "--cache", cacheDir, model)
	second := run(t, nil, false, "scan", "--verbose", "--cache", cacheDir, model)
	if strings.Contains(first.stdout, "verdict cache") || !strings.Contains(second.stdout, "verdict cache") || second.code != cli.ExitFail {
		t.Fatalf("first:\n%s\nsecond:\n%s", first.stdout, second.stdout)
	}
	// The same findings either way.
	strip := func(s string) string { return strings.ReplaceAll(s, "  (result from the verdict cache)\n", "") }
	if strip(second.stdout) != first.stdout {
		t.Errorf("cached report differs:\n%s\nvs\n%s", first.stdout, second.stdout)
	}
	// A changed file is scanned again.
	if err := os.WriteFile(model, []byte("\x80\x02K\x01."), 0o644); err != nil {
		t.Fatal(err)
	}
	third := run(t, nil, false, "scan", "--verbose", "--cache", cacheDir, model)
	if strings.Contains(third.stdout, "verdict cache") || third.code != cli.ExitPass {
		t.Errorf("changed file:\n%s", third.stdout)
	}
	if r := run(t, nil, false, "scan", "--verbose", "--cache", cacheDir, "--no-cache", model); strings.Contains(r.stdout, "verdict cache") {
		t.Error("--no-cache used the cache")
	}
}

// A team commits a policy, a reviewed finding is suppressed for one exact
// file, and the suppression stops applying when it expires.
func TestPolicySuppression(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(fixtures, "malicious/01-posix-system-p2.pkl")
	const sum = "5b51dcd64fcf0a4bdf76df8d5d7fdadedbb1c7151723968a366082ddcd42a592"
	write := func(expires string) string {
		p := filepath.Join(dir, "modelgate.yaml")
		body := "version: 1\nfail_on: high\nsuppressions:\n  - sha256: " + sum + "\n    rule: PICKLE-DANGEROUS-CALL\n    reason: test fixture, reviewed\n    owner: sec@example.com\n    expires: " + expires + "\n"
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	r := run(t, nil, false, "scan", "--policy", write("2999-12-31"), model)
	if r.code != cli.ExitPass || !strings.Contains(r.stdout, "suppressed until 2999-12-31") {
		t.Errorf("valid suppression: exit %d\n%s", r.code, r.stdout)
	}
	r = run(t, nil, false, "scan", "--policy", write("2020-01-01"), "--format", "json", model)
	if r.code != cli.ExitFail || !strings.Contains(r.stdout, "POLICY-SUPPRESSION-EXPIRED") || !strings.Contains(r.stdout, `"policy": {`) {
		t.Errorf("expired suppression: exit %d\n%s", r.code, r.stdout)
	}
	// Another file with the same finding is not covered.
	if r := run(t, nil, false, "scan", "--policy", write("2999-12-31"), filepath.Join(fixtures, "malicious/01-posix-system-p3.pkl")); r.code != cli.ExitFail {
		t.Errorf("suppression applied to another file: exit %d", r.code)
	}
	// Strict parsing: an unknown key is an error with its position.
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("version: 1\nfail_onn: high\n"), 0o644)
	if r := run(t, nil, false, "scan", "--policy", bad, model); r.code != cli.ExitIncomplete || !strings.Contains(r.stderr, "2:1") {
		t.Errorf("bad policy: exit %d stderr %q", r.code, r.stderr)
	}
	if r := run(t, nil, false, "policy", "check", bad); r.code != cli.ExitFail {
		t.Errorf("policy check of a bad file: exit %d", r.code)
	}
	init := filepath.Join(dir, "new.yaml")
	if r := run(t, nil, false, "policy", "init", init); r.code != cli.ExitPass {
		t.Fatalf("policy init: %d %s", r.code, r.stderr)
	}
	if r := run(t, nil, false, "policy", "check", init); r.code != cli.ExitPass || !strings.Contains(r.stdout, "policy hash") {
		t.Errorf("policy check: %d %s", r.code, r.stdout)
	}
	if r := run(t, nil, false, "policy", "init", init); r.code != cli.ExitIncomplete {
		t.Errorf("policy init over an existing file: exit %d", r.code)
	}
}

func TestPolicyDisabledFormatNested(t *testing.T) {
	p := filepath.Join(t.TempDir(), "modelgate.yaml")
	if err := os.WriteFile(p, []byte("version: 1\nformats:\n  disabled: [pickle]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := run(t, nil, false, "scan", "--policy", p, "--format", "json", filepath.Join(fixtures, "malicious/24-compressed.pkl.gz"))
	if r.code != cli.ExitIncomplete || !strings.Contains(r.stdout, "format pickle disabled by policy") || strings.Contains(r.stdout, "PICKLE-DANGEROUS-CALL") {
		t.Errorf("exit %d\n%s", r.code, r.stdout)
	}
}
