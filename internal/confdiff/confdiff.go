// Package confdiff renders the change of one ConfigMap key as a unified
// diff, the way `kubectl diff` and git show it, colored on a terminal.
package confdiff

import (
	"fmt"
	"io"
	"strings"

	"github.com/fatih/color"
	"github.com/pmezard/go-difflib/difflib"
)

// Key is one ConfigMap key before and after; Had and Has say whether the key
// exists at all on each side (a missing key diffs against /dev/null).
type Key struct {
	// Path names the key: NAMESPACE/CONFIGMAP/KEY.
	Path          string
	Before, After string
	Had, Has      bool
}

// Write prints k's unified diff with three lines of context.
func Write(w io.Writer, k Key, useColor bool) {
	from, to := "a/"+k.Path, "b/"+k.Path
	if !k.Had {
		from = "/dev/null"
	}
	if !k.Has {
		to = "/dev/null"
	}
	text, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: lines(k.Before, k.Had), B: lines(k.After, k.Has),
		FromFile: from, ToFile: to, Context: 3,
	})
	if err != nil {
		fmt.Fprintf(w, "(cannot diff %s: %v)\n", k.Path, err)
		return
	}
	paint(w, text, useColor)
}

// lines splits text into lines that each end with a newline, so the diff
// shows whole lines; a key that does not exist has none.
func lines(s string, present bool) []string {
	if !present || s == "" {
		return nil
	}
	out := strings.SplitAfter(s, "\n")
	if out[len(out)-1] == "" {
		out = out[:len(out)-1]
	} else {
		out[len(out)-1] += "\n"
	}
	return out
}

func paint(w io.Writer, text string, useColor bool) {
	for _, line := range strings.SplitAfter(text, "\n") {
		body := strings.TrimSuffix(line, "\n")
		switch {
		case !useColor || line == "":
		case strings.HasPrefix(line, "+++"), strings.HasPrefix(line, "---"):
			line = color.New(color.Bold).Sprint(body) + "\n"
		case strings.HasPrefix(line, "+"):
			line = color.GreenString("%s", body) + "\n"
		case strings.HasPrefix(line, "-"):
			line = color.RedString("%s", body) + "\n"
		case strings.HasPrefix(line, "@@"):
			line = color.CyanString("%s", body) + "\n"
		}
		fmt.Fprint(w, line)
	}
}
