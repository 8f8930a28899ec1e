package gate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/gate/store"
	"github.com/modelgate/modelgate/internal/hub"
	"github.com/modelgate/modelgate/internal/remote"
	"github.com/modelgate/modelgate/internal/report"
	"github.com/modelgate/modelgate/internal/scan"
)

// fileRequest is a validated /{prefix}{repo}/resolve/{rev}/{path}.
type fileRequest struct {
	ref  hub.Ref // Type, Repo, Revision (as requested), Path
	repo string  // "models/org/name", the store's repository key
}

// Bounds on what a request may name.
const (
	maxRevision = 256
	maxFilePath = 1024
)

// parseFileRequest recognises a file URL; ok is false for other paths.
// Each segment is unescaped on its own, so a revision may contain "/" as
// %2F (refs%2Fpr%2F1), as huggingface_hub sends it.
func parseFileRequest(escaped string) (fileRequest, bool, error) {
	segs := strings.Split(strings.TrimPrefix(escaped, "/"), "/")
	typ := hub.Model
	switch {
	case len(segs) > 0 && segs[0] == "datasets":
		typ, segs = hub.Dataset, segs[1:]
	case len(segs) > 0 && segs[0] == "spaces":
		typ, segs = hub.Space, segs[1:]
	}
	at := -1
	for i := 1; i < len(segs) && i <= 2; i++ {
		if segs[i] == "resolve" {
			at = i
			break
		}
	}
	if at < 0 || len(segs) < at+3 {
		return fileRequest{}, false, nil
	}
	var un []string
	for _, s := range segs {
		u, err := url.PathUnescape(s)
		if err != nil {
			return fileRequest{}, true, fmt.Errorf("bad escape in %q", s)
		}
		un = append(un, u)
	}
	repo := strings.Join(un[:at], "/")
	if err := hub.ValidRepoID(repo); err != nil {
		return fileRequest{}, true, err
	}
	rev := un[at+1]
	if rev == "" || len(rev) > maxRevision || strings.IndexFunc(rev, unicode.IsControl) >= 0 || rev == "." || rev == ".." {
		return fileRequest{}, true, fmt.Errorf("bad revision %q", rev)
	}
	file := strings.Join(un[at+2:], "/")
	if err := validFilePath(file); err != nil {
		return fileRequest{}, true, err
	}
	ref := hub.Ref{Type: typ, Repo: repo, Revision: rev, Path: file}
	return fileRequest{ref: ref, repo: typ + "s/" + repo}, true, nil
}

// validFilePath accepts a clean relative path: no empty, "." or ".."
// segments, no backslashes or control characters.
func validFilePath(p string) error {
	if p == "" || len(p) > maxFilePath || strings.ContainsAny(p, "\\") || strings.IndexFunc(p, unicode.IsControl) >= 0 {
		return fmt.Errorf("bad file path %q", p)
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("bad file path %q", p)
		}
	}
	return nil
}

// scanJob is one scan in progress; waiters block on done.
type scanJob struct {
	done    chan struct{}
	verdict store.Verdict
	err     error
}

