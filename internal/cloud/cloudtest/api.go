package cloudtest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

type product struct {
	prefix   string // RAM action prefix
	version  string
	regional bool // RegionId is required and must be the world's
	params   []string
	handler  func(*World, url.Values) (map[string]any, *apiErr)
}

// actions are the calls the server answers, with the parameters each
// accepts (from the API reference; anything else is refused).
var actions = map[string]product{
	"DescribeInstances":        {prefix: "ecs", version: VersionECS, regional: true, params: []string{"RegionId", "InstanceIds", "MaxResults", "NextToken"}, handler: describeInstances},
	"DescribeInstanceTypes":    {prefix: "ecs", version: VersionECS, params: []string{"InstanceTypes.", "MaxResults", "NextToken"}, handler: describeInstanceTypes},
	"DescribeVSwitches":        {prefix: "vpc", version: VersionVPC, regional: true, params: []string{"RegionId", "VpcId", "VSwitchId", "PageNumber", "PageSize"}, handler: describeVSwitches},
	"DescribeRouteTableList":   {prefix: "vpc", version: VersionVPC, regional: true, params: []string{"RegionId", "VpcId", "PageNumber", "PageSize"}, handler: describeRouteTableList},
	"DescribeRouteEntryList":   {prefix: "vpc", version: VersionVPC, regional: true, params: []string{"RegionId", "RouteTableId", "RouteEntryType", "MaxResult", "NextToken"}, handler: describeRouteEntryList},
	"DescribeNatGateways":      {prefix: "vpc", version: VersionVPC, regional: true, params: []string{"RegionId", "VpcId", "PageNumber", "PageSize"}, handler: describeNatGateways},
	"DescribeSnatTableEntries": {prefix: "vpc", version: VersionVPC, regional: true, params: []string{"RegionId", "SnatTableId", "PageNumber", "PageSize"}, handler: describeSnatTableEntries},
}

func init() {
	// Parameter checks wrap every handler.
	for name, p := range actions {
		allowed, h := p.params, p.handler
		p.handler = func(w *World, q url.Values) (map[string]any, *apiErr) {
			for k := range q {
				ok := false
				for _, a := range allowed {
					if k == a || (strings.HasSuffix(a, ".") && strings.HasPrefix(k, a)) {
						ok = true
					}
				}
				if !ok {
					return nil, badParam(k, "is not a parameter of "+name)
				}
			}
			return h(w, q)
		}
		actions[name] = p
	}
}

func badParam(name, why string) *apiErr {
	return &apiErr{status: 400, code: "InvalidParameter", message: fmt.Sprintf("The specified parameter %s %s.", name, why)}
}

// intParam reads an integer parameter within [lo, hi], def when absent.
func intParam(q url.Values, name string, def, lo, hi int) (int, *apiErr) {
	v := q.Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, badParam(name, fmt.Sprintf("must be between %d and %d", lo, hi))
	}
	return n, nil
}

// page cuts items by PageNumber/PageSize (at most 50, default 10).
func page[T any](q url.Values, items []T) ([]T, int, int, *apiErr) {
	num, e := intParam(q, "PageNumber", 1, 1, 1<<20)
	if e != nil {
		return nil, 0, 0, e
	}
	size, e := intParam(q, "PageSize", 10, 1, 50)
	if e != nil {
		return nil, 0, 0, e
	}
	start := (num - 1) * size
	if start > len(items) {
		start = len(items)
	}
	return items[start:min(start+size, len(items))], num, size, nil
}

// token pages by NextToken: an opaque offset.
func token[T any](q url.Values, items []T, sizeParam string, def, hi int) ([]T, string, *apiErr) {
	size, e := intParam(q, sizeParam, def, 1, hi)
	if e != nil {
		return nil, "", e
	}
	start := 0
	if t := q.Get("NextToken"); t != "" {
		raw, err := base64.RawURLEncoding.DecodeString(t)
		n, cerr := strconv.Atoi(strings.TrimPrefix(string(raw), "offset:"))
		if err != nil || cerr != nil || n < 0 || n > len(items) {
			return nil, "", &apiErr{status: 400, code: "InvalidNextToken", message: "The specified NextToken is invalid."}
		}
		start = n
	}
	end := min(start+size, len(items))
	next := ""
	if end < len(items) {
		next = base64.RawURLEncoding.EncodeToString([]byte("offset:" + strconv.Itoa(end)))
	}
	return items[start:end], next, nil
}

