package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kubectl-acknet/kubectl-acknet/internal/bundle"
	"github.com/kubectl-acknet/kubectl-acknet/internal/checks"
	"github.com/kubectl-acknet/kubectl-acknet/internal/cluster"
	"github.com/kubectl-acknet/kubectl-acknet/pkg/report"
)

const bundleExample = `  # One archive for a support ticket, in the current directory
  kubectl acknet bundle

  # Two hours of the agents' logs, at most 5000 lines each, to a chosen file
  kubectl acknet bundle -o /tmp/cluster-a.tar.gz --since 2h --log-lines 5000

  # Replay it offline: the same report as on the live cluster
  kubectl acknet doctor --from-bundle /tmp/cluster-a.tar.gz`

// BundleOptions are the options of `kubectl acknet bundle`.
type BundleOptions struct {
	genericiooptions.IOStreams
	Global *GlobalOptions

	Output     string
	Since      time.Duration
	LogLines   int64
	ChunkSize  int64
	NodeChecks bool
	NodeOptions

	client kubernetes.Interface
	config *rest.Config
	server string
	now    time.Time
}

func newBundleCmd(streams genericiooptions.IOStreams, g *GlobalOptions) *cobra.Command {
	o := &BundleOptions{IOStreams: streams, Global: g}
	cmd := &cobra.Command{
		Use:   "bundle",
		Short: "Write one redacted archive of what doctor reads, for a support ticket",
		Long: `bundle writes one .tar.gz with everything doctor reads (the same paged reads:
nodes, pods' network fields as aggregates, Services, DaemonSets, the network
ConfigMaps of kube-system, Warning events of interest), doctor's report as
JSON, the network agents' recent logs (kube-proxy, Terway, Flannel; bounded
by --since and --log-lines), the plugin's version and its log of what it did,
and a MANIFEST saying what was collected, what RBAC denied or was skipped,
and what was redacted.

Redaction is not optional: credentials in ConfigMaps (older eni-config keeps
access_key and access_secret) and in logs (AccessKey IDs, tokens, passwords,
kubeconfig key data) are replaced by [redacted]; the list of what was
replaced is printed and kept in the MANIFEST, never the values. Secrets are
never read.

doctor --from-bundle FILE replays the archive offline and prints the report
doctor printed on the live cluster, in every output format.`,
		Example: bundleExample,
		Args:    cobra.NoArgs,
		RunE:    runOptions(o),
	}
	f := cmd.Flags()
	f.StringVarP(&o.Output, "output-file", "o", "", "Archive to write (default acknet-bundle-DATE-TIME.tar.gz here); never overwritten")
	f.DurationVar(&o.Since, "since", time.Hour, "How far back to read the agents' logs")
	f.Int64Var(&o.LogLines, "log-lines", 2000, "At most this many lines of each agent's log")
	f.Int64Var(&o.ChunkSize, "chunk-size", cluster.DefaultChunkSize, "Page size of LIST requests")
	f.BoolVar(&o.NodeChecks, "node-checks", false, "Also keep the node facts of doctor --node-checks: one debug pod per node (all nodes unless --node or -l)")
	o.addFlags(f)
	return cmd
}

// Complete picks the file name and makes the client.
func (o *BundleOptions) Complete() error {
	o.now = time.Now().UTC()
	if o.Output == "" {
		o.Output = "acknet-bundle-" + o.now.Format("20060102-150405") + ".tar.gz"
	}
	cs, cfg, err := o.Global.Clientset()
	if err != nil {
		return err
	}
	o.client, o.config, o.server = cs, cfg, cfg.Host
	return nil
}

// Validate checks the flags.
func (o *BundleOptions) Validate() error {
	if o.Since <= 0 || o.LogLines <= 0 || o.ChunkSize <= 0 {
		return usageErr("--since, --log-lines and --chunk-size must be positive")
	}
	if !strings.HasSuffix(o.Output, ".tar.gz") && !strings.HasSuffix(o.Output, ".tgz") {
		return usageErr("-o %s: a bundle is a .tar.gz", o.Output)
	}
	if !o.NodeChecks {
		if len(o.Nodes) > 0 || o.Selector != "" || o.AllNodes {
			return usageErr("--node, -l and --all-nodes choose the nodes of --node-checks; add --node-checks")
		}
		return nil
	}
	if len(o.Nodes) == 0 && o.Selector == "" {
		o.AllNodes = true
	}
	return o.validate()
}

// activity is the plugin's own log, kept in the bundle.
type activity struct {
	start time.Time
	b     bytes.Buffer
}

