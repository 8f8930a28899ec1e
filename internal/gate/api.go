package gate

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/modelgate/modelgate/internal/gate/store"
	"github.com/modelgate/modelgate/internal/hub"
)

// maxAPIBody bounds an upstream API answer the gate rewrites.
const maxAPIBody = 32 << 20

// The API endpoints passed through: repository info (optionally at a
// revision) and tree listings. Anything else under /api/ is not served:
// the gate is not an open proxy.
var (
	apiInfo = regexp.MustCompile(`^/api/(models|datasets|spaces)/([^/]+(?:/[^/]+)?)(?:/revision/([^/]+))?$`)
	apiTree = regexp.MustCompile(`^/api/(models|datasets|spaces)/([^/]+/[^/]+|[^/]+)/tree/([^/]+)(/.*)?$`)
	// paths-info is the one POST: a read-only lookup of a list of paths
	// (huggingface_hub's get_paths_info, HfFileSystem as the datasets
	// library uses it; @huggingface/hub's pathsInfo).
	apiPathsInfo = regexp.MustCompile(`^/api/(models|datasets|spaces)/([^/]+/[^/]+|[^/]+)/paths-info/([^/]+)$`)
)

// Bounds of a paths-info request the gate forwards.
const (
	maxPathsInfoBody  = 1 << 20
	maxPathsInfoPaths = 10000
)

// api passes an info or tree request to the upstream with the client's
// token, drops anything that would let a client download around the gate
// (xetHash fields, xet Link headers), adds the gate's security status per
// file, and rewrites pagination links to point at the gate.
func (s *Server) api(w http.ResponseWriter, r *http.Request) {
	p := r.URL.EscapedPath()
	var typ, repo, rev, sub string
	tree := false
	if m := apiTree.FindStringSubmatch(p); m != nil {
		typ, repo, rev, sub, tree = m[1], m[2], m[3], m[4], true
	} else if m := apiInfo.FindStringSubmatch(p); m != nil && !strings.Contains(m[2], "/revision") {
		typ, repo, rev = m[1], m[2], m[3]
	} else {
		hubError(w, http.StatusNotFound, "", "modelgate: this API endpoint is not served by the gate")
		return
	}
	repoID, err := url.PathUnescape(repo)
	if err == nil {
		err = hub.ValidRepoID(repoID)
	}
	if err != nil {
		hubError(w, http.StatusBadRequest, "", "modelgate: "+err.Error())
		return
	}
	if sub != "" {
		un, err := url.PathUnescape(strings.TrimPrefix(sub, "/"))
		if err != nil || validFilePath(un) != nil {
			hubError(w, http.StatusBadRequest, "", "modelgate: bad path")
			return
		}
	}
	if len(rev) > 3*maxRevision {
		hubError(w, http.StatusBadRequest, "", "modelgate: bad revision")
		return
	}
	// Only the query parameters the clients use are forwarded.
	q := url.Values{}
	for _, k := range []string{"recursive", "expand", "cursor", "limit", "blobs", "securityStatus", "expand[]"} {
		if vs, ok := r.URL.Query()[k]; ok {
			q[k] = vs
		}
	}
	up := s.cfg.Upstream.Endpoint + p
	if len(q) > 0 {
		up += "?" + q.Encode()
	}
	ctx := hub.WithToken(r.Context(), bearer(r))
	resp, err := s.cfg.Upstream.Fetch(ctx, up, http.Header{"Accept": {"application/json"}})
	s.relay(w, r, resp, err, typ, repoID, rev, tree)
}

// pathsInfo forwards a paths-info lookup: the body (a form, or the JSON the
// JavaScript client sends) is parsed, every path validated, and only paths
// and expand are sent upstream, as a form. The answer is a list of tree
// entries and is annotated like one.
func (s *Server) pathsInfo(w http.ResponseWriter, r *http.Request) {
	m := apiPathsInfo.FindStringSubmatch(r.URL.EscapedPath())
	if m == nil {
		w.Header().Set("Allow", "GET, HEAD")
		hubError(w, http.StatusMethodNotAllowed, "", "modelgate: only GET and HEAD are served, and POST to paths-info")
		return
	}
	typ, repo, rev := m[1], m[2], m[3]
	repoID, err := url.PathUnescape(repo)
	if err == nil {
		err = hub.ValidRepoID(repoID)
	}
	if err != nil {
		hubError(w, http.StatusBadRequest, "", "modelgate: "+err.Error())
		return
	}
	if len(rev) > 3*maxRevision {
		hubError(w, http.StatusBadRequest, "", "modelgate: bad revision")
		return
	}
	paths, expand, err := parsePathsInfo(r)
	if err != nil {
		hubError(w, http.StatusBadRequest, "", "modelgate: paths-info: "+err.Error())
		return
	}
	form := url.Values{"paths": paths}
	if expand {
		form.Set("expand", "True")
	}
	ctx := hub.WithToken(r.Context(), bearer(r))
	resp, err := s.cfg.Upstream.PostForm(ctx, s.cfg.Upstream.Endpoint+r.URL.EscapedPath(), form, http.Header{"Accept": {"application/json"}})
	s.relay(w, r, resp, err, typ, repoID, rev, true)
}

