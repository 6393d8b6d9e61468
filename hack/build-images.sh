#!/usr/bin/env bash
# Builds the container images the rig's real nodes run, from this machine's
# Debian packages and the rig's own binaries, as archives for
# `ctr images import` (hack/rigimage). Nothing is pulled from a registry. Each
# image carries the reference ACK uses, so pod specs run unchanged:
#
#   busybox     registry.cn-hangzhou.aliyuncs.com/acs/busybox:v1.29.2, the
#               plugin's default debug image, laid out like the upstream
#               busybox image of that version: every applet in /bin, nothing
#               in /usr/bin (so a script that needs /usr/bin/env fails here
#               as it fails on a real node)
#   pause       the sandbox image containerd is configured with
#   kube-proxy  kube-proxy with iptables (nft), ipset and conntrack
#   flannel     busybox plus a stand-in flanneld (see below)
#   coredns     CoreDNS
#
# Called by hack/build-rig.sh --nodes; rebuilt when this file or an input
# binary changes.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${ACKNET_RIG_BIN:-$ROOT/.cache/rig/bin}"
OUT="$BIN/images"
WORK="$BIN/images/.work"

# Image references (a contract with hack/node.sh and hack/rig/real-node/).
BUSYBOX_REF="registry.cn-hangzhou.aliyuncs.com/acs/busybox:v1.29.2"
PAUSE_REF="registry-cn-hangzhou.ack.aliyuncs.com/acs/pause:3.9"
KUBE_PROXY_REF="registry-cn-hangzhou.ack.aliyuncs.com/acs/kube-proxy:v1.37.2-aliyun.1"
FLANNEL_REF="registry-cn-hangzhou.ack.aliyuncs.com/acs/flannel:v0.15.1.5-7a1c2f0e-aliyun"
COREDNS_REF="registry-cn-hangzhou.ack.aliyuncs.com/acs/coredns:v1.14.7"
PATH_ENV="PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

for tool in busybox xtables-nft-multi ipset conntrack; do
	command -v "$tool" >/dev/null || {
		echo "build-images: $tool not found (apt-get install busybox-static iptables ipset conntrack)" >&2
		exit 1
	}
done

stamp="$(cat "${BASH_SOURCE[0]}" "$BIN/rigimage" "$BIN/pause" "$BIN/kube-proxy" "$BIN/coredns" "$(command -v busybox)" | sha256sum | cut -c1-16)"
if [[ -f "$OUT/.stamp" && "$(cat "$OUT/.stamp")" == "$stamp" ]]; then
	exit 0
fi
echo "building node images" >&2
rm -rf "$WORK"
mkdir -p "$WORK" "$OUT"

# base_fs DIR: the upstream busybox image's layout.
base_fs() {
	local d="$1" applet
	mkdir -p "$d"/{bin,etc,home,root,tmp,usr/sbin,var/spool/mail,var/www}
	chmod 1777 "$d/tmp"
	cp "$(command -v busybox)" "$d/bin/busybox"
	for applet in $(busybox --list); do
		[[ "$applet" == busybox ]] || ln -f "$d/bin/busybox" "$d/bin/$applet"
	done
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n' >"$d/etc/passwd"
	printf 'root:x:0:\nnobody:x:65534:\n' >"$d/etc/group"
}

# copy_bin DIR FILE...: binaries at their paths, with the shared libraries
# they load.
copy_bin() {
	local d="$1" f lib
	shift
	for f in "$@"; do
		mkdir -p "$d$(dirname "$f")"
		cp -L "$f" "$d$f"
		for lib in $(ldd "$f" 2>/dev/null | grep -o '/[^ ]*' || true); do
			mkdir -p "$d$(dirname "$lib")"
			cp -L "$lib" "$d$lib"
		done
	done
}

image() {
	local name="$1" ref="$2"
	shift 2
	"$BIN/rigimage" -dir "$WORK/$name" -ref "$ref" -out "$OUT/$name.tar" "$@"
}

base_fs "$WORK/busybox"
image busybox "$BUSYBOX_REF" -env "$PATH_ENV" -cmd sh

mkdir -p "$WORK/pause"
cp "$BIN/pause" "$WORK/pause/pause"
image pause "$PAUSE_REF" -cmd /pause

# kube-proxy: iptables through nf_tables (the kernel has no IPVS: in ipvs
# mode kube-proxy says so and exits, as it would on such a node).
kp="$WORK/kube-proxy"
base_fs "$kp"
mkdir -p "$kp/usr/local/bin" "$kp/var/lib/kube-proxy" "$kp/run" "$kp/lib64"
cp "$BIN/kube-proxy" "$kp/usr/local/bin/kube-proxy"
copy_bin "$kp" "$(command -v xtables-nft-multi)" "$(command -v ipset)" "$(command -v conntrack)"
xt="$(dirname "$(readlink -f "$(command -v xtables-nft-multi)")")"
for t in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
	ln -sf xtables-nft-multi "$kp$xt/$t"
done
mkdir -p "$kp/usr/lib/x86_64-linux-gnu"
cp -a /usr/lib/x86_64-linux-gnu/xtables "$kp/usr/lib/x86_64-linux-gnu/"
for lib in /usr/lib/x86_64-linux-gnu/xtables/*.so; do
	for dep in $(ldd "$lib" 2>/dev/null | grep -o '/[^ ]*' || true); do
		mkdir -p "$kp$(dirname "$dep")"
		[[ -e "$kp$dep" ]] || cp -L "$dep" "$kp$dep"
	done
done
image kube-proxy "$KUBE_PROXY_REF" -env "$PATH_ENV" -cmd /usr/local/bin/kube-proxy

# flannel: ACK's Flannel uses the "alloc" backend: flanneld only writes
# /run/flannel/subnet.env (the cloud-controller-manager adds the VPC routes),
# and the install-cni container copies cni-conf.json for the flannel CNI
# plugin. The stand-in flanneld writes the subnet file the rig prepared from
# the node's podCIDR (hostPath /etc/acknet-rig), then waits.
fl="$WORK/flannel"
base_fs "$fl"
mkdir -p "$fl/opt/bin"
cat >"$fl/opt/bin/flanneld" <<'EOT'
#!/bin/sh
# Stand-in for flanneld with the alloc backend (see hack/build-images.sh).
trap 'exit 0' TERM INT
src=/etc/acknet-rig/subnet.env
if [ ! -s "$src" ]; then
	echo "flanneld: $src is missing: the rig has not assigned this node a subnet" >&2
	exit 1
fi
mkdir -p /run/flannel
cp "$src" /run/flannel/subnet.env.tmp && mv /run/flannel/subnet.env.tmp /run/flannel/subnet.env
echo "flanneld: wrote /run/flannel/subnet.env:" $(cat /run/flannel/subnet.env)
while :; do
	sleep 3600 &
	wait $!
done
EOT
chmod 755 "$fl/opt/bin/flanneld"
image flannel "$FLANNEL_REF" -env "$PATH_ENV" -cmd /opt/bin/flanneld

mkdir -p "$WORK/coredns/etc"
cp "$BIN/coredns" "$WORK/coredns/coredns"
image coredns "$COREDNS_REF" -entrypoint /coredns

rm -rf "$WORK"
echo "$stamp" >"$OUT/.stamp"
echo "built node images in $OUT" >&2