// resolve answers HEAD and GET on a file.
func (s *Server) resolve(w http.ResponseWriter, r *http.Request, fr fileRequest) {
	token := bearer(r)
	ctx := hub.WithToken(r.Context(), token)
	u := s.cfg.Upstream.ResolveURL(fr.ref, fr.ref.Revision, fr.ref.Path)
	meta, ok := s.meta.get(u, token)
	if !ok {
		var err error
		if meta, err = s.cfg.Upstream.Head(ctx, u); err != nil {
			s.upstreamError(w, r, fr, "", err)
			return
		}
		if isCommit(meta.Commit) && meta.Size >= 0 && meta.ETag != "" {
			s.meta.put(u, token, meta, fr.ref.Revision == meta.Commit)
		}
	}
	if !isCommit(meta.Commit) || meta.Size < 0 || meta.ETag == "" {
		s.decide(r, fr, meta, "error", "upstream answered without commit, size or etag", nil, 0)
		hubError(w, http.StatusBadGateway, "", "modelgate: the upstream Hub did not give the file's commit, size and etag")
		return
	}
	setFileHeaders(w, meta)
	if r.Method == http.MethodHead {
		// Never refuse on HEAD: huggingface_hub would hide the refusal
		// and fall back to a cached copy. The GET decides.
		w.Header().Set("Content-Length", strconv.FormatInt(meta.Size, 10))
		w.WriteHeader(http.StatusOK)
		return
	}
	v, pending, err := s.verdict(ctx, fr, meta)
	switch {
	case err != nil:
		s.decide(r, fr, meta, "error", err.Error(), nil, 0)
		hubError(w, http.StatusBadGateway, "", "modelgate: could not scan "+fr.ref.Path+": "+err.Error())
		return
	case pending:
		retry := 5
		w.Header().Set("Retry-After", strconv.Itoa(retry))
		msg := fmt.Sprintf("modelgate is still scanning %s; retry in %d s", fr.ref.Path, retry)
		s.decide(r, fr, meta, "pending", msg, nil, 0)
		hubError(w, http.StatusTooManyRequests, "", msg)
		return
	}
	if v.Verdict != store.VerdictClean && !(v.Verdict == store.VerdictError && s.cfg.ServeIncomplete) {
		msg := s.refusal(fr, meta, v)
		s.decide(r, fr, meta, "blocked", msg, v.Findings, 0)
		w.Header().Set("X-Error-Code", "ModelgateBlocked")
		body := map[string]any{"error": msg, "findings": findingsJSON(v.Findings), "policy": s.hash, "verdict": v.Verdict}
		writeJSONError(w, http.StatusForbidden, msg, body)
		return
	}
	n, err := s.serve(w, r, fr, meta)
	verdict, reason := "served", ""
	if err != nil {
		verdict, reason = "error", "serving: "+err.Error()
		s.cfg.Logger.Warn("serving failed", "repo", fr.repo, "path", fr.ref.Path, "err", err)
	}
	s.decide(r, fr, meta, verdict, reason, v.Findings, n)
}

