package ackconf

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	kubeproxyv1alpha1 "k8s.io/kube-proxy/config/v1alpha1"
	"sigs.k8s.io/yaml"
)

// KeyKubeProxyConfig is the data key of kube-proxy-worker / kube-proxy-master.
const KeyKubeProxyConfig = "config.conf"

// KubeProxyConfigError is a config.conf that kube-proxy would refuse to load.
type KubeProxyConfigError struct {
	// Line is 1-based; 0 when the error could not be placed.
	Line   int
	Reason string
}

func (e *KubeProxyConfigError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("line %d: %s", e.Line, e.Reason)
	}
	return e.Reason
}

var (
	yamlLineRe     = regexp.MustCompile(`line (\d+):`)
	unknownFieldRe = regexp.MustCompile(`unknown field "([^"]+)"`)
	typeFieldRe    = regexp.MustCompile(`Go struct field [A-Za-z0-9_]+\.([A-Za-z0-9_.]+) of type`)
)

// ParseKubeProxyConfig decodes config.conf strictly into the upstream
// KubeProxyConfiguration, as kube-proxy does: unknown fields, duplicate keys
// and wrong types are errors. The error is a *KubeProxyConfigError.
func ParseKubeProxyConfig(text string) (*kubeproxyv1alpha1.KubeProxyConfiguration, error) {
	if strings.TrimSpace(text) == "" {
		return nil, &KubeProxyConfigError{Reason: "config.conf is empty"}
	}
	var cfg kubeproxyv1alpha1.KubeProxyConfiguration
	if err := yaml.UnmarshalStrict([]byte(text), &cfg); err != nil {
		return nil, placeKubeProxyError(text, err)
	}
	if cfg.Kind != "KubeProxyConfiguration" {
		return nil, &KubeProxyConfigError{Line: findKeyLine(text, "kind"),
			Reason: fmt.Sprintf("kind is %q, want KubeProxyConfiguration", cfg.Kind)}
	}
	if cfg.APIVersion != kubeproxyv1alpha1.SchemeGroupVersion.String() {
		return nil, &KubeProxyConfigError{Line: findKeyLine(text, "apiVersion"),
			Reason: fmt.Sprintf("apiVersion is %q, want %s", cfg.APIVersion, kubeproxyv1alpha1.SchemeGroupVersion)}
	}
	return &cfg, nil
}

func placeKubeProxyError(text string, err error) *KubeProxyConfigError {
	msg := err.Error()
	// sigs.k8s.io/yaml wraps errors in layers of context; keep the cause.
	for _, prefix := range []string{"error converting YAML to JSON: ", "error unmarshaling JSON: ", "while decoding JSON: "} {
		msg = strings.ReplaceAll(msg, prefix, "")
	}
	out := &KubeProxyConfigError{Reason: msg}
	if m := yamlLineRe.FindStringSubmatch(msg); m != nil {
		out.Line, _ = strconv.Atoi(m[1])
		out.Reason = strings.TrimSpace(strings.Replace(msg, m[0], "", 1))
		out.Reason = strings.TrimSpace(strings.TrimPrefix(out.Reason, "yaml:"))
		return out
	}
	if m := unknownFieldRe.FindStringSubmatch(msg); m != nil {
		out.Line = findKeyLine(text, lastSegment(m[1]))
		return out
	}
	if m := typeFieldRe.FindStringSubmatch(msg); m != nil {
		out.Line = findKeyLine(text, lastSegment(m[1]))
	}
	return out
}

func lastSegment(path string) string {
	if i := strings.LastIndex(path, "."); i >= 0 {
		return path[i+1:]
	}
	return path
}

// findKeyLine returns the first line that sets the given YAML key, 0 if none.
func findKeyLine(text, key string) int {
	for i, line := range strings.Split(text, "\n") {
		t := strings.TrimSpace(line)
		t = strings.TrimPrefix(t, "- ")
		if strings.HasPrefix(t, key+":") || strings.HasPrefix(t, `"`+key+`":`) {
			return i + 1
		}
	}
	return 0
}

// KubeProxySummary is what doctor reports of a kube-proxy config, with the
// kube-proxy defaults filled in where a field is unset.
type KubeProxySummary struct {
	Mode      string `json:"mode"`
	Scheduler string `json:"scheduler"`
	// MaxPerCore is the effective value: kube-proxy's default when the
	// field is unset (MaxPerCoreDefault says so).
	MaxPerCore        *int32        `json:"maxPerCore,omitempty"`
	MaxPerCoreDefault bool          `json:"maxPerCoreDefault,omitempty"`
	UDPTimeout        time.Duration `json:"-"`
	UDPTimeoutSet     bool          `json:"-"`
	IPv6DualStack     *bool         `json:"ipv6DualStack,omitempty"`
	ClusterCIDR       string        `json:"clusterCIDR,omitempty"`
	UDPTimeoutHuman   string        `json:"udpTimeout"`
}

// DefaultConntrackMaxPerCore is kube-proxy's conntrack.maxPerCore (and
// --conntrack-max-per-core) when unset: the defaulting of config API
// kubeproxy.config.k8s.io/v1alpha1 sets 32 * 1024, in every release ACK ships.
const DefaultConntrackMaxPerCore int32 = 32 * 1024

// DefaultIPVSUDPTimeout is kube-proxy's value when ipvs.udpTimeout is unset
// (it leaves the kernel's 300 s in place).
const DefaultIPVSUDPTimeout = 300 * time.Second

// SummarizeKubeProxy extracts the fields doctor compares.
func SummarizeKubeProxy(cfg *kubeproxyv1alpha1.KubeProxyConfiguration) KubeProxySummary {
	s := KubeProxySummary{Mode: strings.ToLower(string(cfg.Mode)), Scheduler: cfg.IPVS.Scheduler, ClusterCIDR: cfg.ClusterCIDR}
	if s.Mode == "" {
		s.Mode = "iptables"
	}
	if s.Scheduler == "" && s.Mode == "ipvs" {
		s.Scheduler = "rr"
	}
	s.MaxPerCore = cfg.Conntrack.MaxPerCore
	if s.MaxPerCore == nil {
		def := DefaultConntrackMaxPerCore
		s.MaxPerCore, s.MaxPerCoreDefault = &def, true
	}
	if cfg.IPVS.UDPTimeout.Duration > 0 {
		s.UDPTimeout = cfg.IPVS.UDPTimeout.Duration
		s.UDPTimeoutSet = true
	} else {
		s.UDPTimeout = DefaultIPVSUDPTimeout
	}
	s.UDPTimeoutHuman = s.UDPTimeout.String()
	if !s.UDPTimeoutSet {
		s.UDPTimeoutHuman += " (default)"
	}
	if v, ok := cfg.FeatureGates["IPv6DualStack"]; ok {
		s.IPv6DualStack = &v
	}
	return s
}
