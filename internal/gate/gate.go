// Package gate is `modelgate serve`: a Hugging Face Hub-compatible proxy that
// scans every file before serving it. Point HF_ENDPOINT at it and every
// from_pretrained, hf_hub_download and snapshot_download passes through it:
// clean files are streamed from the upstream Hub, files the policy fails are
// refused with a 403 whose X-Error-Message says why, and every decision is
// written to an append-only audit log.
//
// What it guarantees, and how:
//   - No way around it: redirects to the Hub's storage are followed by the
//     gate, never passed to the client; X-Xet-* headers, Link rel="xet-*"
//     headers and xetHash fields are dropped, so no client learns a URL that
//     bypasses the gate.
//   - Refusals on GET, not HEAD: huggingface_hub hides a failed HEAD and uses
//     its cache; a GET refusal surfaces as an error with our message.
//   - Scan once: verdicts are keyed by (repo, commit, path, etag, policy
//     hash) and remembered in the store; the scan reads the file with Range
//     requests before the first byte is served.
//   - Not an open proxy: the upstream is fixed, repository ids, revisions and
//     paths are validated, only GET and HEAD are served, and the client's
//     token is sent to the upstream Hub only.
package gate

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/modelgate/modelgate/internal/gate/store"
	"github.com/modelgate/modelgate/internal/hub"
	"github.com/modelgate/modelgate/internal/policy"
	"github.com/modelgate/modelgate/internal/scan"
)

// Config configures a gate.
type Config struct {
	Upstream *hub.Client    // the Hub the gate fronts (its token is not used: clients bring theirs)
	Store    store.Store    // verdicts and the audit log
	Policy   *policy.Policy // nil means the built-in policy
	// CacheDir, if set, keeps clean files content-addressed on disk
	// (by SHA-256) and serves repeat downloads from there.
	CacheDir string
	// ScanWait is how long a GET waits for a scan before answering 429
	// with Retry-After (the client retries). Default 20 s.
	ScanWait time.Duration
	// ScanTimeout bounds one scan. Default 10 min.
	ScanTimeout time.Duration
	// ServeIncomplete serves files that could not be fully analysed (an
	// unknown format, a budget exceeded) instead of refusing them.
	ServeIncomplete bool
	// Workers bounds concurrent scans (default 4).
	Workers int
	Logger  *slog.Logger
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

// Server is the gate's HTTP handler.
type Server struct {
	cfg     Config
	policy  *policy.Policy
	hash    string
	engine  *scan.Engine
	metrics *metrics
	meta    *metaCache // recent upstream HEAD answers
	scanSem chan struct{}

	mu      sync.Mutex
	running map[string]*scanJob // key → scan in progress (one scan per key)

	baseCtx context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// New returns a gate. Close stops scans in progress.
func New(cfg Config) (*Server, error) {
	if cfg.Upstream == nil || cfg.Store == nil {
		return nil, fmt.Errorf("gate: an upstream and a store are required")
	}
	if cfg.Policy == nil {
		cfg.Policy = policy.Default()
	}
	if cfg.ScanWait <= 0 {
		cfg.ScanWait = 20 * time.Second
	}
	if cfg.ScanTimeout <= 0 {
		cfg.ScanTimeout = 10 * time.Minute
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	eng := scan.New()
	cfg.Policy.ApplyLimits(&eng.Limits)
	eng.FormatEnabled = cfg.Policy.FormatEnabled
	eng.Workers = 1
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		cfg: cfg, policy: cfg.Policy, hash: cfg.Policy.Hash(), engine: eng, metrics: newMetrics(), meta: newMetaCache(cfg.Now),
		scanSem: make(chan struct{}, cfg.Workers), running: map[string]*scanJob{},
		baseCtx: ctx, cancel: cancel,
	}, nil
}

// Close cancels scans in progress and waits for them.
func (s *Server) Close() {
	s.cancel()
	s.wg.Wait()
}

// PolicyHash is the hash of the policy the gate enforces.
func (s *Server) PolicyHash() string { return s.hash }

// ServeHTTP routes a request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	route := s.route(rec, r)
	s.metrics.request(route, rec.status, time.Since(start))
}

// route dispatches and returns the route's name for metrics.
func (s *Server) route(w *statusWriter, r *http.Request) string {
	p := r.URL.EscapedPath()
	switch {
	case p == "/" || p == "/index.html":
		if !getOrHead(w, r) {
			return "page"
		}
		s.page(w, r)
		return "page"
	case p == "/healthz":
		if !getOrHead(w, r) {
			return "healthz"
		}
		s.healthz(w, r)
		return "healthz"
	case p == "/metrics":
		if !getOrHead(w, r) {
			return "metrics"
		}
		s.writeMetrics(w, r)
		return "metrics"
	case p == "/api/gate/decisions":
		if !getOrHead(w, r) {
			return "decisions"
		}
		s.decisionsAPI(w, r)
		return "decisions"
	case strings.HasPrefix(p, "/api/"):
		if r.Method == http.MethodPost {
			s.pathsInfo(w, r)
			return "api"
		}
		if !getOrHead(w, r) {
			return "api"
		}
		s.api(w, r)
		return "api"
	}
	fr, ok, err := parseFileRequest(p)
	if err != nil {
		hubError(w, http.StatusBadRequest, "BadRequest", err.Error())
		return "resolve"
	}
	if !ok {
		hubError(w, http.StatusNotFound, "", "modelgate: no such endpoint (the gate serves the Hub's resolve and API endpoints, / and /api/gate/decisions)")
		return "other"
	}
	if !getOrHead(w, r) {
		return "resolve"
	}
	s.resolve(w, r, fr)
	return "resolve"
}

func getOrHead(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET, HEAD")
	hubError(w, http.StatusMethodNotAllowed, "", "modelgate: only GET and HEAD are served")
	return false
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if _, err := s.cfg.Store.Stats(ctx); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "store: %v\n", err)
		return
	}
	fmt.Fprintln(w, "ok")
}

// statusWriter remembers the status code for metrics.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(p)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
