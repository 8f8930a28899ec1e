// Package hubtest is an in-process fake of the Hugging Face Hub for tests of
// the Hub client (internal/hub) and of the gate (modelgate serve).
//
// It speaks the subset of the Hub protocol those components use, with the
// response shapes, headers and error codes of the real Hub as read from the
// public clients (huggingface_hub: file_download.py, hf_api.py,
// utils/_http.py, constants.py; @huggingface/hub: list-files.ts,
// file-download-info.ts, model-info.ts):
//
//	GET  /api/{models|datasets|spaces}/{repo}                      repo info at "main"
//	GET  /api/{models|datasets|spaces}/{repo}/revision/{rev}       repo info at rev (?blobs=true)
//	GET  /api/{models|datasets|spaces}/{repo}/tree/{rev}[/{path}]  listing (?recursive, ?expand, ?cursor)
//	GET  /api/{models|datasets|spaces}/{repo}/xet-read-token/{rev} fake Xet token (never usable)
//	HEAD/GET /{repo}/resolve/{rev}/{path}              models
//	HEAD/GET /datasets/{repo}/resolve/{rev}/{path}     datasets
//	HEAD/GET /spaces/{repo}/resolve/{rev}/{path}       spaces
//	HEAD/GET /cdn/{sha256}?Expires=..&Signature=..     the "CDN" that LFS resolves redirect to
//
// Content is the test's business: a File carries either literal bytes or a
// generator, so a multi-gigabyte checkpoint costs no memory (see Sparse).
//
// Every method of Server is safe for concurrent use. The exported
// configuration fields (Token, PageSize, IgnoreRange, ...) may be changed
// between requests; do not change them while requests are in flight.
package hubtest

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// DefaultToken is the Server.Token a new Server accepts.
const DefaultToken = "hf_hubtest_0123456789abcdefghijklmnopq"

// DefaultPageSize is the Hub's page size for tree listings without expand.
const DefaultPageSize = 1000

// timestamp is the fixed lastModified / createdAt of every repo, so responses
// are deterministic.
const timestamp = "2024-05-01T12:00:00.000Z"

// File is one file of a repository.
type File struct {
	// Path is the file's path in the repo, "/"-separated, without a leading
	// slash (e.g. "model.safetensors", "onnx/model.onnx").
	Path string
	// Content holds a small file's bytes. Leave nil to use Size and Gen.
	Content []byte
	// Size is the length of a generated file (Gen != nil). With Content it
	// may be left 0; if set it must equal len(Content).
	Size int64
	// Gen fills p with the file's bytes starting at offset off. It must be
	// deterministic, must not retain p, and is called concurrently. The
	// server never materialises a generated file: bytes are produced in
	// small chunks as they are written to the wire.
	Gen func(p []byte, off int64)
	// LFS serves the file like an LFS / Xet file: resolve answers 302 to the
	// CDN path, the tree and blobs=true info carry an "lfs" object, and
	// resolve sends X-Linked-Etag / X-Linked-Size and the Xet headers.
	LFS bool
	// SHA256 optionally gives the file's sha256 (64 lowercase hex). It is
	// trusted, not checked. Without it the sha256 of an LFS file is computed
	// lazily, once, the first time a response needs it (lfs.oid in the tree,
	// blobs=true info, X-Linked-Etag): that reads the whole file through Gen,
	// so give it for multi-GB generated files. Non-LFS generated files are
	// read once in full for their git blob id (their ETag and tree oid) no
	// matter what; keep them small.
	SHA256 string
}

// Repo describes a repository snapshot to add with Server.AddRepo.
type Repo struct {
	// Type is "model" (the default when empty), "dataset" or "space".
	Type string
	// ID is "org/name" (a legacy one-segment "name" also works).
	ID string
	// Branches maps extra refs (branch or tag names, e.g. "v1",
	// "refs/pr/1") to a commit: "" means this snapshot's commit; a commit of
	// an earlier AddRepo of the same repo points the ref there; any other
	// 40-hex string becomes an alias commit for this snapshot (requests by
	// that sha, or by the ref, serve these files and report that sha).
	// "main" always exists and points to the newest snapshot unless
	// Branches sets it.
	Branches map[string]string
	// Files is the snapshot's content. Paths must be unique.
	Files []File
	// Gated requires "Authorization: Bearer <Server.Token>" to resolve
	// files. As on the Hub, info and tree stay public and show
	// "gated": "auto".
	Gated bool
	// Private hides the repo entirely (info, tree, resolve) from requests
	// without the token: they get RepoNotFound, as on the Hub.
	Private bool
	// RenamedFrom is an optional old id: requests naming it get a relative
	// 307 redirect to the same URL with the new id, as the Hub does for
	// renamed (moved) repos.
	RenamedFrom string
	// Tags is the info "tags" list (default empty).
	Tags []string
}

