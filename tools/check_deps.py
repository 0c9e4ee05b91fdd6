#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 memshard authors
"""Keeps the shape of app/ (docs/ARCHITECTURE.md): `make check-deps`.

Every module of app/ (a .c and its .h, or a lone header) has a side (which
thread runs it) and a rank in the table below. Four checks, each a build
failure with the offending file and line:

  1. layers:  an #include of an app/ header, and a call from one module's
              object to a function another module defines (read with nm from
              the objects), must point to a lower rank (or the same module);
              the worker side reaches only worker and base modules, the spill
              thread only base ones, base only base.
  2. owners:  a shard's parts (shard_state.h) are written by their thread only:
              wk. by worker-side files, sp. by the spill thread, mn. by the main
              side; the few functions that fill or free a shard before it is
              published or after it is withdrawn are listed by name.
  3. fast path: worker-side files never log, allocate, lock, sleep or spin on a
              ring (the idle policy and the stall fault are named exceptions).
  4. lib:     app/ reads lib/ internals only through the module's API.
  5. table:   every file of app/ is in the table, and the table names no file
              that is gone.

Usage: check_deps.py --src app [--obj build/release/app]
Without --obj the call edges (check 1 for calls) are not checked.
"""
import argparse
import os
import re
import subprocess
import sys

# module: (side, rank). Lower ranks are further down; an edge must go down.
MODULES = {
    # base: shared definitions, no thread of their own
    "clock": ("base", 1),
    "log": ("base", 1),
    "counters": ("base", 2),
    "shard_state": ("base", 3),
    "spill_msg": ("base", 4),
    # the spill thread
    "spill_thread": ("spill", 5),
    # the worker side
    "txq": ("worker", 8),
    "dataplane": ("worker", 9),
    "acks": ("worker", 10),
    "spill_client": ("worker", 11),
    "feed": ("worker", 12),
    "repl_link": ("worker", 13),
    "mcast": ("worker", 13),
    "ingest": ("worker", 14),
    "worker_cmd": ("worker", 15),
    "worker": ("worker", 16),
    # the main side
    "app": ("main", 19),
    "proxy": ("main", 20),
    "eal": ("main", 20),
    "spill_admin": ("main", 22),
    "feeds": ("main", 23),
    "shards": ("main", 24),
    "stats": ("main", 26),
    "control": ("main", 28),
    "telemetry": ("main", 28),
    "appliance": ("main", 30),
    "main": ("main", 32),
}

SIDE_MAY_REACH = {
    "base": {"base"},
    "spill": {"spill", "base"},
    "worker": {"worker", "base"},
    "main": {"main", "worker", "spill", "base"},
}

# Which side may write a part of a shard, and the functions of other files
# that may too: they run on the main lcore while no other thread sees the
# shard (before publication, after withdrawal, or with the workers stopped).
OWNERS = {
    "wk": ("worker", {("spill_admin.c", "msh_spill_journal_open")}),
    "sp": ("spill", {
        ("spill_admin.c", "msh_spill_recover"),
        ("spill_admin.c", "replay_record"),
        ("spill_admin.c", "replay_report"),
        ("spill_admin.c", "msh_spill_journal_open"),
        ("spill_admin.c", "msh_spill_forget"),
    }),
    "mn": ("main", set()),
}
# Taking the address of another thread's part is a write too (memset, an
# atomic store, a setter), except a const pointer or an atomic load.
ADDR_RE = re.compile(r"&\s*[\w>.\-\[\]]*?(?:->|\.)(wk|sp|mn)\.")
ADDR_READ_RE = re.compile(r"__atomic_load_n\s*\(\s*&|^\s*const\b")
ADDR_EXCEPTIONS = {("shards.c", "msh_shards_create")}

