package loadsim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ErrNoLoadProcess is returned by [Start] when the profile needs load
// processes of this binary (processes that burn CPU or hold memory, or any
// process when no sleep program is installed) but its main does not call
// [RunChild].
var ErrNoLoadProcess = errors.New("this executable cannot run load processes: its main does not call loadsim.RunChild")

// Timing of the simulator.
const (
	// healthyLife is how long a long-running process must live for its
	// restart to be immediate; one that ends sooner is restarted after a
	// delay that doubles each time, up to maxRestartDelay.
	healthyLife     = 2 * time.Second
	minRestartDelay = time.Second
	maxRestartDelay = 30 * time.Second
	// errorLogEvery is the least time between two logs of failed starts.
	errorLogEvery = 10 * time.Second
)

// Simulator runs the processes of a profile on this host: real child
// processes, each with its own command line and, through a private
// directory of links to their programs, an executable name of its own
// choosing (nginx, postgres, java, job-0042, ...).
//
// Idle processes run the system's sleep program (a few hundred KiB each);
// processes that burn CPU or hold memory run this binary as a load process
// (see [RunChild]). Every process is in one process group, started from one
// locked OS thread with a parent-death signal (SIGKILL), so none outlives
// the simulator even when it is killed; every one is reaped.
//
// Its own metrics, registered with [Settings.Registerer] (label profile):
//
//   - phoenix_loadsim_active_processes: processes running
//   - phoenix_loadsim_spawned_total: processes started
//   - phoenix_loadsim_reaped_total: processes ended and reaped
//   - phoenix_loadsim_spawn_errors_total: processes that could not start
//   - phoenix_loadsim_churn_rate: short-lived processes started per second (target)
//
// Its methods are safe for concurrent use.
type Simulator struct {
	cfg     Config
	prof    Profile
	log     *slog.Logger
	reg     prometheus.Registerer
	col     *collector
	dir     string // private directory of executable names
	sleep   string // the sleep program; "" runs this binary instead
	self    string // this binary
	devnull *os.File
	pid     int

	stopReq    chan struct{} // closed by Stop
	stopOnce   sync.Once
	done       chan struct{} // closed once every process is reaped
	kick       chan struct{} // wakes the reaper: a process started, or stop
	reaperDone chan struct{}

	mu          sync.Mutex
	pgid        int // 0 while no process runs
	stopping    bool
	procs       map[int]*proc // started and not yet reaped, by pid
	slots       []slot        // the long-running processes
	short       int           // short-lived processes running
	nShort      int           // short-lived processes started: index of the next
	spawned     uint64
	reaped      uint64
	spawnErrors uint64
	links       map[string]bool // links made in dir
	lastErrLog  time.Time
	started     time.Time
	stopped     time.Time
}

// proc is a process started and not yet reaped.
type proc struct {
	slot    int // index in slots, or -1 for a short-lived process
	name    string
	started time.Time
}

// slot is the place of one long-running process.
type slot struct {
	pid   int       // 0 while none runs
	next  time.Time // when to restart it
	delay time.Duration
}

// Stats is a snapshot of a simulator.
type Stats struct {
	Profile string `json:"profile"`
	// PID is the simulator's process; PGID is its processes' group (0
	// when none runs): `kill -- -PGID` ends them all.
	PID  int `json:"pid"`
	PGID int `json:"pgid"`
	// Processes are the processes running: LongRunning of them in the
	// profile's population, ShortLived started by churn.
	Processes   int `json:"processes"`
	LongRunning int `json:"long_running"`
	ShortLived  int `json:"short_lived"`
	// Spawned counts the processes started, Reaped those ended and reaped,
	// SpawnErrors those that could not start.
	Spawned     uint64 `json:"spawned"`
	Reaped      uint64 `json:"reaped"`
	SpawnErrors uint64 `json:"spawn_errors"`
	// ChurnRate is the target number of short-lived processes started per
	// second.
	ChurnRate float64   `json:"churn_rate"`
	Started   time.Time `json:"started"`
	// Stopped is when the last process was reaped; zero while running.
	Stopped time.Time `json:"stopped,omitzero"`
}

