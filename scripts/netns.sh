#!/usr/bin/env bash
# netns.sh: a small internet with two NATed homes, built from Linux network
# namespaces, for trying BorgIOS nodes behind NAT by hand and for the process
# tests (conduit/cmd/borgios/nat_test.go runs "up" and "down" with its own
# prefix). Needs root, iproute2 and iptables.
#
#   scripts/netns.sh up   [PREFIX]            build it (PREFIX default: bn)
#   scripts/netns.sh down [PREFIX]            remove it (also after a failed up)
#   scripts/netns.sh exec PREFIX HOST CMD...  run CMD on HOST (see below)
#   scripts/netns.sh conntrack PREFIX NAT     UDP conntrack entries of natA or natB
#
# Hosts (one namespace each, named PREFIX-HOST):
#
#   inet   the internet: bridge 10.99.0.0/24; addresses 10.99.0.10 .. .13 are
#          free for internet nodes and clients (all in this one namespace)
#   natA   home A's router: wan 10.99.0.1, lan 192.168.7.1/24, masquerade,
#          UDP port 7446 forwarded to h1 (also from inside: hairpin NAT)
#   h1 h2 h3  home A's hosts 192.168.7.2, .3, .4 on one LAN bridge, so LAN
#          broadcast discovery works as at home
#   natB   home B's router: wan 10.99.0.4, lan 192.168.8.1/24, masquerade,
#          nothing forwarded
#   g1     home B's host 192.168.8.2
#
# Both routers drop unsolicited packets to themselves from the WAN, as home
# routers do. That matters for hole punching: without it an early punch from
# the other home is delivered locally and leaves a confirmed conntrack entry,
# and masquerade then moves our own outgoing flow to another port, so the two
# sides never meet (node/relay/DESIGN.md). NETNS_FIREWALL=0 leaves the rule
# out, to see the relayed fallback.
set -euo pipefail

cmd=${1:-}
P=${2:-bn}
HOSTS="inet natA natB h1 h2 h3 g1"

ns() { echo "$P-$1"; }
in_ns() {
	local h=$1
	shift
	ip netns exec "$(ns "$h")" "$@"
}

# link HOST_A IF_A HOST_B IF_B: a veth pair between two namespaces.
n_links=0
link() {
	n_links=$((n_links + 1))
	local a="${P}v${n_links}a" b="${P}v${n_links}b"
	ip link add "$a" type veth peer name "$b"
	ip link set "$a" netns "$(ns "$1")"
	ip link set "$b" netns "$(ns "$3")"
	in_ns "$1" ip link set "$a" name "$2"
	in_ns "$3" ip link set "$b" name "$4"
	in_ns "$1" ip link set "$2" up
	in_ns "$3" ip link set "$4" up
}

bridge() {
	local h=$1 br=$2
	shift 2
	in_ns "$h" ip link add "$br" type bridge
	for p in "$@"; do in_ns "$h" ip link set "$p" master "$br"; done
	in_ns "$h" ip link set "$br" up
}

router() {
	local h=$1 lan=$2
	in_ns "$h" sysctl -qw net.ipv4.ip_forward=1
	in_ns "$h" iptables -t nat -A POSTROUTING -s "$lan" -o wan -j MASQUERADE
	if [ "${NETNS_FIREWALL:-1}" != 0 ]; then
		in_ns "$h" iptables -A INPUT -i wan -j DROP
	fi
}

up() {
	if [ ${#P} -gt 8 ]; then
		echo "netns.sh: PREFIX must be at most 8 characters (interface names)" >&2
		exit 2
	fi
	for h in $HOSTS; do
		ip netns add "$(ns "$h")"
		in_ns "$h" ip link set lo up
	done
	link natA wan inet pa
	link natB wan inet pb
	bridge inet bri pa pb
	in_ns inet ip addr add 10.99.0.2/24 dev bri
	for a in 10 11 12 13; do in_ns inet ip addr add "10.99.0.$a/24" dev bri; done
	in_ns natA ip addr add 10.99.0.1/24 dev wan
	in_ns natB ip addr add 10.99.0.4/24 dev wan

	local i=2 lan=()
	for h in h1 h2 h3; do
		link "$h" eth0 natA "l$h"
		lan+=("l$h")
		in_ns "$h" ip addr add "192.168.7.$i/24" dev eth0
		in_ns "$h" ip route add default via 192.168.7.1
		i=$((i + 1))
	done
	bridge natA lan "${lan[@]}"
	in_ns natA ip addr add 192.168.7.1/24 dev lan
	router natA 192.168.7.0/24
	# The one forwarded port, from outside and (hairpin) from inside.
	in_ns natA iptables -t nat -A PREROUTING -d 10.99.0.1 -p udp --dport 7446 -j DNAT --to-destination 192.168.7.2:7446
	in_ns natA iptables -t nat -A POSTROUTING -s 192.168.7.0/24 -d 192.168.7.2 -p udp --dport 7446 -j MASQUERADE

	link g1 eth0 natB lg1
	bridge natB lan lg1
	in_ns natB ip addr add 192.168.8.1/24 dev lan
	in_ns g1 ip addr add 192.168.8.2/24 dev eth0
	in_ns g1 ip route add default via 192.168.8.1
	router natB 192.168.8.0/24
}

down() {
	for h in $HOSTS; do ip netns del "$(ns "$h")" 2>/dev/null || true; done
}

case "$cmd" in
up)
	trap 'down' ERR
	up
	;;
down) down ;;
exec)
	[ $# -ge 4 ] || { echo "usage: $0 exec PREFIX HOST CMD..." >&2; exit 2; }
	h=$3
	shift 3
	in_ns "$h" "$@"
	;;
conntrack)
	[ $# -ge 3 ] || { echo "usage: $0 conntrack PREFIX natA|natB" >&2; exit 2; }
	if in_ns "$3" sh -c 'command -v conntrack' >/dev/null 2>&1; then
		in_ns "$3" conntrack -L -p udp
	else
		in_ns "$3" grep ' udp ' /proc/net/nf_conntrack || true
	fi
	;;
*)
	sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
	;;
esac
