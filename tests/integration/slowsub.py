#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Misbehaving subscribers. Usage: slowsub.py IP stalled|vanish
stalled: subscribes from the oldest, renews its lease every 200 ms reporting
position 1, and never reads its socket (until killed or 60 s).
vanish: subscribes with a 300 ms lease and exits without UNSUBSCRIBE."""
import sys
import time

sys.path.insert(0, sys.path[0])
from mshclient import Client  # noqa: E402

ip, mode = sys.argv[1], sys.argv[2]
c = Client(ip)
c.s.setsockopt(__import__("socket").SOL_SOCKET, __import__("socket").SO_RCVBUF, 65536)
if mode == "vanish":
    c.subscribe("ticks", 0, lease_ms=300)
    print("vanish: subscribed, leaving", flush=True)
    sys.exit(0)
c.subscribe("ticks", 0, lease_ms=2000)
print("stalled: subscribed, not reading", flush=True)
end = time.time() + 60
while time.time() < end:
    c.subscribe_raw("ticks", 1, c.token, 2000)  # renew, position stays 1
    time.sleep(0.2)
