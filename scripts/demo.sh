#!/usr/bin/env bash
# The README's first command: install dependencies, build, and run the DifFSS loop on the
# embedded default (configs/demo.toml). Prints the results table and the report's path.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
# build/test-plugins: the weight-free test sampler and segmenter the interim demo uses.
exec ./build/bin/difss-host --plugin-path build/plugins-out --plugin-path build/test-plugins \
  --pipeline configs/demo.toml "$@"
