#!/usr/bin/env bash
# The veth pair catnip's Linux-interoperability tests run over:
#
#   root namespace: dk0 (no IP address; catnip owns it through DPDK's --vdev=net_af_packet0,iface=dk0)
#        |  veth
#   namespace demipeer: dk1, 10.99.0.2/24 (the Linux kernel's TCP/IP stack, the test's peer)
#        |  demipeer routes (ip_forward) to: dk2, 10.98.0.1/24, MTU 1280
#        |  veth, MTU 1280 (a tunnel's, say)
#   namespace demifar: dk3, 10.98.0.2/24, MTU 1280, default route via 10.98.0.1
#        |  demipeer also routes to: dk4, 10.97.0.1/24, MTU 1500
#        |  veth whose far end takes less than its near end sends
#   namespace demihole: dk5, 10.97.0.2/24, MTU 1280, default route via 10.97.0.1
#
# demifar is for path MTU discovery: its route announces MSS 1460 all the same (`advmss`), so a peer in the root
# namespace sends full 1500-byte segments with Don't Fragment, which demipeer cannot forward and refuses with
# an ICMP fragmentation-needed error naming 1280 (RFC 1191), as a router in front of a tunnel does.
#
# demihole is an MTU black hole (RFC 2923 §2.1): its route announces MSS 1460 too, demipeer forwards full-size
# datagrams onto dk4 (MTU 1500), and the veth drops each one too big for dk5's MTU of 1280 without a word: no
# ICMP error, only dk4's dropped counter. A peer finds it only by its own timeouts.
#
# Usage: ci/netns.sh up|down|status
#
# `up` replaces whatever an earlier run left behind, then creates the pair. `down` removes it and never fails
# when there is nothing to remove. Needs root, iproute2, ethtool, ping and nft (installed with apt-get if missing;
# the tests mark ECN with an nftables rule in demipeer).
#
# Offloads, and why: veth leaves TCP/UDP checksums to "hardware" (CHECKSUM_PARTIAL), and af_packet hands DPDK
# the frame as it is, with an unfinished checksum; and with TSO/GSO on, the kernel would pass catnip 64 KiB
# super-frames. So in demipeer, dk1 computes its checksums and segments in software (`tx off tso off gso off`),
# and dk0 does not coalesce what it receives (`gro off`). IPv6 is off on both ends, to keep the link quiet.
set -euo pipefail

NS=demipeer
HOST_IF=dk0
PEER_IF=dk1
PEER_ADDR=10.99.0.2/24
FAR_NS=demifar
ROUTER_IF=dk2
ROUTER_ADDR=10.98.0.1
FAR_IF=dk3
FAR_ADDR=10.98.0.2/24
FAR_MTU=1280
HOLE_NS=demihole
HOLE_ROUTER_IF=dk4
HOLE_ROUTER_ADDR=10.97.0.1
HOLE_IF=dk5
HOLE_ADDR=10.97.0.2/24

if [ "$(id -u)" -ne 0 ]; then
    echo "netns: must run as root" >&2
    exit 1
fi

need() {
    if ! command -v "$1" >/dev/null 2>&1; then
        echo "netns: installing $2 (for $1)"
        apt-get install -y "$2" >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y "$2" >/dev/null; }
    fi
}

down() {
    ip link del "$HOST_IF" 2>/dev/null || true
    ip netns del "$NS" 2>/dev/null || true
    ip netns del "$FAR_NS" 2>/dev/null || true
    ip netns del "$HOLE_NS" 2>/dev/null || true
}

# Namespace $1 behind demipeer: demipeer's end $2 (MTU $3, address $4/24), the namespace's end $5 (MTU $6,
# address $7), a default route via demipeer that announces MSS 1460 whatever the MTU.
behind_the_router() {
    local ns=$1 router_if=$2 router_mtu=$3 router_addr=$4 far_if=$5 far_mtu=$6 far_addr=$7
    ip netns add "$ns"
    ip link add "$router_if" netns "$NS" mtu "$router_mtu" type veth peer name "$far_if" netns "$ns" mtu "$far_mtu"
    ip netns exec "$NS" sysctl -qw "net.ipv6.conf.$router_if.disable_ipv6=1" || true
    ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$far_if.disable_ipv6=1" || true
    ip netns exec "$NS" ethtool -K "$router_if" tx off tso off gso off gro off >/dev/null
    ip netns exec "$ns" ethtool -K "$far_if" tx off tso off gso off gro off >/dev/null
    ip netns exec "$NS" ip addr add "$router_addr/24" dev "$router_if"
    ip netns exec "$NS" ip link set "$router_if" up
    ip netns exec "$ns" ip addr add "$far_addr" dev "$far_if"
    ip netns exec "$ns" ip link set lo up
    ip netns exec "$ns" ip link set "$far_if" up
    ip netns exec "$ns" ip route add default via "$router_addr" advmss 1460
}

case "${1:-}" in
up)
    need ip iproute2
    need ethtool ethtool
    need ping iputils-ping
    need nft nftables
    down
    ip netns add "$NS"
    ip link add "$HOST_IF" type veth peer name "$PEER_IF"
    ip link set "$PEER_IF" netns "$NS"
    sysctl -qw "net.ipv6.conf.$HOST_IF.disable_ipv6=1" || true
    ip netns exec "$NS" sysctl -qw "net.ipv6.conf.$PEER_IF.disable_ipv6=1" || true
    ip netns exec "$NS" ethtool -K "$PEER_IF" tx off tso off gso off >/dev/null
    ethtool -K "$HOST_IF" gro off >/dev/null 2>&1 || true
    ip netns exec "$NS" ip addr add "$PEER_ADDR" dev "$PEER_IF"
    ip netns exec "$NS" ip link set lo up
    ip netns exec "$NS" ip link set "$PEER_IF" up
    ip link set "$HOST_IF" up
    ip netns exec "$NS" sysctl -qw net.ipv4.ip_forward=1
    behind_the_router "$FAR_NS" "$ROUTER_IF" "$FAR_MTU" "$ROUTER_ADDR" "$FAR_IF" "$FAR_MTU" "$FAR_ADDR"
    behind_the_router "$HOLE_NS" "$HOLE_ROUTER_IF" 1500 "$HOLE_ROUTER_ADDR" "$HOLE_IF" "$FAR_MTU" "$HOLE_ADDR"
    echo "netns: $HOST_IF (root namespace, no address) <-> $PEER_IF in $NS ($PEER_ADDR)," \
        "routing to $FAR_IF in $FAR_NS ($FAR_ADDR, MTU $FAR_MTU) and to $HOLE_IF in $HOLE_NS ($HOLE_ADDR," \
        "a black hole for datagrams over $FAR_MTU bytes)"
    ;;
down)
    down
    echo "netns: removed $HOST_IF and namespaces $NS, $FAR_NS, $HOLE_NS"
    ;;
status)
    ip link show "$HOST_IF" 2>/dev/null || echo "no $HOST_IF"
    ip netns exec "$NS" ip addr show "$PEER_IF" 2>/dev/null || echo "no namespace $NS"
    ip netns exec "$FAR_NS" ip addr show "$FAR_IF" 2>/dev/null || echo "no namespace $FAR_NS"
    ip netns exec "$HOLE_NS" ip addr show "$HOLE_IF" 2>/dev/null || echo "no namespace $HOLE_NS"
    ;;
*)
    echo "usage: $0 up|down|status" >&2
    exit 2
    ;;
esac
