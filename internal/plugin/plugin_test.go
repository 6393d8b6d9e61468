package plugin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-acknet/kubectl-acknet/internal/ackconf"
	"github.com/kubectl-acknet/kubectl-acknet/internal/cluster"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes/fake"
)

func runCmd(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	streams, _, out, errOut := genericiooptions.NewTestIOStreams()
	cmd := NewRootCmd(streams)
	cmd.SetArgs(args)
	cmd.SetOut(out)
	cmd.SetErr(errOut)
	err := cmd.Execute()
	return out.String(), errOut.String(), err
}

func TestFlagErrorsExitOne(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"doctor", "-o", "xml", "--server", "https://127.0.0.1:1"}, "--output must be one of"},
		{[]string{"doctor", "--fail-on", "never", "--server", "https://127.0.0.1:1"}, "--fail-on"},
		{[]string{"doctor", "--checks", "nope.*", "--server", "https://127.0.0.1:1"}, `no check matches "nope.*"`},
		{[]string{"doctor", "--checks", "dns.nodelocal", "--skip", "dns.*", "--server", "https://127.0.0.1:1"}, "leave no check"},
		{[]string{"doctor", "--vswitch-cidrs", "10.0.0.0/33", "--server", "https://127.0.0.1:1"}, "neither a CIDR nor vsw-ID=CIDR"},
		{[]string{"doctor", "--region", "cn-hangzhou", "--server", "https://127.0.0.1:1"}, "--region, --cloud-endpoint and --route-entry-quota configure --cloud; add --cloud"},
		{[]string{"doctor", "--cloud", "--cloud-endpoint", "http://proxy.example:8080", "--server", "https://127.0.0.1:1"}, "plain http only to a loopback address"},
		{[]string{"doctor", "--cloud", "--route-entry-quota", "0", "--server", "https://127.0.0.1:1"}, "--route-entry-quota must be positive"},
		{[]string{"doctor", "--bogus"}, "unknown flag"},
		{[]string{"fix"}, "say what to do"},
		{[]string{"fix", "flannel.hairpin", "--list"}, "say what to do"},
		{[]string{"fix", "dns.nodelocal"}, `"dns.nodelocal" has no config fix; fixable: flannel.cni-version`},
		{[]string{"fix", "flannel.hairpin", "--restart"}, "--restart needs --apply"},
		{[]string{"fix", "flannel.hairpin", "--apply", "--max-unavailable", "2"}, "go with --restart"},
		{[]string{"fix", "flannel.hairpin", "--apply", "--restart-timeout", "5m"}, "go with --restart"},
		{[]string{"fix", "flannel.hairpin", "--apply", "--restart", "--max-unavailable", "0"}, "must be 1 or more"},
		{[]string{"fix", "flannel.hairpin", "--set", "novalue"}, "want KEY=VALUE"},
		{[]string{"fix", "flannel.cni-version", "--set", "cniVersion=1", "--set", "cniVersion=2"}, "given twice"},
		{[]string{"fix", "--rollback", "x", "--set", "a=b"}, "--set goes with a CHECK-ID"},
	}
	for _, tt := range tests {
		_, _, err := runCmd(t, tt.args...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: err %v, want %q", tt.args, err, tt.want)
		}
		if ExitCode(err) != ExitError {
			t.Errorf("%v: exit %d", tt.args, ExitCode(err))
		}
	}
}

func TestListChecksNeedsNoCluster(t *testing.T) {
	out, _, err := runCmd(t, "doctor", "--list-checks", "--server", "https://127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"cluster.network-plugin", "terway.in-cluster-lb", "dns.nodelocal", "cloud.snat", "Terway vSwitch headroom (doctor --cloud)"} {
		if !strings.Contains(out, id) {
			t.Errorf("list lacks %s", id)
		}
	}
}

func TestFixListNeedsNoCluster(t *testing.T) {
	out, _, err := runCmd(t, "fix", "--list", "--server", "https://127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"kubeproxy.ipvs-scheduler\n  changes:", "--set scheduler=... (required)", "--set udpTimeout=... (10s)"} {
		if !strings.Contains(out, want) {
			t.Errorf("list lacks %q:\n%s", want, out)
		}
	}
}

func TestExitCodes(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		code   int
		silent bool
	}{
		{"success", nil, ExitOK, true},
		{"an error", errors.New("x"), ExitError, false},
		{"findings", ErrFindings, ExitFindings, true},
		{"findings wrapped", fmt.Errorf("doctor: %w", ErrFindings), ExitFindings, true},
		{"findings joined", errors.Join(errors.New("ctx"), ErrFindings), ExitFindings, true},
	}
	for _, tt := range tests {
		if got := ExitCode(tt.err); got != tt.code {
			t.Errorf("%s: exit code %d, want %d", tt.name, got, tt.code)
		}
		if got := Silent(tt.err); got != tt.silent {
			t.Errorf("%s: silent %v, want %v", tt.name, got, tt.silent)
		}
	}
}

