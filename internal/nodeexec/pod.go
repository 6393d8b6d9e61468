// Package nodeexec runs scripts on nodes through short-lived debug pods: per
// node a privileged hostNetwork/hostPID pod pinned by nodeName, and a delete
// that always happens, also when the caller is interrupted. Read-only
// scripts run as the pod's own command and hand back their output through
// the pod (Gather, result.go); scripts that scan, decide and act run through
// exec into a sleeping pod (Run), so one pod sees the whole job.
package nodeexec

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Labels and defaults of the debug pods (a public contract: cleanup and
// users' own tooling select on them).
const (
	LabelManagedBy = "app.kubernetes.io/managed-by"
	ManagedBy      = "kubectl-acknet"
	LabelPurpose   = "acknet.kubectl.io/purpose"
	AnnotationNode = "acknet.kubectl.io/node"

	// DefaultImage needs only busybox (sh, chroot, sleep, cat, tail, wc). It is served by
	// Alibaba Cloud Container Registry, which ACK nodes in mainland China
	// reach when docker.io is blocked; override with --image or ImageEnv.
	DefaultImage     = "registry.cn-hangzhou.aliyuncs.com/acs/busybox:v1.29.2"
	ImageEnv         = "ACKNET_NODE_IMAGE"
	DefaultNamespace = "kube-system"
	DefaultHostRoot  = "/host"
	containerName    = "acknet"
)

// Selector selects every debug pod this tool creates.
var Selector = LabelManagedBy + "=" + ManagedBy

// RandomSuffix is 5 hex characters, as kubectl debug uses 5 random ones.
func RandomSuffix() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)[:5]
}

// podName is acknet-<purpose>-<node>-<random>. A pod's name is its
// hostname: dots become dashes (the API server warns about dotted names, and
// ACK node names are cn-hangzhou.192.168.0.10), and the node part is cut so
// the whole stays a 63-character DNS label (the annotation keeps the node).
func podName(purpose, node, suffix string) string {
	n := strings.ToLower(node)
	n = strings.Map(func(r rune) rune {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '-' {
			return r
		}
		return '-'
	}, n)
	maxNode := max(63-len("acknet-"+purpose+"--"+suffix), 1)
	if len(n) > maxNode {
		n = n[:maxNode]
	}
	n = strings.Trim(n, "-")
	return "acknet-" + purpose + "-" + n + "-" + suffix
}

// PodSpec builds the debug pod for one node. The container only sleeps; the
// work happens through exec (ResultPodSpec runs it instead), and activeDeadlineSeconds ends the pod if the
// plugin dies before it can delete it.
func PodSpec(namespace, image, purpose, node, suffix string, deadline time.Duration) *corev1.Pod {
	secs := int64(deadline.Seconds())
	if secs < 1 {
		secs = 1
	}
	privileged := true
	no := false
	grace := int64(0)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:        podName(purpose, node, suffix),
			Namespace:   namespace,
			Labels:      map[string]string{LabelManagedBy: ManagedBy, LabelPurpose: purpose},
			Annotations: map[string]string{AnnotationNode: node},
		},
		Spec: corev1.PodSpec{
			NodeName:                      node,
			HostNetwork:                   true,
			HostPID:                       true,
			RestartPolicy:                 corev1.RestartPolicyNever,
			AutomountServiceAccountToken:  &no,
			EnableServiceLinks:            &no,
			ActiveDeadlineSeconds:         &secs,
			TerminationGracePeriodSeconds: &grace,
			Tolerations:                   []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
			PriorityClassName:             "",
			Containers: []corev1.Container{{
				Name:            containerName,
				Image:           image,
				ImagePullPolicy: corev1.PullIfNotPresent,
				Command:         []string{"sleep", strconv.FormatInt(secs, 10)},
				SecurityContext: &corev1.SecurityContext{Privileged: &privileged},
				VolumeMounts:    []corev1.VolumeMount{{Name: "host", MountPath: DefaultHostRoot}},
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")},
					Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
				},
			}},
			Volumes: []corev1.Volume{{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}}},
		},
	}
}

// StartFailure reports why a pod will not start, or "" while it may still.
func StartFailure(p *corev1.Pod) string {
	switch p.Status.Phase {
	case corev1.PodFailed, corev1.PodSucceeded:
		msg := p.Status.Reason
		if p.Status.Message != "" {
			msg += ": " + p.Status.Message
		}
		return fmt.Sprintf("pod ended (%s) %s", p.Status.Phase, msg)
	}
	for _, cs := range p.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil {
			switch w.Reason {
			case "ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull":
				return fmt.Sprintf("image %s cannot be pulled on the node (%s: %s); choose a reachable one with --image or %s", cs.Image, w.Reason, w.Message, ImageEnv)
			case "CreateContainerConfigError", "CreateContainerError", "RunContainerError":
				return fmt.Sprintf("container cannot start (%s: %s)", w.Reason, w.Message)
			}
		}
		if t := cs.State.Terminated; t != nil {
			return fmt.Sprintf("container exited (%s, code %d)", t.Reason, t.ExitCode)
		}
	}
	return ""
}

// LabelRun marks the pods of one Gather, so one watch sees them all;
// LabelBatch the batch of nodes whose pods are deleted together.
const (
	LabelRun   = "acknet.kubectl.io/run"
	LabelBatch = "acknet.kubectl.io/batch"
)

// ResultPodSpec is PodSpec for a pod that runs argv as its own command
// through the result wrapper (see result.go) and then ends.
func ResultPodSpec(namespace, image, purpose, node, suffix, run string, batch int, deadline time.Duration, argv []string) *corev1.Pod {
	p := PodSpec(namespace, image, purpose, node, suffix, deadline)
	p.Labels[LabelRun] = run
	p.Labels[LabelBatch] = strconv.Itoa(batch)
	c := &p.Spec.Containers[0]
	c.Command = append([]string{"/bin/sh", "-c", resultWrapper, "acknet-result"}, argv...)
	c.TerminationMessagePath = TerminationLog
	c.TerminationMessagePolicy = corev1.TerminationMessageReadFile
	c.Env = []corev1.EnvVar{
		{Name: ResultFileEnv, Value: TerminationLog},
		{Name: MessageLimitEnv, Value: strconv.Itoa(MessageLimit)},
	}
	return p
}
