package fix

import (
	"fmt"
	"strings"

	"github.com/kubectl-acknet/kubectl-acknet/internal/ackconf"
	"github.com/kubectl-acknet/kubectl-acknet/internal/checks"
	"github.com/kubectl-acknet/kubectl-acknet/internal/cluster"
	"github.com/kubectl-acknet/kubectl-acknet/internal/confedit"
)

const (
	flannelCM  = cluster.CMFlannel
	flannelKey = ackconf.KeyFlannelCNIConf
)

// flannelEdit parses cni-conf.json, lets edit change it, and checks the
// result with the Flannel parser and against mutate.
func flannelEdit(in *Input, p *Plan, what string,
	edit func(doc *confedit.JSONDoc, plugin *confedit.JSONValue, pluginPath []string) (changed bool, mutate func(map[string]any) error, err error),
	check func(*ackconf.FlannelCNI) error) error {
	before, err := data(in, flannelCM, flannelKey)
	if err != nil {
		return err
	}
	if _, err := ackconf.ParseFlannelCNI(before); err != nil {
		return fmt.Errorf("%s: %w; fix it by hand first (see kubeproxy/flannel checks)", flannelCM, err)
	}
	doc, err := confedit.ParseJSON(before)
	if err != nil {
		return err
	}
	plugin, path, err := flannelPlugin(doc)
	if err != nil {
		return err
	}
	changed, mutate, err := edit(doc, plugin, path)
	if err != nil {
		return err
	}
	if !changed {
		p.Unchanged = append(p.Unchanged, fmt.Sprintf("%s %s: %s already", flannelCM, flannelKey, what))
		return nil
	}
	after := doc.Result()
	cni, err := ackconf.ParseFlannelCNI(after)
	if err != nil {
		return fmt.Errorf("internal error: the edited %s does not parse: %w", flannelKey, err)
	}
	if err := check(cni); err != nil {
		return fmt.Errorf("internal error: the edited %s: %w", flannelKey, err)
	}
	if err := verifyOnly(before, after, false, mutate); err != nil {
		return err
	}
	p.Edits = append(p.Edits, Edit{ConfigMap: flannelCM, Key: flannelKey, Before: before, After: after, Existed: true, What: what})
	return nil
}

// flannelPlugin finds the flannel plugin object: the top level in the
// single-plugin form, an element of "plugins" in the conflist form. The path
// addresses it in the decoded document (a list index as "[i]").
func flannelPlugin(doc *confedit.JSONDoc) (*confedit.JSONValue, []string, error) {
	root := doc.Root()
	if plugins := root.Get("plugins"); plugins != nil {
		for i, el := range plugins.Elems() {
			if doc.String(el.Get("type")) == "flannel" {
				return el, []string{"plugins", fmt.Sprintf("[%d]", i)}, nil
			}
		}
		return nil, nil, fmt.Errorf("%s: no plugin of type flannel in \"plugins\"", flannelKey)
	}
	if doc.String(root.Get("type")) != "flannel" {
		return nil, nil, fmt.Errorf("%s: the top-level type is not flannel and there is no \"plugins\" list", flannelKey)
	}
	return root, nil, nil
}

// at returns the object at path in a decoded document, where "[i]" indexes
// a list.
func at(doc map[string]any, path []string) (map[string]any, error) {
	var cur any = doc
	for _, seg := range path {
		if strings.HasPrefix(seg, "[") {
			var i int
			_, _ = fmt.Sscanf(seg, "[%d]", &i)
			l, ok := cur.([]any)
			if !ok || i >= len(l) {
				return nil, fmt.Errorf("no element %s", seg)
			}
			cur = l[i]
			continue
		}
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("no object at %s", seg)
		}
		cur = m[seg]
	}
	m, ok := cur.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("not an object at %s", strings.Join(path, "."))
	}
	return m, nil
}

func flannelCNIVersion() *Fixer {
	f := &Fixer{
		ID:         "flannel.cni-version",
		Changes:    `kube-flannel-cfg cni-conf.json: add "cniVersion" (default 0.3.1) at the top level`,
		ConfigMaps: []string{flannelCM},
		Params:     []Param{{Name: "cniVersion", Default: "0.3.1", Help: "CNI spec version to declare"}},
	}
	f.plan = func(in *Input, p *Plan) error {
		want, explicit := f.param(in, "cniVersion")
		if !validCNIVersion(want) {
			return fmt.Errorf("--set cniVersion=%q is not a CNI spec version such as 0.3.1", want)
		}
		return flannelEdit(in, p, "cniVersion "+want, func(doc *confedit.JSONDoc, _ *confedit.JSONValue, _ []string) (bool, func(map[string]any) error, error) {
			cur := doc.String(doc.Root().Get("cniVersion"))
			if cur == want || (cur != "" && !explicit) {
				return false, nil, nil
			}
			err := doc.Set(doc.Root(), "cniVersion", quote(want), "name")
			return true, func(m map[string]any) error { m["cniVersion"] = want; return nil }, err
		}, func(c *ackconf.FlannelCNI) error {
			if c.CNIVersion != want {
				return fmt.Errorf("cniVersion is %q", c.CNIVersion)
			}
			return nil
		})
	}
	return f
}

func validCNIVersion(v string) bool {
	parts := strings.Split(v, ".")
	if len(parts) != 3 {
		return false
	}
	for _, p := range parts {
		if p == "" || strings.Trim(p, "0123456789") != "" {
			return false
		}
	}
	return true
}

