#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# A subscriber whose feed loses 5% of its packets (nftables in its namespace
# drops 5% of MoldUDP64 packets from the feed and retransmission ports, chosen
# at random) still ends with every message, in order, byte for byte, through
# re-requests.
. "$(dirname "$0")/lib.sh"
N=${MSH_LOSS_MESSAGES:-200000}
command -v nft >/dev/null || fail "nft not installed (deploy/setup.sh installs nftables)"
msh_netns_up
# Match MoldUDP64 packets by their session ("ticks" = 0x7469 at the start of the
# UDP payload), so native ACKs and SUB_REPLYs are not dropped.
in_ns nft -f - <<EOT || fail "nftables rule"
table inet msh_loss {
	chain input {
		type filter hook input priority 0; policy accept;
		udp sport { 9000, 9001 } @th,64,16 0x7469 numgen random mod 100 < 5 counter drop
	}
}
EOT
msh_conf_write "$MSH_TMP/m.conf"
msh_start "$MSH_TMP/m.conf"
in_ns "$BUILD/msh-sub" -s "$MSH_APP_IP" --count "$N" --verify --timeout 120 \
	--out "$MSH_TMP/sub.bin" --json ticks >"$MSH_TMP/sub.json" 2>"$MSH_TMP/sub.err" &
SUB=$!
MSH_PIDS+=("$SUB")
# Paced, so the feed is many packets rather than a few huge bursts.
in_ns "$BUILD/msh-pub" --gen --count "$N" --size 48 --batch 8 --rate 200k --json \
	"$MSH_APP_IP" ticks >"$MSH_TMP/pub.json" 2>"$MSH_TMP/pub.err" ||
	fail "msh-pub: $(cat "$MSH_TMP/pub.json" "$MSH_TMP/pub.err")"
wait "$SUB" || fail "lossy subscriber: $(cat "$MSH_TMP/sub.json" "$MSH_TMP/sub.err")"
dropped=$(in_ns nft list table inet msh_loss | sed -n 's/.*counter packets \([0-9]*\).*/\1/p')
ok "nftables dropped $dropped feed packets"
[ "${dropped:-0}" -gt 50 ] || fail "only ${dropped:-0} packets dropped: loss was not injected"
python3 - "$MSH_TMP/sub.json" "$N" <<'PY' || fail "subscriber summary: $(cat "$MSH_TMP/sub.json")"
import json, sys
j = json.load(open(sys.argv[1])); n = int(sys.argv[2])
assert j["delivered"] == n, j
assert j["verify_errors"] == 0 and j["lost"] == 0 and j["duplicates"] == 0, j
assert j["rerequests"] + j["requests"] > 0 and j["gaps"] > 0, j
print(f"delivered {n}, gaps {j['gaps']}, requests {j['requests']}, rerequests {j['rerequests']}")
PY
size=$(stat -c %s "$MSH_TMP/sub.bin")
[ "$size" -eq $((N * 50)) ] || fail "stream is $size bytes, expected $((N * 50))"
ok "every message delivered in order through re-requests: $(cat "$MSH_TMP/sub.json")"
msh_stop
# The shard's order is the order datagrams reached it: veth queues per CPU,
# so a publisher's datagrams can arrive reordered and a late one is appended
# after its successors (late_fills). Every break in the publisher's order
# must be one of those: each late datagram breaks it at most twice.
jumps=$(python3 -c "import json; print(json.load(open('$MSH_TMP/sub.json'))['index_jumps'])")
late=$(counter shard.ticks.late_fills)
[ "$jumps" -le $((2 * late)) ] || fail "$jumps breaks in publisher order, but only $late late datagrams"
ok "publisher order kept except around $late reordered datagrams ($jumps breaks)"
n=$(counter retrans_msgs)
[ "$n" -gt 0 ] || fail "appliance counted no retransmitted messages"
ok "appliance retransmitted $n messages"
echo "test_loss: $checks checks passed"
