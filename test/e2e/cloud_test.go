//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-acknet/kubectl-acknet/internal/cloud"
	"github.com/kubectl-acknet/kubectl-acknet/internal/cloud/cloudtest"
)

// Canary credentials of the cloud tests: they must appear in no output.
const (
	cloudKeyID     = "LTAI5tE2Ecanary0KeyId"
	cloudKeySecret = "e2eCanarySecretValue0xyz"
	cloudToken     = "CAISe2eCanaryStsToken0abc"
)

// cloudWorld loads a scenario's VPC and gives it the canary key.
func cloudWorld(t *testing.T, scenario string, mods ...func(*cloudtest.World)) *cloudtest.World {
	t.Helper()
	w, err := cloudtest.LoadWorld(filepath.Join(repoRoot, "test", "scenarios", scenario, "cloud", "world.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	w.Keys = []cloudtest.Key{{ID: cloudKeyID, Secret: cloudKeySecret, Token: cloudToken}}
	for _, m := range mods {
		m(w)
	}
	return w
}

func startCloud(t *testing.T, w *cloudtest.World) *cloudtest.Server {
	t.Helper()
	s, err := cloudtest.Start(w, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// acknetCloud runs the plugin with the canary credentials in its
// environment (and no other Alibaba Cloud setting of this machine's).
func acknetCloud(t *testing.T, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "kubectl-acknet"), args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ALIBABA_CLOUD_") && !strings.HasPrefix(kv, "HOME=") && !strings.HasPrefix(kv, "DEBUG=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "KUBECONFIG="+kubeconfig, "HOME="+t.TempDir())
	cmd.Env = append(cmd.Env, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run: %v", err)
	}
	for _, c := range []string{cloudKeyID, cloudKeySecret, cloudToken, "oidc-e2e-canary-token"} {
		if strings.Contains(r.stdout+r.stderr, c) {
			t.Errorf("output carries the credential value %q:\n%s\n%s", c, r.stdout, r.stderr)
		}
	}
	if strings.Contains(r.stdout+r.stderr, "internal error") {
		t.Errorf("internal error:\n%s\n%s", r.stdout, r.stderr)
	}
	return r
}

var canaryEnv = []string{cloud.EnvAccessKeyID + "=" + cloudKeyID, cloud.EnvAccessKeySecret + "=" + cloudKeySecret, cloud.EnvSecurityToken + "=" + cloudToken}

func TestDoctorCloudScenarios(t *testing.T) {
	const (
		podI  = "vsw-bp1podi000000000001"
		podJ  = "vsw-bp1podj000000000002"
		node2 = "cn-hangzhou.192.168.0.12"
	)
	setFree := func(id string, free int64) func(*cloudtest.World) {
		return func(w *cloudtest.World) {
			for i := range w.VSwitches {
				if w.VSwitches[i].ID == id {
					w.VSwitches[i].Free = free
				}
			}
		}
	}
	cases := []struct {
		name, scenario string
		mods           []func(*cloudtest.World)
		code           int
		want           map[string]string
		objects        map[string][]string
		has            []string // in stdout or stderr
		calls          map[string]int
	}{
		{name: "terway healthy headroom", scenario: "cloud-terway", code: 0,
			want: map[string]string{"cloud.vswitch-headroom": "pass", "cloud.pod-outside-vswitch": "warn", "cloud.eni-quota": "pass", "cloud.snat": "pass",
				"cloud.route-entries": "skip", "cloud.route-tables": "skip"},
			objects: map[string][]string{"cloud.pod-outside-vswitch": {"edge/Pod/legacy-0"}},
			has:     []string{"cn-hangzhou-i 8000 (" + podI + " 8000); cn-hangzhou-j 7900", "doctor --cloud: region cn-hangzhou (node labels), credentials from environment"}},
		{name: "terway near exhaustion", scenario: "cloud-terway", mods: []func(*cloudtest.World){setFree(podJ, 300)}, code: 0,
			want: map[string]string{"cloud.vswitch-headroom": "warn"}, objects: map[string][]string{"cloud.vswitch-headroom": {"vswitch/" + podJ}},
			has: []string{podJ + " (zone cn-hangzhou-j, 10.0.96.0/19): 300 of 8188 addresses free, 1 pod on it: about 300 more pods before IpNotEnough"}},
		{name: "terway exhausted", scenario: "cloud-terway", mods: []func(*cloudtest.World){setFree(podI, 0)}, code: 2,
			want: map[string]string{"cloud.vswitch-headroom": "fail"}, objects: map[string][]string{"cloud.vswitch-headroom": {"vswitch/" + podI, "zone/cn-hangzhou-i"}},
			has: []string{"2 pods on it: exhausted"}},
		{name: "vSwitch without SNAT", scenario: "cloud-terway", mods: []func(*cloudtest.World){func(w *cloudtest.World) { w.NATGateways[0].Entries = w.NATGateways[0].Entries[:1] }},
			want: map[string]string{"cloud.snat": "warn", "cloud.vswitch-headroom": "pass"}, objects: map[string][]string{"cloud.snat": {"vswitch/" + podJ}}},
		{name: "ENI quota below maxPods", scenario: "cloud-terway", mods: []func(*cloudtest.World){func(w *cloudtest.World) { w.InstanceTypes[0].IPsPerENI = 10 }},
			want: map[string]string{"cloud.eni-quota": "warn"}, objects: map[string][]string{"cloud.eni-quota": {"node/cn-hangzhou.10.0.0.11", "node/cn-hangzhou.10.0.1.12"}},
			has: []string{"ecs.g7.xlarge (shared ENI) takes at most 30 pods on the pod network ((4 ENIs - 1) x 10 addresses), but maxPods is 45"}},
		{name: "throttled, then answered", scenario: "cloud-terway", mods: []func(*cloudtest.World){func(w *cloudtest.World) { w.Throttle = map[string]int{"DescribeVSwitches": 2} }},
			want: map[string]string{"cloud.vswitch-headroom": "pass"}, has: []string{"(2 retried)"}, calls: map[string]int{"DescribeVSwitches": 3}},
		{name: "permission denied", scenario: "cloud-terway", mods: []func(*cloudtest.World){func(w *cloudtest.World) { w.Deny = []string{"vpc:DescribeNatGateways"} }},
			want: map[string]string{"cloud.snat": "skip", "cloud.vswitch-headroom": "pass", "cloud.eni-quota": "pass"},
			has:  []string{"vpc:DescribeNatGateways denied (Forbidden.RAM): grant the RAM action vpc:DescribeNatGateways"}},
		{name: "paging across pages", scenario: "cloud-terway", mods: []func(*cloudtest.World){func(w *cloudtest.World) {
			for i := 0; i < 120; i++ {
				w.VSwitches = append(w.VSwitches, cloudtest.VSwitch{ID: fmt.Sprintf("vsw-bp1other%012d", i), VPC: "vpc-bp1cloud000000000001", Zone: "cn-hangzhou-k", CIDR: fmt.Sprintf("10.1.%d.0/24", i), Free: 250})
			}
			for i := 0; i < 60; i++ {
				w.NATGateways[0].Entries = append(w.NATGateways[0].Entries, cloudtest.SNATEntry{ID: fmt.Sprintf("snat-other%d", i), VSwitch: fmt.Sprintf("vsw-bp1other%012d", i)})
			}
			w.NATGateways[0].Entries = append(w.NATGateways[0].Entries[2:], w.NATGateways[0].Entries[:2]...)
		}}, want: map[string]string{"cloud.vswitch-headroom": "pass", "cloud.snat": "pass"}, calls: map[string]int{"DescribeVSwitches": 3, "DescribeSnatTableEntries": 2}},
		{name: "flannel healthy", scenario: "cloud-flannel", code: 0,
			want:  map[string]string{"cloud.route-entries": "pass", "cloud.route-tables": "pass", "cloud.snat": "pass", "cloud.vswitch-headroom": "skip", "cloud.eni-quota": "skip"},
			calls: map[string]int{"DescribeInstances": 1, "DescribeVSwitches": 1, "DescribeRouteTableList": 1, "DescribeRouteEntryList": 1, "DescribeNatGateways": 1, "DescribeSnatTableEntries": 1, "DescribeInstanceTypes": 0}},
		{name: "missing route", scenario: "cloud-flannel", mods: []func(*cloudtest.World){func(w *cloudtest.World) { w.RouteTables[0].Entries = w.RouteTables[0].Entries[:2] }}, code: 2,
			want: map[string]string{"cloud.route-entries": "fail"}, objects: map[string][]string{"cloud.route-entries": {"node/" + node2}},
			has: []string{"pod CIDR 172.20.2.0/25 has no route entry in route table vtb-bp1flannel000000001"}},
		{name: "full route table", scenario: "cloud-flannel", mods: []func(*cloudtest.World){func(w *cloudtest.World) {
			for i := 0; len(w.RouteTables[0].Entries) < 200; i++ {
				w.RouteTables[0].Entries = append(w.RouteTables[0].Entries, cloudtest.RouteEntry{Destination: fmt.Sprintf("172.30.%d.0/25", i), NextHop: fmt.Sprintf("i-bp1gone%010d", i)})
			}
		}}, code: 2, want: map[string]string{"cloud.route-entries": "fail"}, objects: map[string][]string{"cloud.route-entries": {"routetable/vtb-bp1flannel000000001"}},
			calls: map[string]int{"DescribeRouteEntryList": 2}},
		{name: "several route tables, none configured", scenario: "cloud-flannel", mods: []func(*cloudtest.World){func(w *cloudtest.World) {
			w.RouteTables = append(w.RouteTables, cloudtest.RouteTable{ID: "vtb-bp1custom0000000002", VPC: "vpc-bp1flannel0000000001", Type: "Custom"})
		}}, code: 2, want: map[string]string{"cloud.route-tables": "fail", "cloud.route-entries": "fail"},
			objects: map[string][]string{"cloud.route-tables": {"kube-system/ConfigMap/cloud-config"}},
			has:     []string{`Set Global.routeTableIDs to \"vtb-bp1custom0000000002,vtb-bp1flannel000000001\"`}},
	}
	loaded := ""
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if loaded != tc.scenario {
				load(t, tc.scenario)
				loaded = tc.scenario
			}
			s := startCloud(t, cloudWorld(t, tc.scenario, tc.mods...))
			r := acknetCloud(t, canaryEnv, "doctor", "--cloud", "--cloud-endpoint", s.URL(), "--checks", "cloud.*", "-o", "json")
			rep := parseReport(t, r)
			if r.code != tc.code {
				t.Errorf("exit code %d, want %d; stderr: %s", r.code, tc.code, r.stderr)
			}
			for id, want := range tc.want {
				if got := rep.status(id); got != want {
					t.Errorf("%s = %s (%s), want %s", id, got, rep.summary(id), want)
				}
			}
			for id, objs := range tc.objects {
				got := rep.findingObjects(id)
				for _, o := range objs {
					if !slices.Contains(got, o) {
						t.Errorf("%s: no finding on %s (got %v)", id, o, got)
					}
				}
			}
			for _, h := range tc.has {
				if !strings.Contains(r.stdout+r.stderr, h) {
					t.Errorf("output lacks %q:\n%s\n%s", h, r.stdout, r.stderr)
				}
			}
			got := map[string]int{}
			for _, c := range s.Calls() {
				got[c.Action]++
			}
			for a, n := range tc.calls {
				if got[a] != n {
					t.Errorf("%s called %d times, want %d (all: %v)", a, got[a], n, got)
				}
			}
		})
	}
}

