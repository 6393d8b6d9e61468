#!/usr/bin/env bash
# Builds the pinned binaries of the local test cluster (etcd, kube-apiserver,
# kubectl, kube-controller-manager, kube-scheduler, kwok) once into a git-ignored cache, plus kwok's node and pod
# Stage manifests (kwok ships none by default). Re-running is cheap: a binary whose
# stamp matches the pinned version is not rebuilt.
#
# With --nodes it also builds what the rig's real nodes run: kubelet and
# kube-proxy (same Kubernetes), containerd with its runc shim, ctr and
# crictl, the CNI plugins (bridge, host-local, loopback, portmap, flannel),
# CoreDNS,
# the rig's own helpers (rignet, rigimage, pause) and the node images
# (hack/build-images.sh). runc is built with cgo against Debian's
# libseccomp; iptables, ipset, ipvsadm and conntrack come from Debian packages.
# Why these: kubelet is the rig's Kubernetes (1.37), which learns the cgroup
# driver from the CRI RuntimeConfig call that only containerd 2.x answers
# (with 1.x it depends on a deprecated fallback), so containerd is v2.4.2
# from the module proxy rather than Debian's 1.6; Debian's runc 1.1.5 cannot start
# containerd 2.4's containers here ("can't get final child's PID from pipe"),
# runc 1.5.3 can; the CNI plugins are v0.9.1, the last release that carried
# the flannel plugin ACK's Flannel v0.15 delegates through.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${ACKNET_RIG_BIN:-$ROOT/.cache/rig/bin}"
ETCD_VERSION="v3.7.3"
KUBE_VERSION="v1.37.2"
KWOK_VERSION="v0.8.0"
CONTAINERD_VERSION="v2.4.2"
CRICTL_VERSION="v1.37.0"
RUNC_VERSION="v1.5.3"
COREDNS_VERSION="v1.14.7"
CNI_PLUGINS_VERSION="v0.9.1"
mkdir -p "$BIN"

# build NAME VERSION MODULE_DIR PACKAGE [LDFLAGS]
build() {
	local name="$1" version="$2" dir="$3" pkg="$4" ldflags="${5:-}"
	local stamp
	stamp="$(dirname "$BIN/$name")/.$(basename "$name").version"
	if [[ -x "$BIN/$name" && -f "$stamp" && "$(cat "$stamp")" == "$version" ]]; then
		return 0
	fi
	echo "building $name $version (first build takes minutes)" >&2
	local start=$SECONDS
	mkdir -p "$(dirname "$BIN/$name")"
	(cd "$dir" && CGO_ENABLED="${CGO:-0}" go build -trimpath ${BUILD_TAGS:+-tags "$BUILD_TAGS"} -ldflags "$ldflags" -o "$BIN/$name.tmp" "$pkg")
	mv "$BIN/$name.tmp" "$BIN/$name"
	echo "$version" >"$stamp"
	echo "built $name in $((SECONDS - start))s" >&2
}

kube_ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=37 -X k8s.io/client-go/pkg/version.gitVersion=$KUBE_VERSION"

build etcd "$ETCD_VERSION" "$ROOT/hack/rig/etcd" go.etcd.io/etcd/server/v3 "-s -w"
build kube-apiserver "$KUBE_VERSION" "$ROOT/hack/rig/kube" k8s.io/kubernetes/cmd/kube-apiserver "$kube_ldflags"
build kubectl "$KUBE_VERSION" "$ROOT/hack/rig/kube" k8s.io/kubernetes/cmd/kubectl "$kube_ldflags"
# The controller manager and scheduler run only in rigs that ask for them
# (ACKNET_RIG_CONTROLLERS): DaemonSet rollouts need both.
build kube-controller-manager "$KUBE_VERSION" "$ROOT/hack/rig/kube" k8s.io/kubernetes/cmd/kube-controller-manager "$kube_ldflags"
build kube-scheduler "$KUBE_VERSION" "$ROOT/hack/rig/kube" k8s.io/kubernetes/cmd/kube-scheduler "$kube_ldflags"
build kwok "$KWOK_VERSION" "$ROOT/hack/rig/kwok" sigs.k8s.io/kwok/cmd/kwok "-s -w"
# kwok's stand-in kubelet for the plugin's result pods, rebuilt when its
# source changes.
build kwokrun "src-$(cat "$ROOT/hack/kwokrun"/*.go | sha256sum | cut -c1-16)" "$ROOT" ./hack/kwokrun "-s -w"

