#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# A malformed configuration stops memshard at start-up with one line naming
# the file, the line and the key, and exit status 1; a good one passes --check.
. "$(dirname "$0")/lib.sh"
BIN=$BUILD/memshard
[ -x "$BIN" ] || fail "$BIN not built"

# expect_error NAME EXPECTED-SUBSTRING: config text on stdin.
expect_error() {
	local name=$1 want=$2 f=$MSH_TMP/$1.conf out rc
	cat >"$f"
	out=$("$BIN" -c "$f" --check 2>&1)
	rc=$?
	[ "$rc" -eq 1 ] || fail "$name: exit $rc, expected 1 (output: $out)"
	case "$out" in
	*"$f$want"*) ok "$name: $out" ;;
	*) fail "$name: expected '$f$want' in: $out" ;;
	esac
}

expect_error bad_size ':4: [shard ticks] segment_bytes:' <<'EOT'
[appliance]
workers = 1
[shard ticks]
segment_bytes = 3X
EOT

expect_error unknown_key ':3: [appliance] wrokers:' <<'EOT'
# a typo
[appliance]
wrokers = 2
EOT

expect_error bad_enum ':3: [shard ticks] on_full:' <<'EOT'
[shard ticks]
max_bytes = 1G
on_full = drop
EOT

expect_error bad_duration ':2: [shard ticks] segment_age:' <<'EOT'
[shard ticks]
segment_age = 10
EOT

expect_error unknown_section ':1: [shrad' <<'EOT'
[shrad ticks]
max_bytes = 1G
EOT

expect_error bad_name ':1: [shard waytoolongname]' <<'EOT'
[shard waytoolongname]
EOT

expect_error duplicate_shard ':3: [shard ticks]' <<'EOT'
[shard ticks]
max_bytes = 1G
[shard ticks]
EOT

expect_error bad_address ':3: [port ingest] address:' <<'EOT'
[port ingest]
device = net_null0
address = 10.77.0.300/24
EOT

# Lcore ids stop at 127 (RTE_MAX_LCORE): in the -l form and left of @.
expect_error lcore_beyond ':3: [appliance] lcores: lcore 200 is beyond the 128 lcores this build supports (0 to 127)' <<'EOT'
[appliance]
workers = 1
lcores = 0,200
EOT

expect_error lcore_beyond_at ':2: [appliance] lcores: lcore 128 is beyond the 128 lcores this build supports (0 to 127)' <<'EOT'
[appliance]
lcores = 0@0,128@1
EOT

# Missing file: named, with the system's reason.
out=$("$BIN" -c "$MSH_TMP/nope.conf" --check 2>&1)
rc=$?
[ "$rc" -eq 1 ] || fail "missing file: exit $rc"
case "$out" in *"$MSH_TMP/nope.conf"*) ok "missing file: $out" ;; *) fail "missing file: $out" ;; esac

# Workers need lcores: refused before EAL starts, with what to change.
cat >"$MSH_TMP/workers.conf" <<'EOT'
[appliance]
lcores = 0@0,1@1
workers = 2
[port ingest]
device = net_null0
address = 10.77.0.1/24
EOT
out=$("$BIN" -c "$MSH_TMP/workers.conf" 2>&1)
rc=$?
[ "$rc" -eq 1 ] || fail "workers = 2 on 2 lcores: exit $rc, expected 1 ($out)"
case "$out" in *"[appliance] workers: 2 workers need 3 lcores"*) ok "workers = 2 on 2 lcores refused: $out" ;;
*) fail "workers = 2: $out" ;; esac

# The documented example is valid, and a dump of it loads back the same.
out=$("$BIN" -c config/memshard.conf --check 2>&1) || fail "example config: $out"
ok "example: $out"
"$BIN" -c config/memshard.conf --dump >"$MSH_TMP/dump.conf" || fail "dump failed"
"$BIN" -c "$MSH_TMP/dump.conf" --dump >"$MSH_TMP/dump2.conf" || fail "dump does not load back"
cmp -s "$MSH_TMP/dump.conf" "$MSH_TMP/dump2.conf" || fail "dump of a dump differs"
ok "dump round-trips"
echo "test_config_errors: $checks checks passed"
