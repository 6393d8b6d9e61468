package plugin

import (
	"errors"
	"fmt"
)

// Exit codes of the public contract.
const (
	ExitOK       = 0
	ExitError    = 1 // the tool could not run: no cluster, bad flags
	ExitFindings = 2 // a check is at or above --fail-on
)

// ExitCodeError carries an exit code out of a command. A nil Err means the
// command already printed what it had to say.
type ExitCodeError struct {
	Code int
	Err  error
}

func (e *ExitCodeError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit code %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitCodeError) Unwrap() error { return e.Err }

// ExitCode maps an error returned by a command to the process exit code.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var ec *ExitCodeError
	if errors.As(err, &ec) {
		return ec.Code
	}
	return ExitError
}
