package plugin

import (
	"fmt"
	"io"

	"github.com/spf13/pflag"
	"k8s.io/cli-runtime/pkg/printers"

	"github.com/kubectl-acknet/kubectl-acknet/internal/checks"
	"github.com/kubectl-acknet/kubectl-acknet/pkg/report"
)

// ReportFlags are the report options of the commands that print a
// DoctorReport (doctor, ipv6 verify, connectivity); kubectl's PrintFlags is
// the model.
type ReportFlags struct {
	Output string
	// FailOn is empty for a command without --fail-on: it fails on fail.
	FailOn string

	withFailOn bool
	failOn     checks.Status
}

// NewReportFlags returns the defaults; withFailOn adds --fail-on.
func NewReportFlags(withFailOn bool) *ReportFlags {
	f := &ReportFlags{Output: "table", withFailOn: withFailOn}
	if withFailOn {
		f.FailOn = string(checks.StatusFail)
	}
	return f
}

// AddFlags adds -o and, if wanted, --fail-on; formats is the help of -o.
func (f *ReportFlags) AddFlags(fs *pflag.FlagSet, formats string) {
	fs.StringVarP(&f.Output, "output", "o", f.Output, "Output format: "+formats)
	if f.withFailOn {
		fs.StringVar(&f.FailOn, "fail-on", f.FailOn, "Exit 2 when a check has this status or worse: info, warn or fail")
	}
}

// Complete parses --fail-on.
func (f *ReportFlags) Complete() error {
	f.failOn = checks.StatusFail
	if !f.withFailOn {
		return nil
	}
	var err error
	if f.failOn, err = checks.ParseStatus(f.FailOn); err != nil {
		return usageErr("--fail-on %v", err)
	}
	return nil
}

// Validate checks -o.
func (f *ReportFlags) Validate() error {
	if err := report.CheckFormat(f.Output); err != nil {
		return usageErr("%v", err)
	}
	return nil
}

// Print prints rep to out, in color when out is a terminal that allows it
// and --no-color is not given, and returns ErrFindings when a check is at or
// above --fail-on.
func (f *ReportFlags) Print(out io.Writer, noColor bool, rep *report.DoctorReport) error {
	color := !noColor && printers.AllowsColorOutput(out)
	if err := (report.Printer{Format: f.Output, Color: color, FailOn: f.failOn}).Print(out, rep); err != nil {
		return fmt.Errorf("print report: %w", err)
	}
	if rep.Worst().Rank() >= f.failOn.Rank() {
		return ErrFindings
	}
	return nil
}
