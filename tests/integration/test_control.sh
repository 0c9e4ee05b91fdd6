#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# The control socket and memshardctl against a running appliance: counters
# match what the data path did, errors exit non-zero with one line, garbage and
# half-written commands harm nothing, several CLIs at once work, config dump
# loads back, stats reset, shutdown.
. "$(dirname "$0")/lib.sh"
msh_netns_up
msh_conf_write "$MSH_TMP/m.conf"
msh_start "$MSH_TMP/m.conf"
J() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

in_ns python3 - "$MSH_APP_IP" <<'PY' || fail "publish"
import sys
sys.path.insert(0, "tests/integration")
from mshclient import Client, OK
c = Client(sys.argv[1])
for i in range(10):
    st = c.publish("ticks", [b"m%04d" % (100 * i + k) for k in range(100)], 5, 1 + 100 * i)
    assert st[0] == OK and st[1] == 100, st
PY
v=$(ctl --json stats | J 'd["acks"]["OK"], d["publish"], d["shards"][0]["next_seq"]') ||
	fail "stats: $(ctl stats 2>&1)"
[ "$v" = "10 10 1001" ] || fail "stats: acks.OK, publish, next_seq = $v, expected 10 10 1001"
ok "stats agree with the data path: $v"
v=$(ctl --json stats | J 'sum(l["publish"] for l in d["workers"]), d["memory"][0]["arena_used"] > 0')
[ "$v" = "10 True" ] || fail "per-lcore publish / per-node memory: $v"
ok "per-lcore counters add up and memory per node is shown: $v"
v=$(ctl --json stats | J 'd["ports"][0]["ipackets"] >= 10, d["shard_totals"]["appended_msgs"]')
[ "$v" = "True 1000" ] || fail "per-port / shard totals: $v"
ok "per-port PMD counters and publisher totals: $v"
ctl help | grep -q 'shard create NAME' || fail "help does not list shard create"
v=$(ctl --json version | J 'd["protocol"], d["epoch"]')
[ "$v" = "1 1" ] || fail "version: $v"
ok "help lists the commands; version: protocol 1, epoch 1"
v=$(ctl --json shard show ticks | J 'd["counters"]["appended_msgs"], d["messages"], d["on_full"]')
[ "$v" = "1000 1000 reject" ] || fail "shard show: $v"
ok "shard show: $v"
ctl shard list | grep -q '^name' || fail "shard list prints no table: $(ctl shard list)"
ok "human tables: $(ctl shard list | head -2 | tr '\n' '|')"

# A subscriber that never renews shows in sub list with its position.
in_ns python3 - "$MSH_APP_IP" <<'PY' || fail "subscribe"
import sys
sys.path.insert(0, "tests/integration")
from mshclient import Client
Client(sys.argv[1]).subscribe("ticks", 0, lease_ms=60000)
PY
v=$(ctl --json sub list ticks | J 'len(d), d[0]["address"], d[0]["lag"]')
[ "$v" = "1 $MSH_CLIENT_IP 1000" ] || fail "sub list: $v"
ok "sub list: $v"

# Errors: exit 1 with one line; no appliance: exit 2.
expect_exit() {
	local want=$1
	shift
	out=$(ctl "$@" 2>&1)
	rc=$?
	[ "$rc" -eq "$want" ] || fail "'$*': exit $rc, expected $want ($out)"
	[ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] || fail "'$*': not one line: $out"
	ok "'$*' -> exit $rc: $out"
}
expect_exit 1 frobnicate
expect_exit 1 shard show nosuch
expect_exit 1 shard show
expect_exit 1 shard show 'waytoolongname'
expect_exit 1 sub list nosuch
out=$("$BUILD/memshardctl" --socket "$MSH_TMP/none.sock" stats 2>&1)
[ $? -eq 2 ] || fail "no appliance: $out"
ok "no appliance at the socket -> exit 2: $out"

# Garbage, an overlong line, a client that leaves mid-command.
python3 - "$MSH_TMP/ctl.sock" <<'PY' || fail "garbage"
import json, socket, sys
def conn():
    s = socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(sys.argv[1]); return s
