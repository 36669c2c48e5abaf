package benchside

import (
	"time"

	"golang.org/x/sys/unix"
)

// ThreadCPU returns the CPU time consumed by the calling OS thread. The
// benchmarks lock their goroutine to its thread, so differences of ThreadCPU
// measure the work done, unaffected by other processes competing for the
// machine's cores.
func ThreadCPU() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}
