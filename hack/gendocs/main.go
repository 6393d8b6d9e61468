// Command gendocs writes docs/checks.md from the check registry, so the
// reference cannot drift from the code (a unit test compares them).
package main

import (
	"fmt"
	"os"

	"github.com/kubectl-acknet/kubectl-acknet/pkg/checks"
)

func main() {
	if _, err := os.Stdout.WriteString(checks.Markdown()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
