package proc

import "go.opentelemetry.io/collector/pdata/pcommon"

// CPUTracker derives CPU utilization (in cores) of processes from successive
// cumulative process.cpu.time readings. It is not safe for concurrent use; a
// processor guards it with its own lock.
type CPUTracker struct {
	prev  map[Key]cpuReading
	round uint64
	// MaxIdleRounds is how many Observe rounds a process may go unseen before
	// its state is dropped (default 3).
	MaxIdleRounds uint64
}

type cpuReading struct {
	seconds float64
	ts      pcommon.Timestamp
	round   uint64
}

// NewCPUTracker returns an empty tracker.
func NewCPUTracker() *CPUTracker {
	return &CPUTracker{prev: make(map[Key]cpuReading), MaxIdleRounds: 3}
}

// Begin starts a new round (one batch of metrics).
func (t *CPUTracker) Begin() { t.round++ }

// Observe records a reading of a process and returns its utilization in cores
// since the previous reading. ok is false on the first reading of a process or
// when time did not advance; a counter that went backwards counts as a restart.
func (t *CPUTracker) Observe(k Key, seconds float64, ts pcommon.Timestamp) (cores float64, ok bool) {
	p, seen := t.prev[k]
	t.prev[k] = cpuReading{seconds: seconds, ts: ts, round: t.round}
	if !seen || ts <= p.ts {
		return 0, false
	}
	delta := seconds - p.seconds
	if delta < 0 {
		delta = seconds
	}
	return delta / (float64(ts-p.ts) / 1e9), true
}

// End forgets processes not observed for MaxIdleRounds rounds.
func (t *CPUTracker) End() {
	for k, r := range t.prev {
		if t.round-r.round > t.MaxIdleRounds {
			delete(t.prev, k)
		}
	}
}

// Len returns the number of processes tracked.
func (t *CPUTracker) Len() int { return len(t.prev) }
