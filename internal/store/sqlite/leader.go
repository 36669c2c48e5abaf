package sqlite

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// held records the leaderships taken in this process, keyed by database file
// and name, so two stores opened on the same file still elect one leader.
var held = struct {
	sync.Mutex
	m map[string]struct{}
}{m: make(map[string]struct{})}

// LeaderTry implements [store.Store]. SQLite mode runs in one process, so the
// first contender for a name on a database file leads until it releases; a
// second contender in the same process is refused meanwhile.
func (s *Store) LeaderTry(ctx context.Context, name string) (context.Context, func(), bool, error) {
	if name == "" {
		return nil, nil, false, errors.New("try leadership: name is required")
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, false, fmt.Errorf("try leadership %s: %w", name, err)
	}
	key := s.path + "\x00" + name

	held.Lock()
	if _, taken := held.m[key]; taken {
		held.Unlock()
		return nil, nil, false, nil
	}
	held.m[key] = struct{}{}
	held.Unlock()

	leaderCtx, cancel := context.WithCancel(ctx)
	var once sync.Once
	release := func() {
		once.Do(func() {
			cancel()
			held.Lock()
			delete(held.m, key)
			held.Unlock()
			s.mu.Lock()
			delete(s.leaders, name)
			s.mu.Unlock()
		})
	}
	s.mu.Lock()
	s.leaders[name] = release
	s.mu.Unlock()
	// Leadership ends with the caller's context too.
	context.AfterFunc(leaderCtx, release)
	return leaderCtx, release, true, nil
}
