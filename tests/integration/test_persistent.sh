#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# storage = persistent (issue 6): a publish is acked only once its messages are
# on disk (journal, group commit by the spill thread). Checks:
#  1. acked publishes: every ack was held until durable_seq passed it;
#  2. kill -9 of the appliance under load, then restart: every message the
#     publisher saw acked is there (journal replayed on top of the spill
#     files), byte for byte, and sequence numbers continue after it;
#  3. storage changed on a live shard, memory -> persistent -> memory: acks
#     are held only in between, and the journal goes once it is not needed.
. "$(dirname "$0")/lib.sh"
SPILL=$MSH_TMP/spill
msh_netns_up
mkdir -p "$SPILL"
msh_conf_appliance "$MSH_TMP/p.conf" 256M
cat >>"$MSH_TMP/p.conf" <<EOT
[shard p]
segment_bytes = 256K
max_bytes = 8M
storage = persistent
spill = disk
spill_dir = $SPILL
EOT
J() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
show() { ctl --json shard show p | J "$1"; }

msh_start "$MSH_TMP/p.conf"
[ "$(show 'd["storage"]')" = persistent ] || fail "storage: $(show 'd["storage"]')"
in_ns "$BUILD/msh-pub" --gen --count 50000 --size 64 --batch 8 --json "$MSH_APP_IP" p \
	>"$MSH_TMP/pub.json" 2>"$MSH_TMP/pub.err" || fail "msh-pub: $(cat "$MSH_TMP/pub.json" "$MSH_TMP/pub.err")"
held=$(show 'd["persistent"]["held"]')
rel=$(show 'd["persistent"]["released"]')
durable=$(show 'd["persistent"]["durable_seq"]')
[ "$held" -gt 0 ] && [ "$held" = "$rel" ] || fail "held $held, released $rel"
[ "$durable" = 50001 ] || fail "durable_seq $durable, want 50001"
ls "$SPILL" | grep -q '^p-.*\.jnl$' || fail "no journal file in $SPILL: $(ls "$SPILL")"
ok "50000 persistent publishes: $held acks held until on disk, all released; durable_seq $durable"

# ---- kill -9 under load ---------------------------------------------------------
in_ns "$BUILD/msh-pub" --gen --count 400000 --start-seq 50001 --publisher-id 2 --size 64 \
	--batch 8 --rate 100k --json "$MSH_APP_IP" p >"$MSH_TMP/pub2.json" 2>"$MSH_TMP/pub2.err" &
pub=$!
MSH_PIDS+=($pub)
wait_for 30 "durable_seq past 80000" sh -c "[ \$($BUILD/memshardctl --socket $MSH_TMP/ctl.sock --json shard show p | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"persistent\"][\"durable_seq\"])') -gt 80000 ]"
kill -9 "$MSH_PID"
wait "$MSH_PID" 2>/dev/null
wait "$pub" && fail "the publisher finished before the kill"
acked=$(python3 -c "import json; print(json.load(open('$MSH_TMP/pub2.json'))['last_shard_seq'])")
[ "$acked" -gt 80000 ] || fail "publisher's last acked shard_seq $acked"
msh_start "$MSH_TMP/p.conf"
next=$(show 'd["next_seq"]')
[ "$next" -gt "$acked" ] || fail "after restart next_seq $next, but seq $acked was acked"
grep -o 'journal replayed.*\|recovered.*' "$MSH_TMP/memshard.err" | head -2 | tr '\n' ' ' >"$MSH_TMP/rec.txt"
in_ns "$BUILD/msh-sub" -s "$MSH_APP_IP" --start-seq 1 --count $((next - 1)) --verify --timeout 60 \
	--json p >"$MSH_TMP/sub.json" 2>"$MSH_TMP/sub.err" || fail "subscriber: $(cat "$MSH_TMP/sub.json" "$MSH_TMP/sub.err")"
python3 - "$MSH_TMP/sub.json" $((next - 1)) <<'PY' || fail "subscriber summary: $(cat "$MSH_TMP/sub.json")"
import json, sys
j = json.load(open(sys.argv[1])); n = int(sys.argv[2])
assert j["delivered"] == n and j["verify_errors"] == 0 and j["duplicates"] == 0, j
PY
ok "kill -9 at acked seq $acked: restart holds seq 1..$((next - 1)), every byte verified ($(cat "$MSH_TMP/rec.txt"))"
in_ns "$BUILD/msh-pub" --gen --count 100 --start-seq "$next" --publisher-id 3 --size 64 \
	"$MSH_APP_IP" p >/dev/null 2>&1 || fail "publish after restart"
[ "$(show 'd["next_seq"]')" = $((next + 100)) ] || fail "next_seq after 100 more"
ok "sequence numbers continue at $next after the restart"

# ---- the newest spill file lost: the journal still holds what came after ---------------
before=$(show 'd["next_seq"]')
kill -9 "$MSH_PID"
wait "$MSH_PID" 2>/dev/null
newest=$(ls "$SPILL" | grep '^p-.*\.seg$' | sort | tail -1)
rm -f "$SPILL/$newest"
msh_start "$MSH_TMP/p.conf"
grep -q 'are in neither a spill file nor the journal' "$MSH_TMP/memshard.err" ||
	fail "no report of the lost range: $(grep -v '^EAL' "$MSH_TMP/memshard.err" | tail -5)"
[ "$(show 'd["next_seq"]')" = "$before" ] || fail "next_seq $(show 'd["next_seq"]') after losing $newest, was $before"
ok "losing $newest: the appliance starts, reports $(grep -o 'seq [0-9]*\.\.[0-9]* are in neither' "$MSH_TMP/memshard.err"), and the journal's messages are kept"

# ---- storage changed on a live shard ---------------------------------------------
lshow() { ctl --json shard show live | J "$1"; }
ctl shard create live spill=disk "spill_dir=$SPILL" max_bytes=8M segment_bytes=256K >/dev/null ||
	fail "create live"
pubn() { in_ns "$BUILD/msh-pub" --gen --count 1000 --start-seq "$1" --size 64 --batch 8 \
	--publisher-id 9 "$MSH_APP_IP" live >/dev/null 2>&1 || fail "publish to live from $1"; }
pubn 1
[ "$(lshow 'd["storage"]')" = memory ] && [ "$(lshow '"persistent" in d')" = False ] ||
	fail "live starts as memory"
ctl shard set live storage=persistent >/dev/null || fail "set storage=persistent"
pubn 1001
held=$(lshow 'd["persistent"]["held"]')
[ "$held" -gt 0 ] && [ "$held" = "$(lshow 'd["persistent"]["released"]')" ] || fail "held $held after the switch"
[ "$(lshow 'd["persistent"]["durable_seq"]')" = 2001 ] || fail "durable_seq $(lshow 'd["persistent"]["durable_seq"]')"
ls "$SPILL" | grep -q '^live-.*\.jnl$' || fail "no journal for live"
ctl shard set live storage=memory >/dev/null || fail "set storage=memory"
pubn 2001
[ "$(lshow 'd["persistent"]["held"]')" = "$held" ] || fail "acks still held after the switch back"
wait_for 10 "live's journal removed once its segment is spilled" \
	sh -c "! ls '$SPILL' | grep -q '^live-.*\.jnl\$'"
[ "$(lshow 'd["next_seq"]')" = 3001 ] || fail "live next_seq"
out=$(ctl shard set p spill=off 2>&1) && fail "spill changed live"
ok "live storage change: memory, then persistent (acks held: $held), then memory (journal removed once spilled)"
msh_stop
echo "test_persistent: $checks checks passed"
