#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Engine ceiling: one worker lcore fed from a vdev with no kernel in the way.
# net_pcap replays a file of PUBLISH datagrams (tests/bench/mkpcap.py: one
# SUBSCRIBE with a valid token, then N datagrams of K messages), fan-out goes
# to tx_pcap=/dev/null. The worker appends every message and fans each one out
# to the subscriber; the rate is messages over the time between its first and
# last RX burst. Prints a Markdown section. Never fails on a timing.
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh
N=${MSH_CEIL_DATAGRAMS:-200000}
SECRET=5eed5eed5eed5eed

row() { # SIZE K
	local size=$1 k=$2 pcap=$MSH_TMP/pub.pcap fsize
	python3 tests/bench/mkpcap.py "$pcap" "$N" "$k" "$size" "$SECRET" >/dev/null || return 1
	fsize=$(stat -c %s "$pcap")
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
	msh_start "$MSH_TMP/c.conf"
	# Done when the worker has read the whole file (bounded wait on a condition).
	wait_for 300 "pcap consumed" sh -c "[ \$(awk '/^rchar/ {print \$2}' /proc/$MSH_PID/io) -ge $fsize ]"
	msh_stop
	python3 - "$MSH_TMP/memshard.out" "$size" "$k" <<'PY'
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
PY
}

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
