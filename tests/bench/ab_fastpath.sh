#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# A/B of the fast path between two builds on this host, interleaved so a
# noisy spell hits both alike: for each round and each build, one appliance
# (integration set-up, idle=spin) and msh-bench busy-polling at 10,000 msg/s
# for publish-to-ack and publish-to-deliver at 16 and 128 bytes; prints one
# line per measurement ("BUILD ROUND MODE SIZE p50 p99", microseconds), then
# the median p50 and p99 of each build. Never fails on a timing.
# Usage: tests/bench/ab_fastpath.sh BUILD_A BUILD_B [ROUNDS] (default 3)
# (e.g. a copy of build/release made before a change, and build/release).
set -u
cd "$(dirname "$0")/../.."
[ $# -ge 2 ] || { echo "usage: $0 BUILD_A BUILD_B [ROUNDS]" >&2; exit 2; }
A=$1 B=$2 ROUNDS=${3:-3}
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT

one() { # BUILD ROUND
	BUILD=$1 ROUND=$2 bash -c '
	. tests/integration/lib.sh
	msh_netns_up
	msh_conf_write "$MSH_TMP/m.conf" "on_full = evict"
	sed -i "s/^idle = backoff/idle = spin/; s/^max_bytes = 256M/max_bytes = 128M/" "$MSH_TMP/m.conf"
	msh_start "$MSH_TMP/m.conf"
	for mode in ack deliver; do for size in 16 128; do
		in_ns taskset -c 0 "$BUILD/msh-bench" --json --mode $mode --rate 10000 --size $size \
			--warmup 1 --duration 4 --busy-poll "$MSH_APP_IP" ticks >"$MSH_TMP/r.json" 2>/dev/null
		python3 -c "import json,sys; l=json.load(open(sys.argv[1]))[\"latency_us\"]; print(*sys.argv[2:], l[\"p50\"], l[\"p99\"])" \
			"$MSH_TMP/r.json" "$BUILD" "$ROUND" $mode $size || echo "$BUILD $ROUND $mode $size ? ?"
	done; done
	msh_stop'
}

for r in $(seq 1 "$ROUNDS"); do
	one "$A" "$r"
	one "$B" "$r"
done | tee "$OUT"
echo
python3 - "$OUT" "$A" "$B" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if len(l.split()) == 6 and l.split()[4] != "?"]
print("| mode | size | %s p50 / p99 (us) | %s p50 / p99 (us) |" % (sys.argv[2], sys.argv[3]))
print("|---|---:|---:|---:|")
for mode in ("ack", "deliver"):
    for size in ("16", "128"):
        cells = []
        for b in sys.argv[2:4]:
            v = [r for r in rows if r[0] == b and r[2] == mode and r[3] == size]
            cells.append("%.1f / %.1f" % (statistics.median(float(r[4]) for r in v),
                                          statistics.median(float(r[5]) for r in v)) if v else "?")
        print(f"| {mode} | {size} | {cells[0]} | {cells[1]} |")
PY
