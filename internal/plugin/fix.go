package plugin

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/cli-runtime/pkg/printers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kubectl-acknet/kubectl-acknet/internal/cmwrite"
	"github.com/kubectl-acknet/kubectl-acknet/internal/confdiff"
	"github.com/kubectl-acknet/kubectl-acknet/internal/fix"
	"github.com/kubectl-acknet/kubectl-acknet/internal/nodeexec"
	"github.com/kubectl-acknet/kubectl-acknet/internal/nodescripts"
	"github.com/kubectl-acknet/kubectl-acknet/internal/rollout"
)

const (
	fixNamespace = "kube-system"

	defaultRestartTimeout = 5 * time.Minute
)

// FixOptions are the options of `kubectl acknet fix`.
type FixOptions struct {
	genericiooptions.IOStreams
	Global *GlobalOptions
	NodeOptions

	Check          string
	Set            []string
	List           bool
	Rollback       string
	Apply          bool
	Yes            bool
	Restart        bool
	MaxUnavailable int
	RestartTimeout time.Duration

	set    map[string]string
	fixer  *fix.Fixer
	client kubernetes.Interface
	config *rest.Config
	nodes  *nodeexec.Runner
	color  bool
	// backups made by this run, named when a restart fails.
	backups []string
	// restartTuned: --max-unavailable or --restart-timeout was given.
	restartTuned      bool
	maxUnavailableSet bool
}

func newFixCmd(streams genericiooptions.IOStreams, g *GlobalOptions) *cobra.Command {
	o := &FixOptions{IOStreams: streams, Global: g}
	cmd := &cobra.Command{
		Use:   "fix CHECK-ID [--set KEY=VALUE] [--apply [--restart]] | --list | --rollback BACKUP",
		Short: "Apply the ConfigMap remedy of a doctor check: diff first, backup, rollback, controlled restart",
		Long: `fix applies the FAQ's ConfigMap remedy of one doctor check the way a careful
operator would. Without --apply it only prints a unified diff of each
ConfigMap key that would change. The edit is minimal: only the field changes;
comments, key order and formatting stay. The result is checked with the same
strict parsers doctor uses before anything is written.

With --apply it first saves the original data as a labelled ConfigMap next to
it (undo with --rollback NAME, byte for byte), then writes with the
resourceVersion it read: if someone changed the ConfigMap in between, it
stops and writes nothing. It asks before writing unless --yes; without a
terminal it needs --yes. Backups stay until deleted:
  kubectl -n kube-system get configmap -l acknet.kubectl.io/backup-of

Network agents read their config at start. --restart restarts the DaemonSets
that consume the changed ConfigMaps: a rollout restart under the DaemonSet's
own RollingUpdate strategy, or, with --max-unavailable or an OnDelete
strategy, pod by pod, each replacement waited for until Ready. The first pod
that does not come back within --restart-timeout stops the restart.

Setting an IPVS scheduler first checks on every node, through short-lived
debug pods, that its kernel module ip_vs_<name> is loaded or loadable, and
refuses otherwise.

ACK add-on upgrades may overwrite these ConfigMaps: run doctor after an
upgrade.`,
		Example: `  # What can be fixed, and what each fix changes
  kubectl acknet fix --list

  # Show the diff (nothing is written)
  kubectl acknet fix kubeproxy.ipvs-udp-timeout

  # Write it (backup first), then restart kube-proxy pod by pod
  kubectl acknet fix kubeproxy.ipvs-udp-timeout --apply --restart --max-unavailable 1

  # Other values than the FAQ's
  kubectl acknet fix kubeproxy.ipvs-scheduler --set scheduler=lc --apply

  # Undo: restore the backup named by --apply
  kubectl acknet fix --rollback acknet-backup-kube-proxy-worker-20261127-130501`,
		Args: cobra.MaximumNArgs(1),
		ValidArgsFunction: func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return fix.IDs(), cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			o.maxUnavailableSet = cmd.Flags().Changed("max-unavailable")
			o.restartTuned = o.maxUnavailableSet || cmd.Flags().Changed("restart-timeout")
			if err := o.Complete(args); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.Set, "set", nil, "KEY=VALUE for the fix (repeatable; see --list)")
	f.BoolVar(&o.List, "list", false, "List the fixable checks and what each changes")
	f.StringVar(&o.Rollback, "rollback", "", "Restore a ConfigMap from this backup (a name printed by --apply)")
	f.BoolVar(&o.Apply, "apply", false, "Write the change (default: only show the diff)")
	f.BoolVar(&o.Yes, "yes", false, "Do not ask for confirmation")
	f.BoolVar(&o.Restart, "restart", false, "Restart the DaemonSets that read the changed ConfigMaps")
	f.IntVar(&o.MaxUnavailable, "max-unavailable", 0, "With --restart: restart pod by pod, at most this many at once (default: the DaemonSet's own strategy)")
	f.DurationVar(&o.RestartTimeout, "restart-timeout", defaultRestartTimeout, "With --restart: how long one pod may take to be Ready again (or a rollout may go without progress)")
	o.addRunnerFlags(f)
	return cmd
}

