#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# `make run`: a local demo on virtual ports. Creates the network namespace
# msh-demo with a veth pair (mshdemo0 in the root namespace is the appliance's
# net_af_packet port at 10.77.0.1; mshdemo1 in the namespace is the clients'
# 10.77.0.2), starts memshard with config/demo.conf, a publisher sending
# ticks twice a second and a subscriber printing them. Ctrl-C (or
# MSH_DEMO_SECONDS=N) tears everything down and prints the appliance counters.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build/release}
NS=msh-demo
APP_IF=mshdemo0
NS_IF=mshdemo1
LOG=$(mktemp -d /tmp/msh-demo.XXXXXX)
pids=()

[ "$(id -u)" = 0 ] || { echo "demo: run as root (it creates a network namespace)" >&2; exit 1; }

cleanup() {
	trap - INT TERM EXIT
	echo
	echo "demo: stopping"
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	# The clients run inside the demo's own namespace: end every process in it
	# (a pipeline's $! is its last command, not the client itself).
	for p in $(ip netns pids "$NS" 2>/dev/null); do kill "$p" 2>/dev/null; done
	if [ -n "${MSH:-}" ]; then
		kill -TERM "$MSH" 2>/dev/null
		for _ in $(seq 100); do kill -0 "$MSH" 2>/dev/null || break; sleep 0.1; done
		echo "demo: appliance counters at shutdown:"
		grep -v ' 0$' "$LOG/memshard.out" | sed 's/^/    /'
	fi
	ip netns del "$NS" 2>/dev/null
	ip link del "$APP_IF" 2>/dev/null
	rm -rf /var/run/dpdk/msh-demo "$LOG"
	echo "demo: namespace, veth and processes removed"
}
trap cleanup INT TERM EXIT

# A previous demo killed hard may have left these; they are ours by name.
ip netns del "$NS" 2>/dev/null
ip link del "$APP_IF" 2>/dev/null

ip netns add "$NS"
ip link add "$APP_IF" type veth peer name "$NS_IF"
sysctl -qw "net.ipv6.conf.$APP_IF.disable_ipv6=1"
ip link set "$NS_IF" netns "$NS"
ip link set "$APP_IF" up
ip netns exec "$NS" sh -e -c "
	sysctl -qw net.ipv6.conf.$NS_IF.disable_ipv6=1
	ip addr add 10.77.0.2/24 dev $NS_IF
	ip link set $NS_IF up
	ip link set lo up
	ethtool -K $NS_IF tx off >/dev/null"

echo "demo: starting memshard -c config/demo.conf (log: $LOG/memshard.err)"
"$BUILD/memshard" -c config/demo.conf >"$LOG/memshard.out" 2>"$LOG/memshard.err" &
MSH=$!
for _ in $(seq 300); do
	grep -q 'memshard: ready' "$LOG/memshard.err" && break
	kill -0 "$MSH" 2>/dev/null || { cat "$LOG/memshard.err"; exit 1; }
	sleep 0.1
done
grep 'memshard:' "$LOG/memshard.err" | sed 's/^/    /'

echo "demo: subscriber in namespace $NS: msh-sub -s 10.77.0.1 --print ticks"
ip netns exec "$NS" stdbuf -oL "$BUILD/msh-sub" -s 10.77.0.1 --print=text ticks 2>/dev/null |
	sed -u 's/^/    sub: /' &
pids+=($!)

echo "demo: publisher in namespace $NS: a tick every 500 ms into shard ticks"
(
	i=0
	while :; do
		i=$((i + 1))
		printf 'ACME %d.%02d x%d\n' $((100 + RANDOM % 20)) $((RANDOM % 100)) $(((RANDOM % 9 + 1) * 100))
		sleep 0.5
	done
) | ip netns exec "$NS" "$BUILD/msh-pub" --quiet 10.77.0.1 ticks &
pids+=($!)

if [ -n "${MSH_DEMO_SECONDS:-}" ]; then
	sleep "$MSH_DEMO_SECONDS"
else
	echo "demo: Ctrl-C to stop"
	wait "$MSH"
fi
