package cloud_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-acknet/kubectl-acknet/internal/cloud"
	"github.com/kubectl-acknet/kubectl-acknet/internal/cloud/cloudtest"
)

// Canary credentials: no error, message or fact may ever carry one.
const (
	canaryID     = "LTAIcanaryKeyID0001"
	canarySecret = "canarySecretValue0001xyz"
	canaryToken  = "CAIScanarySTStoken0001"
)

var canaries = []string{canaryID, canarySecret, canaryToken, "STSissuedSecret0002", "oidc-canary-token-0003"}

func assertNoCanary(t *testing.T, what, text string) {
	t.Helper()
	for _, c := range canaries {
		if strings.Contains(text, c) {
			t.Errorf("%s carries a credential value %q: %s", what, c, text)
		}
	}
}

func world() *cloudtest.World {
	w := &cloudtest.World{
		Region:        "cn-hangzhou",
		Keys:          []cloudtest.Key{{ID: canaryID, Secret: canarySecret}},
		InstanceTypes: []cloudtest.InstanceType{{ID: "ecs.g7.large", ENIs: 3, IPsPerENI: 10}},
		VSwitches: []cloudtest.VSwitch{
			{ID: "vsw-node", VPC: "vpc-1", Zone: "cn-hangzhou-i", CIDR: "192.168.0.0/24", Free: 200},
			{ID: "vsw-pod", VPC: "vpc-1", Zone: "cn-hangzhou-i", CIDR: "10.0.0.0/19", Free: 8000},
			{ID: "vsw-elsewhere", VPC: "vpc-2", Zone: "cn-hangzhou-i", CIDR: "10.9.0.0/19", Free: 8000},
		},
		RouteTables: []cloudtest.RouteTable{{ID: "vtb-1", VPC: "vpc-1", VSwitches: []string{"vsw-node"}}},
		NATGateways: []cloudtest.NATGateway{{ID: "ngw-1", VPC: "vpc-1", SNATTable: "stb-1", Entries: []cloudtest.SNATEntry{{ID: "snat-1", VSwitch: "vsw-node"}}}},
	}
	for i := 0; i < 3; i++ {
		id := fmt.Sprintf("i-node%d", i)
		w.Instances = append(w.Instances, cloudtest.Instance{ID: id, Type: "ecs.g7.large", Zone: "cn-hangzhou-i", VPC: "vpc-1", VSwitch: "vsw-node"})
		w.RouteTables[0].Entries = append(w.RouteTables[0].Entries, cloudtest.RouteEntry{Destination: fmt.Sprintf("172.20.%d.0/24", i), NextHop: id})
	}
	return w
}

