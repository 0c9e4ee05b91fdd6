#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# IGMP on the DPDK port, as the switch side sees it (a capture in the
# namespace, decoded by tshark): IGMPv3 reports on join (any-source
# CHANGE_TO_EXCLUDE, source-specific ALLOW_NEW_SOURCES) sent twice (RFC 3376
# robustness), answers to a general and a group-specific query within the
# max response time with the current state (MODE_IS_EXCLUDE / MODE_IS_INCLUDE),
# a source-specific leave (BLOCK_OLD_SOURCES); after an IGMPv2 query, v2
# reports and v2 Leave Group messages to 224.0.0.2. tshark decodes every
# packet as IGMP with good checksums and no expert warnings.
. "$(dirname "$0")/lib.sh"
command -v tshark >/dev/null || fail "tshark not installed (deploy/setup.sh installs it)"
Q="python3 $(dirname "$0")/igmpq.py $MSH_VETH_NS"
msh_netns_up
msh_conf_write "$MSH_TMP/m.conf"
cat >>"$MSH_TMP/m.conf" <<EOT
[shard other]
segment_bytes = 4M
max_bytes = 64M
EOT
msh_start "$MSH_TMP/m.conf"
ip netns exec "$MSH_NS" tshark -i "$MSH_VETH_NS" -f igmp -w "$MSH_TMP/igmp.pcap" \
	>"$MSH_TMP/tshark.log" 2>&1 &
TPID=$!
MSH_PIDS+=("$TPID")
wait_for 20 "tshark capturing" grep -q "Capturing on" "$MSH_TMP/tshark.log"

# decoded: every IGMP packet captured so far from the appliance, one line each:
# time, IP dst, version, type, record types, groups, sources, checksum status.
decoded() {
	tshark -r "$MSH_TMP/igmp.pcap" -Y "igmp && ip.src == $MSH_APP_IP" -T fields \
		-e frame.time_relative -e ip.dst -e igmp.version -e igmp.type -e igmp.record_type \
		-e igmp.maddr -e igmp.saddr -e igmp.checksum.status 2>/dev/null
}
# have N PATTERN: at least N decoded packets match the extended regex.
have() { [ "$(decoded | grep -cE "$2")" -ge "$1" ]; }

# dumpcap may say "Capturing on" before its filter takes packets: a query of
# our own (which the appliance, with no feed yet, has nothing to answer) shows
# when the capture has started.
nprobe=0
probe() {
	nprobe=$((nprobe + 1)) # the appliance counts each, captured or not
	in_ns $Q "$MSH_CLIENT_IP" v3 0.0.0.0 10 >/dev/null &&
		[ "$(tshark -r "$MSH_TMP/igmp.pcap" -Y 'igmp.type == 0x11' 2>/dev/null | wc -l)" -gt 0 ]
}
wait_for 20 "the capture to see a probe query" probe

ctl feed create asm shard=ticks line_a=239.77.3.1:30021 line_b=239.77.3.2:30022 >/dev/null ||
	fail "feed create asm"
ctl feed create ssm shard=other line_a=232.7.7.7:30031 source=$MSH_CLIENT_IP >/dev/null ||
	fail "feed create ssm"
# v3 reports to 224.0.0.22: type 0x22, CHANGE_TO_EXCLUDE (4) / ALLOW_NEW_SOURCES (5).
wait_for 10 "two any-source join reports for each group" have 4 \
	$'224\\.0\\.0\\.22\t3\t0x22\t4\t239\\.77\\.3\\.[12]\t'
wait_for 10 "two source-specific join reports" have 2 \
	$'224\\.0\\.0\\.22\t3\t0x22\t5\t232\\.7\\.7\\.7\t'"$MSH_CLIENT_IP"
ok "IGMPv3 joins: CHANGE_TO_EXCLUDE{} for 239.77.3.1 and .2, ALLOW_NEW_SOURCES{$MSH_CLIENT_IP} for 232.7.7.7, each twice"

# A general query (max resp 2 s): one report with every membership's state.
n0=$(decoded | wc -l)
t0=$(date +%s.%N)
in_ns $Q "$MSH_CLIENT_IP" v3 0.0.0.0 20 >/dev/null || fail "query"
wait_for 10 "the answer to a general query" sh -c \
	"[ \$(tshark -r '$MSH_TMP/igmp.pcap' -Y 'igmp.type == 0x22 && ip.src == $MSH_APP_IP' 2>/dev/null | wc -l) -gt $n0 ]"
