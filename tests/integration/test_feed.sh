#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# A MoldUDP64 feed on two multicast lines (A and B, the same messages cut
# into different packets) from a sender in the namespace, with 5% of each
# line's packets dropped independently by nftables: the shard holds every
# message exactly once, in order, byte for byte (the few lost on both lines
# come from the re-request server the test runs), and the per-line counters
# add up. Then, with no re-request server, a range lost on both lines is
# reported (counter, mark, log line) and the feed goes on; bad input (a
# malformed packet, a packet whose count overruns it, a sequence number far
# in the future, a group not joined) is counted and changes nothing stored;
# a new upstream session (start of day) is followed.
. "$(dirname "$0")/lib.sh"
N=${MSH_FEED_MESSAGES:-20000}
MF="python3 $(dirname "$0")/moldfeed.py"
GA=239.77.1.1:30001
GB=239.77.1.2:30002
SESS=TEST000001

msh_netns_up
in_ns ip route add 224.0.0.0/4 dev "$MSH_VETH_NS" || fail "multicast route in the namespace"
RR=$MSH_CLIENT_IP:31000

msh_conf_write "$MSH_TMP/m.conf" "max_message = 1400"
cat >>"$MSH_TMP/m.conf" <<EOT
[shard gapped]
segment_bytes = 4M
max_bytes = 64M
[feed ab]
shard = ticks
line_a = $GA
line_b = $GB
gap_timeout = 20ms
rerequest = $RR
rerequest_timeout = 500ms
EOT
msh_start "$MSH_TMP/m.conf"

# ---- 1. 5% loss per line, every message once, in order -----------------------
in_ns nft -f - <<EOT || fail "nftables loss rules"
table inet mshloss {
	chain out {
		type filter hook output priority 0;
		ip daddr ${GA%:*} numgen random mod 100 < 5 counter drop
		ip daddr ${GB%:*} numgen random mod 100 < 5 counter drop
	}
}
EOT
# ip netns exec execs python: $! is the server itself.
ip netns exec "$MSH_NS" $MF rerequest-server --session $SESS --count "$N" \
	--stats "$MSH_TMP/rr.json" "$RR" >"$MSH_TMP/rr.out" 2>&1 &
RR_PID=$!
MSH_PIDS+=($RR_PID)
wait_for 10 "re-request server listening" test -s "$MSH_TMP/rr.json"

ip netns exec "$MSH_NS" "$BUILD/msh-sub" -s "$MSH_APP_IP" --count "$N" --timeout 120 \
	--out "$MSH_TMP/sub.bin" --json ticks >"$MSH_TMP/sub.json" 2>"$MSH_TMP/sub.err" &
SUB=$!
MSH_PIDS+=($SUB)
in_ns $MF send --src-ip "$MSH_CLIENT_IP" --session $SESS --count "$N" --rate 20000 \
	--b-packetize-differently --heartbeat-after 1 "$GA" "$GB" >"$MSH_TMP/send.json" ||
	fail "sender: $(cat "$MSH_TMP/send.json")"
ok "sender: $(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["packets"])' "$MSH_TMP/send.json") packets per line"
wait "$SUB" || fail "subscriber: $(cat "$MSH_TMP/sub.json" "$MSH_TMP/sub.err")"
ok "subscriber got $N messages: $(cat "$MSH_TMP/sub.json")"
drops=$(in_ns nft list table inet mshloss | grep -o 'packets [0-9]*' | awk '{s += $2} END {print s}')
[ "${drops:-0}" -gt 0 ] || fail "nftables dropped nothing"
ok "nftables dropped $drops packets over both lines"

python3 - "$MSH_TMP/sub.bin" "$SESS" "$N" "$(dirname "$0")" <<'PY' || fail "shard content"
import sys
sys.path.insert(0, sys.argv[4])
import moldfeed
data, sess, n = open(sys.argv[1], "rb").read(), sys.argv[2], int(sys.argv[3])
off, seq = 0, 1
while off < len(data):
    ln = int.from_bytes(data[off:off + 2], "big")
    got = data[off + 2:off + 2 + ln]
    want = moldfeed.payload(sess, seq, moldfeed.parse_size("16-120"), 1)
    if got != want:
        sys.exit(f"message {seq}: {got[:40]!r} != {want[:40]!r}")
    off += 2 + ln
    seq += 1
