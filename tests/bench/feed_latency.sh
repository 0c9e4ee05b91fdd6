#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Feed to subscriber (issue 11): an exchange's MoldUDP64 feed on two multicast
# lines A and B, arbitrated by memshard into a shard, delivered to a
# subscriber as memshard's unicast MoldUDP64 feed; beside it, in the same run,
# the kernel-socket baseline a user would write instead (two joined UDP
# sockets, first copy wins, in order), fed by the same sender with the same
# loss. One-way latency per message: receive time - the send time the sender
# wrote into the message (CLOCK_REALTIME; one host, one clock).
#
# Set-up (tests/integration/lib.sh): the namespace holds the sender
# (bench/feed_kernel send) and, for memshard, the subscriber (feed_kernel
# sub); memshard's net_af_packet port is the root-side veth. For the baseline
# memshard is stopped, the root-side veth gets the appliance's address and
# feed_kernel kernel joins both groups there. Loss: 5% of each line's packets
# are not sent (decided in the sender, independent per line, never both
# lines: --no-double-loss, so no gap needs a re-request).
#
# CPUs (2): memshard's main lcore is CPU 0, its worker CPU 1. The sender and
# the subscriber share CPU 0 (the sender sends what is due within 50 us in one
# sendmmsg and sleeps in between, so the busy-polling subscriber gets the
# rest); the worker has CPU 1. memshard runs with idle = backoff (required:
# clients share the host's CPUs) and, as a second row, idle = spin (the
# worker's CPU has no client, so spinning there takes nothing from them): the
# difference is what the back-off's sleeps cost. The baseline receiver runs
# twice: on CPU 0 beside the sender, where memshard's subscriber runs, and on
# CPU 1 alone, where memshard's worker runs. A rate a path does not sustain
# here (the sender falls behind its timeline, messages are lost, or the median
# message waits 1 ms or more: a queue built up) is followed by half of it,
# twice at most, not below 100,000 msg/s.
#
# Prints a Markdown section. Never fails on a timing; a run that cannot be
# made says "not run: why". Exits non-zero only when the set-up itself cannot
# be made (then tests/bench/run.sh prints why).
#
# Environment: MSH_FEEDLAT_RATES (default "100000 1000000"), MSH_FEEDLAT_SECS
# (measured seconds, default 5), MSH_FEEDLAT_LOSS (percent per line, 5),
# MSH_FEEDLAT_DOUBLE_LOSS=1 (a packet may be lost on both lines: gaps are then
# given up after gap_timeout, by memshard and by the baseline alike),
# MSH_FEEDLAT_SPIN=0 (no idle = spin rows), MSH_FEEDLAT_WINDOW_US (sender's
# burst window, 50), MSH_FEEDLAT_CPU_SUB (0), MSH_FEEDLAT_CPU_KERN ("0 1").
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
RATES=${MSH_FEEDLAT_RATES:-100000 1000000}
SECS=${MSH_FEEDLAT_SECS:-5}
WARM=1
LOSS=${MSH_FEEDLAT_LOSS:-5}
K=10     # messages a packet
SIZE=32  # bytes a message (16 of stamp and sequence number)
BDELAY=5 # us line B sends after A
GAP_US=5000
GA=239.77.1.1:30001
GB=239.77.1.2:30002
FK=$BUILD/bench/feed_kernel
DBL=--no-double-loss
[ "${MSH_FEEDLAT_DOUBLE_LOSS:-0}" = 1 ] && DBL=
SPIN=${MSH_FEEDLAT_SPIN:-1}
WINDOW=${MSH_FEEDLAT_WINDOW_US:-50}
CPU_SEND=0
CPU_SUB=${MSH_FEEDLAT_CPU_SUB:-0}
CPU_KERN=${MSH_FEEDLAT_CPU_KERN:-0 1} # each a series of the baseline
MIN_RATE=100000

title="## Feed to subscriber (multicast in, MoldUDP64 out)"
if [ "$(id -u)" != 0 ]; then
	echo "$title"
	echo "Not run: needs root (network namespace, veth)."
	exit 0
fi
for f in "$FK" "$BUILD/memshard" "$BUILD/memshardctl"; do
	[ -x "$f" ] || { echo "$title"; echo "Not run: $f not built (make)."; exit 0; }
done

