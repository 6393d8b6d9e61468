package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/fatih/color"
	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"
	"k8s.io/cli-runtime/pkg/printers"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-acknet/kubectl-acknet/internal/checks"
)

// Formats doctor can print.
var Formats = []string{"table", "json", "yaml", "junit", "markdown"}

// CheckFormat returns an error naming the valid formats when f is none.
func CheckFormat(f string) error {
	for _, v := range Formats {
		if v == f {
			return nil
		}
	}
	return fmt.Errorf("--output must be one of %s, got %q", strings.Join(Formats, ", "), f)
}

// Printer writes a report in one format.
type Printer struct {
	Format string
	// Color enables ANSI colors in the table; callers decide from the TTY,
	// NO_COLOR and --no-color.
	Color bool
	// FailOn is the status from which a check is a JUnit failure.
	FailOn checks.Status
}

// Print writes the report.
func (p Printer) Print(w io.Writer, r *DoctorReport) error {
	switch p.Format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	case "yaml":
		b, err := yaml.Marshal(r)
		if err != nil {
			return fmt.Errorf("encode report as YAML: %w", err)
		}
		_, err = w.Write(b)
		return err
	case "table", "":
		return p.table(w, r)
	case "junit":
		failOn := p.FailOn
		if failOn == "" {
			failOn = checks.StatusFail
		}
		return junit(w, r, failOn)
	case "markdown":
		return markdown(w, r)
	}
	return fmt.Errorf("unknown output format %q (want one of %s)", p.Format, strings.Join(Formats, ", "))
}

var symbols = map[checks.Status]string{
	checks.StatusPass: "✔ pass",
	checks.StatusInfo: "ℹ info",
	checks.StatusWarn: "⚠ warn",
	checks.StatusFail: "✖ fail",
	checks.StatusSkip: "- skip",
}

func (p Printer) paint(s checks.Status, text string) string {
	if !p.Color {
		return text
	}
	c := map[checks.Status]*color.Color{
		checks.StatusPass: color.New(color.FgGreen),
		checks.StatusInfo: color.New(color.FgCyan),
		checks.StatusWarn: color.New(color.FgYellow),
		checks.StatusFail: color.New(color.FgRed, color.Bold),
		checks.StatusSkip: color.New(color.FgHiBlack),
	}[s]
	if c == nil {
		return text
	}
	c.EnableColor()
	return c.Sprint(text)
}

// esc neutralizes terminal control sequences in text that came from the
// cluster (kubectl's escaping, plus the C0 controls it lets through, such as
// BEL), and folds newlines so a message stays on its line.
func esc(s string) string {
	s = printers.EscapeTerminal(s)
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\t':
			return ' '
		case r < 0x20 || r == 0x7f:
			return '?'
		}
		return r
	}, s)
}

// errWriter keeps the first write error so the table code stays readable.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, args...)
	}
}

func (p Printer) table(out io.Writer, r *DoctorReport) error {
	w := &errWriter{w: out}
	c := r.Cluster
	plugin := c.NetworkPlugin
	if plugin == "" {
		plugin = "unknown"
	}
	if c.PluginVersion != "" {
		plugin += " " + c.PluginVersion
	}
	if c.TerwayMode != "" {
		plugin += " (" + c.TerwayMode + ")"
	}
	if r.Kind == IPv6Kind {
		w.printf("Cluster %s  nodes %d  selected pods %d\n\n", esc(orDash(c.Server)), c.Nodes, c.Pods)
	} else {
		w.printf("Cluster %s  Kubernetes %s  network %s  kube-proxy %s  nodes %d  pods %d\n\n",
			esc(orDash(c.Server)), esc(orDash(c.KubernetesVersion)), esc(plugin), esc(orDash(c.KubeProxyMode)), c.Nodes, c.Pods)
	}

	// The table pads every cell; render to a buffer and trim line ends so
	// that copied output carries no trailing blanks.
	var buf bytes.Buffer
	t := tablewriter.NewTable(&buf,
		tablewriter.WithRenderer(renderer.NewBlueprint(tw.Rendition{
			Borders: tw.BorderNone,
			Settings: tw.Settings{
				Separators: tw.Separators{BetweenColumns: tw.Off},
				Lines:      tw.LinesNone,
			},
		})),
		tablewriter.WithHeaderAlignment(tw.AlignLeft),
		tablewriter.WithRowAlignment(tw.AlignLeft),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
		tablewriter.WithHeaderAutoFormat(tw.Off),
	)
	t.Header("STATUS", strings.ToUpper(r.noun()), "SUMMARY")
	for _, cr := range r.Checks {
		if err := t.Append(p.paint(cr.Status, symbols[cr.Status]), cr.ID, esc(cr.Summary)); err != nil {
			return fmt.Errorf("render table: %w", err)
		}
	}
	if err := t.Render(); err != nil {
		return fmt.Errorf("render table: %w", err)
	}
	for _, line := range strings.Split(strings.TrimRight(buf.String(), "\n"), "\n") {
		w.printf("%s\n", strings.TrimRight(line, " "))
	}

	first := true
	for _, cr := range r.Checks {
		if cr.Status == checks.StatusPass || cr.Status == checks.StatusSkip || len(cr.Findings) == 0 {
			continue
		}
		if first {
			w.printf("\nFindings:\n")
			first = false
		}
		w.printf("\n%s %s\n", p.paint(cr.Status, symbols[cr.Status]), cr.ID)
		for _, f := range cr.Findings {
			obj := f.Object
			if obj == "" {
				obj = "cluster"
			}
			w.printf("  %s: %s\n", esc(obj), esc(f.Message))
			if f.Remediation != "" {
				w.printf("    fix: %s\n", esc(f.Remediation))
			}
		}
	}
	s := r.Summary
	w.printf("\n%d %ss: %d fail, %d warn, %d info, %d pass, %d skip\n",
		len(r.Checks), r.noun(), s["fail"], s["warn"], s["info"], s["pass"], s["skip"])
	return w.err
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
