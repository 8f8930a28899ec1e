package hubtest

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Error codes and messages, as the Hub sends them in X-Error-Code /
// X-Error-Message and the JSON body {"error": ...}. The codes are the ones
// huggingface_hub's hf_raise_for_status (utils/_http.py) dispatches on.
const (
	codeRepoNotFound     = "RepoNotFound"
	codeRevisionNotFound = "RevisionNotFound"
	codeEntryNotFound    = "EntryNotFound"
	codeGatedRepo        = "GatedRepo"

	msgRepoNotFound  = "Repository not found"
	msgEntryNotFound = "Entry not found"
)

// cdnKey signs CDN URLs, so a gate that mangles the query string is caught.
var cdnKey = []byte("hubtest-cdn-signing-key")

// statusRecorder logs the request as soon as its status is known, before
// any body byte leaves, so a client that has read a response always finds
// the request in Requests.
type statusRecorder struct {
	http.ResponseWriter
	logged bool
	log    func(status int)
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.logged {
		r.logged = true
		r.log(code)
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(p []byte) (int, error) {
	if !r.logged {
		r.WriteHeader(http.StatusOK)
	}
	return r.ResponseWriter.Write(p)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.seq++
	seq := s.seq
	failCode, failRA := 0, ""
	if s.failN > 0 {
		s.failN--
		failCode, failRA = s.failCode, s.failRA
	}
	k := knobs{token: s.Token, pageSize: s.PageSize, ignoreRange: s.IgnoreRange,
		anonymousNotFound401: s.AnonymousNotFound401, absoluteRedirects: s.AbsoluteRedirects, hold: s.Hold}
	s.mu.Unlock()
	r = r.WithContext(context.WithValue(r.Context(), knobsKey{}, k))
	rec := &statusRecorder{ResponseWriter: w, log: func(status int) {
		req := Request{
			Method:        r.Method,
			Path:          r.URL.EscapedPath(),
			Query:         r.URL.RawQuery,
			Range:         r.Header.Get("Range"),
			Authorization: r.Header.Get("Authorization"),
			Status:        status,
			Header:        r.Header.Clone(),
		}
		s.mu.Lock()
		s.requests = append(s.requests, req)
		s.mu.Unlock()
	}}
	defer func() {
		if !rec.logged {
			rec.WriteHeader(http.StatusOK)
		}
	}()
	// The Hub tags every answer; huggingface_hub quotes it in its errors.
	rec.Header().Set("X-Request-Id", fmt.Sprintf("Root=1-hubtest-%d", seq))

	if failCode != 0 {
		if failRA != "" {
			rec.Header().Set("Retry-After", failRA)
		}
		writeError(rec, failCode, "", http.StatusText(failCode))
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead &&
		!(r.Method == http.MethodPost && strings.Contains(r.URL.EscapedPath(), "/paths-info")) {
		writeError(rec, http.StatusMethodNotAllowed, "", "Method not allowed")
		return
	}
	segs, ok := splitPath(r.URL.EscapedPath())
	if !ok || len(segs) == 0 {
		pageNotFound(rec)
		return
	}
	switch {
	case segs[0] == "api" && len(segs) >= 3:
		typ, ok := apiType(segs[1])
		if !ok {
			pageNotFound(rec)
			return
		}
		s.serveAPI(rec, r, typ, segs[2:])
	case segs[0] == "cdn" && len(segs) == 2:
		s.serveCDN(rec, r, segs[1])
	case segs[0] == "datasets" || segs[0] == "spaces":
		s.serveResolve(rec, r, strings.TrimSuffix(segs[0], "s"), segs[1:])
	default:
		s.serveResolve(rec, r, "model", segs)
	}
}

// splitPath splits an escaped path into unescaped segments, so that a
// revision escaped as "refs%2Fpr%2F1" stays one segment.
func splitPath(escaped string) ([]string, bool) {
	raw := strings.Split(strings.TrimPrefix(escaped, "/"), "/")
	segs := make([]string, len(raw))
	for i, e := range raw {
		u, err := url.PathUnescape(e)
		if err != nil || u == "" {
			return nil, false
		}
		segs[i] = u
	}
	return segs, true
}

func apiType(collection string) (string, bool) {
	for typ, p := range typePrefixes {
		if p.api == collection {
			return typ, true
		}
	}
	return "", false
}

// splitRepo finds the repo id at the start of segs: "org/name", or a legacy
// one-segment id when segs[1] is a route keyword and that repo exists.
func (s *Server) splitRepo(typ string, segs []string, keyword func(string) bool) (id string, rest []string, ok bool) {
	s.mu.Lock()
	_, one := s.repos[repoKey(typ, segs[0])]
	if !one {
		_, one = s.renamed[repoKey(typ, segs[0])]
	}
	s.mu.Unlock()
	switch {
	case len(segs) >= 2 && keyword(segs[1]) && one:
		return segs[0], segs[1:], true
	case len(segs) == 2 || len(segs) > 2 && keyword(segs[2]):
		return segs[0] + "/" + segs[1], segs[2:], true
	case len(segs) == 1 || keyword(segs[1]):
		return segs[0], segs[1:], true
	}
	return "", nil, false
}

// lookup finds a repo, or the new id of a renamed one. It returns a copy of
// the repo's state, so a request sees one consistent version even while
// AddRepo runs; snapshots themselves are immutable.
func (s *Server) lookup(typ, id string) (st *repoState, renamedTo string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur := s.repos[repoKey(typ, id)]; cur != nil {
		cp := *cur
		cp.refs = maps.Clone(cur.refs)
		cp.commits = maps.Clone(cur.commits)
		cp.tags = slices.Clone(cur.tags)
		return &cp, ""
	}
	return nil, s.renamed[repoKey(typ, id)]
}

// redirectRenamed answers a request for a renamed repo the way the Hub does:
// 307 with a relative Location naming the new id, the rest of the URL kept.
func redirectRenamed(w http.ResponseWriter, r *http.Request, prefix, newID string, rest []string) {
	esc := make([]string, 0, len(rest)+2)
	for _, p := range strings.Split(newID, "/") {
		esc = append(esc, url.PathEscape(p))
	}
	for _, p := range rest {
		esc = append(esc, url.PathEscape(p))
	}
	loc := prefix + "/" + strings.Join(esc, "/")
	if r.URL.RawQuery != "" {
		loc += "?" + r.URL.RawQuery
	}
	w.Header().Set("Location", loc)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusTemporaryRedirect)
	if r.Method != http.MethodHead {
		fmt.Fprintf(w, "Temporary Redirect. Redirecting to %s", loc)
	}
}

// authorized reports whether the request carries the server's token.
func (s *Server) authorized(r *http.Request) bool {
	return r.Header.Get("Authorization") == "Bearer "+knobsOf(r).token
}

// visible reports whether a repo may be shown to this request (private
// repos are hidden from requests without the token, as if missing).
func (s *Server) visible(st *repoState, r *http.Request) bool {
	return st != nil && (!st.private || s.authorized(r))
}

func (s *Server) repoNotFound(w http.ResponseWriter, r *http.Request) {
	status := http.StatusNotFound
	if knobsOf(r).anonymousNotFound401 && r.Header.Get("Authorization") == "" {
		status = http.StatusUnauthorized
	}
	writeError(w, status, codeRepoNotFound, msgRepoNotFound)
}

// gatedError answers a gated resolve without the token: 401 when the request
// is anonymous, 403 when it carries some other token (an authenticated user
// not on the repo's authorized list). Messages as the Hub words them.
func gatedError(w http.ResponseWriter, r *http.Request, st *repoState) {
	kind := st.typ
	if r.Header.Get("Authorization") == "" {
		writeError(w, http.StatusUnauthorized, codeGatedRepo, fmt.Sprintf(
			"Access to %s %s is restricted. You must have access to it and be authenticated to access it. Please log in.", kind, st.id))
		return
	}
	writeError(w, http.StatusForbidden, codeGatedRepo, fmt.Sprintf(
		"Access to %s %s is restricted and you are not in the authorized list. Visit https://huggingface.co/%s to ask for access.", kind, st.id, st.id))
}

// resolveRev maps a revision (ref name, "HEAD", or commit sha) to its
// snapshot and the commit to report.
func resolveRev(st *repoState, rev string) (*snapshot, string, bool) {
	if rev == "HEAD" { // @huggingface/hub's modelInfo asks for revision "HEAD"
		rev = "main"
	}
	if c, ok := st.refs[rev]; ok {
		return st.commits[c], c, true
	}
	if sn := st.commits[rev]; sn != nil {
		return sn, rev, true
	}
	return nil, "", false
}

// takeRev takes the revision from the front of rest. Clients escape it
// (refs%2Fpr%2F1 arrives as one segment); an unescaped "refs/x/y" that names
// an existing ref is accepted too, as the Hub does.
func takeRev(st *repoState, rest []string) (rev string, after []string) {
	if len(rest) >= 3 && rest[0] == "refs" {
		if _, ok := st.refs[strings.Join(rest[:3], "/")]; ok {
			return strings.Join(rest[:3], "/"), rest[3:]
		}
	}
	return rest[0], rest[1:]
}

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request, typ string, segs []string) {
	id, rest, ok := s.splitRepo(typ, segs, func(k string) bool {
		return k == "revision" || k == "tree" || k == "xet-read-token" || k == "paths-info"
	})
	if !ok {
		pageNotFound(w)
		return
	}
	st, renamedTo := s.lookup(typ, id)
	if renamedTo != "" {
		redirectRenamed(w, r, "/api/"+typePrefixes[typ].api, renamedTo, rest)
		return
	}
	if !s.visible(st, r) {
		s.repoNotFound(w, r)
		return
	}
	switch {
	case len(rest) == 0:
		s.serveInfo(w, r, st, "main")
	case rest[0] == "revision" && len(rest) >= 2:
		rev, after := takeRev(st, rest[1:])
		if len(after) != 0 {
			pageNotFound(w)
			return
		}
		s.serveInfo(w, r, st, rev)
	case rest[0] == "tree" && len(rest) >= 2:
		rev, after := takeRev(st, rest[1:])
		s.serveTree(w, r, st, rev, strings.Join(after, "/"))
	case rest[0] == "paths-info" && len(rest) >= 2 && r.Method == http.MethodPost:
		rev, after := takeRev(st, rest[1:])
		if len(after) != 0 {
			pageNotFound(w)
			return
		}
		s.servePathsInfo(w, r, st, rev)
	case r.Method == http.MethodPost:
		writeError(w, http.StatusMethodNotAllowed, "", "Method not allowed")
	case rest[0] == "xet-read-token" && len(rest) >= 2:
		s.serveXetToken(w, r, st, rest[1])
	default:
		pageNotFound(w)
	}
}

type siblingLFS struct {
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"`
	PointerSize int    `json:"pointerSize"`
}

type sibling struct {
	RFilename string      `json:"rfilename"`
	Size      *int64      `json:"size,omitempty"`
	BlobID    string      `json:"blobId,omitempty"`
	LFS       *siblingLFS `json:"lfs,omitempty"`
}

type repoInfo struct {
	ObjectID     string    `json:"_id"`
	ID           string    `json:"id"`
	ModelID      string    `json:"modelId,omitempty"`
	Author       string    `json:"author,omitempty"`
	SHA          string    `json:"sha"`
	LastModified string    `json:"lastModified"`
	CreatedAt    string    `json:"createdAt"`
	Private      bool      `json:"private"`
	Gated        any       `json:"gated"`
	Disabled     bool      `json:"disabled"`
	Downloads    int       `json:"downloads"`
	Likes        int       `json:"likes"`
	Tags         []string  `json:"tags"`
	Siblings     []sibling `json:"siblings"`
}

// serveInfo answers /api/{type}s/{repo}[/revision/{rev}] with the Hub's
// ModelInfo / DatasetInfo / SpaceInfo shape (hf_api.py). With ?blobs=true
// each sibling also has size, blobId and, for LFS files, lfs{size, sha256,
// pointerSize}.
func (s *Server) serveInfo(w http.ResponseWriter, r *http.Request, st *repoState, rev string) {
	sn, commit, ok := resolveRev(st, rev)
	if !ok {
		writeError(w, http.StatusNotFound, codeRevisionNotFound, "Invalid rev id: "+rev)
		return
	}
	blobs := r.URL.Query().Get("blobs") == "true"
	oid := sha1.Sum([]byte(repoKey(st.typ, st.id)))
	info := repoInfo{
		ObjectID:     hex.EncodeToString(oid[:12]),
		ID:           st.id,
		SHA:          commit,
		LastModified: timestamp,
		CreatedAt:    timestamp,
		Private:      st.private,
		Gated:        false,
		Tags:         append([]string{}, st.tags...),
		Siblings:     []sibling{},
	}
	if st.typ == "model" {
		info.ModelID = st.id
	}
	if org, _, found := strings.Cut(st.id, "/"); found {
		info.Author = org
	}
	if st.gated {
		info.Gated = "auto"
	}
	for _, f := range sn.files {
		sib := sibling{RFilename: f.Path}
		if blobs {
			size := f.Size
			sib.Size = &size
			sha, blob := f.digests()
			sib.BlobID = blob
			if f.LFS {
				sib.LFS = &siblingLFS{Size: f.Size, SHA256: sha, PointerSize: len(LFSPointer(sha, f.Size))}
			}
		}
		info.Siblings = append(info.Siblings, sib)
	}
	writeJSON(w, r, info)
}

type treeLFS struct {
	OID         string `json:"oid"`
	Size        int64  `json:"size"`
	PointerSize int    `json:"pointerSize"`
}

type lastCommit struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	Date  string `json:"date"`
}