func (a *activity) logf(format string, args ...any) {
	fmt.Fprintf(&a.b, "%8.3fs  ", time.Since(a.start).Seconds())
	fmt.Fprintf(&a.b, format, args...)
	a.b.WriteByte('\n')
}

// Run reads, redacts and writes the archive.
func (o *BundleOptions) Run(ctx context.Context) error {
	// Create first: a file that exists is never overwritten, and a path
	// that cannot be written fails before the cluster is read.
	f, err := os.OpenFile(o.Output, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	var done atomic.Bool
	defer func() {
		_ = f.Close()
		if !done.Load() {
			_ = os.Remove(o.Output)
		}
	}()
	// A second Ctrl-C exits at once: the partial archive goes even then,
	// or it would block the next run (never overwritten) and look whole.
	defer atExit(ctx, func() {
		if !done.Load() {
			_ = os.Remove(o.Output)
		}
	})()
	act := &activity{start: time.Now()}
	act.logf("kubectl-acknet %s: bundle of %s", Version, o.server)
	snap, err := cluster.Read(ctx, o.client, cluster.Options{ChunkSize: o.ChunkSize})
	if err != nil {
		return fmt.Errorf("bundle: read cluster: %w", err)
	}
	act.logf("read the cluster: %d nodes, %d pods, %d Services, %d DaemonSets, %d events, %d ConfigMaps, %d reads failed",
		len(snap.Nodes), snap.Pods.Total, len(snap.Services), len(snap.DaemonSets), len(snap.Events), len(snap.ConfigMaps), len(snap.Reads))
	reds := bundle.Snapshot(snap)
	act.logf("redacted what was read: %d places", len(reds))

	// The report of what the archive holds: what doctor --from-bundle
	// prints, and what doctor printed live.
	env := checks.NewEnv(snap)
	selected := defaultDoctorChecks(o.NodeChecks)
	var raws map[string]*checks.NodeRaw
	if o.NodeChecks {
		act.logf("node checks: debug pods in %s", o.Namespace)
		facts, r, err := o.gatherNodeFacts(ctx, o.client, o.config, o.ErrOut, env)
		if err != nil {
			return fmt.Errorf("bundle: %w", err)
		}
		env.NodeFacts, raws = facts, r
		if nr := bundle.RedactNodeFacts(raws); len(nr) > 0 {
			// Judge what the archive keeps, as the replay will.
			plan, err := checks.PlanNodeFacts(env)
			if err != nil {
				return err
			}
			for node, raw := range raws {
				env.NodeFacts[node] = plan.Facts(raw)
			}
			reds = append(reds, nr...)
		}
		act.logf("node checks: %d nodes", len(raws))
	}
	rep := report.Build(env, o.server, checks.Run(env, selected))
	var repJSON bytes.Buffer
	if err := (report.Printer{Format: "json"}).Print(&repJSON, rep); err != nil {
		return err
	}
	act.logf("ran %d checks", len(rep.Checks))

	m := &bundle.Manifest{Created: o.now, Server: o.server, PluginVersion: Version,
		Command: o.command()}
	m.Denied, m.Skipped = bundle.ReadsOf(snap)
	m.Redactions = reds
	w := bundle.NewWriter(f, m)
	var snapJSON bytes.Buffer
	if err := cluster.Encode(&snapJSON, snap); err != nil {
		return err
	}
	if err := w.Add(bundle.SnapshotFile, "what doctor read, redacted (doctor --from-bundle replays it)", snapJSON.Bytes()); err != nil {
		return err
	}
	if err := w.Add(bundle.ReportFile, "doctor's report", repJSON.Bytes()); err != nil {
		return err
	}
	if raws != nil {
		var nf bytes.Buffer
		enc := json.NewEncoder(&nf)
		enc.SetIndent("", " ")
		if err := enc.Encode(bundle.NodeFacts{APIVersion: bundle.ManifestAPIVersion, Kind: bundle.NodeFactsKind, Nodes: raws}); err != nil {
			return err
		}
		if err := w.Add(bundle.NodeFactsFile, "what each node's debug pod gave back (doctor --from-bundle --node-checks parses it)", nf.Bytes()); err != nil {
			return err
		}
	} else {
		m.Skipped = append(m.Skipped, bundle.Item{What: "node facts", Reason: "not asked for (bundle --node-checks)"})
	}
	if len(snap.Pods.SystemPods) == 0 && snap.ReadErr(cluster.ReadPods) == nil {
		m.Skipped = append(m.Skipped, bundle.Item{What: "agents' logs", Reason: "no kube-proxy, Terway or Flannel pod in kube-system"})
	}
	// Each log goes into the archive as it is read: memory holds a few
	// logs, not one per node.
	var logReds []bundle.Redaction
	err = bundle.Logs(ctx, o.client, snap.Pods.SystemPods, bundle.LogOptions{Since: o.Since, Lines: o.LogLines, MaxBytes: 4 << 20}, func(l bundle.AgentLog) error {
		what := fmt.Sprintf("%s/%s", l.Pod.Namespace, l.Pod.Name)
		if l.Err != nil {
			it := bundle.Item{What: "log of " + what, Reason: l.Err.Error()}
			if bundle.IsForbidden(l.Err) {
				m.Denied = append(m.Denied, it)
			} else {
				m.Skipped = append(m.Skipped, it)
			}
			act.logf("log of %s: %v", what, l.Err)
			return nil
		}
		name := filepath.ToSlash(filepath.Join(bundle.LogsDir, l.Pod.Namespace, l.Pod.Name+".log"))
		if err := w.Add(name, fmt.Sprintf("%s log (%s), last %s, at most %d lines", l.Pod.Detail, orAll(l.Container), o.Since, o.LogLines), l.Data); err != nil {
			return err
		}
		if l.Redactions > 0 {
			logReds = append(logReds, bundle.Redaction{Where: "log of " + what, What: "credentials in log lines", Count: l.Redactions})
		}
		act.logf("log of %s: %d bytes", what, len(l.Data))
		return nil
	})
	if err != nil {
		return err
	}
	// Ctrl-C stops the bundle: an archive whose logs were cut short by the
	// user is not one to attach to a ticket.
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("bundle: interrupted while reading the agents' logs; nothing written: %w", err)
	}
	sort.Slice(logReds, func(i, j int) bool { return logReds[i].Where < logReds[j].Where })
	m.Redactions = append(m.Redactions, logReds...)
	if err := w.Add(bundle.VersionFile, "the plugin's version", []byte(versionLine()+"\n")); err != nil {
		return err
	}
	act.logf("writing %s", o.Output)
	if err := w.Add(bundle.ActivityFile, "what the plugin did", act.b.Bytes()); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	done.Store(true)
	st, err := f.Stat()
	if err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "wrote %s (%s, %d files)\n", o.Output, humanBytes(st.Size()), len(m.Files)+1)
	if len(m.Redactions) == 0 {
		fmt.Fprintln(o.Out, "redacted: nothing")
	} else {
		fmt.Fprintln(o.Out, "redacted:")
		for _, r := range m.Redactions {
			fmt.Fprintf(o.Out, "  %s: %s (%d)\n", r.Where, r.What, r.Count)
		}
	}
	if len(m.Denied) > 0 {
		fmt.Fprintf(o.Out, "denied by RBAC: %d (listed in MANIFEST.txt)\n", len(m.Denied))
	}
	if len(m.Skipped) > 0 {
		fmt.Fprintf(o.Out, "skipped: %d (listed in MANIFEST.txt)\n", len(m.Skipped))
	}
	if st.Size() > bundle.SizeLimit {
		fmt.Fprintf(o.ErrOut, "warning: %s is %s, over the 25 MB attachment limit of common trackers; cut --since or --log-lines\n", o.Output, humanBytes(st.Size()))
	}
	return nil
}

// command is what ran, for the MANIFEST: the flags that change what the
// bundle holds (not -o, not the kubeconfig's flags, which can carry a token).
func (o *BundleOptions) command() string {
	c := fmt.Sprintf("kubectl acknet bundle --since %s --log-lines %d", o.Since, o.LogLines)
	if o.ChunkSize != cluster.DefaultChunkSize {
		c += fmt.Sprintf(" --chunk-size %d", o.ChunkSize)
	}
	if !o.NodeChecks {
		return c
	}
	c += " --node-checks"
	switch {
	case len(o.Nodes) > 0:
		c += " --node " + strings.Join(o.Nodes, ",")
	case o.Selector != "":
		c += " -l " + o.Selector
	}
	return c
}

func orAll(c string) string {
	if c == "" {
		return "its container"
	}
	return "container " + c
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f kB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// defaultDoctorChecks are the checks `doctor` runs without --checks (and
// with --node-checks when nodes is true).
func defaultDoctorChecks(nodes bool) []checks.Check {
	var out []checks.Check
	for _, c := range checks.All() {
		if (!c.Node || nodes) && !c.Cloud {
			out = append(out, c)
		}
	}
	return out
}
