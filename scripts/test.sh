#!/usr/bin/env bash
# The README's second command: install dependencies, build, run the whole test suite.
# Extra arguments go to ctest (e.g. `-L fast` for the quick subset, `-R test_data`).
#
# Test cases that need the shared data (real images and weights) read it from DIFSS_SHARED_DIR,
# else from the folder configured in CMake (../shared beside the sources). Where it is absent
# they are reported *skipped* and counted below; where it is present a skip is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
cd "${DIFSS_BUILD_DIR:-build}"

shared=${DIFSS_SHARED_DIR:-$(sed -n 's/^DIFSS_SHARED_DIR:PATH=//p' CMakeCache.txt)}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
ctest --output-on-failure --timeout 900 -j "${DIFSS_TEST_JOBS:-1}" "$@" | tee "$log" || status=$?

# ctest lists skipped tests as "  12 - test_data:shared (Skipped)" after "did not run".
skipped=$(grep -E '^[[:space:]]*[0-9]+ - .* \(Skipped\)$' "$log" | sed -E 's/^[[:space:]]*[0-9]+ - (.*) \(Skipped\)$/\1/' || true)
count=$(printf '%s' "$skipped" | grep -c . || true)
if [ -d "$shared" ]; then
  echo "difss: $count test(s) skipped; shared data present at $shared"
  if [ "$count" -gt 0 ]; then
    # Only test cases that need the shared data may skip, so with it present a skip means a file
    # of it is missing or a test skips for another reason: both are failures.
    echo "difss: FAILED: tests skipped although the shared data is present:" $skipped >&2
    status=1
  fi
else
  echo "difss: $count test(s) skipped (they need the shared data, absent at ${shared:-<unset>})"
fi
exit "$status"
