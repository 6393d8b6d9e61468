#!/usr/bin/env bash
# Real nodes of the local cluster: kubelet + containerd + runc + the flannel
# CNI plugin, each node in its own network, mount, PID and UTS namespaces,
# with its own root filesystem, joined to the rig's kube-apiserver. hack/rig.sh
# calls this when ACKNET_RIG_NODES is set; tests call it to reboot a node or
# to act on it.
#
#   hack/node.sh up I          create node I (0, 1, ...) and boot it
#   hack/node.sh stop I        power it off (every process dies at once); its disk stays
#   hack/node.sh start I       boot it again from its disk (a reboot is stop + start)
#   hack/node.sh wipe-runtime I  with the node off: forget containerd's state
#                              (its sandboxes), keep /var/lib/cni: how IPs leak
#   hack/node.sh down I        power off and remove everything of the node
#   hack/node.sh exec I CMD..  run CMD on the node (its namespaces and root)
#   hack/node.sh name I        print the node's name
#   hack/node.sh logs I        kubelet and containerd log paths
#
# Node I is named cn-hangzhou.172.18.0.(10+I) and has that address on the
# rig's VPC bridge (namespace acknet-<rig>-vpc, made by hack/rig.sh). Its
# root is $ACKNET_RIG_DIR/nodes/I/root: /usr is this machine's /usr under an
# overlay that keeps the node's changes in nodes/I/usr, /usr/local/bin and
# /opt/cni/bin the rig's builds read-only, /etc /var and /root its own, /run
# a tmpfs (emptied at every boot, as on a real node).
# Nothing of the node touches the machine's network or files outside the
# rig's directory: kubelet's kernel tunables are masked (they are not
# per-namespace), and its cgroups live under acknet-<rig>-nI.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${ACKNET_RIG_BIN:-$ROOT/.cache/rig/bin}"
DIR="${ACKNET_RIG_DIR:-$ROOT/.cache/rig/run/default}"
# shellcheck source=hack/lib/rignet.sh
source "$ROOT/hack/lib/rignet.sh"

log() { echo "node: $*" >&2; }
die() {
	log "$*"
	exit 1
}

[[ "$(id -u)" == 0 ]] || die "real nodes need root (namespaces, mounts, cgroups)"
cmd="${1:-}"
idx="${2:-}"
[[ "$idx" =~ ^[0-9]+$ ]] || {
	sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
}
((idx < 200)) || die "node index must be below 200"

ip4="$VPC_PREFIX.$((10 + idx))"
name="cn-hangzhou.$ip4"
ns="$(rig_id)-n$idx"
cgname="$ns"
ndir="$DIR/nodes/$idx"
nroot="$ndir/root"
kubectl=("$BIN/kubectl" --kubeconfig "$DIR/kubeconfig")

# Zones alternate, as nodes of an ACK node pool spread over vSwitches.
zone() { if ((idx % 2 == 0)); then echo cn-hangzhou-k; else echo cn-hangzhou-j; fi; }

# The PID of the node's init (PID 1 of its PID namespace), or nothing.
init_pid() {
	local u
	u="$(cat "$ndir/boot.pid" 2>/dev/null)" || return 0
	[[ -d "/proc/$u" ]] || return 0
	awk '{print $1}' "/proc/$u/task/$u/children" 2>/dev/null
}

