#!/usr/bin/env bash
# Checks the formatting (.clang-format), then builds and runs the whole suite twice:
# with g++ (Release, the unit tests at -O1; examples and benchmarks too; on one thread,
# then the unit tests on two) and with clang++ under AddressSanitizer and UndefinedBehaviorSanitizer (-O0,
# the unit tests, compile-fail and consumer tests, on two threads). Warnings are errors in both; the suite compiles
# every header on its own and checks that headers include only downward. Then the
# thread tests under ThreadSanitizer, one training example under valgrind, and
# libFuzzer on the file loaders, 60 s each, both at once.
# Installs missing Debian packages first. Each stage prints the minutes it started at.
# Usage: scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

stage() { printf '==== [%2d min] %s\n' $((SECONDS / 60)) "$*"; }

scripts/install-deps.sh dataset-fashion-mnist libclang-rt-14-dev libomp-14-dev valgrind clang-format-16 \
    libopenmpi-dev openmpi-bin

stage "clang-format: every C++ file follows .clang-format (scripts/format.sh applies it)"
git ls-files '*.hpp' '*.cpp' | xargs clang-format-16 --dry-run --Werror

launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
jobs=$(nproc)

# g++ builds everything, examples and benchmarks included (on: a missing dependency is
# an error). clang++ builds the unit tests once, sanitized: a second, plain clang++
# build would add minutes and no coverage (the same warnings, the same tests).
dir="build/test-g++"
stage "g++: build"
# The unit tests compile at -O1, the examples and benchmarks at Release's -O3: the tests
# take a quarter less time than at -O3 (test_jvp: 202 s in one file at -O1, 228 s at -O2,
# 276 s at -O3; 48 s against 55 s at -O2 for test_jvp_elementwise.cpp). A trade: a
# warning that g++ gives only after -O2's or -O3's inlining in a test's code (as its
# -Wrestrict false positive in random_graph.hpp did) shows only if the examples or
# benchmarks meet it, and the library's kernels run fully optimised only there
# (bench_*_agree check their results).
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=g++ "${launcher[@]}" \
    -DTAPESTRY_BUILD_TESTS=ON -DTAPESTRY_BUILD_EXAMPLES=ON -DTAPESTRY_BUILD_BENCHMARKS=ON \
    -DTAPESTRY_TEST_OPTIMIZATION=-O1 >/dev/null
cmake --build "$dir" -j "$jobs"
# Products and large loops run on TAPESTRY_NUM_THREADS threads (default: the cores).
# The suite runs on one thread, which gives the single-threaded code's results, then
# the unit tests again on two, one test at a time (two at once would oversubscribe).
stage "g++: test, on one thread"
TAPESTRY_NUM_THREADS=1 ctest --test-dir "$dir" -j "$jobs" --output-on-failure
stage "g++: the unit tests on two threads"
TAPESTRY_NUM_THREADS=2 ctest --test-dir "$dir" -L unit --output-on-failure

# Valgrind memcheck over one training example (one short epoch on real data). OpenMP's
# worker threads are alive at exit, so their stacks are "possibly lost": not shown.
stage "valgrind memcheck: examples/tied_autoencoder, 1 epoch on 300 examples"
valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect --show-possibly-lost=no --quiet \
    build/test-g++/examples/tied_autoencoder --epochs 1 --limit 300 --out build/valgrind-out

# The sanitized builds carry line tables only: the reports still give file and line,
# in objects a quarter the size of -g's. AddressSanitizer's build compiles at -O0: the
# unit tests compile in half the time of -O1 (test_hvp: 95 s against 213 s of clang++)
# and run fast enough unoptimised, all but test_parallel (254 s against 23 s), whose
# products cut among threads are compiled at -O1 still. ThreadSanitizer's build, three
# tests of threads, compiles at -O1, as its docs advise.
unoptimised_build=(-DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O0 -gline-tables-only -DNDEBUG"
    -DTAPESTRY_OPTIMISED_TESTS=test_parallel)
sanitized_build=(-DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -gline-tables-only -DNDEBUG")

dir="build/test-sanitizers"
stage "clang++ with AddressSanitizer and UndefinedBehaviorSanitizer: build"
cmake -S . -B "$dir" -G Ninja "${unoptimised_build[@]}" -DCMAKE_CXX_COMPILER=clang++ "${launcher[@]}" \
    -DTAPESTRY_BUILD_TESTS=ON -DTAPESTRY_BUILD_EXAMPLES=OFF -DTAPESTRY_BUILD_BENCHMARKS=OFF -DTAPESTRY_MPI_TESTS=OFF \
    "-DCMAKE_CXX_FLAGS=-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" >/dev/null
cmake --build "$dir" -j "$jobs"
stage "clang++ with AddressSanitizer and UndefinedBehaviorSanitizer: test, on two threads"
# OMP_WAIT_POLICY=passive: threads waiting for work sleep rather than spin, so that two
# tests at once, two threads each, share the two cores.
TAPESTRY_NUM_THREADS=2 OMP_WAIT_POLICY=passive ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1 ctest --test-dir "$dir" -j "$jobs" --output-on-failure

# ThreadSanitizer: the tests that run threads (separate models, replicas of one model
# and DataParallel, thread-local tapes and anomaly scopes). Without OpenMP: Debian's
# libomp is not built for ThreadSanitizer, which then reports races inside libomp
# itself. So no sanitizer checks the OpenMP pieces for races: they write disjoint
# ranges by construction (test_parallel checks the ranges), and the tests that compare
# two threads with one bit for bit would see two pieces writing the same element.
dir="build/test-tsan"
stage "clang++ with ThreadSanitizer: build and run the thread tests"
cmake -S . -B "$dir" -G Ninja "${sanitized_build[@]}" -DCMAKE_CXX_COMPILER=clang++ "${launcher[@]}" \
    -DTAPESTRY_BUILD_TESTS=ON -DTAPESTRY_BUILD_EXAMPLES=OFF -DTAPESTRY_BUILD_BENCHMARKS=OFF -DTAPESTRY_OPENMP=OFF -DTAPESTRY_MPI_TESTS=OFF \
    "-DCMAKE_CXX_FLAGS=-fsanitize=thread" >/dev/null
cmake --build "$dir" -j "$jobs" --target test_threads test_anomaly test_memory
for test in test_threads test_anomaly test_memory; do TSAN_OPTIONS=halt_on_error=1 "$dir/tests/$test"; done

stage "libFuzzer on the IDX reader and the checkpoint loader"
scripts/fuzz.sh 60
stage "done"
