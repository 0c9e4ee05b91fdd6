#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Two appliances (issue 5), A starting as primary and B as secondary, over a
# dedicated replication link (tests/integration/pair.sh):
#  1. steady replication: 1,000,000 messages acked by A; B holds the same
#     shard byte for byte (a subscriber at each, streams compared);
#  2. 5% loss on the replication link (nftables in the link's bridge) with acks=all: B still ends
#     identical, and no publisher was acked before B had its messages;
#  3. cutting only the replication link leaves one primary: B sees A alive on
#     the ingest network and holds (alarm), then catches up when it returns;
#  4. kill -9 of A under load with acks=all: B promotes itself and holds every
#     message A acked;
#  5. the old primary restarts, rejoins as secondary and converges; the
#     publisher re-sends to B, whose dedupe (fed by the replication frames)
#     keeps every message exactly once, and a subscriber given both
#     appliances goes on from B without a gap; sequence numbers never diverge;
#  6. kill -9 of the primary (B by then) with acks=1 after its acks could not
#     reach A: what is lost is exactly the lag it showed.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pair.sh"
N=${MSH_REPL_MESSAGES:-1000000}
pair_net_up

# streams_equal SHARD COUNT: subscribe at A and at B from 1, compare the bytes.
streams_equal() {
	local s=$1 n=$2 who
	for who in A B; do
		local ip=$A_IP
		[ "$who" = B ] && ip=$B_IP
		in_ns "$BUILD/msh-sub" -s "$ip" --start-seq 1 --count "$n" --timeout 60 --json \
			--out "$MSH_TMP/$who.bin" "$s" >"$MSH_TMP/$who.sub.json" 2>"$MSH_TMP/$who.sub.err" ||
			fail "subscriber at $who: $(cat "$MSH_TMP/$who.sub.json" "$MSH_TMP/$who.sub.err")"
	done
	cmp -s "$MSH_TMP/A.bin" "$MSH_TMP/B.bin" || fail "shard $s differs between A and B"
}

# ---- 1. steady ---------------------------------------------------------------
pair_conf "$MSH_TMP/a.conf" A primary "acks = 1" "[shard all]" "segment_bytes = 4M" \
	"max_bytes = 64M" "max_message = 1400" "replicas = 2" "acks = all"
pair_conf "$MSH_TMP/b.conf" B secondary "acks = 1" "[shard all]" "segment_bytes = 4M" \
	"max_bytes = 64M" "max_message = 1400" "replicas = 2" "acks = all"
pair_start A "$MSH_TMP/a.conf"
pair_start B "$MSH_TMP/b.conf"
wait_for 10 "A primary" role_is A primary
wait_for 10 "B secondary, caught up" role_is B secondary
out=$(in_ns "$BUILD/msh-pub" --gen --count 10 --size 32 --retries 1 "$B_IP" r 2>&1) &&
	fail "a publish to the secondary was acked: $out"
case $out in *"not primary"*) ;; *) fail "publish to B: $out" ;; esac
in_ns "$BUILD/msh-pub" --gen --count "$N" --size 32 --batch 32 --json "$A_IP" r \
	>"$MSH_TMP/pub.json" 2>"$MSH_TMP/pub.err" || fail "msh-pub: $(cat "$MSH_TMP/pub.err")"
