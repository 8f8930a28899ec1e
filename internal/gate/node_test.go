package gate_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelgate/modelgate/internal/gate"
	"github.com/modelgate/modelgate/internal/hub/hubtest"
	"github.com/modelgate/modelgate/internal/knowledge"
)

// The official JavaScript client, @huggingface/hub, against the gate: its
// modelInfo, listFiles and downloadFile (fileDownloadInfo's Range probe,
// then WebBlob's whole-file or ranged reads) with hubUrl = the gate.
//
// Enable with MODELGATE_NODE_CLIENT=1 after installing the pinned library
// with .ci/node-deps.sh (npm ci in testdata/node); node must be on PATH.

const nodeDir = "testdata/node"

// nodeClient skips unless MODELGATE_NODE_CLIENT=1, and fails when it is
// set but node or the installed library is missing: asking for the suite
// and silently not running it would hide a broken CI install.
func nodeClient(t *testing.T) string {
	t.Helper()
	if os.Getenv("MODELGATE_NODE_CLIENT") != "1" {
		t.Skip("the @huggingface/hub client test is off: run .ci/node-deps.sh, then set MODELGATE_NODE_CLIENT=1")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("MODELGATE_NODE_CLIENT=1 but node is not on PATH: %v", err)
	}
	if _, err := os.Stat(filepath.Join(nodeDir, "node_modules", "@huggingface", "hub", "package.json")); err != nil {
		t.Fatalf("MODELGATE_NODE_CLIENT=1 but @huggingface/hub is not installed (run .ci/node-deps.sh): %v", err)
	}
	return node
}

// nodeResult is client.mjs's one line of JSON.
type nodeResult struct {
	OK     bool           `json:"ok"`
	Error  string         `json:"error"`
	Status int            `json:"status"`
	Data   map[string]any `json:"data"`
	Model  struct {
		Name string `json:"name"`
	} `json:"model"`
	Files []struct {
		Path       string         `json:"path"`
		Type       string         `json:"type"`
		Size       int64          `json:"size"`
		HasXetHash bool           `json:"hasXetHash"`
		Modelgate  map[string]any `json:"modelgate"`
		LFS        *struct {
			OID  string `json:"oid"`
			Size int64  `json:"size"`
		} `json:"lfs"`
	} `json:"files"`
	Size      int64  `json:"size"`
	BlobSize  int64  `json:"blobSize"`
	SHA256    string `json:"sha256"`
	CachePath string `json:"cachePath"`
	Requests  []struct {
		Method string `json:"method"`
		URL    string `json:"url"`
		Range  string `json:"range"`
		Status int    `json:"status"`
	} `json:"requests"`
}

// runNode runs client.mjs against the gate and returns its result, the
// bytes it wrote, and whether it exited 0.
func runNode(t *testing.T, node string, e *env, repo, file string, extra ...string) (nodeResult, []byte, bool) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out.bin")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args := append([]string{"client.mjs", e.srv.URL, repo, file, out}, extra...)
	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Dir = nodeDir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	t.Logf("node client.mjs %s %s %s: %v in %v", repo, file, strings.Join(extra, " "), err, time.Since(start).Round(time.Millisecond))
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) || ctx.Err() != nil {
		t.Fatalf("running node: %v (ctx %v)\nstderr: %s", err, ctx.Err(), stderr.String())
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("client.mjs stdout: %s\nstderr: %s", stdout.String(), stderr.String())
		}
	})
	var res nodeResult
	if jerr := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), &res); jerr != nil {
		t.Fatalf("client.mjs output is not one JSON line: %v\nstdout: %s\nstderr: %s", jerr, stdout.String(), stderr.String())
	}
	if !res.OK {
		t.Logf("client.mjs error (HTTP %d): %s", res.Status, res.Error)
	}
	if res.OK != (err == nil) {
		t.Fatalf("client.mjs says ok=%v but exited with %v", res.OK, err)
	}
	// Nothing the library does may leave the gate.
	for _, r := range res.Requests {
		if !strings.HasPrefix(r.URL, e.srv.URL+"/") {
			t.Errorf("the library requested %s, which is not the gate", r.URL)
		}
	}
	var got []byte
	if res.OK {
		if got, err = os.ReadFile(out); err != nil {
			t.Fatal(err)
		}
	}
	return res, got, res.OK
}

