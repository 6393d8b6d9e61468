#!/usr/bin/env bash
# The local test cluster: etcd + kube-apiserver + kwok on 127.0.0.1, with
# ports chosen free at start so two rigs never collide. kwok manages only
# nodes annotated kwok.x-k8s.io/node=fake: it makes them Ready, runs their
# pods, runs `kubectl exec` into those pods on this machine (ClusterExec in
# $DIR/kwok-exec.yaml), so node scripts can be tested against fake roots, and
# serves $DIR/pods.log as their logs (ClusterLogs). hack/kwokrun runs the
# plugin's result pods on those nodes (their command, on this machine) and
# records their end as a kubelet would.
#
#   hack/rig.sh up     build the pinned binaries if needed, start, wait ready
#   hack/rig.sh down   stop every process by its recorded PID, keep nothing
#   hack/rig.sh env    print export lines (KUBECONFIG, ACKNET_RIG_DIR)
#   hack/rig.sh status say whether it runs
#   hack/rig.sh vpc    print the network namespace of the rig's VPC (real nodes)
#
# ACKNET_RIG_DIR selects the rig's state directory (default .cache/rig/run/default).
# ACKNET_RIG_CONTROLLERS=daemonset (a kube-controller-manager --controllers
# list) also starts kube-controller-manager and kube-scheduler, so DaemonSets
# create and replace pods on the kwok nodes; off by default because those
# controllers would rewrite the scenarios' hand-made pods.
# ACKNET_RIG_NODES=N also starts N real nodes (hack/node.sh: kubelet,
# containerd, Flannel CNI, kube-proxy) in network namespaces of the rig's own
# "VPC" (hack/lib/rignet.sh), with every controller of kube-controller-manager
# and the ACK add-ons of hack/rig/ack-addons.yaml; the API server reaches
# their kubelets through hack/rignet. Needs root.
# Only loopback addresses and the rig's own network namespaces are ever used.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${ACKNET_RIG_BIN:-$ROOT/.cache/rig/bin}"
DIR="${ACKNET_RIG_DIR:-$ROOT/.cache/rig/run/default}"
NODES="${ACKNET_RIG_NODES:-0}"
# shellcheck source=hack/lib/rignet.sh
source "$ROOT/hack/lib/rignet.sh"

log() { echo "rig: $*" >&2; }

# port_free: no socket of any state uses the port (a connection's source
# port blocks a listener as much as another listener does).
port_free() { ! ss -Htan "sport = :$1" | grep -q .; }

# free_port picks below the kernel's ephemeral range: a port above it can be
# taken as the source port of some outgoing connection between the check and
# the server's bind (two rigs start at once in the e2e tests).
free_port() {
	local p low
	read -r low _ </proc/sys/net/ipv4/ip_local_port_range
	((low > 12000)) || low=32768
	for _ in $(seq 1 200); do
		p=$((10000 + RANDOM % (low - 10000)))
		if port_free "$p" && ! grep -qx "$p" "$DIR/ports" 2>/dev/null; then
			echo "$p" >>"$DIR/ports"
			echo "$p"
			return 0
		fi
	done
	log "no free port found"
	return 1
}

# running PID: true for a live process; a zombie (exited, not yet reaped by
# whoever inherited it) counts as gone.
running() {
	kill -0 "$1" 2>/dev/null || return 1
	[[ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != "Z" ]]
}

alive() { [[ -f "$DIR/$1.pid" ]] && running "$(cat "$DIR/$1.pid")"; }

stop_one() {
	local name="$1" pid
	[[ -f "$DIR/$name.pid" ]] || return 0
	pid="$(cat "$DIR/$name.pid")"
	if running "$pid"; then
		kill "$pid" 2>/dev/null || true
		for _ in $(seq 1 50); do
			running "$pid" || break
			sleep 0.1
		done
		kill -9 "$pid" 2>/dev/null || true
	fi
	rm -f "$DIR/$name.pid"
}

