#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# A subscriber that stops reading, and one that vanishes, hold back no one: the
# publisher's acks and another subscriber's feed carry on complete, the stalled
# one's lag shows in the counters, and the vanished one's lease runs out.
. "$(dirname "$0")/lib.sh"
N=${MSH_SLOW_MESSAGES:-200000}
msh_netns_up
msh_conf_write "$MSH_TMP/m.conf"
msh_start "$MSH_TMP/m.conf"
in_ns python3 tests/integration/slowsub.py "$MSH_APP_IP" stalled >"$MSH_TMP/stalled.log" 2>&1 &
STALLED=$!
MSH_PIDS+=("$STALLED")
wait_for 10 "stalled subscriber subscribed" grep -q subscribed "$MSH_TMP/stalled.log"
in_ns python3 tests/integration/slowsub.py "$MSH_APP_IP" vanish || fail "vanishing subscriber"
in_ns "$BUILD/msh-sub" -s "$MSH_APP_IP" --count "$N" --verify --timeout 120 --json ticks \
	>"$MSH_TMP/sub.json" 2>"$MSH_TMP/sub.err" &
SUB=$!
MSH_PIDS+=("$SUB")
# Paced over about a second, longer than the vanished one's 300 ms lease.
in_ns "$BUILD/msh-pub" --gen --count "$N" --size 64 --batch 16 --rate 200k --json \
	"$MSH_APP_IP" ticks >"$MSH_TMP/pub.json" 2>"$MSH_TMP/pub.err" ||
	fail "publisher held back: $(cat "$MSH_TMP/pub.json" "$MSH_TMP/pub.err")"
ok "publisher: every message acked: $(cat "$MSH_TMP/pub.json")"
wait "$SUB" || fail "healthy subscriber held back: $(cat "$MSH_TMP/sub.json" "$MSH_TMP/sub.err")"
python3 -c "import json,sys; j=json.load(open('$MSH_TMP/sub.json')); assert j['delivered']==$N and j['verify_errors']==0, j" ||
	fail "healthy subscriber incomplete: $(cat "$MSH_TMP/sub.json")"
ok "healthy subscriber: all $N in order"
msh_stop
kill "$STALLED" 2>/dev/null
lag=$(awk '$1 ~ /^sub\.ticks\..*\.lag$/ {print $2}' "$MSH_TMP/memshard.out" | sort -n | tail -n 1)
[ "${lag:-0}" -ge $((N - 1)) ] || fail "stalled subscriber's lag ${lag:-none}, expected >= $((N - 1))"
ok "stalled subscriber's lag shows: $lag messages"
n=$(counter subs_expired)
[ "$n" -ge 1 ] || fail "vanished subscriber's lease did not expire"
ok "vanished subscriber's lease expired ($n)"
echo "test_slow_subscriber: $checks checks passed"
