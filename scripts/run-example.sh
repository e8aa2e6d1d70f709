#!/usr/bin/env bash
# Builds the tied autoencoder example and trains it on Fashion-MNIST (Caffe's
# recipe, 5 epochs); outputs go to build/tied_autoencoder_out. Installs missing
# Debian packages (and the data set) first. Extra arguments go to the example.
# Usage: scripts/run-example.sh [--epochs N] [--lr X] ...
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh dataset-fashion-mnist

cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DTAPESTRY_BUILD_TESTS=OFF >/dev/null
cmake --build build/release --target tied_autoencoder
build/release/examples/tied_autoencoder --out build/tied_autoencoder_out "$@"
