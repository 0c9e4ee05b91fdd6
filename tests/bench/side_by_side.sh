#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# memshard and nats-server side by side on this host, in one run, printing a
# Markdown section for BENCHMARKS.md. memshard runs on the integration set-up
# (appliance on net_af_packet over a veth, clients in a network namespace);
# nats-server runs on loopback with the NATS C client. Same work on both:
# one publisher, one subscriber in the same process, messages carrying their
# scheduled send time, 10,000 msg/s paced on a fixed timeline, then flat out.
# Never fails on a timing. Environment: MSH_BENCH_SECS (default 5).
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh
SECS=${MSH_BENCH_SECS:-5}
IDLE=${MSH_BENCH_IDLE:-spin}
NATS_PORT=$((14000 + $$ % 1000))
OUT=$MSH_TMP/rows

msh_netns_up
msh_conf_write "$MSH_TMP/m.conf" "on_full = evict"
sed -i "s/^idle = backoff/idle = $IDLE/; s/^max_bytes = 256M/max_bytes = 128M/" "$MSH_TMP/m.conf"
# One empty shard per throughput run: its subscriber starts at the oldest, so
# nothing depends on who is ready first.
cat >>"$MSH_TMP/m.conf" <<EOT
[shard tput16]
segment_bytes = 4M
max_bytes = 96M
[shard tput128]
segment_bytes = 4M
max_bytes = 192M
EOT
msh_start "$MSH_TMP/m.conf"

# j FILE EXPR: a value from a JSON result.
j() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$1" "$2" 2>/dev/null || echo "?"; }

mshb() { # NAME ARGS...: msh-bench in the namespace, JSON to $MSH_TMP/NAME.json
	local name=$1
	shift
	echo "\`msh-bench $* $MSH_APP_IP ticks\`" >"$MSH_TMP/$name.cmd"
	in_ns taskset -c 0 "$BUILD/msh-bench" --json "$@" "$MSH_APP_IP" ticks >"$MSH_TMP/$name.json" \
		2>"$MSH_TMP/$name.err"
}
natsb() {
	local name=$1
	shift
	echo "\`nats_bench $*\`" >"$MSH_TMP/$name.cmd"
	taskset -c 0 "$BUILD/bench/nats_bench" -u "nats://127.0.0.1:$NATS_PORT" "$@" \
		>"$MSH_TMP/$name.json" 2>"$MSH_TMP/$name.err"
}

COUNT=$((10000 * SECS))
for s in 16 128; do
	mshb "deliver_block_$s" --mode deliver --rate 10000 --size "$s" --warmup 1 --duration "$SECS"
	mshb "deliver_busy_$s" --mode deliver --rate 10000 --size "$s" --warmup 1 --duration "$SECS" --busy-poll
	mshb "ack_busy_$s" --mode ack --rate 10000 --size "$s" --warmup 1 --duration "$SECS" --busy-poll
	mshb "ack_block_$s" --mode ack --rate 10000 --size "$s" --warmup 1 --duration "$SECS"
done
# Throughput end to end as a user sees it: msh-pub with acks and batching into
# msh-sub, from the publisher's start to the subscriber holding all N.
TPUT_N=$((200000 * SECS))
for s in 16 128; do
	batch=$(((1500 - 60) / (s + 2)))
	t0=$(date +%s%N)
	in_ns taskset -c 0 "$BUILD/msh-sub" -s "$MSH_APP_IP" --count "$TPUT_N" \
		--timeout 120 --json "tput$s" >"$MSH_TMP/tput_sub_$s.json" 2>/dev/null &
	sub=$!
	in_ns taskset -c 0 "$BUILD/msh-pub" --gen --count "$TPUT_N" --size "$s" --batch "$batch" \
		--window 256 --json "$MSH_APP_IP" "tput$s" >"$MSH_TMP/tput_pub_$s.json" 2>&1
	wait "$sub"
	t1=$(date +%s%N)
	python3 -c "import json; j=json.load(open('$MSH_TMP/tput_sub_$s.json')); \
print(json.dumps({'throughput_msgs_per_s': j['delivered'] / (($t1 - $t0) / 1e9), 'lost': $TPUT_N - j['delivered']}))" \
		>"$MSH_TMP/tput_$s.json" 2>/dev/null
	echo "\`msh-sub -s $MSH_APP_IP --count $TPUT_N tput$s\` beside \`msh-pub --gen --count $TPUT_N --size $s --batch $batch --window 256 $MSH_APP_IP tput$s\`" >"$MSH_TMP/tput_$s.cmd"
done
msh_stop

nats-server -a 127.0.0.1 -p "$NATS_PORT" >"$MSH_TMP/nats.log" 2>&1 &
NATS_PID=$!
MSH_PIDS+=("$NATS_PID")
wait_for 10 "nats-server listening" grep -q "Server is ready" "$MSH_TMP/nats.log"
for s in 16 128; do
	natsb "nats_lat_$s" -r 10000 -n "$COUNT" -w 10000 -s "$s"
	natsb "nats_tput_$s" -r 0 -n $((2000000 * SECS / 5)) -w 100000 -s "$s"
done
kill "$NATS_PID"

lat() { # FILE: p50 / p99 / p99.9 cell
	printf '%s / %s / %s' "$(j "$1" 'd["latency_us"]["p50"]')" "$(j "$1" 'd["latency_us"]["p99"]')" \
		"$(j "$1" 'd["latency_us"]["p99_9"]')"
}
ratio() { python3 -c "a=$1; b=$2; print(f'{a/b:.1f}x')" 2>/dev/null || echo "?"; }