cgroup_dirs() {
	local d
	for d in /sys/fs/cgroup/*/; do
		[[ -f "$d/cgroup.procs" ]] && echo "${d%/}/$cgname"
	done
}

make_cgroups() {
	local d parent
	for d in $(cgroup_dirs); do
		mkdir -p "$d"
		parent="$(dirname "$d")"
		# A new cpuset cgroup starts empty; it must be given CPUs and memory nodes.
		if [[ -f "$d/cpuset.cpus" && -z "$(cat "$d/cpuset.cpus")" ]]; then
			cat "$parent/cpuset.cpus" >"$d/cpuset.cpus"
			cat "$parent/cpuset.mems" >"$d/cpuset.mems"
		fi
	done
}

# remove_cgroups: the node's cgroups, deepest first, once their processes
# are gone.
remove_cgroups() {
	local d sub
	for d in $(cgroup_dirs); do
		[[ -d "$d" ]] || continue
		for _ in $(seq 1 100); do
			while read -r sub; do
				rmdir "$sub" 2>/dev/null || true
			done < <(find "$d" -depth -type d)
			[[ -d "$d" ]] || break
			sleep 0.1
		done
		[[ ! -d "$d" ]] || log "cgroup $d still busy"
	done
}

# make_root: the node's disk, written once; a reboot keeps it.
make_root() {
	[[ -f "$ndir/.made" ]] && return 0
	mkdir -p "$nroot"/{usr,etc,var/lib,var/log,run,tmp,proc,sys,dev,root,opt/cni/bin,home}
	chmod 1777 "$nroot/tmp"
	for l in bin sbin lib lib64; do
		[[ -L "/$l" ]] && ln -sfn "$(readlink "/$l")" "$nroot/$l"
	done
	ln -sfn ../run "$nroot/var/run"
	# The kernel's module directory exists, as on any host; this kernel has
	# no loadable modules, so it stays empty.
	mkdir -p "$ndir/usr/lib/modules/$(uname -r)"
	local e="$nroot/etc" f
	for f in passwd group shadow nsswitch.conf ld.so.cache ld.so.conf protocols services os-release login.defs; do
		[[ -e "/etc/$f" ]] && cp -a "/etc/$f" "$e/"
	done
	for f in ld.so.conf.d alternatives ssl; do
		[[ -d "/etc/$f" ]] && cp -a "/etc/$f" "$e/"
	done
	echo "$name" >"$e/hostname"
	printf '127.0.0.1\tlocalhost\n::1\tlocalhost\n%s\t%s\n' "$ip4" "$name" >"$e/hosts"
	# No resolver on the rig's VPC: pods use the cluster DNS.
	: >"$e/resolv.conf"
	tr -d '-' </proc/sys/kernel/random/uuid >"$e/machine-id"
	mkdir -p "$e"/{cni/net.d,containerd,kubernetes/pki,kubernetes/manifests,modules-load.d,acknet-rig}
	cat >"$e/containerd/config.toml" <<-EOT
		version = 3
		root = "/var/lib/containerd"
		state = "/run/containerd"
		[grpc]
		  address = "/run/containerd/containerd.sock"
		[plugins.'io.containerd.cri.v1.images']
		  snapshotter = "overlayfs"
		  [plugins.'io.containerd.cri.v1.images'.pinned_images]
		    sandbox = "$PAUSE_IMAGE"
		[plugins.'io.containerd.cri.v1.runtime']
		  # This machine withholds CAP_SYS_RESOURCE: no OOM score below
		  # containerd's own (pause containers and critical pods ask for -998).
		  restrict_oom_score_adj = true
		  [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
		    runtime_type = "io.containerd.runc.v2"
		    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
		      BinaryName = "/usr/local/bin/runc"
		      SystemdCgroup = false
		  [plugins.'io.containerd.cri.v1.runtime'.cni]
		    bin_dirs = ["/opt/cni/bin"]
		    conf_dir = "/etc/cni/net.d"
	EOT
	# crictl as ACK configures it.
	cat >"$e/crictl.yaml" <<-EOT
		runtime-endpoint: unix:///run/containerd/containerd.sock
		image-endpoint: unix:///run/containerd/containerd.sock
		timeout: 10
		debug: false
	EOT
	# The kubelet's client certificate (Node authorizer: system:node:NAME).
	local pki="$e/kubernetes/pki"
	cp "$DIR/pki/ca.crt" "$pki/ca.crt"
	cp "$DIR/certs/apiserver.crt" "$pki/apiserver-ca.crt"
	openssl genrsa -out "$pki/kubelet-client.key" 2048 2>/dev/null
	openssl req -new -key "$pki/kubelet-client.key" -subj "/O=system:nodes/CN=system:node:$name" -out "$pki/kubelet-client.csr" 2>/dev/null
	openssl x509 -req -in "$pki/kubelet-client.csr" -CA "$DIR/pki/ca.crt" -CAkey "$DIR/pki/ca.key" -CAcreateserial \
		-days 30 -out "$pki/kubelet-client.crt" 2>/dev/null
	rm -f "$pki/kubelet-client.csr"
	cat >"$e/kubernetes/kubelet.conf" <<-EOT
		apiVersion: v1
		kind: Config
		clusters:
		- name: rig
		  cluster:
		    server: https://$VPC_GATEWAY:$(cat "$DIR/api.port")
		    certificate-authority: /etc/kubernetes/pki/apiserver-ca.crt
		users:
		- name: kubelet
		  user:
		    client-certificate: /etc/kubernetes/pki/kubelet-client.crt
		    client-key: /etc/kubernetes/pki/kubelet-client.key
		contexts:
		- name: rig
		  context: {cluster: rig, user: kubelet}
		current-context: rig
	EOT
	cat >"$e/kubernetes/kubelet-config.yaml" <<-EOT
		apiVersion: kubelet.config.k8s.io/v1beta1
		kind: KubeletConfiguration
		address: $ip4
		port: 10250
		readOnlyPort: 0
		healthzBindAddress: 127.0.0.1
		authentication:
		  anonymous: {enabled: false}
		  webhook: {enabled: false}
		  x509: {clientCAFile: /etc/kubernetes/pki/ca.crt}
		authorization: {mode: AlwaysAllow}
		containerRuntimeEndpoint: unix:///run/containerd/containerd.sock
		cgroupDriver: cgroupfs
		cgroupRoot: /$cgname
		# This machine has cgroup v1; kubelet >= 1.35 refuses it unless told.
		failCgroupV1: false
		failSwapOn: false
		clusterDNS: [10.96.0.10]
		clusterDomain: cluster.local
		resolvConf: /etc/resolv.conf
		staticPodPath: /etc/kubernetes/manifests
		rotateCertificates: false
		# The disk is the test machine's: never evict pods or collect the
		# imported images because it is full.
		evictionHard: {memory.available: "1Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
		imageGCHighThresholdPercent: 100
		imageGCLowThresholdPercent: 99
		maxPods: 110
	EOT
	touch "$ndir/.made"
}

# start: network namespace and link to the VPC, cgroups, then the node's
# init in new mount, PID and UTS namespaces.
start() {
	[[ -n "$(init_pid)" ]] && {
		log "node $idx ($name) already runs"
		return 0
	}
	make_root
	local vpc
	vpc="$(rig_id)-vpc"
	[[ -e "/run/netns/$vpc" ]] || die "the rig's VPC namespace $vpc is missing (hack/rig.sh up with ACKNET_RIG_NODES)"
	ip netns del "$ns" 2>/dev/null || true
	ip netns add "$ns"
	ip -n "$vpc" link del "n$idx" 2>/dev/null || true
	ip -n "$vpc" link add "n$idx" type veth peer name eth0 netns "$ns"
	ip -n "$vpc" link set "n$idx" master vpc0 up
	ip -n "$ns" link set lo up
	ip -n "$ns" addr add "$ip4/24" dev eth0
	ip -n "$ns" link set eth0 up
	ip -n "$ns" route add default via "$VPC_GATEWAY"
	ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1 net.bridge.bridge-nf-call-ip6tables=1
	make_cgroups
	mkdir -p "$nroot/var/log/acknet-rig"
	# --kill-child: when the unshare process dies (node down/stop), PID 1 of the
	# node gets SIGKILL, and with it every process of the node.
	setsid nsenter --net="/run/netns/$ns" unshare --mount --pid --uts --fork --kill-child=SIGKILL --propagation private \
		"$ROOT/hack/lib/node-boot.sh" "$ndir" "$BIN" "$cgname" "$name" \
		>>"$nroot/var/log/acknet-rig/boot.log" 2>&1 </dev/null &
	echo $! >"$ndir/boot.pid"
	for _ in $(seq 1 50); do
		[[ -n "$(init_pid)" ]] && break
		sleep 0.1
	done
	[[ -n "$(init_pid)" ]] || die "node $idx did not boot; see $nroot/var/log/acknet-rig/boot.log"
	log "node $idx ($name) booting: $nroot/var/log/acknet-rig/"
}

# stop: power off. Killing the unshare process kills the node's PID 1, and
# the kernel then kills every process of its PID namespace, containers
# included; the mount namespace (and every pod network namespace pinned in
# the node's /run) goes with them.
stop() {
	local u
	u="$(cat "$ndir/boot.pid" 2>/dev/null || true)"
	if [[ -n "$u" && -d "/proc/$u" ]]; then
		local p
		p="$(init_pid)"
		kill -9 "$u" 2>/dev/null || true
		if [[ -n "$p" ]]; then kill -9 "$p" 2>/dev/null || true; fi
		for _ in $(seq 1 100); do
			[[ -d "/proc/$u" || (-n "$p" && -d "/proc/$p") ]] || break
			sleep 0.1
		done
	fi
	rm -f "$ndir/boot.pid"
	remove_cgroups
	ip -n "$(rig_id)-vpc" link del "n$idx" 2>/dev/null || true
	ip netns del "$ns" 2>/dev/null || true
}

wait_registered() {
	local cidr=""
	for _ in $(seq 1 240); do
		cidr="$("${kubectl[@]}" get node "$name" -o jsonpath='{.spec.podCIDR}' 2>/dev/null || true)"
		[[ -n "$cidr" ]] && break
		sleep 0.5
	done
	[[ -n "$cidr" ]] || die "node $name did not register with a pod CIDR within 120s; see $nroot/var/log/acknet-rig/kubelet.log"
	echo "$cidr"
}

# route: what ACK's cloud-controller-manager does for Flannel: a route for
# the node's pod CIDR to the node in the VPC route table, and the subnet file
# flanneld writes from the node's pod CIDR.
route() {
	local cidr="$1" gw
	gw="${cidr%/*}"
	gw="${gw%.*}.$((${gw##*.} + 1))"
	printf 'FLANNEL_NETWORK=%s\nFLANNEL_SUBNET=%s/%s\nFLANNEL_MTU=1500\nFLANNEL_IPMASQ=true\n' \
		"$CLUSTER_CIDR" "$gw" "${cidr#*/}" >"$nroot/etc/acknet-rig/subnet.env"
	ip -n "$(rig_id)-vpc" route replace "$cidr" via "$ip4"
}

