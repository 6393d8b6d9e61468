//go:build e2e

package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// machineState is what the rigs must leave as they found it: the machine's
// own interfaces and firewall rules.
type machineState struct {
	links, iptables, nft string
}

var baseline machineState

func readMachineState() machineState {
	out := func(name string, args ...string) string {
		b, err := exec.Command(name, args...).Output()
		if err != nil {
			return "(" + name + ": " + err.Error() + ")"
		}
		return string(b)
	}
	var links []string
	for _, l := range strings.Split(out("ip", "-o", "link", "show"), "\n") {
		// "2: eth0@if3: <...>": the name, not counters or states.
		if f := strings.Fields(l); len(f) > 1 {
			links = append(links, strings.TrimSuffix(f[1], ":"))
		}
	}
	sort.Strings(links)
	return machineState{
		links:    strings.Join(links, " "),
		iptables: stripCounters(out("iptables-save")) + stripCounters(out("ip6tables-save")),
		nft:      out("nft", "list", "ruleset"),
	}
}

// stripCounters drops iptables-save's comments and packet counters.
func stripCounters(s string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "#") {
			continue
		}
		if i := strings.Index(l, " ["); strings.HasPrefix(l, ":") && i > 0 {
			l = l[:i]
		}
		keep = append(keep, l)
	}
	return strings.Join(keep, "\n")
}

// rigID is hack/lib/rignet.sh's rig_id: namespaces and cgroups of a rig
// carry it.
func rigID(dir string) string {
	sum := sha256.Sum256([]byte(dir))
	return "acknet-" + hex.EncodeToString(sum[:])[:6]
}

// rigLeftovers lists what the rigs left on the machine after hack/rig.sh
// down: processes, mounts, network namespaces, cgroups of their nodes, and
// any change to the machine's interfaces or firewall rules.
func rigLeftovers() string {
	var left []string
	dirs := []string{rigDir, realDir}
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		cmd, err := os.ReadFile(p + "/cmdline")
		if err != nil || len(cmd) == 0 {
			continue
		}
		if st, err := os.ReadFile(p + "/stat"); err == nil && strings.Contains(string(st), ") Z ") {
			continue // exited, waiting for its parent to reap it
		}
		c := strings.ReplaceAll(string(cmd), "\x00", " ")
		for _, d := range dirs {
			if d != "" && strings.Contains(c, d) {
				left = append(left, "process "+filepath.Base(p)+": "+c)
			}
		}
	}
	if mi, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		for _, l := range strings.Split(string(mi), "\n") {
			for _, d := range dirs {
				if d != "" && strings.Contains(l, d) {
					left = append(left, "mount "+l)
				}
			}
		}
	}
	ids := []string{rigID(rigDir), rigID(realDir)}
	if out, err := exec.Command("ip", "netns", "list").Output(); err == nil {
		for _, l := range strings.Split(string(out), "\n") {
			for _, id := range ids {
				if strings.HasPrefix(l, id) {
					left = append(left, "network namespace "+l)
				}
			}
		}
	}
	for _, id := range ids {
		cgs, _ := filepath.Glob("/sys/fs/cgroup/*/" + id + "-*")
		for _, cg := range cgs {
			left = append(left, "cgroup "+cg)
		}
	}
	now := readMachineState()
	if now.links != baseline.links {
		left = append(left, fmt.Sprintf("interfaces of the machine changed:\n  before: %s\n  after:  %s", baseline.links, now.links))
	}
	if now.iptables != baseline.iptables {
		left = append(left, "iptables rules of the machine changed:\n"+now.iptables)
	}
	if now.nft != baseline.nft {
		left = append(left, "nftables rules of the machine changed:\n"+now.nft)
	}
	return strings.Join(left, "\n")
}
