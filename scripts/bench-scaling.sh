#!/usr/bin/env bash
# Throughput of one run shared by MPI ranks vs one process (docs/SCALING.md "Measured"):
#   generate: configs/demo-classic.toml in mode = "generate" (100 pairs x 4 tiny-ControlNet images)
#   evaluate: configs/coco128-prototype.toml (355 episodes, prototype segmenter, needs ../shared)
# Layouts, interleaved round by round: 1 process x 2 threads, 1 rank x 1 thread, 2 ranks x 1
# thread. Prints each run's wall time and the median items/s per layout.
#   bash scripts/bench-scaling.sh [ROUNDS=3]
# GEN_IMAGES=K generates for K images per class instead of the demo's 20 (5 classes: 5K pairs).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
GEN_IMAGES=${GEN_IMAGES:-20}
HOST=./build/bin/difss-host
MPIRUN=(mpirun --oversubscribe)
[ "$(id -u)" -eq 0 ] && MPIRUN+=(--allow-run-as-root)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

make_pipeline() {  # SRC MODE OUT -> pipeline file with its output (and mode) replaced
  local src=$1 mode=$2 out=$3 f="$WORK/$(basename "$3").toml"
  sed -e "s#^output = .*#output = \"$out\"#" "$src" > "$f"
  if [ "$mode" = generate ]; then
    sed -i -e 's#^\[pipeline\]#[pipeline]\nmode = "generate"#' -e '/^\[segmenter\]/,$d' \
        -e "s#images_per_class = 20#images_per_class = $GEN_IMAGES#" "$f"
  fi
  # relative paths in the source config are relative to configs/
  sed -i -e "s#\"\.\./\.\./shared#\"$(realpath ..)/shared#g" "$f"
  echo "$f"
}

declare -A times
run_layout() {  # NAME WORKLOAD SRC MODE ITEMS ROUND
  local name=$1 workload=$2 src=$3 mode=$4 items=$5 round=$6 out="$WORK/$2-$1-$6"
  local f; f=$(make_pipeline "$src" "$mode" "$out")
  local t0 t1
  t0=$(date +%s.%N)
  case $name in
    proc-2t) "$HOST" --plugin-path build/plugins-out --threads 2 --pipeline "$f" > "$out.log" 2>&1 ;;
    mpi-1x1) "${MPIRUN[@]}" -np 1 "$HOST" --plugin-path build/plugins-out --threads 1 --pipeline "$f" > "$out.log" 2>&1 ;;
    mpi-2x1) "${MPIRUN[@]}" -np 2 "$HOST" --plugin-path build/plugins-out --threads 1 --pipeline "$f" > "$out.log" 2>&1 ;;
  esac
  t1=$(date +%s.%N)
  local s rate
  s=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}')
  rate=$(awk -v n="$items" -v s="$s" 'BEGIN {printf "%.3f", n / s}')
  printf '%-9s %-8s round %d: %7.2f s  %7.2f items/s\n' "$workload" "$name" "$round" "$s" "$rate"
  times[$workload/$name]+="$rate "
}

for r in $(seq 1 "$ROUNDS"); do
  for layout in proc-2t mpi-1x1 mpi-2x1; do
    run_layout "$layout" generate configs/demo-classic.toml generate $((5 * GEN_IMAGES)) "$r"
    if [ -d ../shared/data/coco128-seg ]; then
      run_layout "$layout" evaluate configs/coco128-prototype.toml evaluate 355 "$r"
    fi
  done
done
echo
echo "median items/s over $ROUNDS rounds:"
for k in $(echo "${!times[@]}" | tr ' ' '\n' | sort); do
  printf '  %-20s %8.2f\n' "$k" "$(echo "${times[$k]}" | tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')"
done