msh_netns_up
in_ns ip route add 224.0.0.0/4 dev "$MSH_VETH_NS" || fail "multicast route in the namespace"
ROWS=$MSH_TMP/rows.tsv
CMDS=$MSH_TMP/cmds
: >"$ROWS"
: >"$CMDS"
LOAD0=$(cut -d' ' -f1 /proc/loadavg)

# cmd LINE: note a command for the section (once).
cmd() { grep -qxF -- "$1" "$CMDS" || echo "$1" >>"$CMDS"; }

send_args() { # RATE
	echo "--src-ip $MSH_CLIENT_IP --rate $1 --count $(($1 * (SECS + WARM))) --per-packet $K" \
		"--size $SIZE --b-delay-us $BDELAY --window-us $WINDOW --loss-a $LOSS --loss-b $LOSS $DBL" \
		"--session R$1 $GA $GB"
}

# sender RATE TAG: the sender in the namespace; its JSON in TAG.send.json.
sender() {
	local a
	a=$(send_args "$1")
	cmd "ip netns exec $MSH_NS taskset -c $CPU_SEND $FK send $a"
	# shellcheck disable=SC2086 # $a is words
	in_ns taskset -c $CPU_SEND "$FK" send $a >"$MSH_TMP/$2.send.json" 2>"$MSH_TMP/$2.send.err"
}

# wait_ready PID FILE WORD: until the receiver PID writes WORD to FILE (10 s);
# 1 when it exited or did not.
wait_ready() {
	local deadline=$((SECONDS + 10))
	until grep -q "$3" "$2" 2>/dev/null; do
		if ! kill -0 "$1" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
			kill "$1" 2>/dev/null
			wait "$1" 2>/dev/null
			return 1
		fi
		sleep 0.05
	done
}

# wait_pid PID SECONDS: wait for a receiver, bounded (killed after).
wait_pid() {
	local deadline=$((SECONDS + $2))
	while kill -0 "$1" 2>/dev/null; do
		if [ $SECONDS -ge "$deadline" ]; then
			kill "$1" 2>/dev/null
			break
		fi
		sleep 0.1
	done
	wait "$1" 2>/dev/null
}

# row PATH RATE TAG NOTE
row() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$ROWS"; }

# sustained TAG RATE: the sender held 97% of the rate, nothing was lost and the
# median message waited under 1 ms (no queue built up at the receiving end).
# Writes the reason into TAG.verdict ("ok" when sustained).
sustained() {
	python3 - "$MSH_TMP/$1" "$2" <<'PY'
import json, sys
tag, rate = sys.argv[1], int(sys.argv[2])
try:
    s, r = (json.loads(open(f"{tag}.{x}.json").read()) for x in ("send", "recv"))
except (OSError, ValueError):
    v = "no result (" + ", ".join(f"{tag}.{x}.json" for x in ("send", "recv") if not __import__("os").path.exists(f"{tag}.{x}.json")) + ")"
else:
    why = []
    if s["msgs_per_s"] < 0.97 * rate:
        why.append(f"the sender reached {s['msgs_per_s']:,.0f} msg/s")
    if r["lost"] > 0:
        why.append(f"{r['lost']:,} messages lost")
    if r["p50_us"] >= 1000:
        why.append(f"p50 {r['p50_us'] / 1000:.1f} ms: a queue built up")
    v = "; ".join(why) or "ok"
open(f"{tag}.verdict", "w").write(v + "\n")
sys.exit(0 if v == "ok" else 1)
PY
}

