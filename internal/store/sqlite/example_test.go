package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/phoenix/platform/internal/store"
	"github.com/phoenix/platform/internal/store/sqlite"
)

// Open a store under a data directory, create an experiment and move it
// through a transition; a second, stale attempt at the same transition is
// refused with the state the experiment is in.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "phoenix-example-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	s, err := sqlite.Open(ctx, sqlite.DefaultOptions(dir))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	tenant, _ := s.TenantCreate(ctx, &store.TenantCreateParams{ID: "default", Name: "default"})
	e, _ := s.ExperimentCreate(ctx, &store.ExperimentCreateParams{TenantID: tenant.ID, Name: "topk vs baseline", State: "draft"})

	e, ev, err := s.ExperimentTransition(ctx, &store.ExperimentTransitionParams{
		TenantID: tenant.ID, ID: e.ID, From: "draft", To: "deploying", Actor: "alice", SetStarted: true,
	})
	fmt.Println(e.State, e.Version, ev.From+" -> "+ev.To, err)

	_, _, err = s.ExperimentTransition(ctx, &store.ExperimentTransitionParams{
		TenantID: tenant.ID, ID: e.ID, From: "draft", To: "deploying", Actor: "bob",
	})
	var te *store.TransitionError
	fmt.Println(errors.Is(err, store.ErrStateConflict), errors.As(err, &te) && te.Current == "deploying")

	_, err = s.ExperimentGet(ctx, "another-tenant", e.ID)
	fmt.Println(errors.Is(err, store.ErrNotFound))
	// Output:
	// deploying 2 draft -> deploying <nil>
	// true true
	// true
}
