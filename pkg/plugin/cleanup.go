package plugin

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-acknet/kubectl-acknet/pkg/nodeexec"
)

func newCleanupCmd(streams genericiooptions.IOStreams, g *GlobalOptions) *cobra.Command {
	var dryRun bool
	var namespace string
	cmd := &cobra.Command{
		Use:   "cleanup",
		Short: "Delete debug pods that an interrupted node command left behind",
		Long: `cleanup deletes every pod labelled ` + nodeexec.Selector + `, in all
namespaces unless --node-namespace names one. Node commands delete their pods
themselves, also on Ctrl-C; this is for a run that was killed.`,
		Example: `  kubectl acknet cleanup --dry-run
  kubectl acknet cleanup`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cs, _, err := g.Clientset()
			if err != nil {
				return &ExitCodeError{Code: ExitError, Err: err}
			}
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			names, err := nodeexec.Cleanup(ctx, cs, namespace, dryRun)
			verb := "deleted"
			if dryRun {
				verb = "would delete"
			}
			for _, n := range names {
				fmt.Fprintf(streams.Out, "%s pod/%s\n", verb, n)
			}
			if len(names) == 0 {
				fmt.Fprintln(streams.Out, "no debug pods found")
			}
			if err != nil {
				return &ExitCodeError{Code: ExitError, Err: err}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "Only list the pods that would be deleted")
	cmd.Flags().StringVar(&namespace, "node-namespace", "", "Only this namespace (default: all)")
	return cmd
}