if seq - 1 != n:
    sys.exit(f"{seq - 1} messages, expected {n}")
print(f"{n} messages in upstream order, byte for byte, none twice")
PY
ok "shard content is the upstream feed"

show() { ctl --json feed show ab; }
show >"$MSH_TMP/show1.json"
python3 - "$MSH_TMP/show1.json" "$N" <<'PY' || fail "counters: $(cat "$MSH_TMP/show1.json")"
import json, sys
j, n = json.load(open(sys.argv[1])), int(sys.argv[2])
c, (a, b) = j["counters"], j["lines"]
assert c["appended_msgs"] == n and c["emitted_msgs"] == n, c
for l in (a, b):
    assert l["won_msgs"] + l["dup_msgs"] == l["msgs"], l
    assert l["pkts"] == l["datagrams"] and l["malformed"] == 0, l
assert a["won_msgs"] + b["won_msgs"] + c["fill_msgs"] == n, (a["won_msgs"], b["won_msgs"], c)
assert a["msgs"] < n and b["msgs"] < n, "no loss on a line?"
assert c["gaps_given_up"] == 0 and c["gap_msgs_lost"] == 0, c
assert c["rerequest_msgs"] == c["fill_msgs"], c
assert a["skew"]["samples"] + b["skew"]["samples"] > 0, "no A-B skew measured"
print(f"A won {a['won_msgs']}, B won {b['won_msgs']}, re-requests filled {c['fill_msgs']} "
      f"({c['rerequests']} requests); A dup {a['dup_msgs']}, B dup {b['dup_msgs']}; "
      f"late fills A {a['late_fill_msgs']} B {b['late_fill_msgs']}; "
      f"skew p99 A {a['skew']['p99_us']} us B {b['skew']['p99_us']} us")
PY
ok "per-line counters add up: $(python3 - "$MSH_TMP/show1.json" "$N" <<'PY'
import json, sys
j = json.load(open(sys.argv[1])); a, b = j["lines"]; c = j["counters"]
print(f"A won {a['won_msgs']} dup {a['dup_msgs']}, B won {b['won_msgs']} dup {b['dup_msgs']}, "
      f"filled {c['fill_msgs']} by {c['rerequests']} requests")
PY
)"
kill "$RR_PID" && wait "$RR_PID" 2>/dev/null
in_ns nft delete table inet mshloss

# ---- 2. lost on both lines, no re-request server: reported, the feed goes on ---
ctl feed create gap shard=gapped line_a=239.77.2.1:30011 line_b=239.77.2.2:30012 \
	gap_timeout=20ms >/dev/null || fail "feed create gap"
in_ns $MF send --src-ip "$MSH_CLIENT_IP" --session $SESS --count 3000 --rate 20000 \
	--drop-both 1000-1009,2500 --heartbeat-after 0.5 --bad --bad-group 239.77.9.9:30019 \
	239.77.2.1:30011 239.77.2.2:30012 >"$MSH_TMP/send2.json" || fail "sender 2"
wait_for 10 "gapped holds 2989 messages" sh -c \
	"$BUILD/memshardctl --socket $MSH_TMP/ctl.sock --json feed show gap | grep -q '\"appended_msgs\": 2989'"
