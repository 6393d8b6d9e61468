# shellcheck shell=sh
# conntrack-set: raise (or set) net.netfilter.nf_conntrack_max on the node,
# as the FAQ does through sysctl, and persist it in a sysctl drop-in that the
# node applies at boot. Without APPLY=1 it only says what it would do. A value
# below the entries the table holds now is refused: the kernel would drop
# packets at once; a value below the current limit is refused unless
# ALLOW_LOWER=1.
#
# Environment:
#   MAX        the new nf_conntrack_max (validated in Go: a positive integer)
#   APPLY      1 to change the node
#   ALLOW_LOWER  1 to allow a value below the current limit
#   DROPIN     sysctl drop-in to write, e.g. /etc/sysctl.d/99-acknet-conntrack.conf
#   HOST_ROOT  prefix of host paths; empty when run chrooted into the host
# Output, one tab-separated record a line:
#   current  COUNT  MAX            before any change
#   set      OLD  NEW              (APPLY=1) the kernel took the new value
#   persisted  PATH                (APPLY=1) the drop-in holds it
# Exit 5: MAX is below the current count; 6: below the current limit without
# ALLOW_LOWER=1 (nothing changed either way).
set -u
: "${MAX:?MAX is required}"
: "${DROPIN:?DROPIN is required}"
root="${HOST_ROOT:-}"
nf="$root/proc/sys/net/netfilter"
if [ ! -r "$nf/nf_conntrack_max" ]; then
	echo "conntrack-set: $nf/nf_conntrack_max not readable: is nf_conntrack loaded?" >&2
	exit 1
fi
count="$(cat "$nf/nf_conntrack_count" 2>/dev/null)"
old="$(cat "$nf/nf_conntrack_max" 2>/dev/null)"
# Without both numbers there is no safe comparison: refuse.
for n in "$count" "$old"; do
	case "$n" in
	'' | *[!0-9]*)
		echo "cannot read nf_conntrack_count and nf_conntrack_max as numbers ('$count', '$old'): nothing changed" >&2
		exit 1
		;;
	esac
done
printf 'current\t%s\t%s\n' "$count" "$old"
if [ "$MAX" -lt "$count" ]; then
	echo "refused: $MAX is below the $count entries the table holds now" >&2
	exit 5
fi
if [ "$MAX" -lt "$old" ] && [ "${ALLOW_LOWER:-0}" != 1 ]; then
	echo "refused: $MAX is below the current limit $old (lowering it takes --allow-lower)" >&2
	exit 6
fi
[ "${APPLY:-0}" = 1 ] || exit 0

# The running kernel first: if it refuses, nothing is persisted.
# The braces make the shell's own redirection error quiet too.
if ! { printf '%s\n' "$MAX" >"$nf/nf_conntrack_max"; } 2>/dev/null; then
	echo "cannot write $nf/nf_conntrack_max: the kernel refused it (read-only in this network namespace, or out of range); nothing changed" >&2
	exit 1
fi
now="$(cat "$nf/nf_conntrack_max")"
if [ "$now" != "$MAX" ]; then
	echo "the kernel kept nf_conntrack_max at $now, not $MAX (nothing persisted)" >&2
	exit 1
fi
printf 'set\t%s\t%s\n' "$old" "$now"

dir="$root${DROPIN%/*}"
tmp="$root$DROPIN.tmp.$$"
if ! mkdir -p "$dir" 2>/dev/null || ! {
	echo "# Written by kubectl acknet conntrack --set-max; the value before was $old."
	echo "net.netfilter.nf_conntrack_max = $MAX"
} >"$tmp" 2>/dev/null || ! mv -f "$tmp" "$root$DROPIN"; then
	rm -f "$tmp"
	echo "set in the kernel, but writing $DROPIN failed: it returns to $old at reboot" >&2
	exit 1
fi
printf 'persisted\t%s\n' "$DROPIN"
exit 0
