package e2e

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Suite state set by TestMain.
var (
	// phoenixBin is the binary under test.
	phoenixBin string
	// missing says which prerequisite of the suite is missing: the tests
	// skip with it, or fail under CI=true.
	missing string
	// buildErr is set when the binary does not build: a failure, always.
	buildErr error
)

// parallelism is the -test.parallel TestMain sets when none is given: the
// tests wait on scrapes and experiments far more than they compute.
const parallelism = "4"

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if testing.Short() {
		fmt.Println("e2e: skipping the end-to-end suite in -short mode: it runs the real phoenix binary for several minutes")
		return m.Run()
	}
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "test.parallel" })
	if !given {
		_ = flag.Set("test.parallel", parallelism)
	}
	if missing = prerequisites(); missing != "" {
		fmt.Println("e2e: missing prerequisite:", missing)
		return m.Run()
	}
	if bin := os.Getenv("PHOENIX_E2E_BINARY"); bin != "" {
		phoenixBin = bin
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "phoenix-e2e-bin-")
	if err != nil {
		buildErr = fmt.Errorf("make a directory for the binary: %w", err)
		return m.Run()
	}
	defer os.RemoveAll(dir)
	start := time.Now()
	phoenixBin, buildErr = build(dir)
	if buildErr == nil {
		fmt.Printf("e2e: built %s in %s\n", phoenixBin, time.Since(start).Round(time.Second))
	}
	return m.Run()
}

// prerequisites returns what the suite needs and this machine lacks, or "".
func prerequisites() string {
	if runtime.GOOS != "linux" {
		return "the suite runs on Linux (the agent and the load simulator read /proc), not " + runtime.GOOS
	}
	if os.Getenv("PHOENIX_E2E_BINARY") == "" {
		if _, err := exec.LookPath("go"); err != nil {
			return "the go command, to build ./cmd/phoenix (or set PHOENIX_E2E_BINARY)"
		}
	}
	if _, err := exec.LookPath("sleep"); err != nil {
		return "the sleep program, which the load simulator's idle processes run"
	}
	return ""
}

// build compiles ./cmd/phoenix of this module into dir.
func build(dir string) (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("go env GOMOD: not inside the phoenix module")
	}
	bin := filepath.Join(dir, "phoenix")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/phoenix")
	cmd.Dir = filepath.Dir(mod)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/phoenix: %w\n%s", err, stderr.String())
	}
	return bin, nil
}

// requireSuite skips or fails t when the suite cannot run.
func requireSuite(t *testing.T) {
	t.Helper()
	switch {
	case testing.Short():
		t.Skip("end-to-end suite: skipped in -short mode (it runs the real binary for minutes)")
	case missing != "" && os.Getenv("CI") == "true":
		t.Fatalf("end-to-end suite: missing prerequisite under CI=true: %s", missing)
	case missing != "":
		t.Skipf("end-to-end suite: missing prerequisite: %s", missing)
	case buildErr != nil:
		t.Fatalf("end-to-end suite: %v", buildErr)
	}
}
