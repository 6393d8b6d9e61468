package nodescripts

import (
	"fmt"
	"strconv"
	"strings"
)

// Socket is one TCP socket of a pod's network namespace.
type Socket struct {
	IPv6   bool
	Port   int
	Listen bool
}

// PodSockets is what listen found for one pod.
type PodSockets struct {
	Err     string
	PID     int
	Sockets []Socket
}

// tcpListen is the LISTEN state in /proc/net/tcp.
const tcpListen = "0A"

// ParseListen parses listen output into sockets by namespace/name.
func ParseListen(out string) (map[string]*PodSockets, error) {
	res := map[string]*PodSockets{}
	var cur *PodSockets
	err := eachRecord(out, func(f []string) error {
		switch f[0] {
		case "pod":
			cur = &PodSockets{}
			res[at(f, 1)+"/"+at(f, 2)] = cur
			if at(f, 3) == "ok" {
				cur.PID, _ = strconv.Atoi(at(f, 4))
			} else {
				cur.Err = at(f, 4)
			}
		case "sock":
			if cur == nil {
				return fmt.Errorf("socket record before any pod record")
			}
			local := at(f, 2)
			i := strings.LastIndex(local, ":")
			if i < 0 {
				return fmt.Errorf("bad local address %q", local)
			}
			port, err := strconv.ParseUint(local[i+1:], 16, 16)
			if err != nil {
				return fmt.Errorf("bad port in %q: %w", local, err)
			}
			cur.Sockets = append(cur.Sockets, Socket{IPv6: at(f, 1) == "tcp6", Port: int(port), Listen: strings.EqualFold(at(f, 3), tcpListen)})
		default:
			return fmt.Errorf("unexpected record %q", f[0])
		}
		return nil
	})
	return res, err
}

// Listens reports whether the pod listens on port over IPv6 and over IPv4.
func (p *PodSockets) Listens(port int) (v6, v4 bool) {
	for _, s := range p.Sockets {
		if s.Listen && s.Port == port {
			if s.IPv6 {
				v6 = true
			} else {
				v4 = true
			}
		}
	}
	return v6, v4
}

// ProbeResult is one dialled target.
type ProbeResult struct {
	Address string
	Port    int
	Result  string // reachable, refused, timeout, error
	Message string
}

// ParseProbe parses probe output.
func ParseProbe(out string) ([]ProbeResult, error) {
	var res []ProbeResult
	err := eachRecord(out, func(f []string) error {
		if f[0] != "target" {
			return fmt.Errorf("unexpected record %q", f[0])
		}
		port, err := strconv.Atoi(at(f, 2))
		if err != nil {
			return fmt.Errorf("bad port %q", at(f, 2))
		}
		res = append(res, ProbeResult{Address: at(f, 1), Port: port, Result: at(f, 3), Message: at(f, 4)})
		return nil
	})
	return res, err
}

// InOrder returns the probe's results in the order of the targets asked for
// (pairs of ADDRESS PORT, as passed to the script): the script dials them
// all at once and prints in the order they finish.
func InOrder(res []ProbeResult, args []string) ([]ProbeResult, error) {
	by := map[string]ProbeResult{}
	for _, r := range res {
		by[r.Address+" "+strconv.Itoa(r.Port)] = r
	}
	out := make([]ProbeResult, 0, len(args)/2)
	for i := 0; i+1 < len(args); i += 2 {
		r, ok := by[args[i]+" "+args[i+1]]
		if !ok {
			return nil, fmt.Errorf("the probe did not report %s port %s", args[i], args[i+1])
		}
		out = append(out, r)
	}
	return out, nil
}
