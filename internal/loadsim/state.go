package loadsim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// StateFile is the name of the file a running simulator keeps in its state
// directory, so that another command can find and stop it.
const StateFile = "loadsim.json"

// Errors of the state directory.
var (
	// ErrRunning: another simulator already runs with this state
	// directory (the error is a *RunningError).
	ErrRunning = errors.New("a load simulator is already running")
	// ErrNotRunning: no simulator runs with this state directory.
	ErrNotRunning = errors.New("no load simulator is running")
)

// State describes a running simulator.
type State struct {
	// PID is the simulator's process; StartTime is its start time in the
	// kernel's clock ticks after boot, which tells a reused pid.
	PID       int    `json:"pid"`
	StartTime uint64 `json:"start_time"`
	Profile   string `json:"profile"`
	// PGID is its processes' group: `kill -- -PGID` ends them all.
	PGID      int `json:"pgid,omitempty"`
	Processes int `json:"processes,omitempty"`
	// MetricsURL is where its own metrics are served, if anywhere.
	MetricsURL string    `json:"metrics_url,omitempty"`
	StartedAt  time.Time `json:"started_at"`
}

// RunningError is ErrRunning with the state of the simulator that runs.
type RunningError struct{ State State }

func (e *RunningError) Error() string {
	return fmt.Sprintf("%v (pid %d, profile %s)", ErrRunning, e.State.PID, e.State.Profile)
}

func (e *RunningError) Unwrap() error { return ErrRunning }

// Claim is this process's hold on a state directory.
type Claim struct {
	path  string
	state State
}

// ClaimState makes dir (and its parents) and writes st there as the state
// of this process, with PID and StartTime set. It fails with a
// *RunningError when a live simulator holds dir; a state left by one that
// died is replaced.
func ClaimState(dir string, st State) (*Claim, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("claim load simulator state: %w", err)
	}
	st.PID = os.Getpid()
	start, err := startTime(st.PID)
	if err != nil {
		return nil, fmt.Errorf("claim load simulator state: %w", err)
	}
	st.StartTime = start
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("claim load simulator state: %w", err)
	}
	path := filepath.Join(dir, StateFile)
	for range 2 {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, fs.ErrExist) {
			other, rerr := readState(path)
			if rerr == nil && processAlive(other.PID, other.StartTime) {
				return nil, &RunningError{State: other}
			}
			if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("claim load simulator state: remove stale %s: %w", path, err)
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("claim load simulator state: %w", err)
		}
		_, err = f.Write(append(b, '\n'))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			_ = os.Remove(path)
			return nil, fmt.Errorf("claim load simulator state: %w", err)
		}
		return &Claim{path: path, state: st}, nil
	}
	return nil, fmt.Errorf("claim load simulator state: %s keeps coming back", path)
}

// Update rewrites the state (PID and StartTime stay this process's).
func (c *Claim) Update(st State) error {
	st.PID, st.StartTime = c.state.PID, c.state.StartTime
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("update load simulator state: %w", err)
	}
	tmp := c.path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("update load simulator state: %w", err)
	}
	if err := os.Rename(tmp, c.path); err != nil {
		return fmt.Errorf("update load simulator state: %w", err)
	}
	c.state = st
	return nil
}

// Release removes the state file if it still is this process's. It may
// be called more than once.
func (c *Claim) Release() error {
	st, err := readState(c.path)
	if err != nil || st.PID != c.state.PID || st.StartTime != c.state.StartTime {
		return nil
	}
	if err := os.Remove(c.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("release load simulator state: %w", err)
	}
	return nil
}

// ReadState returns the state of the simulator running with dir, or
// ErrNotRunning.
func ReadState(dir string) (State, error) {
	st, err := readState(filepath.Join(dir, StateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return State{}, ErrNotRunning
	}
	if err != nil {
		return State{}, err
	}
	if !processAlive(st.PID, st.StartTime) {
		return st, ErrNotRunning
	}
	return st, nil
}

func readState(path string) (State, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return State{}, err
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return State{}, fmt.Errorf("read %s: %w", path, err)
	}
	if st.PID <= 0 {
		return State{}, fmt.Errorf("read %s: no pid", path)
	}
	return st, nil
}

// stopPoll is how often StopRunning checks whether the simulator ended.
const stopPoll = 50 * time.Millisecond

// StopRunning asks the simulator running with dir to stop (SIGTERM) and
// waits until it has ended, or ctx ends. It returns ErrNotRunning, and
// removes a stale state file, when none runs.
func StopRunning(ctx context.Context, dir string) (State, error) {
	st, err := ReadState(dir)
	if errors.Is(err, ErrNotRunning) && st.PID != 0 {
		_ = os.Remove(filepath.Join(dir, StateFile))
	}
	if err != nil {
		return st, err
	}
	if err := terminate(st.PID); err != nil {
		return st, fmt.Errorf("stop load simulator %d: %w", st.PID, err)
	}
	t := time.NewTicker(stopPoll)
	defer t.Stop()
	for processAlive(st.PID, st.StartTime) {
		select {
		case <-ctx.Done():
			return st, fmt.Errorf("stop load simulator %d: still running: %w", st.PID, ctx.Err())
		case <-t.C:
		}
	}
	return st, nil
}