ctl --json feed show gap >"$MSH_TMP/show2.json"
python3 - "$MSH_TMP/show2.json" <<'PY' || fail "gap report: $(cat "$MSH_TMP/show2.json")"
import json, sys
j = json.load(open(sys.argv[1]))
c, a = j["counters"], j["lines"][0]
assert c["gaps_given_up"] == 2 and c["gap_msgs_lost"] == 11, c
gaps = [m for m in j["marks"] if m["kind"] == "gap"]
assert [(g["upstream_seq"], g["upstream_count"]) for g in gaps] == [(1000, 10), (2500, 1)], gaps
assert gaps[0]["shard_seq"] == 1000 and gaps[1]["shard_seq"] == 2490, gaps
assert a["far_future"] >= 1, a
assert a["malformed"] >= 2, a
assert j["gap"] is None and j["next_upstream_seq"] == 3001, j
print("gaps at upstream 1000+10 and 2500+1 marked at shard seq 1000 and 2490")
PY
ok "a gap lost on both lines is reported and skipped"
grep -q "feed gap: gap: upstream $SESS seq 1000-1009 (10 messages) lost on every line" \
	"$MSH_TMP/memshard.err" || fail "no log line for the gap"
ok "log: $(grep -m1 'feed gap: gap' "$MSH_TMP/memshard.err")"

in_ns "$BUILD/msh-sub" -s "$MSH_APP_IP" --count 2989 --timeout 30 --out "$MSH_TMP/sub2.bin" \
	--json gapped >"$MSH_TMP/sub2.json" 2>"$MSH_TMP/sub2.err" ||
	fail "subscriber 2: $(cat "$MSH_TMP/sub2.json" "$MSH_TMP/sub2.err")"
python3 - "$MSH_TMP/sub2.bin" "$SESS" "$(dirname "$0")" <<'PY' || fail "gapped content"
import sys
sys.path.insert(0, sys.argv[3])
import moldfeed
data, sess = open(sys.argv[1], "rb").read(), sys.argv[2]
want = [s for s in range(1, 3001) if not (1000 <= s <= 1009 or s == 2500)]
off, i = 0, 0
while off < len(data):
    ln = int.from_bytes(data[off:off + 2], "big")
    exp = moldfeed.payload(sess, want[i], moldfeed.parse_size("16-120"), 1)
    if data[off + 2:off + 2 + ln] != exp:
        sys.exit(f"shard message {i + 1} is not upstream {want[i]}")
    off += 2 + ln
    i += 1
assert i == len(want), (i, len(want))
print("the bad packets changed nothing stored")
PY
ok "bad input counted, nothing stored changed"

# ---- 3. start of day: a new session is followed -------------------------------
in_ns $MF send --src-ip "$MSH_CLIENT_IP" --session $SESS --count 0 --end \
	--session2 TEST000002 --count2 500 --rate 20000 \
	239.77.2.1:30011 239.77.2.2:30012 >"$MSH_TMP/send3.json" || fail "sender 3"
wait_for 10 "gapped holds 3489 messages" sh -c \
	"$BUILD/memshardctl --socket $MSH_TMP/ctl.sock --json feed show gap | grep -q '\"appended_msgs\": 3489'"
ctl --json feed show gap >"$MSH_TMP/show3.json"
python3 - "$MSH_TMP/show3.json" <<'PY' || fail "session change: $(cat "$MSH_TMP/show3.json")"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["session"] == "TEST000002" and j["next_upstream_seq"] == 501, j
kinds = [(m["kind"], m["session"], m["shard_seq"]) for m in j["marks"] if m["kind"] != "gap"]
assert ("end", "TEST000001", 2990) in kinds and ("session", "TEST000002", 2990) in kinds, kinds
print(kinds)
PY
ok "end of session and the new session are marked at shard seq 2990"

c=$(ctl --json stats | python3 -c 'import json,sys; print(json.load(sys.stdin)["drops"]["MCAST_NOT_JOINED"])')
[ "$c" -ge 1 ] || fail "MCAST_NOT_JOINED $c"
ok "a group not joined is dropped and counted ($c)"
ctl feed delete gap >/dev/null || fail "feed delete"
ctl feed show gap >/dev/null 2>&1 && fail "feed still shown after delete"
ok "feed deleted"
msh_stop
[ "$MSH_RC" -eq 0 ] || fail "memshard exited $MSH_RC"
echo "test_feed: $checks checks passed"
