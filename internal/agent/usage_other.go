//go:build !unix

package agent

import "errors"

var errUsageUnsupported = errors.New("process resource usage is not available on this platform")

func processCPUSeconds() (float64, error) { return 0, errUsageUnsupported }

func processRSSBytes() (float64, error) { return 0, errUsageUnsupported }
