package store

import (
	"context"
	"database/sql"
	"fmt"
)

// A migration takes the schema from version-1 to version. Both dialects
// have the same list, so that a version number means the same tables
// everywhere; append new migrations, never edit applied ones.
type migration struct {
	sqlite, postgres []string
}

var migrations = []migration{
	1: {
		sqlite: []string{
			`CREATE TABLE verdicts (
				key_hash         TEXT PRIMARY KEY, -- sha256 of the length-prefixed key fields
				repo             TEXT NOT NULL,
				commit_sha       TEXT NOT NULL,
				path             TEXT NOT NULL,
				etag             TEXT NOT NULL,
				policy_hash      TEXT NOT NULL,
				sha256           TEXT NOT NULL,
				size             INTEGER NOT NULL,
				verdict          TEXT NOT NULL,
				severity         TEXT NOT NULL,
				findings         TEXT NOT NULL, -- JSON array, scan JSON field names
				findings_omitted INTEGER NOT NULL,
				errors           TEXT NOT NULL, -- JSON array of strings
				scanned_at       INTEGER NOT NULL, -- Unix microseconds
				duration_ns      INTEGER NOT NULL
			)`,
			`CREATE INDEX verdicts_verdict ON verdicts (verdict)`,
			`CREATE TABLE decisions (
				id               INTEGER PRIMARY KEY AUTOINCREMENT,
				decided_at       INTEGER NOT NULL, -- Unix microseconds
				client           TEXT NOT NULL,
				method           TEXT NOT NULL,
				repo             TEXT NOT NULL,
				revision         TEXT NOT NULL,
				commit_sha       TEXT NOT NULL,
				path             TEXT NOT NULL,
				verdict          TEXT NOT NULL,
				reason           TEXT NOT NULL,
				findings         TEXT NOT NULL,
				findings_omitted INTEGER NOT NULL,
				policy_hash      TEXT NOT NULL,
				sha256           TEXT NOT NULL,
				bytes            INTEGER NOT NULL
			)`,
			`CREATE INDEX decisions_repo ON decisions (repo, id)`,
			`CREATE INDEX decisions_verdict ON decisions (verdict, id)`,
			`CREATE TRIGGER decisions_no_update BEFORE UPDATE ON decisions
			BEGIN SELECT RAISE(ABORT, 'decisions is an append-only audit log'); END`,
			`CREATE TRIGGER decisions_no_delete BEFORE DELETE ON decisions
			BEGIN SELECT RAISE(ABORT, 'decisions is an append-only audit log'); END`,
		},
		postgres: []string{
			`CREATE TABLE verdicts (
				key_hash         TEXT PRIMARY KEY,
				repo             TEXT NOT NULL,
				commit_sha       TEXT NOT NULL,
				path             TEXT NOT NULL,
				etag             TEXT NOT NULL,
				policy_hash      TEXT NOT NULL,
				sha256           TEXT NOT NULL,
				size             BIGINT NOT NULL,
				verdict          TEXT NOT NULL,
				severity         TEXT NOT NULL,
				findings         TEXT NOT NULL,
				findings_omitted INTEGER NOT NULL,
				errors           TEXT NOT NULL,
				scanned_at       TIMESTAMPTZ NOT NULL,
				duration_ns      BIGINT NOT NULL
			)`,
			`CREATE INDEX verdicts_verdict ON verdicts (verdict)`,
			`CREATE TABLE decisions (
				id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
				decided_at       TIMESTAMPTZ NOT NULL,
				client           TEXT NOT NULL,
				method           TEXT NOT NULL,
				repo             TEXT NOT NULL,
				revision         TEXT NOT NULL,
				commit_sha       TEXT NOT NULL,
				path             TEXT NOT NULL,
				verdict          TEXT NOT NULL,
				reason           TEXT NOT NULL,
				findings         TEXT NOT NULL, -- text, not jsonb: jsonb refuses \u0000 in evidence
				findings_omitted INTEGER NOT NULL,
				policy_hash      TEXT NOT NULL,
				sha256           TEXT NOT NULL,
				bytes            BIGINT NOT NULL
			)`,
			`CREATE INDEX decisions_repo ON decisions (repo, id)`,
			`CREATE INDEX decisions_verdict ON decisions (verdict, id)`,
			`CREATE FUNCTION modelgate_decisions_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN
				RAISE EXCEPTION 'decisions is an append-only audit log (% refused)', TG_OP;
			END
			$$`,
			`CREATE TRIGGER decisions_no_update_delete BEFORE UPDATE OR DELETE ON decisions
			FOR EACH ROW EXECUTE FUNCTION modelgate_decisions_append_only()`,
			`CREATE TRIGGER decisions_no_truncate BEFORE TRUNCATE ON decisions
			FOR EACH STATEMENT EXECUTE FUNCTION modelgate_decisions_append_only()`,
		},
	},
}

// SchemaVersion is the newest schema this binary knows.
var SchemaVersion = len(migrations) - 1

// migrationLockID serialises migrations of gates sharing one PostgreSQL
// database ("modelgat" in ASCII).
const migrationLockID = 0x6d6f64656c676174

// migrate brings the schema to SchemaVersion in one transaction. It is
// idempotent, and it refuses a database migrated by a newer binary.
func migrate(ctx context.Context, db *sql.DB, postgres bool) error {
	tx, err := db.BeginTx(ctx, nil) // SQLite: BEGIN IMMEDIATE (see sqlite.go)
	if err != nil {
		return fmt.Errorf("migrating: %w", err)
	}
	defer tx.Rollback()
	createTable := `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
	)`
	if postgres {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrationLockID)); err != nil {
			return fmt.Errorf("migrating: taking the migration lock: %w", err)
		}
		createTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    INTEGER PRIMARY KEY,
			applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
		)`
	}
	if _, err := tx.ExecContext(ctx, createTable); err != nil {
		return fmt.Errorf("migrating: %w", err)
	}
	var cur int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&cur); err != nil {
		return fmt.Errorf("migrating: reading the schema version: %w", err)
	}
	if cur > SchemaVersion {
		return fmt.Errorf("%w: database is at version %d, this binary knows up to %d; upgrade modelgate", ErrSchemaTooNew, cur, SchemaVersion)
	}
	for v := cur + 1; v <= SchemaVersion; v++ {
		stmts := migrations[v].sqlite
		if postgres {
			stmts = migrations[v].postgres
		}
		for _, s := range stmts {
			if _, err := tx.ExecContext(ctx, s); err != nil {
				return fmt.Errorf("migrating to schema version %d: %w", v, err)
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version) VALUES ($1)`, v); err != nil {
			return fmt.Errorf("migrating to schema version %d: %w", v, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrating: %w", err)
	}
	return nil
}
