package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"sync"
)

// maxStmts bounds the prepared statements of a pool. The fixed queries and
// the few shapes of each list query (one per combination of filters) stay
// far below it; past it, new texts run unprepared.
const maxStmts = 512

// pool is a database/sql pool that keeps a prepared statement per query text,
// so queries are parsed once per connection instead of on every call.
type pool struct {
	*sql.DB

	mu    sync.Mutex
	stmts map[string]*sql.Stmt
}

var errTooManyStmts = errors.New("too many prepared statements")

func newPool(db *sql.DB) *pool {
	return &pool{DB: db, stmts: make(map[string]*sql.Stmt)}
}

// stmt returns the prepared statement of q, preparing it on first use.
func (p *pool) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if st, ok := p.stmts[q]; ok {
		return st, nil
	}
	if len(p.stmts) >= maxStmts {
		return nil, errTooManyStmts
	}
	st, err := p.DB.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	p.stmts[q] = st
	return st, nil
}

// QueryRowContext runs a fixed query through its prepared statement. If the
// statement cannot be prepared the query runs unprepared, which reports the
// same error through the returned row.
func (p *pool) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	st, err := p.stmt(ctx, q)
	if err != nil {
		return p.DB.QueryRowContext(ctx, q, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// QueryContext runs a query through its prepared statement.
func (p *pool) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	st, err := p.stmt(ctx, q)
	if err != nil {
		return p.DB.QueryContext(ctx, q, args...)
	}
	return st.QueryContext(ctx, args...)
}

// ExecContext runs a fixed statement through its prepared statement.
func (p *pool) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	st, err := p.stmt(ctx, q)
	if err != nil {
		return p.DB.ExecContext(ctx, q, args...)
	}
	return st.ExecContext(ctx, args...)
}

// Close closes the prepared statements and the pool.
func (p *pool) Close() error {
	p.mu.Lock()
	var errs []error
	for q, st := range p.stmts {
		errs = append(errs, st.Close())
		delete(p.stmts, q)
	}
	p.mu.Unlock()
	return errors.Join(append(errs, p.DB.Close())...)
}
