# SPDX-License-Identifier: BSD-3-Clause
# memshard: one build for everything.
#
#   make            build the engine library, the daemon, the tools, tests and benchmarks
#   make test       set up the host (deploy/setup.sh), build, run every unit and integration test
#   make bench      run the benchmarks and rewrite BENCHMARKS.md
#   make run        set up the host, build, start a demo appliance (see README.md)
#   make DEBUG=1 …  the same with AddressSanitizer and UBSan, in build/debug
#   make setup      only the host set-up (packages, hugepages)
#   make format     clang-format every C file with .clang-format
#   make check-deps the shape of app/: layers, thread ownership, fast-path rules
#                   (tools/check_deps.py; part of every build)
#
# lib/ is built without DPDK flags on purpose: it must stay free of DPDK types.

CC      ?= cc
DEBUG   ?= 0
WERROR  ?= 1

ifeq ($(DEBUG),1)
BUILD   := build/debug
OPT     := -O1 -g -fno-omit-frame-pointer
SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all
else
BUILD   := build/release
OPT     := -O3 -g
SAN     :=
endif

WARN    := -Wall -Wextra -Wshadow -Wpointer-arith -Wmissing-prototypes -Wstrict-prototypes \
           -Wformat=2 -Wno-unused-parameter
ifeq ($(WERROR),1)
WARN    += -Werror
endif

# corei7 matches the -march DPDK's own pkg-config gives, so lib/ and app/ agree.
MSH_VERSION := $(shell git describe --always --dirty 2>/dev/null || echo 0.1)
BASE_CFLAGS := -DMSH_VERSION_STR=\"$(MSH_VERSION)\" -std=gnu11 -march=corei7 -D_GNU_SOURCE -MMD -MP $(OPT) $(SAN) $(WARN) -Ilib
LIB_CFLAGS  := $(BASE_CFLAGS)
DPDK_CFLAGS  = $(shell pkg-config --cflags libdpdk 2>/dev/null)
DPDK_LIBS    = $(shell pkg-config --libs libdpdk 2>/dev/null)
LDFLAGS     += $(SAN)
LIB_DEPS    := -linih -ljansson -lm

LIB_SRC   := $(wildcard lib/*.c)
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/%.o)
LIB_A     := $(BUILD)/libmemshard.a

UNIT_SRC  := $(wildcard tests/unit/test_*.c)
UNIT_BIN  := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

# bench_fanout is a DPDK program (its own rule below), the others are not.
# feed_kernel: the kernel-socket sender, baseline and subscriber of feed_latency.sh.
BENCH_SRC := $(filter-out tests/bench/bench_fanout.c,$(wildcard tests/bench/bench_*.c)) \
             tests/bench/nats_bench.c tests/bench/feed_kernel.c
BENCH_BIN := $(BENCH_SRC:tests/bench/%.c=$(BUILD)/bench/%) $(BUILD)/bench/bench_fanout

APP_SRC   := $(wildcard app/*.c) $(wildcard drivers/net/*.c) $(wildcard drivers/storage/*.c)
APP_OBJ   := $(APP_SRC:%.c=$(BUILD)/%.o)
APP_BIN   := $(if $(APP_SRC),$(BUILD)/memshard)

TOOL_SRC  := $(wildcard tools/*.c)
TOOL_BIN  := $(TOOL_SRC:tools/%.c=$(BUILD)/%)

.PHONY: all all-unit test unit integration bench run setup format clean check-pkgs check-deps
.DELETE_ON_ERROR:

all: check-pkgs $(LIB_A) $(APP_BIN) $(TOOL_BIN) $(UNIT_BIN) $(BENCH_BIN) check-deps

# A clear message instead of a wall of missing-header errors on a bare machine.
check-pkgs:
	@pkg-config --exists libdpdk inih jansson cmocka || \
	  { echo "memshard: build dependencies missing; run 'make setup' as root (deploy/setup.sh)" >&2; exit 1; }

$(BUILD)/lib/%.o: lib/%.c
	@mkdir -p $(@D)
	$(CC) $(LIB_CFLAGS) -c $< -o $@

$(LIB_A): $(LIB_OBJ)
	@mkdir -p $(@D)
	$(AR) rcs $@ $^

$(BUILD)/tests/%: tests/unit/%.c $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(LIB_CFLAGS) $< -o $@ $(LDFLAGS) $(LIB_A) -lcmocka $(LIB_DEPS)

$(BUILD)/bench/%: tests/bench/%.c $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(LIB_CFLAGS) -Itools $< -o $@ $(LDFLAGS) $(LIB_A) $(LIB_DEPS)

# The NATS side of the comparison links the NATS C client (Debian libnats-dev).
$(BUILD)/bench/nats_bench: tests/bench/nats_bench.c lib/hist.h $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(LIB_CFLAGS) -Itools $< -o $@ $(LDFLAGS) $(LIB_A) -lnats -lpthread -lm

# Fan-out copy vs zero-copy mbufs (issue 10): DPDK flags and libraries, no port.
$(BUILD)/bench/bench_fanout: tests/bench/bench_fanout.c $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) $(DPDK_CFLAGS) $< -o $@ $(LDFLAGS) $(LIB_A) $(DPDK_LIBS) $(LIB_DEPS)

$(BUILD)/app/%.o: app/%.c
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) $(DPDK_CFLAGS) -Iapp -Idrivers -c $< -o $@

$(BUILD)/drivers/%.o: drivers/%.c
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) $(DPDK_CFLAGS) -Iapp -Idrivers -c $< -o $@

# The shape of app/ (docs/ARCHITECTURE.md): include and call edges only point
# down the layers, the worker side never reaches the main side, each thread
# writes only its own part of a shard, and the fast path never logs or waits.
# Fails the build when an edge goes against tools/check_deps.py's table.
check-deps: $(APP_OBJ)
	@python3 tools/check_deps.py --src app --obj $(BUILD)/app

$(BUILD)/memshard: $(APP_OBJ) $(LIB_A)
	$(CC) $(APP_OBJ) -o $@ $(LDFLAGS) $(LIB_A) $(DPDK_LIBS) -lnuma $(LIB_DEPS) -lpthread

$(BUILD)/%: tools/%.c $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(LIB_CFLAGS) -Itools $< -o $@ $(LDFLAGS) $(LIB_A) $(LIB_DEPS)

setup:
	@bash deploy/setup.sh

# `make test` also runs the unit tests under AddressSanitizer and UBSan (build/debug):
# CI calls only `make test`, and memory errors in lib/ must not wait for someone to
# remember DEBUG=1. Set SANITIZE=0 to skip that pass.
SANITIZE ?= 1
test: setup
	@$(MAKE) --no-print-directory all
ifeq ($(DEBUG)$(SANITIZE),01)
	@$(MAKE) --no-print-directory DEBUG=1 all-unit
	@BUILD=$(BUILD) SAN_BUILD=build/debug bash tests/run.sh
else
	@BUILD=$(BUILD) bash tests/run.sh
endif

all-unit: check-pkgs $(LIB_A) $(UNIT_BIN)

unit: all
	@BUILD=$(BUILD) bash tests/run.sh unit

integration: all
	@BUILD=$(BUILD) bash tests/run.sh integration

bench: setup
	@$(MAKE) --no-print-directory all DEBUG=0
	@bash tests/bench/run.sh

run: setup
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) bash deploy/demo.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d) $(APP_OBJ:.o=.d)
