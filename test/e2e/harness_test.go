package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix/platform/internal/api"
)

// tb is what the helpers need of a test: *testing.T, or the
// *assert.CollectT of one round of require.EventuallyWithT.
type tb interface {
	Errorf(format string, args ...any)
	FailNow()
}

func helper(t tb) {
	if h, ok := t.(interface{ Helper() }); ok {
		h.Helper()
	}
}

// Timeouts of the harness.
const (
	// commandTimeout bounds one CLI command.
	commandTimeout = 2 * time.Minute
	// startTimeout bounds a start of phoenix dev until its agent runs its
	// first configuration.
	startTimeout = 90 * time.Second
	// stopTimeout bounds a graceful stop of a subprocess.
	stopTimeout = 30 * time.Second
	// tick is the polling interval of require.EventuallyWithT.
	tick = 2 * time.Second
)

// hostLoad lets the tests share the host's process table: tests that load
// it hold a read lock while their load runs; a test that needs the process
// count to itself (the adaptive filter) holds the write lock.
var hostLoad sync.RWMutex

// shareHost holds the host's process table shared until t ends.
func shareHost(t *testing.T) {
	t.Helper()
	hostLoad.RLock()
	t.Cleanup(hostLoad.RUnlock)
}

// ownHost holds the host's process table alone until t ends.
func ownHost(t *testing.T) {
	t.Helper()
	start := time.Now()
	hostLoad.Lock()
	t.Cleanup(hostLoad.Unlock)
	if d := time.Since(start); d > time.Second {
		t.Logf("waited %s for the other tests' loads to stop", d.Round(time.Second))
	}
}

// proc is a subprocess in its own process group, whose output goes to
// files under the test's directory.
type proc struct {
	name    string
	cmd     *exec.Cmd
	stdout  *capture
	errPath string
	done    chan struct{}
	err     error // of Wait, once done is closed
}

// capture keeps what a subprocess writes, in memory and in a file.
type capture struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	file *os.File
}

func (c *capture) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf.Write(p)
	return c.file.Write(p)
}

func (c *capture) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

// startProc starts bin with args in its own process group; stdout is kept
// in memory and in dir/name.out, stderr in dir/name.err. The cleanup of
// owner (t or a test enclosing it) stops the process, kills what is left
// of its group and prints its output if owner failed.
func startProc(t, owner *testing.T, dir, name string, env []string, args ...string) *proc {
	t.Helper()
	out, err := os.Create(filepath.Join(dir, name+".out"))
	require.NoError(t, err)
	errFile, err := os.Create(filepath.Join(dir, name+".err"))
	require.NoError(t, err)
	p := &proc{name: name, stdout: &capture{file: out}, errPath: errFile.Name(), done: make(chan struct{})}
	p.cmd = exec.Command(phoenixBin, args...)
	p.cmd.Env = env
	p.cmd.Stdout = p.stdout
	p.cmd.Stderr = errFile
	p.cmd.SysProcAttr = procAttr()
	require.NoError(t, p.cmd.Start(), "start %s", name)
	go func() {
		p.err = p.cmd.Wait()
		_ = out.Close()
		_ = errFile.Close()
		close(p.done)
	}()
	owner.Cleanup(func() {
		p.kill(owner)
		p.dump(owner)
	})
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// terminate sends SIGTERM and waits for the exit; it reports whether the
// process exited within stopTimeout.
func (p *proc) terminate() bool {
	if p.exited() {
		return true
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return true
	case <-time.After(stopTimeout):
		return false
	}
}

// kill stops the process gracefully if it still runs, then kills what is
// left of its process group.
func (p *proc) kill(t *testing.T) {
	if !p.terminate() {
		t.Errorf("%s did not exit within %s of SIGTERM; killing its process group", p.name, stopTimeout)
	}
	killGroup(p.cmd.Process.Pid)
	<-p.done
}

// killGroup kills the processes of group pgid, if any is left.
func killGroup(pgid int) {
	if pgid <= 1 {
		return
	}
	if syscall.Kill(-pgid, 0) == nil {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	}
}

// tail returns the last n bytes of the file at path.
func tail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err.Error()
	}
	off := max(st.Size()-n, 0)
	b := make([]byte, st.Size()-off)
	if _, err := f.ReadAt(b, off); err != nil {
		return err.Error()
	}
	if off > 0 {
		return fmt.Sprintf("[... %d bytes before]\n%s", off, b)
	}
	return string(b)
}

