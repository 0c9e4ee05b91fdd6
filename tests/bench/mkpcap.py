#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Write a pcap of PUBLISH datagrams for the engine ceiling benchmark: one
SUBSCRIBE (with a valid token, computed from the appliance's token_secret) so
the worker fans every message out, then N PUBLISH datagrams of K messages each
from one publisher with contiguous publisher_seq (nothing is a duplicate).
Usage: mkpcap.py OUT N K SIZE SECRET_HEX

Importable: mkfeedpcap.py takes siphash24 and ipsum from here."""
import struct
import sys
import time

APP_IP, CLI_IP, CLI_PORT = 0x0A4D0001, 0x0A4D0002, 40000
SHARD = b"ticks".ljust(10)
M64 = (1 << 64) - 1


def rotl(x, b):
    return ((x << b) | (x >> (64 - b))) & M64


def siphash24(k0, k1, data):
    v0, v1, v2, v3 = k0 ^ 0x736F6D6570736575, k1 ^ 0x646F72616E646F6D, k0 ^ 0x6C7967656E657261, k1 ^ 0x7465646279746573

    def rnd():
        nonlocal v0, v1, v2, v3
        v0 = (v0 + v1) & M64; v1 = rotl(v1, 13) ^ v0; v0 = rotl(v0, 32)
        v2 = (v2 + v3) & M64; v3 = rotl(v3, 16) ^ v2
        v0 = (v0 + v3) & M64; v3 = rotl(v3, 21) ^ v0
        v2 = (v2 + v1) & M64; v1 = rotl(v1, 17) ^ v2; v2 = rotl(v2, 32)
    full = len(data) // 8 * 8
    for i in range(0, full, 8):
        m = int.from_bytes(data[i:i + 8], "little")
        v3 ^= m; rnd(); rnd(); v0 ^= m
    b = (len(data) << 56) | int.from_bytes(data[full:], "little")
    v3 ^= b; rnd(); rnd(); v0 ^= b
    v2 ^= 0xFF
    for _ in range(4):
        rnd()
    return v0 ^ v1 ^ v2 ^ v3


assert siphash24(0x0706050403020100, 0x0F0E0D0C0B0A0908, bytes(range(15))) == 0xA129CA6149BE45E5


def ipsum(h):
    s = sum(struct.unpack(">10H", h))
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def frame(payload, sport):
    udp = struct.pack(">HHHH", sport, 9000, 8 + len(payload), 0) + payload  # checksum 0: none
    ip = struct.pack(">BBHHHBBHII", 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0, CLI_IP, APP_IP)
    ip = ip[:10] + struct.pack(">H", ipsum(ip)) + ip[12:]
    eth = b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x02" + b"\x08\x00"
    return eth + ip + udp


def hdr(t, flags, count):
    return struct.pack(">HBBBBH10sH", 0x4D53, 1, t, flags, 0, count, SHARD, 0)


def main():
    out, n, k, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    secret = int(sys.argv[5], 16)
    # The appliance keys SipHash with (secret, ~secret) and hashes the source
    # address and port in host order as stored in memory (little-endian here),
    # the shard name, then the 30 s time bucket.
    bucket = time.time_ns() // 30_000_000_000
    key = struct.pack("<IH", CLI_IP, CLI_PORT) + SHARD + struct.pack("<Q", bucket)
    token = siphash24(secret, (~secret) & M64, key) or 1
    msg = bytes((i * 7) & 0xFF for i in range(size))
    block = struct.pack(">H", size) + msg
    with open(out, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))

        def put(fr):
            f.write(struct.pack("<IIII", 0, 0, len(fr), len(fr)) + fr)

        put(frame(hdr(3, 0, 0) + struct.pack(">IQQ", 600000, 0, token), CLI_PORT))
        blocks = block * k
        for i in range(n):
            put(frame(hdr(1, 0, k) + struct.pack(">IQ", 1, 1 + i * k) + blocks, 40001))
    print(f"{out}: 1 SUBSCRIBE + {n} PUBLISH x {k} messages of {size} B")


if __name__ == "__main__":
    main()
