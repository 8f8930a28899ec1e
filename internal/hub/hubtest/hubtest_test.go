package hubtest_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/modelgate/modelgate/internal/hub/hubtest"
)

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// noRedirect is a client that shows redirects instead of following them.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func do(t *testing.T, c *http.Client, method, u string, hdr ...string) resp {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp{res.StatusCode, res.Header, body}
}

func get(t *testing.T, u string, hdr ...string) resp {
	return do(t, http.DefaultClient, "GET", u, hdr...)
}

func newHub(t *testing.T) *hubtest.Server {
	s := hubtest.New()
	t.Cleanup(s.Close)
	return s
}

var (
	config  = []byte(`{"architectures":["Bert"]}`)
	weights = bytes.Repeat([]byte("0123456789abcdef"), 1000) // 16000 bytes
)

func basicRepo() hubtest.Repo {
	return hubtest.Repo{
		ID: "org/model",
		Files: []hubtest.File{
			{Path: "config.json", Content: config},
			{Path: "pytorch_model.bin", Content: weights, LFS: true},
			{Path: "onnx/model.onnx", Content: []byte("onnx"), LFS: true},
			{Path: "onnx/sub/extra.txt", Content: []byte("extra")},
			{Path: "README.md", Content: []byte("# hi\n")},
		},
		Tags: []string{"pytorch"},
	}
}

func TestInfo(t *testing.T) {
	s := newHub(t)
	commit := s.AddRepo(basicRepo())
	if len(commit) != 40 {
		t.Fatalf("commit %q", commit)
	}
	if again := hubtest.New(); again.AddRepo(basicRepo()) != commit {
		again.Close()
		t.Fatal("commit sha is not deterministic")
	} else {
		again.Close()
	}

	r := get(t, s.URL+"/api/models/org/model")
	if r.status != 200 {
		t.Fatalf("status %d %s", r.status, r.body)
	}
	var info map[string]any
	if err := json.Unmarshal(r.body, &info); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"id": "org/model", "modelId": "org/model", "sha": commit, "private": false, "gated": false, "disabled": false, "author": "org"} {
		if info[k] != want {
			t.Errorf("%s = %v, want %v", k, info[k], want)
		}
	}
	if _, ok := info["_id"].(string); !ok {
		t.Errorf("_id missing: %v", info["_id"])
	}
	sibs := info["siblings"].([]any)
	var names []string
	for _, sb := range sibs {
		m := sb.(map[string]any)
		names = append(names, m["rfilename"].(string))
		if _, ok := m["size"]; ok {
			t.Errorf("size without blobs=true: %v", m)
		}
	}
	want := []string{"README.md", "config.json", "onnx/model.onnx", "onnx/sub/extra.txt", "pytorch_model.bin"}
	if !slices.Equal(names, want) {
		t.Errorf("siblings %v, want %v", names, want)
	}

	// blobs=true: size, blobId, lfs{size, sha256, pointerSize}.
	r = get(t, s.URL+"/api/models/org/model/revision/main?blobs=true")
	var withBlobs struct {
		SHA      string `json:"sha"`
		Siblings []struct {
			RFilename string `json:"rfilename"`
			Size      int64  `json:"size"`
			BlobID    string `json:"blobId"`
			LFS       *struct {
				Size        int64  `json:"size"`
				SHA256      string `json:"sha256"`
				PointerSize int    `json:"pointerSize"`
			} `json:"lfs"`
		} `json:"siblings"`
	}
	if err := json.Unmarshal(r.body, &withBlobs); err != nil {
		t.Fatal(err)
	}
	for _, sb := range withBlobs.Siblings {
		switch sb.RFilename {
		case "config.json":
			if sb.Size != int64(len(config)) || sb.BlobID != hubtest.GitBlobSHA1(config) || sb.LFS != nil {
				t.Errorf("config.json sibling %+v", sb)
			}
		case "pytorch_model.bin":
			sha := sha256Hex(weights)
			ptr := hubtest.LFSPointer(sha, int64(len(weights)))
			if sb.Size != int64(len(weights)) || sb.BlobID != hubtest.GitBlobSHA1(ptr) || sb.LFS == nil ||
				sb.LFS.SHA256 != sha || sb.LFS.Size != int64(len(weights)) || sb.LFS.PointerSize != len(ptr) {
				t.Errorf("pytorch_model.bin sibling %+v %+v", sb, sb.LFS)
			}
		}
	}

	// Revisions: commit sha, HEAD alias, unknown.
	for _, rev := range []string{commit, "HEAD"} {
		if r := get(t, s.URL+"/api/models/org/model/revision/"+rev); r.status != 200 || !bytes.Contains(r.body, []byte(commit)) {
			t.Errorf("revision %s: %d %s", rev, r.status, r.body)
		}
	}
	r = get(t, s.URL+"/api/models/org/model/revision/nope")
	checkError(t, r, 404, "RevisionNotFound", "Invalid rev id: nope")
}