func TestDoctorCloudCredentials(t *testing.T) {
	load(t, "cloud-terway")
	w := cloudWorld(t, "cloud-terway")
	s := startCloud(t, w)
	t.Run("expired token ends the run and says where it came from", func(t *testing.T) {
		w.Keys[0].Expired = true
		defer func() { w.Keys[0].Expired = false }()
		r := acknetCloud(t, canaryEnv, "doctor", "--cloud", "--cloud-endpoint", s.URL())
		if r.code != 1 {
			t.Errorf("exit %d, want 1", r.code)
		}
		for _, want := range []string{"Alibaba Cloud refused the credentials from environment (ALIBABA_CLOUD_ACCESS_KEY_ID)", "InvalidSecurityToken.Expired", "vpc:DescribeVSwitches"} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("stderr lacks %q: %s", want, r.stderr)
			}
		}
	})
	t.Run("an unknown key: the API's message names it, the output does not", func(t *testing.T) {
		w.Keys[0].ID = "LTAI5tSomeoneElse000"
		defer func() { w.Keys[0].ID = cloudKeyID }()
		r := acknetCloud(t, canaryEnv, "doctor", "--cloud", "--cloud-endpoint", s.URL())
		if r.code != 1 || !strings.Contains(r.stderr, "Specified access key is not found: [redacted]") {
			t.Errorf("exit %d, stderr %s", r.code, r.stderr)
		}
	})
	t.Run("no credentials names every source tried", func(t *testing.T) {
		before := len(s.Calls())
		r := acknetCloud(t, nil, "doctor", "--cloud", "--cloud-endpoint", s.URL())
		if r.code != 1 {
			t.Errorf("exit %d, want 1", r.code)
		}
		for _, want := range []string{"no Alibaba Cloud credentials found", "environment (", "RRSA (", "aliyun CLI profile (", "ECS RAM role ("} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("stderr lacks %q: %s", want, r.stderr)
			}
		}
		if n := len(s.Calls()) - before; n != 0 {
			t.Errorf("%d calls without credentials", n)
		}
	})
	t.Run("RRSA token traded for an STS token", func(t *testing.T) {
		tok := filepath.Join(t.TempDir(), "token")
		if err := os.WriteFile(tok, []byte("oidc-e2e-canary-token"), 0o600); err != nil {
			t.Fatal(err)
		}
		w.OIDC = &cloudtest.OIDCRole{RoleARN: "acs:ram::1:role/acknet", ProviderARN: "acs:ram::1:oidc-provider/ack-rrsa", Token: "oidc-e2e-canary-token", Issues: w.Keys[0]}
		r := acknetCloud(t, []string{cloud.EnvRoleARN + "=acs:ram::1:role/acknet", cloud.EnvOIDCProviderARN + "=acs:ram::1:oidc-provider/ack-rrsa", cloud.EnvOIDCTokenFile + "=" + tok},
			"doctor", "--cloud", "--cloud-endpoint", s.URL(), "--checks", "cloud.vswitch-headroom", "-o", "json")
		rep := parseReport(t, r)
		if rep.status("cloud.vswitch-headroom") != "pass" || !strings.Contains(r.stderr, "credentials from RRSA (OIDC token") {
			t.Errorf("headroom %s, stderr %s", rep.status("cloud.vswitch-headroom"), r.stderr)
		}
	})
	t.Run("without --cloud the cloud checks say what they need", func(t *testing.T) {
		r := acknetCloud(t, canaryEnv, "doctor", "--checks", "cloud.*", "-o", "json")
		rep := parseReport(t, r)
		for _, id := range []string{"cloud.vswitch-headroom", "cloud.snat", "cloud.eni-quota"} {
			if rep.status(id) != "skip" || !strings.Contains(rep.summary(id), "needs doctor --cloud") {
				t.Errorf("%s = %s (%s)", id, rep.status(id), rep.summary(id))
			}
		}
		plain := acknetCloud(t, canaryEnv, "doctor", "-o", "json")
		if st := parseReport(t, plain).status("cloud.snat"); st != "(absent)" {
			t.Errorf("plain doctor ran cloud.snat (%s)", st)
		}
	})
}
