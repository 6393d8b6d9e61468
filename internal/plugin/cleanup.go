package plugin

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-acknet/kubectl-acknet/internal/connectivity"
	"github.com/kubectl-acknet/kubectl-acknet/internal/nodeexec"
)

func newCleanupCmd(streams genericiooptions.IOStreams, g *GlobalOptions) *cobra.Command {
	var dryRun bool
	var namespace string
	cmd := &cobra.Command{
		Use:   "cleanup",
		Short: "Delete debug pods and test namespaces that an interrupted command left behind",
		Long: `cleanup deletes every pod labelled ` + nodeexec.Selector + ` (the node
commands' debug pods), in all namespaces unless --node-namespace names one, and
every namespace of connectivity test runs (labelled ` + nodeexec.Selector + `,
` + connectivity.LabelPurpose + `=` + connectivity.Purpose + `). The commands delete
what they create themselves, also on Ctrl-C; this is for a run that was killed.`,
		Example: `  kubectl acknet cleanup --dry-run
  kubectl acknet cleanup`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cs, _, err := g.Clientset()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			verb := "deleted"
			if dryRun {
				verb = "would delete"
			}
			var nsErr error
			var namespaces []string
			if namespace == "" {
				namespaces, nsErr = connectivity.Cleanup(ctx, cs, dryRun)
				for _, n := range namespaces {
					fmt.Fprintf(streams.Out, "%s namespace/%s (a connectivity test run)\n", verb, n)
				}
			}
			names, err := nodeexec.Cleanup(ctx, cs, namespace, dryRun)
			inTest := map[string]bool{}
			for _, n := range namespaces {
				inTest[n] = true
			}
			pods := 0
			for _, n := range names {
				if ns, _, _ := strings.Cut(n, "/"); inTest[ns] {
					continue // goes with its namespace
				}
				pods++
				fmt.Fprintf(streams.Out, "%s pod/%s\n", verb, n)
			}
			if pods == 0 && len(namespaces) == 0 {
				fmt.Fprintln(streams.Out, "no debug pods found")
			}
			if err := errors.Join(nsErr, err); err != nil {
				return err
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "Only list what would be deleted")
	cmd.Flags().StringVar(&namespace, "node-namespace", "", "Only debug pods of this namespace (default: all, and the test namespaces)")
	return cmd
}
