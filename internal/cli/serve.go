package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/modelgate/modelgate/internal/gate"
	"github.com/modelgate/modelgate/internal/gate/store"
	"github.com/modelgate/modelgate/internal/hub"
)

func runServe(ctx context.Context, args []string, env *Env) (int, error) {
	fs := newFlagSet("serve", "[flags]", env)
	listen := fs.String("listen", "127.0.0.1:8080", "address to listen on")
	upstream := fs.String("upstream", hub.DefaultEndpoint, "the Hugging Face Hub the gate fronts (fixed: the gate is not an open proxy)")
	dbFlag := fs.String("db", "", "SQLite file, or a postgres:// URL (default: the user data directory's modelgate/gate.db)")
	policyFile := fs.String("policy", "", "policy file (default: modelgate.yaml in the working directory, else the built-in policy)")
	cacheDir := fs.String("cache-dir", "", "keep clean files content-addressed in this directory and serve repeats from it")
	scanWait := fs.Duration("scan-wait", 20*time.Second, "how long a download waits for its scan before the client is told to retry (429)")
	serveIncomplete := fs.Bool("serve-incomplete", false, "serve files that could not be fully analysed (unknown formats, budgets exceeded) instead of refusing them")
	workers := fs.Int("workers", 4, "scans running at once")
	if err := fs.Parse(args); err != nil {
		return ExitIncomplete, flagError(err)
	}
	if fs.NArg() > 0 {
		return ExitIncomplete, usagef("serve takes no arguments (got %q)", fs.Args())
	}
	u, err := url.Parse(*upstream)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ExitIncomplete, usagef("--upstream: %q is not an http(s) URL", *upstream)
	}
	pol, err := loadPolicy(*policyFile)
	if err != nil {
		return ExitIncomplete, err
	}
	dsn := *dbFlag
	if dsn == "" {
		if dsn, err = store.DefaultPath(); err != nil {
			return ExitIncomplete, err
		}
	}
	st, err := store.Open(ctx, dsn)
	if err != nil {
		return ExitIncomplete, fmt.Errorf("open the gate database: %w", err)
	}
	defer st.Close()
	logger := slog.New(slog.NewTextHandler(env.Stderr, nil))
	// The upstream client carries no token of its own: each client's token
	// is passed through to the upstream Hub, and only there.
	g, err := gate.New(gate.Config{Upstream: hub.New(*upstream, "", 16), Store: st, Policy: pol, CacheDir: *cacheDir,
		ScanWait: *scanWait, ServeIncomplete: *serveIncomplete, Workers: *workers, Logger: logger})
	if err != nil {
		return ExitIncomplete, err
	}
	defer g.Close()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return ExitIncomplete, err
	}
	srv := &http.Server{Handler: g, ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: 64 << 10,
		IdleTimeout: 2 * time.Minute, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	where := dsn
	if pu, err := url.Parse(dsn); err == nil && pu.User != nil {
		where = pu.Redacted() // no password in logs
	}
	logger.Info("modelgate gate listening", "addr", "http://"+ln.Addr().String(), "upstream", *upstream,
		"policy", g.PolicyHash(), "db", where)
	fmt.Fprintf(env.Stderr, "modelgate: serving on http://%s — set HF_ENDPOINT=http://%s\n", ln.Addr(), ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return ExitIncomplete, err
		}
	case <-ctx.Done():
		shut, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
	}
	return ExitPass, nil
}