// parsePathsInfo reads a paths-info body: a form with repeated paths and
// expand (huggingface_hub), or JSON {"paths": [...], "expand": bool}.
func parsePathsInfo(r *http.Request) (paths []string, expand bool, err error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxPathsInfoBody+1))
	if err != nil {
		return nil, false, err
	}
	if len(body) > maxPathsInfoBody {
		return nil, false, fmt.Errorf("body larger than %d bytes", maxPathsInfoBody)
	}
	if ct := r.Header.Get("Content-Type"); strings.HasPrefix(ct, "application/json") {
		var req struct {
			Paths  []string `json:"paths"`
			Expand bool     `json:"expand"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			return nil, false, fmt.Errorf("bad JSON body: %w", err)
		}
		paths, expand = req.Paths, req.Expand
	} else {
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, false, fmt.Errorf("bad form body: %w", err)
		}
		paths = form["paths"]
		switch strings.ToLower(form.Get("expand")) {
		case "true", "1":
			expand = true
		}
	}
	if len(paths) == 0 || len(paths) > maxPathsInfoPaths {
		return nil, false, fmt.Errorf("between 1 and %d paths are required", maxPathsInfoPaths)
	}
	for _, p := range paths {
		if err := validFilePath(strings.Trim(p, "/")); err != nil {
			return nil, false, fmt.Errorf("path %q: %w", p, err)
		}
	}
	return paths, expand, nil
}

// relay turns an upstream API answer into the gate's: errors mapped, the
// JSON bounded, xet fields stripped, each file annotated with the gate's
// status, pagination links rewritten to the gate.
func (s *Server) relay(w http.ResponseWriter, r *http.Request, resp *http.Response, err error, typ, repoID, rev string, tree bool) {
	if err != nil {
		var he *hub.Error
		if ok := asHubError(err, &he); ok && he.Status < 500 {
			hubError(w, he.Status, he.Code, he.Message)
			return
		}
		hubError(w, http.StatusBadGateway, "", "modelgate: upstream Hub: "+err.Error())
		return
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAPIBody+1))
	if err != nil || len(body) > maxAPIBody {
		hubError(w, http.StatusBadGateway, "", "modelgate: upstream answer too large or unreadable")
		return
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber() // keep numbers exactly as sent
	var doc any
	if err := dec.Decode(&doc); err != nil {
		hubError(w, http.StatusBadGateway, "", "modelgate: upstream answer is not JSON")
		return
	}
	stripXet(doc)
	repoKey := strings.TrimSuffix(typ, "s") + "s/" + repoID
	if tree {
		commit := resp.Header.Get("X-Repo-Commit")
		if !isCommit(commit) {
			commit = rev
		}
		if !isCommit(commit) {
			// The listing does not say which commit it shows: ask.
			revision, _ := url.PathUnescape(rev)
			ctx := hub.WithToken(r.Context(), bearer(r))
			info, err := s.cfg.Upstream.Info(ctx, hub.Ref{Type: strings.TrimSuffix(typ, "s"), Repo: repoID, Revision: revision})
			if err == nil {
				commit = strings.ToLower(info.SHA)
			}
		}
		if isCommit(commit) {
			s.annotateTree(r.Context(), doc, repoKey, commit)
		}
	} else {
		s.annotateInfo(r.Context(), doc, repoKey)
	}
	h := w.Header()
	for _, k := range []string{"X-Repo-Commit", "X-Total-Count"} {
		if v := resp.Header.Get(k); v != "" {
			h.Set(k, v)
		}
	}
	if next := nextLinkOf(resp.Header.Values("Link")); next != "" {
		if rewritten, ok := s.rewriteLink(r, next); ok {
			h.Set("Link", "<"+rewritten+`>; rel="next"`)
		}
	}
	h.Set("Content-Type", "application/json; charset=utf-8")
	out, err := json.Marshal(doc)
	if err != nil {
		hubError(w, http.StatusInternalServerError, "", "modelgate: "+err.Error())
		return
	}
	_, _ = w.Write(out)
}

func asHubError(err error, he **hub.Error) bool {
	e, ok := err.(*hub.Error)
	if ok {
		*he = e
	}
	return ok
}

// stripXet removes xetHash fields everywhere: with one, a client could
// fetch the content from the xet storage without asking the gate.
func stripXet(v any) {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			if strings.EqualFold(k, "xetHash") || strings.HasPrefix(strings.ToLower(k), "xet") {
				delete(t, k)
				continue
			}
			stripXet(x)
		}
	case []any:
		for _, x := range t {
			stripXet(x)
		}
	}
}

// Status values the gate adds to listings.
const (
	statusUnscanned = "unscanned"
)

// annotateTree adds "modelgate": {"status": ...} to each file entry, from
// the remembered verdicts: an LFS file's etag is its sha256, another file's
// its git blob id.
func (s *Server) annotateTree(ctx context.Context, doc any, repo, commit string) {
	entries, ok := doc.([]any)
	if !ok {
		return
	}
	for _, e := range entries {
		m, ok := e.(map[string]any)
		if !ok || m["type"] != "file" {
			continue
		}
		p, _ := m["path"].(string)
		etag, _ := m["oid"].(string)
		if lfs, ok := m["lfs"].(map[string]any); ok {
			if oid, ok := lfs["oid"].(string); ok {
				etag = oid
			}
		}
		m["modelgate"] = s.fileStatus(ctx, repo, commit, p, etag)
	}
}

// annotateInfo adds the gate's policy and, where the listing gives blob
// ids (blobs=true), each sibling's status.
func (s *Server) annotateInfo(ctx context.Context, doc any, repo string) {
	m, ok := doc.(map[string]any)
	if !ok {
		return
	}
	commit, _ := m["sha"].(string)
	m["modelgate"] = map[string]any{"policy": s.hash, "gate": "modelgate"}
	sibs, _ := m["siblings"].([]any)
	for _, sb := range sibs {
		sm, ok := sb.(map[string]any)
		if !ok {
			continue
		}
		p, _ := sm["rfilename"].(string)
		etag, _ := sm["blobId"].(string)
		if lfs, ok := sm["lfs"].(map[string]any); ok {
			if oid, ok := lfs["sha256"].(string); ok {
				etag = oid
			}
		}
		if etag == "" || !isCommit(commit) {
			continue
		}
		sm["modelgate"] = s.fileStatus(ctx, repo, commit, p, etag)
	}
}

func (s *Server) fileStatus(ctx context.Context, repo, commit, path, etag string) map[string]any {
	st := map[string]any{"status": statusUnscanned}
	v, ok, err := s.cfg.Store.Verdict(ctx, repo, commit, path, etag, s.hash)
	if err != nil || !ok {
		return st
	}
	st["status"] = v.Verdict
	if v.Severity != "" {
		st["severity"] = v.Severity
	}
	if v.Verdict == store.VerdictBlocked {
		var rules []string
		for _, f := range v.Findings {
			if f.Severity >= s.policy.Threshold() && f.Suppression == nil {
				rules = append(rules, f.RuleID)
			}
		}
		st["rules"] = rules
	}
	return st
}

var linkNext = regexp.MustCompile(`<([^>]*)>\s*;[^,]*rel="?next"?`)

func nextLinkOf(values []string) string {
	for _, v := range values {
		if m := linkNext.FindStringSubmatch(v); m != nil {
			return m[1]
		}
	}
	return ""
}

// rewriteLink points an upstream pagination link at the gate. Links to any
// other host are dropped.
func (s *Server) rewriteLink(r *http.Request, link string) (string, bool) {
	base, err := url.Parse(s.cfg.Upstream.Endpoint)
	if err != nil {
		return "", false
	}
	u, err := base.Parse(link)
	if err != nil || !strings.EqualFold(u.Host, base.Host) {
		return "", false
	}
	path := strings.TrimPrefix(u.EscapedPath(), strings.TrimRight(base.EscapedPath(), "/"))
	if !strings.HasPrefix(path, "/api/") {
		return "", false
	}
	return fmt.Sprintf("%s%s?%s", selfBase(r), path, u.RawQuery), true
}

// selfBase is the gate's own origin as the client addressed it.
func selfBase(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}
