#!/usr/bin/env bash
# Builds and runs the whole test suite with g++ and with clang++, warnings as
# errors (Release, as users build). Installs missing Debian packages first.
# Usage: scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh dataset-fashion-mnist

launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
jobs=$(nproc)

for compiler in g++ clang++; do
    dir="build/test-${compiler}"
    echo "==== ${compiler}: build"
    cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER="$compiler" "${launcher[@]}" >/dev/null
    cmake --build "$dir" -j "$jobs"
    echo "==== ${compiler}: test"
    ctest --test-dir "$dir" -j "$jobs" --output-on-failure
done
