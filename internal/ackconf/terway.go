package ackconf

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// ConfigMap data keys of kube-system/eni-config.
const (
	KeyENIConf              = "eni_conf"
	KeyTerwayCNIConf        = "10-terway.conf"
	KeyTerwayCNIConfList    = "10-terway.conflist"
	KeyDisableNetworkPolicy = "disable_network_policy"
	KeyInClusterLB          = "in_cluster_loadbalance"
)

// Terway acceleration modes of shared-ENI (ENIMultiIP) clusters, as named by
// eniip_virtual_type in the CNI config.
const (
	VirtualTypeNone       = ""
	VirtualTypeVeth       = "veth"
	VirtualTypeIPVlan     = "ipvlan"
	VirtualTypeDatapathV2 = "datapathv2"
)

// ENIConf is the part of Terway's eni_conf JSON that the checks read. Unknown
// keys are ignored, as Terway itself ignores them.
type ENIConf struct {
	Version       string              `json:"version"`
	VSwitches     map[string][]string `json:"vswitches"`
	IPStack       string              `json:"ip_stack"`
	ServiceCIDR   string              `json:"service_cidr"`
	EnableEIPPool string              `json:"enable_eip_pool"`
	// Raw keeps every top-level key so misplaced keys can be found.
	Raw map[string]json.RawMessage `json:"-"`
}

// VSwitchIDs returns every vSwitch ID named in the config, sorted.
func (c *ENIConf) VSwitchIDs() []string {
	var ids []string
	for _, zone := range c.VSwitches {
		for _, id := range zone {
			if strings.TrimSpace(id) != "" {
				ids = append(ids, id)
			}
		}
	}
	sort.Strings(ids)
	return ids
}

// EIPPoolEnabled reports whether the deprecated EIP pool is on. Terway reads
// the value as a string; a JSON boolean true is accepted as well.
func (c *ENIConf) EIPPoolEnabled() bool {
	if raw, ok := c.Raw["enable_eip_pool"]; ok {
		var b bool
		if json.Unmarshal(raw, &b) == nil {
			return b
		}
	}
	return strings.EqualFold(strings.TrimSpace(c.EnableEIPPool), "true")
}

// HasKey reports whether eni_conf itself carries the given top-level key.
func (c *ENIConf) HasKey(key string) bool {
	_, ok := c.Raw[key]
	return ok
}

// ParseENIConf decodes the eni_conf JSON.
func ParseENIConf(text string) (*ENIConf, error) {
	if strings.TrimSpace(text) == "" {
		return nil, fmt.Errorf("eni_conf is empty")
	}
	raw := map[string]json.RawMessage{}
	if err := json.Unmarshal([]byte(text), &raw); err != nil {
		return nil, fmt.Errorf("eni_conf is not valid JSON: %w", describeJSONError(text, err))
	}
	conf := &ENIConf{Raw: raw}
	// Decode field by field so that one key of an unexpected type (Terway
	// has changed a few over the years) does not hide the others.
	decodeField(raw, "version", &conf.Version)
	decodeField(raw, "vswitches", &conf.VSwitches)
	decodeField(raw, "ip_stack", &conf.IPStack)
	decodeField(raw, "service_cidr", &conf.ServiceCIDR)
	decodeField(raw, "enable_eip_pool", &conf.EnableEIPPool)
	return conf, nil
}

func decodeField(raw map[string]json.RawMessage, key string, dst any) {
	if v, ok := raw[key]; ok {
		_ = json.Unmarshal(v, dst)
	}
}

// TerwayCNI is the part of 10-terway.conf / 10-terway.conflist that matters.
type TerwayCNI struct {
	Name       string
	CNIVersion string
	// VirtualType is eniip_virtual_type lower-cased: "", "veth", "ipvlan" or
	// "datapathv2".
	VirtualType string
}

type terwayPlugin struct {
	Type        string `json:"type"`
	VirtualType string `json:"eniip_virtual_type"`
}

// ParseTerwayCNI decodes a Terway CNI config in either the single-plugin or
// the conflist form.
func ParseTerwayCNI(text string) (*TerwayCNI, error) {
	var doc struct {
		Name        string         `json:"name"`
		CNIVersion  string         `json:"cniVersion"`
		Type        string         `json:"type"`
		VirtualType string         `json:"eniip_virtual_type"`
		Plugins     []terwayPlugin `json:"plugins"`
	}
	if err := json.Unmarshal([]byte(text), &doc); err != nil {
		return nil, fmt.Errorf("terway CNI config is not valid JSON: %w", describeJSONError(text, err))
	}
	out := &TerwayCNI{Name: doc.Name, CNIVersion: doc.CNIVersion, VirtualType: doc.VirtualType}
	for _, p := range doc.Plugins {
		if p.Type == "terway" && p.VirtualType != "" {
			out.VirtualType = p.VirtualType
		}
	}
	out.VirtualType = strings.ToLower(strings.TrimSpace(out.VirtualType))
	return out, nil
}

// ENIConfig is kube-system/eni-config (or a dynamic config named by a node's
// terway-config label) parsed into its parts. Each part carries its own
// error, so one broken key does not hide the others.
type ENIConfig struct {
	ENIConf    *ENIConf
	ENIConfErr error
	CNI        *TerwayCNI
	CNIErr     error
	// DisableNetworkPolicy and InClusterLoadBalance are the raw top-level
	// values; present tells whether the key exists at all.
	DisableNetworkPolicy        string
	DisableNetworkPolicyPresent bool
	InClusterLoadBalance        string
	InClusterLoadBalancePresent bool
}

// ParseENIConfig parses the data of an eni-config ConfigMap.
func ParseENIConfig(data map[string]string) *ENIConfig {
	out := &ENIConfig{}
	if text, ok := data[KeyENIConf]; ok {
		out.ENIConf, out.ENIConfErr = ParseENIConf(text)
	} else {
		out.ENIConfErr = fmt.Errorf("key %q is missing", KeyENIConf)
	}
	switch {
	case data[KeyTerwayCNIConfList] != "":
		out.CNI, out.CNIErr = ParseTerwayCNI(data[KeyTerwayCNIConfList])
	case data[KeyTerwayCNIConf] != "":
		out.CNI, out.CNIErr = ParseTerwayCNI(data[KeyTerwayCNIConf])
	}
	out.DisableNetworkPolicy, out.DisableNetworkPolicyPresent = data[KeyDisableNetworkPolicy]
	out.InClusterLoadBalance, out.InClusterLoadBalancePresent = data[KeyInClusterLB]
	return out
}

// InClusterLBEnabled follows Terway: only the exact string "true" enables it.
func (c *ENIConfig) InClusterLBEnabled() bool { return c.InClusterLoadBalance == "true" }

// NetworkPolicyDisabled follows Terway: only the exact string "true" disables it.
func (c *ENIConfig) NetworkPolicyDisabled() bool { return c.DisableNetworkPolicy == "true" }

// VirtualType is the shared-ENI acceleration mode, "" when unset.
func (c *ENIConfig) VirtualType() string {
	if c.CNI == nil {
		return ""
	}
	return c.CNI.VirtualType
}
