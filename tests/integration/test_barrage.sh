#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Malformed datagrams over real packets (veth + net_af_packet): each case gets
# the status PROTOCOL.md says (or none), 20,000 random and mutated datagrams
# are survived and counted, and the stored messages read back unchanged.
. "$(dirname "$0")/lib.sh"
msh_netns_up
msh_conf_write "$MSH_TMP/m.conf"
msh_start "$MSH_TMP/m.conf"
in_ns python3 tests/integration/barrage.py "$MSH_APP_IP" ticks 20000 || fail "barrage (see above)"
ok "barrage answered as PROTOCOL.md says"
msh_stop
[ "$MSH_RC" -eq 0 ] || fail "memshard exit status $MSH_RC after SIGTERM"
appended=$(counter shard.ticks.appended_msgs)
[ "$appended" -eq 101 ] || fail "appended_msgs $appended, expected 101 (100 known + 1)"
ok "only the 101 good messages were appended"
malformed=$(counter ack.malformed)
[ "$malformed" -ge 6 ] || fail "ack.malformed $malformed, expected >= 6"
rx=$(counter rx_pkts)
[ "$rx" -ge 20000 ] || fail "rx_pkts $rx, expected >= 20000"
drops=$(awk '$1 ~ /^drop\./ {s += $2} END {print s + 0}' "$MSH_TMP/memshard.out")
[ "$drops" -ge 10000 ] || fail "only $drops drops counted for 20000 bad datagrams"
ok "counted: $malformed MALFORMED acks, $drops drops by reason, $rx packets"
grep '^drop\.' "$MSH_TMP/memshard.out"
echo "test_barrage: $checks checks passed"
