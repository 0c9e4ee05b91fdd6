#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Wireshark's own MoldUDP64 dissector (tshark) decodes the egress feed: session
# is the shard name, message sequence numbers run 1..N without a hole, and
# every packet's sequence equals the previous packet's plus its count.
. "$(dirname "$0")/lib.sh"
command -v tshark >/dev/null || fail "tshark not installed (deploy/setup.sh installs it)"
msh_netns_up
msh_conf_write "$MSH_TMP/m.conf"
msh_start "$MSH_TMP/m.conf"
# ip netns exec execs tshark, so $! is tshark itself and SIGINT reaches it.
ip netns exec "$MSH_NS" tshark -i "$MSH_VETH_NS" -f "udp src port 9000" \
	-w "$MSH_TMP/feed.pcap" >"$MSH_TMP/tshark.log" 2>&1 &
TPID=$!
MSH_PIDS+=("$TPID")
wait_for 20 "tshark capturing" grep -q "Capturing on" "$MSH_TMP/tshark.log"
in_ns python3 - "$MSH_APP_IP" <<'PY' || fail "publish/subscribe"
import sys
sys.path.insert(0, "tests/integration")
from mshclient import Client, OK
ip = sys.argv[1]
sub = Client(ip)
sub.subscribe("ticks", 0xFFFFFFFFFFFFFFFF)
pub = Client(ip)
for k in range(5):
    st = pub.publish("ticks", [b"tick-%03d" % (10 * k + i) for i in range(10)], 9, 1 + 10 * k)
    assert st[0] == OK, st
first, msgs, _ = sub.feed(50)
assert first == 1 and len(msgs) == 50, (first, len(msgs))
print("fed 50 messages")
PY
# Let the capture take the last packets in, then stop it (bounded).
sleep 0.5
kill -INT "$TPID"
wait_for 10 "tshark to finish writing" sh -c "! kill -0 $TPID 2>/dev/null"
tshark -r "$MSH_TMP/feed.pcap" -d udp.port==9000,moldudp64 \
	-Y 'moldudp64.session == "ticks     " || moldudp64.session == "ticks"' \
	-T fields -e moldudp64.session -e moldudp64.sequence -e moldudp64.count \
	-e moldudp64.msgseq >"$MSH_TMP/decoded.tsv" 2>"$MSH_TMP/decode.err" ||
	fail "tshark decode: $(cat "$MSH_TMP/decode.err")"
[ -s "$MSH_TMP/decoded.tsv" ] || fail "tshark decoded no MoldUDP64 packet of session ticks"
awk -F'\t' '
	$3 > 0 && $3 < 65535 {
		data++
		if (next_seq && $2 != next_seq) { print "packet seq " $2 " expected " next_seq; bad = 1 }
		next_seq = $2 + $3
		n = split($4, s, ",")
		for (i = 1; i <= n; i++) { if (s[i] != ++want) { print "msgseq " s[i] " expected " want; bad = 1 } }
		if ($1 !~ /^ticks/) { print "session " $1; bad = 1 }
	}
	END { if (want != 50) { print "decoded " want " messages, expected 50"; bad = 1 }
	      print data " data packets, " want " messages"; exit bad }' "$MSH_TMP/decoded.tsv" ||
	fail "decoded feed wrong:$(printf '\n')$(cat "$MSH_TMP/decoded.tsv")"
ok "tshark decodes session ticks, messages 1..50 in order, packet sequences chain"
msh_stop
echo "test_tshark: $checks checks passed"
