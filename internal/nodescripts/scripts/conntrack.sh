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
#   dns      N                 entries to port 53 (original direction)
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

# Per protocol: /proc/net/nf_conntrack lines read "ipv4 2 tcp 6 ...". DNS:
# the first dport= of a line is the original direction's destination port,
# the FAQ's case for NodeLocal DNSCache.
# shellcheck disable=SC2016 # awk programs, not shell
count_awk='{ n[$F]++; for (i = 1; i <= NF; i++) if ($i ~ /^dport=/) { if ($i == "dport=53") dns++; break } }
END { for (p in n) printf "proto\t%s\t%d\n", p, n[p]; printf "dns\t%d\n", dns }'
if [ -r "$root/proc/net/nf_conntrack" ]; then
	awk -v F=3 "$count_awk" "$root/proc/net/nf_conntrack"
elif command -v conntrack >/dev/null 2>&1; then
	conntrack -L 2>/dev/null | awk -v F=1 "$count_awk"
fi

if command -v dmesg >/dev/null 2>&1; then
	last="$(dmesg 2>/dev/null | grep 'nf_conntrack: table full' | tail -n 1 | tr '\t' ' ')"
	[ -n "$last" ] && printf 'tablefull\t%s\n' "$last"
fi
exit 0
