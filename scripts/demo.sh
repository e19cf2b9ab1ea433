#!/usr/bin/env bash
# The README's first command: install dependencies, build, and run the DifFSS loop on the
# embedded default (configs/demo.toml: synthetic dataset, tiny ControlNet, tiny HSNet).
# Prints the results table (with and without auxiliary supports) and the report's path.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
exec ./build/bin/difss-host --plugin-path build/plugins-out --pipeline configs/demo.toml "$@"
