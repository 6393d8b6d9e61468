// Command kubectl-acknet is the kubectl plugin `kubectl acknet`.
package main

import (
	"errors"
	"fmt"
	"os"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-acknet/kubectl-acknet/pkg/plugin"
)

func main() {
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	err := plugin.NewRootCmd(streams).Execute()
	if err != nil {
		// An exit code without an error means the command already said
		// everything (doctor's report); print nothing more.
		var ec *plugin.ExitCodeError
		if !errors.As(err, &ec) || ec.Err != nil {
			fmt.Fprintln(os.Stderr, "error:", err)
		}
	}
	os.Exit(plugin.ExitCode(err))
}