s = conn(); s.sendall(bytes(range(256)) + b"\n")
r = json.loads(s.makefile().readline()); assert r["ok"] is False, r
s = conn(); s.sendall(b"x" * 5000)
r = json.loads(s.makefile().readline()); assert r["ok"] is False and "longer" in r["error"], r
s = conn(); s.sendall(b"sta"); s.close()        # half a command, then gone
s = conn(); s.sendall(b"version\nshard list\n")  # two commands in one write
f = s.makefile()
assert json.loads(f.readline())["ok"] and json.loads(f.readline())["ok"]
print("garbage: refused, half-written: harmless, pipelined: both answered")
PY
ok "garbage on the socket"

# Several CLIs at once.
pids=()
for i in $(seq 8); do ctl --json stats >"$MSH_TMP/par$i.json" & pids+=($!); done
for p in "${pids[@]}"; do wait "$p" || fail "a concurrent memshardctl failed"; done
ok "8 concurrent memshardctl stats all answered"

ctl config dump >"$MSH_TMP/dump.conf" || fail "config dump"
"$BUILD/memshard" -c "$MSH_TMP/dump.conf" --check >/dev/null || fail "config dump does not load"
ok "config dump loads back"

ctl stats reset >/dev/null || fail "stats reset"
v=$(ctl --json stats | J 'd["publish"], d["acks"]["OK"]')
[ "$v" = "0 0" ] || fail "after stats reset: $v"
ok "stats reset"

# ---- shards created, changed, sealed and deleted live ----
ctl shard create live segment_bytes=1M max_bytes=8M >/dev/null || fail "shard create live"
ok "shard create live"
in_ns python3 - "$MSH_APP_IP" <<'PY' || fail "publish to the live shard"
import sys
sys.path.insert(0, "tests/integration")
from mshclient import Client, OK
st = Client(sys.argv[1]).publish("live", [b"a", b"b", b"c"], 8, 1)
assert st[0] == OK and st[1] == 3 and st[3] == 1, st
PY
v=$(ctl --json shard show live | J 'd["next_seq"], d["segment_bytes"]')
[ "$v" = "4 1048576" ] || fail "shard show live: $v"
ok "the live shard takes publishes: $v"
expect_exit 1 shard create live
expect_exit 1 shard create huge max_bytes=100G segment_bytes=64M
case "$out" in *"of arena_bytes 512M"*) ;; *) fail "over-commit message does not give the arena: $out" ;; esac
expect_exit 1 shard create bad segment_bytes=3X
case "$out" in *"is not a size (use"*) ;; *) fail "bad size message lacks the form: $out" ;; esac
expect_exit 1 shard create bad segment_age=10
expect_exit 1 shard create bad on_full=drop
expect_exit 1 shard create bad replicas=2
ctl shard set ticks on_full=evict segment_age=5m >/dev/null || fail "shard set ticks"
v=$(ctl --json shard show ticks | J 'd["on_full"], d["segment_age_ns"]')
[ "$v" = "evict 300000000000" ] || fail "shard set did not apply: $v"
ok "shard set on_full and segment_age live: $v"
expect_exit 1 shard set ticks segment_bytes=1M
expect_exit 1 shard set ticks max_bytes=100G
expect_exit 1 shard set ticks on_full
ctl shard seal live >/dev/null || fail "shard seal"
v=$(ctl --json shard show live | J 'd["counters"]["sealed_manual"]')
[ "$v" = "1" ] || fail "sealed_manual $v"
ok "shard seal"
expect_exit 1 shard seal live
ctl config dump >"$MSH_TMP/dump2.conf"
grep -q '^\[shard live\]' "$MSH_TMP/dump2.conf" || fail "config dump lacks the live shard"
"$BUILD/memshard" -c "$MSH_TMP/dump2.conf" --check >/dev/null || fail "config dump with live shard does not load"
ok "config dump shows the live shard and loads back"

