package plugin

import (
	"errors"
)

// Exit codes of the public contract, decided in ExitCode only.
const (
	ExitOK       = 0
	ExitError    = 1 // the tool could not run: no cluster, bad flags
	ExitFindings = 2 // a check is at or above --fail-on
)

// ErrFindings is returned by a command whose report has a finding at or
// above --fail-on; the report already said everything.
var ErrFindings = errors.New("findings at or above --fail-on")

// ExitCode maps an error returned by a command to the process exit code.
func ExitCode(err error) int {
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, ErrFindings):
		return ExitFindings
	default:
		return ExitError
	}
}

// Silent tells whether err needs no message: the command already said it.
func Silent(err error) bool {
	return err == nil || errors.Is(err, ErrFindings)
}