type securityStatus struct {
	Status string `json:"status"`
}

type treeEntry struct {
	Type               string          `json:"type"`
	OID                string          `json:"oid"`
	Size               int64           `json:"size"`
	Path               string          `json:"path"`
	LFS                *treeLFS        `json:"lfs,omitempty"`
	XetHash            string          `json:"xetHash,omitempty"`
	LastCommit         *lastCommit     `json:"lastCommit,omitempty"`
	SecurityFileStatus *securityStatus `json:"securityFileStatus,omitempty"`
}

// serveTree answers /api/{type}s/{repo}/tree/{rev}[/{dir}] like the Hub
// (hf_api.list_repo_tree, list-files.ts): a JSON array of file and directory
// entries, immediate children or (recursive=true) all descendants, sorted by
// path, at most PageSize per page, the next page linked by an absolute URL in
// `Link: <...>; rel="next"`. expand=true adds lastCommit and
// securityFileStatus (the real Hub also uses a smaller page then; here
// PageSize applies to both). A missing directory is EntryNotFound.
func (s *Server) serveTree(w http.ResponseWriter, r *http.Request, st *repoState, rev, dir string) {
	sn, commit, ok := resolveRev(st, rev)
	if !ok {
		writeError(w, http.StatusNotFound, codeRevisionNotFound, "Invalid rev id: "+rev)
		return
	}
	if dir != "" && !sn.isDir[dir] {
		writeError(w, http.StatusNotFound, codeEntryNotFound, fmt.Sprintf("%s does not exist on %q", dir, rev))
		return
	}
	q := r.URL.Query()
	recursive, expand := q.Get("recursive") == "true", q.Get("expand") == "true"

	type item struct {
		path string
		f    *file // nil for a directory
	}
	var items []item
	under := func(p string) bool {
		if dir != "" && !strings.HasPrefix(p, dir+"/") {
			return false
		}
		if recursive {
			return true
		}
		parent := path.Dir(p)
		return parent == dir || parent == "." && dir == ""
	}
	for _, d := range sn.dirs {
		if under(d) {
			items = append(items, item{path: d})
		}
	}
	for _, f := range sn.files {
		if under(f.Path) {
			items = append(items, item{path: f.Path, f: f})
		}
	}
	sort.Slice(items, func(i, j int) bool { return items[i].path < items[j].path })

	start := 0
	if c := q.Get("cursor"); c != "" {
		b, err := base64.RawURLEncoding.DecodeString(c)
		n, err2 := strconv.Atoi(string(b))
		if err != nil || err2 != nil || n < 0 || n > len(items) {
			writeError(w, http.StatusBadRequest, "", "Invalid cursor")
			return
		}
		start = n
	}
	size := knobsOf(r).pageSize
	if size <= 0 {
		size = DefaultPageSize
	}
	end := min(start+size, len(items))

	entries := make([]treeEntry, 0, end-start)
	for _, it := range items[start:end] {
		entries = append(entries, newTreeEntry(it.path, it.f, commit, expand))
	}
	if end < len(items) {
		q.Set("cursor", base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(end))))
		next := s.URL + r.URL.EscapedPath() + "?" + q.Encode()
		w.Header().Set("Link", fmt.Sprintf("<%s>; rel=\"next\"", next))
	}
	writeJSON(w, r, entries)
}

