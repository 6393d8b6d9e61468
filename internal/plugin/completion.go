package plugin

import (
	"context"
	"strings"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-acknet/kubectl-acknet/internal/checks"
	"github.com/kubectl-acknet/kubectl-acknet/internal/cmwrite"
)

// completeCheckIDs completes --checks and --skip with the catalog's IDs and
// their area globs (flannel.*).
func completeCheckIDs(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	prefix := toComplete
	if i := strings.LastIndex(toComplete, ","); i >= 0 {
		prefix = toComplete[i+1:]
	}
	head := strings.TrimSuffix(toComplete, prefix)
	seen := map[string]bool{}
	var out []string
	for _, c := range checks.All() {
		prefixPart, _, _ := strings.Cut(c.ID, ".")
		area := prefixPart + ".*"
		for _, cand := range []string{area, c.ID} {
			if !seen[cand] && strings.HasPrefix(cand, prefix) {
				seen[cand] = true
				out = append(out, head+cand)
			}
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// completeFromCluster completes with names that list reads from the
// cluster, within a few seconds so a slow cluster does not hang the shell.
func completeFromCluster(g *GlobalOptions, list func(context.Context, kubernetes.Interface) ([]string, error)) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		cs, _, err := g.Clientset()
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		names, err := list(ctx, cs)
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		var out []string
		for _, n := range names {
			if strings.HasPrefix(n, toComplete) {
				out = append(out, n)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// completeNodes completes --node with the cluster's node names.
func completeNodes(g *GlobalOptions) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return completeFromCluster(g, func(ctx context.Context, cs kubernetes.Interface) ([]string, error) {
		l, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{Limit: 1000})
		if err != nil {
			return nil, err
		}
		var out []string
		for _, n := range l.Items {
			out = append(out, n.Name)
		}
		return out, nil
	})
}

// completeBackups completes --rollback with the backups fix has kept, and
// says what each is a backup of.
func completeBackups(g *GlobalOptions) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return completeFromCluster(g, func(ctx context.Context, cs kubernetes.Interface) ([]string, error) {
		l, err := cs.CoreV1().ConfigMaps(fixNamespace).List(ctx, metav1.ListOptions{LabelSelector: cmwrite.LabelBackupOf, Limit: 1000})
		if err != nil {
			return nil, err
		}
		var out []string
		for _, cm := range l.Items {
			out = append(out, cm.Name+"\t"+cm.Labels[cmwrite.LabelBackupOf]+", saved "+cm.Annotations[cmwrite.AnnotationBackupTaken])
		}
		return out, nil
	})
}

// registerCompletions wires flag completion into every command that has the
// flags.
func registerCompletions(c *cobra.Command, g *GlobalOptions) {
	for name, fn := range map[string]func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective){
		"checks": completeCheckIDs, "skip": completeCheckIDs, "node": completeNodes(g), "probe-node": completeNodes(g),
		"rollback": completeBackups(g),
	} {
		if c.Flags().Lookup(name) != nil {
			_ = c.RegisterFlagCompletionFunc(name, fn)
		}
	}
	for _, sub := range c.Commands() {
		registerCompletions(sub, g)
	}
}
