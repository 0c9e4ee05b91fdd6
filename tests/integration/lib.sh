# SPDX-License-Identifier: BSD-3-Clause
# Helpers sourced by tests/integration/test_*.sh: failure reporting, bounded
# waits on conditions, and clean-up of what a test started (by pid and name).
set -u
BUILD=${BUILD:-build/release}
MSH_TMP=$(mktemp -d /tmp/msh-it.XXXXXX)
MSH_PIDS=()
MSH_CLEANUPS=()
checks=0

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

ok() {
	checks=$((checks + 1))
	echo "ok: $*"
}

# wait_for SECONDS DESCRIPTION COMMAND...: poll COMMAND until it succeeds or
# the time runs out; never sleeps longer than needed.
wait_for() {
	local secs=$1 what=$2
	shift 2
	local deadline=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -ge $deadline ] && fail "timed out after ${secs}s waiting for: $what"
		sleep 0.05
	done
}

at_exit() {
	local pid c
	for pid in "${MSH_PIDS[@]}"; do
		kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	done
	for c in "${MSH_CLEANUPS[@]}"; do
		eval "$c" >/dev/null 2>&1
	done
	rm -rf "$MSH_TMP"
}
trap at_exit EXIT
