// Package store persists what the gate (`modelgate serve`) decides: the scan
// verdict remembered for each file version, and an append-only audit log of
// every request the gate answered.
//
// Two backends share one database/sql implementation: SQLite (the embedded
// default, modernc.org/sqlite, pure Go) and PostgreSQL (github.com/jackc/pgx/v5
// through its database/sql driver) for a gate run by several replicas. The
// schema is versioned in a schema_migrations table and migrated inside one
// transaction when a store is opened.
//
// The audit log has no update or delete API, and the database refuses both
// (SQLite: triggers that RAISE(ABORT); PostgreSQL: a trigger function, also
// on TRUNCATE). That protects the log against bugs and against anyone who
// can run SQL through the application, not against an administrator who can
// drop the table or edit the file.
//
// Bounds: strings are stored as given, except that invalid UTF-8 and NUL
// bytes (which PostgreSQL text cannot hold) become U+FFFD, and that audit
// fields longer than their cap are cut at a rune boundary. Findings are
// stored as JSON (the field names of the scan JSON contract), at most
// MaxFindingsJSON bytes per record; when a list does not fit, the most severe
// findings are kept and FindingsOmitted says how many were dropped. A verdict
// key that cannot be stored faithfully (too long, invalid UTF-8, NUL) is
// refused rather than altered, so two different files can never share a
// remembered verdict.
package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/modelgate/modelgate/internal/finding"
)

// Verdict values of a remembered scan result.
const (
	VerdictClean   = "clean"
	VerdictBlocked = "blocked"
	VerdictError   = "error"
)

// Verdict is the scan result remembered for one file version. Repo, Commit,
// Path, ETag and PolicyHash form the key: a new policy or a new upstream
// object means a new scan.
type Verdict struct {
	Repo       string // "models/org/name"
	Commit     string
	Path       string
	ETag       string
	PolicyHash string

	SHA256   string
	Size     int64
	Verdict  string // VerdictClean, VerdictBlocked or VerdictError
	Severity string // worst finding severity, "" if none
	Findings []finding.Finding
	// FindingsOmitted counts findings dropped to keep the stored JSON within
	// MaxFindingsJSON; set by the store on read.
	FindingsOmitted int
	Errors          []string
	ScannedAt       time.Time // stored at microsecond precision, returned in UTC
	Duration        time.Duration
}

// Decision is one append-only audit record: a request the gate decided.
type Decision struct {
	ID       int64     // assigned by Append
	Time     time.Time // zero means now; stored at microsecond precision, returned in UTC
	Client   string
	Method   string
	Repo     string
	Revision string // as requested (branch, tag or commit)
	Commit   string // as resolved
	Path     string
	Verdict  string // "served", "blocked", "pending", "error", ...
	Reason   string // the message given to the client
	Findings []finding.Finding
	// FindingsOmitted counts findings dropped to keep the stored JSON within
	// MaxFindingsJSON; set by the store on read.
	FindingsOmitted int
	PolicyHash      string
	SHA256          string
	Bytes           int64
}

// Query selects audit records. Zero fields do not filter.
type Query struct {
	// Repo matches Decision.Repo exactly (uses an index).
	Repo string
	// RepoContains matches a case-sensitive substring of Decision.Repo, for
	// the search box of the gate's page (scans the log).
	RepoContains string
	Verdict      string // exact
	// Limit is the page size: 0 means DefaultLimit, and it is capped at
	// MaxLimit.
	Limit int
	// BeforeID returns only records with a smaller ID: pass the last ID of
	// a page to get the next (older) one.
	BeforeID int64
}

// Page sizes for Decisions.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// Stats counts records by verdict, for /metrics and the gate's page.
type Stats struct {
	Decisions map[string]int64 // audit records by Decision.Verdict
	Verdicts  map[string]int64 // remembered scan results by Verdict.Verdict
}

// Store is the gate's persistence. Implementations are safe for concurrent
// use.
type Store interface {
	// Verdict returns the remembered result for the key, and false if there
	// is none.
	Verdict(ctx context.Context, repo, commit, path, etag, policyHash string) (Verdict, bool, error)
	// PutVerdict inserts or replaces the result for v's key.
	PutVerdict(ctx context.Context, v Verdict) error
	// Append records d and returns its ID. IDs increase with every append
	// and are never reused.
	Append(ctx context.Context, d Decision) (int64, error)
	// Decisions returns the records matching q, newest first.
	Decisions(ctx context.Context, q Query) ([]Decision, error)
	// Stats counts records by verdict.
	Stats(ctx context.Context) (Stats, error)
	Close() error
}

var (
	// ErrSchemaTooNew means the database was migrated by a newer modelgate;
	// this binary refuses to use it rather than misread it.
	ErrSchemaTooNew = errors.New("database schema is newer than this modelgate")
	// ErrInvalid wraps errors about a Verdict or Decision the store refuses.
	ErrInvalid = errors.New("invalid record")
)

// Open opens (creating and migrating if needed) the store named by dsn: a
// "postgres://" or "postgresql://" URL selects PostgreSQL; anything else is a
// SQLite file path (parent directories are created), or ":memory:" for a
// private in-memory database (tests).
func Open(ctx context.Context, dsn string) (Store, error) {
	if isPostgres(dsn) {
		return openPostgres(ctx, dsn)
	}
	return openSQLite(ctx, dsn)
}

func isPostgres(dsn string) bool {
	l := strings.ToLower(dsn)
	return strings.HasPrefix(l, "postgres://") || strings.HasPrefix(l, "postgresql://")
}

// DefaultPath returns where the gate keeps its SQLite database when no DSN is
// given: $XDG_DATA_HOME/modelgate/gate.db, or ~/.local/share/modelgate/gate.db
// (on Windows %LocalAppData%\modelgate\gate.db). The audit log is data that
// must outlive caches and is not configuration, so neither os.UserCacheDir
// nor os.UserConfigDir is the right home for it; Go has no UserDataDir, and
// the XDG data directory is the convention for it on Unix (macOS included,
// as for most command-line tools).
func DefaultPath() (string, error) {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "modelgate", "gate.db"), nil
	}
	if runtime.GOOS == "windows" {
		if d := os.Getenv("LocalAppData"); d != "" {
			return filepath.Join(d, "modelgate", "gate.db"), nil
		}
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("locating the gate database: %w", err)
	}
	return filepath.Join(home, ".local", "share", "modelgate", "gate.db"), nil
}