// dump prints the subprocess's output when t failed.
func (p *proc) dump(t *testing.T) {
	if !t.Failed() {
		return
	}
	t.Logf("---- %s stdout ----\n%s", p.name, p.stdout.String())
	t.Logf("---- %s stderr (tail) ----\n%s", p.name, tail(p.errPath, 16<<10))
}

// dev is a `phoenix dev` of one test: the server and an agent for this host.
type dev struct {
	// owner is the test that started the server: the server lives until
	// it ends, also when a subtest restarts it.
	owner    *testing.T
	dir      string
	dataDir  string
	interval time.Duration
	host     string
	url      string
	key      string
	starts   int
	proc     *proc
	started  time.Time
}

// startDev starts `phoenix dev` on a free port with a fresh data directory
// and the given collection interval, and waits until its agent runs the
// first configuration.
func startDev(t *testing.T, interval time.Duration) *dev {
	t.Helper()
	host, err := os.Hostname()
	require.NoError(t, err)
	dir := t.TempDir()
	d := &dev{owner: t, dir: dir, dataDir: filepath.Join(dir, "data"), interval: interval, host: host}
	d.start(t)
	return d
}

var (
	devAPI = regexp.MustCompile(`Phoenix dev: API (http://\S+)/api/v1`)
	devKey = regexp.MustCompile(`export PHOENIX_API_KEY=(phx_\S+)`)
)

// start starts the process (again, on the same data directory) and waits
// until the agent runs its configuration.
func (d *dev) start(t *testing.T) {
	t.Helper()
	d.starts++
	d.started = time.Now()
	p := startProc(t, d.owner, d.dir, fmt.Sprintf("dev-%d", d.starts), cleanEnv(d.dir),
		"dev", "--listen", "127.0.0.1:0", "--data-dir", d.dataDir,
		"--collection-interval", d.interval.String(), "--controller-interval", "1s")
	d.proc = p
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		require.False(c, p.exited(), "phoenix dev exited: %v", p.err)
		require.Regexp(c, devAPI, p.stdout.String())
	}, startTimeout, 100*time.Millisecond, "phoenix dev did not print its API address")
	d.url = devAPI.FindStringSubmatch(p.stdout.String())[1]
	if m := devKey.FindStringSubmatch(p.stdout.String()); m != nil {
		d.key = m[1]
	}
	require.NotEmpty(t, d.key, "phoenix dev printed no admin key on its first start")
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		resp, err := http.Get(d.url + "/readyz")
		require.NoError(c, err)
		resp.Body.Close()
		require.Equal(c, http.StatusOK, resp.StatusCode)
	}, startTimeout, 200*time.Millisecond, "phoenix dev did not become ready")
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		h := d.hostStatus(c)
		require.Equal(c, "applied", h.Status)
	}, startTimeout, 500*time.Millisecond, "the agent of phoenix dev did not apply its configuration")
	t.Logf("phoenix dev #%d at %s ready with its agent in %s", d.starts, d.url, time.Since(d.started).Round(100*time.Millisecond))
}

// stop stops the process with SIGTERM and requires a clean exit.
func (d *dev) stop(t *testing.T) {
	t.Helper()
	require.True(t, d.proc.terminate(), "phoenix dev did not exit within %s of SIGTERM", stopTimeout)
	require.NoError(t, d.proc.err, "phoenix dev exit status after SIGTERM")
}

// cleanEnv is the environment of the subprocesses: this one's without
// PHOENIX_* settings, with a CLI config directory of the test's own.
func cleanEnv(dir string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PHOENIX_") && !strings.HasPrefix(kv, "XDG_CONFIG_HOME=") {
			env = append(env, kv)
		}
	}
	return append(env, "XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
}

// result is what a CLI command did.
type result struct {
	args           []string
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("phoenix %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(r.args, " "), r.code, r.stdout, r.stderr)
}

// run runs the CLI against the server.
func (d *dev) run(t tb, args ...string) result {
	helper(t)
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, phoenixBin, args...)
	cmd.Env = append(cleanEnv(d.dir), "PHOENIX_SERVER="+d.url, "PHOENIX_API_KEY="+d.key)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{args: args, stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		require.NoError(t, err, "run phoenix %s", strings.Join(args, " "))
	}
	return r
}

