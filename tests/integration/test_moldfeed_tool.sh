#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Self-test of tests/integration/moldfeed.py, the exchange-feed stand-in, with
# the kernel alone (no DPDK, no appliance): the namespace sends lines A and B
# over the veth to a receiver in the root namespace (which has an address on
# its end for this test only).
#  1. A/B arbitration with different packet boundaries on B: the receiver ends
#     with every message except the --drop-both ones (lost on both lines, the
#     tail found by heartbeat/end of session), the --bad packets counted and
#     none of their poison taken; verify --expect-missing agrees.
#  2. The request/answer path: 5% of the data packets dropped by the receiver,
#     gaps (and the --drop-both ones) asked for from rerequest-server in the
#     namespace, which ignores the first 2 requests (retries); two sessions,
#     the second from seq 1; verify finds all of both, byte for byte.
. "$(dirname "$0")/lib.sh"
MF=(python3 "$(dirname "$0")/moldfeed.py")
need_root
msh_netns_up
ip addr add "$MSH_APP_IP/24" dev "$MSH_VETH_APP" || fail "address on $MSH_VETH_APP"
MSH_CLEANUPS+=("ip addr del $MSH_APP_IP/24 dev $MSH_VETH_APP")
in_ns ip route add 224.0.0.0/4 dev "$MSH_VETH_NS" || fail "multicast route in the namespace"
GA=239.77.1.1:31001
GB=239.77.1.2:31002
BADG=239.77.1.9:31001
RR=$MSH_CLIENT_IP:31100
N=20000

# jcheck FILE PYTHON-ASSERTS: assertions on the JSON object d in FILE.
jcheck() {
	python3 - "$1" "$2" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
exec(sys.argv[2])
PY
}

# start_recv NAME ARGS...: a receiver in the root namespace, joined to A and
# B on the root-side veth; waits until it has joined.
start_recv() {
	local name=$1
	shift
	"${MF[@]}" recv --group "$GA" --group "$GB" --iface-ip "$MSH_APP_IP" \
		--out "$MSH_TMP/$name.bin" --ready "$MSH_TMP/$name.ready" "$@" \
		>"$MSH_TMP/$name.json" 2>"$MSH_TMP/$name.err" &
	RECV=$!
	MSH_PIDS+=("$RECV")
	wait_for 10 "recv $name joined" test -e "$MSH_TMP/$name.ready"
}

# ---- 1: A/B, different boundaries, lost on both lines, bad packets -------------
DROP=500-509,1200,19995-20000
# A watcher on --bad-group, to see that packet go out (the receiver proper
# has not joined that group and must not see it).
"${MF[@]}" recv --group "$BADG" --iface-ip "$MSH_APP_IP" --start-seq 0 --timeout 20 \
	--out "$MSH_TMP/badg.bin" --ready "$MSH_TMP/badg.ready" >"$MSH_TMP/badg.json" 2>"$MSH_TMP/badg.err" &
BADPID=$!
MSH_PIDS+=("$BADPID")
wait_for 10 "recv on the bad group joined" test -e "$MSH_TMP/badg.ready"
start_recv p1 --stop-on-end --timeout 20
in_ns "${MF[@]}" send --src-ip "$MSH_CLIENT_IP" "$GA" "$GB" --count $N \
	--msgs-per-packet 1-8 --size 16-200 --seed 7 --drop-both "$DROP" \
	--b-packetize-differently --b-delay-us 300 --bad --bad-group "$BADG" \
	--heartbeat-after 0.4 --end >"$MSH_TMP/send1.json" 2>"$MSH_TMP/send1.err" ||
	fail "send: $(cat "$MSH_TMP/send1.json" "$MSH_TMP/send1.err")"
jcheck "$MSH_TMP/send1.json" '
assert d["messages"] == 20000 and d["messages_sent"] == 20000 - 17, d
assert d["dropped_both"] == "500-509,1200,19995-20000", d
assert d["bad_packets"] == 4 and d["lines"]["A"]["messages"] == d["lines"]["B"]["messages"] == 20000 - 17, d
assert d["packets"]["A"] != d["packets"]["B"], d
assert d["lines"]["A"]["heartbeats"] == 2 and d["lines"]["B"]["end_of_session"] == 1, d
' || fail "send summary: $(cat "$MSH_TMP/send1.json")"
ok "send: $N messages on A and B ($(jcheck "$MSH_TMP/send1.json" 'print(d["packets"])') packets), $DROP dropped on both, 4 bad packets"
wait "$RECV" || fail "recv: $(cat "$MSH_TMP/p1.json" "$MSH_TMP/p1.err")"
jcheck "$MSH_TMP/p1.json" '
s = d["sessions"][0]
assert d["reason"] == "end" and s["complete"] and s["end_seq"] == 20001, d
assert s["lost"] == "500-509,1200,19995-20000" and s["delivered"] == 20000 - 17, d
assert d["messages"] == 20000 - 17 and d["duplicates"] >= 20000 - 17, d
assert d["gaps"] >= 3 and d["heartbeats"] >= 2 and d["end_of_session_seen"], d
assert d["malformed"] == 2 and d["implausible"] == 1, d
assert d["rerequests"] == 0 and d["dropped_by_us"] == 0, d
' || fail "recv summary: $(cat "$MSH_TMP/p1.json")"
ok "recv (A+B arbitrated): all but $DROP, $(jcheck "$MSH_TMP/p1.json" 'print(d["duplicates"])') B/A duplicates, 2 malformed and 1 implausible packet refused, tail gap found by heartbeat"
kill -TERM "$BADPID"
wait "$BADPID" || fail "recv on the bad group: $(cat "$MSH_TMP/badg.json" "$MSH_TMP/badg.err")"
jcheck "$MSH_TMP/badg.json" '
assert d["reason"] == "signal" and d["packets"]["A"] == 1 and d["messages"] == 2, d
assert open(sys.argv[1][:-4] + "bin", "rb").read()[4:8] == b"BAD:", "poison"
' || fail "bad group: $(cat "$MSH_TMP/badg.json")"
ok "the --bad-group packet went out (1 packet, 2 poison messages, seen only by a member of that group)"
"${MF[@]}" verify --in "$MSH_TMP/p1.bin" --count $N --size 16-200 --seed 7 --drop-both "$DROP" \
	--expect-missing >"$MSH_TMP/v1.json" || fail "verify: $(cat "$MSH_TMP/v1.json")"
