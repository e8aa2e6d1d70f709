#!/usr/bin/env bash
# Installs the Debian packages tapestry's builds need, if any is missing.
# Usage: scripts/install-deps.sh [package...]   (extra packages on top of the base set)
set -euo pipefail

packages=(cmake ninja-build g++ clang libeigen3-dev catch2 nlohmann-json3-dev zlib1g-dev
          pkg-config libcli11-dev libstb-dev libbenchmark-dev "$@")
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "installing: ${missing[*]}"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
