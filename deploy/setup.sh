#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# memshard host set-up, idempotent: installs the Debian 12 packages the project
# needs (only those missing), reserves 2 MiB hugepages and mounts hugetlbfs
# when it can, and says clearly what it could not do. Run as root; `make test`,
# `make run` and `make bench` call it first.
#
# Environment:
#   MSH_HUGEPAGES=N   2 MiB pages wanted (default 512 = 1 GiB; 0 = leave them alone)
#   MSH_SETUP_QUIET=1 print only what changed or failed
set -u

PACKAGES=(
	build-essential pkg-config
	dpdk dpdk-dev libdpdk-dev libnuma-dev
	libcmocka-dev libinih-dev libjansson-dev liburing-dev libpcap-dev
	libhugetlbfs-bin iproute2 nftables ethtool procps
	tshark nats-server libnats-dev python3
)
WANT_PAGES=${MSH_HUGEPAGES:-512}
QUIET=${MSH_SETUP_QUIET:-0}

say() { [ "$QUIET" = 1 ] || echo "setup: $*"; }
warn() { echo "setup: $*" >&2; }

missing=()
for p in "${PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" != 0 ]; then
		warn "missing packages: ${missing[*]}"
		warn "run as root (or: sudo apt-get install ${missing[*]})"
		exit 1
	fi
	echo "setup: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	# tshark asks whether non-root users may capture; answer no, non-interactively.
	echo "wireshark-common wireshark-common/install-setuid boolean false" |
		debconf-set-selections 2>/dev/null || true
	if ! apt-get update -q >/tmp/memshard-apt.log 2>&1 ||
		! apt-get install -y -q --no-install-recommends "${missing[@]}" >>/tmp/memshard-apt.log 2>&1; then
		warn "apt-get failed; see /tmp/memshard-apt.log:"
		tail -n 20 /tmp/memshard-apt.log >&2
		exit 1
	fi
else
	say "packages: all ${#PACKAGES[@]} present"
fi

# Hugepages: a shortfall is not fatal, the appliance falls back to --no-huge
# with a log line of its own; say it here too so nobody is surprised.
hp_total() { awk '/^HugePages_Total:/ {print $2}' /proc/meminfo; }
if [ "$WANT_PAGES" -gt 0 ] 2>/dev/null; then
	have=$(hp_total)
	if [ "${have:-0}" -lt "$WANT_PAGES" ]; then
		if [ "$(id -u)" = 0 ] && echo "$WANT_PAGES" >/proc/sys/vm/nr_hugepages 2>/dev/null; then
			have=$(hp_total)
		fi
	fi
	if [ "${have:-0}" -ge "$WANT_PAGES" ]; then
		say "hugepages: $have x 2 MiB reserved"
	else
		warn "hugepages: only ${have:-0} of $WANT_PAGES x 2 MiB could be reserved;" \
			"memshard will run with --no-huge (ordinary memory, slower TLB behaviour)"
	fi
	if ! grep -q ' hugetlbfs ' /proc/mounts; then
		if [ "$(id -u)" = 0 ] && mkdir -p /dev/hugepages &&
			mount -t hugetlbfs nodev /dev/hugepages 2>/dev/null; then
			say "hugepages: mounted hugetlbfs on /dev/hugepages"
		else
			warn "hugepages: no hugetlbfs mount and could not mount one; memshard will use --no-huge"
		fi
	else
		say "hugepages: hugetlbfs mounted at $(awk '$3 == "hugetlbfs" {print $2; exit}' /proc/mounts)"
	fi
fi
exit 0
