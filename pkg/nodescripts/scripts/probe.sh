# shellcheck shell=sh
# probe: dial TCP targets and say, for each, whether it accepted, refused or
# timed out. Runs with the debug pod's own busybox nc.
#
# Arguments: pairs of ADDRESS PORT (validated in Go).
# Environment:
#   TIMEOUT  connect timeout in seconds
# Output, one tab-separated record a line:
#   target  ADDRESS  PORT  reachable|refused|timeout|error  MESSAGE
set -u
timeout="${TIMEOUT:-3}"
while [ $# -ge 2 ]; do
	addr="$1"
	port="$2"
	shift 2
	if out="$(nc -w "$timeout" "$addr" "$port" -e true </dev/null 2>&1)"; then
		printf 'target\t%s\t%s\treachable\t\n' "$addr" "$port"
		continue
	fi
	msg="$(printf '%s' "$out" | tr '\t\n' '  ' | cut -c1-200)"
	case "$out" in
	*refused*) result=refused ;;
	*"timed out"* | *timeout*) result=timeout ;;
	*) result=error ;;
	esac
	printf 'target\t%s\t%s\t%s\t%s\n' "$addr" "$port" "$result" "$msg"
done