func checkError(t *testing.T, r resp, status int, code, msg string) {
	t.Helper()
	if r.status != status || r.header.Get("X-Error-Code") != code || r.header.Get("X-Error-Message") != msg {
		t.Errorf("got %d code=%q msg=%q, want %d %q %q", r.status, r.header.Get("X-Error-Code"), r.header.Get("X-Error-Message"), status, code, msg)
	}
	var body struct{ Error string }
	if len(r.body) > 0 {
		if err := json.Unmarshal(r.body, &body); err != nil || body.Error != msg {
			t.Errorf("body %s, want error %q", r.body, msg)
		}
	}
}

type entry struct {
	Type string `json:"type"`
	OID  string `json:"oid"`
	Size int64  `json:"size"`
	Path string `json:"path"`
	LFS  *struct {
		OID         string `json:"oid"`
		Size        int64  `json:"size"`
		PointerSize int    `json:"pointerSize"`
	} `json:"lfs"`
	XetHash    string `json:"xetHash"`
	LastCommit *struct {
		ID string `json:"id"`
	} `json:"lastCommit"`
}

// listAll follows the Link rel="next" pages and returns all entries and the
// number of pages.
func listAll(t *testing.T, u string) ([]entry, int) {
	t.Helper()
	var all []entry
	pages := 0
	for u != "" {
		r := get(t, u)
		if r.status != 200 {
			t.Fatalf("GET %s: %d %s", u, r.status, r.body)
		}
		pages++
		var es []entry
		if err := json.Unmarshal(r.body, &es); err != nil {
			t.Fatal(err)
		}
		all = append(all, es...)
		u = ""
		if l := r.header.Get("Link"); l != "" {
			start, end := strings.Index(l, "<"), strings.Index(l, ">")
			if start < 0 || end < start || !strings.HasSuffix(l, `; rel="next"`) {
				t.Fatalf("bad Link %q", l)
			}
			u = l[start+1 : end]
			if !strings.HasPrefix(u, "http://") {
				t.Fatalf("Link is not absolute: %q", u)
			}
		}
	}
	return all, pages
}

func paths(es []entry) []string {
	var ps []string
	for _, e := range es {
		ps = append(ps, e.Type[:1]+":"+e.Path)
	}
	return ps
}

func TestTree(t *testing.T) {
	s := newHub(t)
	commit := s.AddRepo(basicRepo())
	s.Update(func(s *hubtest.Server) { s.PageSize = 2 })

	all, pages := listAll(t, s.URL+"/api/models/org/model/tree/main?recursive=true")
	want := []string{"f:README.md", "f:config.json", "d:onnx", "f:onnx/model.onnx", "d:onnx/sub", "f:onnx/sub/extra.txt", "f:pytorch_model.bin"}
	if got := paths(all); !slices.Equal(got, want) {
		t.Errorf("recursive %v, want %v", got, want)
	}
	if pages != 4 {
		t.Errorf("pages = %d, want 4", pages)
	}
	for _, e := range all {
		switch e.Path {
		case "config.json":
			if e.OID != hubtest.GitBlobSHA1(config) || e.Size != int64(len(config)) || e.LFS != nil || e.XetHash != "" {
				t.Errorf("config.json %+v", e)
			}
		case "pytorch_model.bin":
			sha := sha256Hex(weights)
			ptr := hubtest.LFSPointer(sha, int64(len(weights)))
			if e.OID != hubtest.GitBlobSHA1(ptr) || e.Size != int64(len(weights)) || e.LFS == nil || e.LFS.OID != sha ||
				e.LFS.Size != e.Size || e.LFS.PointerSize != len(ptr) || e.XetHash != hubtest.XetHash(sha) {
				t.Errorf("pytorch_model.bin %+v %+v", e, e.LFS)
			}
		case "onnx":
			if len(e.OID) != 40 || e.Size != 0 {
				t.Errorf("directory %+v", e)
			}
		}
	}

	s.Update(func(s *hubtest.Server) { s.PageSize = 0 }) // default: one page
	top, pages := listAll(t, s.URL+"/api/models/org/model/tree/main")
	if got, want := paths(top), []string{"f:README.md", "f:config.json", "d:onnx", "f:pytorch_model.bin"}; !slices.Equal(got, want) || pages != 1 {
		t.Errorf("top level %v (%d pages), want %v", got, pages, want)
	}
	sub, _ := listAll(t, s.URL+"/api/models/org/model/tree/"+commit+"/onnx?recursive=false&expand=true")
	if got, want := paths(sub), []string{"f:onnx/model.onnx", "d:onnx/sub"}; !slices.Equal(got, want) {
		t.Errorf("onnx/ %v, want %v", got, want)
	}
	for _, e := range sub {
		if e.LastCommit == nil || e.LastCommit.ID != commit {
			t.Errorf("expand: lastCommit %+v", e.LastCommit)
		}
	}
	checkError(t, get(t, s.URL+"/api/models/org/model/tree/main/nope"), 404, "EntryNotFound", `nope does not exist on "main"`)
	checkError(t, get(t, s.URL+"/api/models/org/model/tree/nope"), 404, "RevisionNotFound", "Invalid rev id: nope")
	checkError(t, get(t, s.URL+"/api/models/org/missing/tree/main"), 404, "RepoNotFound", "Repository not found")
	if r := get(t, s.URL+"/api/models/org/model/tree/main?cursor=!!"); r.status != 400 {
		t.Errorf("bad cursor: %d", r.status)
	}
}