// json runs the CLI with -o json, requires success and decodes the output
// into v.
func (d *dev) json(t tb, v any, args ...string) {
	helper(t)
	r := d.run(t, append(args, "-o", "json")...)
	require.Equal(t, 0, r.code, "%s", r)
	require.NoError(t, json.Unmarshal([]byte(r.stdout), v), "decode the output of %s", r)
}

// hostStatus is this host's row of `phoenix pipeline status`.
func (d *dev) hostStatus(t tb) api.Host {
	helper(t)
	var list api.HostList
	d.json(t, &list, "pipeline", "status", "--host", d.host)
	require.Len(t, list.Items, 1, "hosts in pipeline status")
	return list.Items[0]
}

// hostConfig is what `phoenix pipeline get-config` says this host should run.
func (d *dev) hostConfig(t tb) api.HostConfig {
	helper(t)
	var hc api.HostConfig
	d.json(t, &hc, "pipeline", "get-config", "--host", d.host)
	return hc
}

// load is a `phoenix loadsim start` running in the background.
type load struct {
	proc     *proc
	stateDir string
	pgid     int
	stopOnce sync.Once
}

var loadStarted = regexp.MustCompile(`Load simulator started: .* process group (\d+)\)`)

// startLoad runs a load profile on this host until t ends (or stop).
// args are further loadsim start flags.
func startLoad(t *testing.T, d *dev, profile string, args ...string) *load {
	t.Helper()
	l := &load{stateDir: filepath.Join(d.dir, "loadsim-"+profile)}
	argv := append([]string{"loadsim", "start", "--profile", profile, "--state-dir", l.stateDir,
		"--seed", "20240601", "--report-interval", "10s"}, args...)
	l.proc = startProc(t, t, d.dir, "loadsim-"+profile, cleanEnv(d.dir), argv...)
	t.Cleanup(func() { l.stop(t) })
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		require.False(c, l.proc.exited(), "loadsim exited: %v", l.proc.err)
		require.Regexp(c, loadStarted, l.proc.stdout.String())
	}, startTimeout, 100*time.Millisecond, "loadsim did not start")
	l.pgid, _ = strconv.Atoi(loadStarted.FindStringSubmatch(l.proc.stdout.String())[1])
	t.Logf("load %s running (process group %d)", strings.Join(append([]string{profile}, args...), " "), l.pgid)
	return l
}

// stop stops the load with `phoenix loadsim stop` and waits until its
// processes are gone; whatever is left is killed.
func (l *load) stop(t *testing.T) {
	l.stopOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), stopTimeout+15*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, phoenixBin, "loadsim", "stop", "--state-dir", l.stateDir, "--timeout", stopTimeout.String())
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("phoenix loadsim stop: %v\n%s", err, out)
		}
		select {
		case <-l.proc.done:
		case <-time.After(stopTimeout):
			t.Errorf("loadsim did not exit within %s of loadsim stop", stopTimeout)
		}
		killGroup(l.pgid)
		l.proc.kill(t)
	})
}

// experimentStatus is `phoenix experiment status ID`.
func (d *dev) experimentStatus(t tb, id string) api.Experiment {
	helper(t)
	var e api.Experiment
	d.json(t, &e, "experiment", "status", id)
	return e
}

// terminal reports whether an experiment state is final for a test.
func terminal(state string) bool {
	switch state {
	case "completed", "promoted", "failed", "cancelled":
		return true
	}
	return false
}

// waitExperiment polls an experiment until it ends and requires that it
// completed.
func (d *dev) waitExperiment(t *testing.T, id string, timeout time.Duration) api.Experiment {
	t.Helper()
	var e api.Experiment
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		e = d.experimentStatus(c, id)
		require.True(c, terminal(e.State), "experiment %s is %s", id, e.State)
	}, timeout, tick, "experiment %s did not end", id)
	if e.State != "completed" {
		var evs api.ExperimentEvents
		d.json(t, &evs, "experiment", "events", id)
		t.Fatalf("experiment %s ended %s; events: %+v", id, e.State, evs.Items)
	}
	return e
}

// num formats an optional figure.
func num(v *float64) string {
	if v == nil {
		return "null"
	}
	return strconv.FormatFloat(*v, 'f', -1, 64)
}
