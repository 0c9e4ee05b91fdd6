#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""moldfeed: play, serve, receive and check an exchange's MoldUDP64 feed.

A stand-in for an exchange (and for a downstream subscriber) in the
integration tests, stdlib only, written from the MoldUDP64 text rather than
from the appliance's own codecs.

MoldUDP64 downstream packet: session (10 bytes ASCII, space padded), sequence
number of the first message (8 bytes big-endian), message count (2 bytes
big-endian), then count blocks of [2-byte big-endian length][bytes]. Count 0
is a heartbeat and count 0xFFFF an end of session (both carry the next
expected sequence number). A request packet (to a re-request server) is
session + sequence (8) + count (2). Sequence numbers start at 1.

Messages are made by payload(session, seq, size_spec, seed): a pure function
of its arguments, so the sender, the re-request server and the verifier agree
without sharing state. A message is b"<session>:<seq>:" followed by a
pattern rotated by seq, cut to the message's size; the size is fixed ("64")
or drawn from a range ("16-200") by a hash of (seed, session, seq).

Subcommands (each has its own --help):
  send              send a feed on line A (and B) from a local address
  verify            check a file of [4-byte BE length][bytes] records against
                    the generator
  rerequest-server  answer MoldUDP64 re-requests from the generator
  recv              join a feed, fill gaps by re-request, write the records
