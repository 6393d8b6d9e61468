#!/usr/bin/env bash
# Measures `kubectl acknet fix --restart` pod by pod on many kwok nodes: a
# rig that runs the DaemonSet controller and the scheduler, NODES nodes, a
# kube-proxy-worker DaemonSet (OnDelete) on them, then one fix with
# --restart --max-unavailable MAXU, timed, with the API request count.
#
#   hack/bench-restart.sh [NODES] [MAXU]     (defaults 200 and 20)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NODES="${1:-200}"
MAXU="${2:-20}"
export ACKNET_RIG_DIR="$ROOT/.cache/rig/run/bench-restart" ACKNET_RIG_CONTROLLERS=daemonset
trap '"$ROOT/hack/rig.sh" down >/dev/null 2>&1 || true' EXIT
"$ROOT/hack/rig.sh" up
export KUBECONFIG="$ACKNET_RIG_DIR/kubeconfig"
kubectl() { "$ROOT/.cache/rig/bin/kubectl" "$@"; }
(cd "$ROOT" && go build -o "$ACKNET_RIG_DIR/kubectl-acknet" ./cmd/kubectl-acknet)

for i in $(seq 0 $((NODES - 1))); do
	cat <<-EOT
		---
		apiVersion: v1
		kind: Node
		metadata:
		  name: bench-$i
		  annotations: {kwok.x-k8s.io/node: fake}
		  labels: {type: kwok}
	EOT
done | kubectl apply -f - >/dev/null
# kube-proxy-worker and kube-proxy-master as the flannel-broken scenario has them.
kubectl apply -f "$ROOT/test/scenarios/flannel-broken/20-kube-proxy.yaml" >/dev/null 2>&1 || true
cat <<-EOT | kubectl apply -f - >/dev/null
	apiVersion: apps/v1
	kind: DaemonSet
	metadata: {name: kube-proxy-worker, namespace: kube-system}
	spec:
	  selector: {matchLabels: {k8s-app: kube-proxy-worker}}
	  updateStrategy: {type: OnDelete}
	  template:
	    metadata: {labels: {k8s-app: kube-proxy-worker}}
	    spec:
	      nodeSelector: {type: kwok}
	      tolerations: [{operator: Exists}]
	      containers: [{name: kube-proxy-worker, image: kube-proxy:bench}]
	      volumes: [{name: kube-proxy, configMap: {name: kube-proxy-worker}}]
EOT
echo "waiting for $NODES Ready pods" >&2
for _ in $(seq 1 240); do
	ready="$(kubectl -n kube-system get ds kube-proxy-worker -o jsonpath='{.status.numberReady}')"
	[[ "$ready" == "$NODES" ]] && break
	sleep 0.5
done
[[ "$ready" == "$NODES" ]] || { echo "only $ready of $NODES pods Ready" >&2; exit 1; }

start=$(date +%s.%N)
"$ACKNET_RIG_DIR/kubectl-acknet" fix kubeproxy.ipvs-udp-timeout --apply --yes --restart --max-unavailable "$MAXU" --request-stats \
	>"$ACKNET_RIG_DIR/restart.out" 2>"$ACKNET_RIG_DIR/restart.err"
end=$(date +%s.%N)
tail -n 1 "$ACKNET_RIG_DIR/restart.out"
grep api-requests "$ACKNET_RIG_DIR/restart.err"
printf 'nodes %s max-unavailable %s wall %.1fs\n' "$NODES" "$MAXU" "$(echo "$end - $start" | bc)"