# ---- memshard: feed ab -> shard ticks -> subscriber ------------------------------
memshard_run() { # IDLE RATE: one run; 1 when it was not made or not sustained
	local idle=$1 r=$2 tag=msh-$1-$2 n=$(($2 * (SECS + WARM))) from=$(($2 * WARM + 1)) pid
	msh_conf_write "$MSH_TMP/$tag.conf" "on_full = evict"
	sed -i "s/^idle = backoff/idle = $idle/" "$MSH_TMP/$tag.conf"
	cat >>"$MSH_TMP/$tag.conf" <<EOT
[feed ab]
shard = ticks
line_a = $GA
line_b = $GB
gap_timeout = $((GAP_US / 1000))ms
EOT
	msh_start "$MSH_TMP/$tag.conf" # fails the script (run.sh says why) if it cannot start
	cmd "$BUILD/memshard -c $MSH_TMP/$tag.conf (lib.sh msh_conf_write, shard ticks on_full = evict, idle = $idle, plus [feed ab] below)"
	cmd "ip netns exec $MSH_NS taskset -c $CPU_SUB $FK sub --count $n --measure-from $from --timeout 2 $MSH_APP_IP ticks"
	# Not through in_ns (a function: $! would be a subshell): ip netns exec and
	# taskset exec, so $! is the subscriber itself.
	ip netns exec "$MSH_NS" taskset -c "$CPU_SUB" "$FK" sub --count "$n" --measure-from "$from" --timeout 2 \
		"$MSH_APP_IP" ticks >"$MSH_TMP/$tag.recv.json" 2>"$MSH_TMP/$tag.recv.err" &
	pid=$!
	MSH_PIDS+=("$pid")
	if ! wait_ready "$pid" "$MSH_TMP/$tag.recv.err" subscribed; then
		row "memshard-$idle" "$r" "$tag" "not run: the subscriber did not subscribe ($(tail -n 1 "$MSH_TMP/$tag.recv.err"))"
		msh_stop
		return 1
	fi
	sender "$r" "$tag"
	wait_pid "$pid" $((SECS + 30))
	cmd "$BUILD/memshardctl --socket $MSH_TMP/ctl.sock --json feed show ab (after the run)"
	ctl --json feed show ab >"$MSH_TMP/$tag.show.json" 2>/dev/null
	msh_stop
	cp "$MSH_TMP/memshard.out" "$MSH_TMP/$tag.report"
	row "memshard-$idle" "$r" "$tag" ""
	sustained "$tag" "$r"
}

# ---- the baseline: feed_kernel kernel on the root-side veth ------------------------
kernel_run() { # CPU RATE
	local cpu=$1 r=$2 tag=kern$1-$2 n=$(($2 * (SECS + WARM))) from=$(($2 * WARM + 1)) pid
	cmd "taskset -c $cpu $FK kernel --if-ip $MSH_APP_IP --count $n --measure-from $from --gap-timeout-us $GAP_US --timeout 2 $GA $GB"
	taskset -c "$cpu" "$FK" kernel --if-ip "$MSH_APP_IP" --count "$n" --measure-from "$from" \
		--gap-timeout-us "$GAP_US" --timeout 2 "$GA" "$GB" \
		>"$MSH_TMP/$tag.recv.json" 2>"$MSH_TMP/$tag.recv.err" &
	pid=$!
	MSH_PIDS+=("$pid")
	if ! wait_ready "$pid" "$MSH_TMP/$tag.recv.err" joined; then
		row "kernel$cpu" "$r" "$tag" "not run: the receiver could not join ($(tail -n 1 "$MSH_TMP/$tag.recv.err"))"
		return 1
	fi
	sender "$r" "$tag"
	wait_pid "$pid" $((SECS + 30))
	row "kernel$cpu" "$r" "$tag" ""
	sustained "$tag" "$r"
}

# series FUNC ARG: FUNC ARG RATE for every rate; one not sustained is followed
# by half of it, at most twice, not below MIN_RATE.
series() {
	local r h
	for r in $RATES; do
		"$1" "$2" "$r" && continue
		h=$r
		for _ in 1 2; do
			h=$((h / 2))
			[ "$h" -ge "$MIN_RATE" ] || break
			"$1" "$2" "$h" && break
		done
	done
}

series memshard_run backoff
[ "$SPIN" = 1 ] && series memshard_run spin
ip addr add "$MSH_APP_IP/24" dev "$MSH_VETH_APP" || fail "address on $MSH_VETH_APP"
MSH_CLEANUPS+=("ip addr del $MSH_APP_IP/24 dev $MSH_VETH_APP")
cmd "ip addr add $MSH_APP_IP/24 dev $MSH_VETH_APP (memshard stopped; deleted at the end)"
for c in $CPU_KERN; do series kernel_run "$c"; done
ip addr del "$MSH_APP_IP/24" dev "$MSH_VETH_APP"

python3 - "$MSH_TMP" "$ROWS" "$CMDS" "$SECS" "$WARM" "$LOSS" "$K" "$SIZE" "$BDELAY" "$GAP_US" \
	"${DBL:+no}" "$LOAD0" "$(cut -d' ' -f1 /proc/loadavg)" "$CPU_SEND" "$CPU_SUB" "${CPU_KERN// /,}" \
	"$WINDOW" "$RATES" <<'PY'
import json, sys
(tmp, rows, cmds, secs, warm, loss, k, size, bdelay, gap_us, nodbl, load0, load1,
 cpu_send, cpu_sub, cpu_kern, window, rates) = sys.argv[1:]