// Complete parses the arguments and --set values.
func (o *FixOptions) Complete(args []string) error {
	if len(args) == 1 {
		o.Check = args[0]
	}
	o.set = map[string]string{}
	for _, kv := range o.Set {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return usageErr("--set %q: want KEY=VALUE", kv)
		}
		if _, dup := o.set[k]; dup {
			return usageErr("--set %s given twice", k)
		}
		o.set[k] = v
	}
	o.color = !o.Global.NoColor && printers.AllowsColorOutput(o.Out)
	return nil
}

// Validate checks the flag combination.
func (o *FixOptions) Validate() error {
	modes := 0
	for _, on := range []bool{o.Check != "", o.List, o.Rollback != ""} {
		if on {
			modes++
		}
	}
	if modes != 1 {
		return usageErr("say what to do: a CHECK-ID, --list or --rollback BACKUP (see --help)")
	}
	if o.Check != "" {
		f, ok := fix.Lookup(o.Check)
		if !ok {
			return usageErr("%q has no config fix; fixable: %s", o.Check, strings.Join(fix.IDs(), ", "))
		}
		o.fixer = f
	}
	if (o.List || o.Rollback != "") && len(o.Set) > 0 {
		return usageErr("--set goes with a CHECK-ID")
	}
	if o.Restart && o.Check != "" && !o.Apply {
		return usageErr("--restart needs --apply (a dry run restarts nothing)")
	}
	if o.MaxUnavailable < 0 || o.maxUnavailableSet && o.MaxUnavailable == 0 {
		return usageErr("--max-unavailable must be 1 or more")
	}
	if o.restartTuned && !o.Restart {
		return usageErr("--max-unavailable and --restart-timeout go with --restart")
	}
	if o.RestartTimeout < time.Second {
		return usageErr("--restart-timeout must be at least 1s")
	}
	return o.validateRunner()
}

// Run lists, plans and applies, or rolls back.
func (o *FixOptions) Run(ctx context.Context) error {
	if o.List {
		return o.list()
	}
	cs, cfg, err := o.Global.Clientset()
	if err != nil {
		return err
	}
	o.client, o.config = cs, cfg
	o.nodes = o.runner(cs, cfg, progressWriter(o.ErrOut))
	o.interruptMsg = "interrupted: stopping; nothing more is written or deleted (a fix written in part is put back), debug pods are removed"
	defer o.onInterrupt(ctx, o.nodes)()
	if o.Rollback != "" {
		return o.rollback(ctx)
	}
	return o.fix(ctx)
}

func (o *FixOptions) list() error {
	for i, f := range fix.Fixers() {
		if i > 0 {
			fmt.Fprintln(o.Out)
		}
		fmt.Fprintf(o.Out, "%s\n  changes: %s\n", f.ID, f.Changes)
		for _, p := range f.Params {
			d := p.Default
			if d == "" {
				d = "required"
			}
			fmt.Fprintf(o.Out, "  --set %s=... (%s): %s\n", p.Name, d, p.Help)
		}
	}
	return nil
}

