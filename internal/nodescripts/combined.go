package nodescripts

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"
)

// Combined runs several scripts in one run, each in its own subshell, with
// a section line before and an end line (with its exit status) after, so a
// failing script does not hide the others. It joins only the embedded script
// texts; parameters still arrive through the environment.
func Combined(name string, scripts ...Script) Script {
	var b strings.Builder
	b.WriteString("# shellcheck shell=sh\n")
	for _, s := range scripts {
		fmt.Fprintf(&b, "printf 'section\\t%s\\n'\n(\n%s\n)\nprintf 'end\\t%s\\t%%s\\n' \"$?\"\n", s.Name, s.Text, s.Name)
	}
	return Script{Name: name, Text: b.String()}
}

// Section is the output of one script of a Combined run.
type Section struct {
	Output string
	Status int
	// Ended is false when the run stopped before the script finished.
	Ended bool
}

// SplitSections splits Combined output by script name.
func SplitSections(out string) map[string]*Section {
	secs := map[string]*Section{}
	var cur *Section
	var buf strings.Builder
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		line := sc.Text()
		f := strings.Split(line, "\t")
		switch {
		case f[0] == "section" && len(f) == 2:
			cur = &Section{}
			secs[f[1]] = cur
			buf.Reset()
		case f[0] == "end" && len(f) == 3 && cur != nil:
			cur.Output = buf.String()
			cur.Status, _ = strconv.Atoi(f[2])
			cur.Ended = true
			cur = nil
		case cur != nil:
			buf.WriteString(line)
			buf.WriteByte('\n')
		}
	}
	if cur != nil {
		cur.Output = buf.String()
	}
	return secs
}