func start(t *testing.T, w *cloudtest.World) *cloudtest.Server {
	t.Helper()
	s, err := cloudtest.Start(w, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func staticEnv() map[string]string {
	return map[string]string{cloud.EnvAccessKeyID: canaryID, cloud.EnvAccessKeySecret: canarySecret}
}

func client(t *testing.T, s *cloudtest.Server, env map[string]string) (*cloud.Client, error) {
	t.Helper()
	return cloud.NewClient(cloud.Options{Region: "cn-hangzhou", Endpoint: s.URL(), Env: envOf(env), Home: t.TempDir(), Backoff: time.Millisecond})
}

func read(t *testing.T, s *cloudtest.Server, env map[string]string, in cloud.Input) (*cloud.Facts, error) {
	t.Helper()
	c, err := client(t, s, env)
	if err != nil {
		return nil, err
	}
	return c.Read(context.Background(), in)
}

var allParts = cloud.Input{InstanceIDs: []string{"i-node0", "i-node1", "i-node2"}, Routes: true, ENIQuota: true}

func TestReadThroughTheSDK(t *testing.T) {
	s := start(t, world())
	f, err := read(t, s, staticEnv(), allParts)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Errors) != 0 {
		t.Fatalf("errors: %v", f.Errors)
	}
	if strings.Join(f.VPCs, ",") != "vpc-1" {
		t.Errorf("VPCs = %v", f.VPCs)
	}
	if len(f.VSwitches) != 2 || f.VSwitches["vsw-pod"].Free != 8000 || f.VSwitches["vsw-pod"].CIDR.String() != "10.0.0.0/19" {
		t.Errorf("vSwitches of vpc-1 only, with their CIDR and free count: %+v", f.VSwitches)
	}
	if it := f.InstanceTypes["ecs.g7.large"]; it.ENIs != 3 || it.IPsPerENI != 10 {
		t.Errorf("instance type: %+v", it)
	}
	if len(f.RouteTables) != 1 || len(f.RouteTables[0].Entries) != 3 || f.RouteTables[0].Entries[1].NextHops[0] != "i-node1" {
		t.Errorf("route tables: %+v", f.RouteTables)
	}
	if len(f.NATGateways) != 1 || len(f.NATGateways[0].SNATEntries) != 1 || f.NATGateways[0].SNATEntries[0].VSwitchID != "vsw-node" {
		t.Errorf("NAT gateways: %+v", f.NATGateways)
	}
	want := map[string]int{"DescribeInstances": 1, "DescribeVSwitches": 1, "DescribeInstanceTypes": 1, "DescribeRouteTableList": 1,
		"DescribeRouteEntryList": 1, "DescribeNatGateways": 1, "DescribeSnatTableEntries": 1}
	for a, n := range want {
		if f.Calls[a] != n {
			t.Errorf("%s called %d times, want %d", a, f.Calls[a], n)
		}
	}
	for _, c := range s.Calls() {
		if c.Code != "" {
			t.Errorf("the server refused %s: %s", c.Action, c.Code)
		}
	}
}

func TestPagingAcrossPages(t *testing.T) {
	w := world()
	var ids []string
	for i := 3; i < 250; i++ {
		id := fmt.Sprintf("i-node%d", i)
		ids = append(ids, id)
		w.Instances = append(w.Instances, cloudtest.Instance{ID: id, Type: fmt.Sprintf("ecs.t%d.large", i%12), Zone: "cn-hangzhou-i", VPC: "vpc-1", VSwitch: "vsw-node"})
		w.RouteTables[0].Entries = append(w.RouteTables[0].Entries, cloudtest.RouteEntry{Destination: fmt.Sprintf("172.21.%d.0/24", i), NextHop: id})
	}
	for i := 0; i < 12; i++ {
		w.InstanceTypes = append(w.InstanceTypes, cloudtest.InstanceType{ID: fmt.Sprintf("ecs.t%d.large", i), ENIs: 2, IPsPerENI: 6})
	}
	for i := 0; i < 60; i++ {
		w.VSwitches = append(w.VSwitches, cloudtest.VSwitch{ID: fmt.Sprintf("vsw-extra%d", i), VPC: "vpc-1", Zone: "cn-hangzhou-j", CIDR: fmt.Sprintf("10.1.%d.0/24", i), Free: 100})
	}
	for i := 0; i < 70; i++ {
		w.NATGateways[0].Entries = append(w.NATGateways[0].Entries, cloudtest.SNATEntry{ID: fmt.Sprintf("snat-x%d", i), VSwitch: fmt.Sprintf("vsw-extra%d", i%60)})
	}
	s := start(t, w)
	in := allParts
	in.InstanceIDs = append(append([]string{}, in.InstanceIDs...), ids...)
	f, err := read(t, s, staticEnv(), in)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Instances) != 250 || len(f.VSwitches) != 62 || len(f.InstanceTypes) != 13 || len(f.RouteTables[0].Entries) != 250 || len(f.NATGateways[0].SNATEntries) != 71 {
		t.Errorf("lost objects across pages: %d instances, %d vSwitches, %d types, %d routes, %d SNAT entries",
			len(f.Instances), len(f.VSwitches), len(f.InstanceTypes), len(f.RouteTables[0].Entries), len(f.NATGateways[0].SNATEntries))
	}
	// 250 instances in batches of 100, 62 vSwitches in pages of 50, 13
	// types in batches of 10, 250 routes in pages of 100, 71 SNAT in 50s.
	want := map[string]int{"DescribeInstances": 3, "DescribeVSwitches": 2, "DescribeInstanceTypes": 2, "DescribeRouteEntryList": 3, "DescribeSnatTableEntries": 2}
	for a, n := range want {
		if f.Calls[a] != n {
			t.Errorf("%s called %d times, want %d", a, f.Calls[a], n)
		}
	}
}

