#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Subscription behaviour over real packets. Usage: subs.py APPLIANCE_IP
Shards expected: ticks (roomy), small (reject at 128K), ring (evict at 128K)."""
import struct
import sys
import time

sys.path.insert(0, sys.path[0])
from mshclient import *  # noqa: E402,F401

ip = sys.argv[1]
n_ok = 0


def check(cond, what):
    global n_ok
    if not cond:
        sys.exit(f"FAIL {what}")
    n_ok += 1
    print(f"ok {what}")


def quiet_for(c, secs):
    """True when nothing but SUB_REPLY arrives within secs."""
    deadline = time.time() + secs
    while time.time() < deadline:
        d = c.recv(max(0.01, deadline - time.time()))
        if d is not None and not (d[:2] == b"MS" and d[3] == SUB_REPLY):
            return False
    return True


pub = Client(ip)
st = pub.publish("ticks", [b"m%d" % i for i in range(1, 11)], 1, 1)
check(st[0] == OK and st[1] == 10 and st[3] == 1, "10 messages acked at shard_seq 1")

# --- token: nothing flows to an address that has not echoed one ----------------
spoof = Client(ip)
spoof.subscribe_raw("ticks", 0, 0)
r = spoof.sub_reply()
check(r is not None and r[0] == TOKEN_REQUIRED and r[3] != 0, "first SUBSCRIBE: TOKEN_REQUIRED + token")
spoof.subscribe_raw("ticks", 0, r[3] ^ 1)
r2 = spoof.sub_reply()
check(r2 is not None and r2[0] == TOKEN_REQUIRED, "wrong token: TOKEN_REQUIRED again")
pub.publish("ticks", [b"m11"], 1, 11)
check(quiet_for(spoof, 0.6), "no feed to an address that never echoed its token")
spoof.rerequest("ticks", 1, 5)
check(quiet_for(spoof, 0.5), "re-request from an unsubscribed address: no answer")
other = Client(ip)
t = other.subscribe("ticks", 0)  # from another source: its token is not spoof's
spoof.subscribe_raw("ticks", 0, other.token)
r3 = spoof.sub_reply()
check(r3 is not None and r3[0] == TOKEN_REQUIRED, "another source's token is refused")

# --- history, live, re-request -------------------------------------------------
first, msgs, _ = other.feed(11)
check(first == 1 and msgs == [b"m%d" % i for i in range(1, 12)], "history from oldest: 11 in order")
pub.publish("ticks", [b"live%d" % i for i in range(5)], 1, 12)
first, msgs, _ = other.feed(5)
check(first == 12 and msgs == [b"live%d" % i for i in range(5)], "live messages follow")
other.rerequest("ticks", 3, 4)
d = None
for _ in range(20):
    d = other.recv(1)
    if d is None or parse_mold(d) and parse_mold(d)[2] not in (0, 0xFFFF):
        break
m = parse_mold(d) if d else None
check(m is not None and m[1] == 3 and m[3] == [b"m3", b"m4", b"m5", b"m6"],
      "re-request 3..6 answered from memory")

# --- lease: renewed it lives, unrenewed it ends --------------------------------
lease = Client(ip)
lease.subscribe("ticks", 0xFFFFFFFFFFFFFFFF, lease_ms=400)
beats, end = 0, time.time() + 1.2
last_renew = 0
while time.time() < end:
    if time.time() - last_renew > 0.1:
        lease.subscribe_raw("ticks", 0xFFFFFFFFFFFFFFFF, lease.token, 400)
        last_renew = time.time()
    d = lease.recv(0.05)
    m = parse_mold(d) if d else None
    if m and m[2] == 0:
        beats += 1
check(beats >= 3, f"renewed subscription gets heartbeats ({beats} in 1.2 s at 200 ms)")
time.sleep(0.6)  # stop renewing: the 400 ms lease runs out
while lease.recv(0.05) is not None:
    pass
check(quiet_for(lease, 0.8), "expired lease: the feed and heartbeats stop")

# --- unsubscribe ------------------------------------------------------------------
u = Client(ip)
u.subscribe("ticks", 0xFFFFFFFFFFFFFFFF)
u.s.sendto(hdr("ticks", UNSUBSCRIBE), u.addr)
time.sleep(0.1)
pub.publish("ticks", [b"after-unsub"], 1, 17)
check(quiet_for(u, 0.6), "UNSUBSCRIBE ends the feed at once")

# --- memory limit: reject ----------------------------------------------------------
msg = b"r" * 1000
seq, status = 1, OK
while status == OK and seq < 1000:
    status, cnt, _, _, _ = pub.publish("small", [msg], 2, seq)
    if status == OK:
        seq += 1
check(status == SHARD_FULL and cnt == 0, f"reject shard: SHARD_FULL after {seq - 1} messages")
status = pub.publish("small", [msg], 2, seq)[0]
check(status == SHARD_FULL, "retry of the refused datagram: SHARD_FULL again, not DUPLICATE")
c = Client(ip)
r = c.subscribe("small", 0)
first, msgs, _ = c.feed(seq - 1)
check(r[1] == 1 and len(msgs) == seq - 1 and first == 1, "reject shard keeps its oldest data")

# --- memory limit: evict -------------------------------------------------------------
for i in range(1, 601):
    st = pub.publish("ring", [b"%05d" % i + b"e" * 995], 3, i)
    if st[0] != OK:
        sys.exit(f"FAIL evict shard refused message {i}: {st}")
check(True, "evict shard accepts 600 x 1 KB into 128K")
e = Client(ip)
r = e.subscribe("ring", 1)
check(r[1] > 1 and r[2] == 601, f"oldest retained moved to {r[1]}, next is 601")
got_unavail = False
first, msgs, other_pkts = e.feed(601 - r[1])
for d in other_pkts:
    if d[:2] == b"MS" and d[3] == UNAVAILABLE:
        asked, oldest = struct.unpack(">QQ", d[20:36])
        got_unavail = asked == 1 and oldest == r[1]
check(got_unavail, "start_seq 1 past retention: UNAVAILABLE(1, oldest)")
check(first == r[1] and len(msgs) == 601 - r[1] and msgs[-1].startswith(b"00600"),
      "then every retained message, in order")
e.rerequest("ring", 1, 10)
d = e.recv(1)
check(d is not None and d[:2] == b"MS" and d[3] == UNAVAILABLE, "re-request of evicted data: UNAVAILABLE")
print(f"subs.py: {n_ok} checks passed")
