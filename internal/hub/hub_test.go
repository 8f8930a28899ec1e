package hub_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/modelgate/modelgate/internal/hub"
	"github.com/modelgate/modelgate/internal/hub/hubtest"
)

func client(s *hubtest.Server) *hub.Client {
	c := hub.New(s.URL, "", 0)
	c.Backoff, c.MaxBackoff = time.Millisecond, 5*time.Millisecond
	return c
}

func content(n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// Random reads through the block cache return the file's bytes, for LFS
// (storage redirect) and plain files, with and without Range support.
func TestFileReadAt(t *testing.T) {
	data := content(3<<20 + 12345)
	for _, lfs := range []bool{true, false} {
		for _, ignoreRange := range []bool{false, true} {
			srv := hubtest.New()
			srv.IgnoreRange = ignoreRange
			srv.AddRepo(hubtest.Repo{ID: "org/m", Files: []hubtest.File{{Path: "w.bin", Content: data, LFS: lfs}}})
			c := client(srv)
			snap, err := c.Snapshot(context.Background(), hub.Ref{Type: hub.Model, Repo: "org/m", Revision: "main"})
			if err != nil {
				t.Fatal(err)
			}
			f, err := c.OpenFile(context.Background(), snap, snap.Files[0])
			if err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(3, 4))
			for range 200 {
				off := r.Int64N(int64(len(data)) + 10)
				n := r.IntN(200_000)
				buf := make([]byte, n)
				got, err := f.ReadAt(buf, off)
				wantN := max(0, min(n, len(data)-int(off)))
				if got != wantN || !bytes.Equal(buf[:got], data[off:int(off)+got]) {
					t.Fatalf("lfs=%v ignoreRange=%v ReadAt(%d, %d) = %d, %v", lfs, ignoreRange, n, off, got, err)
				}
				if got < n && err != io.EOF {
					t.Fatalf("short read without io.EOF: %v", err)
				}
			}
			if f.Streamed() != ignoreRange {
				t.Errorf("lfs=%v ignoreRange=%v: Streamed() = %v", lfs, ignoreRange, f.Streamed())
			}
			// A sequential read of the whole file takes few requests.
			f2, _ := c.OpenFile(context.Background(), snap, snap.Files[0])
			all, err := io.ReadAll(io.NewSectionReader(f2, 0, f2.Size()))
			if err != nil || !bytes.Equal(all, data) {
				t.Fatalf("sequential read: %v", err)
			}
			if !ignoreRange && f2.Requests() > 10 {
				t.Errorf("sequential read of 3 MiB took %d requests", f2.Requests())
			}
			f.Close()
			f2.Close()
			srv.Close()
		}
	}
}