"""
import argparse
import hashlib
import heapq
import json
import os
import random
import re
import select
import signal
import errno
import socket
import struct
import sys
import time

HDR = struct.Struct(">10sQH")
HDR_LEN = HDR.size  # 20
REQ_LEN = HDR_LEN
HEARTBEAT = 0
END_OF_SESSION = 0xFFFF
MAX_COUNT = 0xFFFE  # a data packet's largest count (0xFFFF means end of session)
IP_MULTICAST_ALL = getattr(socket, "IP_MULTICAST_ALL", 49)
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
SO_SNDBUFFORCE = getattr(socket, "SO_SNDBUFFORCE", 32)

PATTERN = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


# ---- the generator -------------------------------------------------------------


def session_field(name):
    """The 10-byte session field of NAME (ASCII, space padded)."""
    b = name.encode("ascii")
    if len(b) > 10:
        raise ValueError(f"session {name!r} is longer than 10 bytes")
    return b.ljust(10)


def session_name(field):
    """The session name in a 10-byte session field (trailing spaces removed)."""
    return field.decode("ascii", "replace").rstrip(" ")


_size_cache = {}


def parse_size(spec):
    """"N" or "MIN-MAX" (or an int, or a (min, max) pair) -> (min, max)."""
    if isinstance(spec, int):
        return (spec, spec)
    if isinstance(spec, tuple):
        return spec
    r = _size_cache.get(spec)
    if r is None:
        m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", str(spec))
        if not m:
            raise ValueError(f"bad size {spec!r}: want N or MIN-MAX")
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) is not None else lo
        if lo > hi or hi > 65535:
            raise ValueError(f"bad size {spec!r}: want MIN <= MAX <= 65535")
        r = _size_cache[spec] = (lo, hi)
    return r


def _hash64(*parts):
    key = "|".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big")


def message_size(session, seq, size_spec, seed=1):
    """The size of the message with sequence SEQ in SESSION."""
    lo, hi = parse_size(size_spec)
    if lo == hi:
        return lo
    return lo + _hash64("size", seed, session.rstrip(" "), seq) % (hi - lo + 1)


def payload(session, seq, size_spec, seed=1):
    """The bytes of message SEQ of SESSION: b"SESSION:SEQ:" and a pattern
    rotated by SEQ, cut to message_size(session, seq, size_spec, seed)."""
    name = session.rstrip(" ")
    n = message_size(name, seq, size_spec, seed)
    head = f"{name}:{seq}:".encode()
    if n <= len(head):
        return head[:n]
    k = seq % len(PATTERN)
    rot = PATTERN[k:] + PATTERN[:k]
    fill = n - len(head)
    return head + (rot * (fill // len(rot) + 1))[:fill]


_HEAD_RE = re.compile(rb"^([ -9;-~]{1,10}):(\d+):")


def describe(msg):
    """What a received message looks like, for mismatch reports."""
    m = _HEAD_RE.match(msg)
    d = {"len": len(msg), "head": msg[:40].decode("ascii", "backslashreplace")}
    if m:
        d["looks_like"] = {"session": m.group(1).decode(), "seq": int(m.group(2))}
    return d


def parse_seqlist(text):
    """"500-509,1200" -> sorted list of ints."""
    out = set()
    if not text:
        return []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not m:
            raise ValueError(f"bad sequence list item {part!r}: want N or N-M")
        a = int(m.group(1))
        b = int(m.group(2)) if m.group(2) else a
        if b < a:
            raise ValueError(f"bad range {part!r}")
        out.update(range(a, b + 1))
    return sorted(out)


def ranges(seqs):
    """[1,2,3,7] -> "1-3,7"."""
    out = []
    seqs = sorted(seqs)
    i = 0
    while i < len(seqs):
        j = i
        while j + 1 < len(seqs) and seqs[j + 1] == seqs[j] + 1:
            j += 1
        out.append(str(seqs[i]) if i == j else f"{seqs[i]}-{seqs[j]}")
        i = j + 1
    return ",".join(out)


def parse_k(spec):
    """--msgs-per-packet "K" or "MIN-MAX" -> (min, max)."""
    lo, hi = parse_size(spec)
    if lo < 1 or hi > MAX_COUNT:
        raise ValueError(f"bad messages per packet {spec!r}")
    return lo, hi


def parse_hostport(text, what="GROUP:PORT"):
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r}: want {what}")
    try:
        socket.inet_aton(host)
    except OSError:
        raise argparse.ArgumentTypeError(f"{text!r}: {host!r} is not an IPv4 address")
    return (host, int(port))


def sessions_of(args):
    """[(name, first_seq, count, dropped-set)] of the generator parameters."""
    out = [(args.session, args.start_seq, args.count, set(parse_seqlist(args.drop_both)))]
    if args.session2:
        out.append((args.session2, 1, args.count2, set(parse_seqlist(args.drop_both2))))
    for name, *_ in out:
        session_field(name)
    return out


def downstream(session, seq, msgs):
    """A MoldUDP64 data packet."""
    parts = [HDR.pack(session_field(session), seq, len(msgs))]
    for m in msgs:
        parts.append(struct.pack(">H", len(m)))
        parts.append(m)
    return b"".join(parts)


def control(session, seq, count):
    """A header-only packet: heartbeat (count 0), end (0xFFFF) or request."""
    return HDR.pack(session_field(session), seq, count)


def parse_packet(data):
    """-> (session-name, seq, count, [messages]) or raise ValueError."""
    if len(data) < HDR_LEN:
        raise ValueError(f"short packet ({len(data)} bytes)")
    sess, seq, count = HDR.unpack_from(data)
    msgs = []
    if count not in (HEARTBEAT, END_OF_SESSION):
        off = HDR_LEN
        for _ in range(count):
            if off + 2 > len(data):
                raise ValueError(f"count {count} but only {len(msgs)} blocks")
            (n,) = struct.unpack_from(">H", data, off)
            off += 2
            if off + n > len(data):
                raise ValueError(f"block {len(msgs)} runs past the end")
            msgs.append(data[off : off + n])
            off += n
        if off != len(data):
            raise ValueError(f"{len(data) - off} bytes after the last block")
    elif len(data) != HDR_LEN:
        raise ValueError(f"{'heartbeat' if count == 0 else 'end of session'} with a body")
    return session_name(sess), seq, count, msgs


def common_generator_args(p):
    g = p.add_argument_group("generator (must match between send, verify, rerequest-server)")
    g.add_argument("--session", default="SESS000001", help="session name, up to 10 ASCII chars (default %(default)s)")
    g.add_argument("--count", type=int, default=1000, help="messages in the session (default %(default)s)")
    g.add_argument("--start-seq", type=int, default=1, help="sequence number of the first message (default %(default)s)")
    g.add_argument("--size", default="16-120", help="message size N or MIN-MAX bytes, per message from --seed (default %(default)s)")
    g.add_argument("--seed", type=int, default=1, help="seed of message sizes and packet boundaries (default %(default)s)")
    g.add_argument("--drop-both", default="", metavar="SEQLIST",
                   help='messages of the first session lost on both lines, e.g. "500-509,1200"')
    g.add_argument("--session2", default=None, metavar="NAME",
                   help="a second session after the first (start of day: from seq 1)")
    g.add_argument("--count2", type=int, default=0, help="messages in the second session")
    g.add_argument("--drop-both2", default="", metavar="SEQLIST", help="like --drop-both, for the second session")


def jprint(d):
    print(json.dumps(d, sort_keys=True), flush=True)


def write_json_atomic(path, d):
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(d, f, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def _sigterm(signum, frame):
    raise KeyboardInterrupt


def stop_on_signals():
    """SIGTERM and SIGINT end the command (with its summary). Set explicitly:
    a shell starts a background job with SIGINT ignored, and Python then
    leaves it ignored."""
    signal.signal(signal.SIGTERM, _sigterm)
    signal.signal(signal.SIGINT, _sigterm)


# ---- send ----------------------------------------------------------------------


class Packetizer:
    """Cuts the messages first..last of a session into packets: K messages
    (fixed or drawn from a range), never over max_bytes of UDP payload, never
    mixing a dropped message with a kept one. Yields (first_seq, [msgs], dropped)."""

    def __init__(self, session, first, last, dropped, k, max_bytes, rng, size, seed, shift=False):
        self.session, self.first, self.last = session, first, last
        self.dropped, self.k, self.max_bytes = dropped, k, max_bytes
        self.rng, self.size, self.seed, self.shift = rng, size, seed, shift

    def _want(self, first_packet):
        lo, hi = self.k
        if self.shift and first_packet:
            # Line B with a fixed K: a shorter first packet moves every boundary.
            if hi > 1:
                return max(1, hi // 2)
            return 2
        if self.shift and lo == hi == 1:
            return 2
        return lo if lo == hi else self.rng.randint(lo, hi)

    def __iter__(self):
        seq = self.first
        first_packet = True
        while seq <= self.last:
            drop = seq in self.dropped
            want = self._want(first_packet)
            first_packet = False
            msgs = []
            nbytes = HDR_LEN
            s = seq
            while s <= self.last and len(msgs) < want and (s in self.dropped) == drop:
                m = payload(self.session, s, self.size, self.seed)
                if msgs and nbytes + 2 + len(m) > self.max_bytes:
                    break
                msgs.append(m)
                nbytes += 2 + len(m)
                s += 1
            yield seq, msgs, drop
            seq = s


def cmd_send(args):
    k = parse_k(args.msgs_per_packet)
    sessions = sessions_of(args)
    if args.rate < 0:
        sys.exit("send: --rate must be >= 0")
    lines = [("A", args.line_a, args.src_ip)]
    if args.line_b:
        lines.append(("B", args.line_b, args.src_ip_b or args.src_ip))
    socks = {}
    for name, _, src in lines:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.setsockopt(socket.SOL_SOCKET, SO_SNDBUFFORCE, 4 << 20)
        except OSError:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(src))
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, args.ttl)
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1 if args.loop else 0)
        s.bind((src, args.src_port if name == "A" else args.src_port_b))
        socks[name] = s
    dest = {name: addr for name, addr, _ in lines}
    st = {
        "lines": {name: {"group": f"{a[0]}:{a[1]}", "packets": 0, "bytes": 0, "messages": 0,
                         "heartbeats": 0, "end_of_session": 0} for name, a, _ in lines},
        "sessions": [],
        "bad": {},
        "send_retries": 0,
        "filtered": {},
    }

    def sendto(line, pkt, addr=None):
        a = addr or dest[line]
        while True:
            try:
                socks[line].sendto(pkt, a)
                return
            except (BlockingIOError, InterruptedError):
                pass
            except OSError as e:
                if e.errno == errno.EPERM:
                    # An nftables output rule dropped it (loss injection):
                    # gone, as on the wire.
                    st["filtered"][line] = st["filtered"].get(line, 0) + 1
                    return
                if e.errno != errno.ENOBUFS:  # the qdisc is full: wait a little
                    raise
            st["send_retries"] += 1
            time.sleep(0.0002)

    def pace(t0, t):
        # Sleep until t0+t, in chunks, only when at least 1 ms ahead: packets go
        # in bursts of at most ~1 ms worth of the rate, with little CPU burnt.
        while True:
            ahead = t0 + t - time.monotonic()
            if ahead <= 0.001:
                return
            time.sleep(min(ahead, 0.05))

    t_start = time.monotonic()
    for si, (sess, first, count, dropped) in enumerate(sessions):
        last = first + count - 1
        in_range = sorted(s for s in dropped if first <= s <= last)
        if len(in_range) != len(dropped):
            print(f"send: note: {len(dropped) - len(in_range)} --drop-both seqs are outside "
                  f"{first}..{last}", file=sys.stderr)
        dset = set(in_range)
        rate = args.rate
        # Seconds per message on the schedule; with --rate 0 the schedule is
        # only an order (1 us a message) and nothing waits on it.
        spm = 1.0 / rate if rate > 0 else 1e-6
        lag = args.b_delay_us * 1e-6

        def stream(line, rng, shift, prio):
            pk = Packetizer(sess, first, last, dset, k, args.max_packet_bytes, rng,
                            args.size, args.seed, shift)
            for n, (seq, msgs, drop) in enumerate(pk):
                t = (seq - first) * spm + (lag if line == "B" else 0.0)
                yield (t, prio, n, line, seq, msgs, drop)

        rng_a = random.Random(_hash64("packets", args.seed, sess, "A"))
        streams = [stream("A", rng_a, False, 1)]
        if "B" in dest:
            if args.b_packetize_differently:
                streams.append(stream("B", random.Random(_hash64("packets", args.seed, sess, "B")), True, 2))
            else:
                # Same boundaries as A: the same RNG stream from the same seed.
                streams.append(stream("B", random.Random(_hash64("packets", args.seed, sess, "A")), False, 2))
        # --bad: four bad packets on line A, spread over the first session.
        bad_events = []
        if args.bad and si == 0:
            kinds = ["truncated", "overcount", "future_seq"]
            if args.bad_group:
                kinds.append("bad_group")
            for i, kind in enumerate(kinds):
                at = first + (count * (i + 1)) // (len(kinds) + 1)
                bad_events.append(((at - first) * spm, 0, i, "A", at, kind, None))
        ss = {"session": sess, "first_seq": first, "last_seq": last, "messages": count,
              "messages_sent": count - len(in_range), "dropped_both": ranges(in_range),
              "dropped_both_count": len(in_range), "dropped_packets": {n: 0 for n in dest},
              "next_seq": last + 1}
        st["sessions"].append(ss)
        t0 = time.monotonic()
        a_next = first  # the first message line A has not sent yet
        for ev in heapq.merge(*streams, iter(bad_events)):
            t, prio, _, line, seq, msgs, drop = ev
            if rate > 0:
                pace(t0, t)
            if prio == 0:
                # Poison for the next messages A has yet to send: a receiver
                # that took it would deliver it instead of the real ones.
                kind, seq = msgs, a_next
                poison = [b"BAD:" + kind.encode() + b":" + str(seq).encode() + b":" + b"x" * 16,
                          b"BAD:" + kind.encode() + b":" + str(seq + 1).encode()]
                if kind == "truncated":
                    pkt = control(sess, seq, 1)[:13]
                elif kind == "overcount":
                    pkt = downstream(sess, seq, poison)
                    pkt = pkt[:18] + struct.pack(">H", len(poison) + 3) + pkt[20:]
                elif kind == "future_seq":
                    fs = first + 10**9
                    pkt = downstream(sess, fs, [payload(sess, fs, args.size, args.seed)])
                else:
                    pkt = downstream(sess, seq, poison)
                if kind == "bad_group":
                    sendto("A", pkt, args.bad_group)
                else:
                    sendto("A", pkt)
                st["bad"][kind] = st["bad"].get(kind, 0) + 1
                continue
            if line == "A":
                a_next = seq + len(msgs)
            if drop:
                ss["dropped_packets"][line] += 1
                continue
            pkt = downstream(sess, seq, msgs)
            sendto(line, pkt)
            ls = st["lines"][line]
            ls["packets"] += 1
            ls["bytes"] += len(pkt)
            ls["messages"] += len(msgs)
        ss["data_seconds"] = round(time.monotonic() - t0, 3)
        nseq = last + 1
        if args.heartbeat_after > 0:
            n = max(1, int(round(args.heartbeat_after / args.heartbeat_interval)))
            th = time.monotonic()
            for i in range(n):
                pace(th, i * args.heartbeat_interval)
                for line in dest:
                    sendto(line, control(sess, nseq, HEARTBEAT))
                    st["lines"][line]["heartbeats"] += 1
            pace(th, n * args.heartbeat_interval)
        if args.end:
            for line in dest:
                sendto(line, control(sess, nseq, END_OF_SESSION))
                st["lines"][line]["end_of_session"] += 1
    el = time.monotonic() - t_start
    st["elapsed_s"] = round(el, 3)
    st["messages"] = sum(s["messages"] for s in st["sessions"])
    st["messages_sent"] = sum(s["messages_sent"] for s in st["sessions"])
    st["dropped_both"] = st["sessions"][0]["dropped_both"]
    st["dropped_both_count"] = sum(s["dropped_both_count"] for s in st["sessions"])
    st["bad_packets"] = sum(st["bad"].values())
    st["packets"] = {n: v["packets"] for n, v in st["lines"].items()}
    jprint(st)
    return 0


# ---- verify --------------------------------------------------------------------


def read_records(f):
    """Yield the [4-byte BE length][bytes] records of binary file F; a torn
    last record raises ValueError."""
    while True:
        h = f.read(4)
        if not h:
            return
        if len(h) < 4:
            raise ValueError(f"torn record length ({len(h)} bytes)")
        (n,) = struct.unpack(">I", h)
        b = f.read(n)
        if len(b) < n:
            raise ValueError(f"torn record: length {n}, {len(b)} bytes")
        yield b


def count_rest(f):
    n = 0
    try:
        for _ in read_records(f):
            n += 1
    except ValueError:
        pass
    return n


def expected_messages(sessions, size, seed, expect_missing):
    for sess, first, count, dropped in sessions:
        for s in range(first, first + count):
            if expect_missing and s in dropped:
                continue
            yield sess, s, payload(sess, s, size, seed)


def cmd_verify(args):
    sessions = sessions_of(args)
    f = open(args.infile, "rb") if args.infile and args.infile != "-" else sys.stdin.buffer
    exp = expected_messages(sessions, args.size, args.seed, args.expect_missing)
    n_expected = sum(c - (len({s for s in d if first <= s < first + c}) if args.expect_missing else 0)
                     for _, first, c, d in sessions)
    res = {"ok": False, "expected": n_expected, "got": 0, "first_mismatch": None}
    got = 0
    try:
        for msg in read_records(f):
            e = next(exp, None)
            if e is None:
                res["first_mismatch"] = {"index": got, "reason": "extra message", "got": describe(msg)}
                got += 1 + count_rest(f)
                break
            sess, s, want = e
            if msg != want:
                res["first_mismatch"] = {"index": got, "reason": "bytes differ",
                                         "expected": {"session": sess, "seq": s, "len": len(want)},
                                         "got": describe(msg)}
                got += 1 + count_rest(f)
                break
            got += 1
        else:
            e = next(exp, None)
            if e is not None:
                res["first_mismatch"] = {"index": got, "reason": "missing (input ended)",
                                         "expected": {"session": e[0], "seq": e[1], "len": len(e[2])}}
    except ValueError as err:
        res["first_mismatch"] = {"index": got, "reason": str(err)}
    res["got"] = got
    res["ok"] = res["first_mismatch"] is None
    jprint(res)
    return 0 if res["ok"] else 1


# ---- rerequest-server ----------------------------------------------------------


def cmd_rerequest_server(args):
    sessions = {name: (first, count) for name, first, count, _ in sessions_of(args)}
    max_pp = args.max_per_packet or MAX_COUNT
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(args.listen)
    st = {"listen": f"{args.listen[0]}:{sock.getsockname()[1]}", "requests": 0, "ignored": 0,
          "answered": 0, "bad_requests": 0, "unknown_session": 0, "out_of_range": 0,
          "packets_sent": 0, "messages_sent": 0, "last_request": None, "requesters": []}

    def stats():
        if args.stats:
            write_json_atomic(args.stats, st)

    stop_on_signals()
    stats()  # the file's existence says the server is listening
    print(f"rerequest-server: listening on {st['listen']}", file=sys.stderr, flush=True)
    try:
        while True:
            data, peer = sock.recvfrom(65535)
            st["requests"] += 1
            who = f"{peer[0]}:{peer[1]}"
            if who not in st["requesters"]:
                st["requesters"].append(who)
            if len(data) != REQ_LEN:
                st["bad_requests"] += 1
                stats()
                continue
            sf, seq, cnt = HDR.unpack(data)
            sess = session_name(sf)
            st["last_request"] = {"session": sess, "seq": seq, "count": cnt, "from": who}
            if st["requests"] <= args.ignore_first:
                st["ignored"] += 1
                stats()
                continue
            if sess not in sessions:
                st["unknown_session"] += 1
                stats()
                continue
            first, count = sessions[sess]
            last = first + count - 1
            # Everything from seq 1 to the last generated message can be served.
            if cnt == 0 or cnt == END_OF_SESSION or seq < 1 or seq > last:
                st["out_of_range"] += 1
                stats()
                continue
            end = min(last, seq + cnt - 1)
            s = seq
            for _ in range(args.reply_packets):
                if s > end:
                    break
                msgs, nbytes = [], HDR_LEN
                while s <= end and len(msgs) < max_pp:
                    m = payload(sess, s, args.size, args.seed)
                    if msgs and nbytes + 2 + len(m) > args.max_packet_bytes:
                        break
                    msgs.append(m)
                    nbytes += 2 + len(m)
                    s += 1
                sock.sendto(downstream(sess, s - len(msgs), msgs), peer)
                st["packets_sent"] += 1
                st["messages_sent"] += len(msgs)
            st["answered"] += 1
            stats()
    except KeyboardInterrupt:
        pass
    stats()
    jprint(st)
    return 0


# ---- recv ----------------------------------------------------------------------


class Sess:
    def __init__(self, name, next_seq):
        self.name = name
        self.next = next_seq  # next to deliver (None: adopt the first packet's)
        self.first = next_seq
        self.high = next_seq  # one past the highest seq heard of
        self.buf = {}  # seq -> (bytes, from_reply)
        self.end = None  # seq of its end of session
        self.delivered = 0
        self.lost = []  # seqs given up on
        self.blocked_since = None


def cmd_recv(args):
    groups = args.group
    rng = random.Random(_hash64("recv-drop", args.seed))
    socks = []
    for g in groups:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 8 << 20)
        except OSError:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        try:
            s.setsockopt(socket.IPPROTO_IP, IP_MULTICAST_ALL, 0)
        except OSError:
            pass
        # Bound to the group: only that group's datagrams, whatever else the
        # host has joined on the same port.
        s.bind(g)
        mreq = socket.inet_aton(g[0]) + socket.inet_aton(args.iface_ip)
        s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
        s.setblocking(False)
        socks.append(s)
    line_of = {s.fileno(): chr(ord("A") + i) for i, s in enumerate(socks)}
    req = None
    if args.rerequest:
        req = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            req.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 8 << 20)
        except OSError:
            pass
        req.bind((args.iface_ip, 0))
        req.setblocking(False)
    out = open(args.out, "wb") if args.out else None
    st = {"groups": [f"{g[0]}:{g[1]}" for g in groups], "messages": 0, "gaps": 0,
          "rerequests": 0, "retries": 0, "filled": 0, "duplicates": 0, "heartbeats": 0,
          "end_of_session": 0, "end_of_session_seen": False,
          "packets": {line_of[s.fileno()]: 0 for s in socks}, "reply_packets": 0,
          "dropped_by_us": 0, "malformed": 0, "implausible": 0, "other_session": 0,
          "sessions": []}
    sessions = {}  # name -> Sess, in order of first appearance
    order = []
    done = set()
    active = [None]
    outstanding = [None]  # (seq, count, time) of the last request
    first_seq = None if args.start_seq == 0 else args.start_seq
    t_start = time.monotonic()
    deadline = t_start + args.timeout
    reason = "timeout"
    wbuf = []

    def get_sess(name):
        if name in done:
            return None
        s = sessions.get(name)
        if s is None:
            if args.session and name != args.session:
                return None
            s = Sess(name, first_seq if not order else 1)
            sessions[name] = s
            order.append(name)
            if active[0] is None:
                active[0] = s
        return s

    def flush(s):
        if s.next in s.buf:
            s.blocked_since = None
        while s.next in s.buf:
            m, from_reply = s.buf.pop(s.next)
            if from_reply:
                st["filled"] += 1
            wbuf.append(struct.pack(">I", len(m)) + m)
            s.next += 1
            s.delivered += 1
            st["messages"] += 1
            if args.count and st["messages"] >= args.count:
                return

    def handle(data, line, from_reply):
        try:
            name, seq, count, msgs = parse_packet(data)
        except ValueError:
            st["malformed"] += 1
            return
        s = get_sess(name)
        if s is None:
            st["other_session"] += 1
            return
        if s.next is None:
            s.next = s.first = s.high = seq
        top = seq + len(msgs)
        if top - s.high > args.max_gap:
            st["implausible"] += 1
            return
        if count == HEARTBEAT:
            st["heartbeats"] += 1
        elif count == END_OF_SESSION:
            st["end_of_session"] += 1
            st["end_of_session_seen"] = True
            if s.end is None:
                s.end = seq
        if seq > s.high:
            st["gaps"] += 1
        if top > s.high:
            s.high = top
        for i, m in enumerate(msgs):
            q = seq + i
            if q < s.next or q in s.buf:
                st["duplicates"] += 1
            else:
                s.buf[q] = (m, from_reply)
        if s is active[0]:
            flush(s)

    def advance():
        """Move past a finished session; True when recv is done."""
        nonlocal reason
        while True:
            s = active[0]
            if args.count and st["messages"] >= args.count:
                reason = "count"
                return True
            if s is None or s.end is None or s.next is None or s.next < s.end:
                return False
            done.add(s.name)
            i = order.index(s.name)
            if args.stop_on_end and len(done) >= args.sessions:
                reason = "end"
                return True
            active[0] = sessions[order[i + 1]] if i + 1 < len(order) else None
            outstanding[0] = None
            if active[0] is not None:
                flush(active[0])

    def missing_run(s):
        """(seq, count) of the first missing run of the active session, or None."""
        if s is None or s.next is None or s.next >= s.high or s.next in s.buf:
            return None
        q = s.next
        limit = min(s.high, q + args.max_request)
        n = 0
        while q + n < limit and (q + n) not in s.buf:
            n += 1
        return q, n

    def gap_work(now):
        """Request or give up on the active session's first gap; -> seconds
        until something is due."""
        s = active[0]
        run = missing_run(s)
        if run is None:
            if s is not None:
                s.blocked_since = None
            return 1.0
        if s.blocked_since is None:
            s.blocked_since = now
        if req is None:
            due = s.blocked_since + args.gap_wait
            if now >= due:
                q, n = run
                s.lost.extend(range(q, q + n))
                s.next = q + n
                s.blocked_since = None
                flush(s)
                return 0.0
            return due - now
        o = outstanding[0]
        if o is not None and o[0] == run[0] and now < o[2] + args.retry:
            return o[2] + args.retry - now
        # A fresh gap waits --request-delay for a late copy; the rest of one
        # already asked for (a reply ended short of it) is asked for at once.
        asked = o is not None and o[0] < run[0] < o[0] + o[1]
        due = s.blocked_since + args.request_delay
        if now < due and not asked:
            return due - now
        if o is not None and o[0] == run[0]:
            st["retries"] += 1
        req.sendto(control(s.name, run[0], run[1]), args.rerequest)
        st["rerequests"] += 1
        outstanding[0] = (run[0], run[1], now)
        return args.retry

    stop_on_signals()
    if args.ready:
        open(args.ready, "w").close()
    rlist = socks + ([req] if req else [])
    try:
        while True:
            now = time.monotonic()
            if now >= deadline:
                break
            wait = min(deadline - now, gap_work(now))
            if advance():
                break
            r, _, _ = select.select(rlist, [], [], max(0.0, min(wait, 0.2)))
            for sk in r:
                for _ in range(256):
                    try:
                        data = sk.recv(65535)
                    except (BlockingIOError, InterruptedError):
                        break
                    if sk is req:
                        st["reply_packets"] += 1
                        handle(data, "R", True)
                        continue
                    line = line_of[sk.fileno()]
                    st["packets"][line] += 1
                    if args.drop_percent > 0 and (args.drop_control or (len(data) > HDR_LEN)):
                        if rng.random() * 100 < args.drop_percent:
                            st["dropped_by_us"] += 1
                            continue
                    handle(data, line, False)
            if wbuf and out:
                out.write(b"".join(wbuf))
            wbuf.clear()
            if advance():
                break
    except KeyboardInterrupt:
        reason = "signal"
    if wbuf and out:
        out.write(b"".join(wbuf))
    if out:
        out.close()
    for name in order:
        s = sessions[name]
        st["sessions"].append({"session": name, "first_seq": s.first, "next_seq": s.next,
                               "delivered": s.delivered, "lost": ranges(s.lost),
                               "lost_count": len(s.lost), "end_seq": s.end,
                               "complete": s.end is not None and s.next is not None and s.next >= s.end,
                               "buffered": len(s.buf)})
    st["reason"] = reason
    st["elapsed_s"] = round(time.monotonic() - t_start, 3)
    want = bool(args.count) or args.stop_on_end
    st["ok"] = reason in ("count", "end") if want else True
    jprint(st)
    return 0 if st["ok"] else 1


# ---- command line --------------------------------------------------------------


def main(argv=None):
    hp = lambda s: parse_hostport(s)  # noqa: E731
    p = argparse.ArgumentParser(prog="moldfeed.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")

    ps = sub.add_parser("send", help="send a feed on line A (and B)",
                        formatter_class=argparse.RawDescriptionHelpFormatter, description="""\
