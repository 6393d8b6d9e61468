package fix

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	kubeproxyv1alpha1 "k8s.io/kube-proxy/config/v1alpha1"

	"github.com/kubectl-acknet/kubectl-acknet/internal/ackconf"
	"github.com/kubectl-acknet/kubectl-acknet/internal/checks"
	"github.com/kubectl-acknet/kubectl-acknet/internal/cluster"
	"github.com/kubectl-acknet/kubectl-acknet/internal/confedit"
	"github.com/kubectl-acknet/kubectl-acknet/internal/nodescripts"
)

const kpKey = ackconf.KeyKubeProxyConfig

var kubeProxyCMs = []string{cluster.CMKubeProxyWorker, cluster.CMKubeProxyMaster}

// kubeProxyConf is one parsed kube-proxy ConfigMap.
type kubeProxyConf struct {
	name string
	text string
	cfg  *kubeproxyv1alpha1.KubeProxyConfiguration
	sum  ackconf.KubeProxySummary
}

// kubeProxyConfs parses kube-proxy-worker (required) and kube-proxy-master
// (when it exists). A config.conf that does not parse stops the fix: an edit
// on top of a broken file cannot be validated.
func kubeProxyConfs(in *Input) ([]kubeProxyConf, error) {
	var out []kubeProxyConf
	for _, name := range kubeProxyCMs {
		d, ok := in.Data[name]
		if !ok {
			if name == cluster.CMKubeProxyWorker {
				return nil, fmt.Errorf("kube-system/ConfigMap/%s does not exist", name)
			}
			continue
		}
		text, ok := d[kpKey]
		if !ok {
			return nil, fmt.Errorf("kube-system/ConfigMap/%s has no %s: kube-proxy takes flags there; change the DaemonSet's command by hand", name, kpKey)
		}
		cfg, err := ackconf.ParseKubeProxyConfig(text)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w; fix it by hand first (see kubeproxy.config)", name, kpKey, err)
		}
		out = append(out, kubeProxyConf{name: name, text: text, cfg: cfg, sum: ackconf.SummarizeKubeProxy(cfg)})
	}
	return out, nil
}

// yamlOp is one field edit of config.conf; value "" deletes the field.
type yamlOp struct {
	path  []string
	value string
}