cat <<EOT
## memshard beside nats-server (issue 3)
Same host, same run. memshard: the appliance on \`net_af_packet\` over a veth (idle=$IDLE),
msh-bench in a network namespace behind it (kernel UDP sockets, the integration set-up).
NATS: nats-server $(nats-server --version 2>/dev/null | awk '{print $2}') on loopback, nats_bench (libnats, tests/bench/nats_bench.c)
publishing on one connection and subscribing on another. Latency is publish-to-delivery
in microseconds, measured from each message's scheduled send time at 10,000 msg/s
(fixed timeline, no coordinated omission), ${SECS} s measured after 1 s of warm-up; both
pacers sleep until just before each send. Throughput: flat out, messages delivered per second
(memshard: msh-pub batching as many messages as fit a 1500-byte datagram, with acks, into
msh-sub, which delivers in order; NATS: libnats batching itself). Clients are pinned to
CPU 0 with taskset on both sides; the appliance's worker lcore is CPU 1.

| | 16 B p50 / p99 / p99.9 (us) | 128 B p50 / p99 / p99.9 (us) |
|---|---:|---:|
| memshard, msh-bench busy-polling | $(lat "$MSH_TMP/deliver_busy_16.json") | $(lat "$MSH_TMP/deliver_busy_128.json") |
| memshard, msh-bench blocking | $(lat "$MSH_TMP/deliver_block_16.json") | $(lat "$MSH_TMP/deliver_block_128.json") |
| nats-server + libnats | $(lat "$MSH_TMP/nats_lat_16.json") | $(lat "$MSH_TMP/nats_lat_128.json") |
| **NATS / memshard busy-poll, p50** | **$(ratio "$(j "$MSH_TMP/nats_lat_16.json" 'd["latency_us"]["p50"]')" "$(j "$MSH_TMP/deliver_busy_16.json" 'd["latency_us"]["p50"]')")** | **$(ratio "$(j "$MSH_TMP/nats_lat_128.json" 'd["latency_us"]["p50"]')" "$(j "$MSH_TMP/deliver_busy_128.json" 'd["latency_us"]["p50"]')")** |
| **NATS / memshard busy-poll, p99** | **$(ratio "$(j "$MSH_TMP/nats_lat_16.json" 'd["latency_us"]["p99"]')" "$(j "$MSH_TMP/deliver_busy_16.json" 'd["latency_us"]["p99"]')")** | **$(ratio "$(j "$MSH_TMP/nats_lat_128.json" 'd["latency_us"]["p99"]')" "$(j "$MSH_TMP/deliver_busy_128.json" 'd["latency_us"]["p99"]')")** |
| NATS / memshard blocking, p50 | $(ratio "$(j "$MSH_TMP/nats_lat_16.json" 'd["latency_us"]["p50"]')" "$(j "$MSH_TMP/deliver_block_16.json" 'd["latency_us"]["p50"]')") | $(ratio "$(j "$MSH_TMP/nats_lat_128.json" 'd["latency_us"]["p50"]')" "$(j "$MSH_TMP/deliver_block_128.json" 'd["latency_us"]["p50"]')") |

Publish-to-ack (memshard only; TESTBED.md's floor for this path, a DPDK echo that does
no work, is about 3.8 us p50 busy-polling and 45 us blocking):

| msh-bench --mode ack | 16 B p50 / p99 / p99.9 (us) | 128 B p50 / p99 / p99.9 (us) |
|---|---:|---:|
| busy-polling | $(lat "$MSH_TMP/ack_busy_16.json") | $(lat "$MSH_TMP/ack_busy_128.json") |
| blocking | $(lat "$MSH_TMP/ack_block_16.json") | $(lat "$MSH_TMP/ack_block_128.json") |

Maximum throughput, one publisher and one subscriber, messages delivered per second:

| | 16 B | 128 B |
|---|---:|---:|
| memshard: msh-pub with acks, batched, into msh-sub | $(j "$MSH_TMP/tput_16.json" 'format(d["throughput_msgs_per_s"], ",.0f")') | $(j "$MSH_TMP/tput_128.json" 'format(d["throughput_msgs_per_s"], ",.0f")') |
| nats-server + libnats | $(j "$MSH_TMP/nats_tput_16.json" 'format(d["throughput_msgs_per_s"], ",.0f")') | $(j "$MSH_TMP/nats_tput_128.json" 'format(d["throughput_msgs_per_s"], ",.0f")') |
| memshard / NATS | $(ratio "$(j "$MSH_TMP/tput_16.json" 'd["throughput_msgs_per_s"]')" "$(j "$MSH_TMP/nats_tput_16.json" 'd["throughput_msgs_per_s"]')") | $(ratio "$(j "$MSH_TMP/tput_128.json" 'd["throughput_msgs_per_s"]')" "$(j "$MSH_TMP/nats_tput_128.json" 'd["throughput_msgs_per_s"]')") |

Lost messages (sent and never delivered or acked) in these runs: memshard
$(for f in deliver_busy_16 deliver_busy_128 deliver_block_16 deliver_block_128 tput_16 tput_128; do printf '%s ' "$(j "$MSH_TMP/$f.json" 'd["lost"]')"; done), NATS $(for f in nats_lat_16 nats_lat_128 nats_tput_16 nats_tput_128; do printf '%s ' "$(j "$MSH_TMP/$f.json" 'd["lost"]')"; done)
(latency runs at 10,000 msg/s, then the throughput runs; msh-sub re-requests any gap,
so its runs lose nothing unless retention passes it).

Commands (\`BUILD=$BUILD\`; the appliance config is written by tests/integration/lib.sh):
$(for f in "$MSH_TMP"/*.cmd; do echo "- $(cat "$f")"; done)
EOT
