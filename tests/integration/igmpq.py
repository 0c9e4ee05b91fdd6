# SPDX-License-Identifier: BSD-3-Clause
"""Send one IGMP query as a whole Ethernet frame on an interface (AF_PACKET),
the way a switch's querier would: IPv4 with TTL 1, TOS 0xC0 and the Router
Alert option, both checksums computed. Written from RFC 3376 / RFC 2236, not
from the appliance's code.

Usage: igmpq.py IFACE SRC_IP v3|v2 [GROUP] [MAX_RESP_DECISECONDS]
GROUP 0.0.0.0 (default) is a general query."""
import socket
import struct
import sys


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def mac_of(ifname):
    with open(f"/sys/class/net/{ifname}/address") as f:
        return bytes.fromhex(f.read().strip().replace(":", ""))


def main():
    iface, src, ver = sys.argv[1], sys.argv[2], sys.argv[3]
    group = sys.argv[4] if len(sys.argv) > 4 else "0.0.0.0"
    mrt = int(sys.argv[5]) if len(sys.argv) > 5 else 20
    g = socket.inet_aton(group)
    if ver == "v3":
        # type, max resp code (< 128: the value), csum, group, S/QRV, QQIC, 0 sources
        msg = struct.pack("!BBH4sBBH", 0x11, mrt, 0, g, 0x02, 125, 0)
    else:
        msg = struct.pack("!BBH4s", 0x11, mrt, 0, g)
    msg = msg[:2] + struct.pack("!H", csum(msg)) + msg[4:]
    dst = "224.0.0.1" if group == "0.0.0.0" else group
    ra = b"\x94\x04\x00\x00"
    total = 24 + len(msg)
    ip = struct.pack("!BBHHHBBH4s4s", 0x46, 0xC0, total, 0, 0x4000, 1, 2, 0,
                     socket.inet_aton(src), socket.inet_aton(dst)) + ra
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    d = socket.inet_aton(dst)
    dmac = bytes([0x01, 0x00, 0x5E, d[1] & 0x7F, d[2], d[3]])
    frame = dmac + mac_of(iface) + b"\x08\x00" + ip + msg
    frame += b"\0" * max(0, 60 - len(frame))
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    s.send(frame)
    print(f"sent IGMP{ver} query for {group} to {dst}, max resp {mrt / 10:.1f} s")


if __name__ == "__main__":
    main()