Send the generator's messages as MoldUDP64 packets to line A's group and (if
given) the same messages to line B's, from --src-ip. Prints a JSON summary.

Order of events: session 1's data (A and B interleaved by schedule, --bad
packets among A's), its heartbeats (--heartbeat-after), its end of session
(--end); then the same for --session2 from seq 1.""", epilog="""\
example:
  moldfeed.py send --src-ip 10.77.20.2 239.1.1.1:31001 239.1.1.2:31002 \\
      --count 20000 --msgs-per-packet 1-8 --drop-both 500-509,1200 \\
      --b-packetize-differently --heartbeat-after 1 --end""")
    ps.add_argument("line_a", type=hp, metavar="A_GROUP:PORT", help="line A's multicast group and UDP port")
    ps.add_argument("line_b", type=hp, nargs="?", metavar="B_GROUP:PORT", help="line B's (optional)")
    ps.add_argument("--src-ip", required=True,
                    help="local address: IP_MULTICAST_IF (so the interface holding it) and the bound source")
    ps.add_argument("--src-ip-b", default=None, help="line B's source address (default: --src-ip)")
    ps.add_argument("--src-port", type=int, default=0, help="line A's UDP source port (default: any)")
    ps.add_argument("--src-port-b", type=int, default=0, help="line B's UDP source port (default: any)")
    ps.add_argument("--ttl", type=int, default=1, help="IP_MULTICAST_TTL (default %(default)s)")
    ps.add_argument("--loop", action="store_true",
                    help="IP_MULTICAST_LOOP on: also deliver to members on this host (off by default)")
    common_generator_args(ps)
    g = ps.add_argument_group("packets and pacing")
    g.add_argument("--msgs-per-packet", default="1-8", metavar="K|MIN-MAX",
                   help="messages a packet, fixed or drawn from --seed (default %(default)s)")
    g.add_argument("--max-packet-bytes", type=int, default=1400,
                   help="largest UDP payload; a packet ends early rather than exceed it (default %(default)s)")
    g.add_argument("--rate", type=float, default=50000,
                   help="messages a second on each line; 0: as fast as the socket takes them. The default "
                        "(%(default)s) is one a veth + net_af_packet receiver keeps up with")
    g.add_argument("--b-packetize-differently", action="store_true",
                   help="line B cuts the same messages at other boundaries (its own random stream; with a "
                        "fixed K a shorter first packet)")
    g.add_argument("--b-delay-us", type=float, default=0, metavar="D",
                   help="line B's copy of a message is scheduled D microseconds after A's (with --rate 0: "
                        "the schedule counts 1 us a message, so B lags by about D messages)")
    g.add_argument("--heartbeat-after", type=float, default=0, metavar="SECONDS",
                   help="after each session's data, heartbeats on both lines for that long")
    g.add_argument("--heartbeat-interval", type=float, default=0.2, metavar="SECONDS", help="(default %(default)s s)")
    g.add_argument("--end", action="store_true", help="end each session with an end-of-session packet on both lines")
    g.add_argument("--bad", action="store_true",
                   help="inject on line A during the first session: a truncated packet (13 bytes), one whose "
                        "count exceeds its blocks, one with seq start+10**9, and (with --bad-group) a "
                        "well-formed one to a group the receiver has not joined. Their messages are poison "
                        "(b'BAD:...'), so a receiver that takes any of them fails verify")
    g.add_argument("--bad-group", type=hp, default=None, metavar="GROUP:PORT",
                   help="where --bad sends its packet for a group not joined")
    ps.set_defaults(fn=cmd_send)

    pv = sub.add_parser("verify", help="check received messages against the generator",
                        formatter_class=argparse.RawDescriptionHelpFormatter, description="""\
