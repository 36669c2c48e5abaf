package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/phoenix/platform/internal/store"
)

//go:embed migration/*.up.sql
var migrationFiles embed.FS

// migration is one numbered schema change.
type migration struct {
	version int
	name    string
	sql     string
}

// migrations are the embedded migrations in version order.
var migrations = mustLoadMigrations(migrationFiles)

// LatestVersion is the newest schema version this binary knows.
func LatestVersion() int { return migrations[len(migrations)-1].version }

func mustLoadMigrations(fsys fs.FS) []migration {
	m, err := loadMigrations(fsys)
	if err != nil {
		panic(err)
	}
	return m
}

// loadMigrations reads migration/NNN_name.up.sql files; versions must run
// 1, 2, 3... without gaps.
func loadMigrations(fsys fs.FS) ([]migration, error) {
	files, err := fs.Glob(fsys, "migration/*.up.sql")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, f := range files {
		base := strings.TrimSuffix(path.Base(f), ".up.sql")
		num, name, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must be NNN_name.up.sql", f)
		}
		data, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: name, sql: string(data)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i, m := range out {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %03d_%s: expected version %d", m.version, m.name, i+1)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no migrations embedded")
	}
	return out, nil
}

// migrate applies pending migrations up to version target in one write
// transaction. BEGIN IMMEDIATE keeps two processes opening the same file from
// migrating at once.
func (s *Store) migrate(ctx context.Context, target int) error {
	return s.withTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, qSchemaMigrationsCreate); err != nil {
			return fmt.Errorf("migrate: create schema_migrations: %w", err)
		}
		var current int
		if err := tx.QueryRowContext(ctx, qSchemaMigrationsVersion).Scan(&current); err != nil {
			return fmt.Errorf("migrate: read schema version: %w", err)
		}
		if latest := LatestVersion(); current > latest {
			return fmt.Errorf("migrate: %w", &store.SchemaVersionError{Database: current, Binary: latest})
		}
		for _, m := range migrations {
			if m.version <= current || m.version > target {
				continue
			}
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return fmt.Errorf("migrate: apply %03d_%s: %w", m.version, m.name, err)
			}
			if _, err := tx.ExecContext(ctx, qSchemaMigrationsInsert, m.version, m.name, micros(now())); err != nil {
				return fmt.Errorf("migrate: record %03d_%s: %w", m.version, m.name, err)
			}
		}
		return nil
	})
}

// SchemaVersion returns the highest applied migration version.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	if err := s.r.QueryRowContext(ctx, qSchemaMigrationsVersion).Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}
