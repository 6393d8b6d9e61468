// Package cloud reads the VPC side of an ACK cluster through Alibaba Cloud's
// API (VPC and ECS, read-only Describe calls) into Facts for the cloud.*
// checks. Each resource type is listed once, paged; calls are retried with
// backoff when throttled and run through a bounded pool. A part that cannot
// be read (denied, throttled for good) is recorded, not fatal, so the checks
// that need it report skip with the reason.
package cloud

import "net/netip"

// Parts of Facts, the keys of Facts.Errors.
const (
	PartInstances     = "instances"
	PartVSwitches     = "vswitches"
	PartInstanceTypes = "instance-types"
	PartRouteTables   = "route-tables"
	PartRouteEntries  = "route-entries"
	PartNATGateways   = "nat-gateways"
	PartSNATEntries   = "snat-entries"
)

// Facts is what doctor --cloud learned of the VPC.
type Facts struct {
	Region string
	// RegionFrom says where the region came from (--region, node labels).
	RegionFrom string
	// Source names the credential source that was used (never a value).
	Source string
	// VPCs are the IDs of the nodes' VPCs (one on a normal cluster).
	VPCs []string

	// Instances by instance ID.
	Instances map[string]Instance
	// VSwitches of the VPCs, by ID.
	VSwitches map[string]VSwitch
	// InstanceTypes by ID.
	InstanceTypes map[string]InstanceType
	RouteTables   []RouteTable
	NATGateways   []NATGateway

	// Errors by part: why it could not be read.
	Errors map[string]*PartError
	// Calls counts the API calls made, by action; Retries the calls
	// repeated after throttling or a transient error.
	Calls   map[string]int
	Retries int
}

// Err returns why a part could not be read, or nil.
func (f *Facts) Err(part string) *PartError {
	if f == nil || f.Errors == nil {
		return nil
	}
	return f.Errors[part]
}

// Instance is the part of an ECS instance the checks read.
type Instance struct {
	ID        string
	Type      string
	Zone      string
	VPCID     string
	VSwitchID string
}

// VSwitch is the part of a vSwitch the checks read.
type VSwitch struct {
	ID    string
	VPCID string
	Zone  string
	CIDR  netip.Prefix
	// Free is AvailableIpAddressCount.
	Free         int64
	RouteTableID string
}

// Usable is the number of addresses a vSwitch can hand out: Alibaba Cloud
// keeps the first and the last three of every vSwitch CIDR.
func (v VSwitch) Usable() int64 {
	if !v.CIDR.IsValid() || !v.CIDR.Addr().Is4() {
		return 0
	}
	n := int64(1) << (32 - v.CIDR.Bits())
	if n <= 4 {
		return 0
	}
	return n - 4
}

// InstanceType is the ENI quota of an instance type.
type InstanceType struct {
	ID string
	// ENIs is EniQuantity: network interfaces the type takes, the primary
	// one included. IPsPerENI is EniPrivateIpAddressQuantity.
	ENIs      int
	IPsPerENI int
	// TotalENIs is EniTotalQuantity (with trunk ENIs); 0 when not given.
	TotalENIs int
}

// RouteTable is a VPC route table with its custom entries.
type RouteTable struct {
	ID        string
	VPCID     string
	Type      string // System or Custom
	VSwitches []string
	Entries   []RouteEntry
	// EntriesRead is false when the entries could not be read.
	EntriesRead bool
}

// RouteEntry is a custom route entry.
type RouteEntry struct {
	Destination string
	// NextHops are the instance IDs (or other next-hop IDs) it points to.
	NextHops []string
	Status   string
}

// NATGateway is a NAT gateway with its SNAT entries.
type NATGateway struct {
	ID    string
	VPCID string
	// NetworkType is internet or intranet (a VPC NAT gateway, no Internet).
	NetworkType string
	SNATTables  []string
	SNATEntries []SNATEntry
	EntriesRead bool
}

// SNATEntry is one SNAT entry.
type SNATEntry struct {
	ID         string
	VSwitchID  string
	SourceCIDR string
	Status     string
}
