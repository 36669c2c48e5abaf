//go:build !linux

package loadsim

import "errors"

var errUnsupported = errors.New("the load simulator runs on Linux only")

func supported() error { return errUnsupported }

func selfExecutable() (string, error) { return "", errUnsupported }

func startProcess(string, []string, []string, uintptr, int) (int, error) {
	return 0, errUnsupported
}

func waitGroup(int) (int, error) { return 0, errUnsupported }

func noChild(error) bool { return true }

func killGroup(int) error { return errUnsupported }

func terminate(int) error { return errUnsupported }

func processAlive(int, uint64) bool { return false }

func startTime(int) (uint64, error) { return 0, errUnsupported }
