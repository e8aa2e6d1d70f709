// The heap allocations a test binary has made so far, counted by allocation_count.cpp
// (compiled into test_allocations and test_allocations_of_derivatives), which replaces
// malloc for the whole binary; and a failure injected into one of them.
#pragma once

#include <cstddef>

namespace test {

long allocations_so_far();
bool counts_allocations();  // false under a sanitizer, which owns malloc
// Bytes asked for in blocks of 1 MiB or more: what a file's size in memory shows up as.
std::size_t large_bytes_so_far();
// The allocation after the next n ones fails (returns null: operator new throws bad_alloc).
void fail_allocation_after(long n);
// Stops injecting; true if the failure was injected since fail_allocation_after.
bool stop_failing_allocations();

template <class Call>
long allocations_during(Call&& call, int times) {
    const long before = allocations_so_far();
    for (int i = 0; i < times; ++i) call();
    return allocations_so_far() - before;
}

}  // namespace test
