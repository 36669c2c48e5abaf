// Package pgtest gives tests a PostgreSQL to work in: the server's DSN
// (failing under CI=true and skipping elsewhere when it is unreachable) and a
// fresh schema per test, dropped when the test ends.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// DefaultDSN is where the development machines and CI run PostgreSQL;
// PHOENIX_TEST_POSTGRES_DSN overrides it.
const DefaultDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

var reach struct {
	once sync.Once
	err  error
}

// DSN returns the DSN of the test server. When the server cannot be reached
// the test fails under CI (CI=true), which must provide it, and is skipped
// elsewhere with directions to start it.
func DSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("PHOENIX_TEST_POSTGRES_DSN")
	if dsn == "" {
		dsn = DefaultDSN
	}
	reach.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			reach.err = err
			return
		}
		reach.err = conn.Ping(ctx)
		_ = conn.Close(ctx)
	})
	if reach.err != nil {
		where := redact(dsn)
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL service unreachable at %s (PHOENIX_TEST_POSTGRES_DSN): %v; CI must start the postgresql service before the tests", where, reach.err)
		}
		t.Skipf("PostgreSQL is missing at %s (%v); start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start, or point PHOENIX_TEST_POSTGRES_DSN at a server", where, reach.err)
	}
	return dsn
}

// redact describes a DSN without its password.
func redact(dsn string) string {
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return "an unparsable PHOENIX_TEST_POSTGRES_DSN"
	}
	return fmt.Sprintf("%s:%d (database %s, user %s)", cfg.Host, cfg.Port, cfg.Database, cfg.User)
}

// Schema returns a fresh schema name starting with prefix and drops the
// schema, with everything in it, when the test ends.
func Schema(t testing.TB, prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := prefix + hex.EncodeToString(b[:])
	t.Cleanup(func() { Exec(t, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE") })
	return schema
}

// Exec runs one statement on its own connection.
func Exec(t testing.TB, sql string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, DSN(t))
	if err != nil {
		t.Fatalf("connect to PostgreSQL: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("exec %q: %v", sql, err)
	}
}
