package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelgate/modelgate/internal/hub/hubtest"
)

// A Hub repository scans with the same exit status and formats as the same
// files on disk, and the report pins the commit.
func TestScanHubRepository(t *testing.T) {
	mal, err := os.ReadFile(filepath.Join(fixtures, "malicious/01-posix-system-p2.pkl"))
	if err != nil {
		t.Fatal(err)
	}
	ben, err := os.ReadFile(filepath.Join(fixtures, "benign/builtins-p4.pkl"))
	if err != nil {
		t.Fatal(err)
	}
	srv := hubtest.New()
	defer srv.Close()
	evil := srv.AddRepo(hubtest.Repo{ID: "org/evil", Files: []hubtest.File{
		{Path: "model.pkl", Content: mal, LFS: true}, {Path: "README.md", Content: []byte("hi")},
	}})
	srv.AddRepo(hubtest.Repo{ID: "org/good", Files: []hubtest.File{{Path: "model.pkl", Content: ben}}})
	srv.AddRepo(hubtest.Repo{ID: "org/gated", Gated: true, Files: []hubtest.File{{Path: "model.pkl", Content: ben, LFS: true}}})
	env := map[string]string{"HF_ENDPOINT": srv.URL}

	local := run(t, nil, false, "scan", filepath.Join(fixtures, "malicious/01-posix-system-p2.pkl"))
	remote := run(t, env, false, "scan", "hf://org/evil")
	if remote.code != local.code || remote.code != 1 {
		t.Fatalf("remote exit %d, local %d; stderr %s\n%s", remote.code, local.code, remote.stderr, remote.stdout)
	}
	if !strings.Contains(remote.stdout, "hf://org/evil@"+evil+"/model.pkl") ||
		!strings.Contains(remote.stdout, "hf://org/evil @ "+evil+": 2 files") {
		t.Errorf("text report does not pin the commit or lacks the repository line:\n%s", remote.stdout)
	}
	if r := run(t, env, false, "scan", "hf://org/good"); r.code != 0 {
		t.Errorf("benign repository: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r := run(t, env, false, "scan", "hf://org/gated")
	if r.code != 2 || !strings.Contains(r.stdout, "gated") {
		t.Errorf("gated repository without a token: exit %d\n%s", r.code, r.stdout)
	}
	env["HF_TOKEN"] = srv.Token
	if r := run(t, env, false, "scan", "hf://org/gated"); r.code != 0 {
		t.Errorf("gated repository with HF_TOKEN: exit %d\n%s", r.code, r.stdout)
	}

	js := run(t, env, false, "scan", "--format", "json", "hf://org/evil", filepath.Join(fixtures, "benign/builtins-p4.pkl"))
	var doc struct {
		Files []struct {
			Path   string `json:"path"`
			SHA256 string `json:"sha256"`
		} `json:"files"`
		Sources []struct {
			Input, Commit, Verdict string
			Files                  int
			Transferred            int64
		} `json:"sources"`
		Summary struct{ Verdict string } `json:"summary"`
	}
	if err := json.Unmarshal([]byte(js.stdout), &doc); err != nil {
		t.Fatalf("%v\n%s", err, js.stdout)
	}
	if js.code != 1 || len(doc.Files) != 2 || len(doc.Sources) != 1 || doc.Sources[0].Commit != evil ||
		doc.Sources[0].Verdict != "fail" || doc.Summary.Verdict != "fail" || doc.Files[0].SHA256 == "" {
		t.Errorf("json: exit %d, %+v", js.code, doc)
	}
	for _, format := range []string{"sarif", "cyclonedx"} {
		if r := run(t, env, false, "scan", "--format", format, "hf://org/evil"); r.code != 1 || !strings.Contains(r.stdout, "hf://org/evil@") {
			t.Errorf("%s: exit %d\n%s", format, r.code, r.stdout)
		}
	}
}