func TestThrottlingIsRetried(t *testing.T) {
	w := world()
	w.Throttle = map[string]int{"DescribeVSwitches": 2, "DescribeRouteEntryList": -1}
	s := start(t, w)
	f, err := read(t, s, staticEnv(), allParts)
	if err != nil {
		t.Fatal(err)
	}
	if f.Err(cloud.PartVSwitches) != nil || len(f.VSwitches) != 2 {
		t.Errorf("vSwitches throttled twice should have been read on the third try: %v", f.Err(cloud.PartVSwitches))
	}
	if f.Calls["DescribeVSwitches"] != 3 {
		t.Errorf("DescribeVSwitches called %d times, want 3", f.Calls["DescribeVSwitches"])
	}
	pe := f.Err(cloud.PartRouteEntries)
	if pe == nil || pe.Kind != cloud.KindThrottled || !strings.Contains(pe.Error(), "vpc:DescribeRouteEntryList still throttled (Throttling.User)") {
		t.Errorf("route entries always throttled: %v", pe)
	}
	if f.Calls["DescribeRouteEntryList"] != cloud.DefaultAttempts {
		t.Errorf("DescribeRouteEntryList called %d times, want %d", f.Calls["DescribeRouteEntryList"], cloud.DefaultAttempts)
	}
	if f.Err(cloud.PartNATGateways) != nil || f.Err(cloud.PartInstanceTypes) != nil {
		t.Errorf("other parts failed: %v", f.Errors)
	}
}

func TestDeniedActionSkipsOnlyItsPart(t *testing.T) {
	w := world()
	w.Deny = []string{"vpc:DescribeSnatTableEntries", "ecs:DescribeInstanceTypes"}
	s := start(t, w)
	f, err := read(t, s, staticEnv(), allParts)
	if err != nil {
		t.Fatal(err)
	}
	for part, action := range map[string]string{cloud.PartSNATEntries: "vpc:DescribeSnatTableEntries", cloud.PartInstanceTypes: "ecs:DescribeInstanceTypes"} {
		pe := f.Err(part)
		if pe == nil || pe.Kind != cloud.KindDenied || pe.Action != action || !strings.Contains(pe.Error(), "grant the RAM action "+action) {
			t.Errorf("%s: %v", part, pe)
		}
	}
	if f.Calls["DescribeSnatTableEntries"] != 1 {
		t.Errorf("a denial is not retried: %d calls", f.Calls["DescribeSnatTableEntries"])
	}
	if f.Err(cloud.PartVSwitches) != nil || len(f.VSwitches) != 2 {
		t.Error("vSwitches should still be read")
	}
}

func TestInstancesDeniedFindTheVPCFromVSwitches(t *testing.T) {
	w := world()
	w.Deny = []string{"ecs:DescribeInstances"}
	s := start(t, w)
	in := allParts
	in.VSwitchIDs = []string{"vsw-pod"}
	f, err := read(t, s, staticEnv(), in)
	if err != nil {
		t.Fatal(err)
	}
	if f.Err(cloud.PartInstances) == nil || strings.Join(f.VPCs, ",") != "vpc-1" || len(f.VSwitches) != 2 {
		t.Errorf("want the VPC from vsw-pod: VPCs %v, %d vSwitches, errors %v", f.VPCs, len(f.VSwitches), f.Errors)
	}
}