// newTreeEntry is one entry of a tree listing or a paths-info answer; f is
// nil for a directory.
func newTreeEntry(p string, f *file, commit string, expand bool) treeEntry {
	var e treeEntry
	if f == nil {
		oid := sha1.Sum([]byte("tree\x00" + commit + "\x00" + p))
		e = treeEntry{Type: "directory", OID: hex.EncodeToString(oid[:]), Path: p}
	} else {
		sha, blob := f.digests()
		e = treeEntry{Type: "file", OID: blob, Size: f.Size, Path: p}
		if f.LFS {
			e.LFS = &treeLFS{OID: sha, Size: f.Size, PointerSize: len(LFSPointer(sha, f.Size))}
			e.XetHash = XetHash(sha)
		}
	}
	if expand {
		e.LastCommit = &lastCommit{ID: commit, Title: "Upload " + p, Date: timestamp}
		if f != nil {
			e.SecurityFileStatus = &securityStatus{Status: "unscanned"}
		}
	}
	return e
}

// servePathsInfo answers POST /api/{type}s/{repo}/paths-info/{rev}: the
// tree entries of the paths asked for, in the order asked, missing paths
// left out. huggingface_hub sends a form (paths repeated, expand); the
// JavaScript client sends JSON {"paths": [...], "expand": bool}.
func (s *Server) servePathsInfo(w http.ResponseWriter, r *http.Request, st *repoState, rev string) {
	sn, commit, ok := resolveRev(st, rev)
	if !ok {
		writeError(w, http.StatusNotFound, codeRevisionNotFound, "Invalid rev id: "+rev)
		return
	}
	var req struct {
		Paths  []string `json:"paths"`
		Expand any      `json:"expand"`
	}
	body := http.MaxBytesReader(w, r.Body, 1<<20)
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		if err := json.NewDecoder(body).Decode(&req); err != nil {
			writeError(w, http.StatusBadRequest, "", "Invalid JSON body")
			return
		}
	} else {
		r.Body = body
		if err := r.ParseForm(); err != nil {
			writeError(w, http.StatusBadRequest, "", "Invalid form body")
			return
		}
		req.Paths, req.Expand = r.PostForm["paths"], r.PostForm.Get("expand")
	}
	expand := req.Expand == true || req.Expand == "true" || req.Expand == "True"
	entries := []treeEntry{}
	for _, p := range req.Paths {
		p = strings.Trim(p, "/")
		if f, ok := sn.byPath[p]; ok {
			entries = append(entries, newTreeEntry(p, f, commit, expand))
		} else if sn.isDir[p] {
			entries = append(entries, newTreeEntry(p, nil, commit, expand))
		}
	}
	writeJSON(w, r, entries)
}