Read [4-byte BE length][bytes] records (stdin or --in) and check they are
exactly the generator's messages, in order, each once, byte for byte: session
1's from --start-seq, then session 2's from 1. Prints JSON {ok, expected, got,
first_mismatch}; exits 1 on a mismatch.""")
    pv.add_argument("--in", dest="infile", default="-", metavar="FILE", help="records file (default: stdin)")
    pv.add_argument("--expect-missing", action="store_true",
                    help="the --drop-both messages must be absent (default: they must be there, e.g. re-requested)")
    common_generator_args(pv)
    pv.set_defaults(fn=cmd_verify)

    pr = sub.add_parser("rerequest-server", help="answer MoldUDP64 re-requests",
                        formatter_class=argparse.RawDescriptionHelpFormatter, description="""\
Listen on ADDR:PORT (UDP, unicast) and answer each MoldUDP64 request
(session, seq, count) with the generator's messages seq.. (at most count, at
most --max-per-packet in a packet, at most --max-packet-bytes of payload) sent
back to the requester. Messages 1..last of each session are served (also the
--drop-both ones). Writes its counters to --stats after each request (and at
start, so the file appearing means it listens); prints them on SIGTERM/SIGINT.""")
    pr.add_argument("listen", type=lambda s: parse_hostport(s, "ADDR:PORT"), metavar="ADDR:PORT")
    common_generator_args(pr)
    pr.add_argument("--max-per-packet", type=int, default=0,
                    help="messages in a reply packet (default: as many as fit in --max-packet-bytes)")
    pr.add_argument("--max-packet-bytes", type=int, default=1400, help="(default %(default)s)")
    pr.add_argument("--reply-packets", type=int, default=1,
                    help="packets a request is answered with at most (default %(default)s, as real "
                         "servers: the client asks again for the rest)")
    pr.add_argument("--ignore-first", type=int, default=0, metavar="N",
                    help="ignore the first N requests (to test the requester's retries)")
    pr.add_argument("--stats", default=None, metavar="FILE", help="write the JSON counters here after each request")
    pr.set_defaults(fn=cmd_rerequest_server)

    pc = sub.add_parser("recv", help="join a feed, fill gaps, write the messages",
                        formatter_class=argparse.RawDescriptionHelpFormatter, description="""\