func (o *FixOptions) fix(ctx context.Context) error {
	in := &fix.Input{Data: map[string]map[string]string{}, Set: o.set}
	read := map[string]*corev1.ConfigMap{}
	for _, name := range o.fixer.ConfigMaps {
		cm, err := o.client.CoreV1().ConfigMaps(fixNamespace).Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			continue
		case err != nil:
			return fmt.Errorf("read %s/ConfigMap/%s: %w", fixNamespace, name, err)
		}
		read[name] = cm
		in.Data[name] = cm.Data
	}
	dss, err := o.client.AppsV1().DaemonSets(fixNamespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list DaemonSets of %s: %w", fixNamespace, err)
	}
	if v, err := o.client.Discovery().ServerVersion(); err == nil {
		in.KubeMajor, _ = strconv.Atoi(strings.TrimSuffix(v.Major, "+"))
		in.KubeMinor, _ = strconv.Atoi(strings.TrimSuffix(v.Minor, "+"))
	}
	if o.fixer.Needs&fix.NeedFlannelVersion != 0 {
		in.FlannelVersion = fix.FlannelVersion(dss.Items)
	}
	if o.fixer.Needs&fix.NeedNetworkPolicies != 0 {
		o.countNetworkPolicies(ctx, in)
	}
	plan, err := o.fixer.Plan(in)
	if err != nil {
		return fmt.Errorf("%s: %w", o.fixer.ID, err)
	}
	o.printPlan(plan)
	// The readers of what changes; with nothing to change, --restart
	// restarts the readers of every ConfigMap the fix looks at.
	changed := plan.ConfigMaps()
	if len(plan.Edits) == 0 {
		changed = slices.Sorted(maps.Keys(read))
	}
	consumers := readers{}
	for _, cm := range changed {
		consumers[cm] = fix.Readers(dss.Items, cm)
	}
	if len(plan.Edits) == 0 {
		fmt.Fprintln(o.Out, "nothing to change")
		if !o.Restart {
			return nil
		}
		if err := o.confirm(ctx, "Restart "+consumers.String()+"?"); err != nil {
			return err
		}
		return o.restart(ctx, consumers)
	}
	if !o.Apply {
		fmt.Fprintf(o.Out, "dry run: nothing written. To write it (a backup is kept): kubectl acknet fix %s%s --apply --restart\n", o.fixer.ID, o.setFlags())
		return nil
	}
	if plan.Scheduler != "" {
		if err := o.checkSchedulerModule(ctx, plan.Scheduler); err != nil {
			return err
		}
	}
	fmt.Fprintln(o.ErrOut, "note: ACK add-on upgrades may overwrite manual ConfigMap changes; run kubectl acknet doctor after an upgrade")
	what := fmt.Sprintf("Write %s (a backup of each first)", strings.Join(prefixed(plan.ConfigMaps()), ", "))
	if o.Restart {
		what += " and restart " + consumers.String()
	}
	if err := o.confirm(ctx, what+"?"); err != nil {
		return err
	}
	if err := o.writeAll(ctx, read, plan); err != nil {
		return err
	}
	if !o.Restart {
		if len(consumers.daemonSets()) == 0 {
			fmt.Fprintf(o.Out, "no DaemonSet of %s reads it: restart whatever runs the agent so it reads the new config\n", fixNamespace)
		} else {
			fmt.Fprintf(o.Out, "the agents read this config when they start: restart %s (kubectl acknet fix %s --apply --restart)\n", consumers, o.fixer.ID)
		}
		return nil
	}
	return o.restart(ctx, consumers)
}

func (o *FixOptions) setFlags() string {
	var out string
	for _, kv := range o.Set {
		out += " --set " + kv
	}
	return out
}

// writeAll writes every ConfigMap of the plan, or none of them.
func (o *FixOptions) writeAll(ctx context.Context, read map[string]*corev1.ConfigMap, plan *fix.Plan) error {
	var changes []cmwrite.Change
	for _, name := range plan.ConfigMaps() {
		cm := read[name]
		changes = append(changes, cmwrite.Change{From: cm, Data: plan.Apply(name, cm.Data), BinaryData: cm.BinaryData})
	}
	written, err := o.store().WriteAll(ctx, changes, "fix "+plan.Check)
	if errors.Is(err, cmwrite.ErrChanged) {
		return fmt.Errorf("%w; run the fix again to plan on the new content", err)
	}
	if err != nil {
		return err
	}
	for _, w := range written {
		o.backups = append(o.backups, w.Backup)
		fmt.Fprintf(o.Out, "wrote %s; backup %s (undo: kubectl acknet fix --rollback %s)\n", cmwrite.Object(w.Stored), w.Backup, w.Backup)
	}
	return nil
}

func (o *FixOptions) store() *cmwrite.Store {
	return &cmwrite.Store{Client: o.client, Labels: map[string]string{nodeexec.LabelManagedBy: nodeexec.ManagedBy}}
}

