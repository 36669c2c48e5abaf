package loadsim

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"testing"

	"go.uber.org/goleak"
)

// testSimulatorEnv makes the test binary a simulator (see runTestSimulator)
// instead of running the tests, for the tests that signal or kill one.
const testSimulatorEnv = "PHOENIX_LOADSIM_TEST_SIMULATOR"

func TestMain(m *testing.M) {
	if code, ok := RunChild(); ok {
		os.Exit(code)
	}
	if spec, ok := os.LookupEnv(testSimulatorEnv); ok {
		os.Exit(runTestSimulator(spec))
	}
	goleak.VerifyTestMain(m)
}

// testSimulator is what a test simulator runs.
type testSimulator struct {
	Profile   string  `json:"profile"`
	Processes int     `json:"processes"`
	ChurnRate float64 `json:"churn_rate"`
	StateDir  string  `json:"state_dir"`
	TempDir   string  `json:"temp_dir"`
}

// runTestSimulator runs a simulator until SIGTERM, as `phoenix loadsim
// start` does: it claims the state directory, prints "pgid N" once its
// processes run, and stops them when terminated.
func runTestSimulator(spec string) int {
	var ts testSimulator
	if err := json.Unmarshal([]byte(spec), &ts); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	cfg, err := NewConfig(ts.Profile)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	cfg.Processes, cfg.ChurnRate, cfg.TempDir, cfg.Seed = ts.Processes, ts.ChurnRate, ts.TempDir, 7
	var claim *Claim
	if ts.StateDir != "" {
		if claim, err = ClaimState(ts.StateDir, State{Profile: cfg.Profile}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer claim.Release()
	}
	sim, err := Start(ctx, cfg, Settings{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	st := sim.Stats()
	if claim != nil {
		if err := claim.Update(State{Profile: cfg.Profile, PGID: st.PGID, Processes: st.Processes}); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}
	fmt.Printf("pgid %d\n", st.PGID)
	<-ctx.Done()
	if err := sim.Stop(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}
