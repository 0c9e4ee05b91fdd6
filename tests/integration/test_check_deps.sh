#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# tools/check_deps.py (make check-deps) must fail on each kind of edge or
# write the shape of app/ forbids, and pass on app/ as it is. Each case is a
# copy of app/ (and of its objects) with one violation, among them the
# defects issue 10 found in the old code: the main lcore writing the spill
# thread's journal pointer, a worker spinning for room on a ring, logging on
# the fast path, the control path reading dedupe internals, a worker-side file
# reaching the main side. No appliance, no network.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build/release}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
pass=0

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

[ -d "$BUILD/app" ] || fail "no objects in $BUILD/app (build first)"
out=$(python3 tools/check_deps.py --src app --obj "$BUILD/app" 2>&1) ||
	fail "app/ as it is does not pass: $out"
echo "ok: app/ passes ($out)"

# case NAME FILE PYTHON-EXPR EXPECTED-TEXT: FILE in a copy of app/ becomes
# PYTHON-EXPR of its text s; the checker must fail and say EXPECTED-TEXT.
case_src() {
	local name=$1 file=$2 expr=$3 want=$4 dir=$TMP/$1
	rm -rf "$dir"
	cp -r app "$dir"
	python3 - "$dir/$file" "$expr" <<'PY' || fail "$name: could not inject"
import sys
p, expr = sys.argv[1], sys.argv[2]
s = open(p).read()
t = eval(expr)
assert t != s, "injection changed nothing"
open(p, "w").write(t)
PY
	if out=$(python3 tools/check_deps.py --src "$dir" 2>&1); then
		fail "$name: check_deps passed a tree with the violation"
	fi
	grep -qF -- "$want" <<<"$out" || fail "$name: expected '$want' in: $out"
	echo "ok: $name: refused ($(grep -F -- "$want" <<<"$out" | head -n 1))"
	pass=$((pass + 1))
}

case_src include_up feed.c \
	's.replace("#include \"feed.h\"\n", "#include \"feed.h\"\n#include \"shards.h\"\n")' \
	'#include "shards.h": the worker side never reaches the main side'
case_src journal_race spill_admin.c \
	's.replace("\tas->mn.journals_opened++;\n\tif (msh_proxy_go_persistent", "\tas->sp.journal = j;\n\tas->mn.journals_opened++;\n\tif (msh_proxy_go_persistent")' \
	"writes a shard's sp. part, which only the spill side writes (in msh_spill_set_storage)"
case_src journal_race_atomic spill_admin.c \
	's.replace("\tas->mn.journals_opened++;\n\tif (msh_proxy_go_persistent", "\t__atomic_store_n(&as->sp.journal, j, __ATOMIC_RELEASE);\n\tas->mn.journals_opened++;\n\tif (msh_proxy_go_persistent")' \
	"takes the address of a shard's sp. part, which only the spill side writes (in msh_spill_set_storage)"
case_src after_exempt_function spill_admin.c \
	's.replace("/* A journal message from the main lcore", "static void poke(struct msh_app_shard *as) { as->sp.journal_error = 0; }\n\n/* A journal message from the main lcore")' \
	"writes a shard's sp. part, which only the spill side writes (in poke)"
case_src ring_spin worker_cmd.c \
	's.replace("\tif (msh_spill_send(svc, m) != 0) {\n\t\tsnprintf(err, errlen, \"the spill", "\twhile (rte_ring_mp_enqueue(svc->ring, m) != 0)\n\t\trte_pause();\n\tif (msh_spill_send(svc, m) != 0) {\n\t\tsnprintf(err, errlen, \"the spill")' \
	'the worker side never waits'
case_src fast_path_log feed.c \
	's.replace("\tw->st.unavailable++;", "\tMSH_LOG(INFO, \"unavailable\");\n\tw->st.unavailable++;")' \
	'the worker side never logs'
case_src dedupe_internals control.c \
	's.replace("msh_dedupe_stats_get(s->dedupe, &ds);", "ds.forgotten = s->dedupe->forgotten;")' \
	"reads a shard's dedupe table"
case_src worker_writes_mn ingest.c \
	's.replace("\tw->st.publish++;", "\tw->st.publish++;\n\tif (as != NULL)\n\t\tas->mn.journals_opened++;")' \
	"writes a shard's mn. part, which only the main side writes"

# A call edge against the layers: a worker-side object calling the main side.
dir=$TMP/call_up
mkdir -p "$dir"
cp -r "$BUILD/app/." "$dir/"
cat >"$TMP/worker_cmd.c" <<'C'
int msh_shards_reap(void *app);
int call_up(void *app);
int call_up(void *app) { return msh_shards_reap(app); }
C
cc -c "$TMP/worker_cmd.c" -o "$dir/worker_cmd.o" || fail "call_up: could not compile"
if out=$(python3 tools/check_deps.py --src app --obj "$dir" 2>&1); then
	fail "call_up: check_deps passed a worker object calling msh_shards_reap"
fi
grep -qF "calls msh_shards_reap() of shards: the worker side never reaches the main side" \
	<<<"$out" || fail "call_up: unexpected output: $out"
echo "ok: call_up: refused"
pass=$((pass + 1))

# A file the table does not know.
dir=$TMP/unknown
cp -r app "$dir"
echo '/* new */' >"$dir/newthing.c"
if out=$(python3 tools/check_deps.py --src "$dir" 2>&1); then
	fail "unknown: check_deps passed a file missing from its table"
fi
grep -qF "not in tools/check_deps.py's module table" <<<"$out" || fail "unknown: $out"
echo "ok: unknown module: refused"
pass=$((pass + 1))

echo "test_check_deps: $pass violations refused"
