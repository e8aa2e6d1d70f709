#!/usr/bin/env bash
# Compile time of one Model B training step with tapestry against its hand-written
# Eigen twin (bench/compile_time/), with g++ and clang++ at -O3, median of 3 runs each.
# Usage: scripts/compile-time.sh
set -euo pipefail
cd "$(dirname "$0")/.."

median_seconds() {  # compiler file
    local times=()
    for _ in 1 2 3; do
        local start end
        start=$(date +%s.%N)
        "$1" -std=c++20 -O3 -DNDEBUG -Iinclude -isystem /usr/include/eigen3 -c "$2" -o /dev/null
        end=$(date +%s.%N)
        times+=("$(echo "$end - $start" | bc)")
    done
    printf '%s\n' "${times[@]}" | sort -n | sed -n 2p
}

printf '| compiler | tapestry step (s) | hand-written step (s) | ratio |\n|---|--:|--:|--:|\n'
for compiler in g++ clang++; do
    ours=$(median_seconds "$compiler" bench/compile_time/model_b_tapestry.cpp)
    hand=$(median_seconds "$compiler" bench/compile_time/model_b_hand.cpp)
    printf '| %s | %.2f | %.2f | %.2f |\n' "$compiler" "$ours" "$hand" "$(echo "$ours / $hand" | bc -l)"
done
