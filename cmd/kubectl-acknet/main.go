// Command kubectl-acknet is the kubectl plugin `kubectl acknet`.
package main

import (
	"context"
	"fmt"
	"os"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-acknet/kubectl-acknet/internal/plugin"
)

func main() {
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	// Signals are handled here, once, for every command.
	ctx, stop := plugin.WithInterrupts(context.Background(), os.Stderr, os.Exit)
	err := plugin.NewRootCmd(streams).ExecuteContext(ctx)
	stop()
	// Findings were already reported (doctor's report); print nothing more.
	if !plugin.Silent(err) {
		fmt.Fprintln(os.Stderr, "error:", err)
	}
	os.Exit(plugin.ExitCode(err))
}
