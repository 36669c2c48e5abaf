//go:build !linux

package adaptiveprocessor

// threadCPU is not available on this platform.
func threadCPU() (int64, bool) { return 0, false }
