// The heap allocations the test_allocations binary has made so far: its
// test_allocations.cpp replaces malloc to count them, except under a sanitizer.
#pragma once

namespace test {

long allocations_so_far();
bool counts_allocations();  // false under a sanitizer, which owns malloc

template <class Call>
long allocations_during(Call&& call, int times) {
    const long before = allocations_so_far();
    for (int i = 0; i < times; ++i) call();
    return allocations_so_far() - before;
}

}  // namespace test
