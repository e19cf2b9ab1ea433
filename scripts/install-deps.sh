#!/usr/bin/env bash
# Installs everything difss needs to build and test, from Debian 12 packages only.
# Idempotent: packages already present are skipped by apt-get; safe to run again.
set -euo pipefail

PKGS=(
  build-essential cmake ninja-build ccache pkg-config git
  libtorch-dev libopenblas0-openmp libdnnl-dev
  libboost-dev libboost-filesystem-dev
  libtomlplusplus-dev libopencv-dev libspdlog-dev catch2
  nlohmann-json3-dev libcli11-dev libdlpack-dev
  libopenmpi-dev openmpi-bin
  libgoogle-perftools-dev
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all packages present"
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
