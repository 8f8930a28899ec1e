package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// sqlStore is the Store shared by both backends. Statements use $N
// placeholders, which modernc.org/sqlite binds by number too.
type sqlStore struct {
	w *sql.DB // writes (SQLite: one connection, so writers queue in Go, not on SQLITE_BUSY)
	r *sql.DB // reads (SQLite: a read-only pool; WAL lets readers run beside the writer)

	postgres bool
}

// timeArg converts t for the dialect: PostgreSQL has timestamptz; SQLite
// stores Unix microseconds (the precision of timestamptz) as an integer so
// that it sorts and compares as a number.
func (s *sqlStore) timeArg(t time.Time) any {
	if s.postgres {
		return t.UTC().Truncate(time.Microsecond)
	}
	return t.UnixMicro()
}

// dbTime scans either representation.
type dbTime struct{ t time.Time }

func (d *dbTime) Scan(src any) error {
	switch v := src.(type) {
	case int64:
		d.t = time.UnixMicro(v).UTC()
	case time.Time:
		d.t = v.UTC()
	default:
		return fmt.Errorf("unexpected time value of type %T", src)
	}
	return nil
}

const verdictColumns = `repo, commit_sha, path, etag, policy_hash, sha256, size, verdict, severity,
	findings, findings_omitted, errors, scanned_at, duration_ns`

func (s *sqlStore) Verdict(ctx context.Context, repo, commit, path, etag, policyHash string) (Verdict, bool, error) {
	if checkVerdictKey(repo, commit, path, etag, policyHash) != nil {
		return Verdict{}, false, nil // PutVerdict refuses such keys, so nothing is stored under one
	}
	row := s.r.QueryRowContext(ctx, `SELECT `+verdictColumns+` FROM verdicts
		WHERE key_hash = $1 AND repo = $2 AND commit_sha = $3 AND path = $4 AND etag = $5 AND policy_hash = $6`,
		verdictKey(repo, commit, path, etag, policyHash), repo, commit, path, etag, policyHash)
	var (
		v                  Verdict
		findings, errs     string
		scannedAt          dbTime
		durationNS         int64
		findingsOmittedRow int64
	)
	err := row.Scan(&v.Repo, &v.Commit, &v.Path, &v.ETag, &v.PolicyHash, &v.SHA256, &v.Size, &v.Verdict, &v.Severity,
		&findings, &findingsOmittedRow, &errs, &scannedAt, &durationNS)
	if errors.Is(err, sql.ErrNoRows) {
		return Verdict{}, false, nil
	}
	if err != nil {
		return Verdict{}, false, fmt.Errorf("reading verdict for %s@%s/%s: %w", repo, commit, path, err)
	}
	v.FindingsOmitted = int(findingsOmittedRow)
	v.ScannedAt = scannedAt.t
	v.Duration = time.Duration(durationNS)
	if v.Findings, err = decodeFindings(findings); err != nil {
		return Verdict{}, false, err
	}
	if v.Errors, err = decodeErrors(errs); err != nil {
		return Verdict{}, false, err
	}
	return v, true, nil
}