func TestVersionAndHelpReadAsKubectlPlugin(t *testing.T) {
	out, _, err := runCmd(t, "version")
	if err != nil || !strings.HasPrefix(out, "kubectl-acknet dev") {
		t.Errorf("version: %q %v", out, err)
	}
	var buf bytes.Buffer
	streams := genericiooptions.IOStreams{Out: &buf, ErrOut: &buf}
	cmd := NewRootCmd(streams)
	cmd.SetOut(&buf)
	cmd.SetArgs([]string{"doctor", "--help"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "kubectl acknet doctor [flags]") || !strings.Contains(buf.String(), "--kubeconfig") || !strings.Contains(buf.String(), "--as-group") {
		t.Errorf("help:\n%s", buf.String())
	}
}

func TestCompleteCheckIDs(t *testing.T) {
	got, _ := completeCheckIDs(nil, nil, "dns.nodelocal,kubeproxy.ipvs")
	want := "dns.nodelocal,kubeproxy.ipvs-udp-timeout dns.nodelocal,kubeproxy.ipvs-scheduler"
	if strings.Join(got, " ") != want {
		t.Errorf("got %v", got)
	}
	got, _ = completeCheckIDs(nil, nil, "ter")
	if len(got) == 0 || got[0] != "terway.*" {
		t.Errorf("got %v", got)
	}
}

func TestAskYes(t *testing.T) {
	for in, want := range map[string]bool{"y\n": true, "YES\n": true, "n\n": false, "\n": false, "": false} {
		streams, _, _, errOut := genericiooptions.NewTestIOStreams()
		streams.In = strings.NewReader(in)
		if got := askYes(context.Background(), streams, "go? [y/N] "); got != want || errOut.String() != "go? [y/N] " {
			t.Errorf("%q: %t (prompt %q), want %t", in, got, errOut.String(), want)
		}
	}
}

// Ctrl-C at the prompt (the run's context cancelled in main) answers no at
// once, although nobody typed anything.
func TestAskYesInterrupted(t *testing.T) {
	streams, _, _, _ := genericiooptions.NewTestIOStreams()
	r, w := io.Pipe() // stdin that never answers
	defer func() { _ = w.Close() }()
	streams.In = r
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan bool)
	go func() { done <- askYes(ctx, streams, "go? [y/N] ") }()
	cancel()
	select {
	case got := <-done:
		if got {
			t.Error("an interrupt answered yes")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the prompt still waits after the interrupt")
	}
}

func TestFlannelGCValidate(t *testing.T) {
	base := func() *FlannelGCOptions {
		return &FlannelGCOptions{network: "cb0", ipamDirs: []string{"/var/lib/cni/networks"}, Yes: true,
			MinAge: 10 * time.Minute, LockTimeout: 30 * time.Second, nodeCommand: nodeCommand{NodeOptions: NodeOptions{Timeout: 2 * time.Minute}}}
	}
	tests := []struct {
		name string
		mod  func(*FlannelGCOptions)
		want string
	}{
		{"defaults", func(*FlannelGCOptions) {}, ""},
		{"lock timeout below a second", func(o *FlannelGCOptions) { o.LockTimeout = 500 * time.Millisecond }, "between 1s and 10m"},
		{"lock wait longer than the node may take", func(o *FlannelGCOptions) { o.Apply = true; o.LockTimeout = 3 * time.Minute },
			"--lock-timeout (3m0s) must be shorter than --node-timeout (2m0s)"},
		{"a dry run takes no lock", func(o *FlannelGCOptions) { o.LockTimeout = 3 * time.Minute }, ""},
		{"negative min age", func(o *FlannelGCOptions) { o.MinAge = -time.Second }, "--min-age"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := base()
			tt.mod(o)
			err := o.Validate()
			if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("err %v, want %q", err, tt.want)
			}
		})
	}
}

// The network name and IPAM dirs reach the node script: what it cannot
// take is refused with the ConfigMap named.
func TestReadScanTargets(t *testing.T) {
	tests := []struct {
		name, conf  string
		wantNetwork string
		wantDirs    string
		wantErr     string
	}{
		{name: "ACK's default", conf: `{"name":"cb0","cniVersion":"0.3.1","type":"flannel","delegate":{"isDefaultGateway":true}}`,
			wantNetwork: "cb0", wantDirs: "/var/lib/cni/networks /var/run/cni/networks"},
		{name: "no name: cb0", conf: `{"type":"flannel"}`, wantNetwork: "cb0", wantDirs: "/var/lib/cni/networks /var/run/cni/networks"},
		{name: "a third IPAM dir", conf: `{"name":"cb0","plugins":[{"type":"flannel","ipam":{"type":"host-local","dataDir":"/run/ipam"}}]}`,
			wantNetwork: "cb0", wantDirs: "/run/ipam /var/lib/cni/networks /var/run/cni/networks"},
		{name: "network name with a slash", conf: `{"name":"../x","type":"flannel"}`, wantErr: "kube-system/kube-flannel-cfg: the Flannel network name \"../x\" is not a plain name"},
		{name: "a relative IPAM dir", conf: `{"name":"cb0","plugins":[{"type":"flannel","ipam":{"type":"host-local","dataDir":"run/ipam"}}]}`,
			wantErr: "IPAM data dir \"run/ipam\" must be a clean absolute path"},
		{name: "no Flannel", wantErr: "kube-flannel-cfg not found: flannel gc is for Flannel clusters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := fake.NewSimpleClientset()
			if tt.conf != "" {
				cs = fake.NewSimpleClientset(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: cluster.CMFlannel, Namespace: "kube-system"},
					Data: map[string]string{ackconf.KeyFlannelCNIConf: tt.conf}})
			}
			_, network, dirs, err := readScanTargets(context.Background(), cs, "flannel gc")
			if (tt.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err %v, want %q", err, tt.wantErr)
			}
			if got := strings.Join(dirs, " "); err == nil && (network != tt.wantNetwork || got != tt.wantDirs) {
				t.Errorf("network %q dirs %q, want %q %q", network, got, tt.wantNetwork, tt.wantDirs)
			}
		})
	}
}
