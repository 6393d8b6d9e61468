#!/bin/bash
# The init of a real node, run inside the node's root by node-boot.sh:
# containerd, the node images, then kubelet, each restarted if it exits (as
# systemd would). Logs go to /var/log/acknet-rig/ on the node's disk.
#
#   node-run.sh NAME
set -u
name="$1"
logs=/var/log/acknet-rig
mkdir -p "$logs" /run/containerd

say() { echo "$(date -u +%FT%TZ) $*"; }

# supervise NAME CMD...: run CMD, restart it a second after it exits.
supervise() {
	local n="$1"
	shift
	while :; do
		"$@" >>"$logs/$n.log" 2>&1
		say "$n exited with $?; restarting"
		sleep 1
	done
}

say "booting $name"
supervise containerd /usr/local/bin/containerd --config /etc/containerd/config.toml &
for _ in $(seq 1 100); do
	ctr --address /run/containerd/containerd.sock version >/dev/null 2>&1 && break
	sleep 0.1
done

# Images built on the test machine (hack/build-images.sh); imported when
# containerd does not have them, e.g. after its state was wiped.
have="$(ctr -n k8s.io images ls -q 2>/dev/null)"
for t in /var/lib/acknet-rig/images/*.tar; do
	ref="$(tar -xOf "$t" manifest.json | grep -o '"RepoTags":\["[^"]*"' | cut -d'"' -f4)"
	if ! grep -qxF "docker.io/$ref" <<<"$have" && ! grep -qxF "$ref" <<<"$have"; then
		ctr -n k8s.io images import "$t" >>"$logs/images.log" 2>&1 || say "import of $t failed"
	fi
done
say "images: $(ctr -n k8s.io images ls -q | tr '\n' ' ')"

supervise kubelet /usr/local/bin/kubelet \
	--config /etc/kubernetes/kubelet-config.yaml \
	--kubeconfig /etc/kubernetes/kubelet.conf \
	--hostname-override "$name" \
	--node-ip "$(hostname -i 2>/dev/null | awk '{print $NF}')" \
	--v 2 &

# PID 1 reaps every orphan (the shims' children among them).
while :; do
	wait
	sleep 1
done
