#pragma once
// A bump allocator for everything one training step records: values, adjoints and
// backward closures. rewind() forgets the contents but keeps the blocks, so a step
// of the same shapes after a rewind makes no heap allocation.

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <new>
#include <vector>

#include "tapestry/kernels/parallel.hpp"

namespace tapestry::detail {

class Arena {
public:
    // Cache-line alignment: Eigen's packets are at most 64 bytes wide.
    static constexpr std::size_t alignment = 64;

    Arena() = default;
    Arena(const Arena&) = delete;
    Arena& operator=(const Arena&) = delete;
    ~Arena() {
        for (Block& block : blocks_) ::operator delete(block.data, std::align_val_t{alignment});
    }

    // Inlined: a small node makes three of these (docs/performance.md).
    [[gnu::always_inline]] void* allocate(std::size_t bytes) {
        bytes = round_up(std::max<std::size_t>(bytes, 1));
        if (current_ < blocks_.size() && fits(blocks_[current_], bytes)) return bump(blocks_[current_], bytes);
        return allocate_past_current(bytes);
    }

    template <class T>
    T* allocate_array(std::size_t count) {
        return static_cast<T*>(allocate(count * sizeof(T)));
    }

    void rewind() {
        for (Block& block : blocks_) block.used = 0;
        current_ = 0;
    }

    // Zero-fills everything handed out since the last rewind (a large block on several
    // threads: at a few megabytes the fill is memory-bound, and each core has its own path).
    void zero_used() {
        constexpr double min_bytes_per_thread = 1 << 18;
        for (Block& block : blocks_) {
            const auto used = static_cast<Index>(block.used);
            const int pieces = pieces_for(double(used), min_bytes_per_thread, used / 4096);
            run_pieces(pieces, [&](int p) {
                const auto [begin, end] = piece_range(used, pieces, p, 64);
                std::memset(block.data + begin, 0, static_cast<std::size_t>(end - begin));
            });
        }
    }

    std::size_t bytes_reserved() const {
        std::size_t total = 0;
        for (const Block& block : blocks_) total += block.size;
        return total;
    }

    std::size_t bytes_used() const {
        std::size_t total = 0;
        for (const Block& block : blocks_) total += block.used;
        return total;
    }

private:
    struct Block {
        std::byte* data;
        std::size_t size;
        std::size_t used;
    };

    static constexpr std::size_t round_up(std::size_t n) { return (n + alignment - 1) / alignment * alignment; }

    static bool fits(const Block& block, std::size_t bytes) { return block.used + bytes <= block.size; }

    static void* bump(Block& block, std::size_t bytes) {
        void* p = block.data + block.used;
        block.used += bytes;
        return p;
    }

    // When the current block is full: the next one that fits, or a new one. Not inlined
    // into allocate(), which every recording operation inlines.
    [[gnu::noinline]] void* allocate_past_current(std::size_t bytes) {
        for (; current_ < blocks_.size(); ++current_)
            if (fits(blocks_[current_], bytes)) return bump(blocks_[current_], bytes);
        add_block(bytes);
        return bump(blocks_.back(), bytes);
    }

    // Blocks grow geometrically so that a step needs few of them; after the first
    // step they are all reused in order.
    void add_block(std::size_t at_least) {
        std::size_t previous = blocks_.empty() ? 0 : blocks_.back().size;
        std::size_t size = std::max({at_least, 2 * previous, std::size_t{1} << 16});
        auto* data = static_cast<std::byte*>(::operator new(size, std::align_val_t{alignment}));
        blocks_.push_back(Block{data, size, 0});
        current_ = blocks_.size() - 1;
    }

    std::vector<Block> blocks_;
    std::size_t current_ = 0;
};

}  // namespace tapestry::detail
