# SPDX-License-Identifier: BSD-3-Clause
# Two appliances on one host for the replication tests, sourced after lib.sh.
#
#   namespace msh-it<pid>: br0 at $MSH_NET.2 (the clients), bridging
#     mshB<pid> <-veth-> mshA<pid>  appliance A's ingest port ($MSH_NET.1)
#     mshD<pid> <-veth-> mshC<pid>  appliance B's ingest port ($MSH_NET.3)
#   the replication link: mshR<pid> (A, 10.78.<n>.1) and mshS<pid> (B,
#     10.78.<n>.2) in the root namespace, their peers bridged in namespace
#     msh-itL<pid>, where nftables can drop what crosses (pair_link_loss)
#
# Both appliances run a main and a worker lcore on the two CPUs with back-off
# idle, each with its own EAL file prefix and control socket. (An nftables
# rule on the appliances' own veths would not do: af_packet sees received
# frames before the ingress hook, and a frame its TX ring could not send at
# the egress hook is sent again later, so that is delay, not loss.)
A_IP=$MSH_NET.1
B_IP=$MSH_NET.3
RNET=10.78.$(($$ % 200 + 20))
A_RIP=$RNET.1
B_RIP=$RNET.2
PAIR_R=mshR$$
PAIR_S=mshS$$
PAIR_C=mshC$$
PAIR_D=mshD$$
PAIR_LNS=msh-itL$$

pair_net_up() {
	msh_netns_up
	ip link add "$PAIR_C" type veth peer name "$PAIR_D" || fail "veth B"
	MSH_CLEANUPS+=("ip link del $PAIR_C")
	# The link: two veth pairs joined by a bridge in a namespace of its own,
	# where nftables (bridge family, forward hook) can drop frames between
	# the two appliances' af_packet ports (see pair_link_loss).
	ip netns add "$PAIR_LNS" || fail "ip netns add $PAIR_LNS"
	MSH_CLEANUPS+=("ip netns del $PAIR_LNS")
	ip link add "$PAIR_R" type veth peer name "${PAIR_R}l" || fail "veth link A"
	MSH_CLEANUPS+=("ip link del $PAIR_R")
	ip link add "$PAIR_S" type veth peer name "${PAIR_S}l" || fail "veth link B"
	MSH_CLEANUPS+=("ip link del $PAIR_S")
	ip link set "${PAIR_R}l" netns "$PAIR_LNS"
	ip link set "${PAIR_S}l" netns "$PAIR_LNS"
	ip netns exec "$PAIR_LNS" sh -e -c "
		ip link add brl type bridge
		for i in brl ${PAIR_R}l ${PAIR_S}l; do
			sysctl -qw net.ipv6.conf.\$i.disable_ipv6=1
		done
		ip link set ${PAIR_R}l master brl
		ip link set ${PAIR_S}l master brl
		ip link set ${PAIR_R}l up
		ip link set ${PAIR_S}l up
		ip link set brl up" || fail "link bridge"
	for i in "$PAIR_C" "$PAIR_R" "$PAIR_S"; do
		sysctl -qw "net.ipv6.conf.$i.disable_ipv6=1"
		ip link set "$i" up
	done
	ip link set "$PAIR_D" netns "$MSH_NS"
	# The clients' address moves from the veth to a bridge over both.
	in_ns sh -e -c "
		ip addr flush dev $MSH_VETH_NS
		ip link add br0 type bridge
		sysctl -qw net.ipv6.conf.br0.disable_ipv6=1
		sysctl -qw net.ipv6.conf.$PAIR_D.disable_ipv6=1
		ip link set $MSH_VETH_NS master br0
		ip link set $PAIR_D master br0
		ip addr add $MSH_CLIENT_IP/24 dev br0
		ip link set $PAIR_D up
		ip link set br0 up
		ethtool -K br0 tx off >/dev/null
		ethtool -K $PAIR_D tx off >/dev/null" || fail "bridge in the namespace"
}

# pair_conf FILE NAME ROLE SHARD-KEYS...: appliance NAME (A or B) of the pair.
# pair_link_loss PCT: drop PCT% of the frames crossing the link, both ways
# (0: stop dropping). The drops are counted: pair_link_dropped.
pair_link_loss() {
	ip netns exec "$PAIR_LNS" nft delete table bridge msh_loss 2>/dev/null
	[ "$1" = 0 ] && return 0
	ip netns exec "$PAIR_LNS" nft -f - <<EOT || fail "nftables loss on the link"
table bridge msh_loss {
	chain f { type filter hook forward priority 0; numgen random mod 100 < $1 counter drop; }
}
EOT
}
pair_link_dropped() {
	ip netns exec "$PAIR_LNS" nft -j list table bridge msh_loss | python3 -c "
import json, sys
print(sum(e['counter']['packets'] for r in json.load(sys.stdin)['nftables'] if 'rule' in r
          for e in r['rule']['expr'] if 'counter' in e))"
}