func (s *Server) refusal(fr fileRequest, meta *hub.FileMeta, v store.Verdict) string {
	var parts []string
	for _, f := range v.Findings {
		if f.Suppression != nil || f.Severity < s.policy.Threshold() {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %s: %s", f.Severity, f.RuleID, f.Message))
		if len(parts) == 3 {
			break
		}
	}
	what := strings.Join(parts, "; ")
	if what == "" {
		what = "it could not be fully analysed: " + strings.Join(v.Errors, "; ")
	}
	return fmt.Sprintf("modelgate refused %s/%s at %s: %s (policy %s)", fr.ref.Repo, fr.ref.Path, short(meta.Commit), what, short(s.hash))
}

func short(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

// verdict returns the remembered verdict or scans the file, waiting at
// most ScanWait; pending means the scan goes on in the background.
func (s *Server) verdict(ctx context.Context, fr fileRequest, meta *hub.FileMeta) (store.Verdict, bool, error) {
	v, ok, err := s.cfg.Store.Verdict(ctx, fr.repo, meta.Commit, fr.ref.Path, meta.ETag, s.hash)
	if err != nil {
		return v, false, fmt.Errorf("store: %w", err)
	}
	if ok {
		return v, false, nil
	}
	key := strings.Join([]string{fr.repo, meta.Commit, fr.ref.Path, meta.ETag, s.hash}, "\x00")
	s.mu.Lock()
	job, running := s.running[key]
	if !running {
		// A scan may have finished between the lookup above and the lock:
		// look again, so that each file version is scanned once.
		if v, ok, err := s.cfg.Store.Verdict(ctx, fr.repo, meta.Commit, fr.ref.Path, meta.ETag, s.hash); err == nil && ok {
			s.mu.Unlock()
			return v, false, nil
		}
		job = &scanJob{done: make(chan struct{})}
		s.running[key] = job
		s.wg.Add(1)
		// The scan belongs to the gate, not to the request: a client that
		// gives up (or is told to retry) does not cancel it. It runs with
		// the requesting client's token, which the upstream requires for
		// gated and private repositories.
		go s.runScan(hub.WithToken(s.baseCtx, tokenOf(ctx)), key, job, fr, meta)
	}
	s.mu.Unlock()
	t := time.NewTimer(s.cfg.ScanWait)
	defer t.Stop()
	select {
	case <-job.done:
		return job.verdict, false, job.err
	case <-t.C:
		return store.Verdict{}, true, nil
	case <-ctx.Done():
		return store.Verdict{}, false, ctx.Err()
	}
}

func (s *Server) runScan(ctx context.Context, key string, job *scanJob, fr fileRequest, meta *hub.FileMeta) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.running, key)
		s.mu.Unlock()
		close(job.done)
	}()
	select {
	case s.scanSem <- struct{}{}:
	case <-ctx.Done():
		job.err = ctx.Err()
		return
	}
	defer func() { <-s.scanSem }()
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ScanTimeout)
	defer cancel()
	start := time.Now()
	s.metrics.scanStarted()
	res := remote.File(ctx, s.engine, s.cfg.Upstream, fr.ref, meta.Commit, fr.ref.Path, meta)
	res.Path = fr.ref.Path
	doc := &report.Document{FailOn: s.policy.Threshold(), Files: []scan.FileResult{res}}
	s.policy.Apply(doc, s.cfg.Now())
	res = doc.Files[0]
	v := store.Verdict{Repo: fr.repo, Commit: meta.Commit, Path: fr.ref.Path, ETag: meta.ETag, PolicyHash: s.hash,
		SHA256: res.SHA256, Size: meta.Size, Findings: res.Findings, Errors: res.Errors, ScannedAt: s.cfg.Now().UTC(),
		Duration: time.Since(start)}
	sum := doc.Summarize()
	if sum.HasFindings {
		v.Severity = sum.MaxSeverity.String()
	}
	switch doc.Verdict() {
	case report.Fail:
		v.Verdict = store.VerdictBlocked
	case report.Incomplete:
		v.Verdict = store.VerdictError
	default:
		v.Verdict = store.VerdictClean
	}
	s.metrics.scanDone(v.Verdict, time.Since(start))
	if ctx.Err() != nil {
		// A cancelled scan proves nothing; do not remember it.
		job.err = fmt.Errorf("scan interrupted: %w", ctx.Err())
		return
	}
	job.verdict = v
	if err := s.cfg.Store.PutVerdict(context.WithoutCancel(ctx), v); err != nil {
		s.cfg.Logger.Error("storing a verdict", "repo", fr.repo, "path", fr.ref.Path, "err", err)
	}
	s.cfg.Logger.Info("scanned", "repo", fr.repo, "commit", meta.Commit, "path", fr.ref.Path, "verdict", v.Verdict,
		"severity", v.Severity, "duration", v.Duration)
}

