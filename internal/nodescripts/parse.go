package nodescripts

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/kubectl-acknet/kubectl-acknet/internal/flannelgc"
)

// ScanResult is the parsed output of flannel-scan.
type ScanResult struct {
	Now         time.Time
	Dirs        map[string]bool // path -> present
	Allocations []flannelgc.Allocation
	Runtime     flannelgc.Runtime
	// FSTypes is the filesystem under each IPAM dir base ("tmpfs", "xfs";
	// "-" when unknown).
	FSTypes map[string]string
	// CNIConfs are the node's Flannel CNI config files: path -> content,
	// "" when the file could not be read.
	CNIConfs map[string]string
}

// ParseScan parses flannel-scan output. A missing runtime record means the
// script did not finish, which is an error: the decision needs it.
func ParseScan(out string) (*ScanResult, error) {
	r := &ScanResult{Dirs: map[string]bool{}, FSTypes: map[string]string{}, CNIConfs: map[string]string{}}
	sawRuntime := false
	err := eachRecord(out, func(f []string) error {
		switch f[0] {
		case "now":
			n, err := strconv.ParseInt(at(f, 1), 10, 64)
			if err != nil {
				return fmt.Errorf("bad now record: %w", err)
			}
			r.Now = time.Unix(n, 0)
		case "dir":
			r.Dirs[at(f, 1)] = at(f, 2) == "present"
		case "fs":
			r.FSTypes[at(f, 1)] = at(f, 2)
		case "cniconf":
			if at(f, 2) == "-" {
				r.CNIConfs[at(f, 1)] = ""
				break
			}
			b, err := base64.StdEncoding.DecodeString(at(f, 2))
			if err != nil {
				return fmt.Errorf("bad cniconf record for %s: %w", at(f, 1), err)
			}
			r.CNIConfs[at(f, 1)] = string(b)
		case "alloc":
			ip, err := netip.ParseAddr(at(f, 2))
			if err != nil {
				return fmt.Errorf("bad alloc record %q: %w", strings.Join(f, " "), err)
			}
			// "-" (stat failed) or anything else unusable stays the zero
			// time: an unknown age, which the decision never releases.
			var mod time.Time
			if mtime, err := strconv.ParseInt(at(f, 5), 10, 64); err == nil && mtime > 0 {
				mod = time.Unix(mtime, 0)
			}
			r.Allocations = append(r.Allocations, flannelgc.Allocation{
				Dir: at(f, 1), IP: ip, ContainerID: at(f, 3), IfName: at(f, 4), ModTime: mod,
			})
		case "sandbox":
			r.Runtime.Sandboxes = append(r.Runtime.Sandboxes, at(f, 1))
		case "runtime":
			sawRuntime = true
			r.Runtime.Name = at(f, 1)
			if at(f, 2) == "ok" {
				n, err := strconv.Atoi(at(f, 3))
				if err != nil || n != len(r.Runtime.Sandboxes) {
					return fmt.Errorf("runtime record says %s sandboxes, %d listed", at(f, 3), len(r.Runtime.Sandboxes))
				}
				r.Runtime.OK = true
			} else {
				r.Runtime.Err = at(f, 3)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !sawRuntime {
		return nil, fmt.Errorf("scan output has no runtime record: the script did not finish")
	}
	return r, nil
}

// ApplyRecord is one line of flannel-gc-apply output.
type ApplyRecord struct {
	Moved  bool
	IP     string
	Detail string // backup path when moved, reason when kept
}

// ParseApply parses flannel-gc-apply output.
func ParseApply(out string) ([]ApplyRecord, error) {
	var recs []ApplyRecord
	err := eachRecord(out, func(f []string) error {
		switch f[0] {
		case "moved":
			recs = append(recs, ApplyRecord{Moved: true, IP: at(f, 1), Detail: at(f, 3)})
		case "kept":
			recs = append(recs, ApplyRecord{IP: at(f, 1), Detail: at(f, 2)})
		default:
			return fmt.Errorf("unexpected record %q", f[0])
		}
		return nil
	})
	return recs, err
}

// ConntrackStats is the parsed output of the conntrack script.
type ConntrackStats struct {
	Count, Max, Buckets int64
	Protocols           map[string]int64
	// DNS is the entries whose original destination port is 53; -1 when
	// the table could not be read entry by entry.
	DNS       int64
	TableFull string
}

// Usage is count/max in percent; 0 when max is unknown.
func (c ConntrackStats) Usage() float64 {
	if c.Max <= 0 {
		return 0
	}
	return 100 * float64(c.Count) / float64(c.Max)
}

// ConntrackSetResult is what conntrack-set.sh did on one node.
type ConntrackSetResult struct {
	Count, Old int64
	// New is the value the kernel took (APPLY=1), 0 on a dry run.
	New       int64
	Persisted string
}

// ParseConntrackSet parses conntrack-set output.
func ParseConntrackSet(out string) (*ConntrackSetResult, error) {
	r := &ConntrackSetResult{}
	saw := false
	err := eachRecord(out, func(f []string) error {
		switch f[0] {
		case "current":
			saw = true
			r.Count, _ = strconv.ParseInt(at(f, 1), 10, 64)
			r.Old, _ = strconv.ParseInt(at(f, 2), 10, 64)
		case "set":
			r.New, _ = strconv.ParseInt(at(f, 2), 10, 64)
		case "persisted":
			r.Persisted = at(f, 1)
		}
		return nil
	})
	if err == nil && !saw {
		err = fmt.Errorf("conntrack-set output has no current record")
	}
	return r, err
}

// ParseConntrack parses the conntrack script output.
func ParseConntrack(out string) (*ConntrackStats, error) {
	c := &ConntrackStats{Protocols: map[string]int64{}, DNS: -1}
	sawMax := false
	err := eachRecord(out, func(f []string) error {
		n, _ := strconv.ParseInt(at(f, 1), 10, 64)
		switch f[0] {
		case "count":
			c.Count = n
		case "max":
			c.Max, sawMax = n, true
		case "buckets":
			c.Buckets = n
		case "dns":
			c.DNS = n
		case "proto":
			v, err := strconv.ParseInt(at(f, 2), 10, 64)
			if err != nil {
				return fmt.Errorf("bad proto record: %w", err)
			}
			c.Protocols[at(f, 1)] = v
		case "tablefull":
			c.TableFull = at(f, 1)
		}
		return nil
	})
	if err == nil && !sawMax {
		err = fmt.Errorf("conntrack output has no max record")
	}
	return c, err
}

func eachRecord(out string, fn func([]string) error) error {
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if line == "" {
			continue
		}
		if err := fn(fields(line)); err != nil {
			return err
		}
	}
	return sc.Err()
}

func at(f []string, i int) string {
	if i < len(f) {
		return f[i]
	}
	return ""
}

// Module is one kernel module as ipvs-modules sees it. A module built into
// the kernel counts as loaded and persisted: it needs neither.
type Module struct {
	Name                         string
	Loaded, Available, Persisted bool
	Builtin                      bool
}

// ModulesResult is the parsed output of ipvs-modules.
type ModulesResult struct {
	Modules []Module
	// Loaded, Persisted and Failed record what APPLY=1 did.
	Loaded    []string
	Persisted []string
	Failed    map[string]string
}

// ParseModules parses ipvs-modules output.
func ParseModules(out string) (*ModulesResult, error) {
	r := &ModulesResult{Failed: map[string]string{}}
	err := eachRecord(out, func(f []string) error {
		switch f[0] {
		case "module":
			builtin := at(f, 4) == "builtin"
			r.Modules = append(r.Modules, Module{Name: at(f, 1), Loaded: at(f, 2) == "loaded",
				Available: at(f, 3) == "available", Persisted: at(f, 4) == "persisted" || builtin, Builtin: builtin})
		case "loaded":
			r.Loaded = append(r.Loaded, at(f, 1))
		case "persisted":
			r.Persisted = append(r.Persisted, at(f, 1))
		case "failed":
			r.Failed[at(f, 1)] = at(f, 2)
		default:
			return fmt.Errorf("unexpected record %q", f[0])
		}
		return nil
	})
	if err == nil && len(r.Modules) == 0 {
		err = fmt.Errorf("ipvs-modules output names no module")
	}
	return r, err
}

// Timeouts are IPVS timeouts in seconds.
type Timeouts struct{ TCP, TCPFin, UDP int }

func (t Timeouts) String() string { return fmt.Sprintf("%d %d %d", t.TCP, t.TCPFin, t.UDP) }

// TimeoutsResult is the parsed output of ipvs-timeout.
type TimeoutsResult struct {
	Current, Old, New *Timeouts
}

// ParseTimeouts parses ipvs-timeout output.
func ParseTimeouts(out string) (*TimeoutsResult, error) {
	r := &TimeoutsResult{}
	err := eachRecord(out, func(f []string) error {
		if f[0] != "timeout" {
			return fmt.Errorf("unexpected record %q", f[0])
		}
		var t Timeouts
		var err error
		for i, dst := range []*int{&t.TCP, &t.TCPFin, &t.UDP} {
			if *dst, err = strconv.Atoi(at(f, 2+i)); err != nil {
				return fmt.Errorf("bad timeout record: %w", err)
			}
		}
		switch at(f, 1) {
		case "current":
			r.Current = &t
		case "old":
			r.Old = &t
		case "new":
			r.New = &t
		}
		return nil
	})
	if err == nil && r.Current == nil && r.Old == nil {
		err = fmt.Errorf("ipvs-timeout output has no timeouts")
	}
	return r, err
}