// kubeProxyEdit applies ops to one config.conf and validates the result
// strictly, as kube-proxy will load it.
func kubeProxyEdit(p *Plan, kp kubeProxyConf, ops []yamlOp, what string, check func(ackconf.KubeProxySummary) error) error {
	after := kp.text
	for _, op := range ops {
		var err error
		if op.value == "" {
			after, err = confedit.DeleteYAML(after, op.path)
		} else {
			after, err = confedit.SetYAML(after, op.path, op.value)
		}
		if err != nil {
			return fmt.Errorf("%s %s: %w", kp.name, kpKey, err)
		}
	}
	cfg, err := ackconf.ParseKubeProxyConfig(after)
	if err != nil {
		return fmt.Errorf("internal error: the edited %s of %s would not load: %w", kpKey, kp.name, err)
	}
	if err := check(ackconf.SummarizeKubeProxy(cfg)); err != nil {
		return fmt.Errorf("internal error: the edited %s of %s: %w", kpKey, kp.name, err)
	}
	if err := verifyOnly(kp.text, after, true, func(m map[string]any) error {
		for _, op := range ops {
			if op.value == "" {
				deletePath(m, op.path)
			} else if err := setPath(m, op.path, yamlValue(op.value)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}
	p.Edits = append(p.Edits, Edit{ConfigMap: kp.name, Key: kpKey, Before: kp.text, After: after, Existed: true, What: kp.name + ": " + what})
	return nil
}

func conntrackMaxPerCore() *Fixer {
	f := &Fixer{
		ID:         "kubeproxy.conntrack-max-per-core",
		Changes:    "kube-proxy-worker/-master config.conf: set conntrack.maxPerCore (default 65536) where it is lower",
		ConfigMaps: kubeProxyCMs,
		Params:     []Param{{Name: "maxPerCore", Default: strconv.Itoa(checks.MinMaxPerCore), Help: "conntrack entries per CPU core"}},
	}
	f.plan = func(in *Input, p *Plan) error {
		raw, explicit := f.param(in, "maxPerCore")
		want, err := strconv.ParseInt(raw, 10, 32)
		if err != nil || want < 1 {
			return fmt.Errorf("--set maxPerCore=%q is not a positive integer", raw)
		}
		if want < checks.MinMaxPerCore {
			p.Notes = append(p.Notes, fmt.Sprintf("maxPerCore %d is below %d: doctor will keep warning", want, checks.MinMaxPerCore))
		}
		confs, err := kubeProxyConfs(in)
		if err != nil {
			return err
		}
		for _, kp := range confs {
			// An unset field is kube-proxy's default (32768), below the floor:
			// it is set like a low one.
			cur := kp.sum.MaxPerCore
			ok := cur != nil && (*cur == 0 || *cur >= checks.MinMaxPerCore)
			if (ok && !explicit) || (cur != nil && !kp.sum.MaxPerCoreDefault && int64(*cur) == want) {
				p.Unchanged = append(p.Unchanged, fmt.Sprintf("%s conntrack.maxPerCore: %s", kp.name, maxPerCoreStr(kp.sum)))
				continue
			}
			err := kubeProxyEdit(p, kp, []yamlOp{{[]string{"conntrack", "maxPerCore"}, raw}},
				fmt.Sprintf("conntrack.maxPerCore %s -> %d", maxPerCoreStr(kp.sum), want),
				func(s ackconf.KubeProxySummary) error {
					if s.MaxPerCore == nil || s.MaxPerCoreDefault || int64(*s.MaxPerCore) != want {
						return fmt.Errorf("maxPerCore is %s", int32Str(s.MaxPerCore))
					}
					return nil
				})
			if err != nil {
				return err
			}
		}
		return nil
	}
	return f
}

// maxPerCoreStr says what kube-proxy uses, and whether config.conf sets it.
func maxPerCoreStr(s ackconf.KubeProxySummary) string {
	if s.MaxPerCoreDefault && s.MaxPerCore != nil {
		return fmt.Sprintf("unset (kube-proxy's default %d)", *s.MaxPerCore)
	}
	return int32Str(s.MaxPerCore)
}

func int32Str(p *int32) string {
	if p == nil {
		return "unset"
	}
	return strconv.Itoa(int(*p))
}

func ipvsUDPTimeout() *Fixer {
	f := &Fixer{
		ID:         "kubeproxy.ipvs-udp-timeout",
		Changes:    "kube-proxy-worker/-master config.conf: set ipvs.udpTimeout (default 10s) in IPVS mode",
		ConfigMaps: kubeProxyCMs,
		Params:     []Param{{Name: "udpTimeout", Default: checks.MaxUDPTimeout.String(), Help: "IPVS UDP session timeout"}},
	}
	f.plan = func(in *Input, p *Plan) error {
		if in.kubeBefore(1, 18) {
			return fmt.Errorf("this is Kubernetes %d.%d, and kube-proxy would refuse to start with ipvs.udpTimeout (%s); "+
				"set the timeout on the nodes instead: kubectl acknet ipvs timeout --set 900,120,10 --all-nodes", in.KubeMajor, in.KubeMinor, checks.UDPTimeoutRule)
		}
		raw, explicit := f.param(in, "udpTimeout")
		want, err := time.ParseDuration(raw)
		if err != nil || want <= 0 {
			return fmt.Errorf("--set udpTimeout=%q is not a positive duration such as 10s", raw)
		}
		confs, err := kubeProxyConfs(in)
		if err != nil {
			return err
		}
		for _, kp := range confs {
			s := kp.sum
			switch {
			case s.Mode != "ipvs":
				p.Unchanged = append(p.Unchanged, fmt.Sprintf("%s: mode %s, not ipvs", kp.name, s.Mode))
				continue
			case s.UDPTimeoutSet && s.UDPTimeout == want,
				s.UDPTimeoutSet && s.UDPTimeout <= checks.MaxUDPTimeout && !explicit:
				p.Unchanged = append(p.Unchanged, fmt.Sprintf("%s ipvs.udpTimeout: %s", kp.name, s.UDPTimeoutHuman))
				continue
			}
			err := kubeProxyEdit(p, kp, []yamlOp{{[]string{"ipvs", "udpTimeout"}, raw}},
				fmt.Sprintf("ipvs.udpTimeout %s -> %s", s.UDPTimeoutHuman, want),
				func(s ackconf.KubeProxySummary) error {
					if s.UDPTimeout != want {
						return fmt.Errorf("udpTimeout is %s", s.UDPTimeoutHuman)
					}
					return nil
				})
			if err != nil {
				return err
			}
		}
		p.Notes = append(p.Notes, "UDP clients of a backend that goes away now lose packets for at most the new timeout; long-lived UDP flows (not DNS) idle longer than it are dropped")
		return nil
	}
	return f
}

func ipvsScheduler() *Fixer {
	f := &Fixer{
		ID:         "kubeproxy.ipvs-scheduler",
		Changes:    "kube-proxy-worker/-master config.conf: set ipvs.scheduler (--set scheduler=NAME, required), after checking ip_vs_NAME on every node",
		ConfigMaps: kubeProxyCMs,
		Params:     []Param{{Name: "scheduler", Help: "IPVS scheduler: " + strings.Join(nodescripts.IPVSSchedulers, ", ")}},
	}
	f.plan = func(in *Input, p *Plan) error {
		want, explicit := f.param(in, "scheduler")
		if !explicit {
			return fmt.Errorf("say which scheduler: --set scheduler=NAME (one of %s)", strings.Join(nodescripts.IPVSSchedulers, ", "))
		}
		if !nodescripts.ValidScheduler(want) {
			return fmt.Errorf("--set scheduler=%q is no IPVS scheduler (one of %s)", want, strings.Join(nodescripts.IPVSSchedulers, ", "))
		}
		confs, err := kubeProxyConfs(in)
		if err != nil {
			return err
		}
		for _, kp := range confs {
			if kp.sum.Mode != "ipvs" {
				p.Unchanged = append(p.Unchanged, fmt.Sprintf("%s: mode %s, not ipvs", kp.name, kp.sum.Mode))
				continue
			}
			if kp.sum.Scheduler == want {
				p.Unchanged = append(p.Unchanged, fmt.Sprintf("%s ipvs.scheduler: %s", kp.name, want))
				continue
			}
			err := kubeProxyEdit(p, kp, []yamlOp{{[]string{"ipvs", "scheduler"}, want}},
				fmt.Sprintf("ipvs.scheduler %s -> %s", kp.sum.Scheduler, want),
				func(s ackconf.KubeProxySummary) error {
					if s.Scheduler != want {
						return fmt.Errorf("scheduler is %s", s.Scheduler)
					}
					return nil
				})
			if err != nil {
				return err
			}
		}
		if len(p.Edits) > 0 {
			p.Scheduler = want
		}
		return nil
	}
	return f
}

func masterWorkerDrift() *Fixer {
	f := &Fixer{
		ID:         "kubeproxy.master-worker-drift",
		Changes:    "copy mode, ipvs.scheduler, ipvs.udpTimeout and conntrack.maxPerCore from the kube-proxy ConfigMap that is right (--set source=worker|master, required) to the other",
		ConfigMaps: kubeProxyCMs,
		Params:     []Param{{Name: "source", Help: "which ConfigMap is right: worker or master"}},
	}
	f.plan = func(in *Input, p *Plan) error {
		source, _ := f.param(in, "source")
		if source != "worker" && source != "master" {
			return fmt.Errorf("say which ConfigMap is right: --set source=worker or --set source=master (the dry run of each shows what it changes)")
		}
		confs, err := kubeProxyConfs(in)
		if err != nil {
			return err
		}
		if len(confs) < 2 {
			return fmt.Errorf("there is no kube-proxy-master (a managed cluster): nothing can drift")
		}
		from, to := confs[0], confs[1]
		if source == "master" {
			from, to = to, from
		}
		var ops []yamlOp
		var whats []string
		field := func(path []string, a, b string) {
			if a == b {
				return
			}
			ops = append(ops, yamlOp{path, a})
			shown := a
			if a == "" {
				shown = "(unset)"
			}
			whats = append(whats, fmt.Sprintf("%s %s -> %s", strings.Join(path, "."), orUnset(b), shown))
		}
		field([]string{"mode"}, string(from.cfg.Mode), string(to.cfg.Mode))
		field([]string{"ipvs", "scheduler"}, from.cfg.IPVS.Scheduler, to.cfg.IPVS.Scheduler)
		field([]string{"ipvs", "udpTimeout"}, durStr(from.cfg.IPVS.UDPTimeout.Duration), durStr(to.cfg.IPVS.UDPTimeout.Duration))
		field([]string{"conntrack", "maxPerCore"}, ptrStr(from.cfg.Conntrack.MaxPerCore), ptrStr(to.cfg.Conntrack.MaxPerCore))
		if len(ops) == 0 {
			p.Unchanged = append(p.Unchanged, "kube-proxy-master and kube-proxy-worker agree")
			return nil
		}
		err = kubeProxyEdit(p, to, ops, strings.Join(whats, ", "), func(s ackconf.KubeProxySummary) error {
			fs := from.sum
			if s.Mode != fs.Mode || s.Scheduler != fs.Scheduler || s.UDPTimeoutHuman != fs.UDPTimeoutHuman || int32Str(s.MaxPerCore) != int32Str(fs.MaxPerCore) {
				return fmt.Errorf("the two configs still differ")
			}
			return nil
		})
		if err != nil {
			return err
		}
		if from.sum.Mode == "ipvs" && from.sum.Scheduler != to.sum.Scheduler {
			p.Scheduler = from.sum.Scheduler
		}
		return nil
	}
	return f
}

func orUnset(s string) string {
	if s == "" {
		return "(unset)"
	}
	return s
}

func durStr(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

func ptrStr(p *int32) string {
	if p == nil {
		return ""
	}
	return strconv.Itoa(int(*p))
}
