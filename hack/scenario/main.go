// Command scenario loads a test scenario into the local cluster:
//
//	go run ./hack/scenario load test/scenarios/flannel-broken
//	go run ./hack/scenario reset
//
// It uses $KUBECONFIG (see hack/rig.sh env).
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubectl-acknet/kubectl-acknet/test/scenario"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "scenario:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 || (args[0] == "load" && len(args) != 2) || (args[0] != "load" && args[0] != "reset") {
		return fmt.Errorf("usage: scenario load DIR | scenario reset")
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, nil).ClientConfig()
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := scenario.Reset(ctx, cs); err != nil {
		return err
	}
	if args[0] == "reset" {
		return nil
	}
	if err := scenario.Load(ctx, cs, args[1]); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "scenario: loaded %s\n", args[1])
	return nil
}
