#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Write a pcap of an A/B multicast MoldUDP64 feed for the feed engine
ceiling (tests/bench/feed_ceiling.sh, issue 11): optionally one SUBSCRIBE to
shard "ticks" with a valid token first (so the worker fans every message out,
as in ceiling.sh), then N packets of K messages on line A (239.77.1.1:30001)
and the same N packets on line B (239.77.1.2:30002), interleaved, B LAG
packets behind A. Each line loses LOSS% of its packets independently (a
deterministic PRNG), never the same packet on both lines and never the first
packet, so the arbitration completes without a gap timeout or a re-request.
Frames go to the group MAC 01:00:5e:xx:xx:xx from 10.77.0.2; UDP checksum 0.
A message is SIZE bytes: 8 bytes of time (0 here), its upstream sequence
number (8 bytes big-endian), zeros.

Usage: mkfeedpcap.py OUT N K SIZE [--secret HEX] [--loss P] [--lag L]
                     [--seed S] [--no-b]
Prints one JSON line: packets and losses per line, distinct messages."""
import argparse
import json
import random
import struct
import time

ap = argparse.ArgumentParser()
ap.add_argument("out")
ap.add_argument("n", type=int, help="packets a line")
ap.add_argument("k", type=int, help="messages a packet")
ap.add_argument("size", type=int, help="bytes a message (>= 16)")
ap.add_argument("--secret", help="token_secret (hex): write a SUBSCRIBE with a valid token first")
ap.add_argument("--loss", type=float, default=5.0, help="percent of each line's packets lost")
ap.add_argument("--lag", type=int, default=2, help="packets line B runs behind line A")
ap.add_argument("--seed", type=int, default=1)
ap.add_argument("--no-b", action="store_true", help="line A only (no loss)")
ap.add_argument("--session", default="FEEDCEIL")
a = ap.parse_args()
assert a.size >= 16 and a.k >= 1 and 20 + a.k * (a.size + 2) <= 1472, "packet over 1500 bytes"

APP_IP, SRC_IP, CLI_PORT = 0x0A4D0001, 0x0A4D0002, 40000
GROUPS = [(0xEF4D0101, 30001), (0xEF4D0102, 30002)]
SHARD = b"ticks".ljust(10)
# SipHash-2-4 (the SUBSCRIBE token) and the IPv4 header checksum: mkpcap.py's.
from mkpcap import M64, ipsum, siphash24  # noqa: E402


def ip_udp(src, dst, sport, dport, payload, ttl):
    udp = struct.pack(">HHHH", sport, dport, 8 + len(payload), 0) + payload  # checksum 0: none
    ip = struct.pack(">BBHHHBBHII", 0x45, 0, 20 + len(udp), 0, 0x4000, ttl, 17, 0, src, dst)
    return ip[:10] + struct.pack(">H", ipsum(ip)) + ip[12:] + udp


SRC_MAC = b"\x02\x00\x00\x00\x00\x02"


def group_mac(g):
    return b"\x01\x00\x5e" + struct.pack(">I", g & 0x7FFFFF)[1:]


# Per line: Ethernet + IPv4 + UDP headers of a full packet, fixed but for the
# lengths and checksum, which depend only on the count (the last packet may be
# shorter), so cache them by payload length.
hdr_cache = {}


def line_frame(line, payload):
    key = (line, len(payload))
    h = hdr_cache.get(key)
    if h is None:
        g, port = GROUPS[line]
        h = group_mac(g) + SRC_MAC + b"\x08\x00" + ip_udp(SRC_IP, g, 30000 + line, port, b"", 1)
        # Lengths in the IP and UDP headers for this payload, checksum again.
        ip = bytearray(h[14:34])
        struct.pack_into(">H", ip, 2, 28 + len(payload))
        struct.pack_into(">H", ip, 10, 0)
        struct.pack_into(">H", ip, 10, ipsum(bytes(ip)))
        udp = bytearray(h[34:42])
        struct.pack_into(">H", udp, 4, 8 + len(payload))
        h = h[:14] + bytes(ip) + bytes(udp)
        hdr_cache[key] = h
    return h + payload


session = a.session.encode().ljust(10)
pad = f"{a.size - 16}x" if a.size > 16 else ""
structs = {}


def mold(p):
    first = 1 + p * a.k
    st = structs.get(a.k)
    if st is None:
        st = structs[a.k] = struct.Struct(">10sQH" + ("H8xQ" + pad) * a.k)
    args = [None] * (2 * a.k)
    args[0::2] = [a.size] * a.k
    args[1::2] = range(first, first + a.k)
    return st.pack(session, first, a.k, *args)


rng = random.Random(a.seed)
lines = 1 if a.no_b else 2
drop = bytearray(a.n)  # bit 0: lost on A, bit 1: lost on B
spared = 0
if not a.no_b:
    for p in range(1, a.n):
        la, lb = rng.random() * 100 < a.loss, rng.random() * 100 < a.loss
        if la and lb:
            spared += 1
            if rng.random() < 0.5:
                la = False
            else:
                lb = False
        drop[p] = la | (lb << 1)

sent = [0, 0]
with open(a.out, "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))

    def put(fr):
        f.write(struct.pack("<IIII", 0, 0, len(fr), len(fr)) + fr)

    if a.secret is not None:
        secret = int(a.secret, 16)
        bucket = time.time_ns() // 30_000_000_000
        key = struct.pack("<IH", SRC_IP, CLI_PORT) + SHARD + struct.pack("<Q", bucket)
        token = siphash24(secret, (~secret) & M64, key) or 1
        sub = struct.pack(">HBBBBH10sH", 0x4D53, 1, 3, 0, 0, 0, SHARD, 0) + struct.pack(">IQQ", 600000, 0, token)
        put(b"\xff" * 6 + SRC_MAC + b"\x08\x00" + ip_udp(SRC_IP, APP_IP, CLI_PORT, 9000, sub, 64))
    cache = {}  # B's copies: the packet built for A, kept until B sends it
    for p in range(a.n + (a.lag if lines == 2 else 0)):
        if p < a.n:
            m = mold(p)
            if not drop[p] & 1:
                put(line_frame(0, m))
                sent[0] += 1
            if lines == 2:
                cache[p] = m
        q = p - a.lag
        if lines == 2 and 0 <= q < a.n:
            m = cache.pop(q)
            if not drop[q] & 2:
                put(line_frame(1, m))
                sent[1] += 1
print(json.dumps({"packets": a.n, "per_packet": a.k, "size": a.size, "messages": a.n * a.k,
                  "sent_a": sent[0], "sent_b": sent[1], "lost_a": a.n - sent[0],
                  "lost_b": (a.n - sent[1]) if lines == 2 else 0, "double_loss_spared": spared,
                  "frames": sent[0] + sent[1] + (1 if a.secret is not None else 0),
                  "lag": a.lag if lines == 2 else 0}))
