// The per-thread memory behind the speed: scratch for the backward pass
// (kernels/scratch.hpp) and the cache of values made without a tape
// (tape/value_cache.hpp). Both must hand out memory that nothing else uses while it
// is live, keep it for reuse, and work when memory crosses threads. And the shared
// handle (core/keep_alive.hpp) through which Vars keep that memory alive.

#include <cstdint>
#include <memory>
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
    std::thread dropper([&] { made.clear(); });  // given back to the dropping thread's cache
    dropper.join();
    // and a thread that ends with values in its cache frees them (checked by ASan / valgrind)
    double total = 0;  // Catch's assertions are not for other threads: check after join()
    std::thread short_lived([&] {
        for (int i = 0; i < 4; ++i) total += constant(Eigen::MatrixXd::Ones(16, 16)).value().sum();
    });
    short_lived.join();
    CHECK(total == 4 * 256.0);
}

TEST_CASE("KeepAlive holds a reference exactly while a copy of it lives") {
    auto counted = std::make_shared<int>(7);
    const auto references = [&] { return counted.use_count(); };
    {
        detail::KeepAlive<int> a(counted);
        CHECK(references() == 2);
        CHECK(*a.get() == 7);
        detail::KeepAlive<int> b = a;
        CHECK(references() == 3);
        detail::KeepAlive<int> c = std::move(b);
        CHECK(references() == 3);
        CHECK_FALSE(b);  // NOLINT(bugprone-use-after-move): a moved-from handle is empty
        c = nullptr;
        CHECK(references() == 2);
        detail::KeepAlive<int> d;
        d = a;
        CHECK(references() == 3);
        d = std::move(a);  // releases what d held
        CHECK(references() == 2);
        const auto& same = d;
        d = same;  // self-assignment keeps the reference
        CHECK(references() == 2);
        CHECK(d.get() == counted.get());
    }
    CHECK(references() == 1);

    // A shared_ptr may own a control block while pointing at nothing: it is still released.
    const std::shared_ptr<int> owns_but_points_nowhere(counted, nullptr);
    {
        detail::KeepAlive<int> e(owns_but_points_nowhere);
        CHECK(references() == 3);
        CHECK_FALSE(e);
    }
    CHECK(references() == 2);

    // As a Var holds its value's owner: a pointer to const void, from any shared_ptr.
    {
        const detail::KeepAlive<const void> owner(std::shared_ptr<int>{counted});
        CHECK(references() == 3);
    }
    CHECK(references() == 2);
}