func TestEscapedRevision(t *testing.T) {
	s := newHub(t)
	commit := s.AddRepo(hubtest.Repo{ID: "org/m", Branches: map[string]string{"refs/pr/1": ""},
		Files: []hubtest.File{{Path: "a.txt", Content: []byte("A")}}})
	for _, u := range []string{
		"/api/models/org/m/revision/refs%2Fpr%2F1",
		"/api/models/org/m/tree/refs%2Fpr%2F1",
		"/api/models/org/m/tree/refs/pr/1", // @huggingface/hub listFiles does not escape
		"/org/m/resolve/refs%2Fpr%2F1/a.txt",
		"/org/m/resolve/refs/pr/1/a.txt",
	} {
		r := get(t, s.URL+u)
		if r.status != 200 {
			t.Errorf("%s: %d %s", u, r.status, r.body)
		}
		if strings.Contains(u, "resolve") && r.header.Get("X-Repo-Commit") != commit {
			t.Errorf("%s: X-Repo-Commit %q", u, r.header.Get("X-Repo-Commit"))
		}
	}
	if got := s.Requests()[0].Path; got != "/api/models/org/m/revision/refs%2Fpr%2F1" {
		t.Errorf("logged path %q keeps no escaping", got)
	}
}

func TestResolveRanges(t *testing.T) {
	s := newHub(t)
	commit := s.AddRepo(basicRepo())
	u := s.URL + "/org/model/resolve/main/config.json"
	n := int64(len(config))

	r := get(t, u)
	if r.status != 200 || !bytes.Equal(r.body, config) {
		t.Fatalf("GET: %d %q", r.status, r.body)
	}
	for k, want := range map[string]string{
		"ETag": `"` + hubtest.GitBlobSHA1(config) + `"`, "X-Repo-Commit": commit, "Accept-Ranges": "bytes",
		"Content-Length": fmt.Sprint(n),
	} {
		if got := r.header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}

	for _, tc := range []struct {
		rng    string
		status int
		body   []byte
		cr     string
	}{
		{"bytes=0-4", 206, config[:5], fmt.Sprintf("bytes 0-4/%d", n)},
		{"bytes=3-", 206, config[3:], fmt.Sprintf("bytes 3-%d/%d", n-1, n)},
		{"bytes=-5", 206, config[n-5:], fmt.Sprintf("bytes %d-%d/%d", n-5, n-1, n)},
		{"bytes=-1000", 206, config, fmt.Sprintf("bytes 0-%d/%d", n-1, n)},
		{"bytes=5-100000", 206, config[5:], fmt.Sprintf("bytes 5-%d/%d", n-1, n)},
		{fmt.Sprintf("bytes=%d-", n), 416, nil, fmt.Sprintf("bytes */%d", n)},
		{"bytes=5-3", 416, nil, fmt.Sprintf("bytes */%d", n)},
		{"bytes=-0", 416, nil, fmt.Sprintf("bytes */%d", n)},
		{"bytes=x-", 416, nil, fmt.Sprintf("bytes */%d", n)},
		{"bytes=0-1,4-5", 200, config, ""},
		{"items=0-1", 200, config, ""},
	} {
		r := get(t, u, "Range", tc.rng)
		if r.status != tc.status || r.header.Get("Content-Range") != tc.cr || tc.body != nil && !bytes.Equal(r.body, tc.body) {
			t.Errorf("Range %q: %d %q %q, want %d %q %q", tc.rng, r.status, r.header.Get("Content-Range"), r.body, tc.status, tc.cr, tc.body)
		}
	}

	s.Update(func(s *hubtest.Server) { s.IgnoreRange = true })
	if r := get(t, u, "Range", "bytes=0-4"); r.status != 200 || !bytes.Equal(r.body, config) || r.header.Get("Content-Range") != "" {
		t.Errorf("IgnoreRange: %d %q", r.status, r.body)
	}
	s.Update(func(s *hubtest.Server) { s.IgnoreRange = false })

	s.Reset()
	if r := do(t, http.DefaultClient, "HEAD", u); r.status != 200 || r.header.Get("Content-Length") != fmt.Sprint(n) {
		t.Errorf("HEAD: %d %v", r.status, r.header)
	}
	if s.BytesServed() != 0 {
		t.Errorf("HEAD served %d bytes", s.BytesServed())
	}
}

