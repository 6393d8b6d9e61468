package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"

	"github.com/kubectl-acknet/kubectl-acknet/internal/checks"
)

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Failure   *junitMessage `xml:"failure,omitempty"`
	Error     *junitMessage `xml:"error,omitempty"`
	Skipped   *junitMessage `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",chardata"`
}

// junit writes one test case per check: a check at or above failOn is a
// failure carrying its findings, a skip is skipped, the rest pass.
func junit(w io.Writer, r *DoctorReport, failOn checks.Status) error {
	suite := junitSuite{Name: strings.ToLower(r.Kind)}
	for _, c := range r.Checks {
		tc := junitCase{Name: c.ID, Classname: area(c.ID), SystemOut: fmt.Sprintf("%s: %s", c.Status, c.Summary)}
		switch {
		case c.Status == checks.StatusSkip:
			tc.Skipped = &junitMessage{Message: c.Summary}
			suite.Skipped++
		case c.Status.Rank() >= failOn.Rank() && failOn.Rank() > 0:
			tc.Failure = &junitMessage{Message: c.Summary, Type: string(c.Status), Text: findingsText(c.Findings)}
			suite.Failures++
		}
		suite.Cases = append(suite.Cases, tc)
	}
	suite.Tests = len(suite.Cases)
	return writeJUnit(w, suite)
}

// JUnitError writes a valid JUnit file for a run that could not read the
// cluster at all, so a CI job that collects the file still gets one.
func JUnitError(w io.Writer, kind string, err error) error {
	suite := junitSuite{Name: strings.ToLower(kind), Tests: 1, Errors: 1, Cases: []junitCase{{
		Name: "cluster.read", Classname: "cluster", Error: &junitMessage{Message: err.Error(), Type: "error"},
	}}}
	return writeJUnit(w, suite)
}

func writeJUnit(w io.Writer, suite junitSuite) error {
	doc := junitSuites{Name: "kubectl-acknet", Tests: suite.Tests, Failures: suite.Failures, Errors: suite.Errors, Skipped: suite.Skipped, Suites: []junitSuite{suite}}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("encode JUnit: %w", err)
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func area(id string) string {
	if i := strings.Index(id, "."); i > 0 {
		return id[:i]
	}
	return id
}

func findingsText(fs []checks.Finding) string {
	var b strings.Builder
	for _, f := range fs {
		obj := f.Object
		if obj == "" {
			obj = "cluster"
		}
		fmt.Fprintf(&b, "%s: %s\n", obj, f.Message)
		if f.Remediation != "" {
			fmt.Fprintf(&b, "  fix: %s\n", f.Remediation)
		}
	}
	return b.String()
}