func (o *FixOptions) rollback(ctx context.Context) error {
	b, cur, err := o.store().Restore(ctx, fixNamespace, o.Rollback)
	if errors.Is(err, cmwrite.ErrNotBackup) {
		return usageErr("%v", err)
	}
	if err != nil {
		return err
	}
	target := cur.Name
	fmt.Fprintf(o.Out, "rollback %s/ConfigMap/%s to backup %s (saved %s by %s)\n", fixNamespace, target, b.Name, b.Annotations[cmwrite.AnnotationBackupTaken], b.Annotations[cmwrite.AnnotationBackupBy])
	keys := map[string]bool{}
	for k := range cur.Data {
		keys[k] = true
	}
	for k := range b.Data {
		keys[k] = true
	}
	var names []string
	for k := range keys {
		names = append(names, k)
	}
	sort.Strings(names)
	changed := 0
	for _, k := range names {
		before, had := cur.Data[k]
		after, has := b.Data[k]
		if before == after && had == has {
			continue
		}
		changed++
		o.printDiff(target, k, before, after, had, has)
	}
	if changed == 0 && equalBinary(cur.BinaryData, b.BinaryData) {
		fmt.Fprintf(o.Out, "%s/ConfigMap/%s already has the backup's data\n", fixNamespace, target)
	} else {
		if err := o.confirm(ctx, fmt.Sprintf("Restore %s/ConfigMap/%s (its current data is backed up first)?", fixNamespace, target)); err != nil {
			return err
		}
		w, err := o.store().Write(ctx, cmwrite.Change{From: cur, Data: b.Data, BinaryData: b.BinaryData}, "fix --rollback "+b.Name)
		if errors.Is(err, cmwrite.ErrChanged) {
			return fmt.Errorf("%w; run the rollback again", err)
		}
		if err != nil {
			return err
		}
		undo := w.Backup
		fmt.Fprintf(o.Out, "restored %s/ConfigMap/%s from %s; its previous data is in %s\n", fixNamespace, target, b.Name, undo)
	}
	if !o.Restart {
		return nil
	}
	dss, err := o.client.AppsV1().DaemonSets(fixNamespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list DaemonSets of %s: %w", fixNamespace, err)
	}
	return o.restart(ctx, readers{target: fix.Readers(dss.Items, target)})
}

// checkSchedulerModule refuses a scheduler whose kernel module is neither
// loaded nor available to modprobe on every node: kube-proxy would fall
// back to iptables there, or fail.
func (o *FixOptions) checkSchedulerModule(ctx context.Context, sched string) error {
	all := NodeOptions{AllNodes: true}
	nodes, err := all.resolve(ctx, o.client)
	if err != nil {
		return fmt.Errorf("list the nodes to check ip_vs_%s: %w; nothing written", sched, err)
	}
	module := "ip_vs_" + sched
	fmt.Fprintf(o.ErrOut, "checking kernel module %s on %d nodes (debug pods in %s)\n", module, len(nodes), o.Namespace)
	env := nodescripts.ModulesEnv(sched, false)
	res, results := collect(ctx, o.nodes, "ipvs-modules", nodes, func(ctx context.Context, s *nodeexec.Session) (*nodescripts.ModulesResult, error) {
		return runScript(ctx, s, nodescripts.IPVSModules, s.HostRoot(), env, nil, nodescripts.ParseModules)
	})
	var missing, failed, unready []string
	for _, r := range results {
		if r.Err != nil {
			failed = append(failed, fmt.Sprintf("%s (%v)", r.Node, r.Err))
		}
	}
	for _, n := range nodes {
		r, ok := res[n]
		if !ok {
			continue
		}
		found, ready := false, false
		for _, m := range r.Modules {
			if m.Name == module {
				found = m.Loaded || m.Available
				ready = m.Loaded && m.Persisted
			}
		}
		switch {
		case !found:
			missing = append(missing, n)
		case !ready:
			unready = append(unready, n)
		}
	}
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted while checking %s; nothing written", module)
	}
	var why []string
	if len(missing) > 0 {
		why = append(why, fmt.Sprintf("%s is neither loaded nor available on %d of %d nodes: %s; load it first: kubectl acknet ipvs modules --scheduler %s --node %s --apply",
			module, len(missing), len(nodes), strings.Join(missing, ", "), sched, strings.Join(missing, ",")))
	}
	if len(failed) > 0 {
		why = append(why, fmt.Sprintf("could not check %d nodes: %s", len(failed), strings.Join(failed, "; ")))
	}
	if len(why) > 0 {
		return fmt.Errorf("refusing to set scheduler %s: %s; nothing written", sched, strings.Join(why, "; "))
	}
	fmt.Fprintf(o.ErrOut, "%s is loaded or loadable on all %d nodes\n", module, len(nodes))
	if len(unready) > 0 {
		fmt.Fprintf(o.ErrOut, "warning: %s is not loaded or not persisted on %d nodes (%s): kube-proxy may fall back after a restart or reboot there; "+
			"kubectl acknet ipvs modules --scheduler %s --node %s --apply loads and persists it\n",
			module, len(unready), strings.Join(unready, ", "), sched, strings.Join(unready, ","))
	}
	return nil
}