// serveXetToken answers the xet-auth link. The token is useless on purpose:
// casUrl names a host that never resolves, so a client that tries Xet
// instead of the plain redirect fails visibly.
func (s *Server) serveXetToken(w http.ResponseWriter, r *http.Request, st *repoState, rev string) {
	if _, _, ok := resolveRev(st, rev); !ok {
		writeError(w, http.StatusNotFound, codeRevisionNotFound, "Invalid rev id: "+rev)
		return
	}
	if st.gated && !s.authorized(r) {
		gatedError(w, r, st)
		return
	}
	writeJSON(w, r, map[string]any{
		"casUrl":      "https://cas-server.invalid",
		"accessToken": "hubtest-xet-token",
		"exp":         time.Now().Add(time.Hour).Unix(),
	})
}

// serveResolve answers /[{datasets|spaces}/]{repo}/resolve/{rev}/{path}.
func (s *Server) serveResolve(w http.ResponseWriter, r *http.Request, typ string, segs []string) {
	if len(segs) < 2 {
		pageNotFound(w)
		return
	}
	id, rest, ok := s.splitRepo(typ, segs, func(k string) bool { return k == "resolve" })
	if !ok || len(rest) < 3 || rest[0] != "resolve" {
		pageNotFound(w)
		return
	}
	prefix := typePrefixes[typ].file
	st, renamedTo := s.lookup(typ, id)
	if renamedTo != "" {
		redirectRenamed(w, r, prefix, renamedTo, rest)
		return
	}
	if !s.visible(st, r) {
		s.repoNotFound(w, r)
		return
	}
	if st.gated && !s.authorized(r) {
		gatedError(w, r, st)
		return
	}
	rev, after := takeRev(st, rest[1:])
	sn, commit, found := resolveRev(st, rev)
	var f *file
	if found {
		f = sn.byPath[strings.Join(after, "/")]
	}
	if !found {
		writeError(w, http.StatusNotFound, codeRevisionNotFound, "Invalid rev id: "+rev)
		return
	}
	w.Header().Set("X-Repo-Commit", commit)
	if f == nil || len(after) == 0 {
		writeError(w, http.StatusNotFound, codeEntryNotFound, msgEntryNotFound)
		return
	}
	sha, blob := f.digests()
	if !f.LFS {
		w.Header().Set("ETag", `"`+blob+`"`)
		s.serveContent(w, r, f)
		return
	}
	s.mu.Lock()
	s.cdn[sha] = f
	s.mu.Unlock()
	s.redirectLFS(w, r, st, f, commit, sha, blob)
}

