// The malloc of a test binary that counts allocations (test_allocations,
// test_allocations_of_derivatives): it replaces malloc, which operator new, Eigen's
// aligned_malloc and everything else in the process end in, for the whole binary, and
// can make one allocation fail. Not under a sanitizer, which owns malloc.

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdlib>

#include "allocation_count.hpp"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TAPESTRY_COUNTS_ALLOCATIONS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define TAPESTRY_COUNTS_ALLOCATIONS 0
#endif
#endif
#ifndef TAPESTRY_COUNTS_ALLOCATIONS
#define TAPESTRY_COUNTS_ALLOCATIONS 1
#endif

namespace {
std::atomic<long> allocation_count{0};
// Fault injection: when set to n >= 0, the allocation after the next n ones fails.
std::atomic<long> allocations_before_failure{-1};

// Bytes requested in blocks of 1 MiB or more: what a file's size in memory shows up as.
std::atomic<std::size_t> large_bytes{0};

#if TAPESTRY_COUNTS_ALLOCATIONS
bool count_allocation(std::size_t size) {  // false: this allocation is made to fail
    allocation_count.fetch_add(1, std::memory_order_relaxed);
    if (size >= (std::size_t{1} << 20)) large_bytes.fetch_add(size, std::memory_order_relaxed);
    return allocations_before_failure.load(std::memory_order_relaxed) < 0 ||
           allocations_before_failure.fetch_sub(1, std::memory_order_relaxed) != 0;
}
#endif
}  // namespace

#if TAPESTRY_COUNTS_ALLOCATIONS
// glibc's own entry points, under the names it exports for exactly this purpose.
extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void* __libc_memalign(std::size_t, std::size_t);
void __libc_free(void*);

void* malloc(std::size_t size) {
    if (!count_allocation(size)) return nullptr;
    return __libc_malloc(size);
}
void* calloc(std::size_t count, std::size_t size) {
    if (!count_allocation(count * size)) return nullptr;
    return __libc_calloc(count, size);
}
void* realloc(void* p, std::size_t size) {
    if (!count_allocation(size)) return nullptr;
    return __libc_realloc(p, size);
}
void* aligned_alloc(std::size_t alignment, std::size_t size) {
    if (!count_allocation(size)) return nullptr;
    return __libc_memalign(alignment, size);
}
void* memalign(std::size_t alignment, std::size_t size) {
    if (!count_allocation(size)) return nullptr;
    return __libc_memalign(alignment, size);
}
int posix_memalign(void** out, std::size_t alignment, std::size_t size) {
    *out = count_allocation(size) ? __libc_memalign(alignment, size) : nullptr;
    return *out == nullptr ? ENOMEM : 0;
}
void free(void* p) { __libc_free(p); }
}
#endif

namespace test {

long allocations_so_far() { return allocation_count.load(); }
bool counts_allocations() { return TAPESTRY_COUNTS_ALLOCATIONS != 0; }
std::size_t large_bytes_so_far() { return large_bytes.load(); }
void fail_allocation_after(long n) { allocations_before_failure = n; }
bool stop_failing_allocations() { return allocations_before_failure.exchange(-1) < 0; }

}  // namespace test
