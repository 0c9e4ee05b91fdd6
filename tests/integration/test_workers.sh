#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Two worker lcores, one writer per shard, hand-offs over rte_ring. The
# ingest port has two queue pairs (net_af_packet qpairs=2: the kernel spreads
# flows over them with PACKET_FANOUT_HASH), one per worker, so a packet for a
# shard often arrives at the worker that does not own it and must be handed
# over. Checks: shard placement (pinned and worker = auto), live create on a
# given worker, refusal of a worker that does not exist, hand-offs in both
# directions (many publisher flows per shard, so each worker receives some
# packets for the other's shard), and four shards each getting acked
# publishes that reach their subscriber complete and byte for byte. Three
# lcores run on the two CPUs (lcores = 0@0,1@1,2@1, back-off idle).
. "$(dirname "$0")/lib.sh"
N=${MSH_WORKERS_MESSAGES:-100000}
SHARDS="s0 s1 s2 s3"
msh_netns_up

cat >"$MSH_TMP/w.conf" <<EOT
[appliance]
lcores = 0@0,1@1,2@1
workers = 2
idle = backoff
file_prefix = msh-it$$
arena_bytes = 512M
lease_default = 5s
heartbeat = 200ms
control_socket = $MSH_TMP/ctl.sock
[port ingest]
device = net_af_packet0,iface=$MSH_VETH_APP,qpairs=2,framecnt=4096,qdisc_bypass=1
address = $MSH_APP_IP/24
rx_queues = 2
[shard s0]
segment_bytes = 1M
max_bytes = 64M
worker = 0
[shard s1]
segment_bytes = 1M
max_bytes = 64M
worker = 1
[shard s2]
segment_bytes = 1M
max_bytes = 64M
[shard s3]
segment_bytes = 1M
max_bytes = 64M
EOT

J() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# pubsub: a subscriber and an acking publisher per shard, all at once.
pubsub() {
	local s pid
	for s in $SHARDS; do
		in_ns "$BUILD/msh-sub" -s "$MSH_APP_IP" --count "$N" --verify --timeout 120 \
			--json "$s" >"$MSH_TMP/sub.$s.json" 2>"$MSH_TMP/sub.$s.err" &
		eval "SUB_$s=$!"
		MSH_PIDS+=($!)
	done
	for s in $SHARDS; do
		in_ns "$BUILD/msh-pub" --gen --count "$N" --size 24 --batch 16 --json \
			"$MSH_APP_IP" "$s" >"$MSH_TMP/pub.$s.json" 2>"$MSH_TMP/pub.$s.err" &
		eval "PUB_$s=$!"
		MSH_PIDS+=($!)
	done
	for s in $SHARDS; do
		eval "pid=\$PUB_$s"
		wait "$pid" || fail "msh-pub $s: $(cat "$MSH_TMP/pub.$s.json" "$MSH_TMP/pub.$s.err")"
		eval "pid=\$SUB_$s"
		wait "$pid" || fail "msh-sub $s: $(cat "$MSH_TMP/sub.$s.json" "$MSH_TMP/sub.$s.err")"
		python3 - "$MSH_TMP/sub.$s.json" "$N" <<'PY' || fail "subscriber of $s: $(cat "$MSH_TMP/sub.$s.json")"
import json, sys
j = json.load(open(sys.argv[1])); n = int(sys.argv[2])
assert j.get("delivered", j.get("messages")) == n, j
for k in ("verify_errors", "mismatches", "lost", "duplicates"):
    assert j.get(k) in (0, None), (k, j)
PY
	done
	ok "4 shards: $N acked messages each reached their subscriber, verified byte for byte"
}


msh_start "$MSH_TMP/w.conf"
grep -q '2 workers, 2 RX queues' "$MSH_TMP/memshard.err" || fail "ready line: $(grep ready "$MSH_TMP/memshard.err")"
owners=$(for s in $SHARDS; do ctl --json shard show "$s" | J 'd["worker"]'; done | tr '\n' ' ')
[ "$owners" = "0 1 0 1 " ] || fail "owners of s0..s3 are '$owners', want '0 1 0 1 ' (pinned, then fewest shards)"
ok "shard owners: pinned s0->0, s1->1; auto s2->0, s3->1"
ctl --json stats | J '[(w["worker"], w["rx_queue"], w["tx_queue"], w["shards"]) for w in d["workers"]]' >"$MSH_TMP/w.txt"
[ "$(cat "$MSH_TMP/w.txt")" = "[(0, 0, 0, 2), (1, 1, 1, 2)]" ] || fail "workers: $(cat "$MSH_TMP/w.txt")"
ok "stats: each worker polls its own RX and TX queue and owns two shards"

