# shellcheck shell=sh
# conntrack: connection tracking usage of the node, streamed (the table can
# hold millions of entries), and the last "table full" kernel message.
#
# Environment:
#   HOST_ROOT  prefix of host paths; empty when run chrooted into the host
# Output, one tab-separated record a line:
#   count    N
#   max      N
#   buckets  N
#   proto    NAME  N
#   tablefull  MESSAGE     (only when the kernel log has one)
set -u
root="${HOST_ROOT:-}"
nf="$root/proc/sys/net/netfilter"
if [ ! -r "$nf/nf_conntrack_count" ]; then
	echo "conntrack: $nf/nf_conntrack_count not readable: is nf_conntrack loaded?" >&2
	exit 1
fi
printf 'count\t%s\n' "$(cat "$nf/nf_conntrack_count")"
printf 'max\t%s\n' "$(cat "$nf/nf_conntrack_max")"
[ -r "$nf/nf_conntrack_buckets" ] && printf 'buckets\t%s\n' "$(cat "$nf/nf_conntrack_buckets")"

# Per protocol: /proc/net/nf_conntrack lines read "ipv4 2 tcp 6 ...".
if [ -r "$root/proc/net/nf_conntrack" ]; then
	awk '{ n[$3]++ } END { for (p in n) printf "proto\t%s\t%d\n", p, n[p] }' "$root/proc/net/nf_conntrack"
elif command -v conntrack >/dev/null 2>&1; then
	conntrack -L 2>/dev/null | awk '{ n[$1]++ } END { for (p in n) printf "proto\t%s\t%d\n", p, n[p] }'
fi

if command -v dmesg >/dev/null 2>&1; then
	last="$(dmesg 2>/dev/null | grep 'nf_conntrack: table full' | tail -n 1 | tr '\t' ' ')"
	[ -n "$last" ] && printf 'tablefull\t%s\n' "$last"
fi
exit 0