func equalBinary(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || string(v) != string(w) {
			return false
		}
	}
	return true
}

// confirm asks before writing or restarting anything.
func (o *FixOptions) confirm(ctx context.Context, prompt string) error {
	return confirm(ctx, o.IOStreams, o.Yes, "nothing written", prompt)
}

func (o *FixOptions) restart(ctx context.Context, consumers readers) error {
	for _, cm := range slices.Sorted(maps.Keys(consumers)) {
		if len(consumers[cm]) == 0 {
			fmt.Fprintf(o.ErrOut, "warning: no DaemonSet of %s reads ConfigMap %s; nothing to restart for it\n", fixNamespace, cm)
		}
	}
	for _, name := range consumers.daemonSets() {
		err := rollout.Restart(ctx, o.client, fixNamespace, name, rollout.Options{
			MaxUnavailable: o.MaxUnavailable, Timeout: o.RestartTimeout, Out: o.Out,
		})
		if err != nil {
			for _, b := range o.backups {
				err = fmt.Errorf("%w\nto undo the config change: kubectl acknet fix --rollback %s --restart", err, b)
			}
			return err
		}
	}
	return nil
}

func (o *FixOptions) printPlan(p *fix.Plan) {
	fmt.Fprintf(o.Out, "fix %s: %s\n", p.Check, o.fixer.Changes)
	for _, u := range p.Unchanged {
		fmt.Fprintf(o.Out, "  unchanged: %s\n", u)
	}
	for _, n := range p.Notes {
		fmt.Fprintf(o.Out, "  note: %s\n", n)
	}
	for _, e := range p.Edits {
		fmt.Fprintf(o.Out, "  change: %s\n", e.What)
	}
	for _, e := range p.Edits {
		o.printDiff(e.ConfigMap, e.Key, e.Before, e.After, e.Existed, !e.Remove)
	}
}

// printDiff prints a unified diff of one ConfigMap key.
func (o *FixOptions) printDiff(cm, key, before, after string, had, has bool) {
	confdiff.Write(o.Out, confdiff.Key{
		Path: fixNamespace + "/" + cm + "/" + key, Before: before, After: after, Had: had, Has: has,
	}, o.color)
}

func (o *FixOptions) countNetworkPolicies(ctx context.Context, in *fix.Input) {
	l, err := o.client.NetworkingV1().NetworkPolicies("").List(ctx, metav1.ListOptions{Limit: 1})
	if err != nil {
		in.NetworkPolicies, in.Example = -1, err.Error()
		return
	}
	in.NetworkPolicies = len(l.Items)
	if l.RemainingItemCount != nil {
		in.NetworkPolicies += int(*l.RemainingItemCount)
	} else if l.Continue != "" {
		in.NetworkPolicies++
	}
	if len(l.Items) > 0 {
		in.Example = l.Items[0].Namespace + "/" + l.Items[0].Name
	}
}

// readers maps a ConfigMap to the DaemonSets that read it.
type readers map[string][]string

// daemonSets returns every reader once, sorted.
func (r readers) daemonSets() []string {
	var all []string
	for _, names := range r {
		all = append(all, names...)
	}
	return sortedUnique(all)
}

func (r readers) String() string {
	all := r.daemonSets()
	if len(all) == 0 {
		return "no DaemonSet"
	}
	return "DaemonSet " + strings.Join(prefixed(all), ", ")
}

func prefixed(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = fixNamespace + "/" + n
	}
	return out
}