// serve streams a clean file: from the disk cache when it holds it,
// otherwise from the upstream (following its redirects here), honouring
// Range. It returns the body bytes written.
func (s *Server) serve(w http.ResponseWriter, r *http.Request, fr fileRequest, meta *hub.FileMeta) (int64, error) {
	if s.cfg.CacheDir != "" && meta.SHA256 != "" {
		if f, err := os.Open(s.cachePath(meta.SHA256)); err == nil {
			defer f.Close()
			cw := &countWriter{ResponseWriter: w}
			http.ServeContent(cw, r, "", time.Time{}, f)
			s.metrics.served(cw.n)
			return cw.n, nil
		}
	}
	ctx := hub.WithToken(r.Context(), bearer(r))
	src := meta.Location
	if src == "" {
		src = s.cfg.Upstream.ResolveURL(fr.ref, meta.Commit, fr.ref.Path)
	}
	h := http.Header{}
	rng := r.Header.Get("Range")
	if rng != "" {
		h.Set("Range", rng)
	}
	fetch := s.cfg.Upstream.Fetch
	if meta.Location != "" {
		fetch = s.cfg.Upstream.FetchStorage
	}
	resp, err := fetch(ctx, src, h)
	var he *hub.Error
	if err != nil && meta.Location != "" && errors.As(err, &he) && (he.Status == http.StatusForbidden || he.Status == http.StatusGone) {
		// The remembered storage URL has expired: resolve it again.
		fresh, herr := s.cfg.Upstream.Head(ctx, s.cfg.Upstream.ResolveURL(fr.ref, meta.Commit, fr.ref.Path))
		if herr == nil && fresh.Location != "" && fresh.ETag == meta.ETag {
			resp, err = fetch(ctx, fresh.Location, h)
		}
	}
	if err != nil {
		var he *hub.Error
		if errors.As(err, &he) && he.Status == http.StatusRequestedRangeNotSatisfiable {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", meta.Size))
			hubError(w, http.StatusRequestedRangeNotSatisfiable, "", "range not satisfiable")
			return 0, nil
		}
		hubError(w, http.StatusBadGateway, "", "modelgate: upstream: "+err.Error())
		return 0, err
	}
	defer resp.Body.Close()
	status := resp.StatusCode
	if rng == "" && status != http.StatusOK || rng != "" && status != http.StatusPartialContent && status != http.StatusOK {
		hubError(w, http.StatusBadGateway, "", fmt.Sprintf("modelgate: upstream answered HTTP %d", status))
		return 0, fmt.Errorf("upstream answered HTTP %d", status)
	}
	if status == http.StatusPartialContent {
		w.Header().Set("Content-Range", resp.Header.Get("Content-Range"))
	}
	if resp.ContentLength >= 0 {
		w.Header().Set("Content-Length", strconv.FormatInt(resp.ContentLength, 10))
	}
	// A whole-file download is checked against the digest the Hub vouches
	// for, and kept in the cache when that is enabled. A mismatch aborts
	// the response: the client sees a broken download, not other bytes.
	var sum hash.Hash
	var tmp *os.File
	whole := status == http.StatusOK && meta.SHA256 != ""
	if whole {
		sum = sha256.New()
		if s.cfg.CacheDir != "" {
			if err := os.MkdirAll(s.cfg.CacheDir, 0o755); err == nil {
				tmp, _ = os.CreateTemp(s.cfg.CacheDir, ".part-*")
			}
		}
	}
	w.WriteHeader(status)
	var dst io.Writer = w
	if sum != nil {
		dst = io.MultiWriter(w, sum)
		if tmp != nil {
			dst = io.MultiWriter(w, sum, tmp)
		}
	}
	buf := copyBuffers.Get().(*[]byte)
	n, err := io.CopyBuffer(dst, resp.Body, *buf)
	copyBuffers.Put(buf)
	s.metrics.served(n)
	if tmp != nil {
		defer os.Remove(tmp.Name())
		defer tmp.Close()
	}
	if err != nil {
		return n, err
	}
	if sum != nil {
		got := hex.EncodeToString(sum.Sum(nil))
		if got != meta.SHA256 {
			s.cfg.Logger.Error("upstream bytes do not match the digest", "repo", fr.repo, "path", fr.ref.Path, "want", meta.SHA256, "got", got)
			panic(http.ErrAbortHandler)
		}
		if tmp != nil && tmp.Sync() == nil {
			dst := s.cachePath(meta.SHA256)
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err == nil {
				_ = os.Rename(tmp.Name(), dst)
			}
		}
	}
	return n, nil
}

// copyBuffers are the buffers file bytes stream through (larger than
// io.Copy's 32 KiB: fewer writes and hash calls per byte).
var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

func (s *Server) cachePath(sha string) string {
	return filepath.Join(s.cfg.CacheDir, sha[:2], sha)
}

// setFileHeaders sets the headers huggingface_hub and @huggingface/hub read:
// X-Repo-Commit, ETag (and X-Linked-* for LFS files), Accept-Ranges. The
// content is never compressed and never typed as xet file info.
func setFileHeaders(w http.ResponseWriter, meta *hub.FileMeta) {
	h := w.Header()
	h.Set("X-Repo-Commit", meta.Commit)
	h.Set("ETag", `"`+meta.ETag+`"`)
	if meta.SHA256 != "" {
		h.Set("X-Linked-Etag", `"`+meta.ETag+`"`)
		h.Set("X-Linked-Size", strconv.FormatInt(meta.Size, 10))
	}
	h.Set("Accept-Ranges", "bytes")
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Cache-Control", "private, no-transform")
}