func TestResolveLFS(t *testing.T) {
	s := newHub(t)
	commit := s.AddRepo(basicRepo())
	sha := sha256Hex(weights)
	u := s.URL + "/org/model/resolve/main/pytorch_model.bin"

	for _, method := range []string{"HEAD", "GET"} {
		r := do(t, noRedirect, method, u)
		if r.status != 302 {
			t.Fatalf("%s: %d", method, r.status)
		}
		loc := r.header.Get("Location")
		if !strings.HasPrefix(loc, "/cdn/"+sha+"?") {
			t.Errorf("Location %q is not relative /cdn/<sha256>", loc)
		}
		for k, want := range map[string]string{
			"X-Repo-Commit": commit, "X-Linked-Etag": `"` + sha + `"`, "X-Linked-Size": fmt.Sprint(len(weights)),
			"X-Xet-Hash": hubtest.XetHash(sha),
			"ETag":       `"` + hubtest.GitBlobSHA1(hubtest.LFSPointer(sha, int64(len(weights)))) + `"`,
		} {
			if got := r.header.Get(k); got != want {
				t.Errorf("%s %s = %q, want %q", method, k, got, want)
			}
		}
		link := r.header.Get("Link")
		if !strings.Contains(link, `/api/models/org/model/xet-read-token/`+commit+`>; rel="xet-auth"`) || !strings.Contains(link, `rel="xet-reconstruction-info"`) {
			t.Errorf("Link %q", link)
		}
	}

	s.Reset()
	r := get(t, u, "Range", "bytes=100-199") // Go's client follows the relative redirect and keeps Range
	if r.status != 206 || !bytes.Equal(r.body, weights[100:200]) || r.header.Get("ETag") != `"`+sha+`"` {
		t.Errorf("ranged LFS: %d %q etag %q", r.status, r.body, r.header.Get("ETag"))
	}
	if s.BytesServed() != 100 {
		t.Errorf("BytesServed = %d, want 100", s.BytesServed())
	}
	reqs := s.Requests()
	if len(reqs) != 2 || reqs[0].Status != 302 || reqs[1].Status != 206 || !strings.HasPrefix(reqs[1].Path, "/cdn/") || reqs[1].Range != "bytes=100-199" {
		t.Errorf("requests %+v", reqs)
	}

	// Signed: a tampered or missing signature is refused; an unknown object is 404.
	loc := do(t, noRedirect, "GET", u).header.Get("Location")
	tampered := strings.Replace(loc, "Signature=", "Signature=0", 1)
	if r := get(t, s.URL+tampered); r.status != 403 {
		t.Errorf("tampered signature: %d", r.status)
	}
	if r := get(t, s.URL+"/cdn/"+sha); r.status != 403 {
		t.Errorf("unsigned: %d", r.status)
	}

	s.Update(func(s *hubtest.Server) { s.AbsoluteRedirects = true })
	if loc := do(t, noRedirect, "HEAD", u).header.Get("Location"); !strings.HasPrefix(loc, s.URL+"/cdn/") {
		t.Errorf("absolute Location %q", loc)
	}
}

