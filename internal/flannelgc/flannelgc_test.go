package flannelgc

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const (
	idLive   = "5e1f0c2b9a7d4e3f8a6b1c0d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f"
	idGone   = "aa11bb22cc33dd44ee55ff6677889900aa11bb22cc33dd44ee55ff6677889900"
	idGone2  = "0f0e0d0c0b0a09080706050403020100ffeeddccbbaa99887766554433221100"
	idRecent = "1234567890abcdef1234567890abcdef1234567890abcdef1234567890abcdef"
)

func alloc(ip, id string, age time.Duration) Allocation {
	return Allocation{Dir: "/var/lib/cni/networks/cb0", IP: netip.MustParseAddr(ip), ContainerID: id, IfName: "eth0", ModTime: now.Add(-age)}
}

func ips(p Plan) (leaked, kept string) {
	var l, k []string
	for _, a := range p.Leaked {
		l = append(l, a.IP.String())
	}
	for _, a := range p.Kept {
		k = append(k, a.IP.String()+":"+a.Reason)
	}
	return strings.Join(l, ","), strings.Join(k, ",")
}

func TestDecide(t *testing.T) {
	live := Runtime{Name: "crictl", OK: true, Sandboxes: []string{idLive}}
	tests := []struct {
		name       string
		in         Input
		refused    string
		wantLeaked string
		wantKept   string
	}{
		{
			name:    "runtime listing failed",
			in:      Input{Allocations: []Allocation{alloc("172.20.1.2", idGone, time.Hour)}, Runtime: Runtime{Name: "crictl", Err: "connect: connection refused"}},
			refused: "failed: connect: connection refused",
		},
		{
			name:    "empty listing while allocations exist",
			in:      Input{Allocations: []Allocation{alloc("172.20.1.2", idGone, time.Hour)}, Runtime: Runtime{Name: "crictl", OK: true}},
			refused: "listed no sandbox",
		},
		{
			name:    "empty listing while pods exist",
			in:      Input{Runtime: Runtime{Name: "docker", OK: true}, Pods: []Pod{{Namespace: "a", Name: "b"}}},
			refused: "listed no sandbox",
		},
		{
			name: "empty node is fine",
			in:   Input{Runtime: Runtime{Name: "crictl", OK: true}},
		},
		{
			name: "live, held, young and leaked",
			in: Input{
				Allocations: []Allocation{
					alloc("172.20.1.2", idLive, time.Hour),
					alloc("172.20.1.3", idGone, time.Hour),
					alloc("172.20.1.4", idGone2, time.Hour),
					alloc("172.20.1.5", idRecent, time.Minute),
				},
				Runtime: live,
				Pods:    []Pod{{Namespace: "shop", Name: "web", IPs: []netip.Addr{netip.MustParseAddr("172.20.1.4")}}},
				MinAge:  10 * time.Minute,
			},
			wantLeaked: "172.20.1.3",
			wantKept:   "172.20.1.2:live sandbox,172.20.1.4:held by pod shop/web,172.20.1.5:younger than 10m0s",
		},
		{
			name: "partial listing keeps what it names, truncated IDs match",
			in: Input{
				Allocations: []Allocation{alloc("172.20.1.2", idLive, time.Hour), alloc("172.20.1.3", idGone, time.Hour)},
				Runtime:     Runtime{Name: "docker", OK: true, Sandboxes: []string{idLive[:12]}},
			},
			wantLeaked: "172.20.1.3",
			wantKept:   "172.20.1.2:live sandbox",
		},
		{
			name: "a short prefix does not match",
			in: Input{
				Allocations: []Allocation{alloc("172.20.1.3", idGone, time.Hour)},
				Runtime:     Runtime{Name: "crictl", OK: true, Sandboxes: []string{idGone[:4], idLive}},
			},
			wantLeaked: "172.20.1.3",
		},
		{
			name: "an unknown age is never old enough, even with no minimum age",
			in: Input{
				Allocations: []Allocation{{Dir: "/var/lib/cni/networks/cb0", IP: netip.MustParseAddr("172.20.1.3"), ContainerID: idGone}},
				Runtime:     live,
			},
			wantKept: "172.20.1.3:age unknown (stat failed on the node)",
		},
		{
			name: "legacy file without container ID is kept",
			in: Input{
				Allocations: []Allocation{alloc("10.244.0.7", "", time.Hour)},
				Runtime:     live,
			},
			wantKept: "10.244.0.7:file names no container",
		},
		{
			name: "IPv6 allocations of a dual-stack pod",
			in: Input{
				Allocations: []Allocation{alloc("fd00:10:244:1::3", idGone, time.Hour), alloc("fd00:10:244:1::2", idGone2, time.Hour)},
				Runtime:     live,
				Pods:        []Pod{{Namespace: "a", Name: "v6", IPs: []netip.Addr{netip.MustParseAddr("172.20.1.9"), netip.MustParseAddr("fd00:10:244:1::2")}}},
			},
			wantLeaked: "fd00:10:244:1::3",
			wantKept:   "fd00:10:244:1::2:held by pod a/v6",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.in.Now = now
			p := Decide(tt.in)
			if tt.refused != "" {
				if !strings.Contains(p.Refused, tt.refused) || len(p.Leaked) != 0 {
					t.Fatalf("refused %q leaked %v, want refusal containing %q", p.Refused, p.Leaked, tt.refused)
				}
				return
			}
			if p.Refused != "" {
				t.Fatalf("unexpected refusal: %s", p.Refused)
			}
			l, k := ips(p)
			if l != tt.wantLeaked || k != tt.wantKept {
				t.Errorf("leaked %q kept %q\nwant leaked %q kept %q", l, k, tt.wantLeaked, tt.wantKept)
			}
		})
	}
}