func describeInstances(w *World, q url.Values) (map[string]any, *apiErr) {
	var ids []string
	if v := q.Get("InstanceIds"); v != "" {
		if err := json.Unmarshal([]byte(v), &ids); err != nil {
			return nil, badParam("InstanceIds", "is not a JSON array of strings")
		}
		if len(ids) > 100 {
			return nil, badParam("InstanceIds", "holds more than 100 IDs")
		}
	}
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	var match []Instance
	for _, in := range w.Instances {
		if len(want) == 0 || want[in.ID] {
			match = append(match, in)
		}
	}
	items, next, e := token(q, match, "MaxResults", 10, 100)
	if e != nil {
		return nil, e
	}
	list := []any{}
	for _, in := range items {
		list = append(list, map[string]any{
			"InstanceId": in.ID, "InstanceType": in.Type, "ZoneId": in.Zone, "RegionId": w.Region, "Status": "Running",
			"VpcAttributes": map[string]any{"VpcId": in.VPC, "VSwitchId": in.VSwitch, "NatIpAddress": "", "PrivateIpAddress": map[string]any{"IpAddress": []any{}}},
		})
	}
	return map[string]any{"Instances": map[string]any{"Instance": list}, "NextToken": next, "TotalCount": len(match)}, nil
}

func describeInstanceTypes(w *World, q url.Values) (map[string]any, *apiErr) {
	want := map[string]bool{}
	for k, v := range q {
		if strings.HasPrefix(k, "InstanceTypes.") {
			n, err := strconv.Atoi(strings.TrimPrefix(k, "InstanceTypes."))
			if err != nil || n < 1 || n > 10 {
				return nil, badParam(k, "must be InstanceTypes.1 to InstanceTypes.10")
			}
			want[v[0]] = true
		}
	}
	var match []InstanceType
	for _, t := range w.InstanceTypes {
		if len(want) == 0 || want[t.ID] {
			match = append(match, t)
		}
	}
	items, next, e := token(q, match, "MaxResults", 100, 100)
	if e != nil {
		return nil, e
	}
	list := []any{}
	for _, t := range items {
		list = append(list, map[string]any{"InstanceTypeId": t.ID, "EniQuantity": t.ENIs, "EniPrivateIpAddressQuantity": t.IPsPerENI, "EniTotalQuantity": t.ENIs})
	}
	return map[string]any{"InstanceTypes": map[string]any{"InstanceType": list}, "NextToken": next}, nil
}

func describeVSwitches(w *World, q url.Values) (map[string]any, *apiErr) {
	vpcID, vswID := q.Get("VpcId"), q.Get("VSwitchId")
	var match []VSwitch
	for _, v := range w.VSwitches {
		if (vpcID == "" || v.VPC == vpcID) && (vswID == "" || v.ID == vswID) {
			match = append(match, v)
		}
	}
	items, num, size, e := page(q, match)
	if e != nil {
		return nil, e
	}
	list := []any{}
	for _, v := range items {
		rt := v.RouteTable
		if rt == "" {
			rt = systemTable(w, v.VPC)
		}
		list = append(list, map[string]any{
			"VSwitchId": v.ID, "VpcId": v.VPC, "ZoneId": v.Zone, "CidrBlock": v.CIDR, "AvailableIpAddressCount": v.Free,
			"Status": "Available", "IsDefault": false, "VSwitchName": v.ID,
			"RouteTable": map[string]any{"RouteTableId": rt, "RouteTableType": "System"},
		})
	}
	return map[string]any{"PageNumber": num, "PageSize": size, "TotalCount": len(match), "VSwitches": map[string]any{"VSwitch": list}}, nil
}

func systemTable(w *World, vpc string) string {
	for _, t := range w.RouteTables {
		if t.VPC == vpc && (t.Type == "" || t.Type == "System") {
			return t.ID
		}
	}
	return ""
}

