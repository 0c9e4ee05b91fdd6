#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# A control client that sends commands and never reads the replies must not
# stall the main lcore (control socket, timers, telemetry). The stuck client
# pipelines COUNT 'config dump' commands, whose replies come to far more than
# a unix socket's buffer, and stays connected without reading. Checks: while
# it is there, memshardctl version is still answered within a bounded time,
# and the appliance still shuts down cleanly on 'shutdown'.
. "$(dirname "$0")/lib.sh"
COUNT=${MSH_STUCK_COMMANDS:-5000}
CMD="config dump"
ANSWERS=3     # version must be answered this many times in a row ...
LIVE_SECS=10  # ... within this long
msh_netns_up
msh_conf_write "$MSH_TMP/m.conf"
msh_start "$MSH_TMP/m.conf"
SOCK=$MSH_TMP/ctl.sock
STATUS=$MSH_TMP/stuck.status
STUCK=

# Once the stuck client is connected, an appliance blocked on it would not
# stop on SIGTERM (its send() restarts), and at_exit would wait for it for
# ever: stop the client first, then kill the appliance by its pid.
die() {
	local where=""
	if kill -0 "$MSH_PID" 2>/dev/null; then
		# Where the main thread is: a system call number (44 is sendto on
		# x86-64) and the kernel function it sleeps in.
		where=" [main thread: syscall $(cut -d' ' -f1 "/proc/$MSH_PID/syscall" 2>/dev/null)"
		where+=", wchan $(cat "/proc/$MSH_PID/wchan" 2>/dev/null)]"
	fi
	[ -n "$STUCK" ] && { kill "$STUCK" 2>/dev/null; wait "$STUCK" 2>/dev/null; }
	if kill -0 "$MSH_PID" 2>/dev/null; then
		kill -9 "$MSH_PID"
		wait "$MSH_PID" 2>/dev/null
	fi
	fail "$*$where"
}

# status_field NAME: a number from the stuck client's status line.
status_field() {
	awk -v k="$1" '{for (i = 1; i < NF; i++) if ($i == k) print $(i + 1)}' "$STATUS" 2>/dev/null
}

# The replies must overflow what the kernel queues for a client that does not
# read (the appliance's send buffer, net.core.wmem_default), many times over.
reply=$(python3 tests/integration/stuckctl.py size "$SOCK" "$CMD") || fail "one '$CMD': $reply"
buf=$(sysctl -n net.core.wmem_default)
[ "$((COUNT * reply))" -ge $((8 * buf)) ] || COUNT=$((8 * buf / reply + 1))
total=$((COUNT * reply))
ok "one '$CMD' reply is $reply bytes: $COUNT of them are $total bytes, $((total / buf)) x the $buf-byte socket buffer"

python3 tests/integration/stuckctl.py stuck "$SOCK" "$CMD" "$COUNT" "$STATUS" \
	>"$MSH_TMP/stuck.log" 2>&1 &
STUCK=$!
# First in line for at_exit, so that the appliance is not waited for while the
# client still holds it.
MSH_PIDS=("$STUCK" "${MSH_PIDS[@]}")

# The appliance has read the stuck client's commands and answered at least one
# of them in full: its replies wait unread at the client's end.
deadline=$((SECONDS + 10))
until [ "$(status_field unread)" -ge "$reply" ] 2>/dev/null; do
	kill -0 "$STUCK" 2>/dev/null || die "stuck client exited: $(cat "$MSH_TMP/stuck.log")"
	[ $SECONDS -ge $deadline ] &&
		die "no reply reached the stuck client in 10 s (status: $(cat "$STATUS" 2>/dev/null))"
	sleep 0.05
done
ok "stuck client connected, never reading: $(cat "$STATUS")"

# Liveness: a second client is answered, again and again, while the stuck one
# stays connected and unread.
deadline=$((SECONDS + LIVE_SECS))
got=0
last=""
while [ "$got" -lt "$ANSWERS" ]; do
	[ $SECONDS -ge $deadline ] &&
		die "'version' answered $got of $ANSWERS times in ${LIVE_SECS}s while a client with" \
			"$(status_field unread) bytes of replies unread stays connected: the main lcore" \
			"is stalled (last memshardctl: ${last:-none}; stuck client: $(cat "$STATUS"))"
	if last=$(ctl --timeout 1000 --json version 2>&1); then
		got=$((got + 1))
	else
		got=0
	fi
done
kill -0 "$STUCK" 2>/dev/null || die "stuck client exited early: $(cat "$MSH_TMP/stuck.log")"
ok "'version' answered $ANSWERS times in a row within ${LIVE_SECS}s; stuck client: $(cat "$STATUS")"

# A client that sends its commands and shuts its side at once (as nc -N,
# socat or a script may) still gets every reply: EOF is not a hang-up.
python3 - "$SOCK" <<'PY' || die "half-closed client lost replies"
import socket, sys, json
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sys.argv[1])
n = 200
s.sendall(b"config dump\n" * n)
s.shutdown(socket.SHUT_WR)
buf = b""
while True:
    d = s.recv(1 << 16)
    if not d:
        break
    buf += d
lines = buf.split(b"\n")[:-1]
assert len(lines) == n, f"{len(lines)} replies of {n}"
assert all(json.loads(l)["ok"] for l in lines)
print(f"{n} replies, {len(buf)} bytes")
PY
ok "a client that shut its side after 200 'config dump' got all 200 replies, then EOF"

# Clean shutdown, with the stuck client still connected.
ctl --timeout 5000 shutdown >/dev/null 2>"$MSH_TMP/shutdown.err" ||
	die "shutdown not answered: $(cat "$MSH_TMP/shutdown.err")"
deadline=$((SECONDS + 20))
while kill -0 "$MSH_PID" 2>/dev/null; do
	[ $SECONDS -ge $deadline ] && die "memshard did not exit within 20 s of 'shutdown'"
	sleep 0.05
done
wait "$MSH_PID"
rc=$?
[ "$rc" -eq 0 ] || fail "memshard exit status $rc after 'shutdown' (log: $(tail -n 5 "$MSH_TMP/memshard.err"))"
[ ! -e "$SOCK" ] || fail "control socket left behind"
ok "shutdown with the stuck client connected: exit 0, socket removed"
kill "$STUCK" 2>/dev/null
wait "$STUCK" 2>/dev/null
echo "test_control_stuck: $checks checks passed"
