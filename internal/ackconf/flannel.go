package ackconf

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// ConfigMap data keys of kube-system/kube-flannel-cfg.
const (
	KeyFlannelCNIConf = "cni-conf.json"
	KeyFlannelNetConf = "net-conf.json"
)

// FlannelCNI is Flannel's CNI config in either of the forms ACK has shipped:
// the single plugin {"name":"cb0","type":"flannel",...} and the conflist
// {"name":"cb0","plugins":[{"type":"flannel",...},{"type":"portmap",...}]}.
type FlannelCNI struct {
	Name       string
	CNIVersion string
	// List is true for the conflist ("plugins") form.
	List bool
	// HasFlannelPlugin is false when no plugin of type flannel was found.
	HasFlannelPlugin bool
	HasPortmap       bool
	// HairpinMode is the delegate's hairpinMode; nil when unset.
	HairpinMode *bool
	// DataDir is the flannel plugin's dataDir ("" = default /var/lib/cni/flannel).
	DataDir string
	// IPAMType and IPAMDataDir come from the flannel plugin's ipam section
	// ("" = host-local in /var/lib/cni/networks).
	IPAMType    string
	IPAMDataDir string
}

type flannelPlugin struct {
	Type       string `json:"type"`
	CNIVersion string `json:"cniVersion"`
	DataDir    string `json:"dataDir"`
	Delegate   *struct {
		HairpinMode *bool `json:"hairpinMode"`
	} `json:"delegate"`
	IPAM *struct {
		Type    string `json:"type"`
		DataDir string `json:"dataDir"`
	} `json:"ipam"`
}

// ParseFlannelCNI decodes the cni-conf.json of kube-flannel-cfg.
func ParseFlannelCNI(text string) (*FlannelCNI, error) {
	var doc struct {
		Name       string          `json:"name"`
		CNIVersion string          `json:"cniVersion"`
		Plugins    []flannelPlugin `json:"plugins"`
	}
	if err := json.Unmarshal([]byte(text), &doc); err != nil {
		return nil, fmt.Errorf("cni-conf.json is not valid JSON: %w", describeJSONError(text, err))
	}
	// The single-plugin form keeps the plugin's fields at the top level.
	var single flannelPlugin
	_ = json.Unmarshal([]byte(text), &single)

	out := &FlannelCNI{Name: doc.Name, CNIVersion: doc.CNIVersion}
	plugins := doc.Plugins
	if doc.Plugins != nil {
		out.List = true
	} else {
		plugins = []flannelPlugin{single}
	}
	for _, p := range plugins {
		switch p.Type {
		case "flannel":
			out.HasFlannelPlugin = true
			out.DataDir = p.DataDir
			if p.Delegate != nil {
				out.HairpinMode = p.Delegate.HairpinMode
			}
			if p.IPAM != nil {
				out.IPAMType = p.IPAM.Type
				out.IPAMDataDir = p.IPAM.DataDir
			}
		case "portmap":
			out.HasPortmap = true
		}
	}
	return out, nil
}

// Defaults of the flannel CNI plugin and host-local IPAM when the config
// names no directory: both live on disk and survive a reboot.
const (
	DefaultFlannelDataDir   = "/var/lib/cni/flannel"
	DefaultHostLocalDataDir = "/var/lib/cni/networks"
	// TmpfsHostLocalDataDir is where the FAQ moves host-local IPAM, so a
	// reboot forgets the IPs with the sandboxes that held them.
	TmpfsHostLocalDataDir = "/var/run/cni/networks"
	// DefaultNetworkName is ACK's Flannel network (and bridge) name.
	DefaultNetworkName = "cb0"
)

// ScanTargets are the network name and the host-local IPAM dirs to look at
// for the network's files: both default places, plus the configured one, as
// a node may still hold files from before the dir moved to tmpfs. A nil c
// (no readable config) gives the defaults.
func (c *FlannelCNI) ScanTargets() (network string, dirs []string) {
	network, dirs = DefaultNetworkName, []string{DefaultHostLocalDataDir, TmpfsHostLocalDataDir}
	if c == nil {
		return network, dirs
	}
	if c.Name != "" {
		network = c.Name
	}
	if d := c.EffectiveIPAMDataDir(); d != DefaultHostLocalDataDir && d != TmpfsHostLocalDataDir {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	return network, dirs
}

// EffectiveDataDir is the flannel plugin's state directory.
func (c *FlannelCNI) EffectiveDataDir() string {
	if c.DataDir != "" {
		return c.DataDir
	}
	return DefaultFlannelDataDir
}

// EffectiveIPAMDataDir is the host-local IPAM directory; the network's files
// live in a subdirectory named after the network (cb0).
func (c *FlannelCNI) EffectiveIPAMDataDir() string {
	if c.IPAMDataDir != "" {
		return c.IPAMDataDir
	}
	return DefaultHostLocalDataDir
}

// OnTmpfs reports whether both state directories are under /var/run or /run,
// which ACK nodes mount as tmpfs, so a reboot clears leaked allocations.
func (c *FlannelCNI) OnTmpfs() bool {
	return underRun(c.EffectiveDataDir()) && underRun(c.EffectiveIPAMDataDir())
}

func underRun(p string) bool {
	return strings.HasPrefix(p, "/var/run/") || strings.HasPrefix(p, "/run/")
}

// FlannelNetConf is net-conf.json.
type FlannelNetConf struct {
	Network     string `json:"Network"`
	IPv6Network string `json:"IPv6Network"`
	EnableIPv6  bool   `json:"EnableIPv6"`
	Backend     struct {
		Type string `json:"Type"`
	} `json:"Backend"`
}

// ParseFlannelNetConf decodes net-conf.json.
func ParseFlannelNetConf(text string) (*FlannelNetConf, error) {
	var c FlannelNetConf
	if err := json.Unmarshal([]byte(text), &c); err != nil {
		return nil, fmt.Errorf("net-conf.json is not valid JSON: %w", describeJSONError(text, err))
	}
	return &c, nil
}