func TestRefusedCredentials(t *testing.T) {
	tests := []struct {
		name string
		keys []cloudtest.Key
		env  map[string]string
		want string
	}{
		{name: "expired STS token", keys: []cloudtest.Key{{ID: canaryID, Secret: canarySecret, Token: canaryToken, Expired: true}},
			env: map[string]string{cloud.EnvAccessKeyID: canaryID, cloud.EnvAccessKeySecret: canarySecret, cloud.EnvSecurityToken: canaryToken}, want: "InvalidSecurityToken.Expired"},
		{name: "unknown key (the server names it)", keys: []cloudtest.Key{{ID: "LTAIsomeoneelse", Secret: "x"}}, env: staticEnv(), want: "InvalidAccessKeyId.NotFound: Specified access key is not found: [redacted]"},
		{name: "wrong secret", keys: []cloudtest.Key{{ID: canaryID, Secret: "another-secret"}}, env: staticEnv(), want: "SignatureDoesNotMatch"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := world()
			w.Keys = tc.keys
			s := start(t, w)
			_, err := read(t, s, tc.env, allParts)
			var ce *cloud.CredentialsError
			if !errors.As(err, &ce) {
				t.Fatalf("want a CredentialsError, got %v", err)
			}
			msg := err.Error()
			for _, want := range []string{tc.want, "refused the credentials from environment (ALIBABA_CLOUD_ACCESS_KEY_ID)", "vpc:DescribeVSwitches"} {
				if !strings.Contains(msg, want) {
					t.Errorf("error lacks %q: %s", want, msg)
				}
			}
			assertNoCanary(t, "error", msg)
			if n := len(s.Calls()); n != 1 {
				t.Errorf("refused credentials should end the read at once, %d calls", n)
			}
		})
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestCredentialChain(t *testing.T) {
	issued := cloudtest.Key{ID: "STS.issuedKeyID", Secret: "STSissuedSecret0002", Token: canaryToken}
	tokenFile := filepath.Join(t.TempDir(), "token")
	writeFile(t, tokenFile, "oidc-canary-token-0003\n")
	tests := []struct {
		name    string
		env     map[string]string
		profile string // ~/.aliyun/config.json
		source  string // wanted source, or "" for an error
		errHas  []string
	}{
		{name: "environment", env: staticEnv(), source: "environment (ALIBABA_CLOUD_ACCESS_KEY_ID)"},
		{name: "RRSA", env: map[string]string{cloud.EnvRoleARN: "acs:ram::1:role/doctor", cloud.EnvOIDCProviderARN: "acs:ram::1:oidc-provider/ack", cloud.EnvOIDCTokenFile: tokenFile}, source: "RRSA (OIDC token " + tokenFile + ")"},
		{name: "CLI profile AK", profile: `{"current":"work","profiles":[{"name":"work","mode":"AK","access_key_id":"` + canaryID + `","access_key_secret":"` + canarySecret + `"}]}`, source: `aliyun CLI profile "work"`},
		{name: "CLI profile EcsRamRole", profile: `{"current":"default","profiles":[{"name":"default","mode":"EcsRamRole","ram_role_name":"node-role"}]}`, source: "mode EcsRamRole"},
		{name: "ECS RAM role by environment", env: map[string]string{cloud.EnvECSRole: "node-role"}, source: "ECS RAM role node-role"},
		{name: "CLI profile StsToken", profile: `{"current":"sts","profiles":[{"name":"sts","mode":"StsToken","access_key_id":"STS.issuedKeyID","access_key_secret":"STSissuedSecret0002","sts_token":"` + canaryToken + `"}]}`, source: "mode StsToken"},
		{name: "CLI profile OIDC", profile: `{"current":"rrsa","profiles":[{"name":"rrsa","mode":"OIDC","ram_role_arn":"acs:ram::1:role/doctor","oidc_provider_arn":"acs:ram::1:oidc-provider/ack","oidc_token_file":"` + tokenFile + `"}]}`, source: "mode OIDC"},
		{name: "ECS RAM role not attached", env: map[string]string{cloud.EnvECSRole: "other-role"}, errHas: []string{`could not get credentials from ECS RAM role other-role: instance metadata: no RAM role "other-role" on this instance (HTTP 404): is it attached?`}},
		{name: "nothing configured", errHas: []string{"no Alibaba Cloud credentials found", "environment (ALIBABA_CLOUD_ACCESS_KEY_ID, ALIBABA_CLOUD_ACCESS_KEY_SECRET: not set)",
			"RRSA (ALIBABA_CLOUD_ROLE_ARN: not set)", "aliyun CLI profile (", "config.json: not found)", "ECS RAM role (ALIBABA_CLOUD_ECS_METADATA: not set", "ecs:DescribeInstances, ecs:DescribeInstanceTypes, vpc:DescribeVSwitches"}},
		{name: "half the environment", env: map[string]string{cloud.EnvAccessKeyID: canaryID}, errHas: []string{"only one of ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET is set"}},
		{name: "unsupported CLI mode", profile: `{"current":"default","profiles":[{"name":"default","mode":"RamRoleArn","access_key_id":"` + canaryID + `","access_key_secret":"` + canarySecret + `"}]}`, errHas: []string{"mode RamRoleArn is not supported"}},
		{name: "CLI profile that is not JSON", profile: `{"profiles":[{"access_key_secret":"` + canarySecret + `"`, errHas: []string{"not valid JSON"}},
		{name: "wrong OIDC token", env: map[string]string{cloud.EnvRoleARN: "acs:ram::1:role/doctor", cloud.EnvOIDCProviderARN: "acs:ram::1:oidc-provider/other", cloud.EnvOIDCTokenFile: tokenFile}, errHas: []string{"sts:AssumeRoleWithOIDC: HTTP 404 EntityNotExist.Role"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := world()
			w.Keys = append(w.Keys, issued)
			w.OIDC = &cloudtest.OIDCRole{RoleARN: "acs:ram::1:role/doctor", ProviderARN: "acs:ram::1:oidc-provider/ack", Token: "oidc-canary-token-0003", Issues: issued}
			w.ECSRole = &cloudtest.ECSRole{Name: "node-role", Issues: issued}
			s := start(t, w)
			home := t.TempDir()
			if tc.profile != "" {
				writeFile(t, filepath.Join(home, ".aliyun", "config.json"), tc.profile)
			}
			env := tc.env
			if env == nil {
				env = map[string]string{}
			}
			c, err := cloud.NewClient(cloud.Options{Region: "cn-hangzhou", Endpoint: s.URL(), Env: envOf(env), Home: home, Backoff: time.Millisecond})
			var f *cloud.Facts
			if err == nil {
				f, err = c.Read(context.Background(), allParts)
			}
			if tc.source == "" {
				if err == nil {
					t.Fatal("want an error")
				}
				for _, want := range tc.errHas {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error lacks %q: %v", want, err)
					}
				}
				assertNoCanary(t, "error", err.Error())
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(f.Source, tc.source) {
				t.Errorf("source = %q, want %q", f.Source, tc.source)
			}
			if len(f.Errors) != 0 || len(f.VSwitches) != 2 {
				t.Errorf("read failed: %v", f.Errors)
			}
			assertNoCanary(t, "source", f.Source)
		})
	}
}

func TestEndpointMustNotSendCredentialsInClear(t *testing.T) {
	for v, ok := range map[string]bool{"http://127.0.0.1:8080": true, "http://[::1]:80": true, "vpc.cn-hangzhou.aliyuncs.com": true,
		"https://proxy.internal:8443": true, "http://proxy.internal:8080": false, "ftp://x": false, "https://x/path": false,
		"http://127.evil.example:8080": false, "http://127.0.0.1.nip.io": false, "http://localhost:9": true} {
		_, _, err := cloud.ParseEndpoint(v)
		if (err == nil) != ok {
			t.Errorf("ParseEndpoint(%q) = %v, want ok=%v", v, err, ok)
		}
	}
}

func TestSDKDebugOutputIsRefused(t *testing.T) {
	t.Setenv("DEBUG", "dara")
	_, err := cloud.NewClient(cloud.Options{Region: "cn-hangzhou", Env: envOf(staticEnv())})
	if err == nil || !strings.Contains(err.Error(), "unset DEBUG") {
		t.Fatalf("want a refusal, got %v", err)
	}
}

// TestREADMEPolicyIsWhatIsCalled: the README's RAM policy lists exactly the
// actions doctor --cloud calls.
func TestREADMEPolicyIsWhatIsCalled(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(data), "<!-- ram-policy -->\n```json\n")
	if !ok {
		t.Fatal("README has no <!-- ram-policy --> json block")
	}
	block, _, _ := strings.Cut(rest, "```")
	var policy struct {
		Statement []struct {
			Effect   string
			Action   []string
			Resource string
		}
	}
	if err := json.Unmarshal([]byte(block), &policy); err != nil {
		t.Fatalf("README policy: %v", err)
	}
	if len(policy.Statement) != 1 || policy.Statement[0].Effect != "Allow" {
		t.Fatalf("README policy: want one Allow statement: %+v", policy)
	}
	got, want := policy.Statement[0].Action, cloud.RAMActions()
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("README policy actions %v, calls %v", got, want)
	}
	// Every call of a full read is covered by the list.
	f, err := read(t, start(t, world()), staticEnv(), allParts)
	if err != nil {
		t.Fatal(err)
	}
	for action := range f.Calls {
		if !slices.Contains(want, "ecs:"+action) && !slices.Contains(want, "vpc:"+action) {
			t.Errorf("%s is called but not in RAMActions", action)
		}
	}
}

