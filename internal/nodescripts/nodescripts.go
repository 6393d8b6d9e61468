// Package nodescripts holds the POSIX sh scripts that run on nodes, and the
// Go parsers of their output. Scripts gather facts or perform one narrow
// action; every decision is made in Go. Parameters reach a script only as
// environment variables or positional arguments, never spliced into its
// text.
package nodescripts

import (
	"embed"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"
)

//go:embed scripts/*.sh
var files embed.FS

// Script is one embedded script.
type Script struct {
	Name string
	Text string
}

// Load returns the named script (file name without .sh).
func Load(name string) Script {
	b, err := files.ReadFile(path.Join("scripts", name+".sh"))
	if err != nil {
		panic(fmt.Sprintf("nodescripts: no script %q", name)) // a programming error
	}
	return Script{Name: name, Text: string(b)}
}

// Scripts of the node commands.
var (
	FlannelScan    = Load("flannel-scan")
	FlannelGCApply = Load("flannel-gc-apply")
	Conntrack      = Load("conntrack")
	ConntrackSet   = Load("conntrack-set")
	IPVSModules    = Load("ipvs-modules")
	IPVSTimeout    = Load("ipvs-timeout")
	Listen         = Load("listen")
	Probe          = Load("probe")
	DNS            = Load("dns")
)

// Exit statuses of ipvs-timeout.sh besides 0 and 1.
const (
	ExitNoIPVSAdm = 3 // ipvsadm is not installed on the node
	ExitNoIPVS    = 4 // no IPVS in use on the node (nothing read or set)
)

// Refusals of conntrack-set.sh: the new max is below the entries the table
// holds, or below the current limit without ALLOW_LOWER=1.
const (
	ExitBelowCount = 5
	ExitBelowLimit = 6
)

// ConntrackDropIn is the sysctl drop-in conntrack --set-max persists to.
const ConntrackDropIn = "/etc/sysctl.d/99-acknet-conntrack.conf"

// IPVSSchedulers are the schedulers of the Linux IPVS code; the module of
// scheduler S is ip_vs_S.
var IPVSSchedulers = []string{"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos"}

// ValidScheduler reports whether s is a known IPVS scheduler.
func ValidScheduler(s string) bool {
	for _, k := range IPVSSchedulers {
		if s == k {
			return true
		}
	}
	return false
}

// HostPath is the PATH scripts run with on the host.
const HostPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Command is the exec argv that runs a script as the host sees it: chroot
// into the host root (the debug pod mounts the host's / there), start from
// an empty environment plus env, and hand the script to sh -c with args as
// positional parameters. chroot rather than nsenter: the pod already shares
// the host's network and PID namespaces, and chroot needs nothing in the
// image beyond busybox.
//
// With hostRoot "" the script runs in the debug image's own root (the probe
// dials with the image's nc). env is then found through the image's PATH:
// the upstream busybox image has every applet in /bin and no /usr/bin/env.
func Command(s Script, hostRoot string, env map[string]string, args ...string) ([]string, error) {
	argv := []string{"env", "-i", "PATH=" + HostPath}
	if hostRoot != "" {
		argv = []string{"chroot", hostRoot, "/usr/bin/env", "-i", "PATH=" + HostPath}
	}
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := env[k]
		if !validEnvName(k) {
			return nil, fmt.Errorf("bad environment name %q", k)
		}
		if strings.ContainsAny(v, "\x00\n") {
			return nil, fmt.Errorf("environment value of %s has a NUL or newline", k)
		}
		argv = append(argv, k+"="+v)
	}
	for _, a := range args {
		if strings.ContainsRune(a, 0) {
			return nil, fmt.Errorf("argument with a NUL byte")
		}
	}
	argv = append(argv, "/bin/sh", "-c", s.Text, "acknet-"+s.Name)
	return append(argv, args...), nil
}

func validEnvName(k string) bool {
	if k == "" {
		return false
	}
	for i, r := range k {
		if r == '_' || (r >= 'A' && r <= 'Z') || (i > 0 && r >= '0' && r <= '9') {
			continue
		}
		return false
	}
	return true
}

// fields splits one output record.
func fields(line string) []string { return strings.Split(line, "\t") }

// ModulesPersistFile is where ipvs-modules.sh persists modules with APPLY=1.
const ModulesPersistFile = "/etc/modules-load.d/ack-ipvs-modules.conf"

// ModulesEnv is the ipvs-modules script's parameters: check the modules of
// scheduler sched, and with apply load and persist what is missing.
func ModulesEnv(sched string, apply bool) map[string]string {
	env := map[string]string{"SCHEDULER": sched, "PERSIST_FILE": ModulesPersistFile, "APPLY": "0"}
	if apply {
		env["APPLY"] = "1"
	}
	return env
}

var networkNameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// ValidNetworkName reports whether a CNI network name is a plain name the
// Flannel scripts can take as a directory name.
func ValidNetworkName(s string) bool { return networkNameRe.MatchString(s) }

// ValidIPAMDir reports whether an IPAM data dir is a clean absolute path
// without blanks (the scripts take a space-separated list).
func ValidIPAMDir(d string) bool {
	return path.IsAbs(d) && !strings.ContainsAny(d, " \t\n") && path.Clean(d) == d
}