t1=$(date +%s.%N)
ans=$(decoded | tail -n 1)
echo "$ans" | grep -qE $'\t2,2,1\t239\\.77\\.3\\.1,239\\.77\\.3\\.2,232\\.7\\.7\\.7\t'"$MSH_CLIENT_IP" ||
	fail "general query answer: $ans"
awk -v a="$t0" -v b="$t1" 'BEGIN { exit !(b - a < 2.0 + 1.0) }' || fail "answered after $t0..$t1"
ok "general query answered within its max response time: MODE_IS_EXCLUDE x2, MODE_IS_INCLUDE{$MSH_CLIENT_IP}"

# A group-specific query: the state of that group only.
n0=$(decoded | wc -l)
in_ns $Q "$MSH_CLIENT_IP" v3 239.77.3.2 10 >/dev/null || fail "query"
wait_for 10 "the answer to a group-specific query" sh -c "[ \$(tshark -r '$MSH_TMP/igmp.pcap' -Y 'igmp.type == 0x22 && ip.src == $MSH_APP_IP' 2>/dev/null | wc -l) -gt $n0 ]"
ans=$(decoded | tail -n 1)
echo "$ans" | grep -qE $'\t0x22\t2\t239\\.77\\.3\\.2\t' || fail "group query answer: $ans"
ok "group-specific query answered: MODE_IS_EXCLUDE{} for 239.77.3.2"

# Source-specific leave: BLOCK_OLD_SOURCES (6).
ctl feed delete ssm >/dev/null || fail "feed delete ssm"
wait_for 10 "the SSM leave" have 1 $'\t0x22\t6\t232\\.7\\.7\\.7\t'"$MSH_CLIENT_IP"
ok "source-specific leave: BLOCK_OLD_SOURCES{$MSH_CLIENT_IP} for 232.7.7.7"

# An IGMPv2 querier: v2 reports (0x16) to each group, then v2 leaves (0x17) to 224.0.0.2.
in_ns $Q "$MSH_CLIENT_IP" v2 0.0.0.0 10 >/dev/null || fail "v2 query"
wait_for 10 "v2 reports" have 2 $'^[^\t]*\t239\\.77\\.3\\.[12]\t2\t0x16\t'
ok "IGMPv2 query: v2 Membership Reports sent to each group"
ctl feed delete asm >/dev/null || fail "feed delete asm"
wait_for 10 "v2 leaves" have 2 $'224\\.0\\.0\\.2\t2\t0x17\t\t239\\.77\\.3\\.[12]'
ok "v2 Leave Group for both groups to 224.0.0.2"

ctl --json igmp status >"$MSH_TMP/igmp.json"
python3 - "$MSH_TMP/igmp.json" "$nprobe" <<'PY' || fail "igmp status: $(cat "$MSH_TMP/igmp.json")"
import json, sys
p, probes = json.load(open(sys.argv[1]))[0], int(sys.argv[2])
assert p["queries"] == 3 + probes and p["version"] == 2, p
assert p["reports"] >= 8 and p["v2_reports"] == 2 and p["leaves"] == 2, p
print(p)
PY
ok "igmp status counts the queries ($nprobe probes and 3), the reports and the leaves"

kill -INT "$TPID"
wait_for 10 "tshark to finish writing" sh -c "! kill -0 $TPID 2>/dev/null"
decoded >"$MSH_TMP/igmp.tsv"
awk -F'\t' '$8 != "1" { print "checksum status (1 is good) " $8 ": " $0; bad = 1 } END { exit bad }' \
	"$MSH_TMP/igmp.tsv" || fail "IGMP checksums"
tshark -r "$MSH_TMP/igmp.pcap" -o ip.check_checksum:TRUE -q -z expert,warn >"$MSH_TMP/expert.txt" 2>&1
grep -qiE "warning|error|malformed" "$MSH_TMP/expert.txt" && fail "tshark expert: $(cat "$MSH_TMP/expert.txt")"
ok "tshark: $(wc -l <"$MSH_TMP/igmp.tsv") IGMP packets from the appliance, checksums good, no expert warnings"
msh_stop
echo "test_igmp: $checks checks passed"