Join GROUP:PORT (repeat --group for lines A and B: arbitrated, first copy
wins) on --iface-ip and deliver the messages in sequence order to --out as
[4-byte BE length][bytes] records. A gap (a packet, heartbeat or end of
session past the next expected seq) is asked for from --rerequest (retried
every --retry s); without --rerequest it is given up after --gap-wait s and
listed as lost. Sessions are delivered one after the other, a later one from
seq 1 once the earlier has ended complete. Stops at --count messages, at
--stop-on-end, or at --timeout; prints a JSON summary, exits 1 if a --count
or --stop-on-end target was not reached.""")
    pc.add_argument("--group", type=hp, action="append", required=True, metavar="GROUP:PORT")
    pc.add_argument("--iface-ip", required=True, help="address of the interface to join on (IP_ADD_MEMBERSHIP)")
    pc.add_argument("--session", default=None, help="only this session (default: any, the first seen first)")
    pc.add_argument("--start-seq", type=int, default=1,
                    help="first seq expected of the first session (0: the first packet's) (default %(default)s)")
    pc.add_argument("--count", type=int, default=0, help="stop after this many messages")
    pc.add_argument("--stop-on-end", action="store_true", help="stop when --sessions sessions have ended complete")
    pc.add_argument("--sessions", type=int, default=1, help="for --stop-on-end (default %(default)s)")
    pc.add_argument("--timeout", type=float, default=10, help="seconds at most (default %(default)s)")
    pc.add_argument("--drop-percent", type=float, default=0,
                    help="drop this %% of the data packets received from the groups (seeded by --seed)")
    pc.add_argument("--drop-control", action="store_true", help="--drop-percent also drops heartbeats and ends")
    pc.add_argument("--seed", type=int, default=1)
    pc.add_argument("--rerequest", type=lambda s: parse_hostport(s, "ADDR:PORT"), default=None, metavar="ADDR:PORT",
                    help="re-request server to ask for gaps (from --iface-ip)")
    pc.add_argument("--request-delay", type=float, default=0.005,
                    help="seconds a gap may wait for a late copy before it is asked for (default %(default)s)")
    pc.add_argument("--retry", type=float, default=0.2, help="seconds before asking again (default %(default)s)")
    pc.add_argument("--max-request", type=int, default=1000, help="messages asked for at most at once (default %(default)s)")
    pc.add_argument("--gap-wait", type=float, default=0.05,
                    help="without --rerequest: seconds before a gap is given up (default %(default)s)")
    pc.add_argument("--max-gap", type=int, default=10**7,
                    help="a packet further than this past the highest seq is ignored as implausible")
    pc.add_argument("--out", default=None, metavar="FILE", help="records file")
    pc.add_argument("--ready", default=None, metavar="FILE", help="create FILE once the groups are joined")
    pc.set_defaults(fn=cmd_recv)

    args = p.parse_args(argv)
    try:
        return args.fn(args)
    except ValueError as e:
        sys.exit(f"moldfeed.py {args.cmd}: {e}")


if __name__ == "__main__":
    sys.exit(main())
