#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Lines on two DPDK ports and two workers: line A on the ingest port, line B
# on a port with role = feed (a second veth), the feed's shard on worker 1;
# each port has a queue per worker (af_packet spreads flows over them by
# hash), so a line whose flow lands on worker 0's queue reaches the shard's
# one writer over the hand-off ring. Line A is cut off for a stretch
# (nftables): B alone carries it, nothing is lost. Beside it a format = raw
# feed with the capture header keeps every datagram of its line, with the
# receive time, line, source and group. A multicast to a group not joined on
# the feed port is dropped and counted.
. "$(dirname "$0")/lib.sh"
MF="python3 $(dirname "$0")/moldfeed.py"
N=6000
SESS=PORTS00001
msh_netns_up
NET2=10.78.$(($$ % 200 + 20))
VA=mshC$$
VB=mshD$$
ip link add "$VA" type veth peer name "$VB" || fail "second veth"
MSH_CLEANUPS+=("ip link del $VA")
sysctl -qw "net.ipv6.conf.$VA.disable_ipv6=1"
ip link set "$VB" netns "$MSH_NS"
ip link set "$VA" up
in_ns sh -e -c "
	sysctl -qw net.ipv6.conf.$VB.disable_ipv6=1
	ip addr add $NET2.2/24 dev $VB
	ip link set $VB up
	ethtool -K $VB tx off >/dev/null
	ip route add 224.0.0.0/4 dev $MSH_VETH_NS" || fail "namespace set-up"

cat >"$MSH_TMP/p.conf" <<EOT
[appliance]
lcores = 0@0,1@1,2@1
workers = 2
idle = backoff
file_prefix = msh-it$$
arena_bytes = 256M
heartbeat = 200ms
control_socket = $MSH_TMP/ctl.sock
[port ingest]
device = net_af_packet0,iface=$MSH_VETH_APP,qpairs=2,framecnt=4096,qdisc_bypass=1
address = $MSH_APP_IP/24
rx_queues = 2
[port mdb]
role = feed
device = net_af_packet1,iface=$VA,qpairs=2,framecnt=4096,qdisc_bypass=1
address = $NET2.1/24
rx_queues = 2
[shard ticks]
segment_bytes = 1M
max_bytes = 64M
worker = 1
[shard cap]
segment_bytes = 1M
max_bytes = 64M
worker = 0
[feed ab]
shard = ticks
line_a = 239.77.5.1:30041
line_b = 239.77.5.2:30042@mdb
gap_timeout = 50ms
[feed raw]
shard = cap
line_a = 239.77.6.1:30051@mdb
format = raw
capture_header = on
EOT
msh_start "$MSH_TMP/p.conf"

# Line A dark for messages ~2000-3000 (by packet count on A: a stretch, not a
# random loss), B carries it alone.
in_ns nft -f - <<EOT || fail "nftables"
table inet mshcut {
	chain out {
		type filter hook output priority 0;
		ip daddr 239.77.5.1 udp dport 30041 numgen inc mod 1000 > 600 counter drop
	}
}
EOT
in_ns $MF send --src-ip "$MSH_CLIENT_IP" --src-ip-b "$NET2.2" --session $SESS --count $N \
	--rate 20000 --b-packetize-differently --heartbeat-after 0.5 \
	239.77.5.1:30041 239.77.5.2:30042 >"$MSH_TMP/send.json" || fail "sender"
wait_for 15 "ticks holds $N messages" sh -c \
	"$BUILD/memshardctl --socket $MSH_TMP/ctl.sock --json feed show ab | grep -q '\"appended_msgs\": $N'"
