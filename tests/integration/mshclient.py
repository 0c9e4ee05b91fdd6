# SPDX-License-Identifier: BSD-3-Clause
"""Minimal memshard client for integration tests (PROTOCOL.md v1), written
independently of the C codecs so the tests check the appliance against the
protocol text, not against our own code."""
import socket
import struct
import time

PUBLISH, ACK, SUBSCRIBE, SUB_REPLY, UNSUBSCRIBE, UNAVAILABLE = 1, 2, 3, 4, 5, 6
OK, DUPLICATE, SHARD_FULL, UNKNOWN_SHARD, MALFORMED = 0, 1, 2, 3, 4
TOKEN_REQUIRED = 8


def name(s):
    return s.encode().ljust(10)


def hdr(shard, t, flags=0, count=0):
    return struct.pack(">HBBBBH10sH", 0x4D53, 1, t, flags, 0, count, name(shard), 0)


def publish_dgram(shard, msgs, pub_id, seq, ack=True):
    body = b"".join(struct.pack(">H", len(m)) + m for m in msgs)
    return hdr(shard, PUBLISH, 1 if ack else 0, len(msgs)) + struct.pack(">IQ", pub_id, seq) + body


def parse_ack(d):
    """-> (status, count, publisher_seq, shard_seq, epoch)"""
    assert d[:2] == b"MS" and d[3] == ACK, d.hex()
    _, _, _, status, _, count, _, _, pid, pseq, sseq, epoch = struct.unpack(">HBBBBH10sHIQQI", d)
    return status, count, pseq, sseq, epoch


def parse_mold(d):
    """-> (session, seq, [messages]) or None if not a MoldUDP64 packet."""
    if len(d) < 20 or d[:2] == b"MS":
        return None
    session, seq, count = d[:10], *struct.unpack(">QH", d[10:20])
    msgs, off = [], 20
    if count not in (0, 0xFFFF):
        for _ in range(count):
            (n,) = struct.unpack(">H", d[off:off + 2])
            msgs.append(d[off + 2:off + 2 + n])
            off += 2 + n
    return session, seq, count, msgs


class Client:
    def __init__(self, ip, port=9000, retrans_port=9001):
        self.addr = (ip, port)
        self.raddr = (ip, retrans_port)
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.s.bind(("0.0.0.0", 0))
        self.s.settimeout(2)
        self.token = 0

    def recv(self, timeout=2):
        self.s.settimeout(timeout)
        try:
            return self.s.recv(65536)
        except socket.timeout:
            return None

    def publish(self, shard, msgs, pub_id, seq):
        self.s.sendto(publish_dgram(shard, msgs, pub_id, seq), self.addr)
        while True:
            d = self.recv()
            assert d is not None, "no ACK"
            if d[:2] == b"MS" and d[3] == ACK:
                return parse_ack(d)

    def subscribe_raw(self, shard, start=0, token=0, lease_ms=0, flags=0):
        self.s.sendto(hdr(shard, SUBSCRIBE, flags) + struct.pack(">IQQ", lease_ms, start, token),
                      self.addr)

    def sub_reply(self, timeout=2):
        deadline = time.time() + timeout
        while time.time() < deadline:
            d = self.recv(max(0.01, deadline - time.time()))
            if d and d[:2] == b"MS" and d[3] == SUB_REPLY:
                status = d[4]
                epoch, first, nxt, token = struct.unpack(">IQQQ", d[20:48])
                return status, first, nxt, token
        return None

    def subscribe(self, shard, start=0, lease_ms=0):
        self.subscribe_raw(shard, start, 0, lease_ms)
        r = self.sub_reply()
        assert r and r[0] == TOKEN_REQUIRED and r[3] != 0, f"first SUBSCRIBE: {r}"
        self.token = r[3]
        self.subscribe_raw(shard, start, self.token, lease_ms)
        r = self.sub_reply()
        assert r and r[0] == OK, f"SUBSCRIBE with token: {r}"
        return r

    def rerequest(self, shard, seq, count):
        self.s.sendto(name(shard) + struct.pack(">QH", seq, count), self.raddr)

    def feed(self, want, timeout=5):
        """Collect feed messages until `want` are in order from the first one
        seen; returns (first_seq, msgs, other_packets)."""
        msgs, first, other = [], None, []
        deadline = time.time() + timeout
        while len(msgs) < want and time.time() < deadline:
            d = self.recv(max(0.01, deadline - time.time()))
            if d is None:
                break
            m = parse_mold(d)
            if m is None or m[2] in (0, 0xFFFF):
                other.append(d)
                continue
            if first is None:
                first = m[1]
            if m[1] == first + len(msgs):
                msgs.extend(m[3])
        return first, msgs, other