// Request is one request the server answered, for assertions.
type Request struct {
	Method string
	// Path is the escaped request path as received (r.URL.EscapedPath()),
	// so an escaped revision shows as e.g. "refs%2Fpr%2F1".
	Path  string
	Query string // raw query, without "?"
	// Range is the request's Range header ("" if none).
	Range string
	// Authorization is the request's Authorization header ("" if none).
	Authorization string
	// Status is the status code of the answer.
	Status int
	// Header is a copy of all request headers.
	Header http.Header
}

// Server is the fake Hub. Create it with New and Close it when done.
//
// The exported knobs below may be set before the first request. Once
// requests are in flight (in particular from another process, which gives
// the race detector no happens-before edge), change them with Update.
type Server struct {
	*httptest.Server

	// Token is the bearer token that opens gated and private repos
	// (default DefaultToken).
	Token string
	// PageSize is the maximum number of tree entries per page (default
	// DefaultPageSize); the next page is linked with a Link rel="next"
	// header holding an absolute URL with a cursor.
	PageSize int
	// IgnoreRange makes resolve and the CDN ignore Range headers and answer
	// 200 with the full body, as some mirrors and proxies do.
	IgnoreRange bool
	// AnonymousNotFound401 makes requests without an Authorization header
	// for a missing or private repo get 401 (still X-Error-Code:
	// RepoNotFound) instead of 404, which is what huggingface.co does so
	// anonymous users cannot probe for private repos. Off by default.
	AnonymousNotFound401 bool
	// AbsoluteRedirects makes LFS resolve redirects carry an absolute
	// Location (this server's URL + /cdn/...), like the real Hub's CDN URLs
	// (on another host there). Off by default: a relative Location keeps the
	// test hermetic and exercises relative-redirect handling.
	AbsoluteRedirects bool
	// Hold, when set, makes every GET of file content (resolve of a small
	// file, or the CDN) wait until the channel is closed or the request is
	// cancelled: a slow upstream, without sleeping in tests.
	Hold chan struct{}

	bytes atomic.Int64

	mu       sync.Mutex
	repos    map[string]*repoState // repoKey(type, id)
	renamed  map[string]string     // repoKey(type, old id) -> new id
	cdn      map[string]*file      // sha256 -> file
	requests []Request
	seq      int64
	failN    int
	failCode int
	failRA   string
}

// Update changes the server's knobs under its lock; each request reads
// them once, when it starts.
func (s *Server) Update(f func(s *Server)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

// knobs is the snapshot of the exported settings one request works with.
type knobs struct {
	token                string
	pageSize             int
	ignoreRange          bool
	anonymousNotFound401 bool
	absoluteRedirects    bool
	hold                 chan struct{}
}

type knobsKey struct{}

// knobsOf returns the settings snapshot of a request.
func knobsOf(r *http.Request) knobs {
	k, _ := r.Context().Value(knobsKey{}).(knobs)
	return k
}

// New starts a fake Hub on a loopback httptest.Server.
func New() *Server {
	s := &Server{
		Token:    DefaultToken,
		PageSize: DefaultPageSize,
		repos:    map[string]*repoState{},
		renamed:  map[string]string{},
		cdn:      map[string]*file{},
	}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	return s
}

// AddRepo adds a snapshot of a repository and returns its commit sha (40
// lowercase hex, deterministic: it depends on the type, id, files and the
// previous snapshot). Adding a repo that exists makes a new commit whose
// parent is the current "main" and moves "main" to it; earlier commits stay
// reachable by their sha. Repo-level settings (Gated, Private, Tags) are
// replaced by the new call's. AddRepo panics on invalid input (bad type or
// id, duplicate or unsafe paths, a file with both or neither of Content and
// Gen), as it is only called from tests.
func (s *Server) AddRepo(r Repo) (commit string) {
	typ := r.Type
	if typ == "" {
		typ = "model"
	}
	if _, ok := typePrefixes[typ]; !ok {
		panic(fmt.Sprintf("hubtest: unknown repo type %q", r.Type))
	}
	mustRepoID(r.ID)
	if r.RenamedFrom != "" {
		mustRepoID(r.RenamedFrom)
	}
	files := make([]*file, 0, len(r.Files))
	seen := map[string]bool{}
	for _, f := range r.Files {
		nf := newFile(f)
		if seen[nf.Path] {
			panic(fmt.Sprintf("hubtest: duplicate file %q in %s", nf.Path, r.ID))
		}
		seen[nf.Path] = true
		files = append(files, nf)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })

	s.mu.Lock()
	defer s.mu.Unlock()
	key := repoKey(typ, r.ID)
	st := s.repos[key]
	if st == nil {
		st = &repoState{typ: typ, id: r.ID, refs: map[string]string{}, commits: map[string]*snapshot{}}
		s.repos[key] = st
	}
	commit = commitSHA(typ, r.ID, st.refs["main"], files)
	snap := newSnapshot(files)
	st.commits[commit] = snap
	st.refs["main"] = commit
	for ref, c := range r.Branches {
		switch {
		case ref == "" || strings.HasPrefix(ref, "/") || strings.HasSuffix(ref, "/"):
			panic(fmt.Sprintf("hubtest: bad ref name %q", ref))
		case c == "":
			c = commit
		case st.commits[c] != nil:
		case isHex(c, 40):
			st.commits[c] = snap
		default:
			panic(fmt.Sprintf("hubtest: ref %q: %q is neither a known commit nor 40 hex", ref, c))
		}
		st.refs[ref] = c
	}
	st.gated, st.private = r.Gated, r.Private
	st.tags = append([]string{}, r.Tags...)
	if r.RenamedFrom != "" {
		s.renamed[repoKey(typ, r.RenamedFrom)] = r.ID
	}
	return commit
}

