#!/usr/bin/env bash
# The README's second command: install dependencies, build, run the whole test suite.
# Tests that need ../shared (real images and weights) skip with a message where it is absent;
# point DIFSS_SHARED_DIR elsewhere to use another copy.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
cd "${DIFSS_BUILD_DIR:-build}"
ctest --output-on-failure --timeout 900 -j "${DIFSS_TEST_JOBS:-1}"