// TestCallsAtScale counts the calls of a 1,000-node cluster whose pods use
// 20 vSwitches: they grow with the nodes by the batch size (100 instances,
// 100 route entries per call), never per pod or per node.
func TestCallsAtScale(t *testing.T) {
	const nodes, vswitches = 1000, 20
	w := &cloudtest.World{Region: "cn-hangzhou", Keys: []cloudtest.Key{{ID: canaryID, Secret: canarySecret}},
		RouteTables: []cloudtest.RouteTable{{ID: "vtb-1", VPC: "vpc-1"}},
		NATGateways: []cloudtest.NATGateway{{ID: "ngw-1", VPC: "vpc-1", SNATTable: "stb-1"}}}
	var in cloud.Input
	for i := 0; i < vswitches; i++ {
		id := fmt.Sprintf("vsw-pod%02d", i)
		w.VSwitches = append(w.VSwitches, cloudtest.VSwitch{ID: id, VPC: "vpc-1", Zone: fmt.Sprintf("cn-hangzhou-%c", 'a'+i%5), CIDR: fmt.Sprintf("10.%d.0.0/16", i), Free: 60000})
		w.NATGateways[0].Entries = append(w.NATGateways[0].Entries, cloudtest.SNATEntry{ID: fmt.Sprintf("snat-%d", i), VSwitch: id})
		in.VSwitchIDs = append(in.VSwitchIDs, id)
	}
	for i := 0; i < 8; i++ {
		w.InstanceTypes = append(w.InstanceTypes, cloudtest.InstanceType{ID: fmt.Sprintf("ecs.g%d.xlarge", i), ENIs: 4, IPsPerENI: 15})
	}
	for i := 0; i < nodes; i++ {
		id := fmt.Sprintf("i-node%04d", i)
		w.Instances = append(w.Instances, cloudtest.Instance{ID: id, Type: fmt.Sprintf("ecs.g%d.xlarge", i%8), Zone: "cn-hangzhou-a", VPC: "vpc-1", VSwitch: "vsw-pod00"})
		w.RouteTables[0].Entries = append(w.RouteTables[0].Entries, cloudtest.RouteEntry{Destination: fmt.Sprintf("172.%d.%d.0/24", 16+i/256, i%256), NextHop: id})
		in.InstanceIDs = append(in.InstanceIDs, id)
	}
	for _, tc := range []struct {
		name string
		in   cloud.Input
		want map[string]int
	}{
		{"terway", cloud.Input{InstanceIDs: in.InstanceIDs, VSwitchIDs: in.VSwitchIDs, ENIQuota: true},
			map[string]int{"DescribeInstances": 10, "DescribeVSwitches": 1, "DescribeInstanceTypes": 1, "DescribeNatGateways": 1, "DescribeSnatTableEntries": 1}},
		{"flannel", cloud.Input{InstanceIDs: in.InstanceIDs, Routes: true},
			map[string]int{"DescribeInstances": 10, "DescribeVSwitches": 1, "DescribeRouteTableList": 1, "DescribeRouteEntryList": 10, "DescribeNatGateways": 1, "DescribeSnatTableEntries": 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := start(t, w)
			started := time.Now()
			f, err := read(t, s, staticEnv(), tc.in)
			if err != nil {
				t.Fatal(err)
			}
			total := 0
			for a, n := range f.Calls {
				total += n
				if tc.want[a] != n {
					t.Errorf("%s: %d calls, want %d", a, n, tc.want[a])
				}
			}
			t.Logf("%s, %d nodes, %d vSwitches: %d calls %v in %s against the local server", tc.name, nodes, vswitches, total, f.Calls, time.Since(started).Round(time.Millisecond))
		})
	}
}

