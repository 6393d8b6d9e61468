package report

import "github.com/kubectl-acknet/kubectl-acknet/internal/checks"

// The schema's own names for the types its fields use, so a program that
// reads a DoctorReport can name them (the checks themselves are internal).
type (
	// Status is a check's result: pass, info, warn, fail or skip.
	Status = checks.Status
	// Finding is one object a check found wrong, with its remedy.
	Finding = checks.Finding
)

// The statuses, mildest first (skip: the check could not read what it needs).
const (
	StatusPass = checks.StatusPass
	StatusInfo = checks.StatusInfo
	StatusWarn = checks.StatusWarn
	StatusFail = checks.StatusFail
	StatusSkip = checks.StatusSkip
)
