#!/usr/bin/env bash
# The control-plane part of `connectivity test` at scale: test pods and
# Services for K kwok nodes created, Ready with endpoints, and deleted with
# their namespace (hack/benchconn). kwok's pods have no network, so no
# traffic is sent. Prints a Markdown table. Not part of make test.
#
#   hack/bench-conn.sh [K...]    default: 10 25 100
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ACKNET_RIG_DIR="$ROOT/.cache/rig/run/bench-conn"
export ACKNET_RIG_CONTROLLERS="endpointslice-controller,namespace-controller,serviceaccount-controller"
trap '"$ROOT/hack/rig.sh" down >/dev/null 2>&1 || true' EXIT

echo "| nodes | test pods | paths | deploy and wait s | requests | delete s | requests |"
echo "|---|---|---|---|---|---|---|"
for k in "${@:-10 25 100}"; do
	for n in $k; do
		"$ROOT/hack/rig.sh" down >/dev/null 2>&1 || true
		"$ROOT/hack/rig.sh" up >/dev/null
		KUBECONFIG="$ACKNET_RIG_DIR/kubeconfig" go run "$ROOT/hack/benchconn" -nodes "$n"
	done
done
