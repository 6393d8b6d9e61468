package checks

import (
	"fmt"
	"strconv"
	"strings"

	kubeproxyv1alpha1 "k8s.io/kube-proxy/config/v1alpha1"

	"github.com/kubectl-acknet/kubectl-acknet/internal/ackconf"
	"github.com/kubectl-acknet/kubectl-acknet/internal/cloud"
	"github.com/kubectl-acknet/kubectl-acknet/internal/cluster"
)

// Network plugins ACK offers.
const (
	PluginTerway  = "terway"
	PluginFlannel = "flannel"
	PluginUnknown = ""
)

// Terway modes.
const (
	TerwaySharedENI    = "shared ENI"
	TerwayExclusiveENI = "exclusive ENI"
	TerwayVPC          = "VPC"
)

// Env is the snapshot plus what is derived from it once: the detected
// network plugin and the parsed ACK configuration.
type Env struct {
	S *cluster.Snapshot

	Plugin        string
	PluginDS      *cluster.DaemonSet
	PluginVersion string
	TerwayMode    string

	ENIConfig *ackconf.ENIConfig

	FlannelCNI    *ackconf.FlannelCNI
	FlannelCNIErr error

	KubeProxy map[string]*KubeProxyConf

	// NodeFacts holds what doctor --node-checks gathered, by node; nil
	// when the node checks did not run.
	NodeFacts map[string]*NodeFacts

	// Cloud holds what doctor --cloud read of the VPC; nil without it.
	Cloud *cloud.Facts
	// RouteEntryQuota is the custom-entry quota of a route table (0: the
	// default).
	RouteEntryQuota int
}

// KubeProxyConf is one kube-proxy ConfigMap, parsed.
type KubeProxyConf struct {
	Name    string
	Config  *kubeproxyv1alpha1.KubeProxyConfiguration
	Err     error
	Summary ackconf.KubeProxySummary
	// FromFlags is true when the ConfigMap had no config.conf and the mode
	// was taken from the DaemonSet's --proxy-mode flag.
	FromFlags bool
}

// NewEnv derives an Env from a snapshot.
func NewEnv(s *cluster.Snapshot) *Env {
	env := &Env{S: s, KubeProxy: map[string]*KubeProxyConf{}}
	env.detectPlugin()
	if data, err := s.ConfigMap(cluster.CMENIConfig); err == nil {
		env.ENIConfig = ackconf.ParseENIConfig(data)
	}
	if data, err := s.ConfigMap(cluster.CMFlannel); err == nil {
		if text, ok := data[ackconf.KeyFlannelCNIConf]; ok {
			env.FlannelCNI, env.FlannelCNIErr = ackconf.ParseFlannelCNI(text)
		} else {
			env.FlannelCNIErr = fmt.Errorf("key %q is missing", ackconf.KeyFlannelCNIConf)
		}
	}
	for _, name := range []string{cluster.CMKubeProxyWorker, cluster.CMKubeProxyMaster} {
		if data, err := s.ConfigMap(name); err == nil {
			env.KubeProxy[name] = env.parseKubeProxy(name, data)
		}
	}
	return env
}

func (e *Env) parseKubeProxy(name string, data map[string]string) *KubeProxyConf {
	kp := &KubeProxyConf{Name: name}
	text, ok := data[ackconf.KeyKubeProxyConfig]
	if !ok {
		// Older ACK clusters configure kube-proxy by flags; the ConfigMap
		// then only carries kubeconfig.conf.
		kp.FromFlags = true
		def := ackconf.DefaultConntrackMaxPerCore
		kp.Summary = ackconf.KubeProxySummary{Mode: "iptables", UDPTimeout: ackconf.DefaultIPVSUDPTimeout, MaxPerCore: &def, MaxPerCoreDefault: true}
		if ds := e.daemonSet(cluster.SystemNamespace, name); ds != nil {
			for _, c := range ds.Containers {
				for _, a := range c.Args {
					if v, ok := strings.CutPrefix(a, "--proxy-mode="); ok {
						kp.Summary.Mode = strings.ToLower(v)
					}
					if v, ok := strings.CutPrefix(a, "--conntrack-max-per-core="); ok {
						if n, err := strconv.ParseInt(v, 10, 32); err == nil {
							n32 := int32(n)
							kp.Summary.MaxPerCore, kp.Summary.MaxPerCoreDefault = &n32, false
						}
					}
				}
			}
		}
		if kp.Summary.Mode == "ipvs" {
			kp.Summary.Scheduler = "rr"
		}
		kp.Summary.UDPTimeoutHuman = kp.Summary.UDPTimeout.String() + " (default)"
		return kp
	}
	kp.Config, kp.Err = ackconf.ParseKubeProxyConfig(text)
	if kp.Err == nil {
		kp.Summary = ackconf.SummarizeKubeProxy(kp.Config)
	}
	return kp
}