// redirectLFS answers resolve for an LFS/Xet file as the Hub does: 302 to
// the CDN, with the object's identity in X-Linked-Etag / X-Linked-Size
// (file_download.py prefers these over ETag / Content-Length, which describe
// the redirect) and, as for every Xet-backed file on today's Hub, X-Xet-Hash
// and a Link header with rel="xet-auth" (token endpoint) and
// rel="xet-reconstruction-info" (CAS) — the headers a gate must strip so
// clients cannot bypass it.
//
// The real Location is absolute, on another host (cdn-lfs*.hf.co,
// cas-bridge.xethub.hf.co, *.cdn.hf.co) with a signed query; here it is
// relative (/cdn/<sha256>?...) unless AbsoluteRedirects is set. Note that
// huggingface_hub follows relative redirects on its metadata HEAD, so it
// would read the CDN's answer for a relative one; the CDN therefore also
// sends ETag "<sha256>" and the full Content-Length.
//
// The ETag of the 302 itself is the LFS pointer's git blob id here (the Hub's
// exact value is undocumented); clients must use X-Linked-Etag.
func (s *Server) redirectLFS(w http.ResponseWriter, r *http.Request, st *repoState, f *file, commit, sha, blob string) {
	expires := strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)
	q := url.Values{}
	q.Set("response-content-disposition", fmt.Sprintf("attachment; filename*=UTF-8''%s; filename=%q;", url.PathEscape(path.Base(f.Path)), path.Base(f.Path)))
	q.Set("Expires", expires)
	q.Set("Signature", cdnSignature(sha, expires))
	q.Set("Key-Pair-Id", "HUBTEST")
	loc := "/cdn/" + sha + "?" + q.Encode()
	if knobsOf(r).absoluteRedirects {
		loc = s.URL + loc
	}
	xet := XetHash(sha)
	h := w.Header()
	h.Set("Location", loc)
	h.Set("ETag", `"`+blob+`"`)
	h.Set("X-Linked-Etag", `"`+sha+`"`)
	h.Set("X-Linked-Size", strconv.FormatInt(f.Size, 10))
	h.Set("X-Xet-Hash", xet)
	h.Set("Link", fmt.Sprintf(`<%s/api/%s/%s/xet-read-token/%s>; rel="xet-auth", <https://cas-server.invalid/v1/reconstructions/%s>; rel="xet-reconstruction-info"`,
		s.URL, typePrefixes[st.typ].api, st.id, commit, xet))
	h.Set("Content-Type", "text/plain; charset=utf-8")
	body := "Found. Redirecting to " + loc
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusFound)
	if r.Method != http.MethodHead {
		fmt.Fprint(w, body)
	}
}