// Start validates cfg, starts the long-running processes of its profile and
// returns once they all run; churn, restarts and the optional Duration then
// go on in the background until [Simulator.Stop]. ctx bounds the start
// only. If a process cannot start, Start stops those already started and
// returns the error.
func Start(ctx context.Context, cfg Config, set Settings) (*Simulator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := supported(); err != nil {
		return nil, fmt.Errorf("start load simulator: %w", err)
	}
	prof, _ := Lookup(cfg.Profile)
	if cfg.Seed == 0 {
		cfg.Seed = rand.Uint64()
	}
	s := &Simulator{
		cfg:        cfg,
		prof:       prof,
		log:        set.Logger,
		pid:        os.Getpid(),
		sleep:      lookSleep(),
		stopReq:    make(chan struct{}),
		done:       make(chan struct{}),
		kick:       make(chan struct{}, 1),
		reaperDone: make(chan struct{}),
		procs:      map[int]*proc{},
		slots:      make([]slot, cfg.Processes),
		links:      map[string]bool{},
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if (s.sleep == "" || !cfg.IdleOnly) && !hooked.Load() {
		return nil, fmt.Errorf("start load simulator: %w", ErrNoLoadProcess)
	}
	self, err := selfExecutable()
	if err != nil {
		return nil, fmt.Errorf("start load simulator: find this executable: %w", err)
	}
	s.self = self
	removeStaleDirs(cfg.TempDir, s.log)
	s.dir, err = os.MkdirTemp(cfg.TempDir, dirPrefix+strconv.Itoa(s.pid)+"-")
	if err != nil {
		return nil, fmt.Errorf("start load simulator: %w", err)
	}
	s.devnull, err = os.Open(os.DevNull)
	if err != nil {
		_ = os.RemoveAll(s.dir)
		return nil, fmt.Errorf("start load simulator: %w", err)
	}
	if set.Registerer != nil {
		s.col = newCollector(s)
		if err := set.Registerer.Register(s.col); err != nil {
			_ = os.RemoveAll(s.dir)
			s.devnull.Close()
			return nil, fmt.Errorf("start load simulator: register metrics: %w", err)
		}
		s.reg = set.Registerer
	}
	go s.reap()
	ready := make(chan error, 1)
	go s.run(ctx, ready)
	if err := <-ready; err != nil {
		<-s.done
		return nil, fmt.Errorf("start load simulator: %w", err)
	}
	st := s.Stats()
	s.log.Info("load simulator started", "profile", cfg.Profile, "processes", st.Processes,
		"churn_rate", cfg.ChurnRate, "pgid", st.PGID, "sleep", s.sleep != "")
	return s, nil
}

// Stop kills every process, reaps them, removes the simulator's directory
// and returns once done, or when ctx ends first. It may be called more
// than once, and after the simulator stopped by itself (Duration).
func (s *Simulator) Stop(ctx context.Context) error {
	if s == nil {
		return nil
	}
	s.stopOnce.Do(func() { close(s.stopReq) })
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stop load simulator: %w", ctx.Err())
	}
}

// Done is closed once the simulator has stopped (Stop, or its Duration
// passed) and every process is reaped.
func (s *Simulator) Done() <-chan struct{} { return s.done }

// Config returns the configuration the simulator runs, with its seed.
func (s *Simulator) Config() Config { return s.cfg }

// Stats returns the simulator's counts.
func (s *Simulator) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{
		Profile:     s.cfg.Profile,
		PID:         s.pid,
		PGID:        s.pgid,
		Processes:   len(s.procs),
		LongRunning: len(s.procs) - s.short,
		ShortLived:  s.short,
		Spawned:     s.spawned,
		Reaped:      s.reaped,
		SpawnErrors: s.spawnErrors,
		ChurnRate:   s.cfg.ChurnRate,
		Started:     s.started,
		Stopped:     s.stopped,
	}
}

