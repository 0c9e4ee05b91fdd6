#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# `make bench`: runs every benchmark and rewrites BENCHMARKS.md with the host,
# the commit, the exact commands and the figures. Benchmarks never fail on a
# timing; a benchmark that cannot run says why in its section.
#
# Environment: BUILD (default build/release), MSH_BENCH_REPS (default 5),
# MSH_BENCH_MSGS (messages per engine run, default 20000000).
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build/release}
REPS=${MSH_BENCH_REPS:-5}
MSGS=${MSH_BENCH_MSGS:-20000000}
OUT=BENCHMARKS.md
TMP=$(mktemp)
trap 'rm -f "$TMP"' EXIT

host_section() {
	local cpu kernel mem hp dpdk cc commit
	cpu=$(awk -F: '/model name/ {sub(/^ /, "", $2); print $2; exit}' /proc/cpuinfo)
	kernel=$(uname -r)
	mem=$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
	hp=$(awk '/HugePages_Total/ {print $2}' /proc/meminfo)
	dpdk=$(pkg-config --modversion libdpdk 2>/dev/null || echo "not installed")
	cc=$(${CC:-cc} --version | head -n 1)
	commit=$(git rev-parse --short HEAD 2>/dev/null || echo "uncommitted")
	git diff --quiet HEAD 2>/dev/null || commit="$commit (with uncommitted changes)"
	cat <<EOT
# memshard benchmarks

Written by \`make bench\` (tests/bench/run.sh) on $(date -u '+%Y-%m-%d %H:%M UTC'); do not edit by hand.
Figures are from one run on the host below; they are measurements, not guarantees, and no
test fails on them.

## Host
| | |
|---|---|
| CPU | $cpu, $(nproc) cores online |
| memory | $mem, $hp x 2 MiB hugepages reserved |
| kernel | $kernel |
| DPDK | $dpdk |
| compiler | $cc, \`-O3 -march=corei7\` |
| commit | $commit |

EOT
}

# run_cmd CMD: run a benchmark binary and print its output into $TMP and the
# page, or say why it did not run. @return non-zero when it failed.
run_cmd() {
	if ! $1 >"$TMP" 2>&1; then
		echo "Not run: the benchmark failed:"
		echo '```'
		cat "$TMP"
		echo '```'
		echo
		return 1
	fi
	cat "$TMP"
}

engine_section() {
	local cmd="taskset -c 1 $BUILD/bench/bench_engine -r $REPS -n $MSGS"
	cat <<EOT
## Engine (lib/, one core, no network)
What the worker lcore does per publish, in isolation: append message blocks into a shard
(16 MiB segments, 256 MiB limit, on_full=evict so runs never stop at the limit; memory
faulted in before timing), the full publish action (publisher dedupe + append, as the
worker runs it per PUBLISH datagram), and reads of retained ranges as wire-ready spans of at
most 1400 bytes (the fan-out and retransmission path), with and without copying each span.
"batch" is as many messages as fit a 1400-byte datagram.

Command: \`$cmd\`

EOT
	run_cmd "$cmd" || return
	local one32
	one32=$(awk -F'|' '$2 ~ /append, 1 msg/ && $3 + 0 == 32 {gsub(/ /, "", $5); print $5}' "$TMP")
	echo
	echo "Target (issue 2): at least 20 million 32-byte appends/s on one core."
	echo "Measured: ${one32:-?} million/s one message per call, the slowest way to append."
	echo
}

arb_section() {
	local cmd="taskset -c 1 $BUILD/bench/bench_arb -r $REPS"
	cat <<EOT
## A/B arbitration (lib/arb, one core, no network)
Issue 11's first slice: a MoldUDP64 feed of full 1400-byte packets fed to the arbiter as a
worker would (msh_mold_parse, msh_arb_rx) on line A alone, on A and B without loss, and on
A and B with independent 5% loss and B up to 8 packets behind (gaps held, then filled by
the other line or given up). "arbitration + shard append" also appends every emitted run
to a shard (lib/shard, evicting). Per upstream message; target (issue 11): arbitration adds
under 200 ns a message and at least 10 M msg/s per worker.

Command: \`$cmd\`

EOT
	run_cmd "$cmd"
	echo
}

fanout_section() {
	local cmd="taskset -c 1 $BUILD/bench/bench_fanout -r $REPS"
	cat <<EOT
## Fan-out: copy vs zero-copy mbufs
Issue 10: what building one MoldUDP64 feed packet costs on one lcore, no port, no
network. "copy" is what the worker does (one mbuf, headers, rte_memcpy of the stored
blocks, with or without the software UDP checksum); "extbuf" is a header mbuf chained
to an mbuf attached (rte_pktmbuf_attach_extbuf) to the stored blocks, with a free
callback that drops the segment's count of packets in flight. Each packet is freed
1024 packets later, as a TX ring would. "→ af_packet" adds the copy net_af_packet's
TX makes of every packet into its ring. Median ns per packet.

Command: \`$cmd\`

EOT
	run_cmd "$cmd"
}

# script_section TITLE SCRIPT [root]: run tests/bench/SCRIPT and print its
# Markdown section, or why it did not run (root needed, or the failure);
# SECTION_RAN says which.
script_section() {
	local title=$1 script=$2 out=$TMP.section
	SECTION_RAN=0
	if [ "${3:-}" = root ] && [ "$(id -u)" != 0 ]; then
		echo "## $title"
		echo "Not run: needs root for the network namespace."
		return 0
	fi
	if ! BUILD=$BUILD bash "tests/bench/$script" >"$out" 2>"$out.err"; then
		echo "## $title"
		echo "Not run: the benchmark failed:"
		echo '```'
		tail -n 20 "$out.err"
		echo '```'
		rm -f "$out" "$out.err"
		return 0
	fi
	cat "$out"
	echo
	rm -f "$out" "$out.err"
	SECTION_RAN=1
}

ceiling_section() {
	script_section "Engine ceiling" ceiling.sh
	[ "$SECTION_RAN" = 1 ] || return 0
	echo "Target (issue 3): at least 10 million messages/s per worker lcore, counted in"
	echo "messages appended and fanned out; the testpmd rows above show what the same"
	echo "vdevs move with no per-packet work at all."
	echo
}

jitter_section() {
	local c
	cat <<EOT
## Host jitter
How long this host takes a CPU away from a program that never yields: a spin loop
reading CLOCK_MONOTONIC on each CPU, alone, 5 s each (\`taskset -c N $BUILD/bench/bench_jitter 5\`).
No program here can show a latency tail shorter than these gaps; read the p99.9 and
max columns below with them in mind.

EOT
	for c in $(seq 0 $(($(nproc) - 1))); do
		echo "- CPU $c: $(taskset -c "$c" "$BUILD/bench/bench_jitter" 5)"
	done
	echo
}

{
	host_section
	jitter_section
	engine_section
	arb_section
	fanout_section
	ceiling_section
	script_section "Feed engine ceiling" feed_ceiling.sh
	script_section "memshard beside nats-server" side_by_side.sh root
	script_section "Feed to subscriber (multicast in, MoldUDP64 out)" feed_latency.sh root
	script_section "Spill and persistence" spill.sh root
	script_section "Replication" repl.sh root
} >"$OUT.new" && mv "$OUT.new" "$OUT"
echo "bench: wrote $OUT"
cat "$OUT"
