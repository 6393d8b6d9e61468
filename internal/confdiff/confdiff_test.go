package confdiff

import (
	"bytes"
	"strings"
	"testing"

	"github.com/fatih/color"
)

func TestWrite(t *testing.T) {
	tests := []struct {
		name string
		k    Key
		want string
	}{
		{name: "a changed line, context around it",
			k:    Key{Path: "kube-system/kube-proxy-worker/config.conf", Before: "mode: ipvs\nipvs:\n  scheduler: lc\n", After: "mode: ipvs\nipvs:\n  scheduler: lc\n  udpTimeout: 10s\n", Had: true, Has: true},
			want: "--- a/kube-system/kube-proxy-worker/config.conf\n+++ b/kube-system/kube-proxy-worker/config.conf\n@@ -1,3 +1,4 @@\n mode: ipvs\n ipvs:\n   scheduler: lc\n+  udpTimeout: 10s\n"},
		{name: "a new key diffs against /dev/null",
			k:    Key{Path: "kube-system/eni-config/disable_network_policy", After: "true", Has: true},
			want: "--- /dev/null\n+++ b/kube-system/eni-config/disable_network_policy\n@@ -0,0 +1 @@\n+true\n"},
		{name: "a removed key, its last line without a newline",
			k:    Key{Path: "kube-system/eni-config/x", Before: "a\nb", Had: true},
			want: "--- a/kube-system/eni-config/x\n+++ /dev/null\n@@ -1,2 +0,0 @@\n-a\n-b\n"},
		{name: "no change, no diff", k: Key{Path: "p", Before: "a\n", After: "a\n", Had: true, Has: true}, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			Write(&b, tt.k, false)
			if b.String() != tt.want {
				t.Errorf("got\n%q\nwant\n%q", b.String(), tt.want)
			}
		})
	}
}

// Color marks added lines green and removed ones red; without it the text
// has no escape at all.
func TestWriteColor(t *testing.T) {
	saved := color.NoColor
	color.NoColor = false
	defer func() { color.NoColor = saved }()
	k := Key{Path: "p", Before: "old\n", After: "new\n", Had: true, Has: true}
	var b bytes.Buffer
	Write(&b, k, true)
	for _, want := range []string{"\x1b[32m+new\x1b[0m", "\x1b[31m-old\x1b[0m", "\x1b[1m--- a/p\x1b[22m"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("colored diff lacks %q:\n%q", want, b.String())
		}
	}
	b.Reset()
	Write(&b, k, false)
	if strings.Contains(b.String(), "\x1b[") {
		t.Errorf("uncolored diff has escapes: %q", b.String())
	}
}
