#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Replication figures (issue 5), printed as a Markdown section: publish-to-ack
# at 10,000 msg/s for replicas=1, replicas=2 acks=1 and replicas=2 acks=all
# side by side on the same pair of appliances in one run, and the replication
# ack lag (append on the primary to the secondary's ack) from the primary's
# histogram. Two appliances and the client share the host's two CPUs, which
# no placement makes fair, so two placements are measured:
#   spin:    the primary's worker spins alone on CPU 1; the secondary
#            (back-off), both main lcores and the client share CPU 0;
#   backoff: both workers (back-off) share CPU 1; main lcores and the client
#            are on CPU 0.
# Never fails on a timing. Environment: MSH_BENCH_SECS (default 5).
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh
. tests/integration/pair.sh
SECS=${MSH_BENCH_SECS:-5}
pair_net_up
extra=("[shard one]" "segment_bytes = 4M" "max_bytes = 32M" "max_message = 1400"
	"[shard r1]" "segment_bytes = 4M" "max_bytes = 32M" "max_message = 1400" "replicas = 2"
	"[shard rall]" "segment_bytes = 4M" "max_bytes = 32M" "max_message = 1400"
	"replicas = 2" "acks = all")

j() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$1" "$2" 2>/dev/null || echo "?"; }
lat() { printf '%s / %s / %s' "$(j "$1" 'd["latency_us"]["p50"]')" "$(j "$1" 'd["latency_us"]["p99"]')" "$(j "$1" 'd["latency_us"]["p99_9"]')"; }
ratio() { python3 -c "a=$1; b=$2; print(f'{a/b:.2f}x')" 2>/dev/null || echo "?"; }
p50() { j "$1" 'd["latency_us"]["p50"]'; }
mshb() { # NAME SHARD ARGS...
	local name=$1 shard=$2
	shift 2
	echo "\`msh-bench $* $A_IP $shard\`" >"$MSH_TMP/$name.cmd"
	in_ns taskset -c 0 "$BUILD/msh-bench" --json "$@" "$A_IP" "$shard" >"$MSH_TMP/$name.json" \
		2>"$MSH_TMP/$name.err"
}

run() { # PLACEMENT
	local p=$1 s
	pair_conf "$MSH_TMP/a.conf" A primary "${extra[@]}"
	pair_conf "$MSH_TMP/b.conf" B secondary "${extra[@]}"
	if [ "$p" = spin ]; then
		sed -i 's/^idle = backoff/idle = spin/' "$MSH_TMP/a.conf"
		sed -i 's/^lcores = .*/lcores = 0@0,1@0/' "$MSH_TMP/b.conf"
	fi
	pair_start A "$MSH_TMP/a.conf"
	pair_start B "$MSH_TMP/b.conf"
	wait_for 10 "A primary" role_is A primary
	wait_for 10 "B secondary" role_is B secondary
	for s in one r1 rall; do
		mshb "${p}_$s" "$s" --mode ack --rate 10000 --size 64 --warmup 1 --duration "$SECS"
	done
	# The primary keeps a histogram of each advancing ack's lag (append to ack).
	for s in r1 rall; do
		actl --json repl status | pj "'%s / %s / %s us (%d acks)' % tuple(d['shards']['$s'][k] for k in ('ack_lag_p50_us', 'ack_lag_p99_us', 'ack_lag_p99_9_us', 'ack_lag_samples'))" \
			>"$MSH_TMP/${p}_lag_$s.txt" 2>/dev/null || echo "?" >"$MSH_TMP/${p}_lag_$s.txt"
	done
	pair_stop A
	pair_stop B
}
run spin
run backoff

row() { # PLACEMENT
	local p=$1
	printf '| %s | %s | %s | %s | %s | %s |\n' "$p" "$(lat "$MSH_TMP/${p}_one.json")" \
		"$(lat "$MSH_TMP/${p}_r1.json")" "$(lat "$MSH_TMP/${p}_rall.json")" \
		"$(ratio "$(p50 "$MSH_TMP/${p}_r1.json")" "$(p50 "$MSH_TMP/${p}_one.json")")" \
		"$(ratio "$(p50 "$MSH_TMP/${p}_rall.json")" "$(p50 "$MSH_TMP/${p}_one.json")")"
}

cat <<EOT
## Replication: publish-to-ack (issue 5)
Two appliances on this host (tests/integration/pair.sh: ingest ports bridged in the
clients' namespace, a veth pair as the replication link, net_af_packet everywhere), one
msh-bench client (blocking sockets, CPU 0), 64-byte messages at 10,000 msg/s, one per
datagram, three shards on the same pair in the same run. Two appliances and a client on
two CPUs cannot be placed without contention, so two placements: **spin**, the primary's
worker spins alone on CPU 1 while the secondary (back-off) shares CPU 0 with the client
(its work on each DATA frame delays the client's wake-ups); **backoff**, both workers
(back-off) share CPU 1 (the secondary's answer waits for the primary's time slice).

| placement | replicas = 1, p50 / p99 / p99.9 (us) | replicas = 2 acks = 1 | replicas = 2 acks = all | acks=1 / replicas=1 at p50 (target <= 1.10x) | acks=all / replicas=1 at p50 (target < 2x) |
|---|---:|---:|---:|---:|---:|
$(row spin)
$(row backoff)

Replication ack lag, from the primary's own histogram (a message's append to the
secondary's cumulative ack covering it; \`memshardctl repl status\`), p50 / p99 / p99.9:

| placement | acks = 1 shard | acks = all shard |
|---|---:|---:|
| spin | $(cat "$MSH_TMP/spin_lag_r1.txt") | $(cat "$MSH_TMP/spin_lag_rall.txt") |
| backoff | $(cat "$MSH_TMP/backoff_lag_r1.txt") | $(cat "$MSH_TMP/backoff_lag_rall.txt") |

Commands: \`bash tests/bench/repl.sh\`; per shard $(cat "$MSH_TMP/spin_rall.cmd") (shards \`one\`, \`r1\`, \`rall\`).

EOT
