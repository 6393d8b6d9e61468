# shellcheck shell=sh
# probe: dial TCP targets and say, for each, whether it accepted, refused or
# timed out. Runs with the debug pod's own busybox nc.
#
# Arguments: pairs of ADDRESS PORT (validated in Go).
# Environment:
#   TIMEOUT   connect timeout in seconds
#   ATTEMPTS  tries, a second apart, before a target counts as unreachable
#             (default 1): a Service just created may not be programmed yet
# Output, one tab-separated record a line:
#   target  ADDRESS  PORT  reachable|refused|timeout|error  MESSAGE
set -u
timeout="${TIMEOUT:-3}"
attempts="${ATTEMPTS:-1}"
# probe ADDRESS PORT: one target, tried up to ATTEMPTS times; one line out.
probe() {
	addr="$1"
	port="$2"
	try=0
	while [ "$try" -lt "$attempts" ]; do
		try=$((try + 1))
		if out="$(nc -w "$timeout" "$addr" "$port" -e true </dev/null 2>&1)"; then
			printf 'target\t%s\t%s\treachable\t\n' "$addr" "$port"
			return 0
		fi
		[ "$try" -lt "$attempts" ] && sleep 1
	done
	msg="$(printf '%s' "$out" | tr '\t\n' '  ' | cut -c1-200)"
	case "$out" in
	*refused*) result=refused ;;
	*"timed out"* | *timeout*) result=timeout ;;
	*) result=error ;;
	esac
	printf 'target\t%s\t%s\t%s\t%s\n' "$addr" "$port" "$result" "$msg"
}

# Every target at once: a broken path costs its timeouts once, not once per
# target. Each writes one short line, so lines do not mix; their order is
# not kept.
while [ $# -ge 2 ]; do
	probe "$1" "$2" &
	shift 2
done
wait
