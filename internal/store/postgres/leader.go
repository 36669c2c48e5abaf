package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// lease is held leadership: an advisory lock on a connection taken out of
// the pool for as long as it is held.
type lease struct {
	s       *Store
	conn    *pgxpool.Conn
	key     int64
	ctx     context.Context
	cancel  context.CancelFunc
	watched chan struct{} // closed when watch returns
	once    sync.Once
}

// LeaderTry implements [store.Store] with pg_try_advisory_lock. The lock is
// keyed by name and the store's schema, and held by a dedicated connection;
// the connection is checked every Options.LeaderCheckInterval and leadership
// ends (leaderCtx is cancelled) when the check fails, since the server drops
// the lock of a broken session.
func (s *Store) LeaderTry(ctx context.Context, name string) (context.Context, func(), bool, error) {
	if name == "" {
		return nil, nil, false, errors.New("try leadership: name is required")
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, nil, false, fmt.Errorf("try leadership %s: %w", name, err)
	}
	key := lockKey(s.schema, "leader", name)
	var ok bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&ok); err != nil {
		conn.Release()
		return nil, nil, false, fmt.Errorf("try leadership %s: %w", name, err)
	}
	if !ok {
		conn.Release()
		return nil, nil, false, nil
	}

	l := &lease{s: s, conn: conn, key: key, watched: make(chan struct{})}
	l.ctx, l.cancel = context.WithCancel(ctx)
	s.mu.Lock()
	s.leaders[l] = struct{}{}
	s.mu.Unlock()
	go l.watch(s.checkInterval)
	// Leadership ends with the caller's context and with a lost connection.
	context.AfterFunc(l.ctx, l.release)
	return l.ctx, l.release, true, nil
}

// watch pings the lock connection until the lease ends; a failed ping ends it.
func (l *lease) watch(every time.Duration) {
	defer close(l.watched)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-l.ctx.Done():
			return
		case <-t.C:
			pctx, cancel := context.WithTimeout(l.ctx, every)
			err := l.conn.Ping(pctx)
			cancel()
			if err != nil {
				l.cancel()
				return
			}
		}
	}
}

// release ends the lease: it unlocks and returns the connection to the pool,
// or closes the connection (which drops the lock) if unlocking fails. It is
// idempotent and safe from any goroutine.
func (l *lease) release() {
	l.once.Do(func() {
		l.cancel()
		<-l.watched // the connection is ours alone from here
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var unlocked bool
		err := l.conn.QueryRow(ctx, "SELECT pg_advisory_unlock($1)", l.key).Scan(&unlocked)
		if err != nil || !unlocked {
			// The session may still hold the lock: end it.
			_ = l.conn.Hijack().Close(ctx)
		} else {
			l.conn.Release()
		}
		l.s.mu.Lock()
		delete(l.s.leaders, l)
		l.s.mu.Unlock()
	})
}
