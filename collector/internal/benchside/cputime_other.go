//go:build !linux

package benchside

import "time"

// ThreadCPU is only measured on Linux; elsewhere the benchmarks report wall
// time alone.
func ThreadCPU() time.Duration { return 0 }