func TestErrors(t *testing.T) {
	s := newHub(t)
	s.AddRepo(basicRepo())
	gated := basicRepo()
	gated.ID, gated.Gated = "org/gated", true
	s.AddRepo(gated)
	private := basicRepo()
	private.ID, private.Private = "org/private", true
	s.AddRepo(private)
	bearer := "Bearer " + s.Token

	checkError(t, get(t, s.URL+"/api/models/org/nope"), 404, "RepoNotFound", "Repository not found")
	checkError(t, get(t, s.URL+"/org/nope/resolve/main/config.json"), 404, "RepoNotFound", "Repository not found")
	checkError(t, get(t, s.URL+"/org/model/resolve/nope/config.json"), 404, "RevisionNotFound", "Invalid rev id: nope")
	checkError(t, get(t, s.URL+"/org/model/resolve/main/nope.json"), 404, "EntryNotFound", "Entry not found")
	checkError(t, get(t, s.URL+"/datasets/org/model/resolve/main/config.json"), 404, "RepoNotFound", "Repository not found")

	// Gated: info is public, files are not.
	if r := get(t, s.URL+"/api/models/org/gated"); r.status != 200 || !bytes.Contains(r.body, []byte(`"gated":"auto"`)) {
		t.Errorf("gated info: %d %s", r.status, r.body)
	}
	u := s.URL + "/org/gated/resolve/main/config.json"
	checkError(t, get(t, u), 401, "GatedRepo",
		"Access to model org/gated is restricted. You must have access to it and be authenticated to access it. Please log in.")
	checkError(t, get(t, u, "Authorization", "Bearer hf_other"), 403, "GatedRepo",
		"Access to model org/gated is restricted and you are not in the authorized list. Visit https://huggingface.co/org/gated to ask for access.")
	if r := get(t, u, "Authorization", bearer); r.status != 200 || !bytes.Equal(r.body, config) {
		t.Errorf("gated with token: %d", r.status)
	}
	// The LFS redirect needs the token; the signed CDN URL does not.
	r := do(t, noRedirect, "GET", s.URL+"/org/gated/resolve/main/pytorch_model.bin", "Authorization", bearer)
	if r.status != 302 {
		t.Fatalf("gated LFS: %d", r.status)
	}
	if r := get(t, s.URL+r.header.Get("Location")); r.status != 200 || !bytes.Equal(r.body, weights) {
		t.Errorf("CDN without token: %d", r.status)
	}

	// Private: hidden as missing without the token.
	checkError(t, get(t, s.URL+"/api/models/org/private"), 404, "RepoNotFound", "Repository not found")
	checkError(t, get(t, s.URL+"/api/models/org/private/tree/main"), 404, "RepoNotFound", "Repository not found")
	if r := get(t, s.URL+"/api/models/org/private", "Authorization", bearer); r.status != 200 || !bytes.Contains(r.body, []byte(`"private":true`)) {
		t.Errorf("private with token: %d %s", r.status, r.body)
	}
	s.Update(func(s *hubtest.Server) { s.AnonymousNotFound401 = true })
	checkError(t, get(t, s.URL+"/api/models/org/private"), 401, "RepoNotFound", "Repository not found")
	checkError(t, get(t, s.URL+"/api/models/org/private", "Authorization", "Bearer x"), 404, "RepoNotFound", "Repository not found")

	if r := get(t, s.URL+"/api/models/org/model/bogus/route"); r.status != 404 || r.header.Get("X-Error-Code") != "" {
		t.Errorf("unknown route: %d %q", r.status, r.header.Get("X-Error-Code"))
	}
	if r := do(t, http.DefaultClient, "POST", s.URL+"/api/models/org/model"); r.status != 405 {
		t.Errorf("POST: %d", r.status)
	}
}

func TestRenamed(t *testing.T) {
	s := newHub(t)
	r := basicRepo()
	r.ID, r.RenamedFrom = "neworg/model", "org/old-model"
	s.AddRepo(r)

	for u, want := range map[string]string{
		"/api/models/org/old-model":                               "/api/models/neworg/model",
		"/api/models/org/old-model/revision/main?blobs=true":      "/api/models/neworg/model/revision/main?blobs=true",
		"/api/models/org/old-model/tree/refs%2Fpr%2F1/onnx":       "/api/models/neworg/model/tree/refs%2Fpr%2F1/onnx",
		"/org/old-model/resolve/main/onnx/sub/extra.txt":          "/neworg/model/resolve/main/onnx/sub/extra.txt",
		"/org/old-model/resolve/main/file%20with%20space.txt?x=1": "/neworg/model/resolve/main/file%20with%20space.txt?x=1",
	} {
		r := do(t, noRedirect, "GET", s.URL+u)
		if r.status != 307 || r.header.Get("Location") != want {
			t.Errorf("%s: %d Location %q, want 307 %q", u, r.status, r.header.Get("Location"), want)
		}
	}
	if r := get(t, s.URL+"/org/old-model/resolve/main/config.json"); r.status != 200 || !bytes.Equal(r.body, config) {
		t.Errorf("followed rename: %d", r.status)
	}
}