# nodes_down stops every real node of the rig and removes the VPC.
nodes_down() {
	local n
	for n in "$DIR"/nodes/*/; do
		[[ -d "$n" ]] && "$ROOT/hack/node.sh" down "$(basename "$n")"
	done
	stop_one rignet
	ip netns del "$(rig_id)-vpc" 2>/dev/null || true
}

down() {
	[[ -d "$DIR/nodes" || -e "/run/netns/$(rig_id)-vpc" ]] && nodes_down
	stop_one kube-scheduler
	stop_one kube-controller-manager
	stop_one kwokrun
	stop_one kwok
	stop_one kube-apiserver
	stop_one etcd
	rm -rf "$DIR"
	log "down"
}

write_kubeconfig() {
	local server="https://127.0.0.1:$1"
	{
		echo "apiVersion: v1"
		echo "kind: Config"
		echo "clusters:"
		echo "- name: rig"
		echo "  cluster:"
		echo "    server: $server"
		echo "    certificate-authority: $DIR/certs/apiserver.crt"
		echo "users:"
		for u in admin readonly noevents; do
			echo "- name: $u"
			echo "  user:"
			echo "    token: $(grep ",acknet-$u," "$DIR/tokens.csv" | cut -d, -f1)"
		done
		echo "contexts:"
		for u in admin readonly noevents; do
			echo "- name: $u"
			echo "  context: {cluster: rig, user: $u}"
		done
		echo "current-context: admin"
	} >"$DIR/kubeconfig"
}

start_kwok() {
	local port="$1"
	cat >"$DIR/kwok-exec.yaml" <<-EOT
		kind: ClusterExec
		apiVersion: kwok.x-k8s.io/v1alpha1
		metadata:
		  name: local-exec
		spec:
		  execs:
		  - local:
		      workDir: $DIR
	EOT
	# Pod logs of kwok pods come from one CRI-format file that tests write.
	: >"$DIR/pods.log"
	cat >"$DIR/kwok-logs.yaml" <<-EOT
		kind: ClusterLogs
		apiVersion: kwok.x-k8s.io/v1alpha1
		metadata:
		  name: local-logs
		spec:
		  logs:
		  - logsFile: $DIR/pods.log
		    follow: false
	EOT
	# kwok plays 4 pod stages at once by default: a thousand debug pods
	# (make bench) would wait on kwok, not on the API server. A configuration
	# file is taken as it is, without kwok's defaults, so it states every
	# option the flags below do not set, with the pinned kwok's defaults
	# (SetObjectDefaults_KwokConfiguration) but for that one.
	cat >"$DIR/kwok-config.yaml" <<-EOT
		kind: KwokConfiguration
		apiVersion: config.kwok.x-k8s.io/v1alpha1
		options:
		  enableDebuggingHandlers: true
		  enableContentionProfiling: false
		  enableProfilingHandler: true
		  podPlayStageParallelism: 32
		  nodePlayStageParallelism: 4
		  nodeLeaseDurationSeconds: 40
		  nodeLeaseParallelism: 4
		  podsOnNodeSyncParallelism: 1
		  enablePodsOnNodeSyncListPager: true
		  enablePodsOnNodeSyncStreamWatch: false
	EOT
	# The API server reaches kwok as the fake nodes' kubelet on loopback.
	"$BIN/kwok" --kubeconfig "$DIR/kubeconfig" \
		--manage-all-nodes=false --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake \
		--node-ip 127.0.0.1 --node-port "$port" --server-address "127.0.0.1:$port" \
		--cidr 10.244.0.0/16 \
		--config "$DIR/kwok-config.yaml" --config "$BIN/kwok-stages.yaml" --config "$DIR/kwok-exec.yaml" --config "$DIR/kwok-logs.yaml" \
		>"$DIR/kwok.log" 2>&1 &
	echo $! >"$DIR/kwok.pid"
	local memo=()
	[[ -z "${ACKNET_RIG_KWOKRUN_MEMO:-}" ]] || memo=(--memo)
	"$BIN/kwokrun" --kubeconfig "$DIR/kubeconfig" --work-dir "$DIR" "${memo[@]}" >"$DIR/kwokrun.log" 2>&1 &
	echo $! >"$DIR/kwokrun.pid"
}

# start_controllers runs kube-controller-manager (only the controllers named
# in ACKNET_RIG_CONTROLLERS) and kube-scheduler, which binds DaemonSet pods.
start_controllers() {
	local kcm_port sched_port extra=()
	kcm_port="$(free_port)"
	sched_port="$(free_port)"
	if ((NODES > 0)); then
		# Real nodes get their pod CIDRs from the node IPAM controller, as ACK
		# Flannel nodes do.
		extra=(--allocate-node-cidrs --cluster-cidr "$CLUSTER_CIDR" --node-cidr-mask-size "$NODE_CIDR_MASK"
			--service-cluster-ip-range 10.96.0.0/16 --root-ca-file "$DIR/certs/apiserver.crt"
			--service-account-private-key-file "$DIR/sa.key" --use-service-account-credentials)
	fi
	"$BIN/kube-controller-manager" --kubeconfig "$DIR/kubeconfig" \
		--controllers "$ACKNET_RIG_CONTROLLERS" --leader-elect=false \
		--bind-address 127.0.0.1 --secure-port "$kcm_port" --cert-dir "$DIR/certs/kcm" "${extra[@]}" \
		>"$DIR/kube-controller-manager.log" 2>&1 &
	echo $! >"$DIR/kube-controller-manager.pid"
	"$BIN/kube-scheduler" --kubeconfig "$DIR/kubeconfig" --leader-elect=false \
		--bind-address 127.0.0.1 --secure-port "$sched_port" --cert-dir "$DIR/certs/scheduler" \
		>"$DIR/kube-scheduler.log" 2>&1 &
	echo $! >"$DIR/kube-scheduler.pid"
}

# make_pki: a CA for the nodes' kubelet client certificates and for the API
# server's client certificate towards the kubelets.
make_pki() {
	local p="$DIR/pki"
	mkdir -p "$p"
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$p/ca.key" -out "$p/ca.crt" -days 30 -subj "/CN=acknet-rig-ca" 2>/dev/null
	openssl genrsa -out "$p/apiserver-kubelet-client.key" 2048 2>/dev/null
	openssl req -new -key "$p/apiserver-kubelet-client.key" -subj "/O=system:masters/CN=kube-apiserver-kubelet-client" \
		-out "$p/client.csr" 2>/dev/null
	openssl x509 -req -in "$p/client.csr" -CA "$p/ca.crt" -CAkey "$p/ca.key" -CAcreateserial -days 30 \
		-out "$p/apiserver-kubelet-client.crt" 2>/dev/null
	rm -f "$p/client.csr"
}

# start_vpc: the rig's VPC namespace with its bridge and gateway, and rignet:
# the API server's egress into it, and the API server's port on the gateway
# address, where nodes and pods reach it (the lease reconciler publishes that
# address as the kubernetes Service's endpoint).
start_vpc() {
	local api_port="$1" vpc
	vpc="$(rig_id)-vpc"
	make_pki
	echo "$api_port" >"$DIR/api.port"
	ip netns del "$vpc" 2>/dev/null || true
	ip netns add "$vpc"
	ip -n "$vpc" link set lo up
	ip -n "$vpc" link add vpc0 type bridge
	ip -n "$vpc" addr add "$VPC_GATEWAY/24" dev vpc0
	ip -n "$vpc" link set vpc0 up
	ip netns exec "$vpc" sysctl -qw net.ipv4.ip_forward=1
	cat >"$DIR/egress.yaml" <<-EOT
		apiVersion: apiserver.k8s.io/v1beta1
		kind: EgressSelectorConfiguration
		egressSelections:
		- name: cluster
		  connection:
		    proxyProtocol: HTTPConnect
		    transport:
		      uds:
		        udsName: $DIR/egress.sock
	EOT
	"$BIN/rignet" -netns "/run/netns/$vpc" -egress-uds "$DIR/egress.sock" \
		-forward "$VPC_GATEWAY:$api_port=127.0.0.1:$api_port" >"$DIR/rignet.log" 2>&1 &
	echo $! >"$DIR/rignet.pid"
}

# nodes_up: the ACK add-ons (Flannel, kube-proxy), then the nodes, then wait
# until every node is Ready (its CNI config installed by the Flannel pod).
# CoreDNS is scaled up only then, so that its spread constraint puts one
# replica on each node at once, not both on the first node Ready: what runs
# where is then the same on every boot (the README's transcripts rely on it).
nodes_up() {
	local k=("$BIN/kubectl" --kubeconfig "$DIR/kubeconfig") i
	sed -e "s|@API_SERVER@|https://$VPC_GATEWAY:$(cat "$DIR/api.port")|g" -e "s|@CLUSTER_CIDR@|$CLUSTER_CIDR|g" \
		"$ROOT/hack/rig/ack-addons.yaml" | "${k[@]}" apply -f - >/dev/null || return 1
	for ((i = 0; i < NODES; i++)); do
		"$ROOT/hack/node.sh" up "$i" || return 1
	done
	if ! "${k[@]}" wait --for=condition=Ready nodes --all --timeout=180s >/dev/null; then
		log "nodes not Ready after 180s:"
		"${k[@]}" get nodes -o wide >&2 || true
		return 1
	fi
	# The node lifecycle controller lifts the not-ready taints a moment after
	# Ready; until then nothing new is scheduled there.
	local tainted=1
	for _ in $(seq 1 60); do
		"${k[@]}" get nodes -o jsonpath='{.items[*].spec.taints[*].key}' | grep -q . || {
			tainted=0
			break
		}
		sleep 0.5
	done
	if ((tainted)); then
		log "nodes still tainted after 30s:"
		"${k[@]}" get nodes -o jsonpath='{range .items[*]}{.metadata.name}{" "}{.spec.taints}{"\n"}{end}' >&2 || true
		return 1
	fi
	"${k[@]}" -n kube-system scale deployment/coredns --replicas=2 >/dev/null || return 1
	# CoreDNS answers once it has read the cluster's Services.
	if ! "${k[@]}" -n kube-system rollout status deployment/coredns --timeout=180s >/dev/null; then
		log "CoreDNS not ready after 180s:"
		"${k[@]}" -n kube-system get pods -o wide >&2 || true
		return 1
	fi
	log "$NODES real nodes Ready, CoreDNS ready"
}

up() {
	if alive kube-apiserver && alive etcd && alive kwok; then
		if ((NODES > 0)) && [[ ! -d "$DIR/nodes" ]]; then
			log "a rig without real nodes is up in $DIR; stop it first (hack/rig.sh down)"
			return 1
		fi
		log "already up ($DIR)"
		return 0
	fi
	if ((NODES > 0)); then
		[[ "$(id -u)" == 0 ]] || { log "ACKNET_RIG_NODES needs root"; return 1; }
		"$ROOT/hack/build-rig.sh" --nodes
	else
		"$ROOT/hack/build-rig.sh"
	fi
	[[ -d "$DIR" ]] && down >/dev/null 2>&1
	mkdir -p "$DIR/certs" "$DIR/etcd"
	: >"$DIR/ports"

	local etcd_port peer_port api_port kwok_port
	etcd_port="$(free_port)"
	peer_port="$(free_port)"
	api_port="$(free_port)"
	kwok_port="$(free_port)"

	"$BIN/etcd" --name rig --data-dir "$DIR/etcd" \
		--listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
		--listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
		--initial-cluster "rig=http://127.0.0.1:$peer_port" --unsafe-no-fsync --log-level warn \
		>"$DIR/etcd.log" 2>&1 &
	echo $! >"$DIR/etcd.pid"

	openssl genrsa -out "$DIR/sa.key" 2048 2>/dev/null
	openssl rsa -in "$DIR/sa.key" -pubout -out "$DIR/sa.pub" 2>/dev/null
	{
		echo "$(openssl rand -hex 16),acknet-admin,uid-admin,\"system:masters\""
		echo "$(openssl rand -hex 16),acknet-readonly,uid-readonly,\"acknet:readonly\""
		echo "$(openssl rand -hex 16),acknet-noevents,uid-noevents,\"acknet:noevents\""
	} >"$DIR/tokens.csv"

	local node_args=(--advertise-address 127.0.0.1 --endpoint-reconciler-type none)
	if ((NODES > 0)); then
		start_vpc "$api_port"
		node_args=(--advertise-address "$VPC_GATEWAY" --endpoint-reconciler-type lease
			--egress-selector-config-file "$DIR/egress.yaml" --kubelet-preferred-address-types InternalIP
			--client-ca-file "$DIR/pki/ca.crt"
			--kubelet-client-certificate "$DIR/pki/apiserver-kubelet-client.crt" --kubelet-client-key "$DIR/pki/apiserver-kubelet-client.key")
	fi
	"$BIN/kube-apiserver" \
		--etcd-servers "http://127.0.0.1:$etcd_port" \
		--bind-address 127.0.0.1 --secure-port "$api_port" "${node_args[@]}" \
		--cert-dir "$DIR/certs" \
		--token-auth-file "$DIR/tokens.csv" \
		--authorization-mode Node,RBAC \
		--service-account-issuer https://kubernetes.default.svc \
		--service-account-key-file "$DIR/sa.pub" \
		--service-account-signing-key-file "$DIR/sa.key" \
		--service-cluster-ip-range 10.96.0.0/16,fd00:10:96::/112 \
		--allow-privileged=true \
		>"$DIR/kube-apiserver.log" 2>&1 &
	echo $! >"$DIR/kube-apiserver.pid"

	write_kubeconfig "$api_port"
	local token
	token="$(grep ',acknet-admin,' "$DIR/tokens.csv" | cut -d, -f1)"
	for i in $(seq 1 120); do
		if ! alive kube-apiserver; then
			log "kube-apiserver exited; last log lines:"
			tail -20 "$DIR/kube-apiserver.log" >&2
			down
			return 1
		fi
		if curl -fsk -H "Authorization: Bearer $token" "https://127.0.0.1:$api_port/readyz" >/dev/null 2>&1; then
			"$BIN/kubectl" --kubeconfig "$DIR/kubeconfig" apply -f "$ROOT/hack/rig/rbac.yaml" >/dev/null
			start_kwok "$kwok_port"
			if ((NODES > 0)); then
				ACKNET_RIG_CONTROLLERS="${ACKNET_RIG_CONTROLLERS:-*}"
			fi
			if [[ -n "${ACKNET_RIG_CONTROLLERS:-}" ]]; then
				start_controllers
			fi
			if ((NODES > 0)) && ! nodes_up; then
				if [[ -n "${ACKNET_RIG_KEEP_ON_FAILURE:-}" ]]; then
					log "nodes failed; left up for inspection (ACKNET_RIG_KEEP_ON_FAILURE): $DIR"
				else
					log "nodes failed; logs under $DIR/nodes/*/root/var/log/acknet-rig/ are removed with the rig (keep them with ACKNET_RIG_KEEP_ON_FAILURE=1)"
					down
				fi
				return 1
			fi
			log "up in ${i}x0.5s: KUBECONFIG=$DIR/kubeconfig"
			return 0
		fi
		sleep 0.5
	done
	log "kube-apiserver not ready after 60s; see $DIR/kube-apiserver.log"
	down
	return 1
}

case "${1:-}" in
up) up ;;
down) down ;;
env)
	echo "export KUBECONFIG=$DIR/kubeconfig"
	echo "export ACKNET_RIG_DIR=$DIR"
	;;
vpc) echo "$(rig_id)-vpc" ;;
status)
	if alive kube-apiserver && alive etcd && alive kwok; then echo "up: KUBECONFIG=$DIR/kubeconfig"; else
		echo "down"
		exit 1
	fi
	;;
*)
	sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
	;;
esac
