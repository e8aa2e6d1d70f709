#pragma once
// Memory for values computed without a tape (plain inference and constants), kept
// per thread for reuse.
//
// Why: without a tape every value is a fresh allocation, and glibc serves the large
// ones (a 784 x 256 float batch is 800 KB) with mmap and returns them to the system
// when freed, so each forward pass would page-fault all of its values in again. A
// model's shapes repeat from call to call, so a freed buffer is kept and handed to the
// next value of the same size.

#include <cstddef>
#include <memory>
#include <new>
#include <vector>

namespace tapestry::detail {

class ValueCache {
public:
    // A buffer of at least `bytes` bytes, 64-byte aligned, given back to the cache of
    // whichever thread drops the last reference.
    static std::shared_ptr<void> take(std::size_t bytes) {
        bytes = (bytes + alignment - 1) / alignment * alignment;
        void* data = nullptr;
        if (ValueCache* cache = of_this_thread()) data = cache->reuse(bytes);
        if (data == nullptr) data = ::operator new(bytes, std::align_val_t{alignment});
        return {data, [bytes](void* p) { give_back(p, bytes); }};
    }

private:
    static constexpr std::size_t alignment = 64;
    static constexpr std::size_t max_kept = 32;  // per thread: a model's worth of activations

    struct Buffer {
        void* data;
        std::size_t bytes;
    };

    ~ValueCache() {
        alive() = false;
        for (const Buffer& b : kept_) ::operator delete(b.data, std::align_val_t{alignment});
    }

    // A trivially destructible flag outlives the cache, so a value dropped during
    // thread exit (after the cache is gone) is freed instead of kept.
    static bool& alive() {
        thread_local bool flag = true;
        return flag;
    }
    static ValueCache* of_this_thread() {
        if (!alive()) return nullptr;
        thread_local ValueCache cache;
        return &cache;
    }

    void* reuse(std::size_t bytes) {
        for (std::size_t i = 0; i < kept_.size(); ++i)
            if (kept_[i].bytes == bytes) {
                void* data = kept_[i].data;
                kept_[i] = kept_.back();
                kept_.pop_back();
                return data;
            }
        return nullptr;
    }

    static void give_back(void* data, std::size_t bytes) {
        ValueCache* cache = of_this_thread();
        if (cache != nullptr && cache->kept_.size() < max_kept) {
            cache->kept_.push_back({data, bytes});
            return;
        }
        ::operator delete(data, std::align_val_t{alignment});
    }

    std::vector<Buffer> kept_;
};

}  // namespace tapestry::detail