// BytesServed returns the number of file-content body bytes written so far by
// resolve (non-LFS files) and the CDN: the bytes a client actually pulled.
// Bytes are counted just before they are written (and uncounted if the write
// fails), so the counter is current once a client has read them.
// Metadata, error bodies and redirect bodies are not counted; HEAD costs 0.
func (s *Server) BytesServed() int64 { return s.bytes.Load() }

// Requests returns a copy of the log of answered requests, in the order their
// status was decided. A request is logged before any of its body is sent, so
// a client that has read a response always finds its request here.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// FailNext makes the next n requests, to any endpoint, answer status before
// any normal handling, with a Retry-After header when retryAfter is not ""
// (e.g. FailNext(2, 429, "1") or FailNext(1, 503, "")). The body is the
// Hub's JSON error shape. A later call replaces an unfinished earlier one.
func (s *Server) FailNext(n int, status int, retryAfter string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failN, s.failCode, s.failRA = n, status, retryAfter
}

// Reset clears the byte counter, the request log and any pending FailNext.
// Repos and settings are kept.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bytes.Store(0)
	s.requests = nil
	s.failN = 0
}

// Sparse returns a File.Gen for a file of the given size that is all zeros
// except for the given chunks, each placed at its offset (bytes past size are
// dropped). It lets a test build a multi-GB file from a small real header and
// trailer (e.g. a zip's local header and central directory) without memory.
// The chunks map and slices are copied.
func Sparse(size int64, chunks map[int64][]byte) func(p []byte, off int64) {
	type chunk struct {
		off  int64
		data []byte
	}
	var cs []chunk
	for off, data := range chunks {
		if off < 0 || off >= size {
			continue
		}
		if int64(len(data)) > size-off {
			data = data[:size-off]
		}
		cs = append(cs, chunk{off, append([]byte(nil), data...)})
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].off < cs[j].off })
	return func(p []byte, off int64) {
		clear(p)
		end := off + int64(len(p))
		for _, c := range cs {
			cend := c.off + int64(len(c.data))
			if cend <= off || c.off >= end {
				continue
			}
			lo := max(off, c.off)
			hi := min(end, cend)
			copy(p[lo-off:hi-off], c.data[lo-c.off:hi-c.off])
		}
	}
}

// GitBlobSHA1 returns the git blob id of content: the Hub's "oid" / "blobId"
// of a non-LFS file and the ETag of its resolve response.
func GitBlobSHA1(content []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(content))
	h.Write(content)
	return hex.EncodeToString(h.Sum(nil))
}

// LFSPointer returns the git-lfs pointer file for an object; its git blob id
// is an LFS file's tree "oid" and its length the "pointerSize".
func LFSPointer(sha256Hex string, size int64) []byte {
	return fmt.Appendf(nil, "version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %d\n", sha256Hex, size)
}

// XetHash returns the fake X-Xet-Hash / xetHash the server reports for an
// LFS object with this sha256. The real value is a Xet merkle hash of the
// content; this one only has the same shape (64 hex).
func XetHash(sha256Hex string) string {
	h := sha256.Sum256([]byte("hubtest-xet\x00" + sha256Hex))
	return hex.EncodeToString(h[:])
}

// typePrefixes maps a repo type to its API collection and resolve prefix.
var typePrefixes = map[string]struct{ api, file string }{
	"model":   {"models", ""},
	"dataset": {"datasets", "/datasets"},
	"space":   {"spaces", "/spaces"},
}

type repoState struct {
	typ, id        string
	refs           map[string]string    // ref -> commit
	commits        map[string]*snapshot // commit -> files
	gated, private bool
	tags           []string
}