// TestTemporaryCredentialsRefreshUnderLoad: keys that expire within the
// refresh margin are fetched again for every call, from many goroutines at
// once; every call must still be signed with a matching key and token
// (run with -race).
func TestTemporaryCredentialsRefreshUnderLoad(t *testing.T) {
	w := world()
	issued := cloudtest.Key{ID: "STS.issuedKeyID", Secret: "STSissuedSecret0002", Token: canaryToken}
	w.Keys = append(w.Keys, issued)
	w.ECSRole = &cloudtest.ECSRole{Name: "node-role", Issues: issued, ExpiresIn: time.Minute}
	in := allParts
	for i := 0; i < 400; i++ {
		id := fmt.Sprintf("i-more%d", i)
		w.Instances = append(w.Instances, cloudtest.Instance{ID: id, Type: "ecs.g7.large", VPC: "vpc-1", VSwitch: "vsw-node"})
		in.InstanceIDs = append(in.InstanceIDs, id)
	}
	s := start(t, w)
	c, err := client(t, s, map[string]string{cloud.EnvECSRole: "node-role"})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		f, err := c.Read(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		if len(f.Errors) != 0 {
			t.Fatalf("errors: %v", f.Errors)
		}
	}
	refreshes := 0
	for _, c := range s.Calls() {
		if strings.HasPrefix(c.Action, "metadata GET") {
			refreshes++
		}
		if c.Code != "" {
			t.Errorf("%s refused: %s", c.Action, c.Code)
		}
	}
	if refreshes < 5 {
		t.Errorf("short-lived keys should be fetched again per call: %d fetches", refreshes)
	}
}

