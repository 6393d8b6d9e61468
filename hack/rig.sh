#!/usr/bin/env bash
# The local test cluster: etcd + kube-apiserver + kwok on 127.0.0.1, with
# ports chosen free at start so two rigs never collide. kwok manages only
# nodes annotated kwok.x-k8s.io/node=fake: it makes them Ready, runs their
# pods, runs `kubectl exec` into those pods on this machine (ClusterExec in
# $DIR/kwok-exec.yaml), so node scripts can be tested against fake roots, and
# serves $DIR/pods.log as their logs (ClusterLogs).
#
#   hack/rig.sh up     build the pinned binaries if needed, start, wait ready
#   hack/rig.sh down   stop every process by its recorded PID, keep nothing
#   hack/rig.sh env    print export lines (KUBECONFIG, ACKNET_RIG_DIR)
#   hack/rig.sh status say whether it runs
#
# ACKNET_RIG_DIR selects the rig's state directory (default .cache/rig/run/default).
# ACKNET_RIG_CONTROLLERS=daemonset (a kube-controller-manager --controllers
# list) also starts kube-controller-manager and kube-scheduler, so DaemonSets
# create and replace pods on the kwok nodes; off by default because those
# controllers would rewrite the scenarios' hand-made pods.
# Only loopback addresses are ever used.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${ACKNET_RIG_BIN:-$ROOT/.cache/rig/bin}"
DIR="${ACKNET_RIG_DIR:-$ROOT/.cache/rig/run/default}"

log() { echo "rig: $*" >&2; }

port_free() { ! ss -Htln "sport = :$1" | grep -q .; }

free_port() {
	local p
	for _ in $(seq 1 200); do
		p=$((20000 + RANDOM % 30000))
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

down() {
	stop_one kube-scheduler
	stop_one kube-controller-manager
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
	# The API server reaches kwok as the fake nodes' kubelet on loopback.
	"$BIN/kwok" --kubeconfig "$DIR/kubeconfig" \
		--manage-all-nodes=false --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake \
		--node-ip 127.0.0.1 --node-port "$port" --server-address "127.0.0.1:$port" \
		--cidr 10.244.0.0/16 \
		--config "$BIN/kwok-stages.yaml" --config "$DIR/kwok-exec.yaml" --config "$DIR/kwok-logs.yaml" \
		>"$DIR/kwok.log" 2>&1 &
	echo $! >"$DIR/kwok.pid"
}

# start_controllers runs kube-controller-manager (only the controllers named
# in ACKNET_RIG_CONTROLLERS) and kube-scheduler, which binds DaemonSet pods.
start_controllers() {
	local kcm_port sched_port
	kcm_port="$(free_port)"
	sched_port="$(free_port)"
	"$BIN/kube-controller-manager" --kubeconfig "$DIR/kubeconfig" \
		--controllers "$ACKNET_RIG_CONTROLLERS" --leader-elect=false \
		--bind-address 127.0.0.1 --secure-port "$kcm_port" --cert-dir "$DIR/certs/kcm" \
		>"$DIR/kube-controller-manager.log" 2>&1 &
	echo $! >"$DIR/kube-controller-manager.pid"
	"$BIN/kube-scheduler" --kubeconfig "$DIR/kubeconfig" --leader-elect=false \
		--bind-address 127.0.0.1 --secure-port "$sched_port" --cert-dir "$DIR/certs/scheduler" \
		>"$DIR/kube-scheduler.log" 2>&1 &
	echo $! >"$DIR/kube-scheduler.pid"
}

up() {
	if alive kube-apiserver && alive etcd && alive kwok; then
		log "already up ($DIR)"
		return 0
	fi
	"$ROOT/hack/build-rig.sh"
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

	"$BIN/kube-apiserver" \
		--etcd-servers "http://127.0.0.1:$etcd_port" \
		--bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$api_port" \
		--endpoint-reconciler-type none \
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
			if [[ -n "${ACKNET_RIG_CONTROLLERS:-}" ]]; then
				start_controllers
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
status)
	if alive kube-apiserver && alive etcd && alive kwok; then echo "up: KUBECONFIG=$DIR/kubeconfig"; else
		echo "down"
		exit 1
	fi
	;;
*)
	sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
	;;
esac
