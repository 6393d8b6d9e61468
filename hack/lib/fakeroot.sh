# shellcheck shell=bash
# make_fake_root DIR: a minimal host root for node scripts run by kwok's
# local exec: busybox-static as shell and tools, /dev/null, and the
# /proc/sys/net/netfilter files of an idle conntrack table. Needs root.
make_fake_root() {
	local dir="$1" busybox applet
	busybox="$(command -v busybox)" || {
		echo "busybox-static is required (apt-get install busybox-static)" >&2
		return 1
	}
	rm -rf "$dir"
	mkdir -p "$dir"/{bin,usr/bin,dev,proc/sys/net/netfilter}
	cp "$busybox" "$dir/bin/busybox"
	for applet in $("$busybox" --list); do
		[[ "$applet" == busybox || "$applet" == *[* ]] || ln -sf busybox "$dir/bin/$applet"
	done
	ln -sf ../../bin/busybox "$dir/usr/bin/env"
	mknod -m 666 "$dir/dev/null" c 1 3
	echo 120 >"$dir/proc/sys/net/netfilter/nf_conntrack_count"
	echo 262144 >"$dir/proc/sys/net/netfilter/nf_conntrack_max"
}