// Ctrl-C ends the read at once, while backing off from throttling and
// while calls are in flight; and (under -race) nothing reads what an
// abandoned call is still writing.
func TestCtrlCEndsTheReadAtOnce(t *testing.T) {
	throttled := world()
	throttled.Throttle = map[string]int{"DescribeVSwitches": -1, "DescribeNatGateways": -1}
	tests := []struct {
		name   string
		w      *cloudtest.World
		delay  time.Duration // of every answer
		within time.Duration
	}{
		{name: "backing off", w: throttled, within: 2 * time.Second},
		{name: "calls in flight", w: world(), delay: time.Second, within: 900 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			endpoint := start(t, tc.w).URL()
			if tc.delay > 0 {
				target, err := url.Parse(endpoint)
				if err != nil {
					t.Fatal(err)
				}
				rp := httputil.NewSingleHostReverseProxy(target)
				slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					time.Sleep(tc.delay)
					rp.ServeHTTP(w, r)
				}))
				t.Cleanup(slow.Close)
				endpoint = slow.URL
			}
			c, err := cloud.NewClient(cloud.Options{Region: "cn-hangzhou", Endpoint: endpoint, Env: envOf(staticEnv()), Home: t.TempDir(), Backoff: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			started := time.Now()
			_, err = c.Read(ctx, allParts)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("want the context's error, got %v", err)
			}
			if d := time.Since(started); d > tc.within {
				t.Errorf("the read took %s, want at most %s", d, tc.within)
			}
			// Let abandoned calls finish while the test still runs.
			time.Sleep(tc.delay + 500*time.Millisecond)
		})
	}
}

func TestRedactorCatchesEveryForm(t *testing.T) {
	var r cloud.Redactor
	secret := "abc+def/ghi=jkl0123"
	r.Add(secret, "short")
	for _, text := range []string{
		"plain " + secret,
		"query Token=abc%2Bdef%2Fghi%3Djkl0123&x=1",
		"path /roles/abc+def%2Fghi=jkl0123",
	} {
		if got := r.String(text); strings.Contains(got, "jkl0123") {
			t.Errorf("not redacted: %q -> %q", text, got)
		}
	}
	if got := r.String("a short word"); got != "a short word" {
		t.Errorf("short values must not be redacted: %q", got)
	}
}

// TestLongMessagesAreRedactedBeforeTheyAreCut: a server message longer than
// what is shown, with the secret across the cut.
func TestLongMessagesAreRedactedBeforeTheyAreCut(t *testing.T) {
	w := world()
	w.Keys = []cloudtest.Key{{ID: "LTAIsomeoneelse", Secret: "x"}}
	s := start(t, w)
	env := map[string]string{cloud.EnvAccessKeyID: strings.Repeat("L", 280) + canaryID, cloud.EnvAccessKeySecret: canarySecret}
	_, err := read(t, s, env, allParts)
	if err == nil {
		t.Fatal("want an error")
	}
	if strings.Contains(err.Error(), "LTAIcanary") || strings.Contains(err.Error(), strings.Repeat("L", 100)) {
		t.Errorf("a cut credential survived: %v", err)
	}
}
