# shellcheck shell=sh
# listen: the TCP sockets of pods, read from the network namespace of each
# pod's sandbox process (/proc/PID/net/tcp and tcp6 in the host PID
# namespace), without adding anything to the pods.
#
# Arguments: pairs of NAMESPACE POD (validated in Go).
# Environment:
#   HOST_ROOT  prefix of host paths; empty when run chrooted into the host
# Output, one tab-separated record a line:
#   pod   NAMESPACE  POD  ok  PID     then its sockets:
#   sock  tcp|tcp6  LOCAL_ADDRESS:PORT_HEX  STATE_HEX
#   pod   NAMESPACE  POD  error  MESSAGE
set -u
root="${HOST_ROOT:-}"

sandbox_pid() {
	ns="$1"
	name="$2"
	if command -v crictl >/dev/null 2>&1; then
		# stdout only: crictl warns on stderr, which is no sandbox ID.
		set -- pods --label "io.kubernetes.pod.namespace=$ns" --label "io.kubernetes.pod.name=$name" --state ready -q
		id="$(crictl "$@" 2>/dev/null)" || {
			{ crictl "$@" >/dev/null; } 2>&1
			return 1
		}
		id="$(printf '%s\n' "$id" | head -n 1)"
		[ -n "$id" ] || {
			echo "no ready sandbox"
			return 1
		}
		set -- inspectp -o go-template --template '{{.info.pid}}' "$id"
		crictl "$@" 2>/dev/null || {
			{ crictl "$@" >/dev/null; } 2>&1
			return 1
		}
	elif command -v docker >/dev/null 2>&1; then
		set -- ps -q --filter "label=io.kubernetes.pod.namespace=$ns" --filter "label=io.kubernetes.pod.name=$name" --filter label=io.kubernetes.docker.type=podsandbox
		id="$(docker "$@" 2>/dev/null)" || {
			{ docker "$@" >/dev/null; } 2>&1
			return 1
		}
		id="$(printf '%s\n' "$id" | head -n 1)"
		[ -n "$id" ] || {
			echo "no running sandbox"
			return 1
		}
		docker inspect -f '{{.State.Pid}}' "$id" 2>/dev/null || {
			{ docker inspect -f "{{.State.Pid}}" "$id" >/dev/null; } 2>&1
			return 1
		}
	else
		echo "neither crictl nor docker found on the node"
		return 1
	fi
}

while [ $# -ge 2 ]; do
	ns="$1"
	name="$2"
	shift 2
	if ! pid="$(sandbox_pid "$ns" "$name")"; then
		printf 'pod\t%s\t%s\terror\t%s\n' "$ns" "$name" "$(printf '%s' "$pid" | tr '\t\n' '  ')"
		continue
	fi
	case "$pid" in
	'' | *[!0-9]*)
		printf 'pod\t%s\t%s\terror\tno sandbox process (%s)\n' "$ns" "$name" "$(printf '%s' "$pid" | tr '\t\n' '  ')"
		continue
		;;
	esac
	printf 'pod\t%s\t%s\tok\t%s\n' "$ns" "$name" "$pid"
	for fam in tcp tcp6; do
		f="$root/proc/$pid/net/$fam"
		[ -r "$f" ] || continue
		# Columns: sl local_address rem_address st ...; skip the header.
		awk -v fam="$fam" 'NR > 1 { printf "sock\t%s\t%s\t%s\n", fam, $2, $4 }' "$f"
	done
done