func TestErrors(t *testing.T) {
	srv := hubtest.New()
	defer srv.Close()
	srv.AddRepo(hubtest.Repo{ID: "org/m", Files: []hubtest.File{{Path: "a", Content: []byte("x")}}})
	srv.AddRepo(hubtest.Repo{ID: "org/gated", Gated: true, Files: []hubtest.File{{Path: "a", Content: []byte("x")}}})
	c := client(srv)
	ctx := context.Background()
	_, err := c.Info(ctx, hub.Ref{Type: hub.Model, Repo: "org/none", Revision: "main"})
	var he *hub.Error
	if !errors.As(err, &he) || he.Code != "RepoNotFound" || !hub.IsNotFound(err) {
		t.Errorf("missing repo: %v", err)
	}
	_, err = c.Info(ctx, hub.Ref{Type: hub.Model, Repo: "org/m", Revision: "nope"})
	if !errors.As(err, &he) || he.Code != "RevisionNotFound" {
		t.Errorf("missing revision: %v", err)
	}
	_, err = c.Head(ctx, c.ResolveURL(hub.Ref{Type: hub.Model, Repo: "org/gated"}, "main", "a"))
	if !errors.As(err, &he) || he.Code != "GatedRepo" || !strings.Contains(err.Error(), "HF_TOKEN") {
		t.Errorf("gated: %v", err)
	}
	// Persistent 5xx: retried Retries times, then reported.
	srv.Reset()
	srv.FailNext(100, http.StatusBadGateway, "")
	_, err = c.Info(ctx, hub.Ref{Type: hub.Model, Repo: "org/m", Revision: "main"})
	if !errors.As(err, &he) || he.Status != http.StatusBadGateway || len(srv.Requests()) != c.Retries+1 {
		t.Errorf("502s: %v after %d requests", err, len(srv.Requests()))
	}
	// A cancelled context stops the retries at once.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.Info(cctx, hub.Ref{Type: hub.Model, Repo: "org/m", Revision: "main"}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// The token goes to the endpoint, and never to a storage URL.
func TestTokenScope(t *testing.T) {
	srv := hubtest.New()
	defer srv.Close()
	srv.AddRepo(hubtest.Repo{ID: "org/gated", Gated: true, Files: []hubtest.File{{Path: "w.bin", Content: content(1000), LFS: true}}})
	c := client(srv)
	c.Token = srv.Token
	snap, err := c.Snapshot(context.Background(), hub.Ref{Type: hub.Model, Repo: "org/gated", Revision: "main"})
	if err != nil {
		t.Fatal(err)
	}
	f, err := c.OpenFile(context.Background(), snap, snap.Files[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.ReadAt(make([]byte, 10), 0); err != nil {
		t.Fatal(err)
	}
	for _, r := range srv.Requests() {
		cdn := strings.HasPrefix(r.Path, "/cdn/")
		if cdn && r.Authorization != "" || !cdn && r.Authorization != "Bearer "+srv.Token {
			t.Errorf("%s %s: Authorization %q", r.Method, r.Path, r.Authorization)
		}
	}
}

// A POST is retried with its whole body, and the token goes with it.
func TestPostFormRetried(t *testing.T) {
	s := hubtest.New()
	defer s.Close()
	s.AddRepo(hubtest.Repo{ID: "org/m", Files: []hubtest.File{{Path: "a/b.bin", Content: content(100), LFS: true}}})
	s.FailNext(1, http.StatusServiceUnavailable, "")
	c := client(s)
	ctx := hub.WithToken(context.Background(), "hf_x")
	resp, err := c.PostForm(ctx, s.URL+"/api/models/org/m/paths-info/main", url.Values{"paths": {"a/b.bin", "a"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"path":"a/b.bin"`) || !strings.Contains(string(body), `"type":"directory"`) {
		t.Errorf("paths-info answer: %s", body)
	}
	reqs := s.Requests()
	if len(reqs) != 2 || reqs[1].Method != http.MethodPost || reqs[1].Authorization != "Bearer hf_x" {
		t.Errorf("requests: %+v", reqs)
	}
}

// A sibling missing from a complete listing costs no request; one outside
// a folder's listing is asked for.
func TestSiblingUsesTheListing(t *testing.T) {
	s := hubtest.New()
	defer s.Close()
	s.AddRepo(hubtest.Repo{ID: "org/m", Files: []hubtest.File{
		{Path: "config.json", Content: []byte(`{}`)},
		{Path: "onnx/model.onnx", Content: content(64)},
		{Path: "onnx/model.onnx_data", Content: content(256), LFS: true},
	}})
	c := client(s)
	ctx := context.Background()
	snap, err := c.Snapshot(ctx, hub.Ref{Type: "model", Repo: "org/m", Revision: "main"})
	if err != nil {
		t.Fatal(err)
	}
	s.Reset()
	if _, _, _, err := c.Sibling(ctx, snap, "onnx", "model.xml"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing sibling: %v", err)
	}
	if n := len(s.Requests()); n != 0 {
		t.Errorf("a sibling missing from a complete listing cost %d requests", n)
	}
	r, size, closeFn, err := c.Sibling(ctx, snap, "onnx", "model.onnx")
	if err != nil || size != 64 {
		t.Fatalf("listed sibling: %v, size %d", err, size)
	}
	got := make([]byte, size)
	if _, err := r.ReadAt(got, 0); err != nil || !bytes.Equal(got, content(64)) {
		t.Errorf("listed sibling content: %v", err)
	}
	closeFn()

	folder, err := c.Snapshot(ctx, hub.Ref{Type: "model", Repo: "org/m", Revision: "main", Path: "onnx"})
	if err != nil {
		t.Fatal(err)
	}
	s.Reset()
	if _, size, closeFn, err := c.Sibling(ctx, folder, "onnx", "../config.json"); err != nil || size != 2 {
		t.Errorf("sibling outside the folder's listing: %v, size %d", err, size)
	} else {
		closeFn()
	}
	if len(s.Requests()) == 0 {
		t.Error("a sibling outside the listed folder was not asked for")
	}
}
