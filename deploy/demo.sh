#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# `make run`: the local demo. The appliance's data path arrives with issue 3;
# until then this checks the example configuration with the daemon and says so.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build/release}
"$BUILD/memshard" -c config/memshard.conf --check || exit 1
echo "demo: the appliance data path (issue 3) is not built yet; nothing more to run."
