#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Engine ceiling: one worker lcore fed from a vdev with no kernel in the way.
# net_pcap replays a file of PUBLISH datagrams (tests/bench/mkpcap.py: one
# SUBSCRIBE with a valid token, then N datagrams of K messages), fan-out goes
# to tx_pcap=/dev/null. The worker appends every message and fans each one out
# to the subscriber; the rate is messages over the time between its first and
# last RX burst. Beside it, dpdk-testpmd io-forwards the same file on the same
# vdev kinds (net_pcap as memshard has it, net_pcap into net_null, net_pcap
# with infinite_rx=1) and net_null to net_null (the bare PMD ceiling).
# Prints a Markdown section. Never fails on a timing; exits nonzero only when
# a tool (memshard, dpdk-testpmd, mkpcap.py) cannot run at all.
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh
N=${MSH_CEIL_DATAGRAMS:-200000}
SECRET=5eed5eed5eed5eed
TPMD=${TPMD:-dpdk-testpmd}
TPMD_SECS=${MSH_TPMD_SECONDS:-2} # measured window of the looping/net_null rows
TPMD_MBUFS=16384                 # mbuf pool of the rows that do not preload the file
TPMD_RUNS=${MSH_TPMD_RUNS:-3}    # runs of each row that reads a file once (median reported)

command -v "$TPMD" >/dev/null ||
	fail "$TPMD not found (Debian package dpdk, see TESTBED.md); set TPMD=PATH to use another"
command -v stdbuf >/dev/null || fail "stdbuf (coreutils) not found: needed to read testpmd's output as it comes"
[ -x "$BUILD/memshard" ] || fail "$BUILD/memshard not found: build it first (make)"