gap_ms = int(gap_us) // 1000

def load(p):
    try:
        return json.loads(open(p).read())
    except (OSError, ValueError):
        return None

def report(p):
    c = {}
    try:
        for line in open(p):
            q = line.split()
            if len(q) >= 2 and q[1].isdigit():
                c[q[0]] = int(q[1])
    except OSError:
        pass
    return c

def errtail(p):
    try:
        t = [l.strip() for l in open(p) if l.strip() and "subscribed" not in l and "joined" not in l]
        return t[-1] if t else ""
    except OSError:
        return ""

label = {"memshard-backoff": "memshard, idle = backoff: feed ab -> shard -> `feed_kernel sub` (CPU " + cpu_sub + ")",
         "memshard-spin": "memshard, idle = spin (worker's CPU has no client)"}
for c in cpu_kern.split(","):
    label["kernel" + c] = (f"kernel baseline: 2 joined UDP sockets, `feed_kernel kernel` on CPU {c}"
                           + (" beside the sender" if c == cpu_send else " alone"))
placement = ("beside the sender, where memshard's subscriber runs, then alone, where memshard's worker runs"
             if cpu_kern == cpu_sub + ",1" else "see the rows")
print("## Feed to subscriber (multicast in, MoldUDP64 out)")
print(f"""Issue 11 end to end. An exchange (`feed_kernel send`, kernel UDP in a network namespace)
sends a MoldUDP64 feed on two multicast lines (A and B, two groups, the same packets on
both, B {bdelay} us after A), {k} messages of {size} B a packet, on a fixed timeline (what is due
within {window} us goes out in one sendmmsg, then it sleeps); each message carries its send time
(CLOCK_REALTIME, read just before the sendmmsg) and its upstream sequence number. {loss}% of
each line's packets are not sent, independently per line (decided in the sender: for the
receiver the same as a drop on the wire), {'never the same packet on both lines, so every gap is filled by the other line' if nodbl else 'both lines may lose the same packet (given up after gap_timeout)'}.
**memshard**: the appliance on `net_af_packet` over the veth, `[feed ab]` (lines A and B,
gap_timeout {gap_ms}ms) into shard `ticks`; the subscriber (`feed_kernel sub`: memshard's
SUBSCRIBE / token handshake, busy-polling recvmmsg) in the namespace. The idle policy is
**backoff** (required on this 2-CPU host, where the clients share the CPUs); the spin rows run
the same with idle = spin, the worker alone on its CPU, to show what the back-off's sleeps
cost. CPUs: sender CPU {cpu_send}, subscriber CPU {cpu_sub}, memshard main lcore CPU 0, worker CPU 1.
**Kernel baseline**, same run, after memshard stopped: the root-side veth gets the appliance's
address and `feed_kernel kernel` joins both groups and busy-polls both sockets
with non-blocking recvmmsg; the first copy of each sequence number wins; messages are
delivered in upstream order (held past a gap until the other line fills it or {gap_ms} ms pass,
memshard's contract); it runs on CPU {' and again on CPU '.join(cpu_kern.split(','))} ({placement}). One-way latency: receive time minus the stamp, over {secs} s after {warm} s
of warm-up, p50 / p99 / p99.9 / max in microseconds; delivered and lost count every message
sent (distinct upstream sequence numbers received); delivered msg/s from the first to the
last delivery. Rates asked for: {', '.join(f'{int(r):,}' for r in rates.split())} msg/s. A rate is sustained when the
sender held 97% of it, nothing was lost and the median message waited under 1 ms (no queue
built up); one a path does not sustain here is followed by half of it (twice at most).
""")
print("| path | msg/s offered | sustained? | sender reached (p99 behind its timeline) | delivered | lost | p50 us | p99 us | p99.9 us | max us | delivered msg/s |")
print("|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|")
details, best = [], {}
for line in open(rows):
    path, rate, tag, note = line.rstrip("\n").split("\t")
    rate = int(rate)
    if note:
        print(f"| {label[path]} | {rate:,} | - | - | {note} | | | | | | |")
        continue
    s, r = load(f"{tmp}/{tag}.send.json"), load(f"{tmp}/{tag}.recv.json")
    if s is None or r is None:
        who = "sender" if s is None else "receiver"
        why = errtail(f"{tmp}/{tag}.{'send' if s is None else 'recv'}.err")
        print(f"| {label[path]} | {rate:,} | - | - | not run: the {who} gave no result ({why or 'no output'}) | | | | | | |")
        continue
    try:
        verdict = open(f"{tmp}/{tag}.verdict").read().strip()
    except OSError:
        verdict = "no verdict"
    if verdict == "ok":
        best[path] = max(best.get(path, 0), rate)
    hs = f"{s['msgs_per_s']:,.0f}/s ({s['late_p99_us']:,.0f} us)"
    vs = "yes" if verdict == "ok" else f"**no**: {verdict}"
    print(f"| {label[path]} | {rate:,} | {vs} | {hs} | {r['messages']:,} | {r['lost']:,} | {r['p50_us']:.1f} | "
          f"{r['p99_us']:.1f} | {r['p99_9_us']:.1f} | {r['max_us']:.1f} | {r['msgs_per_s']:,.0f} |")
    d = (f"- {path} at {rate:,} msg/s: sender {s['packets']:,} packets a line, A sent {s['line_a']['sent']:,} "
         f"(dropped {s['line_a']['dropped']:,}), B sent {s['line_b']['sent']:,} (dropped {s['line_b']['dropped']:,}), "
         f"{s['double_loss_spared']:,} double losses spared, {s['double_lost']:,} lost on both; receiver: "
         f"{r['duplicates']:,} duplicates, {r['gaps']:,} gaps ({r['gap_msgs']:,} messages)")
    if path.startswith("memshard"):
        j = load(f"{tmp}/{tag}.show.json")
        c = report(f"{tmp}/{tag}.report")
        if j:
            a, b = j["lines"]
            cc = j["counters"]
            d += (f"; feed ab: appended {cc['appended_msgs']:,}, A won {a['won_msgs']:,} dup {a['dup_msgs']:,}, "
                  f"B won {b['won_msgs']:,} dup {b['dup_msgs']:,}, gaps filled {cc['gaps_filled']:,}, "
                  f"given up {cc['gaps_given_up']:,} ({cc['gap_msgs_lost']:,} messages), "
                  f"B after A p99 {b['skew']['p99_us']:.1f} us")
            # Line packets sent (data and the 3 closing heartbeats) that the
            # appliance never received: the kernel dropped them at the
            # net_af_packet ring while the worker was off its CPU.
            missing = (s["line_a"]["sent"] + s["line_b"]["sent"] + 6) - (a["datagrams"] + b["datagrams"])
            if missing > 0:
                d += (f"; **{missing:,} line packets never reached the worker** (its net_af_packet ring, "
                      "framecnt 4096, overflowed while it was off its CPU; a gap given up is where both copies were among them)")
        if c:
            d += f"; rx_pkts {c.get('rx_pkts', 0):,}, feed_msgs {c.get('feed_msgs', 0):,}"
    else:
        d += (f"; A won {r['line_a']['won_msgs']:,} dup {r['line_a']['dup_msgs']:,}, "
              f"B won {r['line_b']['won_msgs']:,} dup {r['line_b']['dup_msgs']:,}, "
              f"gaps given up {r['gaps_given_up']:,}")
    details.append(d)