func TestFailNext(t *testing.T) {
	s := newHub(t)
	s.AddRepo(basicRepo())
	s.FailNext(2, 429, "7")
	u := s.URL + "/api/models/org/model"
	for i := range 2 {
		r := get(t, u)
		if r.status != 429 || r.header.Get("Retry-After") != "7" {
			t.Errorf("try %d: %d Retry-After %q", i, r.status, r.header.Get("Retry-After"))
		}
	}
	if r := get(t, u); r.status != 200 {
		t.Errorf("after failures: %d", r.status)
	}
	s.FailNext(1, 503, "")
	if r := get(t, s.URL+"/org/model/resolve/main/config.json"); r.status != 503 || r.header.Get("Retry-After") != "" || s.BytesServed() != 0 {
		t.Errorf("503: %d %q bytes %d", r.status, r.header.Get("Retry-After"), s.BytesServed())
	}
	var statuses []int
	for _, q := range s.Requests() {
		statuses = append(statuses, q.Status)
	}
	if !slices.Equal(statuses, []int{429, 429, 200, 503}) {
		t.Errorf("logged statuses %v", statuses)
	}
	s.FailNext(5, 500, "")
	s.Reset()
	if r := get(t, u); r.status != 200 || len(s.Requests()) != 1 {
		t.Errorf("Reset left failures or log: %d, %d requests", r.status, len(s.Requests()))
	}
}

func TestBytesServedAndReset(t *testing.T) {
	s := newHub(t)
	s.AddRepo(basicRepo())
	get(t, s.URL+"/api/models/org/model?blobs=true") // metadata: not counted
	get(t, s.URL+"/org/model/resolve/main/config.json")
	get(t, s.URL+"/org/model/resolve/main/pytorch_model.bin", "Range", "bytes=0-9")
	get(t, s.URL+"/org/model/resolve/main/pytorch_model.bin")
	if got, want := s.BytesServed(), int64(len(config)+10+len(weights)); got != want {
		t.Errorf("BytesServed = %d, want %d", got, want)
	}
	if n := len(s.Requests()); n != 6 {
		t.Errorf("%d requests logged, want 6", n)
	}
	s.Reset()
	if s.BytesServed() != 0 || len(s.Requests()) != 0 {
		t.Error("Reset kept counters")
	}
}

func TestMovingMain(t *testing.T) {
	s := newHub(t)
	c1 := s.AddRepo(hubtest.Repo{ID: "org/m", Files: []hubtest.File{{Path: "a", Content: []byte("v1")}}})
	c2 := s.AddRepo(hubtest.Repo{ID: "org/m", Branches: map[string]string{"old": c1, "v2": "", "alias": strings.Repeat("ab", 20)},
		Files: []hubtest.File{{Path: "a", Content: []byte("v2")}}})
	if c1 == c2 {
		t.Fatal("same commit for different snapshots")
	}
	for rev, want := range map[string]struct{ body, commit string }{
		"main": {"v2", c2}, c1: {"v1", c1}, "old": {"v1", c1}, "v2": {"v2", c2},
		"alias": {"v2", strings.Repeat("ab", 20)}, strings.Repeat("ab", 20): {"v2", strings.Repeat("ab", 20)},
	} {
		r := get(t, s.URL+"/org/m/resolve/"+rev+"/a")
		if string(r.body) != want.body || r.header.Get("X-Repo-Commit") != want.commit {
			t.Errorf("rev %s: %q commit %s, want %q %s", rev, r.body, r.header.Get("X-Repo-Commit"), want.body, want.commit)
		}
	}
}

func TestRepoTypesAndLegacyID(t *testing.T) {
	s := newHub(t)
	s.AddRepo(hubtest.Repo{Type: "dataset", ID: "org/data", Files: []hubtest.File{{Path: "train.csv", Content: []byte("a,b\n")}}})
	s.AddRepo(hubtest.Repo{Type: "space", ID: "org/app", Files: []hubtest.File{{Path: "app.py", Content: []byte("print()")}}})
	s.AddRepo(hubtest.Repo{ID: "gpt2", Files: []hubtest.File{{Path: "config.json", Content: config}}})
	for u, status := range map[string]int{
		"/api/datasets/org/data":                    200,
		"/api/datasets/org/data/tree/main":          200,
		"/datasets/org/data/resolve/main/train.csv": 200,
		"/api/spaces/org/app/revision/main":         200,
		"/spaces/org/app/resolve/main/app.py":       200,
		"/api/models/org/data":                      404,
		"/org/data/resolve/main/train.csv":          404,
		"/api/models/gpt2":                          200,
		"/api/models/gpt2/tree/main":                200,
		"/gpt2/resolve/main/config.json":            200,
	} {
		if r := get(t, s.URL+u); r.status != status {
			t.Errorf("%s: %d, want %d (%s)", u, r.status, status, r.body)
		}
	}
	r := get(t, s.URL+"/api/datasets/org/data")
	if bytes.Contains(r.body, []byte("modelId")) {
		t.Errorf("dataset info has modelId: %s", r.body)
	}
}