ctl --json feed show ab >"$MSH_TMP/ab.json"
python3 - "$MSH_TMP/ab.json" $N <<'PY' || fail "feed ab: $(cat "$MSH_TMP/ab.json")"
import json, sys
j, n = json.load(open(sys.argv[1])), int(sys.argv[2])
a, b = j["lines"]
c = j["counters"]
assert b["port"] == "mdb" and a["port"] == "ingest", j["lines"]
assert c["gaps_given_up"] == 0 and c["emitted_msgs"] == n, c
assert b["won_msgs"] > 0 and a["won_msgs"] + b["won_msgs"] == n, (a["won_msgs"], b["won_msgs"])
assert c["handed_over"] <= a["pkts"] + b["pkts"], c
print(f"A won {a['won_msgs']}, B won {b['won_msgs']}, {c['handed_over']} packets handed over")
PY
ok "line B on the feed port carried what A lost, into the shard of worker 1"
in_ns "$BUILD/msh-sub" -s "$MSH_APP_IP" --count $N --timeout 30 --out "$MSH_TMP/sub.bin" \
	--json ticks >"$MSH_TMP/sub.json" 2>"$MSH_TMP/sub.err" || fail "subscriber: $(cat "$MSH_TMP/sub.err")"
python3 - "$MSH_TMP/sub.bin" $SESS $N "$(dirname "$0")" <<'PY' || fail "content"
import sys
sys.path.insert(0, sys.argv[4])
import moldfeed
data, sess, n = open(sys.argv[1], "rb").read(), sys.argv[2], int(sys.argv[3])
off = 0
for seq in range(1, n + 1):
    ln = int.from_bytes(data[off:off + 2], "big")
    assert data[off + 2:off + 2 + ln] == moldfeed.payload(sess, seq, moldfeed.parse_size("16-120"), 1), seq
    off += 2 + ln
assert off == len(data)
print("in order, byte for byte")
PY
ok "the shard is the upstream feed, in order, byte for byte"

# The raw feed: five datagrams (not MoldUDP64) and one to a group not joined.
before=$(ctl --json stats | python3 -c 'import json,sys; print(json.load(sys.stdin)["drops"]["MCAST_NOT_JOINED"])')
in_ns python3 - "$NET2.2" <<'PY' || fail "raw sender"
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(sys.argv[1]))
s.bind((sys.argv[1], 40404))
for i in range(5):
    s.sendto(b"raw datagram %d" % i, ("239.77.6.1", 30051))
s.sendto(b"not joined", ("239.77.6.9", 30051))
PY
wait_for 10 "cap holds 5 messages" sh -c \
	"$BUILD/memshardctl --socket $MSH_TMP/ctl.sock --json feed show raw | grep -q '\"raw_msgs\": 5'"
in_ns "$BUILD/msh-sub" -s "$MSH_APP_IP" --count 5 --timeout 10 --out "$MSH_TMP/cap.bin" cap \
	2>"$MSH_TMP/cap.err" || fail "cap subscriber: $(cat "$MSH_TMP/cap.err")"
python3 - "$MSH_TMP/cap.bin" "$NET2.2" <<'PY' || fail "capture header"
import socket, struct, sys, time
data, src = open(sys.argv[1], "rb").read(), sys.argv[2]
off, now = 0, time.time_ns()
for i in range(5):
    ln = int.from_bytes(data[off:off + 2], "big")
    m = data[off + 2:off + 2 + ln]
    ns, sip, sport, dport, grp, line, ver, rsv = struct.unpack(">QIHHIBBH", m[:24])
    assert m[24:] == b"raw datagram %d" % i, m
    assert socket.inet_ntoa(struct.pack(">I", sip)) == src and sport == 40404 and dport == 30051, m[:24]
    assert socket.inet_ntoa(struct.pack(">I", grp)) == "239.77.6.1" and line == 0 and ver == 1, m[:24]
    assert 0 < now - ns < 60 * 10**9, (now, ns)
    off += 2 + ln
print("5 datagrams with receive time, source 40404, group, line A, header v1")
PY
ok "format = raw keeps each datagram with its capture header"
after=$(ctl --json stats | python3 -c 'import json,sys; print(json.load(sys.stdin)["drops"]["MCAST_NOT_JOINED"])')
[ "$after" -gt "$before" ] || fail "MCAST_NOT_JOINED $before -> $after"
ok "a group not joined on the feed port is dropped and counted"
msh_stop
[ "$MSH_RC" -eq 0 ] || fail "memshard exited $MSH_RC"
echo "test_feed_ports: $checks checks passed"
