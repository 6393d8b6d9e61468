# shellcheck shell=sh
# flannel-gc-apply: move leaked host-local IPAM files out of the network's
# directory, under the same lock host-local takes, re-checking each file.
#
# Environment:
#   NETWORK_DIR  the network's IPAM directory, e.g. /var/lib/cni/networks/cb0
#   BACKUP_DIR   where the files go; outside NETWORK_DIR, since host-local
#                walks its directory recursively
#   LOCK_TIMEOUT seconds to wait for the IPAM lock (default 30)
#   HOST_ROOT    prefix of host paths; empty when run chrooted into the host
# Arguments: pairs of IP CONTAINER_ID, as decided by the plan.
# Output, one tab-separated record a line:
#   moved  IP  CONTAINER_ID  BACKUP_PATH
#   kept   IP  REASON
set -u
: "${NETWORK_DIR:?NETWORK_DIR is required}"
: "${BACKUP_DIR:?BACKUP_DIR is required}"
root="${HOST_ROOT:-}"
lock_timeout="${LOCK_TIMEOUT:-30}"
dir="$root$NETWORK_DIR"
backup="$root$BACKUP_DIR"

if [ $(($# % 2)) -ne 0 ]; then
	echo "flannel-gc-apply: arguments must be IP CONTAINER_ID pairs" >&2
	exit 2
fi
if [ ! -d "$dir" ]; then
	echo "flannel-gc-apply: $NETWORK_DIR does not exist" >&2
	exit 1
fi
case "$backup/" in
"$dir"/*)
	echo "flannel-gc-apply: BACKUP_DIR must be outside NETWORK_DIR" >&2
	exit 2
	;;
esac
if ! command -v flock >/dev/null 2>&1; then
	echo "flannel-gc-apply: flock not found on the node; refusing to move files without the IPAM lock" >&2
	exit 1
fi

# host-local serialises allocations with flock on this file; hold it so no
# allocation or release runs while files move.
exec 9>>"$dir/lock" || exit 1
if ! flock -x -w "$lock_timeout" 9; then
	echo "flannel-gc-apply: another process holds the IPAM lock $NETWORK_DIR/lock; gave up after ${lock_timeout}s, nothing moved" >&2
	exit 1
fi
mkdir -p "$backup" || exit 1

while [ $# -ge 2 ]; do
	ip="$1"
	want="$2"
	shift 2
	f="$dir/$ip"
	if [ ! -f "$f" ]; then
		printf 'kept\t%s\tfile is gone\n' "$ip"
		continue
	fi
	id=""
	{ IFS= read -r id || [ -n "$id" ]; } <"$f"
	id="$(printf '%s' "$id" | tr -d '\r')"
	if [ "$id" != "$want" ]; then
		printf 'kept\t%s\tnow names container %s\n' "$ip" "$id"
		continue
	fi
	if mv "$f" "$backup/$ip"; then
		printf 'moved\t%s\t%s\t%s\n' "$ip" "$want" "$BACKUP_DIR/$ip"
	else
		printf 'kept\t%s\tmove failed\n' "$ip"
	fi
done