# What the worker side never does, and the named exceptions.
FAST_PATH_BANNED = [
    (re.compile(r"\b(MSH_LOG|RTE_LOG|rte_log)\s*\("), "logs (count it; stats.c logs)"),
    (re.compile(r"(?<![sn])\b(printf|fprintf|vfprintf|dprintf|perror|puts|fputs)\s*\("),
     "prints"),
    (re.compile(r"\b(malloc|calloc|realloc|free|strdup|rte_malloc|rte_malloc_socket|rte_zmalloc|"
                r"rte_zmalloc_socket|rte_calloc|rte_realloc|rte_free)\s*\("), "allocates"),
    (re.compile(r"\bpthread_(mutex|rwlock|spin|cond)_\w+\s*\("), "locks"),
    (re.compile(r"\b(usleep|nanosleep|sleep|sched_yield|poll|select|epoll_wait|"
                r"rte_delay_us_sleep|rte_delay_us_block|rte_delay_us|rte_delay_ms|rte_pause)\s*\("),
     "waits"),
    (re.compile(r"\bwhile\s*\(\s*!?\s*(rte_ring_\w*enqueue|rte_mempool_get|rte_rdtsc)"),
     "spins"),
]
# The idle policy sleeps by design; the stall fault spins on purpose (tests).
FAST_PATH_EXCEPTIONS = {("worker.c", "idle_backoff"), ("worker_cmd.c", "stall")}

# lib/ internals app/ reads only through the owning module's API.
LIB_PRIVATE = [
    (re.compile(r"->dedupe->"), "a shard's dedupe table (msh_dedupe_stats_get)"),
]

INCLUDE_RE = re.compile(r'^\s*#\s*include\s+["<]([^">]+)[">]')
SIG_NAME_RE = re.compile(r"([A-Za-z_]\w*)\s*\(")
WRITE_RE = re.compile(
    r"(?:->|\.)(wk|sp|mn)\.([A-Za-z_][\w.\[\]>-]*?)\s*(?:\+\+|--|(?:<<|>>|[-+|&^*/%])?=(?!=))"
    r"|(?:\+\+|--)\s*[\w>.\-\[\]]*?(?:->|\.)(wk|sp|mn)\.")


def module_of(path):
    base = os.path.basename(path)
    stem, ext = os.path.splitext(base)
    return stem if ext in (".c", ".h", ".o") else None


