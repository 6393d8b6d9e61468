package plugin

import (
	"bufio"
	"fmt"
	"strings"

	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/cli-runtime/pkg/printers"
)

// interactive reports whether someone can answer a prompt and see what it
// is about: stdin and stdout are both terminals. A script, a pipe or CI is
// not, and must say --yes.
func interactive(streams genericiooptions.IOStreams) bool {
	return printers.IsTerminal(streams.In) && printers.IsTerminal(streams.Out)
}

// confirm asks prompt unless yes; not interactive, it refuses and says
// what did not happen (refused) and that --yes is needed.
func confirm(streams genericiooptions.IOStreams, yes bool, refused, prompt string) error {
	if yes {
		return nil
	}
	if !interactive(streams) {
		return usageErr("%s: not run on a terminal, so pass --yes to confirm", refused)
	}
	if !askYes(streams, prompt+" [y/N] ") {
		return fmt.Errorf("not confirmed; nothing changed")
	}
	return nil
}

// askYes prints prompt on stderr and reports whether the answer is y or yes.
func askYes(streams genericiooptions.IOStreams, prompt string) bool {
	fmt.Fprint(streams.ErrOut, prompt)
	line, _ := bufio.NewReader(streams.In).ReadString('\n')
	answer := strings.ToLower(strings.TrimSpace(line))
	return answer == "y" || answer == "yes"
}
