package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Event messages that the checks look for. Events are listed once with
// type=Warning and only those whose reason or message matches are kept.
const (
	MsgNoIPInRange         = "no IP addresses available in range set"
	MsgVSwitchIPNotEnough  = "InvalidVSwitchId.IpNotEnough"
	MsgMacNotFound         = "can't found dev by mac"
	MsgMultipleRouteTables = "multiple route tables found"
	MsgEIPPoolUnsupported  = "eip pool is not supported"
	ReasonCreateRouteFail  = "CreateRouteFailed"
	ReasonSyncRouteFail    = "SyncRouteFailed"
	ReasonFailedSandbox    = "FailedCreatePodSandBox"
)

var eventMessages = []string{MsgNoIPInRange, MsgVSwitchIPNotEnough, MsgMacNotFound, MsgMultipleRouteTables, MsgEIPPoolUnsupported}

func eventOfInterest(e *corev1.Event) bool {
	if e.Reason == ReasonCreateRouteFail || e.Reason == ReasonSyncRouteFail {
		return true
	}
	for _, m := range eventMessages {
		if strings.Contains(e.Message, m) {
			return true
		}
	}
	return false
}

// Options tune a read.
type Options struct {
	// ChunkSize is the page size of LIST calls (default 500, as kubectl).
	ChunkSize int64
	// Logs enables reading add-on pod logs (one request per pod).
	Logs     bool
	LogSince time.Duration
	LogLines int64
	// LogConcurrency bounds parallel log reads.
	LogConcurrency int
	VSwitchCIDRs   []netip.Prefix
	// VSwitchByID are vSwitch CIDRs by vSwitch ID, for the nodes of dynamic
	// Terway configs.
	VSwitchByID map[string][]netip.Prefix
	// ConfigMaps are kube-system ConfigMaps to read besides the usual ones
	// (doctor --cloud reads the cloud-controller-manager's cloud-config).
	ConfigMaps []string
	// PodRanges, when set, runs after nodes and ConfigMaps are read and
	// before the pod pass; pods' IPv4 addresses are then counted per range
	// it returns (PodStats.InRange, OutsideRanges). doctor --cloud reads the
	// VPC here, because counting needs the vSwitch CIDRs before paging pods.
	// An error from it ends the read (doctor --cloud without usable
	// credentials) before the pods are paged.
	PodRanges func(context.Context, *Snapshot) ([]PodRange, error)
	// Now overrides the clock in tests.
	Now func() time.Time
}

// UnreachableError means the API server could not be asked at all.
type UnreachableError struct{ Err error }

func (e *UnreachableError) Error() string { return "cannot reach the API server: " + e.Err.Error() }
func (e *UnreachableError) Unwrap() error { return e.Err }

