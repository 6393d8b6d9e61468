package cloud

import (
	"context"
	"strings"
	"testing"
)

func TestByPageCountsWhatCame(t *testing.T) {
	// The server answers 10 per page whatever was asked: 25 items take 3.
	calls := 0
	err := byPage(context.Background(), func(page int32) (int, int, error) {
		calls++
		return min(10, 25-int(page-1)*10), 25, nil
	})
	if err != nil || calls != 3 {
		t.Errorf("calls %d, err %v", calls, err)
	}
}

func TestByTokenStopsOnARepeatedToken(t *testing.T) {
	calls := 0
	err := byToken(context.Background(), func(string) (string, error) {
		calls++
		return "same", nil
	})
	if err == nil || !strings.Contains(err.Error(), "came back twice") || calls != 2 {
		t.Errorf("calls %d, err %v", calls, err)
	}
}

func TestEndpoints(t *testing.T) {
	env := map[string]string{EnvAccessKeyID: "LTAIendpointtest", EnvAccessKeySecret: "endpointtestsecret"}
	tests := []struct {
		name     string
		vpcEnv   bool
		endpoint string
		vpc, ecs string
	}{
		{name: "the SDK's public endpoints", vpc: "vpc.aliyuncs.com", ecs: "ecs-cn-hangzhou.aliyuncs.com"},
		{name: "VPC endpoints", vpcEnv: true, vpc: "vpc-vpc.cn-hangzhou.aliyuncs.com", ecs: "ecs-vpc.cn-hangzhou.aliyuncs.com"},
		{name: "a proxy", endpoint: "https://proxy.internal:8443", vpc: "proxy.internal:8443", ecs: "proxy.internal:8443"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := map[string]string{}
			for k, v := range env {
				e[k] = v
			}
			if tc.vpcEnv {
				e[EnvVPCEndpoint] = "true"
			}
			c, err := NewClient(Options{Region: "cn-hangzhou", Endpoint: tc.endpoint, Env: func(k string) string { return e[k] }, Home: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			s := <-c.pool
			if got := *s.vpc.Endpoint; got != tc.vpc {
				t.Errorf("VPC endpoint %s, want %s", got, tc.vpc)
			}
			if got := *s.ecs.Endpoint; got != tc.ecs {
				t.Errorf("ECS endpoint %s, want %s", got, tc.ecs)
			}
		})
	}
}

func TestSTSAndMetadataNeverGoToAProxy(t *testing.T) {
	if got := stsEndpoint("cn-hangzhou", false, "proxy.internal:8443", "https"); got != "https://sts.cn-hangzhou.aliyuncs.com/" {
		t.Errorf("STS through a proxy endpoint: %s", got)
	}
	if got := metadataURL("proxy.internal:8443", "https"); got != metadataBase {
		t.Errorf("metadata through a proxy endpoint: %s", got)
	}
	if got := stsEndpoint("cn-hangzhou", false, "127.0.0.1:9000", "http"); got != "http://127.0.0.1:9000/" {
		t.Errorf("STS of the local test server: %s", got)
	}
	for host, want := range map[string]bool{"127.0.0.1:80": true, "[::1]:80": true, "localhost:1": true, "127.evil.example:80": false, "127.0.0.1.nip.io": false} {
		if IsLoopback(host) != want {
			t.Errorf("IsLoopback(%s) != %v", host, want)
		}
	}
}
