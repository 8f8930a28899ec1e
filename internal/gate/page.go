package gate

import (
	"context"
	"embed"
	"encoding/json"
	"html/template"
	"net/http"
	"strconv"
	"time"

	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/gate/store"
	"github.com/modelgate/modelgate/internal/policy"
)

//go:embed templates/*.html
var templateFS embed.FS

var pageTemplate = template.Must(template.New("page.html").Funcs(template.FuncMap{
	"when":  func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") },
	"short": short,
	"sev":   func(f finding.Finding) string { return f.Severity.String() },
}).ParseFS(templateFS, "templates/page.html"))

type pageData struct {
	Query        string
	Verdict      string
	Decisions    []store.Decision
	Blocked      []store.Decision
	Stats        store.Stats
	PolicyHash   string
	PolicySource string
	PolicyText   string
	Threshold    string
	Upstream     string
	Error        string
}

// page renders recent decisions, blocked files with their findings and
// evidence, a search by repository, and the active policy. Server-side
// HTML only: no scripts, no front-end build.
func (s *Server) page(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	q := r.URL.Query()
	d := pageData{Query: q.Get("repo"), Verdict: q.Get("verdict"), PolicyHash: s.hash, PolicySource: s.policy.Source,
		PolicyText: policy.Explain(s.policy), Threshold: s.policy.Threshold().String(), Upstream: s.cfg.Upstream.Endpoint}
	if d.PolicySource == "" {
		d.PolicySource = "built-in"
	}
	var err error
	d.Decisions, err = s.cfg.Store.Decisions(ctx, store.Query{RepoContains: d.Query, Verdict: d.Verdict, Limit: 100})
	if err == nil {
		d.Blocked, err = s.cfg.Store.Decisions(ctx, store.Query{RepoContains: d.Query, Verdict: "blocked", Limit: 20})
	}
	if err == nil {
		d.Stats, err = s.cfg.Store.Stats(ctx)
	}
	if err != nil {
		d.Error = err.Error()
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if err := pageTemplate.Execute(w, d); err != nil {
		s.cfg.Logger.Error("rendering the page", "err", err)
	}
}

// decisionsAPI is GET /api/gate/decisions?repo=&verdict=&limit=&before=:
// audit records, newest first, as JSON.
func (s *Server) decisionsAPI(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	query := store.Query{RepoContains: q.Get("repo"), Verdict: q.Get("verdict")}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			hubError(w, http.StatusBadRequest, "", "modelgate: bad limit")
			return
		}
		query.Limit = n
	}
	if v := q.Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			hubError(w, http.StatusBadRequest, "", "modelgate: bad before")
			return
		}
		query.BeforeID = n
	}
	ds, err := s.cfg.Store.Decisions(r.Context(), query)
	if err != nil {
		hubError(w, http.StatusInternalServerError, "", "modelgate: store: "+err.Error())
		return
	}
	type jsonDecision struct {
		ID         int64            `json:"id"`
		Time       time.Time        `json:"time"`
		Client     string           `json:"client"`
		Repo       string           `json:"repo"`
		Revision   string           `json:"revision"`
		Commit     string           `json:"commit"`
		Path       string           `json:"path"`
		Decision   string           `json:"decision"`
		Reason     string           `json:"reason,omitempty"`
		Findings   []map[string]any `json:"findings"`
		PolicyHash string           `json:"policy_hash"`
		SHA256     string           `json:"sha256,omitempty"`
		Bytes      int64            `json:"bytes"`
	}
	out := struct {
		Decisions []jsonDecision `json:"decisions"`
		Next      int64          `json:"next_before,omitempty"`
	}{Decisions: []jsonDecision{}}
	for _, d := range ds {
		out.Decisions = append(out.Decisions, jsonDecision{ID: d.ID, Time: d.Time, Client: d.Client, Repo: d.Repo, Revision: d.Revision,
			Commit: d.Commit, Path: d.Path, Decision: d.Verdict, Reason: d.Reason, Findings: findingsJSON(d.Findings),
			PolicyHash: d.PolicyHash, SHA256: d.SHA256, Bytes: d.Bytes})
	}
	if len(ds) > 0 && len(ds) == effectiveLimit(query.Limit) {
		out.Next = ds[len(ds)-1].ID
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(out)
}

func effectiveLimit(n int) int {
	switch {
	case n <= 0:
		return store.DefaultLimit
	case n > store.MaxLimit:
		return store.MaxLimit
	}
	return n
}
