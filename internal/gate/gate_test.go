package gate_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelgate/modelgate/internal/gate"
	"github.com/modelgate/modelgate/internal/gate/store"
	"github.com/modelgate/modelgate/internal/hub"
	"github.com/modelgate/modelgate/internal/hub/hubtest"
	pt "github.com/modelgate/modelgate/internal/pickle/pickletest"
)

// Two real fixtures: a pickle that runs os.system and a harmless one.
func fixture(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("../formats/picklefile/testdata", rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type env struct {
	t        testing.TB
	upstream *hubtest.Server
	gate     *gate.Server
	srv      *httptest.Server
	db       string
	st       store.Store
	commit   string
	mal, ben []byte
}

func newEnv(t testing.TB, cfg gate.Config) *env {
	t.Helper()
	e := &env{t: t, upstream: hubtest.New(), mal: fixture(t, "malicious/01-posix-system-p2.pkl"), ben: fixture(t, "benign/builtins-p4.pkl")}
	t.Cleanup(e.upstream.Close)
	big := bytes.Repeat([]byte("safe "), 300_000) // 1.5 MB of data that is no model format
	e.commit = e.upstream.AddRepo(hubtest.Repo{ID: "org/model", Files: []hubtest.File{
		{Path: "clean.pkl", Content: e.ben, LFS: true},
		{Path: "evil.pkl", Content: e.mal, LFS: true},
		{Path: "small/clean.pkl", Content: e.ben},
		{Path: "README.md", Content: []byte("# model\n")},
		{Path: "notes.txt", Content: big},
	}})
	e.upstream.AddRepo(hubtest.Repo{ID: "org/gated", Gated: true, Files: []hubtest.File{{Path: "clean.pkl", Content: e.ben, LFS: true}}})
	e.db = filepath.Join(t.TempDir(), "gate.db")
	e.start(cfg)
	return e
}

func (e *env) start(cfg gate.Config) {
	st, err := store.Open(context.Background(), e.db)
	if err != nil {
		e.t.Fatal(err)
	}
	up := hub.New(e.upstream.URL, "", 16)
	up.Backoff, up.MaxBackoff = time.Millisecond, 10*time.Millisecond
	cfg.Upstream, cfg.Store = up, st
	g, err := gate.New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.gate, e.st, e.srv = g, st, httptest.NewServer(g)
	e.t.Cleanup(e.stop)
}

func (e *env) stop() {
	if e.srv == nil {
		return
	}
	e.srv.Close()
	e.gate.Close()
	e.st.Close()
	e.srv = nil
}

func (e *env) do(method, path string, header map[string]string) (*http.Response, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp, body
}

func TestHeadAndGet(t *testing.T) {
	e := newEnv(t, gate.Config{})
	// HEAD answers metadata for every file, malicious ones included.
	for _, p := range []string{"clean.pkl", "evil.pkl"} {
		resp, _ := e.do("HEAD", "/org/model/resolve/main/"+p, nil)
		h := resp.Header
		if resp.StatusCode != 200 || h.Get("X-Repo-Commit") != e.commit || h.Get("ETag") == "" ||
			h.Get("X-Linked-Etag") == "" || h.Get("X-Linked-Size") == "" || resp.ContentLength <= 0 {
			t.Errorf("HEAD %s: %d %v", p, resp.StatusCode, h)
		}
		for k := range h {
			if strings.HasPrefix(strings.ToLower(k), "x-xet") || k == "Location" {
				t.Errorf("HEAD %s passes %s through", p, k)
			}
		}
		if strings.Contains(h.Get("Link"), "xet") {
			t.Errorf("HEAD %s passes a xet Link through: %s", p, h.Get("Link"))
		}
	}
	// GET serves the clean file bit-exact, and a range of it.
	resp, body := e.do("GET", "/org/model/resolve/main/clean.pkl", nil)
	if resp.StatusCode != 200 || !bytes.Equal(body, e.ben) {
		t.Fatalf("GET clean: %d, %d bytes (want %d)", resp.StatusCode, len(body), len(e.ben))
	}
	resp, body = e.do("GET", "/org/model/resolve/"+e.commit+"/clean.pkl", map[string]string{"Range": "bytes=2-9"})
	if resp.StatusCode != 206 || !bytes.Equal(body, e.ben[2:10]) || resp.Header.Get("Content-Range") != fmt.Sprintf("bytes 2-9/%d", len(e.ben)) {
		t.Errorf("GET range: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	resp, body = e.do("GET", "/org/model/resolve/main/small/clean.pkl", nil)
	if resp.StatusCode != 200 || !bytes.Equal(body, e.ben) {
		t.Errorf("GET non-LFS clean: %d", resp.StatusCode)
	}
	// GET refuses the malicious file with a reason.
	resp, body = e.do("GET", "/org/model/resolve/main/evil.pkl", nil)
	msg := resp.Header.Get("X-Error-Message")
	if resp.StatusCode != 403 || !strings.Contains(msg, "critical") || !strings.Contains(msg, "evil.pkl") || !strings.Contains(msg, "policy") {
		t.Errorf("GET evil: %d, X-Error-Message %q", resp.StatusCode, msg)
	}
	var jb struct {
		Error    string
		Findings []struct {
			RuleID string `json:"rule_id"`
		}
	}
	if err := json.Unmarshal(body, &jb); err != nil || jb.Error != msg || len(jb.Findings) == 0 {
		t.Errorf("GET evil body: %v %s", err, body)
	}
	// The same refusal comes from the remembered verdict, without a scan.
	e.do("GET", "/org/model/resolve/main/evil.pkl", nil)
	if got := e.gate.Scans(); got["blocked"] != 1 || got["clean"] != 2 {
		t.Errorf("scans %v, want blocked 1, clean 2 (each file once)", got)
	}
	// Documentation passes; a file that is no model format is refused
	// unless the operator chose to serve such files.
	if resp, _ := e.do("GET", "/org/model/resolve/main/README.md", nil); resp.StatusCode != 200 {
		t.Errorf("README: %d", resp.StatusCode)
	}
}

func TestIncompletePolicy(t *testing.T) {
	e := newEnv(t, gate.Config{})
	e.upstream.AddRepo(hubtest.Repo{ID: "org/data", Files: []hubtest.File{{Path: "weights.bin", Content: []byte("\x00\x01\x02 raw")}}})
	if resp, _ := e.do("GET", "/org/data/resolve/main/weights.bin", nil); resp.StatusCode != 403 ||
		!strings.Contains(resp.Header.Get("X-Error-Message"), "not be fully analysed") {
		t.Errorf("unknown format: %d %q", resp.StatusCode, resp.Header.Get("X-Error-Message"))
	}
	e2 := newEnv(t, gate.Config{ServeIncomplete: true})
	e2.upstream.AddRepo(hubtest.Repo{ID: "org/data", Files: []hubtest.File{{Path: "weights.bin", Content: []byte("\x00\x01\x02 raw")}}})
	if resp, _ := e2.do("GET", "/org/data/resolve/main/weights.bin", nil); resp.StatusCode != 200 {
		t.Errorf("unknown format with ServeIncomplete: %d", resp.StatusCode)
	}
}

func TestDecisionsSurviveRestart(t *testing.T) {
	e := newEnv(t, gate.Config{})
	e.do("GET", "/org/model/resolve/main/evil.pkl", nil)
	e.do("GET", "/org/model/resolve/main/clean.pkl", nil)
	e.stop()
	e.start(gate.Config{})
	resp, body := e.do("GET", "/api/gate/decisions", nil)
	var out struct {
		Decisions []struct {
			Decision, Path, Commit string
			Findings               []map[string]any
		}
	}
	if err := json.Unmarshal(body, &out); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%d %v %s", resp.StatusCode, err, body)
	}
	if len(out.Decisions) != 2 || out.Decisions[0].Decision != "served" || out.Decisions[1].Decision != "blocked" ||
		out.Decisions[1].Commit != e.commit || len(out.Decisions[1].Findings) == 0 {
		t.Errorf("decisions after restart: %+v", out.Decisions)
	}
	// The verdict is remembered too: no new scan after the restart.
	if resp, _ := e.do("GET", "/org/model/resolve/main/evil.pkl", nil); resp.StatusCode != 403 {
		t.Errorf("evil after restart: %d", resp.StatusCode)
	}
	if got := e.gate.Scans(); len(got) != 0 {
		t.Errorf("rescanned after restart: %v", got)
	}
}

// A scan longer than ScanWait answers 429 with Retry-After; the scan goes
// on and a retry gets the verdict.
func TestPendingScan(t *testing.T) {
	e := newEnv(t, gate.Config{ScanWait: 10 * time.Millisecond})
	// The upstream holds the file's bytes until the first answer is in, so
	// the scan cannot finish within ScanWait however the machine schedules.
	hold := make(chan struct{})
	e.upstream.Update(func(s *hubtest.Server) { s.Hold = hold })
	resp, _ := e.do("GET", "/org/model/resolve/main/evil.pkl", nil)
	close(hold)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("first GET: %d %v", resp.StatusCode, resp.Header)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, _ = e.do("GET", "/org/model/resolve/main/evil.pkl", nil)
		if resp.StatusCode != 429 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if resp.StatusCode != 403 {
		t.Errorf("after the scan: %d", resp.StatusCode)
	}
}

func TestGatedTokenPassThrough(t *testing.T) {
	e := newEnv(t, gate.Config{})
	resp, _ := e.do("GET", "/org/gated/resolve/main/clean.pkl", nil)
	if resp.StatusCode != 401 && resp.StatusCode != 403 || resp.Header.Get("X-Error-Code") != "GatedRepo" {
		t.Errorf("gated without token: %d %v", resp.StatusCode, resp.Header)
	}
	resp, body := e.do("GET", "/org/gated/resolve/main/clean.pkl", map[string]string{"Authorization": "Bearer " + e.upstream.Token})
	if resp.StatusCode != 200 || !bytes.Equal(body, e.ben) {
		t.Errorf("gated with token: %d", resp.StatusCode)
	}
	// The token went to the upstream Hub, not to its CDN.
	for _, r := range e.upstream.Requests() {
		if strings.HasPrefix(r.Path, "/cdn/") && r.Authorization != "" {
			t.Errorf("token sent to the CDN: %+v", r)
		}
	}
}

func TestAPIPassThrough(t *testing.T) {
	e := newEnv(t, gate.Config{})
	e.upstream.Update(func(s *hubtest.Server) { s.PageSize = 2 })
	e.do("GET", "/org/model/resolve/main/evil.pkl", nil)
	resp, body := e.do("GET", "/api/models/org/model/tree/main?recursive=true", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("tree: %d %s", resp.StatusCode, body)
	}
	if bytes.Contains(bytes.ToLower(body), []byte("xethash")) {
		t.Errorf("tree passes xetHash through: %s", body)
	}
	link := resp.Header.Get("Link")
	if !strings.HasPrefix(link, "<"+e.srv.URL+"/api/models/org/model/tree/") || !strings.Contains(link, `rel="next"`) {
		t.Errorf("pagination link not rewritten to the gate: %q", link)
	}
	var entries []map[string]any
	if err := json.Unmarshal(body, &entries); err != nil {
		t.Fatal(err)
	}
	// Follow the pages through the gate and find the blocked file.
	all := entries
	for link != "" {
		u := strings.TrimPrefix(strings.SplitN(link, ">", 2)[0], "<"+e.srv.URL)
		resp, body = e.do("GET", u, nil)
		var page []map[string]any
		if err := json.Unmarshal(body, &page); err != nil {
			t.Fatal(err)
		}
		all = append(all, page...)
		link = resp.Header.Get("Link")
	}
	status := map[string]string{}
	for _, en := range all {
		if mg, ok := en["modelgate"].(map[string]any); ok {
			status[en["path"].(string)] = mg["status"].(string)
		}
	}
	if status["evil.pkl"] != "blocked" || status["clean.pkl"] != "unscanned" {
		t.Errorf("statuses %v", status)
	}
	resp, body = e.do("GET", "/api/models/org/model/revision/main", nil)
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte(`"siblings"`)) || !bytes.Contains(body, []byte(e.commit)) {
		t.Errorf("info: %d %s", resp.StatusCode, body)
	}
	if resp, _ := e.do("GET", "/api/models/org/model/revision/main/../../../etc", nil); resp.StatusCode < 400 {
		t.Errorf("traversal in the API accepted: %d", resp.StatusCode)
	}
	if resp, _ := e.do("GET", "/api/whoami-v2", nil); resp.StatusCode != 404 {
		t.Errorf("unserved API endpoint: %d", resp.StatusCode)
	}
}

// paths-info, the one POST: huggingface_hub's form and @huggingface/hub's
// JSON both reach the upstream as a form of validated paths, and the answer
// is annotated and stripped like a tree listing.
func TestPathsInfo(t *testing.T) {
	e := newEnv(t, gate.Config{})
	e.do("GET", "/org/model/resolve/main/evil.pkl", nil)
	post := func(ct, body string) (*http.Response, []map[string]any) {
		t.Helper()
		resp, err := http.Post(e.srv.URL+"/api/models/org/model/paths-info/main", ct, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		if bytes.Contains(bytes.ToLower(raw), []byte("xethash")) {
			t.Errorf("paths-info passes xetHash through: %s", raw)
		}
		var entries []map[string]any
		if resp.StatusCode == 200 {
			if err := json.Unmarshal(raw, &entries); err != nil {
				t.Fatalf("%s: %s", err, raw)
			}
		}
		return resp, entries
	}
	status := func(entries []map[string]any) map[string]string {
		st := map[string]string{}
		for _, en := range entries {
			if mg, ok := en["modelgate"].(map[string]any); ok {
				st[en["path"].(string)] = mg["status"].(string)
			} else {
				st[en["path"].(string)] = "-"
			}
		}
		return st
	}
	form := url.Values{"paths": {"evil.pkl", "clean.pkl", "small", "missing.bin"}, "expand": {"True"}}.Encode()
	resp, entries := post("application/x-www-form-urlencoded", form)
	if got := status(entries); resp.StatusCode != 200 || len(got) != 3 || got["evil.pkl"] != "blocked" || got["clean.pkl"] != "unscanned" || got["small"] != "-" {
		t.Errorf("form: %d %v", resp.StatusCode, got)
	}
	resp, entries = post("application/json", `{"paths":["evil.pkl"],"expand":false}`)
	if got := status(entries); resp.StatusCode != 200 || got["evil.pkl"] != "blocked" {
		t.Errorf("json: %d %v", resp.StatusCode, got)
	}
	for _, body := range []string{
		`{"paths":["../../etc/passwd"]}`, `{"paths":[]}`, `{"paths":"evil.pkl"}`, `not json`,
		`{"paths":["` + strings.Repeat("a", 2<<20) + `"]}`,
	} {
		if resp, _ := post("application/json", body); resp.StatusCode != 400 {
			t.Errorf("bad body %.40q: %d", body, resp.StatusCode)
		}
	}
	for _, r := range e.upstream.Requests() {
		if r.Method == "POST" && (strings.Contains(r.Path, "..") || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded") {
			t.Errorf("forwarded upstream: %+v", r)
		}
	}
	resp, err := http.Post(e.srv.URL+"/api/models/org/model/tree/main", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 {
		t.Errorf("POST to tree: %d", resp.StatusCode)
	}
}

func TestNotAnOpenProxy(t *testing.T) {
	e := newEnv(t, gate.Config{})
	for _, c := range []struct {
		method, path string
		want         int
	}{
		{"GET", "/org/model/resolve/main/..%2f..%2fetc%2fpasswd", 400},
		{"GET", "/org/model/resolve/main/a/../../x", 400},
		{"GET", "/org--x/model/resolve/main/a", 400},
		{"GET", "/http:%2f%2fevil.example/resolve/main/a", 400},
		{"POST", "/org/model/resolve/main/clean.pkl", 405},
		{"GET", "/org/model/raw/main/clean.pkl", 404},
		{"GET", "/org/missing/resolve/main/clean.pkl", 404},
		{"GET", "/org/model/resolve/main/missing.pkl", 404},
	} {
		resp, _ := e.do(c.method, c.path, nil)
		if resp.StatusCode != c.want {
			t.Errorf("%s %s: %d, want %d", c.method, c.path, resp.StatusCode, c.want)
		}
	}
	resp, _ := e.do("GET", "/org/model/resolve/main/missing.pkl", nil)
	if resp.Header.Get("X-Error-Code") != "EntryNotFound" {
		t.Errorf("missing file: X-Error-Code %q", resp.Header.Get("X-Error-Code"))
	}
}

func TestPageMetricsHealth(t *testing.T) {
	e := newEnv(t, gate.Config{})
	e.do("GET", "/org/model/resolve/main/evil.pkl", nil)
	e.do("GET", "/org/model/resolve/main/clean.pkl", nil)
	resp, body := e.do("GET", "/", nil)
	page := string(body)
	if resp.StatusCode != 200 || !strings.Contains(page, "evil.pkl") || !strings.Contains(page, "PICKLE-") ||
		!strings.Contains(page, "system") || !strings.Contains(page, e.gate.PolicyHash()[:12]) {
		t.Errorf("page: %d\n%s", resp.StatusCode, page)
	}
	_, body = e.do("GET", "/?repo=nothing-like-this", nil)
	if strings.Contains(string(body), "evil.pkl") {
		t.Errorf("search by repo does not filter")
	}
	_, body = e.do("GET", "/metrics", nil)
	for _, want := range []string{`modelgate_gate_scans_total{verdict="blocked"} 1`, `modelgate_gate_decisions_total{decision="served"} 1`,
		`modelgate_gate_audit_records{decision="blocked"} 1`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
	if resp, body := e.do("GET", "/healthz", nil); resp.StatusCode != 200 || string(body) != "ok\n" {
		t.Errorf("healthz: %d %q", resp.StatusCode, body)
	}
}

func TestDiskCache(t *testing.T) {
	dir := t.TempDir()
	e := newEnv(t, gate.Config{CacheDir: dir})
	for range 2 {
		resp, body := e.do("GET", "/org/model/resolve/main/clean.pkl", nil)
		if resp.StatusCode != 200 || !bytes.Equal(body, e.ben) {
			t.Fatalf("GET: %d", resp.StatusCode)
		}
	}
	cdn := 0
	for _, r := range e.upstream.Requests() {
		if strings.HasPrefix(r.Path, "/cdn/") && r.Range == "" && r.Method == "GET" {
			cdn++
		}
	}
	if cdn != 1 {
		t.Errorf("%d whole downloads from the upstream, want 1 (the second from the cache)", cdn)
	}
	resp, body := e.do("GET", "/org/model/resolve/main/clean.pkl", map[string]string{"Range": "bytes=1-3"})
	if resp.StatusCode != 206 || !bytes.Equal(body, e.ben[1:4]) {
		t.Errorf("range from the cache: %d %q", resp.StatusCode, body)
	}
}

// N concurrent clients download the same clean and malicious files: every
// malicious request is refused, every clean download is complete and
// correct, and each file is scanned once.
func TestLoad(t *testing.T) {
	e := newEnv(t, gate.Config{})
	const clients = 32
	var wg sync.WaitGroup
	errs := make(chan string, clients*4)
	start := time.Now()
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, p := range []string{"clean.pkl", "evil.pkl", "small/clean.pkl", "evil.pkl"} {
				resp, err := http.Get(e.srv.URL + "/org/model/resolve/main/" + p)
				if err != nil {
					errs <- err.Error()
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				switch {
				case strings.HasPrefix(p, "evil") && resp.StatusCode != 403:
					errs <- fmt.Sprintf("client %d: %s answered %d", i, p, resp.StatusCode)
				case !strings.HasPrefix(p, "evil") && (resp.StatusCode != 200 || !bytes.Equal(body, e.ben)):
					errs <- fmt.Sprintf("client %d: %s answered %d with %d bytes", i, p, resp.StatusCode, len(body))
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := e.gate.Scans(); got["clean"] != 2 || got["blocked"] != 1 {
		t.Errorf("scans %v: each file must be scanned exactly once", got)
	}
	ds, err := e.st.Decisions(context.Background(), store.Query{Limit: store.MaxLimit})
	if err != nil || len(ds) != clients*4 {
		t.Errorf("%d audit records (%v), want %d", len(ds), err, clients*4)
	}
	t.Logf("%d clients × 4 downloads in %v", clients, time.Since(start))
}

// a helper to make sure the pickletest import stays used by future tests
var _ = pt.New

// BenchmarkGateLoad: 64 concurrent clients each download a 16 MiB clean
// file (LFS, verified against its SHA-256 as it streams) and request a
// malicious one, through the gate on loopback ("gate"), next to the same
// clean downloads straight from the fake upstream ("direct"). Reports
// requests per second and MB/s delivered; each file is scanned once.
//
//	go test -run '^$' -bench GateLoad ./internal/gate
func BenchmarkGateLoad(b *testing.B) {
	e := newEnv(b, gate.Config{})
	// A benign pickle followed by 16 MiB of zeros (bytes after STOP are
	// sniffed, found to be no format, and are data).
	big := append(e.ben[:len(e.ben):len(e.ben)], make([]byte, 16<<20)...)
	e.upstream.AddRepo(hubtest.Repo{ID: "org/big", Files: []hubtest.File{{Path: "clean.pkl", Content: big, LFS: true}, {Path: "evil.pkl", Content: e.mal, LFS: true}}})
	const clients = 64
	get := func(b *testing.B, url string, want int, size int64) int64 {
		resp, err := http.Get(url)
		if err != nil {
			b.Error(err)
			return 0
		}
		defer resp.Body.Close()
		n, _ := io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != want || size >= 0 && n != size {
			b.Errorf("%s: %d, %d bytes", url, resp.StatusCode, n)
		}
		return n
	}
	for _, mode := range []string{"gate", "direct"} {
		b.Run(mode, func(b *testing.B) {
			start := time.Now()
			var total atomic.Int64
			requests := 0
			for b.Loop() {
				var wg sync.WaitGroup
				for range clients {
					wg.Add(1)
					go func() {
						defer wg.Done()
						if mode == "direct" {
							total.Add(get(b, e.upstream.URL+"/org/big/resolve/main/clean.pkl", 200, int64(len(big))))
							return
						}
						total.Add(get(b, e.srv.URL+"/org/big/resolve/main/clean.pkl", 200, int64(len(big))))
						get(b, e.srv.URL+"/org/big/resolve/main/evil.pkl", 403, -1)
					}()
				}
				wg.Wait()
				requests += clients
				if mode == "gate" {
					requests += clients
				}
			}
			secs := time.Since(start).Seconds()
			b.ReportMetric(float64(requests)/secs, "requests/s")
			b.ReportMetric(float64(total.Load())/secs/1e6, "MB/s")
		})
	}
	if got := e.gate.Scans(); got["clean"] != 1 || got["blocked"] != 1 {
		b.Errorf("scans %v", got)
	}
}

// Upstream metadata is remembered briefly per token: repeated requests for
// a file cost one upstream HEAD, and a client without access never gets a
// gated file's metadata from another client's answer.
func TestMetadataCache(t *testing.T) {
	e := newEnv(t, gate.Config{})
	heads := func() int {
		n := 0
		for _, r := range e.upstream.Requests() {
			if r.Method == "HEAD" {
				n++
			}
		}
		return n
	}
	for range 3 {
		e.do("GET", "/org/model/resolve/"+e.commit+"/clean.pkl", map[string]string{"Range": "bytes=0-0"})
	}
	if n := heads(); n != 1 {
		t.Errorf("%d upstream HEADs for three requests of one pinned file, want 1", n)
	}
	auth := map[string]string{"Authorization": "Bearer " + e.upstream.Token}
	if resp, _ := e.do("HEAD", "/org/gated/resolve/main/clean.pkl", auth); resp.StatusCode != 200 {
		t.Fatalf("gated with token: %d", resp.StatusCode)
	}
	if resp, _ := e.do("HEAD", "/org/gated/resolve/main/clean.pkl", nil); resp.StatusCode == 200 {
		t.Errorf("gated metadata served to a client without a token")
	}
}

// Every file of a repository laid out like a real Hub model is served:
// configs, a SentencePiece tokenizer, safetensors and torch.save weights
// written by the real libraries, docs. (Fail-closed must not mean
// "refuses a normal model".)
func TestRealisticRepositoryServed(t *testing.T) {
	e := newEnv(t, gate.Config{})
	read := func(p string) []byte {
		b, err := os.ReadFile(filepath.Join("..", "formats", p))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	files := []hubtest.File{
		{Path: ".gitattributes", Content: []byte("*.bin filter=lfs diff=lfs merge=lfs -text\n")},
		{Path: "README.md", Content: []byte("# tiny\n")},
		{Path: "config.json", Content: []byte(`{"architectures": ["LlamaForCausalLM"], "model_type": "llama"}`)},
		{Path: "generation_config.json", Content: []byte(`{"bos_token_id": 1}`)},
		{Path: "tokenizer_config.json", Content: []byte(`{"chat_template": "{% for m in messages %}{{ m['content'] }}{% endfor %}"}`)},
		{Path: "tokenizer.json", Content: []byte(`{"version": "1.0"}`)},
		{Path: "tokenizer.model", Content: read("sentencepiece/testdata/benign/bpe.model"), LFS: true},
		{Path: "model.safetensors", Content: read("safetensors/testdata/benign/multi.safetensors"), LFS: true},
		{Path: "pytorch_model.bin", Content: read("pytorch/testdata/benign/checkpoint-adam.pt"), LFS: true},
	}
	e.upstream.AddRepo(hubtest.Repo{ID: "org/tiny", Files: files})
	for _, f := range files {
		resp, body := e.do("GET", "/org/tiny/resolve/main/"+f.Path, nil)
		if resp.StatusCode != 200 || !bytes.Equal(body, f.Content) {
			t.Errorf("%s: %d %q", f.Path, resp.StatusCode, resp.Header.Get("X-Error-Message"))
		}
	}
}