func TestLazySHA256(t *testing.T) {
	s := newHub(t)
	const size = 3<<20 + 17
	var calls sync.Map
	gen := func(p []byte, off int64) {
		calls.Store(off, true)
		for i := range p {
			p[i] = byte((off + int64(i)) * 7)
		}
	}
	content := make([]byte, size)
	gen(content, 0)
	calls.Clear()
	s.AddRepo(hubtest.Repo{ID: "org/gen", Files: []hubtest.File{{Path: "w.bin", Size: size, Gen: gen, LFS: true}}})
	if n := countMap(&calls); n != 0 {
		t.Fatalf("AddRepo read the file (%d Gen calls)", n)
	}
	get(t, s.URL+"/api/models/org/gen") // no blobs: no hashing
	if n := countMap(&calls); n != 0 {
		t.Fatalf("info without blobs read the file (%d Gen calls)", n)
	}
	es, _ := listAll(t, s.URL+"/api/models/org/gen/tree/main")
	if len(es) != 1 || es[0].LFS == nil || es[0].LFS.OID != sha256Hex(content) {
		t.Fatalf("tree %+v", es)
	}
	calls.Clear()
	r := get(t, s.URL+"/org/gen/resolve/main/w.bin", "Range", "bytes=1000-1999")
	if !bytes.Equal(r.body, content[1000:2000]) {
		t.Fatalf("range body mismatch")
	}
	if n := countMap(&calls); n != 1 {
		t.Errorf("ranged read after hashing made %d Gen calls, want 1 (hash computed once)", n)
	}
}

func countMap(m *sync.Map) int {
	n := 0
	m.Range(func(any, any) bool { n++; return true })
	return n
}

// TestHugeGeneratedFile serves a 4 GiB LFS file built with Sparse and checks
// that ranged reads return the right bytes, count only what was sent, and
// cost no memory.
func TestHugeGeneratedFile(t *testing.T) {
	s := newHub(t)
	const size = 4 << 30
	header := []byte("PK\x03\x04 real local header")
	trailer := []byte("PK\x05\x06 end of central directory")
	mid := []byte("middle")
	gen := hubtest.Sparse(size, map[int64][]byte{0: header, size - int64(len(trailer)): trailer, 2<<30 - 3: mid})
	fakeSHA := strings.Repeat("5", 64)

	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	s.AddRepo(hubtest.Repo{ID: "org/huge", Files: []hubtest.File{{Path: "model.bin", Size: size, Gen: gen, LFS: true, SHA256: fakeSHA}}})
	u := s.URL + "/org/huge/resolve/main/model.bin"

	if r := do(t, noRedirect, "HEAD", u); r.header.Get("X-Linked-Size") != fmt.Sprint(size) || r.header.Get("X-Linked-Etag") != `"`+fakeSHA+`"` {
		t.Errorf("HEAD headers %v", r.header)
	}
	if r := do(t, http.DefaultClient, "HEAD", u); r.status != 200 || r.header.Get("Content-Length") != fmt.Sprint(size) {
		t.Errorf("HEAD via CDN: %d len %s", r.status, r.header.Get("Content-Length"))
	}
	for _, tc := range []struct {
		rng  string
		want []byte
	}{
		{"bytes=0-63", append(append([]byte{}, header...), make([]byte, 64-len(header))...)},
		{fmt.Sprintf("bytes=-%d", len(trailer)), trailer},
		{fmt.Sprintf("bytes=%d-%d", 2<<30-5, 2<<30+4), append(append([]byte{0, 0}, mid...), 0, 0)},
	} {
		r := get(t, u, "Range", tc.rng)
		if r.status != 206 || !bytes.Equal(r.body, tc.want) {
			t.Errorf("Range %s: %d %q, want %q", tc.rng, r.status, r.body, tc.want)
		}
	}
	es, _ := listAll(t, s.URL+"/api/models/org/huge/tree/main?recursive=true")
	if len(es) != 1 || es[0].Size != size || es[0].LFS.OID != fakeSHA {
		t.Errorf("tree %+v", es)
	}
	if got, want := s.BytesServed(), int64(64+len(trailer)+10); got != want {
		t.Errorf("BytesServed = %d, want %d", got, want)
	}

	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grown := int64(after.HeapAlloc) - int64(before.HeapAlloc); grown > 32<<20 {
		t.Errorf("heap grew by %d bytes serving a 4 GiB file", grown)
	}
}

func TestSparse(t *testing.T) {
	gen := hubtest.Sparse(10, map[int64][]byte{2: []byte("abc"), 8: []byte("xyz"), 20: []byte("gone")})
	p := bytes.Repeat([]byte{9}, 10)
	gen(p, 0)
	if want := []byte("\x00\x00abc\x00\x00\x00xy"); !bytes.Equal(p, want) {
		t.Errorf("full: %q, want %q", p, want)
	}
	p = make([]byte, 3)
	gen(p, 3)
	if want := []byte("bc\x00"); !bytes.Equal(p, want) {
		t.Errorf("window: %q, want %q", p, want)
	}
}

