package report

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"strings"
	"testing"

	"github.com/kubectl-acknet/kubectl-acknet/internal/checks"
	"github.com/kubectl-acknet/kubectl-acknet/internal/cluster"
)

func sample() *DoctorReport {
	env := checks.NewEnv(&cluster.Snapshot{ServerVersion: "v1.30.1", ConfigMaps: map[string]map[string]string{}, Reads: map[string]*cluster.ReadError{}})
	outcomes := []checks.Outcome{
		{Check: checks.Check{ID: "a.fail", Title: "A"}, Result: checks.Result{Status: checks.StatusFail, Summary: "broken",
			Findings: []checks.Finding{{Object: "node/evil\x1b[31mred", Message: "msg \x1b]0;title\x07", Remediation: "fix it"}}}},
		{Check: checks.Check{ID: "b.pass", Title: "B"}, Result: checks.Result{Status: checks.StatusPass, Summary: "ok"}},
		{Check: checks.Check{ID: "c.skip", Title: "C"}, Result: checks.Result{Status: checks.StatusSkip, Summary: "not applicable: x"}},
	}
	return Build(env, "https://127.0.0.1:6443", outcomes)
}

func TestJSONSchema(t *testing.T) {
	var buf bytes.Buffer
	if err := (Printer{Format: "json"}).Print(&buf, sample()); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"kind", "apiVersion", "cluster", "summary", "checks"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("report lacks %q", k)
		}
	}
	if doc["kind"] != "DoctorReport" {
		t.Errorf("kind %v", doc["kind"])
	}
	c := doc["checks"].([]any)
	second := c[1].(map[string]any)
	if f, ok := second["findings"].([]any); !ok || len(f) != 0 {
		t.Errorf("findings of a passing check must be [], got %v", second["findings"])
	}
	for _, k := range []string{"id", "title", "status", "findings", "docs"} {
		if _, ok := second[k]; !ok {
			t.Errorf("check lacks %q", k)
		}
	}
	sum := doc["summary"].(map[string]any)
	if sum["fail"].(float64) != 1 || sum["pass"].(float64) != 1 || sum["skip"].(float64) != 1 || sum["warn"].(float64) != 0 {
		t.Errorf("summary %v", sum)
	}
}

func TestTableEscapesClusterStringsAndHonoursColor(t *testing.T) {
	var plain, colored bytes.Buffer
	if err := (Printer{Format: "table"}).Print(&plain, sample()); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(plain.String(), "\x1b") || strings.Contains(plain.String(), "\x07") {
		t.Errorf("escape sequences reached the terminal:\n%q", plain.String())
	}
	for _, want := range []string{"✖ fail  a.fail", "fix: fix it", "3 checks: 1 fail, 0 warn, 0 info, 1 pass, 1 skip"} {
		if !strings.Contains(plain.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, plain.String())
		}
	}
	if err := (Printer{Format: "table", Color: true}).Print(&colored, sample()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(colored.String(), "\x1b[") {
		t.Error("color requested but not used")
	}
	for _, line := range strings.Split(plain.String(), "\n") {
		if strings.HasSuffix(line, " ") {
			t.Errorf("trailing blank in %q", line)
		}
	}
}

func TestWorstAndUnknownFormat(t *testing.T) {
	r := sample()
	if r.Worst() != checks.StatusFail {
		t.Errorf("worst %s", r.Worst())
	}
	if err := (Printer{Format: "xml"}).Print(&bytes.Buffer{}, r); err == nil {
		t.Error("xml should be refused")
	}
}

func TestJUnit(t *testing.T) {
	var buf bytes.Buffer
	if err := (Printer{Format: "junit", FailOn: checks.StatusFail}).Print(&buf, sample()); err != nil {
		t.Fatal(err)
	}
	var doc junitSuites
	if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("not valid XML: %v\n%s", err, buf.String())
	}
	s := doc.Suites[0]
	if doc.Tests != 3 || doc.Failures != 1 || doc.Skipped != 1 || len(s.Cases) != 3 {
		t.Errorf("counts: %+v", doc)
	}
	if f := s.Cases[0].Failure; f == nil || f.Type != "fail" || !strings.Contains(f.Text, "fix: fix it") || !strings.Contains(f.Text, "node/evil") {
		t.Errorf("failure %+v", s.Cases[0].Failure)
	}
	buf.Reset()
	if err := JUnitError(&buf, Kind, errors.New("cannot reach the API server")); err != nil {
		t.Fatal(err)
	}
	doc = junitSuites{}
	if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil || doc.Errors != 1 || doc.Suites[0].Cases[0].Error == nil {
		t.Errorf("error file: %v %+v", err, doc)
	}
}

func TestMarkdownEscapes(t *testing.T) {
	r := sample()
	r.Checks[0].Summary = "a | b"
	var buf bytes.Buffer
	if err := (Printer{Format: "markdown"}).Print(&buf, r); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"# kubectl acknet doctor", "| ✖ fail | `a.fail` | a \\| b |", "## ✖ fail `a.fail`", "  - Fix: fix it"} {
		if !strings.Contains(out, want) {
			t.Errorf("markdown lacks %q:\n%s", want, out)
		}
	}
	if strings.ContainsRune(out, 0x1b) {
		t.Error("escape sequence in markdown")
	}
}
