package plugin

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/kubectl-acknet/kubectl-acknet/internal/checks"
	"github.com/kubectl-acknet/kubectl-acknet/pkg/report"
)

func TestReportFlags(t *testing.T) {
	outcome := func(s checks.Status) []checks.Outcome {
		return []checks.Outcome{{Check: checks.Check{ID: "x.y", Title: "x"}, Result: checks.Result{Status: s, Summary: "s"}}}
	}
	tests := []struct {
		name       string
		withFailOn bool
		failOn     string
		output     string
		worst      checks.Status
		wantErr    string // from Complete or Validate
		findings   bool
	}{
		{name: "defaults: a fail is a finding", withFailOn: true, worst: checks.StatusFail, findings: true},
		{name: "defaults: a warn is not", withFailOn: true, worst: checks.StatusWarn},
		{name: "--fail-on warn", withFailOn: true, failOn: "warn", worst: checks.StatusWarn, findings: true},
		{name: "--fail-on info, skip is no finding", withFailOn: true, failOn: "info", worst: checks.StatusSkip},
		{name: "no --fail-on: fail only", worst: checks.StatusFail, findings: true},
		{name: "bad --fail-on", withFailOn: true, failOn: "pass", wantErr: "--fail-on"},
		{name: "bad -o", output: "xml", wantErr: "xml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := NewReportFlags(tt.withFailOn)
			if tt.failOn != "" {
				f.FailOn = tt.failOn
			}
			if tt.output != "" {
				f.Output = tt.output
			}
			err := f.Complete()
			if err == nil {
				err = f.Validate()
			}
			if (tt.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err %v, want %q", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			var out bytes.Buffer
			rep := report.BuildKind(report.Kind, report.ClusterInfo{}, outcome(tt.worst))
			err = f.Print(&out, true, rep)
			if got := errors.Is(err, ErrFindings); got != tt.findings {
				t.Errorf("findings %v (err %v), want %v", got, err, tt.findings)
			}
			if !strings.Contains(out.String(), "x.y") {
				t.Errorf("report lacks the check:\n%s", out.String())
			}
		})
	}
}