func TestConcurrentClients(t *testing.T) {
	s := newHub(t)
	s.AddRepo(basicRepo())
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lo := i * 100
			req, _ := http.NewRequest("GET", s.URL+"/org/model/resolve/main/pytorch_model.bin", nil)
			req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", lo, lo+99))
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				errs <- err
				return
			}
			defer res.Body.Close()
			body, _ := io.ReadAll(res.Body)
			if !bytes.Equal(body, weights[lo:lo+100]) {
				errs <- fmt.Errorf("client %d: wrong bytes", i)
			}
			if _, err := http.Get(s.URL + "/api/models/org/model/tree/main?recursive=true"); err != nil {
				errs <- err
			}
			if i%8 == 0 {
				s.AddRepo(hubtest.Repo{ID: "org/other", Files: []hubtest.File{{Path: "x", Content: []byte{byte(i)}}}})
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := s.BytesServed(); got != 3200 {
		t.Errorf("BytesServed = %d, want 3200", got)
	}
	if n := len(s.Requests()); n != 96 {
		t.Errorf("%d requests logged, want 96", n)
	}
}

func TestAddRepoPanics(t *testing.T) {
	for name, r := range map[string]hubtest.Repo{
		"type":      {Type: "weird", ID: "a/b"},
		"id":        {ID: "a/b/c"},
		"empty id":  {},
		"dup":       {ID: "a/b", Files: []hubtest.File{{Path: "x", Content: []byte{}}, {Path: "x", Content: []byte{}}}},
		"path":      {ID: "a/b", Files: []hubtest.File{{Path: "../x", Content: []byte{}}}},
		"both":      {ID: "a/b", Files: []hubtest.File{{Path: "x", Content: []byte{1}, Gen: func([]byte, int64) {}}}},
		"size":      {ID: "a/b", Files: []hubtest.File{{Path: "x", Content: []byte{1}, Size: 2}}},
		"sha":       {ID: "a/b", Files: []hubtest.File{{Path: "x", Content: []byte{1}, SHA256: "abc"}}},
		"bad ref":   {ID: "a/b", Branches: map[string]string{"x": "not-a-commit"}},
		"bad ref 2": {ID: "a/b", Branches: map[string]string{"/x": ""}},
	} {
		t.Run(name, func(t *testing.T) {
			s := hubtest.New()
			defer s.Close()
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			s.AddRepo(r)
		})
	}
}

// paths-info takes a form (huggingface_hub) or JSON (@huggingface/hub) and
// answers the entries of the paths that exist, in the order asked.
func TestPathsInfo(t *testing.T) {
	s := newHub(t)
	s.AddRepo(basicRepo())
	u := s.URL + "/api/models/org/model/paths-info/main"
	decode := func(resp *http.Response) []entry {
		t.Helper()
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("paths-info: %d %s", resp.StatusCode, body)
		}
		var es []entry
		if err := json.Unmarshal(body, &es); err != nil {
			t.Fatal(err)
		}
		return es
	}
	resp, err := http.PostForm(u, url.Values{"paths": {"pytorch_model.bin", "missing.txt", "onnx"}, "expand": {"True"}})
	if err != nil {
		t.Fatal(err)
	}
	es := decode(resp)
	if got := paths(es); !slices.Equal(got, []string{"f:pytorch_model.bin", "d:onnx"}) {
		t.Errorf("form: %v", got)
	}
	if len(es) == 2 && (es[0].LFS == nil || es[0].LastCommit == nil) {
		t.Errorf("form entry lacks lfs or the expanded lastCommit: %+v", es[0])
	}
	resp, err = http.Post(u, "application/json", strings.NewReader(`{"paths":["config.json"],"expand":false}`))
	if err != nil {
		t.Fatal(err)
	}
	if es := decode(resp); len(es) != 1 || es[0].Path != "config.json" || es[0].LastCommit != nil {
		t.Errorf("json: %+v", es)
	}
	resp, err = http.Post(s.URL+"/api/models/org/model/paths-info/nope", "application/json", strings.NewReader(`{"paths":["a"]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 || resp.Header.Get("X-Error-Code") != "RevisionNotFound" {
		t.Errorf("unknown revision: %d %q", resp.StatusCode, resp.Header.Get("X-Error-Code"))
	}
	resp, err = http.Post(s.URL+"/api/models/org/model/tree/main", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 {
		t.Errorf("POST tree: %d", resp.StatusCode)
	}
}
