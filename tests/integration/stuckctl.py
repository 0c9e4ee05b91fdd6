#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Control-socket clients for test_control_stuck.sh, speaking the socket's
line protocol directly (one command per line, one JSON line per reply).

  stuckctl.py size SOCKET COMMAND
      sends COMMAND once and prints the length in bytes of its reply line,
      newline included.
  stuckctl.py stuck SOCKET COMMAND COUNT STATUS
      a client that writes COUNT lines of COMMAND and never reads a reply.
      Every 50 ms it rewrites the file STATUS with one line
      "sent BYTES of BYTES unread BYTES": what it has written, and how many
      bytes of replies wait unread at its end (FIONREAD, which consumes
      nothing). It keeps the connection open until killed, or for 120 s at
      most so that it never outlives a test.
"""
import fcntl
import os
import socket
import struct
import sys
import termios
import time

LIFETIME = 120.0


def connect(path, timeout):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    return s


def size(path, command):
    s = connect(path, 10)
    s.sendall(command.encode() + b"\n")
    reply = b""
    while not reply.endswith(b"\n"):
        chunk = s.recv(65536)
        if not chunk:
            sys.exit("the appliance closed the connection after %d bytes" % len(reply))
        reply += chunk
    print(len(reply))


def unread(s):
    buf = fcntl.ioctl(s.fileno(), termios.FIONREAD, struct.pack("i", 0))
    return struct.unpack("i", buf)[0]


def write_status(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text + "\n")
    os.replace(tmp, path)


def stuck(path, command, count, status):
    s = connect(path, 10)
    s.setblocking(False)
    data = (command.encode() + b"\n") * count
    sent = 0
    end = time.monotonic() + LIFETIME
    while time.monotonic() < end:
        if sent < len(data):
            try:
                sent += s.send(data[sent:])
            except BlockingIOError:
                pass  # the appliance is not reading: keep what is sent
            except OSError:
                pass  # dropped by the appliance: the test decides what that means
        try:
            n = unread(s)
        except OSError:
            n = -1
        write_status(status, "sent %d of %d unread %d" % (sent, len(data), n))
        time.sleep(0.05)


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "size":
        size(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 6 and sys.argv[1] == "stuck":
        stuck(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
