#!/usr/bin/env bash
# make bench: doctor and node fan-out on a simulated cluster, measured in one
# run against the raw LISTs of the same resources and against kubectl get.
# Two scales (10 % and 100 % of NODES/PODS); ROUNDS alternating rounds each;
# the node fan-out once per scale, before (exec) and now (the pod's own
# command); then doctor alone at 300 % (BIG=0 skips it). Fails if a debug
# pod is left behind. Prints a Markdown report on stdout; progress on
# stderr. Not part of make test.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ACKNET_RIG_DIR="$ROOT/.cache/rig/run/bench"
# The bench's nodes share one fake host root: hack/kwokrun runs each distinct
# script once for all of them (see there why).
export ACKNET_RIG_KWOKRUN_MEMO=1
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

# fresh_cluster NODES PODS: a new bench cluster loaded with the Terway
# scenario and NODES kwok nodes running PODS pods, and the variables that
# reach it.
fresh_cluster() {
	"$ROOT/hack/rig.sh" down >/dev/null 2>&1 || true
	"$ROOT/hack/rig.sh" up
	export KUBECONFIG="$ACKNET_RIG_DIR/kubeconfig"
	SERVER="$(sed -n 's/^ *server: //p' "$KUBECONFIG")"
	TOKEN="$(grep ',acknet-admin,' "$ACKNET_RIG_DIR/tokens.csv" | cut -d, -f1)"
	(cd "$ROOT" && go run ./hack/scenario load test/scenarios/terway-healthy && go run ./hack/benchload -nodes "$1" -pods "$2")
	log "waiting for kwok to run $2 pods"
	for _ in $(seq 1 900); do
		pending="$("$BIN/kubectl" get pods -A --field-selector=status.phase!=Running --no-headers 2>/dev/null | wc -l)"
		[[ "$pending" -le 0 ]] && break
		sleep 1
	done
}

# report_rows NODES PODS WHAT...: the medians of $OUT's rows.
report_rows() {
	local n="$1" p="$2" what wall rss req
	shift 2
	for what in "$@"; do
		wall="$(awk -v w="$what" '$1 == w {print $2}' "$OUT" | median)"
		rss="$(awk -v w="$what" '$1 == w {print $3}' "$OUT" | median)"
		req="$(awk -v w="$what" '$1 == w {print $4}' "$OUT" | median)"
		printf '| %d nodes / %d pods | %s | %s | %.0f | %s |\n' "$n" "$p" "$what" "$wall" "$(awk -v k="$rss" 'BEGIN {print k / 1024}')" "$req"
	done
}

# fanout LABEL ARGS...: one run of a node command over the bench nodes:
# wall time, peak RSS, API requests (and per node), debug pods left.
LEFT_TOTAL=0
FAILED=0
fanout() {
	local label="$1" t left req
	shift
	t="$(mktemp)"
	local code=0
	/usr/bin/time -f '%e %M' -o "$t" "$PLUGIN" "$@" --host-root "$fake" --request-stats >/dev/null 2>"$t.err" || code=$?
	left="$("$BIN/kubectl" get pods -A -l app.kubernetes.io/managed-by=kubectl-acknet --no-headers 2>/dev/null | wc -l)"
	LEFT_TOTAL=$((LEFT_TOTAL + left))
	req="$(sed -n 's/^api-requests: //p' "$t.err" | tail -n 1)"
	# Every node must have answered (doctor exits 2 on findings): a run
	# whose nodes failed measures nothing.
	if grep -q 'nodes failed\|no node could be examined' "$t.err" || ((code == 1)); then
		log "$label: nodes failed (exit $code):"
		grep -v '^api-requests' "$t.err" | head -n 5 >&2
		FAILED=1
	fi
	read -r wall rss < <(tail -n 1 "$t")
	printf '| %d nodes | %s | %s | %.0f | %s (%.2f per node; pods left: %s) |\n' "$n" "$label" "$wall" "$(awk -v k="$rss" 'BEGIN {print k / 1024}')" \
		"${req:--}" "$(awk -v r="${req:-0}" -v n="$n" 'BEGIN {print r / n}')" "$left"
	rm -f "$t" "$t.err"
}

median() { sort -n | awk '{a[NR]=$1} END {if (NR==0) print "-"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

echo "| scale | what | wall s (median of $ROUNDS) | peak RSS MB | API requests |"
echo "|---|---|---|---|---|"
for pct in 10 100; do
	n=$((NODES * pct / 100))
	p=$((PODS * pct / 100))
	fresh_cluster "$n" "$p"
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
	report_rows "$n" "$p" "${whats[@]}"
	rm -f "$OUT"

	# Node fan-out over every node: before, each node's script ran through
	# exec into a sleeping debug pod (get node, create, polling gets, exec,
	# delete) at the old defaults, --qps 50 and 10 nodes at once; now it runs
	# as the debug pod's own command (create, one watch for all, delete) at
	# the defaults. kwok's exec and hack/kwokrun run the script here, on a
	# fake host root.
	fake="$ROOT/.cache/bench-root"
	make_fake_root "$fake"
	fanout "conntrack, through exec (before: --qps 50, concurrency 10)" conntrack -l bench=true --via exec --qps 50 --burst 100 --concurrency 10
	fanout "conntrack, as the pod's command (now: defaults)" conntrack -l bench=true
	fanout "doctor --node-checks, as the pod's command" doctor --node-checks -l bench=true -o json
done

# doctor alone at three times the larger scale: its memory must stay flat
# (it aggregates while paging).
if [[ "${BIG:-1}" != 0 ]]; then
	n=$((NODES * 3))
	p=$((PODS * 3))
	fresh_cluster "$n" "$p"
	OUT="$(mktemp)"
	for r in $(seq 1 "$ROUNDS"); do
		log "scale $n nodes / $p pods, round $r"
		measure doctor "$PLUGIN" doctor -o json --request-stats
		measure raw bash -c "$(declare -f raw_lists); SERVER=$SERVER TOKEN=$TOKEN raw_lists"
	done
	report_rows "$n" "$p" doctor raw
	rm -f "$OUT"
fi
[[ "$LEFT_TOTAL" == 0 ]] || { log "debug pods left behind: $LEFT_TOTAL"; exit 1; }
[[ "$FAILED" == 0 ]] || { log "a fan-out run had failing nodes"; exit 1; }
