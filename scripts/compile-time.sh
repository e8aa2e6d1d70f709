#!/usr/bin/env bash
# Compile time of one Model B training step with tapestry against its hand-written
# Eigen twin (bench/compile_time/), with g++ and clang++ at -O3.
#
# Each file is compiled RUNS times (default 5), the two files alternating so that a
# change in the machine's load affects both alike, and the fastest user-CPU time of
# each is reported: on a shared machine the wall time of a single run can vary by
# half, the fastest CPU time by a few percent.
# Needs /usr/bin/time (Debian: time). Usage: scripts/compile-time.sh [RUNS]
#
# scripts/compile-time.sh instructions: instead of the clock, the instructions each
# compiler executes (all its processes), counted once by valgrind's cachegrind
# (Debian: valgrind). Deterministic, but blind to cache misses; about half an hour.
set -euo pipefail
cd "$(dirname "$0")/.."

quotient() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }  # awk: Debian's base system has it, bc not

if [ "${1:-}" = instructions ]; then
    out=$(mktemp -d)
    trap 'rm -rf "$out"' EXIT
    instructions() {  # compiler file
        rm -f "$out"/*
        valgrind --tool=cachegrind --cache-sim=no --trace-children=yes --cachegrind-out-file="$out/%p" \
            --log-file="$out/log.%p" "$1" -std=c++20 -O3 -DNDEBUG -Iinclude -isystem /usr/include/eigen3 \
            -c "$2" -o /dev/null
        cat "$out"/[0-9]* | awk '/^summary:/ { total += $2 } END { printf "%.0f", total }'
    }
    printf '| compiler | tapestry step (instructions) | hand-written step | ratio |\n|---|--:|--:|--:|\n'
    for compiler in g++ clang++; do
        o=$(instructions "$compiler" bench/compile_time/model_b_tapestry.cpp)
        h=$(instructions "$compiler" bench/compile_time/model_b_hand.cpp)
        printf '| %s | %s G | %s G | %s |\n' "$compiler" "$(quotient "$o" 1e9)" "$(quotient "$h" 1e9)" \
            "$(quotient "$o" "$h")"
    done
    exit 0
fi
runs=${1:-5}

user_seconds() {  # compiler file
    local out
    out=$( { /usr/bin/time -f '%U' "$1" -std=c++20 -O3 -DNDEBUG -Iinclude -isystem /usr/include/eigen3 \
        -c "$2" -o /dev/null; } 2>&1 )
    echo "${out##*$'\n'}"
}

fastest() { printf '%s\n' "$@" | sort -n | head -1; }

printf '| compiler | tapestry step (s) | hand-written step (s) | ratio |\n|---|--:|--:|--:|\n'
for compiler in g++ clang++; do
    ours=() hand=()
    for _ in $(seq "$runs"); do
        ours+=("$(user_seconds "$compiler" bench/compile_time/model_b_tapestry.cpp)")
        hand+=("$(user_seconds "$compiler" bench/compile_time/model_b_hand.cpp)")
    done
    o=$(fastest "${ours[@]}") h=$(fastest "${hand[@]}")
    printf '| %s | %.2f | %.2f | %s |\n' "$compiler" "$o" "$h" "$(quotient "$o" "$h")"
done
