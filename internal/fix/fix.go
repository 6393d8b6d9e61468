// Package fix plans the ConfigMap remedies of the doctor checks whose cure
// is a config change. Planning is pure: it takes ConfigMap data and returns
// the edited text of each key that changes, already checked with the strict
// parsers doctor uses and proven to change nothing but the intended field.
// Writing, backups and restarts belong to the caller.
package fix

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// Param is a value a fixer takes through --set NAME=VALUE.
type Param struct {
	Name    string
	Default string
	Help    string
}

// Fixer is the remedy of one check ID.
type Fixer struct {
	ID string
	// Changes says what it changes, for `fix --list`.
	Changes    string
	ConfigMaps []string
	Params     []Param
	// Needs says what else of the cluster the command reads into Input.
	Needs Need
	plan  func(in *Input, p *Plan) error
}

// Need is a part of Input beyond the ConfigMaps and the server version.
type Need int

// The parts a fixer may need.
const (
	NeedFlannelVersion  Need = 1 << iota // Input.FlannelVersion
	NeedNetworkPolicies                  // Input.NetworkPolicies and Example
)

// Input is what a fixer reads.
type Input struct {
	// Data holds the data of each ConfigMap of kube-system that exists.
	Data map[string]map[string]string
	// Set holds the --set values given; fixers fall back to Param.Default.
	Set map[string]string
	// FlannelVersion is the image version of the Flannel DaemonSet, if known.
	FlannelVersion string
	// NetworkPolicies is the number of NetworkPolicy objects (-1: unknown);
	// Example names one of them.
	NetworkPolicies int
	Example         string
	// KubeMajor and KubeMinor are the server version; 0 when unknown.
	KubeMajor, KubeMinor int
}

// kubeBefore reports whether the server is known to be older than
// major.minor.
func (in *Input) kubeBefore(major, minor int) bool {
	if in.KubeMajor == 0 {
		return false
	}
	return in.KubeMajor < major || in.KubeMajor == major && in.KubeMinor < minor
}

// Edit is one ConfigMap key that changes.
type Edit struct {
	ConfigMap string
	Key       string
	Before    string
	After     string
	// Existed is false when the key is added; Remove when it is deleted.
	Existed bool
	Remove  bool
	// What says the change in one line, for people.
	What string
}

// Plan is what a fix would do.
type Plan struct {
	Check string
	Edits []Edit
	// Notes are warnings to show before anything is written.
	Notes []string
	// Scheduler is set when the fix makes kube-proxy use this IPVS
	// scheduler, whose kernel module must be loadable on every node first.
	Scheduler string
	// Unchanged names what was already right.
	Unchanged []string
}

// ConfigMaps returns the names of the ConfigMaps the plan edits, sorted.
func (p *Plan) ConfigMaps() []string {
	seen := map[string]bool{}
	var out []string
	for _, e := range p.Edits {
		if !seen[e.ConfigMap] {
			seen[e.ConfigMap] = true
			out = append(out, e.ConfigMap)
		}
	}
	sort.Strings(out)
	return out
}

// Apply returns the data of ConfigMap cm with the plan's edits of it made;
// data itself is left as it is.
func (p *Plan) Apply(cm string, data map[string]string) map[string]string {
	out := make(map[string]string, len(data)+len(p.Edits))
	for k, v := range data {
		out[k] = v
	}
	for _, e := range p.Edits {
		switch {
		case e.ConfigMap != cm:
		case e.Remove:
			delete(out, e.Key)
		default:
			out[e.Key] = e.After
		}
	}
	return out
}

// Fixers returns every fixer, ordered by check ID.
func Fixers() []*Fixer {
	out := []*Fixer{
		flannelCNIVersion(), flannelHairpin(), flannelIPAMDataDir(),
		terwayInClusterLB(), terwayNetworkPolicy(),
		conntrackMaxPerCore(), ipvsUDPTimeout(), ipvsScheduler(), masterWorkerDrift(),
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Lookup returns the fixer of a check ID.
func Lookup(id string) (*Fixer, bool) {
	for _, f := range Fixers() {
		if f.ID == id {
			return f, true
		}
	}
	return nil, false
}

// IDs returns the fixable check IDs.
func IDs() []string {
	var out []string
	for _, f := range Fixers() {
		out = append(out, f.ID)
	}
	return out
}

// Plan computes the edits. An error means the fix cannot be made safely
// (unknown --set name, missing ConfigMap, a document that does not parse,
// an edit that would change more than its field).
func (f *Fixer) Plan(in *Input) (*Plan, error) {
	for name := range in.Set {
		if !f.hasParam(name) {
			var names []string
			for _, p := range f.Params {
				names = append(names, p.Name)
			}
			if len(names) == 0 {
				return nil, fmt.Errorf("this fix takes no --set values")
			}
			return nil, fmt.Errorf("this fix takes no --set %s (it takes: %s)", name, strings.Join(names, ", "))
		}
	}
	p := &Plan{Check: f.ID}
	if err := f.plan(in, p); err != nil {
		return nil, err
	}
	return p, nil
}

func (f *Fixer) hasParam(name string) bool {
	for _, p := range f.Params {
		if p.Name == name {
			return true
		}
	}
	return false
}

// param returns the --set value or the default, and whether it was given.
func (f *Fixer) param(in *Input, name string) (string, bool) {
	if v, ok := in.Set[name]; ok {
		return v, true
	}
	for _, p := range f.Params {
		if p.Name == name {
			return p.Default, false
		}
	}
	return "", false
}

// data returns one key of a kube-system ConfigMap.
func data(in *Input, cm, key string) (string, error) {
	d, ok := in.Data[cm]
	if !ok {
		return "", fmt.Errorf("kube-system/ConfigMap/%s does not exist", cm)
	}
	v, ok := d[key]
	if !ok {
		return "", fmt.Errorf("kube-system/ConfigMap/%s has no key %s", cm, key)
	}
	return v, nil
}

// verifyOnly proves that after differs from before only as mutate says:
// both are decoded (JSON, or YAML as JSON) and mutate is applied to the
// decoded before. It guards against an edit that lands in the wrong place.
func verifyOnly(before, after string, isYAML bool, mutate func(doc map[string]any) error) error {
	decode := func(s string) (map[string]any, error) {
		var m map[string]any
		var err error
		if isYAML {
			err = yaml.Unmarshal([]byte(s), &m)
		} else {
			err = json.Unmarshal([]byte(s), &m)
		}
		return m, err
	}
	b, err := decode(before)
	if err != nil {
		return fmt.Errorf("decode original: %w", err)
	}
	a, err := decode(after)
	if err != nil {
		return fmt.Errorf("the edited text does not decode: %w", err)
	}
	if err := mutate(b); err != nil {
		return err
	}
	if !reflect.DeepEqual(a, b) {
		return fmt.Errorf("internal error: the edit would change more than intended; nothing written")
	}
	return nil
}

// setPath sets doc[path...] = v, creating objects on the way.
func setPath(doc map[string]any, path []string, v any) error {
	m := doc
	for _, k := range path[:len(path)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			if m[k] != nil {
				return fmt.Errorf("%s is not an object", k)
			}
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
	m[path[len(path)-1]] = v
	return nil
}

func deletePath(doc map[string]any, path []string) {
	m := doc
	for _, k := range path[:len(path)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			return
		}
		m = next
	}
	delete(m, path[len(path)-1])
}

// yamlValue decodes a scalar as YAML does, for verifyOnly.
func yamlValue(s string) any {
	var v any
	_ = yaml.Unmarshal([]byte(s), &v)
	return v
}

// quote is a JSON string literal.
func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
