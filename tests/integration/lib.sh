# SPDX-License-Identifier: BSD-3-Clause
# Helpers sourced by tests/integration/test_*.sh: failure reporting, bounded
# waits on conditions, and clean-up of what a test started (by pid and name).
set -u
BUILD=${BUILD:-build/release}
MSH_TMP=$(mktemp -d /tmp/msh-it.XXXXXX)
MSH_PIDS=()
MSH_CLEANUPS=()
checks=0

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

ok() {
	checks=$((checks + 1))
	echo "ok: $*"
}

# wait_for SECONDS DESCRIPTION COMMAND...: poll COMMAND until it succeeds or
# the time runs out; never sleeps longer than needed.
wait_for() {
	local secs=$1 what=$2
	shift 2
	local deadline=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -ge $deadline ] && fail "timed out after ${secs}s waiting for: $what"
		sleep 0.05
	done
}

at_exit() {
	local pid c
	for pid in "${MSH_PIDS[@]}"; do
		kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	done
	for c in "${MSH_CLEANUPS[@]}"; do
		eval "$c" >/dev/null 2>&1
	done
	[ -n "${MSH_KEEP:-}" ] || rm -rf "$MSH_TMP"
}
trap at_exit EXIT

# ---- appliance + namespace fixture -------------------------------------------
# msh_netns_up: a namespace "msh-it<pid>" with the kernel end of a veth pair
# at 10.77.<n>.2/24; the other end (in the root namespace) is the appliance's
# net_af_packet port at 10.77.<n>.1. Checksum offload is off on the kernel
# side (TESTBED.md), IPv6 is off so no router solicitations wander in.
MSH_NS=msh-it$$
MSH_VETH_APP=mshA$$
MSH_VETH_NS=mshB$$
MSH_NET=${MSH_NET:-10.77.$(($$ % 200 + 20))}
MSH_APP_IP=$MSH_NET.1
MSH_CLIENT_IP=$MSH_NET.2

need_root() {
	[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (network namespaces)"; exit 77; }
}

msh_netns_up() {
	need_root
	ip netns add "$MSH_NS" || fail "ip netns add $MSH_NS"
	MSH_CLEANUPS+=("ip netns del $MSH_NS")
	ip link add "$MSH_VETH_APP" type veth peer name "$MSH_VETH_NS" || fail "veth"
	MSH_CLEANUPS+=("ip link del $MSH_VETH_APP")
	sysctl -qw "net.ipv6.conf.$MSH_VETH_APP.disable_ipv6=1"
	ip link set "$MSH_VETH_NS" netns "$MSH_NS"
	ip link set "$MSH_VETH_APP" up
	ip netns exec "$MSH_NS" sh -e -c "
		sysctl -qw net.ipv6.conf.$MSH_VETH_NS.disable_ipv6=1
		ip addr add $MSH_CLIENT_IP/24 dev $MSH_VETH_NS
		ip link set $MSH_VETH_NS up
		ip link set lo up
		ethtool -K $MSH_VETH_NS tx off >/dev/null" ||
		fail "namespace set-up"
}

# in_ns CMD...: run a client in the namespace.
in_ns() {
	ip netns exec "$MSH_NS" "$@"
}

# msh_conf_appliance FILE ARENA_BYTES: the [appliance] and [port ingest]
# sections of an appliance on the veth (back-off idle: the clients share the 2
# cores); the test appends its [shard NAME] sections to FILE.
msh_conf_appliance() {
	cat >"$1" <<EOT
[appliance]
lcores = 0-1
idle = backoff
file_prefix = msh-it$$
arena_bytes = $2
lease_default = 5s
heartbeat = 200ms
control_socket = $MSH_TMP/ctl.sock
[port ingest]
device = net_af_packet0,iface=$MSH_VETH_APP,framecnt=4096,qdisc_bypass=1
address = $MSH_APP_IP/24
EOT
}

# msh_conf_write FILE [EXTRA-SHARD-KEYS]: that appliance, with arena_bytes 512M
# and shard "ticks".
msh_conf_write() {
	local f=$1
	shift
	msh_conf_appliance "$f" 512M
	cat >>"$f" <<EOT
[shard ticks]
segment_bytes = 4M
max_bytes = 256M
$(printf '%s\n' "$@")
EOT
}

# msh_start CONF: start the appliance, wait until it says it is ready.
msh_start() {
	local conf=$1 try
	# net_af_packet (DPDK 22.11) derives its PACKET_FANOUT group id from the
	# process id; an id another socket in the namespace holds makes the probe
	# fail with EINVAL. A new process has a new id: try once more.
	for try in 1 2; do
		"$BUILD/memshard" -c "$conf" >"$MSH_TMP/memshard.out" 2>"$MSH_TMP/memshard.err" &
		MSH_PID=$!
		MSH_PIDS+=("$MSH_PID")
		MSH_CLEANUPS+=("rm -rf /var/run/dpdk/msh-it$$")
		# Ready, or gone (then say why at once instead of waiting out the time).
		wait_for 30 "memshard ready (log: $MSH_TMP/memshard.err)" \
			sh -c "grep -q 'memshard: ready' '$MSH_TMP/memshard.err' || ! kill -0 $MSH_PID"
		kill -0 "$MSH_PID" 2>/dev/null && return 0
		wait "$MSH_PID" 2>/dev/null
		grep -q 'could not set PACKET_FANOUT' "$MSH_TMP/memshard.err" || break
		echo "note: af_packet fanout group id taken, starting memshard again" >&2
	done
	cat "$MSH_TMP/memshard.err" >&2
	fail "memshard exited"
}

# msh_stop: SIGTERM and wait (bounded); the counters land in memshard.out.
msh_stop() {
	kill -TERM "$MSH_PID" 2>/dev/null
	local deadline=$((SECONDS + 20))
	while kill -0 "$MSH_PID" 2>/dev/null; do
		[ $SECONDS -ge $deadline ] && { kill -9 "$MSH_PID"; fail "memshard did not stop on SIGTERM"; }
		sleep 0.05
	done
	wait "$MSH_PID" 2>/dev/null
	MSH_RC=$?
}

# ctl ARGS...: memshardctl against this test's appliance.
ctl() {
	"$BUILD/memshardctl" --socket "$MSH_TMP/ctl.sock" "$@"
}

# counter NAME: a counter from the shutdown report (0 if absent).
counter() {
	awk -v k="$1" '$1 == k {print $2; found=1} END {if (!found) print 0}' "$MSH_TMP/memshard.out"
}
