package cli

import "errors"

// Exit codes of the phoenix command.
const (
	ExitOK       = 0
	ExitFailed   = 1
	ExitUsage    = 2
	ExitRejected = 3
)

// UsageError marks an error caused by how the command was called.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// ExitCode maps an error returned by a command to the process exit code.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var ue *UsageError
	if errors.As(err, &ue) || commandLineError(err) {
		return ExitUsage
	}
	var re *rejectedError
	if errors.As(err, &re) {
		return ExitRejected
	}
	return ExitFailed
}
