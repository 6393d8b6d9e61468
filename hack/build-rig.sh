#!/usr/bin/env bash
# Builds the pinned binaries of the local test cluster (etcd, kube-apiserver,
# kubectl) once into a git-ignored cache. Re-running is cheap: a binary whose
# stamp matches the pinned version is not rebuilt.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${ACKNET_RIG_BIN:-$ROOT/.cache/rig/bin}"
ETCD_VERSION="v3.7.3"
KUBE_VERSION="v1.37.2"
mkdir -p "$BIN"

# build NAME VERSION MODULE_DIR PACKAGE [LDFLAGS]
build() {
	local name="$1" version="$2" dir="$3" pkg="$4" ldflags="${5:-}"
	local stamp="$BIN/.$name.version"
	if [[ -x "$BIN/$name" && -f "$stamp" && "$(cat "$stamp")" == "$version" ]]; then
		return 0
	fi
	echo "building $name $version (first build takes minutes)" >&2
	local start=$SECONDS
	(cd "$dir" && CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$BIN/$name.tmp" "$pkg")
	mv "$BIN/$name.tmp" "$BIN/$name"
	echo "$version" >"$stamp"
	echo "built $name in $((SECONDS - start))s" >&2
}

kube_ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=37 -X k8s.io/client-go/pkg/version.gitVersion=$KUBE_VERSION"

build etcd "$ETCD_VERSION" "$ROOT/hack/rig/etcd" go.etcd.io/etcd/server/v3 "-s -w"
build kube-apiserver "$KUBE_VERSION" "$ROOT/hack/rig/kube" k8s.io/kubernetes/cmd/kube-apiserver "$kube_ldflags"
build kubectl "$KUBE_VERSION" "$ROOT/hack/rig/kube" k8s.io/kubernetes/cmd/kubectl "$kube_ldflags"
