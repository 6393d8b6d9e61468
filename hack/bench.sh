#!/usr/bin/env bash
# make bench: doctor and node fan-out on a simulated cluster, measured in one
# run against the raw LISTs of the same resources and against kubectl get.
# Two scales (10 % and 100 % of NODES/PODS); ROUNDS alternating rounds each.
# Prints a Markdown report on stdout; progress on stderr. Not part of make test.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ACKNET_RIG_DIR="$ROOT/.cache/rig/run/bench"
BIN="${ACKNET_RIG_BIN:-$ROOT/.cache/rig/bin}"
NODES="${NODES:-1000}"
PODS="${PODS:-30000}"
ROUNDS="${ROUNDS:-3}"
# COMPARE: another kubectl-acknet build (an earlier commit's) measured beside
# this one, to show what a change did.
COMPARE="${COMPARE:-}"
# shellcheck source=hack/lib/fakeroot.sh
source "$ROOT/hack/lib/fakeroot.sh"

log() { echo "bench: $*" >&2; }
[[ -x /usr/bin/time ]] || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
(cd "$ROOT" && make -s build)
PLUGIN="$ROOT/bin/kubectl-acknet"
trap '"$ROOT/hack/rig.sh" down >/dev/null 2>&1 || true' EXIT

# measure NAME CMD...: runs CMD, appends "NAME wall_s maxrss_kb requests" to $OUT.
measure() {
	local name="$1" t
	shift
	t="$(mktemp)"
	/usr/bin/time -f '%e %M' -o "$t" "$@" >/dev/null 2>"$t.err" || true
	local req
	req="$(sed -n 's/^api-requests: //p' "$t.err" | tail -n 1)"
	# time prints "Command exited with non-zero status N" first when CMD
	# fails (ipv6 verify exits 2 on findings): the numbers are the last line.
	echo "$name $(tail -n 1 "$t") ${req:--}" >>"$OUT"
	rm -f "$t" "$t.err"
}

raw_lists() {
	local q=(-sk -o /dev/null -H "Authorization: Bearer $TOKEN")
	for path in /version /api/v1/nodes /api/v1/pods /api/v1/services /apis/apps/v1/daemonsets \
		"/api/v1/events?fieldSelector=type%3DWarning" \
		/api/v1/namespaces/kube-system/configmaps/eni-config /api/v1/namespaces/kube-system/configmaps/kube-flannel-cfg \
		/api/v1/namespaces/kube-system/configmaps/kube-proxy-worker /api/v1/namespaces/kube-system/configmaps/kube-proxy-master \
		/api/v1/namespaces/kube-system/configmaps/coredns; do
		curl "${q[@]}" "$SERVER$path"
	done
}

kubectl_get() {
	"$BIN/kubectl" get nodes,pods,services,daemonsets -A -o json >/dev/null
	"$BIN/kubectl" get events -A --field-selector type=Warning -o json >/dev/null
}

median() { sort -n | awk '{a[NR]=$1} END {if (NR==0) print "-"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

echo "| scale | what | wall s (median of $ROUNDS) | peak RSS MB | API requests |"
echo "|---|---|---|---|---|"
for pct in 10 100; do
	n=$((NODES * pct / 100))
	p=$((PODS * pct / 100))
	"$ROOT/hack/rig.sh" down >/dev/null 2>&1 || true
	"$ROOT/hack/rig.sh" up
	export KUBECONFIG="$ACKNET_RIG_DIR/kubeconfig"
	SERVER="$(sed -n 's/^ *server: //p' "$KUBECONFIG")"
	TOKEN="$(grep ',acknet-admin,' "$ACKNET_RIG_DIR/tokens.csv" | cut -d, -f1)"
	(cd "$ROOT" && go run ./hack/scenario load test/scenarios/terway-healthy && go run ./hack/benchload -nodes "$n" -pods "$p")
	log "waiting for kwok to run $p pods"
	for _ in $(seq 1 600); do
		pending="$("$BIN/kubectl" get pods -A --field-selector=status.phase!=Running --no-headers 2>/dev/null | wc -l)"
		[[ "$pending" -le 0 ]] && break
		sleep 1
	done
	OUT="$(mktemp)"
	for r in $(seq 1 "$ROUNDS"); do
		log "scale $n nodes / $p pods, round $r"
		measure doctor "$PLUGIN" doctor -o json --request-stats
		measure ipv6-verify-A "$PLUGIN" ipv6 verify -A -o json --request-stats
		if [[ -n "$COMPARE" ]]; then
			measure doctor@compare "$COMPARE" doctor -o json --request-stats
			measure ipv6-verify-A@compare "$COMPARE" ipv6 verify -A -o json --request-stats
		fi
		measure raw bash -c "$(declare -f raw_lists); SERVER=$SERVER TOKEN=$TOKEN raw_lists"
		measure kubectl bash -c "$(declare -f kubectl_get); BIN=$BIN kubectl_get"
	done
	whats=(doctor ipv6-verify-A raw kubectl)
	[[ -z "$COMPARE" ]] || whats+=(doctor@compare ipv6-verify-A@compare)
	for what in "${whats[@]}"; do
		wall="$(awk -v w="$what" '$1 == w {print $2}' "$OUT" | median)"
		rss="$(awk -v w="$what" '$1 == w {print $3}' "$OUT" | median)"
		req="$(awk -v w="$what" '$1 == w {print $4}' "$OUT" | median)"
		printf '| %d nodes / %d pods | %s | %s | %.0f | %s |\n' "$n" "$p" "$what" "$wall" "$(awk -v k="$rss" 'BEGIN {print k / 1024}')" "$req"
	done
	rm -f "$OUT"

	# Node fan-out: one debug pod per node through kwok's exec.
	fake="$ROOT/.cache/bench-root"
	make_fake_root "$fake"
	start=$(date +%s.%N)
	"$PLUGIN" conntrack -l bench=true --host-root "$fake" --request-stats >/dev/null 2>"$fake.err" || true
	end=$(date +%s.%N)
	left="$("$BIN/kubectl" get pods -A -l app.kubernetes.io/managed-by=kubectl-acknet --no-headers 2>/dev/null | wc -l)"
	printf '| %d nodes / %d pods | conntrack -l bench=true (fan-out, concurrency 10) | %.1f | - | %s (pods left: %s) |\n' \
		"$n" "$p" "$(awk -v a="$start" -v b="$end" 'BEGIN {print b - a}')" "$(sed -n 's/^api-requests: //p' "$fake.err")" "$left"
done
