// Package experiment is the A/B experiment: its specification, its state
// machine, and the controller that drives experiments through their states.
//
// States and transitions:
//
//	draft -> deploying -> running -> analyzing -> completed -> promoted
//	deploying | running | analyzing -> cancelled | failed
//	draft -> cancelled
//	promoted -> completed (rollback of the promotion)
//
// Every transition is a compare-and-set in the store that records an
// experiment_events row in the same transaction, before any side effect, so
// a restarted server resumes where it stopped and never performs a
// transition twice.
package experiment

import "fmt"

// State is the lifecycle state of an experiment.
type State string

// Experiment states.
const (
	StateDraft     State = "draft"
	StateDeploying State = "deploying"
	StateRunning   State = "running"
	StateAnalyzing State = "analyzing"
	StateCompleted State = "completed"
	StatePromoted  State = "promoted"
	StateCancelled State = "cancelled"
	StateFailed    State = "failed"
)

// States lists every state in lifecycle order.
var States = []State{StateDraft, StateDeploying, StateRunning, StateAnalyzing, StateCompleted, StatePromoted, StateCancelled, StateFailed}

// transitions is the explicit transition table: from -> allowed targets.
var transitions = map[State][]State{
	StateDraft:     {StateDeploying, StateCancelled},
	StateDeploying: {StateRunning, StateCancelled, StateFailed},
	StateRunning:   {StateAnalyzing, StateCancelled, StateFailed},
	StateAnalyzing: {StateCompleted, StateCancelled, StateFailed},
	StateCompleted: {StatePromoted},
	// Rolling a promotion back returns the experiment to completed: its
	// verdict stands and it may be promoted again.
	StatePromoted: {StateCompleted},
}

// CanTransition reports whether from -> to is in the transition table.
func CanTransition(from, to State) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// Targets returns the states reachable from s in one transition.
func Targets(s State) []State { return append([]State(nil), transitions[s]...) }

// Active reports whether the controller drives experiments in s.
func (s State) Active() bool {
	return s == StateDeploying || s == StateRunning || s == StateAnalyzing
}

// Finished reports whether the experiment is over: completed, promoted,
// cancelled or failed.
func (s State) Finished() bool {
	return s == StateCompleted || s == StatePromoted || s == StateCancelled || s == StateFailed
}

// Valid reports whether s is a known state.
func (s State) Valid() bool {
	for _, v := range States {
		if v == s {
			return true
		}
	}
	return false
}

// ParseState parses a state name.
func ParseState(s string) (State, error) {
	if st := State(s); st.Valid() {
		return st, nil
	}
	return "", fmt.Errorf("unknown experiment state %q", s)
}
