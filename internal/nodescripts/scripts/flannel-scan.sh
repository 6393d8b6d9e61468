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
#   alloc    DIR  IP  CONTAINER_ID  IFNAME  MTIME_EPOCH|-   (- when stat failed)
#   fs       BASE  FSTYPE|-      filesystem under an IPAM dir base (its nearest
#                                existing ancestor), tmpfs being cleared at boot
#   cniconf  PATH  BASE64|-      the node's Flannel CNI config file, as the
#                                kubelet reads it (JSON, decoded in Go); -
#                                when it could not be encoded
#   runtime  NAME  ok|error  COUNT|MESSAGE
#   sandbox  ID
# Only the runtime's stdout is data: crictl warns on stderr (for example
# when /etc/crictl.yaml is missing), and those words are no sandbox IDs.
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
		# An unknown age must never read as "old enough to release".
		mtime="$(stat -c %Y "$f" 2>/dev/null)" || mtime=-
		case "$mtime" in '' | *[!0-9]*) mtime=- ;; esac
		printf 'alloc\t%s\t%s\t%s\t%s\t%s\n' "$dir" "$name" "$id" "$ifname" "$mtime"
	done
done

# Where IPAM state lives: tmpfs is cleared at reboot, a disk is not.
for base in $IPAM_DIRS; do
	# Only absolute paths (Go checks this too): walking a relative one up
	# by its slashes would never end.
	case "$base" in
	/*) ;;
	*)
		printf 'fs\t%s\t-\n' "$base"
		continue
		;;
	esac
	d="$base"
	while [ ! -e "$root$d" ] && [ "$d" != / ]; do
		d="${d%/*}"
		[ -n "$d" ] || d=/
	done
	fs="$(stat -f -c %T "$root$d" 2>/dev/null)" || fs=-
	printf 'fs\t%s\t%s\n' "$base" "$(printf '%s' "${fs:--}" | tr -d "\r\n$tab")"
done

# The CNI config the kubelet reads on this node: after a change of
# kube-flannel-cfg it is rewritten only when the flannel pod restarts.
# The kubelet's runtime reads .conf, .conflist and .json there; a .bak is none.
for f in "$root"/etc/cni/net.d/*flannel*.conf "$root"/etc/cni/net.d/*flannel*.conflist "$root"/etc/cni/net.d/*flannel*.json; do
	[ -f "$f" ] || continue
	b64=-
	if command -v base64 >/dev/null 2>&1; then
		b64="$(base64 <"$f" | tr -d '\n')"
	fi
	printf 'cniconf\t%s\t%s\n' "${f#"$root"}" "${b64:--}"
done

# Sandboxes in every state: a NotReady sandbox still owns its IP. On
# failure the listing is run again for its stderr, the error message.
list_sandboxes() {
	if command -v crictl >/dev/null 2>&1; then
		runtime=crictl
		out="$(crictl pods -q 2>/dev/null)" || {
			out="$(crictl pods -q 2>&1 >/dev/null)"
			return 1
		}
	elif command -v docker >/dev/null 2>&1; then
		runtime=docker
		set -- ps -a -q --no-trunc --filter label=io.kubernetes.docker.type=podsandbox
		out="$(docker "$@" 2>/dev/null)" || {
			out="$(docker "$@" 2>&1 >/dev/null)"
			return 1
		}
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
	bad=""
	for id in $out; do
		case "$id" in
		*[!0-9a-f]*) bad="$id" ;;
		*) count=$((count + 1)) ;;
		esac
	done
	if [ -n "$bad" ]; then
		# Not an ID: the listing is not what it seems, so it proves nothing.
		printf 'runtime\t%s\terror\tunexpected word in the sandbox listing: %s\n' "$runtime" "$(printf '%s' "$bad" | cut -c1-80)"
	else
		for id in $out; do
			printf 'sandbox\t%s\n' "$id"
		done
		printf 'runtime\t%s\tok\t%s\n' "$runtime" "$count"
	fi
else
	printf 'runtime\t%s\terror\t%s\n' "$runtime" "$(printf '%s' "$out" | tr '\t\n' '  ' | cut -c1-300)"
fi