pair_conf() {
	local f=$1 who=$2 role=$3 ip rip peer peer_ip iface link node peer_node
	shift 3
	if [ "$who" = A ]; then
		ip=$A_IP rip=$A_RIP peer=$B_RIP peer_ip=$B_IP iface=$MSH_VETH_APP link=$PAIR_R
		node=1 peer_node=2
	else
		ip=$B_IP rip=$B_RIP peer=$A_RIP peer_ip=$A_IP iface=$PAIR_C link=$PAIR_S
		node=2 peer_node=1
	fi
	cat >"$f" <<EOT
[appliance]
lcores = 0@0,1@1
idle = backoff
file_prefix = msh-it$who$$
arena_bytes = 256M
lease_default = 5s
heartbeat = 200ms
control_socket = $MSH_TMP/$who.sock
[port ingest]
device = net_af_packet0,iface=$iface,framecnt=4096,qdisc_bypass=1
address = $ip/24
[port link]
role = replication
device = net_af_packet1,iface=$link,framecnt=4096,qdisc_bypass=1
address = $rip/24
peer = $peer
peer_ingest = $peer_ip
node_id = $node
peer_node_id = $peer_node
start_role = $role
failover_silence = ${PAIR_SILENCE:-1s}
hello_interval = 50ms
[shard r]
segment_bytes = 4M
max_bytes = 128M
max_message = 1400
replicas = 2
$(printf '%s\n' "$@")
EOT
}

# pair_start WHO CONF: start appliance WHO (A or B); its pid in A_PID / B_PID.
pair_start() {
	local who=$1 conf=$2 pid try
	# net_af_packet (DPDK 22.11) derives its PACKET_FANOUT group id from the
	# process id; an id another socket in the namespace holds makes the probe
	# fail with EINVAL. A new process has a new id: try once more.
	for try in 1 2; do
		"$BUILD/memshard" -c "$conf" >"$MSH_TMP/$who.out" 2>"$MSH_TMP/$who.err" &
		pid=$!
		MSH_PIDS+=("$pid")
		MSH_CLEANUPS+=("rm -rf /var/run/dpdk/msh-it$who$$")
		eval "${who}_PID=$pid"
		wait_for 30 "appliance $who ready (log: $MSH_TMP/$who.err)" \
			sh -c "grep -q 'memshard: ready' '$MSH_TMP/$who.err' || ! kill -0 $pid"
		kill -0 "$pid" 2>/dev/null && return 0
		wait "$pid" 2>/dev/null
		grep -q 'could not set PACKET_FANOUT' "$MSH_TMP/$who.err" || break
		echo "note: appliance $who: af_packet fanout group id taken, starting again" >&2
	done
	cat "$MSH_TMP/$who.err" >&2
	fail "appliance $who exited"
}

# pair_stop WHO: SIGTERM and wait (bounded).
pair_stop() {
	local who=$1 pid
	eval "pid=\$${who}_PID"
	kill -TERM "$pid" 2>/dev/null
	local deadline=$((SECONDS + 20))
	while kill -0 "$pid" 2>/dev/null; do
		[ $SECONDS -ge $deadline ] && { kill -9 "$pid"; fail "appliance $who did not stop"; }
		sleep 0.05
	done
	wait "$pid" 2>/dev/null
	local rc=$?
	[ "$rc" = 0 ] || fail "appliance $who exited with $rc: $(grep -v '^EAL' "$MSH_TMP/$who.err" | tail -5)"
}

actl() { "$BUILD/memshardctl" --socket "$MSH_TMP/A.sock" "$@"; }
bctl() { "$BUILD/memshardctl" --socket "$MSH_TMP/B.sock" "$@"; }
# jq-like: pj EXPR reads JSON on stdin, prints eval(EXPR) with d bound to it.
pj() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
# role_is WHO ROLE: the appliance's replication role (for wait_for).
role_is() {
	[ "$("$BUILD/memshardctl" --socket "$MSH_TMP/$1.sock" --json repl status 2>/dev/null |
		pj 'd["role"] + ("+syncing" if d["syncing"] else "")')" = "$2" ]
}
# next_seq WHO SHARD
next_seq() {
	"$BUILD/memshardctl" --socket "$MSH_TMP/$1.sock" --json shard show "$2" | pj 'd["next_seq"]'
}
same_next() { [ "$(next_seq A "$1")" = "$(next_seq B "$1")" ]; }
