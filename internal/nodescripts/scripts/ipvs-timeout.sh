# shellcheck shell=sh
# ipvs-timeout: the IPVS connection timeouts of the node (tcp, tcpfin, udp);
# with TCP, TCPFIN and UDP set, change them and report old and new.
#
# Environment:
#   TCP TCPFIN UDP  new timeouts in seconds (validated in Go); unset to read only
#   HOST_ROOT       prefix of host paths; empty when run chrooted into the host
# Output, one tab-separated record a line:
#   timeout  old|current|new  TCP  TCPFIN  UDP
# Exit 3: no ipvsadm; 4: no IPVS in use on the node (nothing read or set).
set -u
root="${HOST_ROOT:-}"
if ! command -v ipvsadm >/dev/null 2>&1; then
	echo "ipvsadm not found on the node; install it: yum install -y ipvsadm" >&2
	exit 3
fi
# ipvsadm loads ip_vs when it is missing; this script changes no module.
if [ ! -e "$root/proc/net/ip_vs" ]; then
	if modprobe -n ip_vs >/dev/null 2>&1; then
		echo "ip_vs is not loaded: IPVS is not in use on this node, so it has no IPVS timeouts (kube-proxy runs in iptables mode here?)" >&2
	else
		echo "the kernel has no IPVS (ip_vs is neither loaded nor available to modprobe): no IPVS timeouts to read or set, and kube-proxy cannot run in IPVS mode here" >&2
	fi
	exit 4
fi

read_timeouts() {
	# "Timeout (tcp tcpfin udp): 900 120 300"
	out="$(ipvsadm -L --timeout 2>&1)" || {
		echo "ipvsadm -L --timeout: $out" >&2
		return 1
	}
	printf '%s\n' "$out" | sed -n 's/^Timeout (tcp tcpfin udp): *\([0-9]*\) *\([0-9]*\) *\([0-9]*\).*/\1 \2 \3/p'
}

# KIND=old|current|new print_timeouts _ "TCP TCPFIN UDP"
print_timeouts() {
	# shellcheck disable=SC2086 # split the three numbers on purpose
	set -- $2
	printf 'timeout\t%s\t%s\t%s\t%s\n' "$KIND" "$1" "$2" "$3"
}

cur="$(read_timeouts)" || exit 1
[ -n "$cur" ] || {
	echo "cannot parse the output of ipvsadm -L --timeout" >&2
	exit 1
}
if [ -z "${TCP:-}" ]; then
	KIND=current print_timeouts x "$cur"
	exit 0
fi
KIND=old print_timeouts x "$cur"
ipvsadm --set "$TCP" "$TCPFIN" "$UDP" || exit 1
new="$(read_timeouts)" || exit 1
KIND=new print_timeouts x "$new"