def strip(text):
    """Comments and string literals blanked, line structure kept."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(c + " " * (min(j, n) - i - 1) + (c if j < n else ""))
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


class Checker:
    def __init__(self, src):
        self.src = src
        self.errors = []

    def err(self, where, msg):
        self.errors.append(f"{where}: {msg}")

    def edge_ok(self, a, b):
        """Whether module a may reach module b (include or call)."""
        if a == b:
            return True, ""
        sa, ra = MODULES[a]
        sb, rb = MODULES[b]
        if sb not in SIDE_MAY_REACH[sa]:
            return False, f"the {sa} side never reaches the {sb} side"
        if rb >= ra:
            return False, f"{b} (rank {rb}) is not below {a} (rank {ra})"
        return True, ""

    def files(self):
        return sorted(f for f in os.listdir(self.src) if f.endswith((".c", ".h")))

    def check_table(self):
        mods = {module_of(f) for f in self.files()}
        for m in sorted(mods - MODULES.keys()):
            self.err(f"{self.src}/{m}.*", "not in tools/check_deps.py's module table: "
                     "give it a side and a rank")
        for m in sorted(MODULES.keys() - mods):
            self.err("tools/check_deps.py", f"module '{m}' has no file in {self.src}/")

    def check_file(self, f):
        path = os.path.join(self.src, f)
        mod = module_of(f)
        if mod not in MODULES:
            return
        side = MODULES[mod][0]
        with open(path, encoding="utf-8") as fh:
            raw = fh.read()
        code = strip(raw)
        func, sig = None, None
        for no, (rline, line) in enumerate(zip(raw.split("\n"), code.split("\n")), 1):
            where = f"{path}:{no}"
            m = INCLUDE_RE.match(rline)
            if m:
                target = os.path.basename(m.group(1))
                tmod = module_of(target)
                if os.path.exists(os.path.join(self.src, target)):
                    if tmod not in MODULES:
                        continue  # reported by check_table
                    ok, why = self.edge_ok(mod, tmod)
                    if not ok:
                        self.err(where, f"#include \"{target}\": {why}")
                continue
            # A function starts at a "{" in column 0 (or ends a signature line
            # that starts in column 0); its name is the identifier before the
            # signature's first "(".
            if line[:1] not in ("", " ", "\t", "#", "}", "{") and "(" in line:
                sig = line
            if line.startswith("{") or (sig is line and "{" in line):
                sm = SIG_NAME_RE.search(sig or "")
                func = sm.group(1) if sm else None
            elif line.startswith("}"):
                func = None
            for wm in WRITE_RE.finditer(line):
                part = wm.group(1) or wm.group(3)
                owner, allowed = OWNERS[part]
                if side != owner and (f, func) not in allowed:
                    self.err(where, f"writes a shard's {part}. part, which only the {owner} "
                             f"side writes (in {func or 'file scope'})")
            for am in ADDR_RE.finditer(line):
                part = am.group(1)
                owner, allowed = OWNERS[part]
                if (side != owner and (f, func) not in allowed | ADDR_EXCEPTIONS
                        and not ADDR_READ_RE.search(line[:am.end()])):
                    self.err(where, f"takes the address of a shard's {part}. part, which "
                             f"only the {owner} side writes (in {func or 'file scope'})")
            for rx, what in LIB_PRIVATE:
                if rx.search(line):
                    self.err(where, f"reads {what} directly: {line.strip()}")
            if side in ("worker",) and (f, func) not in FAST_PATH_EXCEPTIONS:
                for rx, what in FAST_PATH_BANNED:
                    if rx.search(line):
                        self.err(where, f"the worker side never {what.split(' (')[0]}: "
                                 f"{line.strip()} ({what}; in {func or 'file scope'})")

    def check_calls(self, obj):
        defined, undefined = {}, {}
        for o in sorted(os.listdir(obj)):
            if not o.endswith(".o"):
                continue
            mod = module_of(o)
            if mod not in MODULES:
                continue
            out = subprocess.run(["nm", os.path.join(obj, o)], check=True,
                                 capture_output=True, text=True).stdout
            for line in out.splitlines():
                parts = line.split()
                if len(parts) == 3 and parts[1] in "TDBR":
                    defined[parts[2]] = mod
                elif len(parts) == 2 and parts[0] == "U":
                    undefined.setdefault(mod, set()).add(parts[1])
        edges = 0
        for mod, syms in sorted(undefined.items()):
            for sym in sorted(syms):
                tmod = defined.get(sym)
                if tmod is None or tmod == mod:
                    continue
                edges += 1
                ok, why = self.edge_ok(mod, tmod)
                if not ok:
                    self.err(f"{obj}/{mod}.o", f"calls {sym}() of {tmod}: {why}")
        return edges

    def run(self, obj):
        self.check_table()
        for f in self.files():
            self.check_file(f)
        return self.check_calls(obj) if obj else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--src", default="app")
    ap.add_argument("--obj", default=None)
    args = ap.parse_args()
    c = Checker(args.src)
    edges = c.run(args.obj)
    if c.errors:
        for e in c.errors:
            print(e, file=sys.stderr)
        print(f"check-deps: {len(c.errors)} violation(s) of the shape of {args.src}/ "
              "(docs/ARCHITECTURE.md, tools/check_deps.py)", file=sys.stderr)
        return 1
    print(f"check-deps: {args.src}/ ok ({len(MODULES)} modules"
          + (f", {edges} call edges" if edges is not None else ", calls not checked") + ")")
    return 0


if __name__ == "__main__":
    sys.exit(main())
