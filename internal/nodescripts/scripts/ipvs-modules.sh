# shellcheck shell=sh
# ipvs-modules: whether the kernel modules kube-proxy's IPVS mode needs are
# loaded, available and persisted; with APPLY=1 load them, and only when all
# are in the kernel, persist those that are not built in: a node where a load
# fails is left exactly as it was.
#
# Environment:
#   SCHEDULER     IPVS scheduler (validated in Go), e.g. rr or lc
#   APPLY         1 to load missing modules and persist them
#   PERSIST_FILE  file under /etc/modules-load.d/ to append to
#   HOST_ROOT     prefix of host paths; empty when run chrooted into the host
# Output, one tab-separated record a line:
#   module     NAME  loaded|not-loaded  available|unavailable  persisted|not-persisted|builtin
#   loaded     NAME                 (APPLY=1: modprobe succeeded)
#   persisted  NAME  FILE           (APPLY=1: line appended)
#   failed     NAME  MESSAGE        (APPLY=1)
set -u
: "${SCHEDULER:?SCHEDULER is required}"
: "${PERSIST_FILE:=/etc/modules-load.d/ack-ipvs-modules.conf}"
root="${HOST_ROOT:-}"
apply="${APPLY:-0}"

is_loaded() {
	# /sys/module also lists modules built into the kernel.
	[ -d "$root/sys/module/$1" ] || grep -q "^$1 " "$root/proc/modules" 2>/dev/null
}

# Built into the kernel: present in /sys/module without being a loaded
# module. A kernel without module support has no /proc/modules at all.
is_builtin() {
	[ -d "$root/sys/module/$1" ] || return 1
	[ -r "$root/proc/modules" ] || return 0
	! grep -q "^$1 " "$root/proc/modules"
}

is_available() {
	is_loaded "$1" && return 0
	if command -v modinfo >/dev/null 2>&1; then
		modinfo "$1" >/dev/null 2>&1
	else
		modprobe -n "$1" >/dev/null 2>&1
	fi
}

is_persisted() {
	for f in "$root"/etc/modules-load.d/*.conf "$root"/etc/modules; do
		[ -f "$f" ] || continue
		grep -qx "[[:space:]]*$1[[:space:]]*" "$f" && return 0
	done
	return 1
}

status=0
mods="ip_vs ip_vs_$SCHEDULER nf_conntrack"
todo_load=""
todo_persist=""
for m in $mods; do
	l=not-loaded
	a=unavailable
	p=not-persisted
	is_loaded "$m" && l=loaded
	is_available "$m" && a=available
	if is_builtin "$m"; then
		p=builtin
	elif is_persisted "$m"; then
		p=persisted
	fi
	printf 'module\t%s\t%s\t%s\t%s\n' "$m" "$l" "$a" "$p"
	[ "$l" = not-loaded ] && todo_load="$todo_load $m"
	[ "$p" = not-persisted ] && todo_persist="$todo_persist $m"
done
[ "$apply" = 1 ] || exit 0

for m in $todo_load; do
	if out="$(modprobe "$m" 2>&1)"; then
		printf 'loaded\t%s\n' "$m"
	else
		printf 'failed\t%s\t%s\n' "$m" "$(printf '%s' "$out" | tr '\t\n' '  ')"
		status=1
	fi
done
[ "$status" = 0 ] || exit "$status"
for m in $todo_persist; do
	mkdir -p "$root$(dirname "$PERSIST_FILE")" &&
		printf '%s\n' "$m" >>"$root$PERSIST_FILE" &&
		printf 'persisted\t%s\t%s\n' "$m" "$PERSIST_FILE"
done
exit 0