func describeRouteTableList(w *World, q url.Values) (map[string]any, *apiErr) {
	vpcID := q.Get("VpcId")
	var match []RouteTable
	for _, t := range w.RouteTables {
		if vpcID == "" || t.VPC == vpcID {
			match = append(match, t)
		}
	}
	items, num, size, e := page(q, match)
	if e != nil {
		return nil, e
	}
	list := []any{}
	for _, t := range items {
		typ := t.Type
		if typ == "" {
			typ = "System"
		}
		vsw := []any{}
		for _, v := range t.VSwitches {
			vsw = append(vsw, v)
		}
		assoc := t.AssociateType
		if assoc == "" {
			assoc = "VSwitch"
		}
		list = append(list, map[string]any{"RouteTableId": t.ID, "VpcId": t.VPC, "RouteTableType": typ, "Status": "Available",
			"RouterType": "VRouter", "AssociateType": assoc, "VSwitchIds": map[string]any{"VSwitchId": vsw}})
	}
	return map[string]any{"PageNumber": num, "PageSize": size, "TotalCount": len(match), "RouterTableList": map[string]any{"RouterTableListType": list}}, nil
}

func describeRouteEntryList(w *World, q url.Values) (map[string]any, *apiErr) {
	id := q.Get("RouteTableId")
	if id == "" {
		return nil, &apiErr{status: 400, code: "MissingRouteTableId", message: "RouteTableId is mandatory for this action."}
	}
	var table *RouteTable
	for i := range w.RouteTables {
		if w.RouteTables[i].ID == id {
			table = &w.RouteTables[i]
		}
	}
	if table == nil {
		return nil, &apiErr{status: 400, code: "InvalidRouteTableId.NotFound", message: "The specified route table does not exist."}
	}
	if t := q.Get("RouteEntryType"); t != "" && t != "Custom" && t != "System" {
		return nil, badParam("RouteEntryType", "must be Custom or System")
	}
	entries := table.Entries
	if q.Get("RouteEntryType") == "System" {
		entries = nil
	}
	items, next, e := token(q, entries, "MaxResult", 10, 100)
	if e != nil {
		return nil, e
	}
	list := []any{}
	for i, en := range items {
		list = append(list, map[string]any{
			"RouteEntryId": fmt.Sprintf("rte-%s-%d", strings.TrimPrefix(id, "vtb-"), i), "RouteTableId": id, "DestinationCidrBlock": en.Destination,
			"Type": "Custom", "Status": "Available", "IpVersion": "IPv4",
			"NextHops": map[string]any{"NextHop": []any{map[string]any{"NextHopId": en.NextHop, "NextHopType": "Instance", "Enabled": 1, "Weight": 100}}},
		})
	}
	return map[string]any{"NextToken": next, "RouteEntrys": map[string]any{"RouteEntry": list}}, nil
}

func describeNatGateways(w *World, q url.Values) (map[string]any, *apiErr) {
	vpcID := q.Get("VpcId")
	var match []NATGateway
	for _, g := range w.NATGateways {
		if vpcID == "" || g.VPC == vpcID {
			match = append(match, g)
		}
	}
	items, num, size, e := page(q, match)
	if e != nil {
		return nil, e
	}
	list := []any{}
	for _, g := range items {
		nt := g.NetworkType
		if nt == "" {
			nt = "internet"
		}
		list = append(list, map[string]any{"NatGatewayId": g.ID, "VpcId": g.VPC, "NatType": "Enhanced", "Status": "Available", "NetworkType": nt,
			"RegionId": w.Region, "SnatTableIds": map[string]any{"SnatTableId": []any{g.SNATTable}}})
	}
	return map[string]any{"PageNumber": num, "PageSize": size, "TotalCount": len(match), "NatGateways": map[string]any{"NatGateway": list}}, nil
}

func describeSnatTableEntries(w *World, q url.Values) (map[string]any, *apiErr) {
	id := q.Get("SnatTableId")
	var gw *NATGateway
	for i := range w.NATGateways {
		if w.NATGateways[i].SNATTable == id {
			gw = &w.NATGateways[i]
		}
	}
	if gw == nil {
		return nil, &apiErr{status: 404, code: "InvalidSnatTableId.NotFound", message: "The specified SNAT table does not exist."}
	}
	items, num, size, e := page(q, gw.Entries)
	if e != nil {
		return nil, e
	}
	list := []any{}
	for _, en := range items {
		list = append(list, map[string]any{"SnatEntryId": en.ID, "SnatTableId": id, "NatGatewayId": gw.ID, "SourceVSwitchId": en.VSwitch,
			"SourceCIDR": en.SourceCIDR, "Status": "Available", "SnatIp": "192.0.2.10"})
	}
	return map[string]any{"PageNumber": num, "PageSize": size, "TotalCount": len(gw.Entries), "SnatTableEntries": map[string]any{"SnatTableEntry": list}}, nil
}
