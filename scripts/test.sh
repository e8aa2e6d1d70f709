#!/usr/bin/env bash
# Checks the formatting (.clang-format), then builds and runs the suite with two compilers,
# warnings as errors in both. g++ (Release) builds the examples and benchmarks and runs
# them and every test that is not a unit test (each header compiled on its own, the
# include layers, compile-fail snippets, the consumer build, MPI), and checks that the
# unit tests compile without a warning (-fsyntax-only); it also builds four numerics
# unit tests at -O3 -march=native and runs them. clang++ builds the unit tests under
# AddressSanitizer and UndefinedBehaviorSanitizer (-O0) and runs them with the compile-fail
# tests, on two threads. Between the two, one training example under valgrind; after
# them, the thread tests under ThreadSanitizer and libFuzzer on the file loaders, 60 s
# each, both at once.
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

# g++ builds the examples and benchmarks (on: a missing dependency is an error) and
# checks the unit tests; clang++ builds the unit tests once, sanitized, and runs them.
# Why not build and run the unit tests with g++ as well: it took 27 of CI's 60 minutes,
# the unit tests three quarters of that, for what the sanitized build runs anyway. What
# the unit tests need from a second compiler is its warnings, and -fsyntax-only gives
# g++'s front end all of them, in half the time of compiling (test_derivatives_of_ops.cpp:
# 46 s against 82 s at -O1). The warnings g++ gives only after optimising (-Wrestrict,
# -Wmaybe-uninitialized, ...) show where the examples and benchmarks meet them, compiled
# at Release's -O3, and the library's kernels are run compiled by g++ at -O3 there too
# (examples, bench_*_agree).
# The four unit tests that the -O3 -march=native stage builds, with g++'s warnings as
# errors there: the g++ check leaves them to it (tests/CMakeLists.txt says what that gives up).
native_tests=(test_numerics test_softmax test_derivatives_of_softmax test_derivatives_of_ops)
dir="build/test-g++"
stage "g++: build the examples and benchmarks, check the unit tests"
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=g++ "${launcher[@]}" \
    -DTAPESTRY_BUILD_TESTS=ON -DTAPESTRY_BUILD_EXAMPLES=ON -DTAPESTRY_BUILD_BENCHMARKS=ON \
    -DTAPESTRY_UNIT_TESTS=SYNTAX_ONLY "-DTAPESTRY_UNIT_TESTS_NOT_IN_ALL=$(IFS=';'; echo "${native_tests[*]}")" >/dev/null
cmake --build "$dir" -j "$jobs"
# Products and large loops run on TAPESTRY_NUM_THREADS threads (default: the cores).
stage "g++: test, on one thread"
TAPESTRY_NUM_THREADS=1 ctest --test-dir "$dir" -j "$jobs" --output-on-failure

# The unit tests that check numerics most closely, compiled as a user's release build
# often is: -O3 -march=native, with FMA contraction and the widest packets. The -O0
# sanitized build below does not see what depends on them: this build found a defect in
# prod's Hessian-vector product and three tests that assumed exact finite-difference steps
# (aa3c6ae). About six minutes on two cores, for four of the unit tests.
dir="build/test-native"
stage "g++ -O3 -march=native: build and run ${native_tests[*]}"
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=g++ "${launcher[@]}" \
    -DTAPESTRY_NATIVE=ON -DTAPESTRY_BUILD_TESTS=ON -DTAPESTRY_BUILD_EXAMPLES=OFF -DTAPESTRY_BUILD_BENCHMARKS=OFF \
    -DTAPESTRY_MPI_TESTS=OFF >/dev/null
cmake --build "$dir" -j "$jobs" --target "${native_tests[@]}"
for test in "${native_tests[@]}"; do TAPESTRY_NUM_THREADS=1 "$dir/tests/$test"; done

# Valgrind memcheck over one training example (one short epoch on real data). OpenMP's
# worker threads are alive at exit, so their stacks are "possibly lost": not shown.
stage "valgrind memcheck: examples/tied_autoencoder, 1 epoch on 300 examples"
valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect --show-possibly-lost=no --quiet \
    build/test-g++/examples/tied_autoencoder --epochs 1 --limit 300 --out build/valgrind-out

# The sanitized builds carry line tables only: the reports still give file and line,
# in objects a quarter the size of -g's. UndefinedBehaviorSanitizer leaves out its vptr
# check (a call through a pointer to an object of another dynamic type): it made the
# build a fifth slower (test_derivatives_of_ops.cpp: 77 s against 61 s), and tapestry's
# polymorphic objects are few: the tape's nodes (made by one function, called by the
# tape) and the optimizers' update rules. AddressSanitizer's build compiles at -O0: the
# unit tests compile in half the time of -O1 (test_hvp: 95 s against 213 s of clang++)
# and run fast enough unoptimised, all but test_parallel (254 s against 23 s), whose
# products cut among threads are compiled at -O1 still. ThreadSanitizer's build, three
# tests of threads, compiles at -O1, as its docs advise. Precompiled headers for the unit
# tests (clang++'s, without CMake's system-header prologue, which silences the library's
# warnings) were tried and showed no gain: 3253 s of compiles for this build with them
# (25 min on two cores), 3204 s without (24 min; clean clones of 08cabc2 and 483478a,
# nothing else running). A subset of six targets had read 257 s against 235 s.
unoptimised_build=(-DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O0 -gline-tables-only -DNDEBUG"
    -DTAPESTRY_OPTIMISED_TESTS=test_parallel)
sanitized_build=(-DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -gline-tables-only -DNDEBUG")

dir="build/test-sanitizers"
stage "clang++ with AddressSanitizer and UndefinedBehaviorSanitizer: build"
cmake -S . -B "$dir" -G Ninja "${unoptimised_build[@]}" -DCMAKE_CXX_COMPILER=clang++ "${launcher[@]}" \
    -DTAPESTRY_BUILD_TESTS=ON -DTAPESTRY_BUILD_EXAMPLES=OFF -DTAPESTRY_BUILD_BENCHMARKS=OFF -DTAPESTRY_MPI_TESTS=OFF \
    "-DCMAKE_CXX_FLAGS=-fsanitize=address,undefined -fno-sanitize=vptr -fno-sanitize-recover=all -fno-omit-frame-pointer" >/dev/null
cmake --build "$dir" -j "$jobs"
# On two threads, so that the products and loops cut among threads run their pieces
# (small operands, most of the tests', run in one piece, as on one thread; test_parallel
# compares 1, 2 and 3 threads itself). OMP_WAIT_POLICY=passive: threads waiting for work
# sleep rather than spin, so that two tests at once, two threads each, share the two
# cores. The consumer test, which checks the CMake package, runs in the g++ build only.
stage "clang++ with AddressSanitizer and UndefinedBehaviorSanitizer: test, on two threads"
TAPESTRY_NUM_THREADS=2 OMP_WAIT_POLICY=passive ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1 ctest --test-dir "$dir" -j "$jobs" -E '^consumer:' --output-on-failure

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
