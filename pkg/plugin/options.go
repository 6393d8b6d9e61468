package plugin

import (
	"context"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// nodeCommandOptions is the kubectl Options pattern of the node commands
// that read the cluster while they complete.
type nodeCommandOptions interface {
	Complete(ctx context.Context) error
	Validate() error
	Run(ctx context.Context) error
}

// runOptions is the RunE of a command: Complete, Validate, Run.
func runOptions(o nodeCommandOptions) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		if err := o.Complete(cmd.Context()); err != nil {
			return err
		}
		if err := o.Validate(); err != nil {
			return err
		}
		return o.Run(cmd.Context())
	}
}

// clusterCommandOptions is the same pattern for commands whose Complete
// needs no context (it only parses and connects).
type clusterCommandOptions interface {
	Complete() error
	Validate() error
	Run(ctx context.Context) error
}

// runClusterOptions is the RunE of such a command.
func runClusterOptions(o clusterCommandOptions) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		if err := o.Complete(); err != nil {
			return err
		}
		if err := o.Validate(); err != nil {
			return err
		}
		return o.Run(cmd.Context())
	}
}

// connect checks the node-choosing flags, then connects: a flag error costs
// no round trip.
func (n *NodeOptions) connect(g *GlobalOptions) (kubernetes.Interface, *rest.Config, error) {
	if err := n.validate(); err != nil {
		return nil, nil, err
	}
	cs, cfg, err := g.Clientset()
	if err != nil {
		return nil, nil, err
	}
	return cs, cfg, nil
}
