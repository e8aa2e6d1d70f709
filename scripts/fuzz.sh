#!/usr/bin/env bash
# Builds the libFuzzer targets (clang++, AddressSanitizer + UndefinedBehaviorSanitizer)
# and runs each for a bounded time, starting from the seed corpus in tests/fuzz/corpus.
# A crash stops the run and leaves its input in build/fuzz/crashes/: copy it into
# tests/fuzz/regressions/<target>/ so that CTest replays it from then on.
# Usage: scripts/fuzz.sh [seconds per target, default 60]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"

launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
dir="build/fuzz"
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ "${launcher[@]}" \
    -DTAPESTRY_FUZZ=ON -DTAPESTRY_BUILD_EXAMPLES=OFF -DTAPESTRY_BUILD_BENCHMARKS=OFF \
    "-DCMAKE_CXX_FLAGS=-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" >/dev/null
cmake --build "$dir" --target fuzz_idx fuzz_checkpoint

mkdir -p "$dir/crashes"
# Each loader's fuzzer on its own core, at the same time: one fuzzer is one process, and
# run one after the other they left a core idle for the whole stage.
fuzz() {
    local target=$1
    local work="$dir/corpus/$target"  # grows as the fuzzer finds new paths; the repo's corpus stays as it is
    mkdir -p "$work"
    "$dir/tests/fuzz/fuzz_${target}" -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$dir/crashes/${target}-" \
        "$work" "tests/fuzz/corpus/$target" >"$dir/fuzz_${target}.log" 2>&1
}
targets=(idx checkpoint)
pids=()
for target in "${targets[@]}"; do
    echo "==== fuzzing the ${target} loader for ${seconds} s"
    fuzz "$target" &
    pids+=($!)
done
failed=0
for i in "${!targets[@]}"; do
    target=${targets[$i]}
    status=0
    wait "${pids[$i]}" || status=$?
    log="$dir/fuzz_${target}.log"
    echo "==== the ${target} loader:"
    grep -E "^(stat::number_of_executed_units|stat::new_units_added|==[0-9]+==ERROR|SUMMARY|Test unit written)" "$log" || true
    if [ "$status" -ne 0 ]; then
        tail -n 40 "$log"
        echo "fuzz_${target} found a crash (exit status $status): its input is in $dir/crashes/"
        failed=1
    fi
done
exit "$failed"