// snapshot is the file set of one commit.
type snapshot struct {
	files  []*file // sorted by path
	byPath map[string]*file
	dirs   []string // every directory, sorted
	isDir  map[string]bool
}

func newSnapshot(files []*file) *snapshot {
	sn := &snapshot{files: files, byPath: map[string]*file{}, isDir: map[string]bool{}}
	for _, f := range files {
		sn.byPath[f.Path] = f
		for d := path.Dir(f.Path); d != "."; d = path.Dir(d) {
			if !sn.isDir[d] {
				sn.isDir[d] = true
				sn.dirs = append(sn.dirs, d)
			}
		}
	}
	sort.Strings(sn.dirs)
	return sn
}

// file is a File with its lazily computed digests.
type file struct {
	File
	once    sync.Once
	sha     string // sha256 of the content
	blobOID string // git blob sha1: of the content, or of the LFS pointer
}

func newFile(f File) *file {
	p := f.Path
	if p == "" || strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") || path.Clean(p) != p || strings.HasPrefix(p, "../") || p == ".." {
		panic(fmt.Sprintf("hubtest: bad file path %q", f.Path))
	}
	switch {
	case f.Gen != nil && f.Content != nil:
		panic(fmt.Sprintf("hubtest: %s: both Content and Gen", p))
	case f.Gen != nil:
		if f.Size < 0 {
			panic(fmt.Sprintf("hubtest: %s: negative Size", p))
		}
	default:
		if f.Size != 0 && f.Size != int64(len(f.Content)) {
			panic(fmt.Sprintf("hubtest: %s: Size %d != len(Content) %d", p, f.Size, len(f.Content)))
		}
		f.Size = int64(len(f.Content))
	}
	if f.SHA256 != "" && !isHex(f.SHA256, 64) {
		panic(fmt.Sprintf("hubtest: %s: SHA256 %q is not 64 lowercase hex", p, f.SHA256))
	}
	return &file{File: f}
}

// digests returns the sha256 and git blob id, computing them once. Only the
// reads the answer needs happen: an LFS file with a given SHA256 is never read.
func (f *file) digests() (sha string, blobOID string) {
	f.once.Do(func() {
		f.sha = f.SHA256
		if f.Content != nil {
			if f.sha == "" {
				sum := sha256.Sum256(f.Content)
				f.sha = hex.EncodeToString(sum[:])
			}
			if !f.LFS {
				f.blobOID = GitBlobSHA1(f.Content)
			}
		} else if f.sha == "" || !f.LFS {
			f.sha, f.blobOID = f.hashGen(f.sha)
		}
		if f.LFS {
			f.blobOID = GitBlobSHA1(LFSPointer(f.sha, f.Size))
		}
	})
	return f.sha, f.blobOID
}

// hashGen reads a generated file once through Gen for its sha256 (unless
// known) and git blob id.
func (f *file) hashGen(known string) (string, string) {
	hs, hb := sha256.New(), sha1.New()
	fmt.Fprintf(hb, "blob %d\x00", f.Size)
	buf := make([]byte, 1<<20)
	for off := int64(0); off < f.Size; {
		n := int64(len(buf))
		if f.Size-off < n {
			n = f.Size - off
		}
		f.Gen(buf[:n], off)
		hs.Write(buf[:n])
		hb.Write(buf[:n])
		off += n
	}
	if known == "" {
		known = hex.EncodeToString(hs.Sum(nil))
	}
	return known, hex.EncodeToString(hb.Sum(nil))
}

// readAt fills p with the bytes at off (p must lie within the file).
func (f *file) readAt(p []byte, off int64) {
	if f.Gen != nil {
		f.Gen(p, off)
		return
	}
	copy(p, f.Content[off:])
}

// commitSHA derives a deterministic commit id. It hashes what is known
// without reading generated content (path, size, kind, given digests).
func commitSHA(typ, id, parent string, files []*file) string {
	h := sha1.New()
	fmt.Fprintf(h, "hubtest commit\x00%s\x00%s\x00%s\x00", typ, id, parent)
	for _, f := range files {
		fmt.Fprintf(h, "%s\x00%d\x00%t\x00%s\x00", f.Path, f.Size, f.LFS, f.SHA256)
		if f.Content != nil {
			sum := sha256.Sum256(f.Content)
			h.Write(sum[:])
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

func repoKey(typ, id string) string { return typ + "\x00" + id }

func mustRepoID(id string) {
	segs := strings.Split(id, "/")
	if id == "" || len(segs) > 2 {
		panic(fmt.Sprintf("hubtest: bad repo id %q", id))
	}
	for _, s := range segs {
		if s == "" || s == "." || s == ".." {
			panic(fmt.Sprintf("hubtest: bad repo id %q", id))
		}
	}
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
