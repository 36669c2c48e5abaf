// Package promtest starts a real Prometheus server for tests: Debian's
// prometheus package (or any prometheus binary), with its remote-write
// receiver on, on a free port of 127.0.0.1, with data in a temporary
// directory, stopped when the test ends.
//
// Where Prometheus is not available the test is skipped, except when the
// environment has CI=true: CI must fail, not skip, when an integration
// suite cannot reach its service.
package promtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// BinaryEnv names the environment variable that may hold the path of the
// prometheus binary; without it, prometheus is looked up in PATH and then at
// /usr/bin/prometheus.
const BinaryEnv = "PHOENIX_PROMETHEUS"

// NotInstalled is the message of a test skipped for want of Prometheus.
const NotInstalled = "prometheus is not installed; install it with: apt-get install prometheus"

// ReadyTimeout bounds the wait for a started Prometheus to become ready.
var ReadyTimeout = 60 * time.Second

const config = `global:
  scrape_interval: 15s
  evaluation_interval: 15s
`

// StartPrometheus starts Prometheus with --web.enable-remote-write-receiver
// and extraArgs, waits for /-/ready, and returns its base URL, e.g.
// http://127.0.0.1:38457 (remote write at URL+"/api/v1/write", queries at
// URL+"/api/v1/query"). The process is stopped (SIGTERM, then SIGKILL after
// 10 seconds) at the test's cleanup, and killed by the kernel if the test
// binary dies first. When Prometheus is missing or does not become ready,
// the test fails if CI=true and is skipped otherwise.
func StartPrometheus(t testing.TB, extraArgs ...string) string {
	t.Helper()
	bin, err := binary()
	if err != nil {
		unavailable(t, err.Error(), true)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		t.Fatalf("write prometheus config: %v", err)
	}

	var lastErr error
	for attempt := range 3 {
		port, err := freePort()
		if err != nil {
			t.Fatalf("find a free port: %v", err)
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		args := append([]string{
			"--config.file=" + cfg,
			"--storage.tsdb.path=" + filepath.Join(dir, "data-"+strconv.Itoa(attempt)),
			"--web.listen-address=" + addr,
			"--web.enable-remote-write-receiver",
			"--log.level=warn",
		}, extraArgs...)
		p, err := start(bin, args)
		if err != nil {
			unavailable(t, fmt.Sprintf("start %s: %v", bin, err), false)
		}
		url := "http://" + addr
		if err := p.waitReady(url, ReadyTimeout); err != nil {
			p.stop()
			lastErr = fmt.Errorf("%s did not become ready at %s: %w; its output:\n%s", bin, url, err, p.out.String())
			if strings.Contains(p.out.String(), "address already in use") {
				continue // the free port was taken meanwhile: try another
			}
			break
		}
		t.Cleanup(p.stop)
		return url
	}
	unavailable(t, lastErr.Error(), false)
	return ""
}

func unavailable(t testing.TB, detail string, missing bool) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("prometheus is required when CI=true: %s", detail)
	}
	if missing {
		t.Skipf("%s (%s)", NotInstalled, detail)
	}
	t.Skipf("%s (prometheus could not be started: %s)", NotInstalled, detail)
}

func binary() (string, error) {
	if p := os.Getenv(BinaryEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s=%s: %w", BinaryEnv, p, err)
		}
		return p, nil
	}
	if p, err := exec.LookPath("prometheus"); err == nil {
		return p, nil
	}
	const debian = "/usr/bin/prometheus"
	if _, err := os.Stat(debian); err != nil {
		return "", fmt.Errorf("no prometheus binary in PATH nor at %s", debian)
	}
	return debian, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

type process struct {
	cmd  *exec.Cmd
	out  *tailBuffer
	done chan struct{} // closed when the process has exited
	once sync.Once
}

func start(bin string, args []string) (*process, error) {
	cmd := exec.Command(bin, args...)
	out := &tailBuffer{max: 64 << 10}
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &process{cmd: cmd, out: out, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *process) waitReady(url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/-/ready", nil)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.done:
			return fmt.Errorf("it exited: %v", p.cmd.ProcessState)
		case <-ctx.Done():
			return errors.New("timed out")
		case <-tick.C:
		}
	}
}

// stop ends the process and waits for it; it is idempotent.
func (p *process) stop() {
	p.once.Do(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if over := b.buf.Len() - b.max; over > 0 {
		b.buf.Next(over)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