func flannelHairpin() *Fixer {
	f := &Fixer{
		ID:         "flannel.hairpin",
		Changes:    `kube-flannel-cfg cni-conf.json: set "hairpinMode": true in the flannel plugin's "delegate"`,
		ConfigMaps: []string{flannelCM},
		Needs:      NeedFlannelVersion,
	}
	f.plan = func(in *Input, p *Plan) error {
		if v, err := ackconf.ParseImageVersion(in.FlannelVersion); err == nil && v.Less(checks.FlannelHairpinSince) {
			p.Notes = append(p.Notes, fmt.Sprintf("Flannel %s is older than %s and ignores hairpinMode: upgrade the Flannel add-on too", in.FlannelVersion, checks.FlannelHairpinSince.Raw))
		}
		p.Notes = append(p.Notes, "pods created before the restart keep hairpin off until they are recreated")
		return flannelEdit(in, p, "delegate.hairpinMode true", func(doc *confedit.JSONDoc, plugin *confedit.JSONValue, path []string) (bool, func(map[string]any) error, error) {
			del := plugin.Get("delegate")
			if hp := del.Get("hairpinMode"); hp != nil && doc.Raw(hp) == "true" {
				return false, nil, nil
			}
			mutate := func(m map[string]any) error {
				obj, err := at(m, path)
				if err != nil {
					return err
				}
				d, _ := obj["delegate"].(map[string]any)
				if d == nil {
					d = map[string]any{}
					obj["delegate"] = d
				}
				d["hairpinMode"] = true
				return nil
			}
			if del == nil {
				return true, mutate, doc.Set(plugin, "delegate", `{"hairpinMode": true}`, "type")
			}
			if del.Kind != '{' {
				return false, nil, fmt.Errorf("%s: \"delegate\" is not an object", flannelKey)
			}
			return true, mutate, doc.Set(del, "hairpinMode", "true", "")
		}, func(c *ackconf.FlannelCNI) error {
			if c.HairpinMode == nil || !*c.HairpinMode {
				return fmt.Errorf("hairpinMode is not true")
			}
			return nil
		})
	}
	return f
}

func flannelIPAMDataDir() *Fixer {
	f := &Fixer{
		ID:         "flannel.ipam-datadir",
		Changes:    `kube-flannel-cfg cni-conf.json: set the flannel plugin's "dataDir" and its host-local "ipam" "dataDir" under /var/run (tmpfs)`,
		ConfigMaps: []string{flannelCM},
		Needs:      NeedFlannelVersion,
		Params: []Param{
			{Name: "dataDir", Default: "/var/run/cni/flannel", Help: "flannel plugin state directory (under /var/run or /run)"},
			{Name: "ipamDataDir", Default: "/var/run/cni/networks", Help: "host-local IPAM directory (under /var/run or /run)"},
		},
	}
	f.plan = func(in *Input, p *Plan) error {
		dataDir, _ := f.param(in, "dataDir")
		ipamDir, _ := f.param(in, "ipamDataDir")
		for _, d := range []string{dataDir, ipamDir} {
			if !strings.HasPrefix(d, "/var/run/") && !strings.HasPrefix(d, "/run/") {
				return fmt.Errorf("%q is not under /var/run or /run, which ACK nodes mount as tmpfs", d)
			}
		}
		if v, err := ackconf.ParseImageVersion(in.FlannelVersion); err == nil && v.Less(checks.FlannelIPAMFixSince) {
			p.Notes = append(p.Notes, fmt.Sprintf("Flannel %s is older than %s and leaks IPs on reboot whatever the config: upgrade the Flannel add-on too", in.FlannelVersion, checks.FlannelIPAMFixSince.Raw))
		}
		p.Notes = append(p.Notes, "allocations of running pods stay in the old directories, which host-local no longer reads: "+
			"once Flannel restarts, a new pod on a node not yet moved can get an IP a running pod holds. "+
			"Move the nodes right after, one at a time, as kubectl acknet flannel tmpfs prints (drain, remove /etc/cni and /var/lib/cni, reboot); cordon them first to keep new pods off meanwhile")
		return flannelEdit(in, p, "dataDir "+dataDir+", ipam.dataDir "+ipamDir, func(doc *confedit.JSONDoc, plugin *confedit.JSONValue, path []string) (bool, func(map[string]any) error, error) {
			ipam := plugin.Get("ipam")
			if ipam != nil && ipam.Kind != '{' {
				return false, nil, fmt.Errorf("%s: \"ipam\" is not an object", flannelKey)
			}
			if t := doc.String(ipam.Get("type")); t != "" && t != "host-local" {
				return false, nil, fmt.Errorf("%s: ipam type is %s, not host-local; edit it by hand", flannelKey, t)
			}
			curData := doc.String(plugin.Get("dataDir"))
			curIPAM := doc.String(ipam.Get("dataDir"))
			if curData == dataDir && curIPAM == ipamDir {
				return false, nil, nil
			}
			if curData != dataDir {
				if err := doc.Set(plugin, "dataDir", quote(dataDir), ""); err != nil {
					return false, nil, err
				}
			}
			if curIPAM != ipamDir {
				var err error
				if ipam == nil {
					err = doc.Set(plugin, "ipam", `{"type": "host-local", "dataDir": `+quote(ipamDir)+`}`, "")
				} else {
					err = doc.Set(ipam, "dataDir", quote(ipamDir), "")
				}
				if err != nil {
					return false, nil, err
				}
			}
			return true, func(m map[string]any) error {
				obj, err := at(m, path)
				if err != nil {
					return err
				}
				obj["dataDir"] = dataDir
				im, _ := obj["ipam"].(map[string]any)
				if im == nil {
					im = map[string]any{"type": "host-local"}
					obj["ipam"] = im
				}
				im["dataDir"] = ipamDir
				return nil
			}, nil
		}, func(c *ackconf.FlannelCNI) error {
			if !c.OnTmpfs() {
				return fmt.Errorf("state is not under /var/run")
			}
			return nil
		})
	}
	return f
}
