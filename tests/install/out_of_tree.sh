#!/usr/bin/env bash
# usage: out_of_tree.sh BUILD_DIR SOURCE_DIR
# Prints "N passed, M failed" and exits non-zero on any failure.
set -u
build=$1 src=$2
tmp=$(mktemp -d /tmp/difss-install-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
check() {  # check "what" command...
  local what=$1; shift
  if "$@" >"$tmp/out.txt" 2>&1; then pass=$((pass+1)); echo "ok   - $what";
  else fail=$((fail+1)); echo "FAIL - $what"; sed 's/^/       /' "$tmp/out.txt" | tail -20; fi
}
contains() { grep -q -- "$1" "$tmp/out.txt"; }

check "cmake --install into a fresh prefix" cmake --install "$build" --prefix "$tmp/prefix"
check "package config is installed" test -f "$tmp/prefix/lib/cmake/difss/difssConfig.cmake"
gen=""; command -v ninja >/dev/null && gen="-G Ninja"
check "configure the example plugin out of tree" \
  cmake -S "$src/sdk/examples/invert-condition" -B "$tmp/example" $gen -DCMAKE_BUILD_TYPE=Release \
        -Ddifss_DIR="$tmp/prefix/lib/cmake/difss"
check "build the example plugin" cmake --build "$tmp/example"
host="$tmp/prefix/bin/difss-host"
check "installed host finds its installed plugins" bash -c "'$host' plugins list | grep -q org.difss.condition.canny"
check "installed host inspects the out-of-tree plugin" bash -c \
  "'$host' --plugin-path '$tmp/example' plugins inspect org.example.condition.invert | grep -q invert_foreground"
cat >"$tmp/p.toml" <<TOML
[pipeline]
mode = "generate"
output = "$tmp/run"
[dataset]
kind = "folder"
root = "."
[condition]
plugin = "org.example.condition.invert"
params = { invert_foreground = true }
TOML
check "installed host validates a pipeline using it" "$host" --plugin-path "$tmp/example" validate --no-data "$tmp/p.toml"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
