package nodeexec

import (
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

func TestPodSpec(t *testing.T) {
	p := PodSpec("kube-system", "img:1", "flannel-gc", "cn-hangzhou.192.168.0.10", "a1b2c", 3*time.Minute)
	if p.Name != "acknet-flannel-gc-cn-hangzhou-192-168-0-10-a1b2c" {
		t.Errorf("name %s", p.Name)
	}
	s := p.Spec
	if s.NodeName != "cn-hangzhou.192.168.0.10" || !s.HostNetwork || !s.HostPID || s.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("placement %+v", s)
	}
	if *s.AutomountServiceAccountToken || *s.ActiveDeadlineSeconds != 180 || len(s.Tolerations) != 1 || s.Tolerations[0].Operator != corev1.TolerationOpExists {
		t.Errorf("safety fields %+v", s)
	}
	c := s.Containers[0]
	if !*c.SecurityContext.Privileged || c.Command[1] != "180" || c.VolumeMounts[0].MountPath != "/host" || s.Volumes[0].HostPath.Path != "/" {
		t.Errorf("container %+v", c)
	}
	if p.Labels[LabelManagedBy] != ManagedBy || p.Annotations[AnnotationNode] != "cn-hangzhou.192.168.0.10" {
		t.Errorf("labels %v annotations %v", p.Labels, p.Annotations)
	}
	long := PodSpec("ns", "img", "x", strings.Repeat("N", 300)+"_!", "s", time.Minute)
	if len(long.Name) > 63 || strings.ContainsAny(long.Name, "N_!.") || !strings.HasSuffix(long.Name, "-s") {
		t.Errorf("name not sanitized: %s", long.Name)
	}
}

func TestStartFailure(t *testing.T) {
	waiting := func(reason string) *corev1.Pod {
		return &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{
			Image: "img:1", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: "m"}}}}}}
	}
	tests := map[string]struct {
		pod  *corev1.Pod
		want string
	}{
		"image pull":     {waiting("ImagePullBackOff"), "image img:1 cannot be pulled"},
		"config error":   {waiting("CreateContainerConfigError"), "container cannot start"},
		"still creating": {waiting("ContainerCreating"), ""},
		"deadline":       {&corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodFailed, Reason: "DeadlineExceeded"}}, "pod ended (Failed) DeadlineExceeded"},
	}
	for name, tt := range tests {
		if got := StartFailure(tt.pod); (tt.want == "" && got != "") || !strings.Contains(got, tt.want) {
			t.Errorf("%s: %q, want %q", name, got, tt.want)
		}
	}
}

func TestExecErrorHidesTheScript(t *testing.T) {
	e := &ExecError{Stderr: "conntrack: not loaded\n", Err: errors.New("cmd wait: chroot /host /bin/sh -c <a long script>: exit status 1")}
	if e.Error() != "conntrack: not loaded (exit status 1)" {
		t.Errorf("%q", e.Error())
	}
}
