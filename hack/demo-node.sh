#!/usr/bin/env bash
# Adds a kwok-simulated node to the local cluster (hack/rig.sh up) and builds
# a fake host root for it, so the node commands can be tried without an ACK
# node: kwok runs each debug pod's exec on this machine, and the scripts
# chroot into the fake root (pass --host-root, printed below) exactly as they
# chroot into /host on a real node. Needs root and busybox-static.
#
#   hack/demo-node.sh [NODE]    default NODE: demo-node-0
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${ACKNET_RIG_DIR:-$ROOT/.cache/rig/run/default}"
KUBECTL="${ACKNET_RIG_BIN:-$ROOT/.cache/rig/bin}/kubectl --kubeconfig $DIR/kubeconfig"
NODE="${1:-demo-node-0}"
FAKE="$ROOT/.cache/demo-roots/$NODE"

# shellcheck source=hack/lib/fakeroot.sh
source "$ROOT/hack/lib/fakeroot.sh"
[[ "$(id -u)" == 0 ]] || {
	echo "demo-node: must run as root (it chroots and creates /dev/null in the fake root)" >&2
	exit 1
}

$KUBECTL apply -f - >/dev/null <<EOT
apiVersion: v1
kind: Node
metadata:
  name: $NODE
  annotations: {kwok.x-k8s.io/node: fake}
spec:
  podCIDR: 10.244.9.0/24
---
apiVersion: v1
kind: Pod
metadata: {name: web-$NODE, namespace: default}
spec:
  nodeName: $NODE
  containers: [{name: web, image: registry.example.com/web:1}]
EOT
$KUBECTL wait --for=condition=Ready "pod/web-$NODE" --timeout=30s >/dev/null
pod_ip="$($KUBECTL get pod "web-$NODE" -o jsonpath='{.status.podIP}')"

make_fake_root "$FAKE"
mkdir -p "$FAKE/var/lib/cni/networks/cb0"
# Stub tools: crictl knows one live sandbox; Debian's busybox has no flock.
live=5e1f0c2b9a7d4e3f8a6b1c0d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f
printf '#!/bin/sh\necho %s\n' "$live" >"$FAKE/usr/bin/crictl"
printf '#!/bin/sh\nexit 0\n' >"$FAKE/usr/bin/flock"
# shellcheck disable=SC2016 # the stub's own variables, expanded when it runs
printf '#!/bin/sh\nf=/var/ipvs-timeouts\ncase "$1" in\n-L) echo "Timeout (tcp tcpfin udp): $(cat $f)" ;;\n--set) echo "$2 $3 $4" >$f ;;\nesac\n' >"$FAKE/usr/bin/ipvsadm"
chmod +x "$FAKE/usr/bin/"*
echo "900 120 300" >"$FAKE/var/ipvs-timeouts"
echo 53870 >"$FAKE/proc/sys/net/netfilter/nf_conntrack_count"
echo 65536 >"$FAKE/proc/sys/net/netfilter/nf_conntrack_max"
printf 'ip_vs 180224 6 - Live 0x0\nnf_conntrack 172032 5 ip_vs, Live 0x0\n' >"$FAKE/proc/modules"
net="$FAKE/var/lib/cni/networks/cb0"
printf '%s\r\neth0' "$live" >"$net/10.244.9.202"
printf '%s\r\neth0' c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00 >"$net/$pod_ip"
for i in 31 32 33; do
	printf 'dead%060d\r\neth0' "$i" >"$net/10.244.9.$i"
done
touch -d '3 hours ago' "$net"/*
: >"$net/lock"

echo "node $NODE is up (pod web-$NODE holds $pod_ip); try:"
echo "  kubectl acknet flannel gc --node $NODE --host-root $FAKE"
echo "  kubectl acknet doctor --node-checks --node $NODE --host-root $FAKE"
