// Package cloudtest is a local Alibaba Cloud API server for tests and the
// demo: it speaks the protocol the official SDK speaks (RPC-style calls
// signed with ACS3-HMAC-SHA256), verifies every signature and parameter, and
// answers VPC, ECS, STS and instance-metadata calls from a World, in the
// shapes of the public API reference (testdata/reference, with SOURCES.md).
// It listens on 127.0.0.1 only.
package cloudtest

import (
	"fmt"
	"os"
	"time"

	"sigs.k8s.io/yaml"
)

// World is the cloud account the server plays.
type World struct {
	Region string `json:"region"`
	// Keys are the AccessKeys the server accepts.
	Keys []Key `json:"keys"`

	Instances     []Instance     `json:"instances"`
	InstanceTypes []InstanceType `json:"instanceTypes"`
	VSwitches     []VSwitch      `json:"vswitches"`
	RouteTables   []RouteTable   `json:"routeTables"`
	NATGateways   []NATGateway   `json:"natGateways"`

	// Deny lists RAM actions (vpc:DescribeSnatTableEntries) the caller may
	// not call: 403 Forbidden.RAM.
	Deny []string `json:"deny"`
	// Throttle answers Throttling.User to the first N calls of an action
	// (by API name); -1 to every call.
	Throttle map[string]int `json:"throttle"`

	// OIDC is the RAM role an RRSA token is traded for.
	OIDC *OIDCRole `json:"oidc,omitempty"`
	// ECSRole is the RAM role of the instance metadata service.
	ECSRole *ECSRole `json:"ecsRole,omitempty"`
}

// Key is an AccessKey pair; with Token, an STS token.
type Key struct {
	ID     string `json:"id"`
	Secret string `json:"secret"`
	Token  string `json:"token,omitempty"`
	// Expired makes every call with this key fail as an expired token.
	Expired bool `json:"expired,omitempty"`
}

// Instance is an ECS instance.
type Instance struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Zone    string `json:"zone"`
	VPC     string `json:"vpc"`
	VSwitch string `json:"vswitch"`
}

// InstanceType is an ECS instance type's ENI quota.
type InstanceType struct {
	ID        string `json:"id"`
	ENIs      int    `json:"enis"`
	IPsPerENI int    `json:"ipsPerENI"`
}

// VSwitch is a vSwitch with its free addresses.
type VSwitch struct {
	ID         string `json:"id"`
	VPC        string `json:"vpc"`
	Zone       string `json:"zone"`
	CIDR       string `json:"cidr"`
	Free       int64  `json:"free"`
	RouteTable string `json:"routeTable,omitempty"`
}

// RouteTable is a route table with its custom entries.
type RouteTable struct {
	ID   string `json:"id"`
	VPC  string `json:"vpc"`
	Type string `json:"type,omitempty"`
	// AssociateType is VSwitch (default) or Gateway (an IPv4 gateway's).
	AssociateType string       `json:"associateType,omitempty"`
	VSwitches     []string     `json:"vswitches,omitempty"`
	Entries       []RouteEntry `json:"entries,omitempty"`
}

// RouteEntry is a custom route entry.
type RouteEntry struct {
	Destination string `json:"destination"`
	NextHop     string `json:"nextHop"`
}

// NATGateway has one SNAT table.
type NATGateway struct {
	ID  string `json:"id"`
	VPC string `json:"vpc"`
	// NetworkType is internet (default) or intranet.
	NetworkType string      `json:"networkType,omitempty"`
	SNATTable   string      `json:"snatTable"`
	Entries     []SNATEntry `json:"entries,omitempty"`
}

// SNATEntry covers a vSwitch or a source CIDR.
type SNATEntry struct {
	ID         string `json:"id"`
	VSwitch    string `json:"vswitch,omitempty"`
	SourceCIDR string `json:"sourceCIDR,omitempty"`
}

// OIDCRole is what AssumeRoleWithOIDC accepts and hands out.
type OIDCRole struct {
	RoleARN     string `json:"roleARN"`
	ProviderARN string `json:"providerARN"`
	Token       string `json:"token"`
	Issues      Key    `json:"issues"`
}

// ECSRole is the instance's RAM role and the key the metadata service
// hands out for it.
type ECSRole struct {
	Name   string `json:"name"`
	Issues Key    `json:"issues"`
	// ExpiresIn is how long the handed-out key lives (default 6h).
	ExpiresIn time.Duration `json:"expiresIn,omitempty"`
}

// LoadWorld reads a World from a YAML or JSON file.
func LoadWorld(path string) (*World, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var w World
	if err := yaml.UnmarshalStrict(data, &w); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &w, nil
}
