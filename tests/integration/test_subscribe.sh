#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Subscriptions over real packets: token validation (no feed, no re-request
# answers without it), history then live, re-requests, lease renewal and
# expiry, UNSUBSCRIBE, and reject / evict at a shard's memory limit.
. "$(dirname "$0")/lib.sh"
msh_netns_up
msh_conf_write "$MSH_TMP/m.conf"
cat >>"$MSH_TMP/m.conf" <<EOT
[shard small]
segment_bytes = 64K
max_bytes = 128K
on_full = reject
[shard ring]
segment_bytes = 64K
max_bytes = 128K
on_full = evict
EOT
msh_start "$MSH_TMP/m.conf"
in_ns python3 tests/integration/subs.py "$MSH_APP_IP" || fail "subs.py (see above)"
msh_stop
[ "$MSH_RC" -eq 0 ] || fail "memshard exit status $MSH_RC"
n=$(counter drop.app.RETRANS_NOT_SUBSCRIBED)
[ "$n" -ge 1 ] || fail "re-request from an unsubscribed address not counted"
n=$(counter subs_expired)
[ "$n" -ge 1 ] || fail "lease expiry not counted"
n=$(counter shard.ring.evicted_segments)
[ "$n" -ge 1 ] || fail "no eviction counted on ring"
n=$(counter shard.small.full_rejects)
[ "$n" -ge 2 ] || fail "full_rejects $n on small, expected >= 2"
ok "counters: re-request refusals, expiries, evictions and rejects"
echo "test_subscribe: $checks checks passed"
