package plugin

import (
	"bufio"
	"context"
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
// what did not happen (refused) and that --yes is needed. An interrupt at the
// prompt answers no.
func confirm(ctx context.Context, streams genericiooptions.IOStreams, yes bool, refused, prompt string) error {
	if yes {
		return nil
	}
	if !interactive(streams) {
		return usageErr("%s: not run on a terminal, so pass --yes to confirm", refused)
	}
	if !askYes(ctx, streams, prompt+" [y/N] ") {
		return fmt.Errorf("not confirmed; nothing changed")
	}
	return nil
}

// askYes prints prompt and reads one line: "y" or "yes" is yes. Ctrl-C
// cancels ctx (signals are handled in main), which answers no at once.
func askYes(ctx context.Context, streams genericiooptions.IOStreams, prompt string) bool {
	fmt.Fprint(streams.ErrOut, prompt)
	line := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(streams.In).ReadString('\n')
		line <- l
	}()
	select {
	case l := <-line:
		answer := strings.ToLower(strings.TrimSpace(l))
		return answer == "y" || answer == "yes"
	case <-ctx.Done():
		fmt.Fprintln(streams.ErrOut)
		return false
	}
}