print()
want = max(int(r) for r in rates.split())
for path in label:
    if any(l.startswith(path + "\t") for l in open(rows)):
        b = best.get(path)
        if b is None:
            print(f"- {label[path]}: no rate sustained on this host.")
        elif b < want:
            print(f"- {label[path]}: the highest rate sustained on this host was **{b:,} msg/s** "
                  f"({want:,} was not: see the rows).")
print()
print("The sender runs the veth's receive side too (softirq on its CPU): at high rates it, the "
      "busy-polling subscriber and the worker want three CPUs of a 2-CPU host.")
print()
print("Counters of each run:")
print()
for d in details:
    print(d)
print()
print(f"Host during the run: load average {load0} at the start, {load1} at the end; other "
      "engineers' tests may share the 2 CPUs, so the figures are noisy.")
print()
print("Commands, in the order run (tests/bench/feed_latency.sh; the namespace, veth and "
      "temporary directory names are this run's):")
print()
for c in open(cmds):
    print(f"- `{c.strip()}`")
print()
print("The feed, appended to each appliance configuration:")
print()
print("```")
print(f"[feed ab]\nshard = ticks\nline_a = 239.77.1.1:30001\nline_b = 239.77.1.2:30002\ngap_timeout = {gap_ms}ms")
print("```")
PY
