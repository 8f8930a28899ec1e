package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelgate/modelgate/internal/cli"
)

const convertFixtures = "../convert/testdata"

func TestConvertCommand(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.safetensors")
	in := filepath.Join(convertFixtures, "benign/views-and-tied.pt")

	r := run(t, nil, false, "convert", in, "-o", out)
	if r.code != cli.ExitPass {
		t.Fatalf("convert: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	golden(t, "convert.txt", strings.ReplaceAll(r.stdout, dir, "OUT"))

	// The output exists: refused without --force, replaced with it.
	if r := run(t, nil, false, "convert", in, "-o", out); r.code != cli.ExitIncomplete || !strings.Contains(r.stderr, "--force") {
		t.Errorf("existing output: exit %d %q", r.code, r.stderr)
	}
	if r := run(t, nil, false, "convert", "--force", in, "-o", out, "--key", "cube"); r.code != cli.ExitPass || !strings.Contains(r.stdout, "1 tensors") {
		t.Errorf("--force --key: exit %d %q %q", r.code, r.stdout, r.stderr)
	}

	// verify: the converted file against its source, and against another.
	if r := run(t, nil, false, "verify", in, in); r.code != cli.ExitPass || !strings.HasPrefix(r.stdout, "identical: 10 tensors") {
		t.Errorf("verify identical: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	r = run(t, nil, false, "verify", in, out)
	if r.code != cli.ExitFail {
		t.Fatalf("verify different: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	golden(t, "verify.txt", strings.ReplaceAll(r.stdout, dir, "OUT"))
	r = run(t, nil, false, "verify", "--format", "json", in, out)
	var doc struct {
		Identical bool     `json:"identical"`
		OnlyInA   []string `json:"only_in_a"`
		Equal     int      `json:"equal"`
		A         struct {
			Format string `json:"format"`
		} `json:"a"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || r.code != cli.ExitFail {
		t.Fatalf("verify json: exit %d %v\n%s", r.code, err, r.stdout)
	}
	if doc.Identical || len(doc.OnlyInA) != 9 || doc.Equal != 1 || doc.A.Format != "pytorch-zip" {
		t.Errorf("verify json: %+v", doc)
	}
}

func TestConvertRefusals(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.safetensors")
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string // in stdout+stderr
	}{
		{"malicious: the scan fails it", []string{"convert", filepath.Join(convertFixtures, "malicious/state-dict-posix-system.pt"), "-o", out},
			cli.ExitFail, "posix.system('touch marker')"},
		{"complex: the interpreter refuses", []string{"convert", filepath.Join(convertFixtures, "benign/complex.pt"), "-o", out},
			cli.ExitFail, `not converted: refused: tensor "z" is complex`},
		{"missing key", []string{"convert", filepath.Join(convertFixtures, "benign/checkpoint.pt"), "-o", out, "--key", "nope"},
			cli.ExitFail, `--key "nope": no entry`},
		{"no -o", []string{"convert", filepath.Join(convertFixtures, "benign/array.npy")}, cli.ExitIncomplete, "-o OUT.safetensors"},
		{"two inputs", []string{"convert", "a", "b", "-o", out}, cli.ExitIncomplete, "one input file"},
		{"missing input", []string{"convert", filepath.Join(dir, "nope.pt"), "-o", out}, cli.ExitIncomplete, "no such file"},
		{"directory input", []string{"convert", dir, "-o", out}, cli.ExitIncomplete, "not a regular file"},
		{"verify one file", []string{"verify", "a"}, cli.ExitIncomplete, "two model files"},
		{"verify bad format", []string{"verify", "a", "b", "--format", "xml"}, cli.ExitIncomplete, "unknown format"},
		{"verify malicious", []string{"verify", filepath.Join(convertFixtures, "malicious/legacy-posix-system.pt"), filepath.Join(convertFixtures, "benign/array.npy")},
			cli.ExitIncomplete, "refused: global posix.system"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, nil, false, tc.args...)
			if r.code != tc.code || !strings.Contains(r.stdout+r.stderr, tc.want) {
				t.Errorf("exit %d (want %d), output does not contain %q:\n%s%s", r.code, tc.code, tc.want, r.stdout, r.stderr)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("an output file was written")
			}
		})
	}
}

// convert's scan obeys --policy: a policy that denies a global the
// checkpoint imports stops the conversion.
func TestConvertPolicy(t *testing.T) {
	dir := t.TempDir()
	pol := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(pol, []byte("version: 1\ndeny:\n  - global: collections.OrderedDict\n    severity: critical\n    reason: test\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	in := "../formats/pytorch/testdata/benign/state-dict-p4.pt"
	if r := run(t, nil, false, "convert", in, "-o", filepath.Join(dir, "a.safetensors")); r.code != 0 {
		t.Fatalf("without the policy: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := run(t, nil, false, "convert", "--policy", pol, in, "-o", filepath.Join(dir, "b.safetensors")); r.code != 1 {
		t.Errorf("with a policy denying OrderedDict: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
