//go:build linux

package adaptiveprocessor

import "golang.org/x/sys/unix"

// threadCPU returns the CPU time consumed so far by the calling OS thread,
// in nanoseconds, and whether it could be read.
func threadCPU() (int64, bool) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0, false
	}
	return ts.Nano(), true
}
