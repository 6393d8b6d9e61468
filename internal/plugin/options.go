package plugin

import (
	"context"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// commandOptions is the kubectl Options pattern: Complete turns flags into
// clients and parsed values (no other I/O), Validate checks them, Run does
// the work.
type commandOptions interface {
	Complete() error
	Validate() error
	Run(ctx context.Context) error
}

// runOptions is the RunE of a command: Complete, Validate, Run.
func runOptions(o commandOptions) func(*cobra.Command, []string) error {
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

// nodeCommand is what the node commands share: streams, the global and node
// flags, and the clients Complete makes.
type nodeCommand struct {
	genericiooptions.IOStreams
	Global *GlobalOptions
	NodeOptions
	client kubernetes.Interface
	config *rest.Config
}

// Complete checks the node flags and connects.
func (c *nodeCommand) Complete() error {
	cs, cfg, err := c.connect(c.Global)
	if err != nil {
		return err
	}
	c.client, c.config = cs, cfg
	return nil
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