if [[ "${1:-}" == "--nodes" ]]; then
	build node/kubelet "$KUBE_VERSION" "$ROOT/hack/rig/kube" k8s.io/kubernetes/cmd/kubelet "$kube_ldflags"
	build kube-proxy "$KUBE_VERSION" "$ROOT/hack/rig/kube" k8s.io/kubernetes/cmd/kube-proxy "$kube_ldflags"
	# Static, without the snapshotters that need cgo (the nodes use overlayfs).
	BUILD_TAGS=no_btrfs,no_devmapper,no_zfs build node/containerd "$CONTAINERD_VERSION" "$ROOT/hack/rig/node" github.com/containerd/containerd/v2/cmd/containerd "-s -w"
	BUILD_TAGS=no_btrfs,no_devmapper,no_zfs build node/containerd-shim-runc-v2 "$CONTAINERD_VERSION" "$ROOT/hack/rig/node" github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2 "-s -w"
	BUILD_TAGS=no_btrfs,no_devmapper,no_zfs build node/ctr "$CONTAINERD_VERSION" "$ROOT/hack/rig/node" github.com/containerd/containerd/v2/cmd/ctr "-s -w"
	# runc needs cgo (its nsexec is C) and libseccomp; Debian's runc 1.1 cannot
	# start containerd 2.x's containers.
	CGO=1 BUILD_TAGS=seccomp build node/runc "$RUNC_VERSION" "$ROOT/hack/rig/node" github.com/opencontainers/runc "-s -w"
	build node/crictl "$CRICTL_VERSION" "$ROOT/hack/rig/node" sigs.k8s.io/cri-tools/cmd/crictl "-s -w"
	for p in main/bridge ipam/host-local main/loopback meta/portmap meta/flannel; do
		build "cni/${p#*/}" "$CNI_PLUGINS_VERSION" "$ROOT/hack/rig/cni" "github.com/containernetworking/plugins/plugins/$p" "-s -w"
	done
	build coredns "$COREDNS_VERSION" "$ROOT/hack/rig/coredns" github.com/coredns/coredns "-s -w"
	# The rig's own helpers, rebuilt when their source changes.
	for t in rignet rigimage pause; do
		build "$t" "src-$(cat "$ROOT/hack/$t"/*.go | sha256sum | cut -c1-16)" "$ROOT" "./hack/$t" "-s -w"
	done
	"$ROOT/hack/build-images.sh"
fi

# Node and pod Stages that make kwok-managed nodes Ready and their pods
# Running at once, taken from the pinned kwok module. One addition: a pod
# annotated acknet.test/never-ready stays Pending, so tests can show what
# happens when a restarted agent never comes back.
stages="$BIN/kwok-stages.yaml"
stages_version="$KWOK_VERSION+never-ready"
if [[ ! -s "$stages" || "$(cat "$BIN/.kwok-stages.version" 2>/dev/null)" != "$stages_version" ]]; then
	kwok_dir="$(cd "$ROOT/hack/rig/kwok" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)"
	for f in "$kwok_dir"/kustomize/stage/node/fast/node-initialize.yaml "$kwok_dir"/kustomize/stage/pod/fast/pod-*.yaml; do
		echo "---"
		cat "$f"
	done | awk '
		/^  name: pod-ready$/ { ready = 1 }
		{ print }
		ready && /^    matchExpressions:$/ {
			print "    - key: '"'"'.metadata.annotations[\"acknet.test/never-ready\"]'"'"'"
			print "      operator: '"'"'DoesNotExist'"'"'"
			ready = 0
		}' >"$stages.tmp"
	grep -q 'acknet.test/never-ready' "$stages.tmp" || { echo "build-rig: pod-ready stage not found in kwok $KWOK_VERSION" >&2; exit 1; }
	mv "$stages.tmp" "$stages"
	echo "$stages_version" >"$BIN/.kwok-stages.version"
fi
