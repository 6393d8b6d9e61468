# shellcheck shell=sh
# flannel-scan: list host-local IPAM allocations of one CNI network and the
# sandboxes the container runtime knows, for the leak decision made in Go.
#
# Environment:
#   NETWORK    network name (directory under the IPAM data dirs), e.g. cb0
#   IPAM_DIRS  space-separated IPAM data dirs to scan, e.g.
#              "/var/lib/cni/networks /var/run/cni/networks"
#   HOST_ROOT  prefix of host paths; empty when run chrooted into the host
# Output, one tab-separated record a line:
#   now      EPOCH
#   dir      PATH  present|absent
#   alloc    DIR  IP  CONTAINER_ID  IFNAME  MTIME_EPOCH
#   runtime  NAME  ok|error  COUNT|MESSAGE
#   sandbox  ID
set -u
: "${NETWORK:?NETWORK is required}"
: "${IPAM_DIRS:?IPAM_DIRS is required}"
root="${HOST_ROOT:-}"
tab="$(printf '\t')"

printf 'now\t%s\n' "$(date +%s)"

for base in $IPAM_DIRS; do
	dir="$base/$NETWORK"
	if [ ! -d "$root$dir" ]; then
		printf 'dir\t%s\tabsent\n' "$dir"
		continue
	fi
	printf 'dir\t%s\tpresent\n' "$dir"
	for f in "$root$dir"/*; do
		[ -f "$f" ] || continue
		name="${f##*/}"
		case "$name" in
		lock | last_reserved_ip.*) continue ;;
		*[!0-9a-fA-F.:]*) continue ;; # not an IP address
		esac
		id=""
		ifname=""
		{ IFS= read -r id || [ -n "$id" ]; } <"$f"
		ifname="$(sed -n 2p "$f")"
		id="$(printf '%s' "$id" | tr -d "\r$tab")"
		ifname="$(printf '%s' "$ifname" | tr -d "\r$tab")"
		mtime="$(stat -c %Y "$f" 2>/dev/null || echo 0)"
		printf 'alloc\t%s\t%s\t%s\t%s\t%s\n' "$dir" "$name" "$id" "$ifname" "$mtime"
	done
done

# Sandboxes in every state: a NotReady sandbox still owns its IP.
list_sandboxes() {
	if command -v crictl >/dev/null 2>&1; then
		runtime=crictl
		out="$(crictl pods -q 2>&1)" || return 1
	elif command -v docker >/dev/null 2>&1; then
		runtime=docker
		out="$(docker ps -a -q --no-trunc --filter label=io.kubernetes.docker.type=podsandbox 2>&1)" || return 1
	else
		runtime=none
		out="neither crictl nor docker found on the node"
		return 1
	fi
	return 0
}

runtime=""
out=""
if list_sandboxes; then
	count=0
	for id in $out; do
		printf 'sandbox\t%s\n' "$id"
		count=$((count + 1))
	done
	printf 'runtime\t%s\tok\t%s\n' "$runtime" "$count"
else
	printf 'runtime\t%s\terror\t%s\n' "$runtime" "$(printf '%s' "$out" | tr '\t\n' '  ' | cut -c1-300)"
fi