func (s *sqlStore) PutVerdict(ctx context.Context, v Verdict) error {
	if err := checkVerdictKey(v.Repo, v.Commit, v.Path, v.ETag, v.PolicyHash); err != nil {
		return err
	}
	switch v.Verdict {
	case VerdictClean, VerdictBlocked, VerdictError:
	default:
		return fmt.Errorf("%w: verdict %q (want %q, %q or %q)", ErrInvalid, v.Verdict, VerdictClean, VerdictBlocked, VerdictError)
	}
	findings, omitted, err := encodeFindings(v.Findings)
	if err != nil {
		return fmt.Errorf("encoding findings: %w", err)
	}
	errs, err := encodeErrors(v.Errors)
	if err != nil {
		return fmt.Errorf("encoding errors: %w", err)
	}
	if v.ScannedAt.IsZero() {
		v.ScannedAt = time.Now()
	}
	_, err = s.w.ExecContext(ctx, `INSERT INTO verdicts (key_hash, `+verdictColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
		ON CONFLICT (key_hash) DO UPDATE SET
			sha256 = excluded.sha256, size = excluded.size, verdict = excluded.verdict,
			severity = excluded.severity, findings = excluded.findings,
			findings_omitted = excluded.findings_omitted, errors = excluded.errors,
			scanned_at = excluded.scanned_at, duration_ns = excluded.duration_ns`,
		verdictKey(v.Repo, v.Commit, v.Path, v.ETag, v.PolicyHash),
		v.Repo, v.Commit, v.Path, v.ETag, v.PolicyHash,
		clean(v.SHA256, MaxIdent), v.Size, v.Verdict, clean(v.Severity, MaxIdent),
		findings, omitted, errs, s.timeArg(v.ScannedAt), int64(v.Duration))
	if err != nil {
		return fmt.Errorf("storing verdict for %s@%s/%s: %w", v.Repo, v.Commit, v.Path, err)
	}
	return nil
}

const decisionColumns = `decided_at, client, method, repo, revision, commit_sha, path, verdict, reason,
	findings, findings_omitted, policy_hash, sha256, bytes`

func (s *sqlStore) Append(ctx context.Context, d Decision) (int64, error) {
	if d.Verdict == "" {
		return 0, fmt.Errorf("%w: decision without a verdict", ErrInvalid)
	}
	findings, omitted, err := encodeFindings(d.Findings)
	if err != nil {
		return 0, fmt.Errorf("encoding findings: %w", err)
	}
	if d.Time.IsZero() {
		d.Time = time.Now()
	}
	var id int64
	err = s.w.QueryRowContext(ctx, `INSERT INTO decisions (`+decisionColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id`,
		s.timeArg(d.Time), clean(d.Client, MaxIdent), clean(d.Method, MaxIdent), clean(d.Repo, MaxIdent),
		clean(d.Revision, MaxIdent), clean(d.Commit, MaxIdent), clean(d.Path, MaxText),
		clean(d.Verdict, MaxIdent), clean(d.Reason, MaxText), findings, omitted,
		clean(d.PolicyHash, MaxIdent), clean(d.SHA256, MaxIdent), d.Bytes).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("appending to the audit log: %w", err)
	}
	return id, nil
}

func (s *sqlStore) Decisions(ctx context.Context, q Query) ([]Decision, error) {
	var (
		where []string
		args  []any
	)
	add := func(cond string, arg any) {
		args = append(args, arg)
		where = append(where, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	if q.Repo != "" {
		add("repo = ?", q.Repo)
	}
	if q.RepoContains != "" {
		if s.postgres {
			add("strpos(repo, ?) > 0", q.RepoContains)
		} else {
			add("instr(repo, ?) > 0", q.RepoContains)
		}
	}
	if q.Verdict != "" {
		add("verdict = ?", q.Verdict)
	}
	if q.BeforeID > 0 {
		add("id < ?", q.BeforeID)
	}
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	query := `SELECT id, ` + decisionColumns + ` FROM decisions`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, ` AND `)
	}
	query += ` ORDER BY id DESC LIMIT ` + strconv.Itoa(limit)

	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("reading the audit log: %w", err)
	}
	defer rows.Close()
	var out []Decision
	for rows.Next() {
		var (
			d        Decision
			at       dbTime
			findings string
			omitted  int64
		)
		if err := rows.Scan(&d.ID, &at, &d.Client, &d.Method, &d.Repo, &d.Revision, &d.Commit, &d.Path,
			&d.Verdict, &d.Reason, &findings, &omitted, &d.PolicyHash, &d.SHA256, &d.Bytes); err != nil {
			return nil, fmt.Errorf("reading the audit log: %w", err)
		}
		d.Time = at.t
		d.FindingsOmitted = int(omitted)
		if d.Findings, err = decodeFindings(findings); err != nil {
			return nil, fmt.Errorf("audit record %d: %w", d.ID, err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading the audit log: %w", err)
	}
	return out, nil
}

func (s *sqlStore) Stats(ctx context.Context) (Stats, error) {
	st := Stats{Decisions: map[string]int64{}, Verdicts: map[string]int64{}}
	for _, t := range []struct {
		table string
		m     map[string]int64
	}{{"decisions", st.Decisions}, {"verdicts", st.Verdicts}} {
		if err := s.count(ctx, t.table, t.m); err != nil {
			return Stats{}, err
		}
	}
	return st, nil
}

// count fills m with the number of rows of table per verdict; table is one
// of two constants.
func (s *sqlStore) count(ctx context.Context, table string, m map[string]int64) error {
	rows, err := s.r.QueryContext(ctx, `SELECT verdict, COUNT(*) FROM `+table+` GROUP BY verdict`)
	if err != nil {
		return fmt.Errorf("counting %s: %w", table, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			v string
			n int64
		)
		if err := rows.Scan(&v, &n); err != nil {
			return fmt.Errorf("counting %s: %w", table, err)
		}
		m[v] = n
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("counting %s: %w", table, err)
	}
	return nil
}

func (s *sqlStore) Close() error {
	err := s.r.Close()
	if s.w != s.r {
		err = errors.Join(err, s.w.Close())
	}
	return err
}
