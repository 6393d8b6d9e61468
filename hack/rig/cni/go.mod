module github.com/kubectl-acknet/kubectl-acknet/hack/rig/cni

// Builds the pinned CNI plugins of the rig's real nodes: bridge, host-local,
// loopback, portmap and the flannel meta plugin, from the release of the
// containernetworking/plugins repository that still carried flannel (the
// plugin ACK's Flannel of the v0.15 line delegates through).

go 1.26.0

require github.com/containernetworking/plugins v0.9.1 // indirect
