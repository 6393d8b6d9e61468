// Package flannelgc decides which host-local IPAM allocations of a Flannel
// node are leaked. It is a pure function of three listings: the allocation
// files on disk, the sandboxes the container runtime knows, and the pods the
// API server places on the node. Every rule errs on the side of keeping a
// file: a wrong "leaked" takes a live pod's IP away, a wrong "kept" only
// delays the clean-up.
package flannelgc

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"
)

// Allocation is one host-local IPAM file: its name is the IP, its first line
// the container (sandbox) ID that holds it.
type Allocation struct {
	Dir         string
	IP          netip.Addr
	ContainerID string
	IfName      string
	// ModTime is zero when the node could not tell.
	ModTime time.Time
}

// Runtime is what the container runtime listed on the node.
type Runtime struct {
	Name string // crictl or docker
	// OK is false when the listing failed; Err says why.
	OK        bool
	Err       string
	Sandboxes []string
}

// Pod is a non-terminated pod the API server places on the node.
type Pod struct {
	Namespace, Name string
	IPs             []netip.Addr
}

// Input is everything the decision needs.
type Input struct {
	Node        string
	Allocations []Allocation
	Runtime     Runtime
	Pods        []Pod
	Now         time.Time
	// MinAge protects allocations younger than this: containerd reserves an
	// IP before the sandbox shows up in its listing.
	MinAge time.Duration
}

// Kept is an allocation that stays, and why.
type Kept struct {
	Allocation
	Reason string
}

// Plan is the decision for one node.
type Plan struct {
	Node string
	// Refused is non-empty when nothing may be touched on the node.
	Refused string
	Leaked  []Allocation
	Kept    []Kept
}

// minIDPrefix is the shortest container ID prefix accepted as a match, the
// length docker and crictl print when truncating.
const minIDPrefix = 12

// Decide returns the plan for one node.
func Decide(in Input) Plan {
	p := Plan{Node: in.Node}
	if !in.Runtime.OK {
		p.Refused = fmt.Sprintf("the runtime listing (%s) failed: %s", orUnknown(in.Runtime.Name), in.Runtime.Err)
		return p
	}
	if len(in.Runtime.Sandboxes) == 0 && (len(in.Allocations) > 0 || len(in.Pods) > 0) {
		p.Refused = fmt.Sprintf("the runtime (%s) listed no sandbox while the node has %d allocations and %d pods: a broken listing would make every IP look leaked",
			orUnknown(in.Runtime.Name), len(in.Allocations), len(in.Pods))
		return p
	}
	holders := map[netip.Addr]string{}
	for _, pod := range in.Pods {
		for _, ip := range pod.IPs {
			holders[ip] = pod.Namespace + "/" + pod.Name
		}
	}
	for _, a := range in.Allocations {
		switch {
		case a.ContainerID == "":
			p.Kept = append(p.Kept, Kept{a, "file names no container"})
		case sandboxKnown(in.Runtime.Sandboxes, a.ContainerID):
			p.Kept = append(p.Kept, Kept{a, "live sandbox"})
		case holders[a.IP] != "":
			p.Kept = append(p.Kept, Kept{a, "held by pod " + holders[a.IP]})
		case a.ModTime.IsZero():
			p.Kept = append(p.Kept, Kept{a, "age unknown (stat failed on the node)"})
		case in.Now.Sub(a.ModTime) < in.MinAge:
			p.Kept = append(p.Kept, Kept{a, fmt.Sprintf("younger than %s", in.MinAge)})
		default:
			p.Leaked = append(p.Leaked, a)
		}
	}
	sort.Slice(p.Leaked, func(i, j int) bool { return p.Leaked[i].IP.Less(p.Leaked[j].IP) })
	sort.Slice(p.Kept, func(i, j int) bool { return p.Kept[i].IP.Less(p.Kept[j].IP) })
	return p
}

// SandboxKnown says whether the runtime lists the sandbox id: full IDs, and
// truncated ones in either direction (docker and crictl shorten them).
func SandboxKnown(sandboxes []string, id string) bool { return sandboxKnown(sandboxes, id) }

func sandboxKnown(sandboxes []string, id string) bool {
	for _, s := range sandboxes {
		if s == id {
			return true
		}
		if len(s) >= minIDPrefix && len(id) >= minIDPrefix && (strings.HasPrefix(s, id) || strings.HasPrefix(id, s)) {
			return true
		}
	}
	return false
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown runtime"
	}
	return s
}
