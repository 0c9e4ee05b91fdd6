#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# A command the worker does not answer in time (issue 10): the caller gives
# up, and the command must then never run late against what the caller had
# (its arguments travel in the message, and an abandoned message is dropped
# unrun, counted in cmds_late). A stuck worker is made with the fault
# injection 'debug stall' (MEMSHARD_DEBUG=1). Checks:
#   - sub kick while the worker is stuck: refused "not applied", and after the
#     stall the subscription is still there (the old code ran the kick late,
#     writing into the caller's dead stack frame);
#   - shard create while the worker is stuck: refused, rolled back; after the
#     stall the same name can be created and serves publishes (the old code's
#     late add left the name in the worker's table: "name exists");
#   - shard delete while the worker is stuck: answered at once, the memory
#     goes back once the worker answers (a tombstone, never freed early).
. "$(dirname "$0")/lib.sh"
need_root
msh_netns_up
msh_conf_write "$MSH_TMP/m.conf" "max_subscribers = 8"
export MEMSHARD_DEBUG=1
msh_start "$MSH_TMP/m.conf"
J() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
stat() { ctl --json stats | J "$1"; }
late_is() { [ "$(stat 'd["cmds_late"]' 2>/dev/null)" = "$1" ]; }
idle_again() { ctl --timeout 1000 version >/dev/null 2>&1 && [ "$(stat 'd["control"]["deletions_pending"]')" = 0 ]; }

ctl help | grep -q 'debug stall' || fail "MEMSHARD_DEBUG=1 but help has no debug stall"
in_ns python3 - "$MSH_APP_IP" <<'PY' || fail "subscribe"
import sys
sys.path.insert(0, "tests/integration")
from mshclient import Client
Client(sys.argv[1]).subscribe("ticks", 0, lease_ms=600000)
PY
[ "$(ctl --json sub list ticks | J 'len(d)')" = 1 ] || fail "no subscription"
ok "one subscriber on ticks"

# 1. sub kick against a stuck worker.
ctl debug stall 0 3500 >/dev/null || fail "debug stall"
out=$(ctl --timeout 8000 sub kick "$MSH_CLIENT_IP" 2>&1) && fail "sub kick succeeded on a stuck worker: $out"
grep -q "did not answer within 2000 ms; not applied" <<<"$out" || fail "sub kick: $out"
ok "sub kick on a stuck worker: $out"
wait_for 15 "the late kick counted in cmds_late" late_is 1
n=$(ctl --json sub list ticks | J 'len(d)')
[ "$n" = 1 ] || fail "the abandoned kick ran late: $n subscriptions left, expected 1"
ok "after the stall the subscription is still there; cmds_late = 1"

# 2. shard create against a stuck worker, then the same name again.
ctl debug stall 0 3500 >/dev/null || fail "debug stall"
out=$(ctl --timeout 8000 shard create late1 max_bytes=16M segment_bytes=1M 2>&1) &&
	fail "shard create succeeded on a stuck worker: $out"
grep -q "shard create late1: worker 0 (lcore [0-9]*) did not answer" <<<"$out" ||
	fail "shard create: $out"
ok "shard create on a stuck worker: $out"
ctl --json shard list | J '[s["name"] for s in d]' | grep -q late1 && fail "late1 listed"
wait_for 15 "the rollback finished (no deletion pending)" idle_again
ctl --json shard create late1 max_bytes=16M segment_bytes=1M >/dev/null ||
	fail "shard create late1 after the stall: $(ctl shard create late1 2>&1)"
in_ns python3 - "$MSH_APP_IP" <<'PY' || fail "publish to late1"
import sys
sys.path.insert(0, "tests/integration")
from mshclient import Client, OK
st = Client(sys.argv[1]).publish("late1", [b"a", b"b"], 7, 1)
assert st[0] == OK and st[1] == 2, st
PY
ok "late1 created again after the stall and acks publishes"

# 3. shard delete against a stuck worker: answered, freed once it answers.
used0=$(stat 'd["arena_used"]')
ctl debug stall 0 3000 >/dev/null || fail "debug stall"
out=$(ctl --timeout 8000 shard delete late1 2>&1) || fail "shard delete: $out"
[ "$(stat 'd["control"]["deletions_pending"]')" = 1 ] || fail "no tombstone while stuck"
ok "shard delete on a stuck worker answered, memory held: $out"
wait_for 15 "the deletion finished" idle_again
used1=$(stat 'd["arena_used"]')
[ "$used1" -lt "$used0" ] || fail "arena_used $used0 -> $used1: late1's memory not freed"
ok "after the stall its memory went back: arena_used $used0 -> $used1"

ctl shutdown >/dev/null
msh_stop
[ "$MSH_RC" = 0 ] || fail "exit status $MSH_RC"
ok "clean shutdown ($checks checks)"
