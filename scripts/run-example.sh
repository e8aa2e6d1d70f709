#!/usr/bin/env bash
# Builds and runs the tied autoencoder example. Installs missing Debian packages first.
# Usage: scripts/run-example.sh
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DTAPESTRY_BUILD_TESTS=OFF >/dev/null
cmake --build build/release --target tied_autoencoder
build/release/examples/tied_autoencoder