func (e *Env) daemonSet(ns, name string) *cluster.DaemonSet {
	for i := range e.S.DaemonSets {
		if e.S.DaemonSets[i].Namespace == ns && e.S.DaemonSets[i].Name == name {
			return &e.S.DaemonSets[i]
		}
	}
	return nil
}

// terwayDaemonSets in order of preference: ACK names, then the legacy one.
var terwayDaemonSets = []string{"terway-eniip", "terway-eni", "terway"}

// PluginDaemonSet finds the network plugin's DaemonSet in kube-system:
// Terway by ACK's names, else Flannel by name or label. version is its
// image tag; plugin is "" when there is none.
func PluginDaemonSet(dss []cluster.DaemonSet) (plugin string, ds *cluster.DaemonSet, version string) {
	find := func(match func(*cluster.DaemonSet) bool) *cluster.DaemonSet {
		for i := range dss {
			if dss[i].Namespace == cluster.SystemNamespace && match(&dss[i]) {
				return &dss[i]
			}
		}
		return nil
	}
	for _, name := range terwayDaemonSets {
		if ds := find(func(d *cluster.DaemonSet) bool { return d.Name == name }); ds != nil {
			return PluginTerway, ds, ackconf.ImageTag(containerImage(ds, "terway"))
		}
	}
	if ds := find(func(d *cluster.DaemonSet) bool { return d.Name == "kube-flannel-ds" || d.Labels["app"] == "flannel" }); ds != nil {
		return PluginFlannel, ds, ackconf.ImageTag(containerImage(ds, "kube-flannel"))
	}
	return "", nil, ""
}

func (e *Env) detectPlugin() {
	if plugin, ds, version := PluginDaemonSet(e.S.DaemonSets); ds != nil {
		e.Plugin, e.PluginDS, e.PluginVersion = plugin, ds, version
		if plugin == PluginTerway {
			e.TerwayMode = terwayMode(ds)
		}
		return
	}
	// No DaemonSet visible (RBAC, or reads failed): fall back on the
	// ConfigMaps, which name the plugin just as well.
	if _, err := e.S.ConfigMap(cluster.CMENIConfig); err == nil {
		e.Plugin = PluginTerway
	} else if _, err := e.S.ConfigMap(cluster.CMFlannel); err == nil {
		e.Plugin = PluginFlannel
	}
}

func terwayMode(ds *cluster.DaemonSet) string {
	switch ds.Name {
	case "terway-eniip":
		return TerwaySharedENI
	case "terway-eni":
		return TerwayExclusiveENI
	}
	for _, c := range ds.Containers {
		for i, a := range c.Args {
			mode := ""
			if v, ok := strings.CutPrefix(a, "-daemon-mode="); ok {
				mode = v
			} else if (a == "-daemon-mode" || a == "--daemon-mode") && i+1 < len(c.Args) {
				mode = c.Args[i+1]
			}
			switch mode {
			case "ENIMultiIP":
				return TerwaySharedENI
			case "ENIOnly":
				return TerwayExclusiveENI
			case "VPC":
				return TerwayVPC
			}
		}
	}
	return TerwayVPC
}

// containerImage is the image of the named container, else the first one.
func containerImage(ds *cluster.DaemonSet, name string) string {
	for _, c := range ds.Containers {
		if c.Name == name {
			return c.Image
		}
	}
	if len(ds.Containers) > 0 {
		return ds.Containers[0].Image
	}
	return ""
}

// WorkerKubeProxy is the kube-proxy config that applies to worker nodes.
func (e *Env) WorkerKubeProxy() *KubeProxyConf { return e.KubeProxy[cluster.CMKubeProxyWorker] }

// kubeAtLeast reports whether the server is at least major.minor; ok is
// false when the version is unknown.
func (e *Env) kubeAtLeast(major, minor int) (atLeast, ok bool) {
	if e.S.KubeMajor == 0 {
		return false, false
	}
	if e.S.KubeMajor != major {
		return e.S.KubeMajor > major, true
	}
	return e.S.KubeMinor >= minor, true
}

// skipUnless returns a skip result when a read the check needs failed.
func (e *Env) skipUnless(keys ...string) *Result {
	for _, k := range keys {
		if err := e.S.ReadErr(k); err != nil {
			r := Skip("cannot read %s: %s", k, err.Error())
			return &r
		}
	}
	return nil
}

// requirePlugin returns a not-applicable skip unless the cluster runs the
// plugin; when detection itself was impossible it says so.
func (e *Env) requirePlugin(plugin string) *Result {
	if e.Plugin == plugin {
		return nil
	}
	if e.Plugin == PluginUnknown {
		if err := e.S.ReadErr(cluster.ReadDaemonSets); err != nil {
			r := Skip("cannot tell the network plugin: cannot read daemonsets: %s", err.Error())
			return &r
		}
		r := NotApplicable("no %s DaemonSet in kube-system", plugin)
		return &r
	}
	r := NotApplicable("the cluster runs %s, not %s", e.Plugin, plugin)
	return &r
}
