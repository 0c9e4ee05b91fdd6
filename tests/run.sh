#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Runs every unit test binary ($BUILD/tests/test_*) and every integration test
# (tests/integration/test_*.sh), then prints one closing line
# "tests: N passed, N failed" and exits non-zero if anything failed.
# A cmocka binary contributes its own test counts; one that crashes (for
# example an AddressSanitizer report) counts as a failure even if cmocka
# printed nothing. Usage: tests/run.sh [unit|integration|all]
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build/release}
WHAT=${1:-all}
LOGDIR=$BUILD/test-logs
mkdir -p "$LOGDIR"

passed=0
failed=0
failures=()

# SAN_BUILD: a second build (AddressSanitizer + UBSan) whose unit tests run too.
SAN_BUILD=${SAN_BUILD:-}

run_unit() {
	local bin name log rc run fail dir
	for bin in "$BUILD"/tests/test_* ${SAN_BUILD:+"$SAN_BUILD"/tests/test_*}; do
		[ -x "$bin" ] || continue
		name=$(basename "$bin")
		dir=$(dirname "$(dirname "$bin")")
		[ "$dir" = "$SAN_BUILD" ] && name="$name[asan+ubsan]"
		log=$LOGDIR/$name.log
		# cmocka prints its summary to stdout and failures to stderr.
		"$bin" >"$log" 2>&1
		rc=$?
		run=$(sed -n 's/.*\[==========\] \([0-9]*\) test(s) run\..*/\1/p' "$log" | tail -n 1)
		fail=$(sed -n 's/.*\[  FAILED  \] \([0-9]*\) test(s).*/\1/p' "$log" | tail -n 1)
		run=${run:-0}
		fail=${fail:-0}
		if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then
			fail=1 # crashed or aborted outside cmocka's accounting
			run=$((run > 0 ? run : 1))
		fi
		passed=$((passed + run - fail))
		failed=$((failed + fail))
		if [ "$fail" -gt 0 ]; then
			failures+=("$name")
			echo "FAIL unit/$name ($fail of $run failed) -- log: $log"
			sed 's/^/    /' "$log" | grep -v '^\s*\[ RUN\|^\s*\[       OK' | tail -n 40
		else
			echo "ok   unit/$name ($run tests)"
		fi
	done
}

run_integration() {
	local t name log rc
	for t in tests/integration/test_*.sh; do
		[ -f "$t" ] || continue
		name=$(basename "$t" .sh)
		log=$LOGDIR/$name.log
		BUILD=$BUILD bash "$t" >"$log" 2>&1
		rc=$?
		if [ "$rc" -eq 0 ]; then
			passed=$((passed + 1))
			echo "ok   integration/$name"
		else
			failed=$((failed + 1))
			failures+=("$name")
			echo "FAIL integration/$name (exit $rc) -- log: $log"
			tail -n 40 "$log" | sed 's/^/    /'
		fi
	done
}

case "$WHAT" in
unit) run_unit ;;
integration) run_integration ;;
all) run_unit; run_integration ;;
*) echo "usage: $0 [unit|integration|all]" >&2; exit 2 ;;
esac

[ ${#failures[@]} -gt 0 ] && echo "failed: ${failures[*]}"
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