case "$cmd" in
up)
	mkdir -p "$ndir"
	start
	route "$(wait_registered)"
	"${kubectl[@]}" label node "$name" --overwrite "topology.kubernetes.io/zone=$(zone)" "topology.kubernetes.io/region=cn-hangzhou" \
		"alibabacloud.com/nodepool-id=np-rig" >/dev/null
	log "node $idx registered: $name ($ip4)"
	;;
start)
	[[ -f "$ndir/.made" ]] || die "node $idx was never created (hack/node.sh up $idx)"
	start
	route "$(wait_registered)"
	;;
stop) stop ;;
wipe-runtime)
	[[ -z "$(init_pid)" ]] || die "stop node $idx first"
	# containerd's metadata (sandboxes, containers, image records) and state;
	# the CNI IPAM files under /var/lib/cni stay. Images are imported again at boot.
	rm -rf "$nroot/var/lib/containerd"
	;;
down)
	stop
	"${kubectl[@]}" delete node "$name" --ignore-not-found --wait=false >/dev/null 2>&1 || true
	rm -rf "$ndir"
	;;
exec)
	shift 2
	[[ "${1:-}" == "--" ]] && shift
	p="$(init_pid)"
	[[ -n "$p" ]] || die "node $idx is not running"
	exec nsenter -t "$p" -m -u -n -p -r -w -- /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"
	;;
name) echo "$name" ;;
logs) echo "$nroot/var/log/acknet-rig/kubelet.log $nroot/var/log/acknet-rig/containerd.log" ;;
*)
	sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
	;;
esac