# sub kick ends a subscription; shard delete ends the session for listeners.
in_ns python3 - "$MSH_APP_IP" <<'PY' || fail "subscribe to live"
import sys
sys.path.insert(0, "tests/integration")
from mshclient import Client
Client(sys.argv[1]).subscribe("live", 0, lease_ms=60000)
PY
v=$(ctl --json sub list live | J 'len(d)')
[ "$v" = "1" ] || fail "sub list live: $v"
v=$(ctl --json sub kick "$MSH_CLIENT_IP" | J 'd["kicked"]')
[ "$v" -ge 1 ] || fail "sub kick: $v"
[ "$(ctl --json sub list live | J 'len(d)')" = "0" ] || fail "kicked subscription still listed"
ok "sub kick ended $v subscriptions"
expect_exit 1 sub kick "$MSH_CLIENT_IP"
expect_exit 1 sub kick not-an-address
in_ns python3 - "$MSH_APP_IP" >"$MSH_TMP/eos.log" 2>&1 <<'PY' &
import sys
sys.path.insert(0, "tests/integration")
from mshclient import Client, parse_mold
c = Client(sys.argv[1])
c.subscribe("live", 0)
print("subscribed", flush=True)
for _ in range(200):
    d = c.recv(0.1)
    m = parse_mold(d) if d else None
    if m and m[2] == 0xFFFF:
        print("end of session at", m[1], flush=True)
        sys.exit(0)
sys.exit("no end of session")
PY
EOS=$!
wait_for 10 "subscriber on live" grep -q subscribed "$MSH_TMP/eos.log"
ctl shard delete live >/dev/null || fail "shard delete live"
wait "$EOS" || fail "subscriber did not get end of session: $(cat "$MSH_TMP/eos.log")"
ok "shard delete: subscriber got $(tail -n 1 "$MSH_TMP/eos.log")"
in_ns python3 - "$MSH_APP_IP" <<'PY' || fail "publish after delete"
import sys
sys.path.insert(0, "tests/integration")
from mshclient import Client, UNKNOWN_SHARD
st = Client(sys.argv[1]).publish("live", [b"x"], 8, 4)
assert st[0] == UNKNOWN_SHARD, st
PY
expect_exit 1 shard show live
ok "after delete: UNKNOWN_SHARD on the wire, gone from the CLI"
ctl shard create live segment_bytes=1M max_bytes=8M >/dev/null || fail "re-create after delete (memory freed?)"
ok "the name and its memory can be used again"

# The stock DPDK telemetry client lists and reads the same statistics.
tel() {
	printf '%s\n' "$@" | dpdk-telemetry.py -f "msh-it$$" 2>&1 | grep '^{'
}
out=$(tel /)
for c in /memshard/stats /memshard/shards /memshard/shard; do
	case "$out" in *"\"$c\""*) ;; *) fail "telemetry command $c not listed: $out" ;; esac
done
ok "dpdk-telemetry.py lists the /memshard/ commands"
v=$(tel /memshard/shard,ticks | J 'd["/memshard/shard"]["next_seq"], d["/memshard/shard"]["appended_msgs"]')
[ "$v" = "1001 1000" ] || fail "telemetry /memshard/shard,ticks: $v ($(tel /memshard/shard,ticks))"
v2=$(tel /memshard/stats | J 'd["/memshard/stats"]["publish"] >= 10, d["/memshard/stats"]["drop_BAD_MAGIC"]')
[ "$v2" = "True 0" ] || fail "telemetry /memshard/stats: $v2"
ok "dpdk-telemetry.py reads /memshard/shard,ticks ($v) and /memshard/stats"

ctl shutdown >/dev/null || fail "shutdown"
wait_for 20 "memshard to exit after 'shutdown'" sh -c "! kill -0 $MSH_PID 2>/dev/null"
[ ! -e "$MSH_TMP/ctl.sock" ] || fail "control socket left behind"
ok "shutdown: appliance exited, socket removed"
echo "test_control: $checks checks passed"