func cdnSignature(sha, expires string) string {
	m := hmac.New(sha256.New, cdnKey)
	m.Write([]byte(sha + "\x00" + expires))
	return hex.EncodeToString(m.Sum(nil))
}

// serveCDN answers /cdn/<sha256>?...: content-addressed, authorised only by
// the URL's signature (like a signed CloudFront / S3 URL: no Authorization
// needed), with Range support. A bad or expired signature is 403 with an
// S3-style XML body.
func (s *Server) serveCDN(w http.ResponseWriter, r *http.Request, sha string) {
	q := r.URL.Query()
	exp, err := strconv.ParseInt(q.Get("Expires"), 10, 64)
	if err != nil || time.Now().Unix() > exp || !hmac.Equal([]byte(q.Get("Signature")), []byte(cdnSignature(sha, q.Get("Expires")))) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code><Message>Access denied</Message></Error>")
		return
	}
	s.mu.Lock()
	f := s.cdn[sha]
	s.mu.Unlock()
	if f == nil {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>")
		return
	}
	w.Header().Set("ETag", `"`+sha+`"`)
	s.serveContent(w, r, f)
}

// writeError writes the Hub's error shape: X-Error-Code (when code is not
// ""), X-Error-Message and the JSON body {"error": msg}.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	h := w.Header()
	if code != "" {
		h.Set("X-Error-Code", code)
	}
	h.Set("X-Error-Message", msg)
	h.Set("Content-Type", "application/json; charset=utf-8")
	body, _ := json.Marshal(map[string]string{"error": msg})
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

// pageNotFound is the Hub's answer to a URL that is no route at all.
func pageNotFound(w http.ResponseWriter) {
	writeError(w, http.StatusNotFound, "", "Sorry, we can't find the page you are looking for.")
}

func writeJSON(w http.ResponseWriter, r *http.Request, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "", err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}
