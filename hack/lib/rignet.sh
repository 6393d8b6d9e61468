# shellcheck shell=bash
# Names and addresses shared by hack/rig.sh and hack/node.sh.
#
# The rig's "VPC": a network namespace (acknet-<rig>-vpc) holding a bridge
# vpc0 with the gateway address; each real node is a network namespace
# linked to it by a veth pair, with a route per node pod CIDR in the VPC
# namespace, as ACK's cloud-controller-manager adds them to the VPC route
# table. Two rigs never share a namespace: <rig> is derived from the rig's
# directory.
# shellcheck disable=SC2034 # used by the scripts that source this file
VPC_PREFIX=172.18.0
VPC_GATEWAY=172.18.0.1
CLUSTER_CIDR=172.20.0.0/16
NODE_CIDR_MASK=26
PAUSE_IMAGE=registry-cn-hangzhou.ack.aliyuncs.com/acs/pause:3.9

# rig_id: acknet-<6 hex of the rig directory>.
rig_id() {
	echo "acknet-$(printf '%s' "$(cd "$DIR" 2>/dev/null && pwd || echo "$DIR")" | sha256sum | cut -c1-6)"
}
