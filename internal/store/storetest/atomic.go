package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phoenix/platform/internal/store"
)

func testAtomic(t *testing.T, newStore NewStore) {
	s := newStore(t)
	c := ctx(t)
	a, _ := twoTenants(t, s)
	create := func(ctx context.Context, name string) (*store.Experiment, error) {
		return s.ExperimentCreate(ctx, &store.ExperimentCreateParams{TenantID: a, Name: name, State: "draft"})
	}
	audits := func() int {
		page, err := s.AuditLogList(c, &store.AuditLogListParams{TenantID: a})
		require.NoError(t, err)
		return len(page.Items)
	}

	// Committed: the writes, reads of them inside, a transition (itself a
	// transaction) and a nested Atomic all land together.
	var id string
	err := s.Atomic(c, func(ctx context.Context) error {
		e, err := create(ctx, "committed")
		if err != nil {
			return err
		}
		id = e.ID
		got, err := s.ExperimentGet(ctx, a, e.ID)
		require.NoError(t, err, "a read inside sees the transaction's write")
		require.Equal(t, e, got)
		if _, _, err := s.ExperimentTransition(ctx, &store.ExperimentTransitionParams{
			TenantID: a, ID: e.ID, From: "draft", To: "deploying", Actor: "test",
		}); err != nil {
			return err
		}
		events, err := s.ExperimentEventList(ctx, a, e.ID)
		require.NoError(t, err)
		require.Len(t, events, 1)
		return s.Atomic(ctx, func(ctx context.Context) error {
			_, err := s.AuditLogAppend(ctx, &store.AuditLogAppendParams{TenantID: a, Actor: "test", Action: "experiment.create", ResourceType: "experiment", ResourceID: e.ID})
			return err
		})
	})
	require.NoError(t, err)
	got, err := s.ExperimentGet(c, a, id)
	require.NoError(t, err)
	require.Equal(t, "deploying", got.State)
	require.Equal(t, 1, audits())

	// Rolled back: an error from fn undoes every write made inside.
	boom := errors.New("boom")
	err = s.Atomic(c, func(ctx context.Context) error {
		e, err := create(ctx, "rolled back")
		if err != nil {
			return err
		}
		id = e.ID
		if _, err := s.AuditLogAppend(ctx, &store.AuditLogAppendParams{TenantID: a, Actor: "test", Action: "experiment.create"}); err != nil {
			return err
		}
		return boom
	})
	require.ErrorIs(t, err, boom)
	_, err = s.ExperimentGet(c, a, id)
	require.ErrorIs(t, err, store.ErrNotFound)
	require.Equal(t, 1, audits())

	// A panic rolls back too, and leaves the store usable.
	require.Panics(t, func() {
		_ = s.Atomic(c, func(ctx context.Context) error {
			e, err := create(ctx, "panicked")
			require.NoError(t, err)
			id = e.ID
			panic("boom")
		})
	})
	_, err = s.ExperimentGet(c, a, id)
	require.ErrorIs(t, err, store.ErrNotFound)

	// An Idempotency-Key claimed and recorded inside commits with the
	// rest; the next claim of the key finds the record.
	claim := func(ctx context.Context) (*store.IdempotencyRecord, bool, error) {
		return s.IdempotencyClaim(ctx, &store.IdempotencyClaimParams{
			TenantID: a, Key: "k-atomic", RequestHash: "h", ExpiresAt: time.Now().Add(time.Minute),
		})
	}
	err = s.Atomic(c, func(ctx context.Context) error {
		_, claimed, err := claim(ctx)
		if err != nil {
			return err
		}
		require.True(t, claimed)
		e, err := create(ctx, "with key")
		if err != nil {
			return err
		}
		id = e.ID
		_, err = s.IdempotencyPut(ctx, &store.IdempotencyPutParams{
			TenantID: a, Key: "k-atomic", RequestHash: "h", ResponseStatus: 201, ResponseBody: []byte(e.ID), ExpiresAt: time.Now().Add(time.Hour),
		})
		return err
	})
	require.NoError(t, err)
	err = s.Atomic(c, func(ctx context.Context) error {
		prev, claimed, err := claim(ctx)
		require.NoError(t, err)
		require.False(t, claimed)
		require.Equal(t, 201, prev.ResponseStatus)
		require.Equal(t, id, string(prev.ResponseBody))
		return nil
	})
	require.NoError(t, err)

	// Until it commits, a transaction's writes are its own; concurrent
	// Atomic calls each commit whole.
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Atomic(c, func(ctx context.Context) error {
				e, err := create(ctx, "concurrent")
				if err != nil {
					return err
				}
				time.Sleep(time.Millisecond)
				_, err = s.AuditLogAppend(ctx, &store.AuditLogAppendParams{TenantID: a, Actor: "test", Action: "experiment.create", ResourceType: "experiment", ResourceID: e.ID})
				return err
			})
		}()
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, 9, audits())
}