# Live create on worker 1, a refused worker index, delete.
ctl shard create live1 max_bytes=8M segment_bytes=1M worker=1 >/dev/null || fail "create worker=1"
[ "$(ctl --json shard show live1 | J 'd["worker"]')" = 1 ] || fail "live1 not on worker 1"
out=$(ctl shard create bad max_bytes=8M segment_bytes=1M worker=2 2>&1) && fail "worker=2 accepted"
case $out in *"worker 2, but there are 2 workers"*) ;; *) fail "worker=2: '$out'" ;; esac
in_ns "$BUILD/msh-pub" --gen --count 1000 --size 16 --json "$MSH_APP_IP" live1 >/dev/null ||
	fail "publish to live1"
[ "$(ctl --json shard show live1 | J 'd["next_seq"]')" = 1001 ] || fail "live1 next_seq"
ctl shard delete live1 >/dev/null || fail "delete live1"
out=$(in_ns "$BUILD/msh-pub" --gen --count 1 --json --retries 2 "$MSH_APP_IP" live1 2>&1) &&
	fail "publish to a deleted shard succeeded: $out"
ok "live create on worker 1 took 1000 acked messages; worker=2 refused; delete ends it"

# Hand-offs both ways: 20 publisher flows (20 source ports) to each of s0 and
# s1; the kernel hashes each flow to one of the two queues, so each worker
# receives some flows of the other's shard (all 20 landing on the owner's
# queue has odds of 2^-20).
pids=()
for i in $(seq 1 20); do
	for s in s0 s1; do
		in_ns "$BUILD/msh-pub" --gen --count 200 --size 16 --batch 10 --publisher-id "$i" \
			"$MSH_APP_IP" "$s" >/dev/null 2>"$MSH_TMP/flow.$s.$i.err" &
		pids+=($!)
	done
done
MSH_PIDS+=("${pids[@]}")
for pid in "${pids[@]}"; do
	wait "$pid" || fail "a publisher flow failed: $(cat "$MSH_TMP"/flow.*.err)"
done
ctl --json stats | J '" ".join(str(w["handoff_in"]) for w in d["workers"])' >"$MSH_TMP/h.txt"
read -r h0 h1 <"$MSH_TMP/h.txt"
[ "$h0" -gt 0 ] && [ "$h1" -gt 0 ] || fail "hand-offs in: worker 0 $h0, worker 1 $h1 (want both > 0)"
for s in s0 s1; do
	[ "$(ctl --json shard show "$s" | J 'd["next_seq"]')" = 4001 ] || fail "$s did not append 20 x 200"
done
ok "20 flows x 200 acked messages to s0 and s1: worker 0 took $h0 hand-offs, worker 1 $h1"
ctl stats reset >/dev/null

pubsub
msh_stop
rx0=$(counter worker.0.rx_pkts); rx1=$(counter worker.1.rx_pkts)
o0=$(counter worker.0.handoff_out); o1=$(counter worker.1.handoff_out)
i0=$(counter worker.0.handoff_in); i1=$(counter worker.1.handoff_in)
full=$(counter drop.app.HANDOFF_FULL)
[ $((o0 + o1)) = $((i0 + i1 + full)) ] || fail "hand-offs out $o0+$o1, in $i0+$i1, dropped $full"
[ "$(counter shard.s0.appended_msgs)" = $((N + 4000)) ] || fail "s0 appended $(counter shard.s0.appended_msgs)"
[ "$(counter shard.s2.appended_msgs)" = "$N" ] || fail "s2 appended $(counter shard.s2.appended_msgs)"
ok "received: worker 0 $rx0, worker 1 $rx1 packets; hand-offs 0->1 $o0, 1->0 $o1 (ring full: $full); every shard appended exactly what was acked"
echo "test_workers: $checks checks passed"
