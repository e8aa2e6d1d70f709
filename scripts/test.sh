#!/usr/bin/env bash
# Checks the formatting (.clang-format), builds and runs the whole test suite with g++
# and the unit tests with clang++ (Release, warnings as errors; the suite compiles every header on its
# own and checks that headers include only downward), then the unit tests again with
# clang++ under AddressSanitizer and UndefinedBehaviorSanitizer, the thread tests under
# ThreadSanitizer, one training example under valgrind, and fuzzes the file loaders for
# 60 s each (libFuzzer).
# Installs missing Debian packages first.
# Usage: scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh dataset-fashion-mnist libclang-rt-14-dev valgrind clang-format-16

echo "==== clang-format: every C++ file follows .clang-format (scripts/format.sh applies it)"
git ls-files '*.hpp' '*.cpp' | xargs clang-format-16 --dry-run --Werror

launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
jobs=$(nproc)

# Examples and benchmarks are built (and their tests run) with g++ only: they add
# minutes and no coverage of the library that the unit tests lack.
for compiler in g++ clang++; do
    dir="build/test-${compiler}"
    extras=(-DTAPESTRY_BUILD_EXAMPLES=ON -DTAPESTRY_BUILD_BENCHMARKS=ON)  # on: a missing dependency is an error
    [ "$compiler" = clang++ ] && extras=(-DTAPESTRY_BUILD_EXAMPLES=OFF -DTAPESTRY_BUILD_BENCHMARKS=OFF)
    echo "==== ${compiler}: build"
    cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER="$compiler" "${launcher[@]}" \
        -DTAPESTRY_BUILD_TESTS=ON "${extras[@]}" >/dev/null
    cmake --build "$dir" -j "$jobs"
    echo "==== ${compiler}: test"
    ctest --test-dir "$dir" -j "$jobs" --output-on-failure
done

# Valgrind memcheck over one training example (one short epoch on real data).
echo "==== valgrind memcheck: examples/tied_autoencoder, 1 epoch on 300 examples"
valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect --quiet \
    build/test-g++/examples/tied_autoencoder --epochs 1 --limit 300 --out build/valgrind-out

# Sanitizers: the unit tests only (compile-fail, consumer and header tests build other programs).
dir="build/test-sanitizers"
echo "==== clang++ with AddressSanitizer and UndefinedBehaviorSanitizer: build"
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ "${launcher[@]}" \
    -DTAPESTRY_BUILD_TESTS=ON -DTAPESTRY_BUILD_EXAMPLES=OFF -DTAPESTRY_BUILD_BENCHMARKS=OFF \
    "-DCMAKE_CXX_FLAGS=-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" >/dev/null
cmake --build "$dir" -j "$jobs"
echo "==== clang++ with AddressSanitizer and UndefinedBehaviorSanitizer: test"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir "$dir" -j "$jobs" --output-on-failure -E "^(compile_fail|consumer|header)"

# ThreadSanitizer: the tests that run threads (separate models, replicas of one model,
# thread-local tapes and anomaly scopes).
dir="build/test-tsan"
echo "==== clang++ with ThreadSanitizer: build and run the thread tests"
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ "${launcher[@]}" \
    -DTAPESTRY_BUILD_TESTS=ON -DTAPESTRY_BUILD_EXAMPLES=OFF -DTAPESTRY_BUILD_BENCHMARKS=OFF "-DCMAKE_CXX_FLAGS=-fsanitize=thread" >/dev/null
cmake --build "$dir" -j "$jobs" --target test_threads test_anomaly test_memory
for test in test_threads test_anomaly test_memory; do TSAN_OPTIONS=halt_on_error=1 "$dir/tests/$test"; done

echo "==== libFuzzer on the IDX reader and the checkpoint loader"
scripts/fuzz.sh 60
