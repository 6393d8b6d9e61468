package fix

import (
	appsv1 "k8s.io/api/apps/v1"

	"github.com/kubectl-acknet/kubectl-acknet/internal/checks"
	"github.com/kubectl-acknet/kubectl-acknet/internal/cluster"
	"github.com/kubectl-acknet/kubectl-acknet/internal/rollout"
)

// Readers returns the DaemonSets of dss that read ConfigMap cm, the ones a
// fix must restart: those that mount it, or else the one ACK runs for it
// (the network plugin's DaemonSet for its config, kube-proxy-worker/-master
// for theirs), as some ACK manifests reach their config by other means.
func Readers(dss []appsv1.DaemonSet, cm string) []string {
	if out := rollout.Consumers(dss, cm); len(out) > 0 {
		return out
	}
	plugin, ds, _ := checks.PluginDaemonSet(compact(dss))
	switch {
	case ds != nil && (cm == cluster.CMENIConfig && plugin == checks.PluginTerway || cm == cluster.CMFlannel && plugin == checks.PluginFlannel):
		return []string{ds.Name}
	case cm == cluster.CMKubeProxyWorker || cm == cluster.CMKubeProxyMaster:
		for _, d := range dss {
			if d.Name == cm {
				return []string{cm}
			}
		}
	}
	return nil
}

// FlannelVersion is the image version of the Flannel DaemonSet among dss,
// for the fixers that need it (NeedFlannelVersion); "" on a cluster without
// Flannel.
func FlannelVersion(dss []appsv1.DaemonSet) string {
	if plugin, _, version := checks.PluginDaemonSet(compact(dss)); plugin == checks.PluginFlannel {
		return version
	}
	return ""
}

func compact(dss []appsv1.DaemonSet) []cluster.DaemonSet {
	out := make([]cluster.DaemonSet, len(dss))
	for i := range dss {
		out[i] = cluster.CompactDaemonSet(&dss[i])
	}
	return out
}
