// Command gendocs writes the reference docs from the code, so they cannot
// drift from it: docs/checks.md and docs/checks/<id>.md from the check
// registry, docs/connectivity.md from the connectivity paths, and
// docs/commands/*.md from the cobra commands (their --help).
// `make verify` fails when the committed docs differ from a fresh run.
//
//	go run ./hack/gendocs -out docs
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-acknet/kubectl-acknet/internal/checks"
	"github.com/kubectl-acknet/kubectl-acknet/internal/connectivity"
	"github.com/kubectl-acknet/kubectl-acknet/internal/nodeexec"
	"github.com/kubectl-acknet/kubectl-acknet/internal/plugin"
)

func main() {
	out := flag.String("out", "docs", "output directory")
	flag.Parse()
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "gendocs:", err)
		os.Exit(1)
	}
}

func run(out string) error {
	if err := os.WriteFile(filepath.Join(out, "checks.md"), []byte(checks.Markdown()), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "connectivity.md"), []byte(connectivity.Markdown()), 0o644); err != nil {
		return err
	}
	pages := filepath.Join(out, "checks")
	if err := os.MkdirAll(pages, 0o755); err != nil {
		return err
	}
	for _, c := range checks.All() {
		if err := os.WriteFile(filepath.Join(pages, c.ID+".md"), []byte(checks.Page(c)), 0o644); err != nil {
			return err
		}
	}
	dir := filepath.Join(out, "commands")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	// The image default can come from the environment; the docs show the
	// built-in one on every machine.
	if err := os.Unsetenv(nodeexec.ImageEnv); err != nil {
		return err
	}
	root := plugin.NewRootCmd(genericiooptions.NewTestIOStreamsDiscard())
	root.InitDefaultCompletionCmd()
	disableAutoGen(root)
	return doc.GenMarkdownTree(root, dir)
}

func disableAutoGen(c *cobra.Command) {
	c.DisableAutoGenTag = true
	for _, sub := range c.Commands() {
		disableAutoGen(sub)
	}
}
