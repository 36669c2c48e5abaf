//go:build !linux

package priorityprocessor

import "time"

// threadCPU is only measured on Linux; elsewhere the benchmarks report wall
// time alone.
func threadCPU() time.Duration { return 0 }
