package loadsim

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"time"
)

// childEnv is the environment variable that makes the phoenix binary a load
// process: it holds the process's workload, encoded by workload.encode.
const childEnv = "PHOENIX_LOADSIM_CHILD"

// hooked records that this binary's main calls RunChild, so that the
// simulator may start it as a load process.
var hooked atomic.Bool

// RunChild runs this process as a load process when the simulator started
// it: it does the work it was given until its lifetime ends or its parent
// goes away, and returns its exit code with ok true. Otherwise it returns at
// once with ok false. main calls it first, before anything else:
//
//	if code, ok := loadsim.RunChild(); ok {
//		os.Exit(code)
//	}
//
// A binary whose main does not call it can still run a simulator, but only
// with processes that need no load process of its own (idle ones, when a
// sleep program is installed).
func RunChild() (code int, ok bool) {
	hooked.Store(true)
	v, set := os.LookupEnv(childEnv)
	if !set {
		return 0, false
	}
	w, ppid, err := decodeWorkload(v)
	if err != nil {
		fmt.Fprintf(os.Stderr, "phoenix load process: %s: %v\n", childEnv, err)
		return 2, true
	}
	if os.Getppid() != ppid {
		fmt.Fprintf(os.Stderr, "phoenix load process: %s is set but this process was not started by the load simulator (pid %d)\n", childEnv, ppid)
		return 2, true
	}
	w.run(ppid, time.Now)
	return 0, true
}

// Kinds of workload.
const (
	kindIdle     = "idle"     // sleeps
	kindCPU      = "cpu"      // burns a steady share of a core
	kindSpiky    = "spiky"    // sleeps, then burns a large share of a core for a few seconds
	kindMemory   = "memory"   // holds memory
	kindSawtooth = "sawtooth" // grows its memory over a period, frees it, and again
)

// workload is what one load process does.
type workload struct {
	kind string
	// duty is the share of one core burnt steadily, 0 to 1.
	duty float64
	// spikeDuty is the share burnt for spikeFor every spikeEvery.
	spikeDuty  float64
	spikeEvery time.Duration
	spikeFor   time.Duration
	// memory is the memory held (memory), or the peak (sawtooth), in bytes.
	memory int64
	// period is the sawtooth's period.
	period time.Duration
	// life is how long the process lives; 0 is until it is stopped.
	life time.Duration
}

// busy reports whether the workload needs a load process of the phoenix
// binary: every kind but idle does.
func (w workload) busy() bool { return w.kind != kindIdle }

// encode returns the value of childEnv for a process of the simulator
// whose pid is ppid.
func (w workload) encode(ppid int) string {
	v := url.Values{}
	v.Set("ppid", strconv.Itoa(ppid))
	v.Set("kind", w.kind)
	set := func(k string, x float64) {
		if x != 0 {
			v.Set(k, strconv.FormatFloat(x, 'g', -1, 64))
		}
	}
	setDur := func(k string, d time.Duration) {
		if d != 0 {
			v.Set(k, d.String())
		}
	}
	set("duty", w.duty)
	set("spike_duty", w.spikeDuty)
	setDur("spike_every", w.spikeEvery)
	setDur("spike_for", w.spikeFor)
	if w.memory != 0 {
		v.Set("memory", strconv.FormatInt(w.memory, 10))
	}
	setDur("period", w.period)
	setDur("life", w.life)
	return v.Encode()
}