// Read takes a Snapshot. It returns an error only when the API server cannot
// be reached or refuses the caller entirely; any narrower failure is
// recorded in Snapshot.Reads.
func Read(ctx context.Context, cs kubernetes.Interface, opts Options) (*Snapshot, error) {
	if opts.ChunkSize <= 0 {
		opts.ChunkSize = DefaultChunkSize
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	s := &Snapshot{
		Now:          now(),
		ConfigMaps:   map[string]map[string]string{},
		Reads:        map[string]*ReadError{},
		VSwitchCIDRs: opts.VSwitchCIDRs,
		VSwitchByID:  opts.VSwitchByID,
	}
	r := &reader{cs: cs, opts: opts, s: s}

	// The version call is the reachability probe: a failure other than an
	// HTTP status means there is no usable server behind the kubeconfig.
	if err := r.readVersion(); err != nil {
		var status apierrors.APIStatus
		if !errors.As(err, &status) {
			return nil, &UnreachableError{Err: err}
		}
		r.record(ReadVersion, err)
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}

	// Phase 1: independent reads in parallel. Events come before pods so
	// that the pod pass knows which pods the events name.
	var wg sync.WaitGroup
	for _, f := range []func(context.Context){r.readNodesAndDynamicConfigs, r.readServices, r.readDaemonSets, r.readEvents, r.readStaticConfigMaps} {
		wg.Add(1)
		go func() { defer wg.Done(); f(ctx) }()
	}
	wg.Wait()
	var ranges []PodRange
	if opts.PodRanges != nil {
		var err error
		if ranges, err = opts.PodRanges(ctx, s); err != nil {
			return nil, err
		}
	}
	// Phase 2: the long pole.
	r.readPods(ctx, ranges)
	if opts.Logs {
		r.readLogs(ctx)
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return s, nil
}

type reader struct {
	cs   kubernetes.Interface
	opts Options
	mu   sync.Mutex
	s    *Snapshot
}

func (r *reader) record(key string, err error) {
	if err == nil {
		return
	}
	re := &ReadError{Reason: "Error", Message: err.Error()}
	switch {
	case apierrors.IsForbidden(err):
		re.Reason = "Forbidden"
	case apierrors.IsNotFound(err):
		re.Reason = "NotFound"
	}
	r.mu.Lock()
	r.s.Reads[key] = re
	r.mu.Unlock()
}

func (r *reader) readVersion() error {
	v, err := r.cs.Discovery().ServerVersion()
	if err != nil {
		return err
	}
	r.s.ServerVersion = v.GitVersion
	r.s.KubeMajor, _ = strconv.Atoi(strings.TrimSuffix(v.Major, "+"))
	r.s.KubeMinor, _ = strconv.Atoi(strings.TrimSuffix(v.Minor, "+"))
	return nil
}

// DefaultChunkSize is the page size of LIST calls, as kubectl's.
const DefaultChunkSize = 500

// ListPaged calls list with growing continue tokens until the last page. When
// the token expires mid-way (410), it calls reset and starts over once, so
// aggregates never count an object twice.
func ListPaged(ctx context.Context, chunk int64, base metav1.ListOptions, list func(metav1.ListOptions) (string, error), reset func()) error {
	for attempt := 0; ; attempt++ {
		opts := base
		opts.Limit = chunk
		var err error
		for {
			var next string
			next, err = list(opts)
			if err != nil || next == "" {
				break
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			opts.Continue = next
		}
		if err != nil && apierrors.IsResourceExpired(err) && attempt == 0 {
			reset()
			continue
		}
		return err
	}
}

func (r *reader) readNodesAndDynamicConfigs(ctx context.Context) {
	var nodes []Node
	err := ListPaged(ctx, r.opts.ChunkSize, metav1.ListOptions{}, func(o metav1.ListOptions) (string, error) {
		l, err := r.cs.CoreV1().Nodes().List(ctx, o)
		if err != nil {
			return "", err
		}
		for i := range l.Items {
			nodes = append(nodes, compactNode(&l.Items[i]))
		}
		return l.Continue, nil
	}, func() { nodes = nil })
	if err != nil {
		r.record(ReadNodes, err)
		return
	}
	r.mu.Lock()
	r.s.Nodes = nodes
	r.mu.Unlock()

	// Terway dynamic configs named by node labels; one GET per distinct name.
	seen := map[string]bool{}
	for _, n := range nodes {
		name := n.Labels[LabelTerwayConfig]
		if name == "" || seen[name] {
			continue
		}
		seen[name] = true
		r.getConfigMap(ctx, name)
	}
}

func compactNode(n *corev1.Node) Node {
	out := Node{
		Name:              n.Name,
		Labels:            n.Labels,
		CreationTimestamp: n.CreationTimestamp.Time,
		PodCIDRs:          n.Spec.PodCIDRs,
		Taints:            n.Spec.Taints,
		KernelVersion:     n.Status.NodeInfo.KernelVersion,
		ProviderID:        n.Spec.ProviderID,
	}
	if q, ok := n.Status.Allocatable[corev1.ResourcePods]; ok {
		out.MaxPods = q.Value()
	}
	if len(out.PodCIDRs) == 0 && n.Spec.PodCIDR != "" {
		out.PodCIDRs = []string{n.Spec.PodCIDR}
	}
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			out.InternalIPs = append(out.InternalIPs, a.Address)
		}
	}
	for _, c := range n.Status.Conditions {
		switch c.Type {
		case corev1.NodeNetworkUnavailable:
			out.NetworkUnavailable = &Condition{Status: string(c.Status), Reason: c.Reason, Message: c.Message}
		case corev1.NodeReady:
			out.Ready = c.Status == corev1.ConditionTrue
		}
	}
	return out
}

var staticConfigMaps = []string{CMENIConfig, CMFlannel, CMKubeProxyWorker, CMKubeProxyMaster, CMCoreDNS}

func (r *reader) readStaticConfigMaps(ctx context.Context) {
	for _, name := range append(append([]string{}, staticConfigMaps...), r.opts.ConfigMaps...) {
		r.getConfigMap(ctx, name)
	}
}

func (r *reader) getConfigMap(ctx context.Context, name string) {
	cm, err := r.cs.CoreV1().ConfigMaps(SystemNamespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		r.record(ConfigMapRead(name), err)
		return
	}
	data := cm.Data
	if data == nil {
		data = map[string]string{}
	}
	r.mu.Lock()
	r.s.ConfigMaps[name] = data
	r.mu.Unlock()
}

func (r *reader) readServices(ctx context.Context) {
	var out []Service
	err := ListPaged(ctx, r.opts.ChunkSize, metav1.ListOptions{}, func(o metav1.ListOptions) (string, error) {
		l, err := r.cs.CoreV1().Services(metav1.NamespaceAll).List(ctx, o)
		if err != nil {
			return "", err
		}
		for i := range l.Items {
			svc := &l.Items[i]
			s := Service{Namespace: svc.Namespace, Name: svc.Name, Type: svc.Spec.Type,
				ClusterIPs: svc.Spec.ClusterIPs, Ports: svc.Spec.Ports, Selector: svc.Spec.Selector}
			if svc.Spec.IPFamilyPolicy != nil {
				s.IPFamilyPolicy = string(*svc.Spec.IPFamilyPolicy)
			}
			out = append(out, s)
		}
		return l.Continue, nil
	}, func() { out = nil })
	if err != nil {
		r.record(ReadServices, err)
		return
	}
	r.mu.Lock()
	r.s.Services = out
	r.mu.Unlock()
}

func (r *reader) readDaemonSets(ctx context.Context) {
	var out []DaemonSet
	err := ListPaged(ctx, r.opts.ChunkSize, metav1.ListOptions{}, func(o metav1.ListOptions) (string, error) {
		l, err := r.cs.AppsV1().DaemonSets(metav1.NamespaceAll).List(ctx, o)
		if err != nil {
			return "", err
		}
		for i := range l.Items {
			out = append(out, CompactDaemonSet(&l.Items[i]))
		}
		return l.Continue, nil
	}, func() { out = nil })
	if err != nil {
		r.record(ReadDaemonSets, err)
		return
	}
	r.mu.Lock()
	r.s.DaemonSets = out
	r.mu.Unlock()
}

// CompactDaemonSet keeps the part of a DaemonSet that the checks read.
func CompactDaemonSet(ds *appsv1.DaemonSet) DaemonSet {
	out := DaemonSet{Namespace: ds.Namespace, Name: ds.Name, Labels: ds.Labels,
		Desired: ds.Status.DesiredNumberScheduled, Ready: ds.Status.NumberReady}
	if out.Labels == nil {
		out.Labels = ds.Spec.Template.Labels
	}
	for _, c := range ds.Spec.Template.Spec.Containers {
		args := append(append([]string{}, c.Command...), c.Args...)
		out.Containers = append(out.Containers, Container{Name: c.Name, Image: c.Image, Args: args})
	}
	return out
}

func (r *reader) readEvents(ctx context.Context) {
	var out []Event
	err := ListPaged(ctx, r.opts.ChunkSize, metav1.ListOptions{FieldSelector: "type=Warning"}, func(o metav1.ListOptions) (string, error) {
		l, err := r.cs.CoreV1().Events(metav1.NamespaceAll).List(ctx, o)
		if err != nil {
			return "", err
		}
		for i := range l.Items {
			e := &l.Items[i]
			if !eventOfInterest(e) {
				continue
			}
			out = append(out, compactEvent(e))
		}
		return l.Continue, nil
	}, func() { out = nil })
	if err != nil {
		r.record(ReadEvents, err)
		return
	}
	r.mu.Lock()
	r.s.Events = out
	r.mu.Unlock()
}

func compactEvent(e *corev1.Event) Event {
	out := Event{
		Namespace: e.InvolvedObject.Namespace,
		Kind:      e.InvolvedObject.Kind,
		Name:      e.InvolvedObject.Name,
		Reason:    e.Reason,
		Message:   e.Message,
		Count:     e.Count,
		First:     e.FirstTimestamp.Time,
		Last:      e.LastTimestamp.Time,
		Source:    e.Source.Component,
		Node:      e.Source.Host,
	}
	if out.Last.IsZero() {
		out.Last = e.EventTime.Time
	}
	if out.First.IsZero() {
		out.First = out.Last
	}
	if out.Count == 0 {
		out.Count = 1
	}
	if out.Kind == "Node" && out.Node == "" {
		out.Node = out.Name
	}
	return out
}

// systemPodApps are the kube-system pods of the network agents: --logs
// reads those whose kind has log patterns; a bundle keeps all their logs.
var systemPodApps = map[string]string{
	"k8s-app=kube-proxy-worker": "kube-proxy",
	"k8s-app=kube-proxy-master": "kube-proxy",
	"app=terway-eniip":          "terway",
	"app=terway-eni":            "terway",
	"app=terway":                "terway",
	"app=flannel":               "flannel",
}

// SystemPodKind tells what a tracked system pod is ("kube-proxy", "terway").
func SystemPodKind(p PodRef) string { return p.Detail }

func (r *reader) readPods(ctx context.Context, ranges []PodRange) {
	tracked := map[string]bool{}
	for _, e := range r.s.Events {
		if e.Kind == "Pod" {
			tracked[e.Namespace+"/"+e.Name] = true
		}
	}
	nodeCIDRs := r.nodeVSwitchCIDRs()
	var stats PodStats
	reset := func() {
		stats = PodStats{PodNetworkIPs: map[string]int{}, Tracked: map[string]PodState{}}
		if len(ranges) > 0 {
			stats.InRange = map[string]int{}
		}
	}
	reset()
	// Pods of virtual nodes (ECI) take addresses of their own vSwitches,
	// not Terway's: they are not counted against the ranges.
	virtual := map[string]bool{}
	for _, n := range r.s.Nodes {
		if n.Labels[LabelNodeType] == NodeTypeVirtualKubelet {
			virtual[n.Name] = true
		}
	}
	err := ListPaged(ctx, r.opts.ChunkSize, metav1.ListOptions{}, func(o metav1.ListOptions) (string, error) {
		l, err := r.cs.CoreV1().Pods(metav1.NamespaceAll).List(ctx, o)
		if err != nil {
			return "", err
		}
		for i := range l.Items {
			aggregatePod(&stats, &l.Items[i], tracked, r.opts.VSwitchCIDRs, nodeCIDRs)
			if !virtual[l.Items[i].Spec.NodeName] {
				countInRanges(&stats, &l.Items[i], ranges)
			}
		}
		return l.Continue, nil
	}, reset)
	if err != nil {
		r.record(ReadPods, err)
		return
	}
	r.s.Pods = stats
}

// nodeVSwitchCIDRs maps each node with a dynamic Terway config to the CIDRs of
// that config's vSwitches, where every one of them is known by ID; nodes
// whose config names a vSwitch of unknown CIDR are left out.
func (r *reader) nodeVSwitchCIDRs() map[string][]netip.Prefix {
	if len(r.opts.VSwitchByID) == 0 {
		return nil
	}
	byConfig := map[string][]netip.Prefix{}
	out := map[string][]netip.Prefix{}
	for _, n := range r.s.Nodes {
		name := n.Labels[LabelTerwayConfig]
		if name == "" {
			continue
		}
		cidrs, seen := byConfig[name]
		if !seen {
			cidrs = ConfigVSwitchCIDRs(r.s.ConfigMaps[name], r.opts.VSwitchByID)
			byConfig[name] = cidrs
		}
		if len(cidrs) > 0 {
			out[n.Name] = cidrs
		}
	}
	return out
}

// ConfigVSwitchCIDRs are the CIDRs of the vSwitches the eni_conf of a
// ConfigMap's data names; nil when it names none or one whose CIDR is unknown.
func ConfigVSwitchCIDRs(data map[string]string, byID map[string][]netip.Prefix) []netip.Prefix {
	var conf struct {
		VSwitches map[string][]string `json:"vswitches"`
	}
	if json.Unmarshal([]byte(data["eni_conf"]), &conf) != nil {
		return nil
	}
	var out []netip.Prefix
	for _, ids := range conf.VSwitches {
		for _, id := range ids {
			cidrs, ok := byID[id]
			if !ok {
				return nil
			}
			out = append(out, cidrs...)
		}
	}
	return out
}

func aggregatePod(st *PodStats, p *corev1.Pod, tracked map[string]bool, cidrs []netip.Prefix, nodeCIDRs map[string][]netip.Prefix) {
	st.Total++
	key := p.Namespace + "/" + p.Name
	terminated := p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
	if tracked[key] {
		st.Tracked[key] = PodState{Phase: p.Status.Phase, Node: p.Spec.NodeName, Running: p.Status.Phase == corev1.PodRunning}
	}
	if p.Namespace == SystemNamespace {
		for sel, kind := range systemPodApps {
			k, v, _ := strings.Cut(sel, "=")
			if p.Labels[k] == v {
				st.SystemPods = append(st.SystemPods, PodRef{Namespace: p.Namespace, Name: p.Name, Node: p.Spec.NodeName, Detail: kind, App: v})
			}
		}
	}
	if p.Spec.HostNetwork && !terminated && p.Spec.NodeName != "" {
		if st.HostNetworkPods == nil {
			st.HostNetworkPods = map[string]int{}
		}
		st.HostNetworkPods[p.Spec.NodeName]++
	}
	if p.Spec.HostNetwork || terminated {
		return
	}
	if p.Status.PodIP != "" && p.Spec.NodeName != "" {
		st.PodNetworkIPs[p.Spec.NodeName]++
	}
	if port := hostPortOf(p); port != "" {
		st.HostPortCount++
		if len(st.HostPort) < MaxSamples {
			st.HostPort = append(st.HostPort, PodRef{Namespace: p.Namespace, Name: p.Name, Node: p.Spec.NodeName, Detail: port})
		}
	}
	if nc := nodeCIDRs[p.Spec.NodeName]; len(nc) > 0 {
		for _, ip := range p.Status.PodIPs {
			addr, err := netip.ParseAddr(ip.IP)
			if err != nil || !addr.Is4() {
				continue
			}
			if !containedIn(addr, nc) {
				st.OutsideNodeVSwitchCount++
				if len(st.OutsideNodeVSwitch) < MaxSamples {
					st.OutsideNodeVSwitch = append(st.OutsideNodeVSwitch, PodRef{Namespace: p.Namespace, Name: p.Name, Node: p.Spec.NodeName, Detail: ip.IP})
				}
			}
		}
	}
	if len(cidrs) > 0 {
		for _, ip := range p.Status.PodIPs {
			addr, err := netip.ParseAddr(ip.IP)
			if err != nil || !addr.Is4() {
				continue
			}
			if !containedIn(addr, cidrs) {
				st.OutsideVSwitchCount++
				if len(st.OutsideVSwitch) < MaxSamples {
					st.OutsideVSwitch = append(st.OutsideVSwitch, PodRef{Namespace: p.Namespace, Name: p.Name, Node: p.Spec.NodeName, Detail: ip.IP})
				}
			}
		}
	}
}

// countInRanges counts a pod's IPv4 addresses against the ranges: per
// range, or as outside all of them. Pods that hold no pod-network IP (host
// network, finished) are not counted.
func countInRanges(st *PodStats, p *corev1.Pod, ranges []PodRange) {
	if len(ranges) == 0 || p.Spec.HostNetwork || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		return
	}
	for _, ip := range p.Status.PodIPs {
		addr, err := netip.ParseAddr(ip.IP)
		if err != nil || !addr.Is4() {
			continue
		}
		found := false
		for _, rg := range ranges {
			if rg.Prefix.Contains(addr) {
				st.InRange[rg.Name]++
				found = true
				break
			}
		}
		if !found {
			st.OutsideRangesCount++
			if len(st.OutsideRanges) < MaxSamples {
				st.OutsideRanges = append(st.OutsideRanges, PodRef{Namespace: p.Namespace, Name: p.Name, Node: p.Spec.NodeName, Detail: ip.IP})
			}
		}
	}
}

func hostPortOf(p *corev1.Pod) string {
	for _, c := range p.Spec.Containers {
		for _, port := range c.Ports {
			if port.HostPort != 0 {
				return fmt.Sprintf("%s %d/%s", c.Name, port.HostPort, protocolOr(port.Protocol))
			}
		}
	}
	return ""
}

func protocolOr(p corev1.Protocol) string {
	if p == "" {
		return "TCP"
	}
	return string(p)
}

func containedIn(a netip.Addr, cidrs []netip.Prefix) bool {
	for _, c := range cidrs {
		if c.Contains(a) {
			return true
		}
	}
	return false
}

func isForbidden(err error) bool { return apierrors.IsForbidden(err) }
