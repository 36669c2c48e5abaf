//go:build unix

package agent

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"syscall"
)

// processCPUSeconds returns the user plus system CPU time of the process.
func processCPUSeconds() (float64, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, fmt.Errorf("getrusage: %w", err)
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime), nil
}

// processRSSBytes returns the resident set size of the process: the
// current one from /proc/self/statm on Linux, the peak one from
// getrusage elsewhere.
func processRSSBytes() (float64, error) {
	if runtime.GOOS == "linux" {
		b, err := os.ReadFile("/proc/self/statm")
		if err != nil {
			return 0, fmt.Errorf("read statm: %w", err)
		}
		f := bytes.Fields(b)
		if len(f) < 2 {
			return 0, fmt.Errorf("read statm: %d fields", len(f))
		}
		pages, err := strconv.ParseUint(string(f[1]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("read statm: %w", err)
		}
		return float64(pages) * float64(os.Getpagesize()), nil
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, fmt.Errorf("getrusage: %w", err)
	}
	if runtime.GOOS == "darwin" {
		return float64(ru.Maxrss), nil // bytes
	}
	return float64(ru.Maxrss) * 1024, nil // kilobytes
}