// safetensorsGen returns a clean safetensors file of about size bytes, as
// a hubtest Gen that never holds it in memory: a header naming one U8
// tensor, then a deterministic, non-constant byte pattern.
func safetensorsGen(size int64) (gen func(p []byte, off int64), total int64) {
	hdr := []byte(fmt.Sprintf(`{"__metadata__":{"format":"pt"},"weight":{"dtype":"U8","shape":[%d],"data_offsets":[0,%d]}}`, size, size))
	for len(hdr)%8 != 0 {
		hdr = append(hdr, ' ')
	}
	prefix := binary.LittleEndian.AppendUint64(nil, uint64(len(hdr)))
	prefix = append(prefix, hdr...)
	n := int64(len(prefix))
	return func(p []byte, off int64) {
		for i := range p {
			pos := off + int64(i)
			if pos < n {
				p[i] = prefix[pos]
				continue
			}
			d := uint64(pos - n)
			p[i] = byte(d*2654435761>>13) ^ byte(d>>11)
		}
	}, n + size
}

func TestNodeHubClient(t *testing.T) {
	node := nodeClient(t)
	e := newEnv(t, gate.Config{})
	e.upstream.Update(func(s *hubtest.Server) { s.PageSize = 2 }) // the listing takes several pages
	wantPaths := []string{"README.md", "clean.pkl", "evil.pkl", "notes.txt", "small", "small/clean.pkl"}

	t.Run("clean download and paginated listing", func(t *testing.T) {
		res, got, ok := runNode(t, node, e, "org/model", "clean.pkl")
		if !ok {
			t.Fatalf("clean.pkl through the gate: %s (status %d)", res.Error, res.Status)
		}
		if !bytes.Equal(got, e.ben) || res.Size != int64(len(e.ben)) {
			t.Errorf("clean.pkl: got %d bytes, want %d bit-exact", len(got), len(e.ben))
		}
		if res.Model.Name != "org/model" {
			t.Errorf("modelInfo through the gate: name %q", res.Model.Name)
		}
		var paths []string
		for _, f := range res.Files {
			paths = append(paths, f.Path)
			if f.HasXetHash {
				t.Errorf("listFiles shows a xet field for %s", f.Path)
			}
			if f.Type == "file" && f.Modelgate["status"] == nil {
				t.Errorf("listFiles entry %s lacks the gate's status: %v", f.Path, f.Modelgate)
			}
		}
		if strings.Join(paths, " ") != strings.Join(wantPaths, " ") {
			t.Errorf("listFiles through the gate: %q, want %q", paths, wantPaths)
		}
		pages := 0
		for _, r := range res.Requests {
			if strings.Contains(r.URL, "/api/models/org/model/tree/") {
				pages++
			}
		}
		if want := (len(wantPaths) + 1) / 2; pages != want {
			t.Errorf("listFiles made %d tree requests, want %d pages of 2", pages, want)
		}
	})

	t.Run("malicious download is refused with the gate's reason", func(t *testing.T) {
		res, _, ok := runNode(t, node, e, "org/model", "evil.pkl")
		if ok {
			t.Fatalf("evil.pkl was served through the gate")
		}
		if res.Status != 403 || !strings.Contains(res.Error, "modelgate refused") || !strings.Contains(res.Error, knowledge.RuleDangerousCall) ||
			!strings.Contains(res.Error, "evil.pkl") {
			t.Errorf("refusal as the library reports it: status %d, %q", res.Status, res.Error)
		}
		// Again: the listing now shows the verdict the gate remembered, and
		// the refusal comes from it.
		res, _, ok = runNode(t, node, e, "org/model", "evil.pkl")
		if ok || res.Status != 403 || !strings.Contains(res.Error, knowledge.RuleDangerousCall) {
			t.Errorf("second refusal: ok %v, status %d, %q", ok, res.Status, res.Error)
		}
		for _, f := range res.Files {
			if f.Path == "evil.pkl" && (f.Modelgate["status"] != "blocked" || fmt.Sprint(f.Modelgate["rules"]) != "["+knowledge.RuleDangerousCall+"]") {
				t.Errorf("evil.pkl in the listing after the refusal: %v", f.Modelgate)
			}
		}
	})

	// downloadFileToCacheDir (and snapshotDownload, built on it) asks
	// paths-info, a POST, before it downloads: without the gate serving it,
	// the library cannot download into its cache at all.
	t.Run("cache-dir download through paths-info", func(t *testing.T) {
		cache := t.TempDir()
		res, got, ok := runNode(t, node, e, "org/model", "small/clean.pkl", "--cache-dir", cache)
		if !ok || !bytes.Equal(got, e.ben) {
			t.Fatalf("small/clean.pkl into the cache: ok %v, %q (status %d), %d bytes", ok, res.Error, res.Status, len(got))
		}
		posted := false
		for _, r := range res.Requests {
			posted = posted || r.Method == "POST" && strings.Contains(r.URL, "/api/models/org/model/paths-info/") && r.Status == 200
		}
		if !posted {
			t.Errorf("no paths-info POST through the gate: %+v", res.Requests)
		}
		if !strings.Contains(res.CachePath, filepath.Join(cache, "models--org--model", "snapshots", e.commit)) {
			t.Errorf("cache path %q is not under the commit's snapshot", res.CachePath)
		}
		res, _, ok = runNode(t, node, e, "org/model", "evil.pkl", "--cache-dir", cache)
		if ok || res.Status != 403 || !strings.Contains(res.Error, knowledge.RuleDangerousCall) {
			t.Errorf("evil.pkl into the cache: ok %v, status %d, %q", ok, res.Status, res.Error)
		}
	})

	t.Run("gated repository with the client's token", func(t *testing.T) {
		res, _, ok := runNode(t, node, e, "org/gated", "clean.pkl")
		if ok || res.Status != 401 && res.Status != 403 {
			t.Errorf("gated without a token: ok %v, status %d, %q", ok, res.Status, res.Error)
		}
		res, got, ok := runNode(t, node, e, "org/gated", "clean.pkl", "--token", e.upstream.Token)
		if !ok || !bytes.Equal(got, e.ben) {
			t.Errorf("gated with a token: ok %v, %q, %d bytes", ok, res.Error, len(got))
		}
	})

	t.Run("multi-MB LFS file read with Range requests", func(t *testing.T) {
		gen, size := safetensorsGen(6<<20 + 12345)
		e.upstream.AddRepo(hubtest.Repo{ID: "org/big", Files: []hubtest.File{{Path: "model.safetensors", Size: size, Gen: gen, LFS: true}}})
		want := make([]byte, size)
		gen(want, 0)
		sum := sha256.Sum256(want)
		const chunk = 1 << 20
		e.upstream.Reset()
		res, got, ok := runNode(t, node, e, "org/big", "model.safetensors", "--chunk", fmt.Sprint(chunk))
		if !ok {
			t.Fatalf("model.safetensors through the gate: %s (status %d)", res.Error, res.Status)
		}
		if !bytes.Equal(got, want) || res.SHA256 != hex.EncodeToString(sum[:]) || res.BlobSize != size {
			t.Fatalf("model.safetensors: %d bytes (blob size %d), sha256 %s; want %d bytes bit-exact", len(got), res.BlobSize, res.SHA256, size)
		}
		// WebBlob asked the gate for each slice and got 206s.
		ranged := 0
		for _, r := range res.Requests {
			if strings.Contains(r.URL, "/resolve/") && r.Range != "" && r.Range != "bytes=0-0" {
				ranged++
				if r.Status != 206 {
					t.Errorf("ranged read %s answered %d", r.Range, r.Status)
				}
			}
		}
		if want := int((size + chunk - 1) / chunk); ranged != want {
			t.Errorf("%d ranged reads through the gate, want %d", ranged, want)
		}
		// The gate passed the ranges on to the upstream's storage.
		cdnRanged := 0
		for _, r := range e.upstream.Requests() {
			if strings.HasPrefix(r.Path, "/cdn/") && r.Method == "GET" && r.Range != "" {
				cdnRanged++
			}
		}
		if cdnRanged < ranged {
			t.Errorf("%d ranged CDN reads upstream, want at least %d", cdnRanged, ranged)
		}
		// And the whole file in one GET, checked against the Hub's digest.
		res, got, ok = runNode(t, node, e, "org/big", "model.safetensors")
		if !ok || !bytes.Equal(got, want) {
			t.Errorf("whole download: ok %v, %q, %d bytes", ok, res.Error, len(got))
		}
		if s := e.gate.Scans(); s["clean"] != 4 || s["blocked"] != 1 {
			t.Errorf("scans %v: want clean.pkl, small/clean.pkl, org/gated clean.pkl and model.safetensors clean, evil.pkl blocked, each once", s)
		}
	})
}