// run starts the population, then churns and restarts until stopped. It
// owns its OS thread for its whole life: the processes' parent-death
// signal fires when the thread that started them exits, so every process
// is started from this thread, which exits (the goroutine ends locked)
// only after they are all reaped.
func (s *Simulator) run(ctx context.Context, ready chan<- error) {
	runtime.LockOSThread()
	defer s.shutdown()
	s.mu.Lock()
	s.started = time.Now()
	s.mu.Unlock()
	for i := range s.cfg.Processes {
		if err := ctx.Err(); err != nil {
			ready <- err
			return
		}
		if err := s.spawn(s.prof.longRunning(s.cfg.Seed, i), i); err != nil {
			ready <- fmt.Errorf("process %d of %d: %w", i+1, s.cfg.Processes, err)
			return
		}
	}
	ready <- nil

	var timeout <-chan time.Time
	if s.cfg.Duration > 0 {
		t := time.NewTimer(s.cfg.Duration)
		defer t.Stop()
		timeout = t.C
	}
	every := 200 * time.Millisecond
	if s.cfg.ChurnRate > 5 {
		every = 50 * time.Millisecond
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	churnStart, churned := time.Now(), 0
	// maxBurst is half a second of churn: a simulator that fell behind (a
	// slow fork, a stalled host) skips the starts it missed rather than
	// bursting.
	maxBurst := int(s.cfg.ChurnRate/2) + 1
	for {
		select {
		case <-s.stopReq:
			return
		case <-timeout:
			s.log.Info("load simulator duration passed", "duration", s.cfg.Duration)
			return
		case now := <-tick.C:
			want := int(now.Sub(churnStart).Seconds() * s.cfg.ChurnRate)
			n := want - churned
			if n > maxBurst {
				churned, n = want-maxBurst, maxBurst
			}
			for range n {
				churned++
				s.mu.Lock()
				i := s.nShort
				s.nShort++
				s.mu.Unlock()
				s.spawnLogged(s.prof.shortLived(s.cfg.Seed, i), -1)
			}
			s.restart(now)
		}
	}
}

// restart starts again the long-running processes that ended, once their
// delay passed.
func (s *Simulator) restart(now time.Time) {
	var due []int
	s.mu.Lock()
	for i, sl := range s.slots {
		if sl.pid == 0 && !now.Before(sl.next) {
			due = append(due, i)
		}
	}
	s.mu.Unlock()
	for _, i := range due {
		if err := s.spawnLogged(s.prof.longRunning(s.cfg.Seed, i), i); err != nil {
			s.mu.Lock()
			sl := &s.slots[i]
			sl.delay = min(max(2*sl.delay, minRestartDelay), maxRestartDelay)
			sl.next = now.Add(sl.delay)
			s.mu.Unlock()
		}
	}
}

// spawnLogged is spawn, logging failures at most every errorLogEvery.
func (s *Simulator) spawnLogged(sp spec, slot int) error {
	err := s.spawn(sp, slot)
	if err != nil && !errors.Is(err, errStopping) {
		s.mu.Lock()
		now := time.Now()
		log := now.Sub(s.lastErrLog) >= errorLogEvery
		if log {
			s.lastErrLog = now
		}
		n := s.spawnErrors
		s.mu.Unlock()
		if log {
			s.log.Warn("load process did not start", "err", err, "spawn_errors", n)
		}
	}
	return err
}

var errStopping = errors.New("the simulator is stopping")

// spawn starts one process; slot is its place among the long-running
// processes, or -1. It runs on the run goroutine's locked thread.
func (s *Simulator) spawn(sp spec, slot int) error {
	if s.cfg.IdleOnly {
		sp.work = workload{kind: kindIdle, life: sp.work.life}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		return errStopping
	}
	path, argv, env, err := s.command(sp)
	if err == nil {
		var pid int
		pid, err = startProcess(path, argv, env, s.devnull.Fd(), s.pgid)
		if err == nil {
			if s.pgid == 0 {
				s.pgid = pid
			}
			s.procs[pid] = &proc{slot: slot, name: sp.name(), started: time.Now()}
			if slot >= 0 {
				s.slots[slot].pid = pid
			} else {
				s.short++
			}
			s.spawned++
			select {
			case s.kick <- struct{}{}:
			default:
			}
			return nil
		}
	}
	s.spawnErrors++
	return fmt.Errorf("start %s: %w", sp.name(), err)
}

// command returns how to start a process: the path of its link (whose
// name the kernel keeps as the executable name), its arguments and its
// environment. Idle processes run sleep, whose arguments must be
// numbers: their command line is the first argument, followed by how long
// to sleep. Others run this binary's load process.
func (s *Simulator) command(sp spec) (string, []string, []string, error) {
	if !sp.work.busy() && s.sleep != "" {
		path, err := s.link("sleep", sp.name(), s.sleep)
		length := "infinity"
		if sp.work.life > 0 {
			length = strconv.FormatFloat(sp.work.life.Seconds(), 'f', 3, 64)
		}
		return path, []string{strings.Join(sp.argv, " "), length}, nil, err
	}
	path, err := s.link("self", sp.name(), s.self)
	env := []string{childEnv + "=" + sp.work.encode(s.pid), "GOMAXPROCS=1"}
	return path, sp.argv, env, err
}

// link returns the path dir/kind/name, a symbolic link to target, making
// it the first time.
func (s *Simulator) link(kind, name, target string) (string, error) {
	path := filepath.Join(s.dir, kind, name)
	if s.links[path] {
		return path, nil
	}
	if len(name) > MaxNameLen || strings.ContainsRune(name, '/') || name == "" || name == "." || name == ".." {
		return "", fmt.Errorf("executable name %q: not a file name of at most %d bytes", name, MaxNameLen)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", err
	}
	if err := os.Symlink(target, path); err != nil {
		return "", err
	}
	s.links[path] = true
	return path, nil
}

// reap reaps the processes as they end, waiting on the process group so
// that it never reaps a child started by another part of this program.
func (s *Simulator) reap() {
	defer close(s.reaperDone)
	for {
		s.mu.Lock()
		pgid, n, stopping := s.pgid, len(s.procs), s.stopping
		s.mu.Unlock()
		if n == 0 {
			if stopping {
				return
			}
			<-s.kick
			continue
		}
		pid, err := waitGroup(pgid)
		if err != nil {
			// Only an outside wait (or a process leaving the group) takes
			// our children: forget them rather than wait forever.
			s.mu.Lock()
			lost := len(s.procs)
			if noChild(err) {
				clear(s.procs)
				s.short = 0
				for i := range s.slots {
					s.slots[i].pid = 0
				}
				s.pgid = 0
			}
			s.mu.Unlock()
			s.log.Error("load simulator lost its processes", "err", err, "pgid", pgid, "processes", lost)
			if !noChild(err) {
				return
			}
			continue
		}
		s.exited(pid)
	}
}

// exited books the end of the process pid.
func (s *Simulator) exited(pid int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.procs[pid]
	if !ok {
		return // a process whose start failed after it joined the group
	}
	delete(s.procs, pid)
	s.reaped++
	if len(s.procs) == 0 {
		// The group is empty, and its id may now be reused: the next
		// process starts a new group.
		s.pgid = 0
	}
	if p.slot < 0 {
		s.short--
		return
	}
	sl := &s.slots[p.slot]
	sl.pid = 0
	if s.stopping {
		return
	}
	now := time.Now()
	if now.Sub(p.started) < healthyLife {
		sl.delay = min(max(2*sl.delay, minRestartDelay), maxRestartDelay)
	} else {
		sl.delay = 0
	}
	sl.next = now.Add(sl.delay)
	if sl.delay > 0 {
		s.log.Warn("long-running load process ended soon after it started; restarting it later",
			"name", p.name, "pid", pid, "restart_in", sl.delay)
	}
}

// shutdown kills every process and waits until they are reaped. It runs
// on the run goroutine's locked thread.
func (s *Simulator) shutdown() {
	s.mu.Lock()
	s.stopping = true
	if len(s.procs) > 0 {
		// The group's id cannot be reused while it holds an unreaped
		// process of ours.
		if err := killGroup(s.pgid); err != nil {
			s.log.Error("load simulator could not kill its processes", "err", err)
		}
	}
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
	<-s.reaperDone
	if err := os.RemoveAll(s.dir); err != nil {
		s.log.Warn("load simulator could not remove its directory", "dir", s.dir, "err", err)
	}
	s.devnull.Close()
	if s.reg != nil {
		s.reg.Unregister(s.col)
	}
	s.mu.Lock()
	s.stopped = time.Now()
	st := Stats{Spawned: s.spawned, Reaped: s.reaped}
	s.mu.Unlock()
	s.log.Info("load simulator stopped", "spawned", st.Spawned, "reaped", st.Reaped)
	close(s.done)
}

// dirPrefix starts the name of a simulator's directory, followed by its
// pid.
const dirPrefix = "phoenix-loadsim-"

// removeStaleDirs removes the directories of simulators that were killed
// before they could.
func removeStaleDirs(tmp string, log *slog.Logger) {
	if tmp == "" {
		tmp = os.TempDir()
	}
	matches, _ := filepath.Glob(filepath.Join(tmp, dirPrefix+"*"))
	for _, m := range matches {
		rest := strings.TrimPrefix(filepath.Base(m), dirPrefix)
		pid, err := strconv.Atoi(rest[:max(strings.IndexByte(rest, '-'), 0)])
		if err != nil || pid <= 0 || pid == os.Getpid() || processAlive(pid, 0) {
			continue
		}
		if err := os.RemoveAll(m); err == nil {
			log.Debug("removed the directory of a stopped load simulator", "dir", m)
		}
	}
}

// lookSleep finds the sleep program; tests replace it.
var lookSleep = findSleep

// findSleep returns the path of a sleep program that may be started under
// another name, or "". Multi-call programs (busybox, toybox, uutils) choose
// what to do from their name, so they do not qualify.
func findSleep() string {
	candidates := []string{"/usr/bin/sleep", "/bin/sleep"}
	if path, err := exec.LookPath("sleep"); err == nil {
		candidates = append([]string{path}, candidates...)
	}
	for _, c := range candidates {
		real, err := filepath.EvalSymlinks(c)
		if err != nil || filepath.Base(real) != "sleep" {
			continue
		}
		if abs, err := filepath.Abs(real); err == nil {
			return abs
		}
	}
	return ""
}
