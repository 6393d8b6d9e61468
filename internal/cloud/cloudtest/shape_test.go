package cloudtest

import (
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// paths flattens a JSON value into key paths with their JSON types:
// "VSwitches.VSwitch[].CidrBlock" -> "string".
func paths(prefix string, v any, out map[string]string) {
	switch t := v.(type) {
	case map[string]any:
		out[prefix] = "object"
		for k, c := range t {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			paths(p, c, out)
		}
	case []any:
		out[prefix] = "array"
		for _, c := range t {
			paths(prefix+"[]", c, out)
		}
	case string:
		out[prefix] = "string"
	case float64:
		out[prefix] = "number"
	case bool:
		out[prefix] = "boolean"
	case nil:
		out[prefix] = "null"
	}
}

func jsonPaths(t *testing.T, data []byte) map[string]string {
	t.Helper()
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	paths("", v, out)
	delete(out, "")
	return out
}

// shapeWorld holds one of everything, so every field of every answer shows.
var shapeWorld = &World{
	Region:        "cn-hangzhou",
	Instances:     []Instance{{ID: "i-1", Type: "ecs.g7.large", Zone: "cn-hangzhou-i", VPC: "vpc-1", VSwitch: "vsw-1"}},
	InstanceTypes: []InstanceType{{ID: "ecs.g7.large", ENIs: 3, IPsPerENI: 10}},
	VSwitches:     []VSwitch{{ID: "vsw-1", VPC: "vpc-1", Zone: "cn-hangzhou-i", CIDR: "10.0.0.0/24", Free: 10}},
	RouteTables:   []RouteTable{{ID: "vtb-1", VPC: "vpc-1", VSwitches: []string{"vsw-1"}, Entries: []RouteEntry{{Destination: "172.20.0.0/24", NextHop: "i-1"}, {Destination: "172.20.1.0/24", NextHop: "i-1"}}}},
	NATGateways:   []NATGateway{{ID: "ngw-1", VPC: "vpc-1", SNATTable: "stb-1", Entries: []SNATEntry{{ID: "snat-1", VSwitch: "vsw-1", SourceCIDR: "10.0.0.0/24"}}}},
}

// TestAnswersHaveTheDocumentedShape: every field the server answers is in
// the reference sample of the API (testdata/reference, see SOURCES.md),
// with the same JSON type. The server may leave documented fields out, never
// invent one.
func TestAnswersHaveTheDocumentedShape(t *testing.T) {
	tests := []struct {
		file, action string
		q            url.Values
	}{
		{"ECS-DescribeInstances.json", "DescribeInstances", url.Values{"RegionId": {"cn-hangzhou"}, "InstanceIds": {`["i-1"]`}}},
		{"ECS-DescribeInstanceTypes.json", "DescribeInstanceTypes", url.Values{"InstanceTypes.1": {"ecs.g7.large"}}},
		{"VPC-DescribeVSwitches.json", "DescribeVSwitches", url.Values{"RegionId": {"cn-hangzhou"}, "VpcId": {"vpc-1"}}},
		{"VPC-DescribeRouteTableList.json", "DescribeRouteTableList", url.Values{"RegionId": {"cn-hangzhou"}, "VpcId": {"vpc-1"}}},
		{"VPC-DescribeRouteEntryList.json", "DescribeRouteEntryList", url.Values{"RegionId": {"cn-hangzhou"}, "RouteTableId": {"vtb-1"}, "MaxResult": {"1"}}},
		{"VPC-DescribeNatGateways.json", "DescribeNatGateways", url.Values{"RegionId": {"cn-hangzhou"}, "VpcId": {"vpc-1"}}},
		{"VPC-DescribeSnatTableEntries.json", "DescribeSnatTableEntries", url.Values{"RegionId": {"cn-hangzhou"}, "SnatTableId": {"stb-1"}}},
	}
	for _, tc := range tests {
		t.Run(tc.action, func(t *testing.T) {
			ref, err := os.ReadFile(filepath.Join("testdata", "reference", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			want := jsonPaths(t, ref)
			resp, aerr := actions[tc.action].handler(shapeWorld, tc.q)
			if aerr != nil {
				t.Fatal(aerr)
			}
			resp["RequestId"] = newRequestID()
			data, _ := json.Marshal(resp)
			got := jsonPaths(t, data)
			var bad []string
			for p, typ := range got {
				if want[p] != typ {
					bad = append(bad, p+" ("+typ+", reference: "+want[p]+")")
				}
			}
			sort.Strings(bad)
			for _, b := range bad {
				t.Errorf("%s: field not as documented: %s", tc.action, b)
			}
		})
	}
}

// TestErrorHasTheDocumentedShape: the error body is the documented one.
func TestErrorHasTheDocumentedShape(t *testing.T) {
	ref, err := os.ReadFile(filepath.Join("testdata", "reference", "Error.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := jsonPaths(t, ref)
	rec := httptest.NewRecorder()
	writeErr(rec, httptest.NewRequest("POST", "http://127.0.0.1/", nil), &apiErr{status: 403, code: "Forbidden.RAM", message: "m", action: "vpc:X"})
	for p, typ := range jsonPaths(t, rec.Body.Bytes()) {
		if want[p] != typ {
			t.Errorf("error field %s (%s) not as documented (%s)", p, typ, want[p])
		}
	}
}