ok "verify --expect-missing: $(cat "$MSH_TMP/v1.json")"
# The checker must notice: without --expect-missing the same file fails at 500.
if "${MF[@]}" verify --in "$MSH_TMP/p1.bin" --count $N --size 16-200 --seed 7 \
	--drop-both "$DROP" >"$MSH_TMP/v1b.json"; then
	fail "verify passed a file without the dropped messages"
fi
jcheck "$MSH_TMP/v1b.json" '
m = d["first_mismatch"]
assert not d["ok"] and m["index"] == 499 and m["expected"]["seq"] == 500, d
assert m["got"]["looks_like"]["seq"] == 510, d
' || fail "verify mismatch report: $(cat "$MSH_TMP/v1b.json")"
ok "verify without --expect-missing: mismatch at seq 500 (got 510)"

# ---- 2: loss at the receiver, filled by re-request; two sessions ---------------
GEN=(--count $N --size 8-300 --seed 11 --drop-both 500-509,1200 --session2 SESS000002 --count2 5000)
ip netns exec "$MSH_NS" "${MF[@]}" rerequest-server "$RR" "${GEN[@]}" --ignore-first 2 \
	--stats "$MSH_TMP/rr.stats" >"$MSH_TMP/rr.json" 2>"$MSH_TMP/rr.err" &
RRPID=$!
MSH_PIDS+=("$RRPID")
wait_for 10 "rerequest-server listening" test -e "$MSH_TMP/rr.stats"
start_recv p2 --drop-percent 5 --seed 3 --rerequest "$RR" --stop-on-end --sessions 2 --timeout 25
in_ns "${MF[@]}" send --src-ip "$MSH_CLIENT_IP" "$GA" "$GB" "${GEN[@]}" --msgs-per-packet 1-6 \
	--b-packetize-differently --heartbeat-after 0.2 --end >"$MSH_TMP/send2.json" 2>"$MSH_TMP/send2.err" ||
	fail "send: $(cat "$MSH_TMP/send2.json" "$MSH_TMP/send2.err")"
wait "$RECV" || fail "recv with re-requests: $(cat "$MSH_TMP/p2.json" "$MSH_TMP/p2.err")"
jcheck "$MSH_TMP/p2.json" '
a, b = d["sessions"]
assert d["reason"] == "end" and a["complete"] and b["complete"], d
assert a["delivered"] == 20000 and b["delivered"] == 5000 and a["lost_count"] == b["lost_count"] == 0, d
assert d["dropped_by_us"] > 100 and d["filled"] >= 11 and d["rerequests"] > 2 and d["retries"] >= 2, d
' || fail "recv summary: $(cat "$MSH_TMP/p2.json")"
ok "recv: dropped $(jcheck "$MSH_TMP/p2.json" 'print(d["dropped_by_us"], "packets; filled", d["filled"], "messages with", d["rerequests"], "requests (", d["retries"], "retries)")')"
jcheck "$MSH_TMP/rr.stats" '
assert d["ignored"] == 2 and d["answered"] == d["requests"] - 2 and d["messages_sent"] >= 11, d
assert d["bad_requests"] == d["unknown_session"] == 0, d
' || fail "rerequest-server stats: $(cat "$MSH_TMP/rr.stats")"
kill -TERM "$RRPID"
wait "$RRPID" || fail "rerequest-server exit status $?"
jcheck "$MSH_TMP/rr.json" 'assert d["requests"] >= 3, d' || fail "rerequest-server summary: $(cat "$MSH_TMP/rr.json")"
ok "rerequest-server: $(cat "$MSH_TMP/rr.json")"
"${MF[@]}" verify "${GEN[@]}" <"$MSH_TMP/p2.bin" >"$MSH_TMP/v2.json" || fail "verify: $(cat "$MSH_TMP/v2.json")"
ok "verify (stdin): both sessions complete, byte for byte: $(cat "$MSH_TMP/v2.json")"
echo "test_moldfeed_tool: $checks checks passed"
