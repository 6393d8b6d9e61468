package connectivity

import (
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/kubectl-acknet/kubectl-acknet/internal/nodeexec"
)

// Labels of the test objects. The namespace carries nodeexec's managed-by
// label, so `kubectl acknet cleanup` finds what a killed run left.
const (
	LabelPurpose = nodeexec.LabelPurpose
	Purpose      = "connectivity"
	LabelRole    = "acknet.kubectl.io/conn-role"
	LabelNode    = "acknet.kubectl.io/conn-node"
)

// PodName is the name of a test pod: the role and the node's index (the
// node's name is in its spec and in the report).
func PodName(r Role, node int) string {
	switch r {
	case RoleServer:
		return "srv-" + strconv.Itoa(node)
	case RoleHost:
		return "hostnet-" + strconv.Itoa(node)
	}
	return "client-" + strconv.Itoa(node)
}

// ServiceName is the Service (ClusterIP and NodePort) of the server on a node.
func ServiceName(node int) string { return "srv-" + strconv.Itoa(node) }

// HeadlessName is the headless Service of the server on a node: the client
// on the node looks it up and connects to the server beside it, so the path
// tests DNS and nothing across nodes.
func HeadlessName(node int) string { return "srv-" + strconv.Itoa(node) + "-headless" }

// Namespace is the run's own namespace. It allows privileged pods: the
// hostNetwork pods need it.
func Namespace(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
		nodeexec.LabelManagedBy: nodeexec.ManagedBy, LabelPurpose: Purpose,
		"pod-security.kubernetes.io/enforce": "privileged",
	}}}
}

// PodSpec builds a test pod. Every pod ends by itself after deadline (the
// backstop when the run is killed); the namespace's deletion ends it sooner.
func PodSpec(ns, image string, r Role, node int, nodeName string, hostPort int, deadline time.Duration) *corev1.Pod {
	secs := max(int64(deadline.Seconds()), 1)
	no := false
	grace := int64(0)
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: PodName(r, node), Namespace: ns, Labels: map[string]string{
			nodeexec.LabelManagedBy: nodeexec.ManagedBy, LabelPurpose: Purpose,
			LabelRole: string(r), LabelNode: strconv.Itoa(node),
		}},
		Spec: corev1.PodSpec{
			NodeName:                      nodeName,
			RestartPolicy:                 corev1.RestartPolicyNever,
			AutomountServiceAccountToken:  &no,
			EnableServiceLinks:            &no,
			ActiveDeadlineSeconds:         &secs,
			TerminationGracePeriodSeconds: &grace,
			Tolerations:                   []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
			Containers: []corev1.Container{{
				Name:            "test",
				Image:           image,
				ImagePullPolicy: corev1.PullIfNotPresent,
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("5m"), corev1.ResourceMemory: resource.MustParse("8Mi")},
					Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")},
				},
			}},
		},
	}
	c := &p.Spec.Containers[0]
	// httpd binds [::] and answers on both families; the page is the pod's name.
	serve := func(port int) []string {
		return []string{"sh", "-c", `mkdir -p /tmp/www && echo "$HOSTNAME" > /tmp/www/index.html && exec httpd -f -p ` + strconv.Itoa(port) + ` -h /tmp/www`}
	}
	switch r {
	case RoleServer:
		c.Command = serve(ServerPort)
		c.Ports = []corev1.ContainerPort{{ContainerPort: ServerPort}}
		c.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(ServerPort)}},
			PeriodSeconds: 1}
	case RoleHost:
		p.Spec.HostNetwork = true
		p.Spec.DNSPolicy = corev1.DNSClusterFirstWithHostNet
		c.Command = serve(hostPort)
		c.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt(hostPort)}},
			PeriodSeconds: 1}
	default:
		c.Command = []string{"sleep", strconv.FormatInt(secs, 10)}
	}
	return p
}

// Service is the ClusterIP and NodePort Service of the server on a node, in
// every family the cluster has.
func Service(ns string, node int, dual bool) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: ServiceName(node), Namespace: ns, Labels: map[string]string{
			nodeexec.LabelManagedBy: nodeexec.ManagedBy, LabelPurpose: Purpose}},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeNodePort,
			Selector: map[string]string{LabelRole: string(RoleServer), LabelNode: strconv.Itoa(node)},
			Ports:    []corev1.ServicePort{{Name: "http", Port: ServerPort, TargetPort: intstr.FromInt32(ServerPort)}},
		},
	}
	if dual {
		policy := corev1.IPFamilyPolicyPreferDualStack
		s.Spec.IPFamilyPolicy = &policy
	}
	return s
}

// HeadlessSvc is the headless Service of the server on a node.
func HeadlessSvc(ns string, node int, dual bool) *corev1.Service {
	s := Service(ns, node, dual)
	s.Name = HeadlessName(node)
	s.Spec.Type = corev1.ServiceTypeClusterIP
	s.Spec.ClusterIP = corev1.ClusterIPNone
	return s
}

// HeadlessFQDN is a headless Service's name in the cluster domain.
func HeadlessFQDN(ns string, node int, domain string) string {
	return fmt.Sprintf("%s.%s.svc.%s", HeadlessName(node), ns, domain)
}
