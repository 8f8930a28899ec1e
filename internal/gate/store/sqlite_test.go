package store

import (
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

func TestSQLiteFile(t *testing.T) {
	// Characters that a DSN would otherwise read as a query or fragment.
	dir := filepath.Join(t.TempDir(), "a dir?x=1#frag%20")
	path := filepath.Join(dir, "gate.db")
	s := mustOpen(t, path)
	if _, err := s.Append(ctx, sampleDecision(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database not at the path given: %v", err)
	}
	ss := s.(*sqlStore)
	for name, want := range map[string]string{"journal_mode": "wal", "busy_timeout": "5000", "foreign_keys": "1", "synchronous": "1"} {
		var got string
		if err := ss.w.QueryRowContext(ctx, "PRAGMA "+name).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("writer PRAGMA %s = %s, want %s", name, got, want)
		}
		if name == "synchronous" {
			continue
		}
		if err := ss.r.QueryRowContext(ctx, "PRAGMA "+name).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("reader PRAGMA %s = %s, want %s", name, got, want)
		}
	}
	if _, err := ss.r.ExecContext(ctx, `INSERT INTO verdicts (key_hash) VALUES ('x')`); err == nil {
		t.Error("the read pool accepted a write")
	}
}

// TestSQLiteTwoProcesses opens the same file twice, as two gate processes
// would, and has both migrate and write at once: busy_timeout must absorb
// the lock contention instead of surfacing SQLITE_BUSY.
func TestSQLiteTwoProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gate.db")
	var (
		wg     sync.WaitGroup
		stores [4]Store
		errs   [4]error
	)
	for i := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = Open(ctx, path)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("concurrent Open %d: %v", i, err)
		}
		t.Cleanup(func() { stores[i].Close() })
	}
	const each = 100
	errc := make(chan error, len(stores))
	for _, s := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if _, err := s.Append(ctx, sampleDecision(i)); err != nil {
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
	st, err := stores[0].Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, c := range st.Decisions {
		n += c
	}
	if n != int64(len(stores)*each) {
		t.Errorf("%d decisions, want %d", n, len(stores)*each)
	}
}

func TestOpenDispatch(t *testing.T) {
	for dsn, want := range map[string]bool{
		"postgres://u@h/db":   true,
		"postgresql://u@h/db": true,
		"POSTGRES://u@h/db":   true,
		"gate.db":             false,
		"/var/lib/gate.db":    false,
		"postgres.db":         false,
		":memory:":            false,
	} {
		if got := isPostgres(dsn); got != want {
			t.Errorf("isPostgres(%q) = %v, want %v", dsn, got, want)
		}
	}
	if _, err := Open(ctx, ""); err == nil {
		t.Error("Open(\"\") succeeded")
	}
}

func TestDefaultPath(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("uses %LocalAppData% on Windows")
	}
	t.Setenv("XDG_DATA_HOME", "/xdg/data")
	if got, err := DefaultPath(); err != nil || got != filepath.Join("/xdg/data", "modelgate", "gate.db") {
		t.Errorf("with XDG_DATA_HOME: %q, %v", got, err)
	}
	t.Setenv("XDG_DATA_HOME", "relative") // the XDG spec says to ignore it
	t.Setenv("HOME", "/home/u")
	got, err := DefaultPath()
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join("/home/u", ".local", "share", "modelgate", "gate.db"); got != want {
		t.Errorf("DefaultPath() = %q, want %q", got, want)
	}
}

func BenchmarkAppendSQLite(b *testing.B) {
	for _, fs := range []struct {
		name     string
		findings bool
	}{{"plain", false}, {"findings", true}} {
		b.Run(fs.name, func(b *testing.B) {
			s := mustOpen(b, filepath.Join(b.TempDir(), "gate.db"))
			d := sampleDecision(1)
			if fs.findings {
				d.Findings = sampleFindings()
			}
			b.ResetTimer()
			for b.Loop() {
				if _, err := s.Append(ctx, d); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fs.name+"-parallel", func(b *testing.B) {
			s := mustOpen(b, filepath.Join(b.TempDir(), "gate.db"))
			d := sampleDecision(1)
			if fs.findings {
				d.Findings = sampleFindings()
			}
			b.SetParallelism(8) // many request goroutines per core, as in the gate
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := s.Append(ctx, d); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

func BenchmarkDecisionsSQLite(b *testing.B) {
	s := mustOpen(b, filepath.Join(b.TempDir(), "gate.db"))
	for i := range 10000 {
		if _, err := s.Append(ctx, sampleDecision(i)); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.Decisions(ctx, Query{Repo: "models/org1/name", Limit: 100}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendPostgres needs MODELGATE_TEST_POSTGRES (see .ci/postgres.sh).
func BenchmarkAppendPostgres(b *testing.B) {
	dsn := os.Getenv("MODELGATE_TEST_POSTGRES")
	if dsn == "" {
		b.Skip("MODELGATE_TEST_POSTGRES is not set")
	}
	s := mustOpen(b, dsn)
	d := sampleDecision(1)
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Append(ctx, d); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
