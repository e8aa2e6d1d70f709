// The memory behind the speed: the tape's arena (tape/arena.hpp), scratch for the
// backward pass (kernels/scratch.hpp) and the cache of values made without a tape
// (tape/value_cache.hpp). Each must hand out memory that nothing else uses while it
// is live, keep it for reuse, and work when memory crosses threads. And the counted
// handle (core/keep_alive.hpp) through which Vars keep that memory alive.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <random>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "helpers.hpp"

using namespace tapestry;

TEST_CASE("scratch is taken and given back last-in first-out, aligned, without overlap") {
    auto& stack = detail::ScratchStack::of_this_thread();
    const auto outer_mark = stack.mark();
    auto* a = static_cast<double*>(stack.take(100 * sizeof(double)));
    const auto inner_mark = stack.mark();
    // Larger than anything before: forces a new chunk while `a` is live.
    auto* b = static_cast<double*>(stack.take(1 << 20));
    CHECK(reinterpret_cast<std::uintptr_t>(a) % 64 == 0);
    CHECK(reinterpret_cast<std::uintptr_t>(b) % 64 == 0);
    for (int i = 0; i < 100; ++i) a[i] = i;
    for (int i = 0; i < (1 << 17); ++i) b[i] = -1.0;
    for (int i = 0; i < 100; ++i) CHECK(a[i] == i);  // b does not overlap a
    stack.release(inner_mark);
    auto* c = static_cast<double*>(stack.take(8 * sizeof(double)));
    c[0] = 42;
    CHECK(a[99] == 99);
    stack.release(outer_mark);
    // After everything is given back the chunks are merged: the same pattern fits in one.
    auto* a2 = static_cast<char*>(stack.take(100 * sizeof(double)));
    auto* b2 = static_cast<char*>(stack.take(1 << 20));
    CHECK(b2 - a2 >= static_cast<std::ptrdiff_t>(100 * sizeof(double)));
    CHECK(b2 - a2 < static_cast<std::ptrdiff_t>(4096));  // same chunk, right after a2
    stack.release(outer_mark);
}

TEST_CASE(
    "the tape's arena hands out aligned, disjoint memory across blocks, zeroes it, and reuses it after a rewind") {
    detail::Arena arena;
    std::mt19937 rng(7);
    // Sizes from 1 byte to past a first block (64 KiB), small ones most often, as a step's.
    std::uniform_int_distribution<int> small(1, 200), large(1, 40000);
    std::vector<std::size_t> sizes;
    for (int i = 0; i < 400; ++i) sizes.push_back(static_cast<std::size_t>(i % 10 == 0 ? large(rng) : small(rng)));
    sizes.push_back(100000);  // larger than a fresh block

    const auto hand_out = [&] {
        std::vector<std::byte*> got;
        for (const std::size_t n : sizes) got.push_back(static_cast<std::byte*>(arena.allocate(n)));
        return got;
    };
    const std::vector<std::byte*> first = hand_out();
    std::size_t total = 0;
    for (std::size_t i = 0; i < sizes.size(); ++i) {
        const auto address = reinterpret_cast<std::uintptr_t>(first[i]);
        CHECK(address % detail::Arena::alignment_for(sizes[i]) == 0);
        std::memset(first[i], static_cast<int>(i % 251) + 1, sizes[i]);
        total += sizes[i];
    }
    const auto all_bytes_are = [&](std::size_t i, std::byte expected) {
        return std::all_of(first[i], first[i] + sizes[i], [&](std::byte b) { return b == expected; });
    };
    for (std::size_t i = 0; i < sizes.size(); ++i)  // no allocation overwrote another
        CHECK(all_bytes_are(i, std::byte(i % 251 + 1)));
    CHECK(arena.bytes_used() >= total);
    CHECK(arena.bytes_used() <= arena.bytes_reserved());

    arena.zero_used();
    for (std::size_t i = 0; i < sizes.size(); ++i) CHECK(all_bytes_are(i, std::byte{0}));

    // The same requests after a rewind: the same memory, no new block.
    const std::size_t reserved = arena.bytes_reserved(), used = arena.bytes_used();
    arena.rewind();
    CHECK(arena.bytes_used() == 0);
    CHECK(hand_out() == first);
    CHECK(arena.bytes_reserved() == reserved);
    CHECK(arena.bytes_used() == used);

    // Alignment asked for beyond the size's own (a step's type): honoured.
    arena.rewind();
    (void)arena.allocate(16);
    CHECK(reinterpret_cast<std::uintptr_t>(arena.allocate_aligned<64>(32)) % 64 == 0);
}

TEST_CASE("a value evaluated once into scratch holds the expression's value") {
    const Eigen::ArrayXXd x = test::random_matrix(5, 3).array();
    const detail::EvaluatedOnce<double, Dynamic, Dynamic> once(x.logistic() * 2.0);
    CHECK(once.array().isApprox(x.logistic() * 2.0, 1e-15));
}