# others: note the run directories of DPDK processes that are not ours (other
# tests on the same 2 CPUs make every figure here lower).
others() {
	local d
	for d in /var/run/dpdk/*/; do
		d=$(basename "$d")
		case $d in "msh-tpmd$$"-* | "msh-ceil$$" | "*") ;; *) echo "$d" >>"$MSH_TMP/others" ;; esac
	done
}

# tpmd_mem MBUFS: EAL memory options for a testpmd with MBUFS mbufs of 2176 B
# (about 2.4 KB each with headers): hugepages when enough are free, as for
# memshard, else tpmd_nohuge.
tpmd_mem() {
	local need=$(($1 * 2500 / 1048576 + 128)) free
	free=$(awk '/^HugePages_Free:/ {f=$2} /^Hugepagesize:/ {s=$2} END {print int(f*s/1024)}' /proc/meminfo)
	if [ "${free:-0}" -ge $((need + 64)) ]; then
		echo ""
	else
		tpmd_nohuge "$1"
	fi
}

# tpmd_nohuge MBUFS: --no-huge with room for the pool; on 4 KiB pages the
# mempool puts one mbuf per page (none may cross a page), so 4 KiB each.
tpmd_nohuge() {
	echo "--no-huge -m $(($1 * 4096 / 1048576 + 192))"
}

# tpmd_run TAG MODE EXPECT MBUFS VDEV...: dpdk-testpmd io forwarding on the
# vdevs (one port: loop topology, else paired), one forwarding lcore, driven
# on stdin (-i) through a fifo. MODE window: start, 0.5 s warm-up, "show port
# stats all", TPMD_SECS s, again; the rate is the RX delta summed over the
# ports over the wall-clock time between the two. MODE drain (a file that
# ends): poll the counters until EXPECT packets were received; the rate is
# from --record-core-cycles (TSC cycles in bursts that received packets).
# Appends "TAG<TAB>Mpps<TAB>how" to $MSH_TMP/tpmd.tsv (Mpps "-" when nothing
# was measured, how says why). Fails only when testpmd cannot start at all.
tpmd_run() {
	local tag=$1 mode=$2 expect=$3 mbufs=$4
	shift 4
	local prefix=msh-tpmd$$-$tag out=$MSH_TMP/tpmd.$tag.out err=$MSH_TMP/tpmd.$tag.err
	local fifo=$MSH_TMP/tpmd.$tag.in vd=() v topo=paired mem fd pid deadline t0=0 t1=0 note="" try
	for v in "$@"; do vd+=(--vdev "$v"); done
	[ $# -eq 1 ] && topo=loop
	MSH_CLEANUPS+=("rm -rf /var/run/dpdk/$prefix")
	others
	mem=$(tpmd_mem "$mbufs")
	for try in 1 2; do
		rm -f "$fifo"
		mkfifo "$fifo" || fail "mkfifo $fifo"
		exec {fd}<>"$fifo"
		# shellcheck disable=SC2086 # $mem is zero or more words
		stdbuf -oL "$TPMD" --no-pci -l 0-1 --file-prefix="$prefix" $mem "${vd[@]}" -- \
			-i --forward-mode=io --port-topology=$topo --no-flush-rx --record-core-cycles \
			--total-num-mbufs="$mbufs" <"$fifo" >"$out" 2>"$err" &
		pid=$!
		MSH_PIDS+=("$pid")
		deadline=$((SECONDS + 60))
		until grep -q 'testpmd>' "$out" 2>/dev/null; do
			kill -0 "$pid" 2>/dev/null || break
			[ $SECONDS -ge $deadline ] && break
			sleep 0.05
		done
		kill -0 "$pid" 2>/dev/null && break
		# Exited during start-up: once more without hugepages (another
		# DPDK process may have taken them since we looked), then give up.
		exec {fd}>&-
		wait "$pid" 2>/dev/null
		rm -rf "/var/run/dpdk/$prefix"
		if [ $try = 2 ] || [ -n "$mem" ]; then
			tail -n 15 "$err" >&2
			fail "$TPMD could not start on ${*} (log above)"
		fi
		mem=$(tpmd_nohuge "$mbufs")
	done
	if ! grep -q 'testpmd>' "$out"; then
		note="testpmd not ready within 60 s"
	elif [ "$mode" = window ]; then
		echo start >&$fd
		sleep 0.5
		t0=$(date +%s%N)
		echo "show port stats all" >&$fd
		sleep "$TPMD_SECS"
		t1=$(date +%s%N)
		echo "show port stats all" >&$fd
	else
		echo start >&$fd
		deadline=$((SECONDS + 60))
		while [ $SECONDS -lt $deadline ]; do
			sleep 0.1
			echo "show port stats all" >&$fd
			sleep 0.05
			[ "$(awk '/RX-packets:.*RX-missed:/ {n++; s+=$2; if (n % np == 0) {last=s; s=0}} END {print last+0}' \
				np=$# "$out")" -ge "$expect" ] && break
		done
	fi
	echo stop >&$fd
	echo quit >&$fd
	exec {fd}>&-
	deadline=$((SECONDS + 15))
	while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.05; done
	kill -0 "$pid" 2>/dev/null && { kill -TERM "$pid"; sleep 1; }
	kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
	wait "$pid" 2>/dev/null
	rm -rf "/var/run/dpdk/$prefix" "$fifo"
	python3 - "$out" "$tag" "$mode" "$#" "$expect" "$t0" "$t1" "$note" "${mem:-hugepages}" \
		>>"$MSH_TMP/tpmd.tsv" <<'PY'
import re, sys
out, tag, mode, nports, expect, t0, t1, note, mem = sys.argv[1:]
nports, expect, t0, t1 = int(nports), int(expect), int(t0), int(t1)
text = open(out, errors="replace").read()
rx = [int(x) for x in re.findall(r"RX-packets:\s+(\d+)\s+RX-missed:", text)]
samples = [sum(rx[i:i + nports]) for i in range(0, len(rx) - nports + 1, nports)]
cyc = re.search(r"cycles/packet=([\d.]+) \(\w+ cycles=(\d+) / total \w+ packets=(\d+)\) at (\d+) MHz", text)
mem = "" if mem == "hugepages" else f"; {mem}"
def emit(mpps, how):
    print(f"{tag}\t{mpps}\t{how}{mem}")
if note:
    emit("-", note)
elif mode == "window":
    if len(samples) < 2 or t1 <= t0:
        emit("-", "no counters in testpmd's output")
    else:
        d, dt = samples[1] - samples[0], (t1 - t0) / 1e9
        how = f"RX +{d:,} in {dt:.2f} s"
        if cyc and float(cyc[1]) > 0:
            how += f" (busy cycles: {float(cyc[1]):.0f}/pkt, {int(cyc[4]) / float(cyc[1]):.2f} Mpps)"
        emit(f"{d / dt / 1e6:.2f}" if d > 0 else "-", how if d > 0 else "no packets received")
else:
    if not cyc or float(cyc[1]) <= 0:
        emit("-", "no cycle count in testpmd's output")
    else:
        pkts, cpp, mhz = int(cyc[3]), float(cyc[1]), int(cyc[4])
        how = f"{cpp:.0f} cycles/pkt at {mhz} MHz over {pkts:,} pkts"
        if pkts < expect:
            how += f" (only {pkts:,} of {expect:,} read within 60 s)"
        emit(f"{mhz / cpp:.2f}", how)
PY
}

row() { # SIZE K
	local size=$1 k=$2 pcap=$MSH_TMP/pub.pcap fsize frame
	python3 tests/bench/mkpcap.py "$pcap" "$N" "$k" "$size" "$SECRET" >/dev/null ||
		fail "tests/bench/mkpcap.py could not write $pcap"
	fsize=$(stat -c %s "$pcap")
	frame=$(((fsize - 24) / (N + 1) - 16)) # mean frame bytes (pcap headers: 24 + 16 per record)
	cat >"$MSH_TMP/c.conf" <<EOT
[appliance]
lcores = 0-1
idle = spin
file_prefix = msh-ceil$$
arena_bytes = 512M
token_secret = $SECRET
[port ingest]
device = net_pcap0,rx_pcap=$pcap,tx_pcap=/dev/null
address = 10.77.0.1/24
[shard ticks]
segment_bytes = 16M
max_bytes = 384M
on_full = evict
EOT
	MSH_CLEANUPS+=("rm -rf /var/run/dpdk/msh-ceil$$")
	others
	msh_start "$MSH_TMP/c.conf"
	# Done when the worker has read the whole file (bounded wait on a condition).
	wait_for 300 "pcap consumed" sh -c "[ \$(awk '/^rchar/ {print \$2}' /proc/$MSH_PID/io) -ge $fsize ]"
	msh_stop
	python3 - "$MSH_TMP/memshard.out" "$size" "$k" "$frame" "$MSH_TMP/msh.tsv" <<'PY'
import sys
c = {}
for line in open(sys.argv[1]):
    p = line.split()
    if len(p) >= 2 and p[1].isdigit():
        c[p[0]] = int(p[1])
ns = c.get("rx_active_ns", 0) or 1
app = c.get("shard.ticks.appended_msgs", 0)
feed = c.get("feed_msgs", 0)
print(f"| {sys.argv[2]} | {sys.argv[3]} | {app:,} | {app / ns * 1e3:.2f} | {feed:,} | "
      f"{feed / ns * 1e3:.2f} | {c.get('rx_pkts', 0) / ns * 1e3:.2f} |")
with open(sys.argv[5], "a") as f:
    f.write(f"{sys.argv[2]}\t{sys.argv[3]}\t{sys.argv[4]}\t{c.get('rx_pkts', 0) / ns * 1e3}\n")
PY
	# dpdk-testpmd on the same file, right after memshard read it.
	# The file lasts a fraction of a second: a few runs, the median is reported.
	local r
	for r in $(seq "$TPMD_RUNS"); do
		tpmd_run "pcap-$size-r$r" drain $((N + 1)) $TPMD_MBUFS "net_pcap0,rx_pcap=$pcap,tx_pcap=/dev/null"
		tpmd_run "pcapnull-$size-r$r" drain $((N + 1)) $TPMD_MBUFS "net_pcap0,rx_pcap=$pcap" "net_null0,no-rx=1"
	done
	tpmd_run "pcapinf-$size" window 0 $((N + 1 + TPMD_MBUFS)) "net_pcap0,rx_pcap=$pcap,infinite_rx=1"
	rm -f "$pcap"
}

LOAD0=$(cut -d' ' -f1 /proc/loadavg)
touch "$MSH_TMP/others" "$MSH_TMP/tpmd.tsv" "$MSH_TMP/msh.tsv"
cat <<EOT
## Engine ceiling: one worker lcore fed by a vdev (issue 3)
The appliance's own fast path with no kernel in the way: \`net_pcap\` replays a file of
PUBLISH datagrams (tests/bench/mkpcap.py: one SUBSCRIBE with a valid token, then $N
datagrams, contiguous publisher sequence numbers, no ACK asked), fan-out goes to
\`tx_pcap=/dev/null\`. Every message is deduped, appended and sent to the subscriber in
MoldUDP64 packets. Rates are over the time between the worker's first and last RX burst,
so they include the pcap PMD reading the file (libpcap, one packet at a time), which is
itself a ceiling here. Command: \`tests/bench/ceiling.sh\` (config written by it).

| msg bytes | msgs/datagram | appended | Mmsg/s appended | fanned out | Mmsg/s fanned out | Mdatagrams/s |
|---:|---:|---:|---:|---:|---:|---:|
EOT
row 16 80
row 32 41
row 128 11
tpmd_run null window 0 $TPMD_MBUFS net_null0 net_null1

echo
others
python3 - "$MSH_TMP/msh.tsv" "$MSH_TMP/tpmd.tsv" "$TPMD_SECS" "$N" "$LOAD0" \
	"$(cut -d' ' -f1 /proc/loadavg)" "$(nproc)" "$(sort -u "$MSH_TMP/others" | paste -sd, -)" <<'PY'
import re, statistics, sys
msh = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
runs = {}
for l in open(sys.argv[2]):
    tag, mpps, how = l.rstrip("\n").split("\t")
    runs.setdefault(re.sub(r"-r\d+$", "", tag), []).append((mpps, how))
tp = {}
for tag, rs in runs.items():
    ok = [(float(m), h) for m, h in rs if m != "-"]
    if len(rs) == 1 or not ok:
        tp[tag] = rs[0]
        continue
    med = statistics.median_low([m for m, _ in ok])
    how = next(h for m, h in ok if m == med)
    vals = ", ".join(m for m, _ in rs)
    tp[tag] = (f"{med:.2f}", f"busy cycles, median of {len(rs)} runs ({vals} Mpps): {how}")
secs, n = sys.argv[3], int(sys.argv[4])
print(f"""### Beside dpdk-testpmd io forwarding on the same vdevs
`dpdk-testpmd` (DPDK 22.11, `-l 0-1 --no-pci`, `--forward-mode=io`: one forwarding lcore,
bursts of 32 as memshard's worker) on each pcap file right after memshard read it, then on
two `net_null` ports. memshard's figure is datagrams received (`rx_pkts`) over its worker's
first-to-last RX burst: per datagram, libpcap reading the record and the PMD copying it into
an mbuf, then parse, dedupe, append of every message and fan-out (MoldUDP64 packets that the
pcap PMD writes to /dev/null). testpmd's io forwarding never touches packet data, so its rate
is the vdev's alone: with memshard's own devargs (`rx_pcap=FILE,tx_pcap=/dev/null`, loop
topology) the libpcap read and copy plus a pcap dump of every packet to /dev/null; into a
`net_null,no-rx=1` port the pcap reader alone; with `infinite_rx=1` the file is loaded into
mbufs before the start and each packet costs a ring dequeue, an mbuf allocation and a frame
copy (no libpcap, no file), dropped at TX; `net_null` to `net_null` allocates and frees
mbufs and touches nothing, the bare PMD ceiling (packets received on both ports). A file of
{n:,} datagrams is read in a fraction of a second, too short for per-second counters, so
those rows take testpmd's `--record-core-cycles` (TSC cycles spent in bursts that received
packets, over those packets); the looping and `net_null` rows take the RX counter delta over
{secs} s of wall clock after 0.5 s of warm-up. memshard / testpmd: memshard's datagram rate as a
share of testpmd's packet rate on that setup.

| testpmd io forwarding on | file: msg bytes x msgs (frame bytes) | testpmd Mpps | measured by | memshard Mdatagrams/s (net_pcap) | memshard / testpmd |
|---|---|---:|---|---:|---:|""")
setups = [("pcap", "`net_pcap` rx_pcap=FILE,tx_pcap=/dev/null (memshard's devargs)"),
          ("pcapnull", "`net_pcap` rx_pcap=FILE into `net_null` no-rx=1"),
          ("pcapinf", "`net_pcap` rx_pcap=FILE,infinite_rx=1 (TX dropped)")]
def ratio(m, t):
    try:
        r = float(m) / float(t) * 100
        return f"{r:.0f}%" if r >= 10 else f"{r:.1f}%"
    except (ValueError, ZeroDivisionError):
        return "-"
for key, label in setups:
    for size, k, frame, rate in msh:
        mpps, how = tp.get(f"{key}-{size}", ("-", "not run"))
        m = float(rate)
        print(f"| {label} | {size} x {k} ({frame} B) | {mpps} | {how} | {m:.2f} | {ratio(m, mpps)} |")
mpps, how = tp.get("null", ("-", "not run"))
rates = sorted(float(r[3]) for r in msh)
lo, hi = rates[0], rates[-1]
print(f"| `net_null` to `net_null` (64 B, data untouched) | - | {mpps} | {how} | "
      f"{lo:.2f}-{hi:.2f} (files above) | {ratio(lo, mpps)}-{ratio(hi, mpps)} |")
same = [ratio(r[3], tp.get(f"pcap-{r[0]}", ("-",))[0]) for r in msh]
print(f"\nOn this run memshard received datagrams at {', '.join(same)} of testpmd's packet rate on "
      f"memshard's own devargs (files of {', '.join(r[0] + ' B' for r in msh)} messages).")
load0, load1, ncpu, others = sys.argv[5:9]
print(f"Host during the run: load average {load0} at the start, {load1} at the end ({ncpu} CPUs); "
      f"run directories of other DPDK processes seen: {others.replace(',', ', ') or 'none'}."
      + (" Other processes on the same CPUs lower every figure, memshard's most: its window counts "
         "the time its worker loses between bursts, testpmd's busy cycles do not." if others else ""))
PY