// decodeWorkload reads a value of childEnv.
func decodeWorkload(s string) (workload, int, error) {
	v, err := url.ParseQuery(s)
	if err != nil {
		return workload{}, 0, err
	}
	var (
		w    workload
		errs []error
	)
	ppid, err := strconv.Atoi(v.Get("ppid"))
	if err != nil || ppid <= 1 {
		errs = append(errs, fmt.Errorf("ppid %q: not a parent pid", v.Get("ppid")))
	}
	w.kind = v.Get("kind")
	switch w.kind {
	case kindIdle, kindCPU, kindSpiky, kindMemory, kindSawtooth:
	default:
		errs = append(errs, fmt.Errorf("kind %q: unknown", w.kind))
	}
	float := func(k string, dst *float64) {
		if s := v.Get(k); s != "" {
			x, err := strconv.ParseFloat(s, 64)
			if err != nil || x < 0 || x > 1 {
				errs = append(errs, fmt.Errorf("%s %q: want a share between 0 and 1", k, s))
			}
			*dst = x
		}
	}
	dur := func(k string, dst *time.Duration) {
		if s := v.Get(k); s != "" {
			d, err := time.ParseDuration(s)
			if err != nil || d < 0 {
				errs = append(errs, fmt.Errorf("%s %q: want a duration", k, s))
			}
			*dst = d
		}
	}
	float("duty", &w.duty)
	float("spike_duty", &w.spikeDuty)
	dur("spike_every", &w.spikeEvery)
	dur("spike_for", &w.spikeFor)
	dur("period", &w.period)
	dur("life", &w.life)
	if s := v.Get("memory"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 || n > 1<<34 {
			errs = append(errs, fmt.Errorf("memory %q: want bytes, at most 16 GiB", s))
		}
		w.memory = n
	}
	return w, ppid, errors.Join(errs...)
}

// Timing of load processes.
const (
	// busyTick is the cycle of the CPU duty: a process with duty d burns
	// d*busyTick, then sleeps the rest.
	busyTick = 100 * time.Millisecond
	// idleTick is how often an idle load process checks its parent.
	idleTick = time.Second
	// pageSize is the stride at which held memory is touched.
	pageSize = 4096
	// chunkSize is the unit in which a sawtooth grows.
	chunkSize = 1 << 20
)

// run does the workload until its lifetime ends or the parent ppid goes
// away.
func (w workload) run(ppid int, now func() time.Time) {
	start := now()
	// Spikes start at a phase of their own, so that processes started
	// together do not spike together.
	var spikeOffset time.Duration
	if w.spikeEvery > 0 {
		spikeOffset = time.Duration(os.Getpid()%997) * w.spikeEvery / 997
	}
	var held [][]byte
	defer runtime.KeepAlive(&held)
	hold := func(target int64) {
		have := int64(len(held)) * chunkSize
		switch {
		case target > have:
			for ; have < target; have += chunkSize {
				b := make([]byte, chunkSize)
				for i := 0; i < len(b); i += pageSize {
					b[i] = 1
				}
				held = append(held, b)
			}
		case target == 0 && have > 0:
			held = nil
			debug.FreeOSMemory()
		}
	}
	for {
		if os.Getppid() != ppid {
			return
		}
		elapsed := now().Sub(start)
		if w.life > 0 && elapsed >= w.life {
			return
		}
		duty := w.duty
		switch w.kind {
		case kindSpiky:
			if w.spikeEvery > 0 && (elapsed+spikeOffset)%w.spikeEvery < w.spikeFor {
				duty = w.spikeDuty
			}
		case kindMemory:
			hold(w.memory)
		case kindSawtooth:
			if w.period > 0 {
				phase := float64(elapsed%w.period) / float64(w.period)
				target := int64(phase * float64(w.memory))
				if phase < 0.05 {
					target = 0 // the drop of the sawtooth
				}
				hold(target)
			}
		}
		tick := busyTick
		if duty == 0 && w.kind != kindSpiky && w.kind != kindSawtooth {
			tick = idleTick
		}
		if w.life > 0 {
			tick = min(tick, w.life-elapsed)
		}
		burn(time.Duration(duty*float64(tick)), now)
		time.Sleep(tick - time.Duration(duty*float64(tick)))
	}
}

// sink keeps burn's arithmetic from being optimized away.
var sink atomic.Uint64

// burn keeps a core busy for d.
func burn(d time.Duration, now func() time.Time) {
	if d <= 0 {
		return
	}
	end := now().Add(d)
	x := uint64(1)
	for now().Before(end) {
		for range 1000 {
			x = x*6364136223846793005 + 1442695040888963407
		}
	}
	sink.Add(x)
}