TEST_CASE("values without a tape reuse freed buffers of the same size, and never a live one") {
    const Eigen::MatrixXd m = test::random_matrix(64, 64);
    const double* first_data = nullptr;
    {
        auto first = constant(m);
        first_data = first.value().data();
    }
    auto second = constant(m);  // same size: the freed buffer comes back
    CHECK(second.value().data() == first_data);
    auto third = constant(m);  // `second` is live: another buffer
    CHECK(third.value().data() != second.value().data());
    CHECK(Eigen::MatrixXd(third.value()) == m);
    CHECK(Eigen::MatrixXd(second.value()) == m);
}

TEST_CASE("a value made on one thread can be dropped on another") {
    std::vector<Var<double, Dynamic, Dynamic>> made;
    std::thread maker([&] {
        for (int i = 0; i < 8; ++i) made.push_back(constant(test::random_matrix(32, 32)));
    });
    maker.join();
    std::vector<const double*> made_data;
    for (const auto& v : made) made_data.push_back(v.value().data());
    bool reused = false;  // Catch's assertions are not for other threads: check after join()
    std::thread dropper([&] {
        const auto taken = constant(Eigen::MatrixXd::Ones(1, 1));  // a thread that takes values keeps what it is given
        made.clear();                                              // given back to this thread's cache
        const auto again = constant(test::random_matrix(32, 32));
        reused = std::find(made_data.begin(), made_data.end(), again.value().data()) != made_data.end();
    });
    dropper.join();
    CHECK(reused);
    // A thread that has taken no value frees what it is given (its cache has no room
    // reserved, and giving back may not allocate); checked by ASan / valgrind.
    made.push_back(constant(test::random_matrix(32, 32)));
    std::thread only_drops([&] { made.clear(); });
    only_drops.join();
    // And a thread that ends with values in its cache frees them (ASan / valgrind).
    double total = 0;
    std::thread short_lived([&] {
        for (int i = 0; i < 4; ++i) total += constant(Eigen::MatrixXd::Ones(16, 16)).value().sum();
    });
    short_lived.join();
    CHECK(total == 4 * 256.0);
}

TEST_CASE("KeepAlive counts a holder exactly while a copy of it lives, and the last gives the block back") {
    // A block that records being given back, as the value cache's do.
    static int given_back = 0;
    given_back = 0;
    detail::CountedBlock block{};
    block.holders.store(1);
    block.give_back = [](detail::CountedBlock*) noexcept { ++given_back; };
    const auto holders = [&] { return block.holders.load(); };
    {
        auto a = detail::KeepAlive::adopt(&block);  // the count already includes it
        CHECK(holders() == 1);
        CHECK(a.block() == &block);
        detail::KeepAlive b = a;
        CHECK(holders() == 2);
        detail::KeepAlive c = std::move(b);
        CHECK(holders() == 2);
        CHECK_FALSE(b);  // NOLINT(bugprone-use-after-move): a moved-from handle is empty
        c = nullptr;
        CHECK(holders() == 1);
        detail::KeepAlive d;
        CHECK_FALSE(d);
        d = a;
        CHECK(holders() == 2);
        d = std::move(a);  // lets go of what d held
        CHECK(holders() == 1);
        CHECK_FALSE(a);  // NOLINT(bugprone-use-after-move)
        const auto& same = d;
        d = same;  // self-assignment keeps its hold
        CHECK(holders() == 1);
        CHECK(d.block() == &block);
        CHECK(given_back == 0);
    }
    CHECK(given_back == 1);  // once, by the last holder
    CHECK(holders() == 0);

    // Empty handles copy, move and drop without a block.
    detail::KeepAlive empty;
    detail::KeepAlive copy = empty;
    detail::KeepAlive moved = std::move(copy);
    CHECK_FALSE(moved);
    CHECK(given_back == 1);
}

TEST_CASE("a value without a tape holds its buffer: copies share it, the last one gives it back for reuse") {
    const Eigen::MatrixXd m = test::random_matrix(37, 41);  // a size no other test uses
    const double* data = nullptr;
    Var<double, Dynamic, Dynamic> other;
    {
        Var<double, Dynamic, Dynamic> copy;
        {
            const auto original = constant(m);
            data = original.value().data();
            CHECK(reinterpret_cast<std::uintptr_t>(data) % 64 == 0);  // a cache line, as Eigen's packets want
            copy = original;
        }  // the original is gone: the copy still reads the buffer, which is not reused meanwhile
        other = constant(test::random_matrix(37, 41));
        CHECK(other.value().data() != data);
        CHECK(Eigen::MatrixXd(copy.value()) == m);
    }
    const auto again = constant(m);  // its last holder is gone: the buffer comes back
    CHECK(again.value().data() == data);
    CHECK(other.value().data() != data);
}

TEST_CASE("a value too large for the address space is refused before its size could wrap around") {
    // 2^61 - 8 doubles are 2^64 - 64 bytes: rounded up to a cache line, with a header, the
    // size would wrap to a few bytes, and forward would write far past them.
    const auto huge = Eigen::MatrixXd::Zero((Index{1} << 61) - 8, 1);  // an expression: nothing allocated
    CHECK_THROWS_AS(constant(huge), std::bad_alloc);
    Tape tape;
    CHECK_THROWS_AS(constant(huge), std::bad_alloc);                  // on a tape too
    CHECK(constant(Eigen::MatrixXd::Ones(2, 2)).value().sum() == 4);  // and the tape still works
}
