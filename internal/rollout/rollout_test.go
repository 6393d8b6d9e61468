package rollout

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func ds(name string, vols ...corev1.Volume) appsv1.DaemonSet {
	d := appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: name}}
	d.Spec.Template.Spec.Volumes = vols
	return d
}

func cmVolume(cm string) corev1.Volume {
	return corev1.Volume{Name: "v", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: cm}}}}
}

func TestConsumers(t *testing.T) {
	projected := corev1.Volume{Name: "p", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
		{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "eni-config"}}}}}}}
	dss := []appsv1.DaemonSet{
		ds("kube-proxy-worker", cmVolume("kube-proxy-worker")),
		ds("terway-eniip", projected, cmVolume("other")),
		ds("csi-plugin", cmVolume("csi")),
	}
	tests := []struct{ cm, want string }{
		{"kube-proxy-worker", "kube-proxy-worker"},
		{"eni-config", "terway-eniip"},
		{"kube-flannel-cfg", ""},
	}
	for _, tt := range tests {
		if got := strings.Join(Consumers(dss, tt.cm), ","); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.cm, got, tt.want)
		}
	}
}

func TestDescribe(t *testing.T) {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "kube-proxy-worker-x1"}}
	if got := describe(p); got != "pod kube-proxy-worker-x1 on (not scheduled) (no status)" {
		t.Errorf("%q", got)
	}
	p.Spec.NodeName = "n1"
	p.Status.Phase = corev1.PodPending
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "kube-proxy", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}}}
	if got := describe(p); got != "pod kube-proxy-worker-x1 on n1 (Pending, kube-proxy: CrashLoopBackOff)" {
		t.Errorf("%q", got)
	}
}
