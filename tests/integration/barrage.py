#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Send a barrage of malformed datagrams at an appliance and check each answer
against PROTOCOL.md: a readable header that asked for an ACK gets MALFORMED,
TOO_LARGE or UNKNOWN_SHARD; anything else gets no answer. Exits non-zero with
the case that failed. Usage: barrage.py APPLIANCE_IP SHARD [RANDOM_COUNT]"""
import os
import random
import socket
import struct
import sys

ip, shard = sys.argv[1], sys.argv[2].encode().ljust(10)
n_random = int(sys.argv[3]) if len(sys.argv) > 3 else 20000
MALFORMED, TOO_LARGE, UNKNOWN_SHARD = 4, 6, 3
rng = random.Random(1234)


def hdr(t=1, flags=1, count=1, name=shard, magic=0x4D53, version=1):
    return struct.pack(">HBBBBH10sH", magic, version, t, flags, 0, count, name, 0)


def publish(msgs, pub_id=99, seq=1, **kw):
    body = b"".join(struct.pack(">H", len(m)) + m for m in msgs)
    return hdr(count=kw.pop("count", len(msgs)), **kw) + struct.pack(">IQ", pub_id, seq) + body


s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
s.bind(("0.0.0.0", 0))


def expect(name, data, status):
    """status None: no reply expected."""
    s.sendto(data, (ip, 9000))
    s.settimeout(0.5 if status is not None else 0.15)
    try:
        d = s.recv(4096)
    except socket.timeout:
        if status is None:
            return
        sys.exit(f"FAIL {name}: no reply, expected status {status}")
    if status is None:
        sys.exit(f"FAIL {name}: unexpected reply {d[:44].hex()}")
    if len(d) != 44 or d[3] != 2 or d[4] != status or d[6:8] != b"\0\0":
        sys.exit(f"FAIL {name}: reply {d[:44].hex()}, expected ACK status {status} count 0")
    print(f"ok {name}: ACK status {status}")


# Known content first: it must read back unchanged after the barrage.
known = [b"known-%05d-" % i + bytes([i % 251]) * (i % 40) for i in range(100)]
s.settimeout(2)
for i in range(0, 100, 10):
    s.sendto(publish(known[i:i + 10], pub_id=4242, seq=1 + i), (ip, 9000))
    d = s.recv(4096)
    if d[3] != 2 or d[4] != 0 or struct.unpack(">H", d[6:8])[0] != 10:
        sys.exit(f"FAIL known publish {i}: {d.hex()}")
print("ok known: 100 messages acked")

good = publish([b"abc"])
expect("count 0", publish([], count=0), MALFORMED)
expect("block overruns", publish([b"abcdef"])[:-2], MALFORMED)
expect("length field cut", publish([b"a"]) + b"\x00", MALFORMED)
expect("trailing byte (underrun)", good + b"\x00", MALFORMED)
expect("count says 2, one block", publish([b"abc"], count=2), MALFORMED)
expect("publisher_seq 0", publish([b"abc"], seq=0), MALFORMED)
expect("too large", publish([b"x" * 1439]), TOO_LARGE)
expect("unknown shard", publish([b"abc"], name=b"nosuch".ljust(10)), UNKNOWN_SHARD)
expect("no ack asked", publish([], count=0, flags=0), None)
expect("wrong magic", publish([b"abc"], magic=0x4D54), None)
expect("wrong version", publish([b"abc"], version=2), None)
expect("truncated header", good[:19], None)
expect("bad shard name", publish([b"abc"], name=b" lead".ljust(10)), None)
expect("reply type sent to us", hdr(t=2) + bytes(24), None)
expect("empty datagram", b"", None)

# Random bytes and random mutations of a valid datagram: no crash, and any
# reply must be an ACK with a failure status or a well-formed SUB_REPLY.
base = publish([b"m" * 20, b"n" * 5], pub_id=77, seq=1000)
for i in range(n_random):
    if i % 2:
        d = bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 80)))
    else:
        d = bytearray(base)
        for _ in range(rng.randrange(1, 4)):
            d[rng.randrange(0, len(d))] = rng.getrandbits(8)
        d = bytes(d[: rng.randrange(0, len(d) + 1)])
        if d[:4] == base[:4] and d[8:18] == base[8:18]:
            d = d[:3] + b"\x07" + d[4:]  # never a valid PUBLISH to the real shard
    s.sendto(d, (ip, 9000))
s.settimeout(0.3)
replies = 0
try:
    while True:
        d = s.recv(4096)
        replies += 1
        if len(d) < 20 or d[:2] != b"MS" or d[3] not in (2, 4):
            sys.exit(f"FAIL random: odd reply {d[:48].hex()}")
        if d[3] == 2 and d[4] == 0:
            sys.exit(f"FAIL random: a mutated datagram was appended: {d.hex()}")
except socket.timeout:
    pass
print(f"ok random: {n_random} datagrams, {replies} replies, all well-formed failures")

# The appliance still serves: a good publish is acked OK.
s.settimeout(2)
s.sendto(publish([b"still alive"], pub_id=4242, seq=101), (ip, 9000))
d = s.recv(4096)
if d[3] != 2 or d[4] != 0:
    sys.exit(f"FAIL alive: {d.hex()}")
print("ok alive: good publish acked after the barrage")

# Read the whole shard back through a subscription: exactly what was acked.
sub = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sub.bind(("0.0.0.0", 0))
sub.settimeout(2)
sub.sendto(hdr(t=3, flags=0, count=0) + struct.pack(">IQQ", 5000, 0, 0), (ip, 9000))
d = sub.recv(4096)
token = struct.unpack(">Q", d[40:48])[0]
if d[3] != 4 or d[4] != 8 or token == 0:
    sys.exit(f"FAIL subscribe: expected TOKEN_REQUIRED, got {d.hex()}")
sub.sendto(hdr(t=3, flags=0, count=0) + struct.pack(">IQQ", 5000, 0, token), (ip, 9000))
want = known + [b"still alive"]
got = []
while len(got) < len(want):
    d = sub.recv(4096)
    if d[:2] == b"MS":
        if d[3] != 4 or d[4] != 0:
            sys.exit(f"FAIL subscribe reply {d.hex()}")
        continue
    seq, count = struct.unpack(">QH", d[10:20])
    if count == 0:
        continue
    if seq != len(got) + 1:
        sys.exit(f"FAIL feed: packet at seq {seq}, expected {len(got) + 1}")
    off = 20
    for _ in range(count):
        (n,) = struct.unpack(">H", d[off:off + 2])
        got.append(d[off + 2:off + 2 + n])
        off += 2 + n
if got != want:
    bad = next(i for i in range(len(want)) if got[i] != want[i])
    sys.exit(f"FAIL content: message {bad + 1} differs")
print(f"ok content: all {len(want)} stored messages read back byte for byte")
