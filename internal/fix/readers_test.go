package fix

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func daemonSet(name, image string, mounts ...string) appsv1.DaemonSet {
	d := appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "kube-system"}}
	d.Spec.Template.Spec.Containers = []corev1.Container{{Name: name, Image: image}}
	for _, cm := range mounts {
		d.Spec.Template.Spec.Volumes = append(d.Spec.Template.Spec.Volumes, corev1.Volume{Name: cm,
			VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: cm}}}})
	}
	return d
}

func TestReaders(t *testing.T) {
	flannel := daemonSet("kube-flannel-ds", "registry-cn-hangzhou.ack.aliyuncs.com/acs/flannel:v0.15.1.5-7a1c2f0e-aliyun")
	tests := []struct {
		name string
		dss  []appsv1.DaemonSet
		cm   string
		want string
	}{
		{name: "the DaemonSet that mounts it", dss: []appsv1.DaemonSet{daemonSet("kube-proxy-worker", "kube-proxy", "kube-proxy-worker"), daemonSet("other", "x", "kube-proxy-worker")},
			cm: "kube-proxy-worker", want: "kube-proxy-worker,other"},
		{name: "kube-proxy by its name when nothing mounts it", dss: []appsv1.DaemonSet{daemonSet("kube-proxy-master", "kube-proxy")}, cm: "kube-proxy-master", want: "kube-proxy-master"},
		{name: "Flannel's DaemonSet for kube-flannel-cfg", dss: []appsv1.DaemonSet{flannel}, cm: "kube-flannel-cfg", want: "kube-flannel-ds"},
		{name: "not Terway's config on a Flannel cluster", dss: []appsv1.DaemonSet{flannel}, cm: "eni-config", want: ""},
		{name: "nobody", cm: "kube-proxy-worker", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := strings.Join(Readers(tt.dss, tt.cm), ","); got != tt.want {
				t.Errorf("Readers = %q, want %q", got, tt.want)
			}
		})
	}
	if v := FlannelVersion([]appsv1.DaemonSet{flannel}); v != "v0.15.1.5-7a1c2f0e-aliyun" {
		t.Errorf("FlannelVersion = %q", v)
	}
	if v := FlannelVersion(nil); v != "" {
		t.Errorf("FlannelVersion without Flannel = %q", v)
	}
}