wait_for 30 "B caught up with A" same_next r
streams_equal r "$N"
lag=$(actl --json repl status | pj 'd["shards"]["r"]["ack_lag_max_us"]')
ok "steady: $N messages acked by A, B identical byte for byte (NOT_PRIMARY at B; max ack lag ${lag} us)"
tel=$(printf '%s\n' /memshard/repl /memshard/shard,r | dpdk-telemetry.py -f "msh-itB$$" 2>&1 |
	grep '^{' | python3 -c "
import json, sys
d = {}
for l in sys.stdin: d.update(json.loads(l))
print(d['/memshard/repl']['role'], d['/memshard/shard']['repl_lag_msgs'], d['/memshard/shard']['next_seq'])")
[ "$tel" = "secondary 0 $((N + 1))" ] || fail "telemetry of B: '$tel'"
ok "dpdk-telemetry.py at B: /memshard/repl and the shard's replication lag ($tel)"

# ---- 2. 5% loss on the link, acks=all ----------------------------------------------
# No netem here (TESTBED.md): nftables in the link's bridge drops 5% of the
# frames each way.
pair_link_loss 5
M=200000
in_ns "$BUILD/msh-pub" --gen --count "$M" --size 32 --batch 16 --json "$A_IP" all \
	>"$MSH_TMP/pub2.json" 2>"$MSH_TMP/pub2.err" || fail "msh-pub acks=all: $(cat "$MSH_TMP/pub2.err")"
wait_for 30 "B caught up on 'all'" same_next all
retx=$(actl --json shard show all | pj 'd["replication"]["counters"]["retx_msgs"]')
early=$(actl --json shard show all | pj 'd["replication"]["counters"]["pending_released"]')
dropped=$(pair_link_dropped)
[ "$dropped" -gt 0 ] || fail "nftables dropped nothing on the link"
[ "$retx" -gt 0 ] || fail "no retransmission although $dropped frames were dropped"
[ "$early" -gt 0 ] || fail "acks=all released no ack"
streams_equal all "$M"
pair_link_loss 0
ok "5% loss on the link, acks=all: $M acked, $dropped frames dropped, $retx messages sent again, B identical"

# ---- 3. only the replication link cut ----------------------------------------------
ip link set "$PAIR_R" down
wait_for 10 "B's alarm: peer silent on the link but alive on ingest" \
	sh -c "$BUILD/memshardctl --socket $MSH_TMP/B.sock --json repl status | grep -q 'alive on ingest'"
role_is B secondary || fail "B promoted itself with A alive"
role_is A primary || fail "A is no longer primary"
in_ns "$BUILD/msh-pub" --gen --count 1000 --size 32 --start-seq $((N + 1)) --publisher-id 77 \
	"$A_IP" r >/dev/null 2>&1 || fail "publish to A with the link down (acks=1)"
ip link set "$PAIR_R" up
wait_for 20 "B caught up after the link came back" same_next r
ok "link cut: B held as secondary (split-brain alarm), A stayed primary; B caught up after"

# ---- 4. kill -9 of the primary, acks=all --------------------------------------------
K=300000
first=$(next_seq A all)
in_ns "$BUILD/msh-sub" -s "$A_IP" -s "$B_IP" --start-seq "$first" --count "$K" --verify \
	--silence-ms 1500 --timeout 90 --json all >"$MSH_TMP/fsub.json" 2>"$MSH_TMP/fsub.err" &
fsub=$!
MSH_PIDS+=($fsub)
in_ns "$BUILD/msh-pub" --gen --count "$K" --size 32 --batch 8 --rate 100k --publisher-id 500 \
	--timeout-ms 200 --retries 3 --json "$A_IP" all >"$MSH_TMP/kpub.json" 2>/dev/null &
kpub=$!
MSH_PIDS+=($kpub)
wait_for 20 "A took 50,000 of them" sh -c "[ \$($BUILD/memshardctl --socket $MSH_TMP/A.sock --json shard show all | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"next_seq\"])') -gt $((first + 50000)) ]"
kill -9 "$A_PID"
wait "$A_PID" 2>/dev/null
wait "$kpub" && fail "the publisher finished before A died"
acked=$(python3 -c "import json; print(json.load(open('$MSH_TMP/kpub.json'))['messages_acked'])")
wait_for 20 "B promoted itself" role_is B primary
held=$(( $(next_seq B all) - first ))
[ "$held" -ge "$acked" ] || fail "A acked $acked messages, B holds $held"
epoch=$(bctl --json repl status | pj 'd["epoch"]')
ok "kill -9 of A under acks=all: A had acked $acked, B held $held when it took over (epoch $epoch)"

# ---- 5. the old primary returns ------------------------------------------------------
# acks=all waits for a secondary (no silent downgrade while B is alone), so A
# comes back first: it restarts empty, rejoins as secondary and catches up.
pair_start A "$MSH_TMP/a.conf"
wait_for 20 "A rejoined as secondary" role_is A secondary
# The publisher goes on at B: it re-sends everything B may lack; B's dedupe
# (fed by the replication frames) keeps what it already has.
in_ns "$BUILD/msh-pub" --gen --count "$K" --size 32 --batch 8 --publisher-id 500 --json \
	"$B_IP" all >"$MSH_TMP/kpub2.json" 2>&1 || fail "re-publish to B: $(cat "$MSH_TMP/kpub2.json")"
wait "$fsub" || fail "subscriber through the failover: $(cat "$MSH_TMP/fsub.json" "$MSH_TMP/fsub.err")"
python3 - "$MSH_TMP/fsub.json" "$K" <<'PY' || fail "subscriber summary: $(cat "$MSH_TMP/fsub.json")"
import json, sys
j = json.load(open(sys.argv[1])); k = int(sys.argv[2])
assert j["delivered"] == k and j["lost"] == 0 and j["verify_errors"] == 0, j
assert j["index_jumps"] == 0 and j["duplicates"] == 0 and j["failovers"] >= 1, j
PY
[ "$(next_seq B all)" = $((first + K)) ] || fail "B holds $(( $(next_seq B all) - first )) of $K"
ok "the subscriber given A and B failed over and got all $K once, in order; the publisher's re-sends to B were deduplicated"
wait_for 30 "A converged on 'all'" same_next all
wait_for 30 "A converged on 'r'" same_next r
streams_equal all $(( $(next_seq B all) - 1 ))
ok "A restarted: secondary in epoch $(actl --json repl status | pj 'd["epoch"]'), both shards identical to B's"

# ---- promote and demote by command ---------------------------------------------------
e0=$(bctl --json repl status | pj 'd["epoch"]')
actl repl promote >/dev/null || fail "repl promote at A"
wait_for 10 "A primary by command" role_is A primary
wait_for 10 "B demoted itself on A's higher epoch" role_is B secondary
e1=$(actl --json repl status | pj 'd["epoch"]')
[ "$e1" -gt "$e0" ] || fail "epoch did not rise on promote ($e0 -> $e1)"
in_ns "$BUILD/msh-pub" --gen --count 1000 --size 32 --publisher-id 800 "$A_IP" all >/dev/null 2>&1 ||
	fail "acks=all publish to the promoted A"
wait_for 10 "B follows A" same_next all
out=$(actl repl promote 2>&1) && fail "promote of a primary accepted"
bctl repl promote >/dev/null || fail "repl promote at B"
wait_for 10 "B primary again" role_is B primary
wait_for 10 "A secondary again" role_is A secondary
ok "repl promote moved the primary to A (epoch $e0 -> $e1) and back to B; 'already primary' refused"

# ---- 6. kill -9 of the primary (now B) with acks=1: the loss is the lag --------------
# The link is cut first, so what B acks meanwhile cannot reach A: the lag B
# shows is exactly what a failover at that moment loses.
lag_of() { "$BUILD/memshardctl" --socket "$MSH_TMP/$1.sock" --json shard show r | pj 'd["replication"]["lag_msgs"]'; }
ip link set "$PAIR_S" down
in_ns "$BUILD/msh-pub" --gen --count 5000 --size 32 --batch 10 --publisher-id 900 \
	"$B_IP" r >/dev/null 2>&1 || fail "acks=1 publishes to B with the link cut"
lag_reached() { [ "$(lag_of B)" -ge 5000 ]; }
wait_for 10 "B shows the lag" lag_reached
lag=$(lag_of B)
b_last=$(( $(next_seq B r) - 1 ))
kill -9 "$B_PID"
wait "$B_PID" 2>/dev/null
ip link set "$PAIR_S" up
wait_for 20 "A promoted itself" role_is A primary
a_last=$(( $(next_seq A r) - 1 ))
lost=$((b_last - a_last))
[ "$lost" -le "$lag" ] || fail "acks=1 lost $lost acked messages, more than the lag $lag shown"
[ "$lost" = 5000 ] || fail "lost $lost, expected the 5000 published while the link was cut"
ok "kill -9 of B with acks=1: lost $lost acked messages, the lag B showed before (${lag})"
pair_stop A
echo "test_repl: $checks checks passed"
