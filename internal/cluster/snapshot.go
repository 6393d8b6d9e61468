// Package cluster reads an ACK cluster once into a Snapshot: the facts that
// the checks of internal/checks need, and nothing more. Each resource type is
// listed once, paged; pods are aggregated while paging so memory does not
// grow with the number of pods. Reads that fail are recorded, not fatal, so
// a check can report skip with the reason.
package cluster

import (
	"net/netip"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Resource keys of Snapshot.Reads.
const (
	ReadVersion    = "version"
	ReadNodes      = "nodes"
	ReadPods       = "pods"
	ReadServices   = "services"
	ReadDaemonSets = "daemonsets"
	ReadEvents     = "events"
	ReadLogs       = "logs"
)

// ConfigMapRead is the key of a ConfigMap read in Snapshot.Reads.
func ConfigMapRead(name string) string { return "configmaps/" + name }

// Well-known ConfigMaps in kube-system.
const (
	CMENIConfig       = "eni-config"
	CMFlannel         = "kube-flannel-cfg"
	CMKubeProxyWorker = "kube-proxy-worker"
	CMKubeProxyMaster = "kube-proxy-master"
	CMCoreDNS         = "coredns"
	// CMCloudConfig is the cloud-controller-manager's configuration (key
	// cloud-config.conf, JSON; Global.routeTableIDs).
	CMCloudConfig = "cloud-config"
	// LabelTerwayConfig on a node names a ConfigMap in kube-system that
	// overrides eni-config for that node (Terway dynamic config).
	LabelTerwayConfig = "terway-config"
	SystemNamespace   = "kube-system"
	// LabelNodeType is NodeTypeVirtualKubelet on ACK's virtual nodes (ECI).
	LabelNodeType          = "type"
	NodeTypeVirtualKubelet = "virtual-kubelet"
)

// PodRange is a named address range pods are counted against (a vSwitch).
type PodRange struct {
	Name   string
	Prefix netip.Prefix
}

// ReadError records why a read did not give data.
type ReadError struct {
	// Reason is Forbidden, NotFound or Error.
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

func (e *ReadError) Error() string { return e.Reason + ": " + e.Message }

// Snapshot is everything doctor knows about the cluster after one read.
type Snapshot struct {
	// Now is when the read started; checks judge ages against it.
	Now time.Time

	ServerVersion string
	// KubeMajor and KubeMinor are 0 when the version is unknown.
	KubeMajor, KubeMinor int

	Nodes      []Node
	Pods       PodStats
	Services   []Service
	DaemonSets []DaemonSet
	// ConfigMaps holds the data of the kube-system ConfigMaps that were read
	// successfully, by name.
	ConfigMaps map[string]map[string]string
	Events     []Event
	// Logs holds matching log lines by pod, only when logs were requested.
	Logs *Logs

	// Reads holds a ReadError for every read that failed, by the Read*
	// keys above or ConfigMapRead(name).
	Reads map[string]*ReadError

	// VSwitchCIDRs are the vSwitch ranges Terway allocates from, when known.
	VSwitchCIDRs []netip.Prefix
	// VSwitchByID are the CIDRs of vSwitches given by ID (vsw-...=CIDR).
	VSwitchByID map[string][]netip.Prefix
}

// ReadErr returns the error of a read, or nil when it succeeded.
func (s *Snapshot) ReadErr(key string) *ReadError {
	if s.Reads == nil {
		return nil
	}
	return s.Reads[key]
}

// ConfigMap returns the data of a kube-system ConfigMap, or the reason it is
// not there.
func (s *Snapshot) ConfigMap(name string) (map[string]string, *ReadError) {
	if err := s.ReadErr(ConfigMapRead(name)); err != nil {
		return nil, err
	}
	data, ok := s.ConfigMaps[name]
	if !ok {
		return nil, &ReadError{Reason: "NotRead", Message: "configmap " + name + " was not read"}
	}
	return data, nil
}

// Node is the part of a Node the checks read.
type Node struct {
	Name               string
	Labels             map[string]string
	CreationTimestamp  time.Time
	PodCIDRs           []string
	InternalIPs        []string
	NetworkUnavailable *Condition
	Taints             []corev1.Taint
	KernelVersion      string
	Ready              bool
	// ProviderID is spec.providerID: REGION.INSTANCE-ID on ACK.
	ProviderID string
	// MaxPods is the node's allocatable pods (the kubelet's maxPods); 0
	// when unknown.
	MaxPods int64
}

// Condition is a node condition.
type Condition struct {
	Status  string
	Reason  string
	Message string
}

// PodRef names a pod.
type PodRef struct {
	Namespace string
	Name      string
	Node      string
	Detail    string
	// App is the value of the label that picked the pod (kube-proxy-worker,
	// kube-proxy-master, terway-eniip): which DaemonSet, so which ConfigMap.
	App string
}

// PodState is what is known of a pod that an event of interest names.
type PodState struct {
	Phase   corev1.PodPhase
	Node    string
	Running bool
}

// PodStats is the aggregate of all pods, built while paging.
type PodStats struct {
	Total int
	// PodNetworkIPs counts, per node, pods that hold a pod-network IP: not
	// hostNetwork, not Succeeded or Failed, with a pod IP.
	PodNetworkIPs map[string]int
	// HostPort pods (first MaxSamples) and how many there are in all.
	HostPort      []PodRef
	HostPortCount int
	// OutsideVSwitch pods whose IP lies outside every known vSwitch CIDR.
	OutsideVSwitch      []PodRef
	OutsideVSwitchCount int
	// OutsideNodeVSwitch pods on a node with a dynamic Terway config (label
	// terway-config) whose IP lies outside that config's vSwitches, when
	// their CIDRs are known (--vswitch-cidrs ID=CIDR). Detail is the IP.
	OutsideNodeVSwitch      []PodRef
	OutsideNodeVSwitchCount int
	// HostNetworkPods counts, per node, running host-network pods (they
	// count against maxPods but take no pod-network address).
	HostNetworkPods map[string]int
	// InRange counts pod IPv4 addresses per range of Options.PodRanges, by
	// range name; nil when no ranges were given.
	InRange map[string]int
	// OutsideRanges are pods with an IPv4 address in none of the ranges
	// (first MaxSamples; Detail is the IP), and how many addresses in all.
	OutsideRanges      []PodRef
	OutsideRangesCount int
	// Tracked holds the state of pods named by events of interest, by
	// namespace/name. A pod that is gone is absent.
	Tracked map[string]PodState
	// SystemPods are kube-system pods of the network add-ons, for log reads.
	SystemPods []PodRef
}

// MaxSamples caps each list of example objects kept while aggregating.
const MaxSamples = 50

// Service is the part of a Service the checks read.
type Service struct {
	Namespace      string
	Name           string
	Type           corev1.ServiceType
	ClusterIPs     []string
	IPFamilyPolicy string
	Ports          []corev1.ServicePort
	Selector       map[string]string
}

// DaemonSet is the part of a DaemonSet the checks read.
type DaemonSet struct {
	Namespace  string
	Name       string
	Labels     map[string]string
	Containers []Container
	Desired    int32
	Ready      int32
}

// Container of a DaemonSet's pod template.
type Container struct {
	Name  string
	Image string
	Args  []string
}

// Event is the part of an Event the checks read.
type Event struct {
	Namespace string
	Kind      string
	Name      string
	Reason    string
	Message   string
	Count     int32
	First     time.Time
	Last      time.Time
	Source    string
	// Node is the node the event refers to, when known (host of the source).
	Node string
}

// Logs are matching lines from add-on pod logs.
type Logs struct {
	// Lines by "namespace/pod" of the lines that matched a pattern.
	Lines map[string][]string
	// Read is how many pods' logs were read; Failed how many could not be.
	Read   int
	Failed int
}
