#!/usr/bin/env bash
# Builds the weight parsers' libFuzzer targets standalone with clang++ (AddressSanitizer +
# UndefinedBehaviorSanitizer; the parsers are torch-free, so no LibTorch is involved) and runs
# each for a bounded time on a corpus seeded from core/weights/tests/data.
#
#   core/weights/fuzz/run-libfuzzer.sh [SECONDS_PER_TARGET=60] [OUT_DIR=/tmp/difss-weights-fuzz]
#
# A crash leaves crash-*/leak-*/oom-* files in OUT_DIR and makes the script exit non-zero.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
weights=$(cd "$here/.." && pwd)
seconds=${1:-60}
out=${2:-/tmp/difss-weights-fuzz}
cxx=${CXX_FUZZ:-clang++}
mkdir -p "$out"

flags=(-std=c++17 -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined
       -fno-sanitize-recover=undefined -DDIFSS_LIBFUZZER -I"$weights/include" -I"$weights/src")
status=0
for target in torch_checkpoint safetensors; do
  bin="$out/fuzz_weights_$target"
  echo "== building $bin"
  "$cxx" "${flags[@]}" "$weights"/src/format/*.cpp "$here/fuzz_$target.cpp" -o "$bin"
  corpus="$out/corpus_$target"
  mkdir -p "$corpus"
  case $target in
    torch_checkpoint) cp "$weights"/tests/data/*.pth "$weights"/tests/data/*.ckpt "$corpus"/ ;;
    safetensors) cp "$weights"/tests/data/*.safetensors "$corpus"/ ;;
  esac
  echo "== running $target for ${seconds}s"
  # -malloc_limit_mb turns any single allocation over 256 MiB into a reported failure: the
  # parsers must never allocate in proportion to a size field they have not checked.
  if ! (cd "$out" && "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=256 \
          -max_len=65536 -print_final_stats=1 -artifact_prefix="$out/$target-" "$corpus" \
          > "$out/$target.log" 2>&1); then
    echo "!! $target found a problem; see $out/$target.log"
    status=1
  fi
  grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb|Done)|#[0-9]+ *DONE" "$out/$target.log" || true
  tail -n 3 "$out/$target.log"
done
exit $status