// upstreamError relays an upstream refusal (not found, gated) with the
// Hub's own error code so clients react as they would to the Hub.
func (s *Server) upstreamError(w http.ResponseWriter, r *http.Request, fr fileRequest, commit string, err error) {
	var he *hub.Error
	if errors.As(err, &he) && he.Status >= 400 && he.Status < 500 && he.Status != http.StatusTooManyRequests {
		if r.Method == http.MethodGet {
			s.decide(r, fr, &hub.FileMeta{Commit: commit}, "upstream-"+strconv.Itoa(he.Status), he.Error(), nil, 0)
		}
		hubError(w, he.Status, he.Code, he.Message)
		return
	}
	if r.Method == http.MethodGet {
		s.decide(r, fr, &hub.FileMeta{Commit: commit}, "error", err.Error(), nil, 0)
	}
	hubError(w, http.StatusBadGateway, "", "modelgate: upstream Hub: "+err.Error())
}

// decide writes one audit record (GET requests only: HEADs decide nothing).
func (s *Server) decide(r *http.Request, fr fileRequest, meta *hub.FileMeta, verdict, reason string, fs []finding.Finding, n int64) {
	if r.Method != http.MethodGet {
		return
	}
	s.metrics.decision(verdict)
	d := store.Decision{Time: s.cfg.Now(), Client: clientAddr(r), Method: r.Method, Repo: fr.repo, Revision: fr.ref.Revision,
		Commit: meta.Commit, Path: fr.ref.Path, Verdict: verdict, Reason: reason, Findings: fs, PolicyHash: s.hash,
		SHA256: meta.SHA256, Bytes: n}
	if _, err := s.cfg.Store.Append(context.WithoutCancel(r.Context()), d); err != nil {
		s.cfg.Logger.Error("audit log append failed", "err", err, "repo", fr.repo, "path", fr.ref.Path, "verdict", verdict)
	}
}

func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// bearer is the client's Hub token, passed through to the upstream only.
func bearer(r *http.Request) string {
	v := r.Header.Get("Authorization")
	if t, ok := strings.CutPrefix(v, "Bearer "); ok {
		return strings.TrimSpace(t)
	}
	return ""
}

// tokenOf recovers the token WithToken put in a request context, so that a
// background scan can use it.
func tokenOf(ctx context.Context) string { return hub.TokenFrom(ctx) }

func isCommit(s string) bool {
	if len(s) != 40 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// hubError writes an error the way the Hub does: X-Error-Code and
// X-Error-Message headers and a JSON {"error": ...} body.
func hubError(w http.ResponseWriter, status int, code, msg string) {
	if code != "" {
		w.Header().Set("X-Error-Code", code)
	}
	writeJSONError(w, status, msg, map[string]any{"error": msg})
}

func writeJSONError(w http.ResponseWriter, status int, msg string, body any) {
	h := w.Header()
	h.Del("Content-Length")
	h.Del("ETag")
	h.Del("X-Linked-Etag")
	h.Del("X-Linked-Size")
	h.Del("Accept-Ranges")
	// Header values cannot hold newlines; the Hub's messages are one line.
	h.Set("X-Error-Message", strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r > 0x7e {
			return ' '
		}
		return r
	}, msg))
	h.Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func findingsJSON(fs []finding.Finding) []map[string]any {
	out := []map[string]any{}
	for _, f := range fs {
		m := map[string]any{"rule_id": f.RuleID, "severity": f.Severity.String(), "message": f.Message}
		if f.Member != "" {
			m["member"] = f.Member
		}
		if f.Evidence != "" {
			m["evidence"] = f.Evidence
		}
		if f.Suppression != nil {
			m["suppressed"] = true
		}
		out = append(out, m)
	}
	return out
}

type countWriter struct {
	http.ResponseWriter
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n += int64(n)
	return n, err
}
