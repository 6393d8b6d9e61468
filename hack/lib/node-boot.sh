#!/usr/bin/env bash
# PID 1 of a real node (started by hack/node.sh inside the node's network
# namespace and new mount, PID and UTS namespaces): joins the node's
# cgroups, builds the node's view of the filesystem, pivots into the node's
# root and runs node-run.sh there.
#
#   node-boot.sh NODE_DIR RIG_BIN CGROUP NAME
set -euo pipefail
ndir="$1" bin="$2" cg="$3" name="$4"
root="$ndir/root"

for d in /sys/fs/cgroup/*/; do
	[[ -f "$d$cg/cgroup.procs" ]] && echo $$ >"$d$cg/cgroup.procs"
done
hostname "$name"

# ro_bind SRC DST: a read-only bind mount (two steps: bind, then remount).
ro_bind() {
	mount --bind "$1" "$2"
	mount -o remount,bind,ro "$2"
}

mount --bind "$root" "$root"
# /usr: this machine's, with the node's own changes on top (its
# /usr/lib/modules, anything a script installs), so the machine's stays as is.
mkdir -p "$ndir/usr" "$ndir/.usr-work"
mount -t overlay overlay -o "lowerdir=/usr,upperdir=$ndir/usr,workdir=$ndir/.usr-work" "$root/usr"
ro_bind "$bin/node" "$root/usr/local/bin"
ro_bind "$bin/cni" "$root/opt/cni/bin"
mkdir -p "$root/var/lib/acknet-rig/images"
ro_bind "$bin/images" "$root/var/lib/acknet-rig/images"
mount -t tmpfs -o mode=755 tmpfs "$root/run"
mount -t proc proc "$root/proc"
# A fresh sysfs shows this network namespace's interfaces.
mount -t sysfs sysfs "$root/sys"
mount --rbind /sys/fs/cgroup "$root/sys/fs/cgroup"
mount --rbind /dev "$root/dev"

# kubelet sets these kernel tunables at start unless they already hold the
# value it wants; they are not per-namespace, so it would change the test
# machine. It reads them from files that hold its values instead.
mkdir -p "$root/run/acknet-rig/sysctl"
for kv in vm/overcommit_memory=1 kernel/panic=10 kernel/panic_on_oops=1 vm/panic_on_oom=0; do
	f="$root/run/acknet-rig/sysctl/${kv%%=*}"
	mkdir -p "$(dirname "$f")"
	echo "${kv#*=}" >"$f"
	mount --bind "$f" "$root/proc/sys/${kv%%=*}"
done

cp "$(dirname "${BASH_SOURCE[0]}")/node-run.sh" "$root/run/acknet-rig/node-run.sh"
cd "$root"
mkdir -p .oldroot
pivot_root . .oldroot
cd /
umount -l /.oldroot
rmdir /.oldroot
# Pods' mount propagation works on a shared root.
mount --make-rshared /
exec /bin/bash /run/acknet-rig/node-run.sh "$name"
