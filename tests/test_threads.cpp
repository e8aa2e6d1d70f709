// Each thread has its own active tape: two threads training separate models at once
// get exactly what training them one after the other gives; one model trained on
// several threads (replicas, gradients added before the step) matches one thread.

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <tapestry/nn/data_parallel.hpp>
#include <tapestry/nn/optim/sgd.hpp>
#include <tapestry/nn/replicas.hpp>

#include <catch2/catch.hpp>

#include "helpers.hpp"
#include "tied_model.hpp"

using namespace tapestry;

namespace {

struct Model {
    Param<double, 6, 5> W;
    Param<double, 6, 1> b;
    Eigen::MatrixXd x;
    explicit Model(unsigned seed) {
        std::mt19937 rng(seed);
        std::uniform_real_distribution<double> u(-1, 1);
        W.value() = Eigen::MatrixXd::NullaryExpr(6, 5, [&] { return u(rng); });
        x = Eigen::MatrixXd::NullaryExpr(5, 8, [&] { return u(rng); });
    }
    // 50 plain gradient steps on a tied two-layer loss.
    void train() {
        Tape tape;
        for (int step = 0; step < 50; ++step) {
            tape.clear();
            auto h = tanh(W * constant(x) + b);
            tape.backward(mse(W.transpose() * h, x));
            W.value() -= 0.1 * W.grad();
            b.value() -= 0.1 * b.grad();
            W.zero_grad();
            b.zero_grad();
        }
    }
};

}  // namespace

// A Tape made on a thread that hands it over and ends: destroying it here writes that
// thread's copy of its active recording (tape/recording.hpp), while the thread may be
// exiting. ThreadSanitizer checks the lock between the two; the next thread, which may
// be given the ended one's thread-local memory, must find its own tape active.
TEST_CASE("a tape handed over by a thread that ends is destroyed here while that thread exits") {
    for (int round = 0; round < 100; ++round) {
        std::atomic<Tape*> handed{nullptr};
        std::thread maker([&] { handed.store(new Tape, std::memory_order_release); });
        Tape* tape = nullptr;
        while ((tape = handed.load(std::memory_order_acquire)) == nullptr) std::this_thread::yield();
        delete tape;
        maker.join();
        bool own_tape_active = false;
        std::thread([&] {
            Tape mine;
            own_tape_active = Tape::active() == &mine;
        }).join();
        REQUIRE(own_tape_active);
    }
    CHECK(Tape::active() == nullptr);
}

TEST_CASE("two threads training separate models at once match training them one after the other") {
    Model a1(1), b1(2), a2(1), b2(2);
    a1.train();
    b1.train();
    std::thread ta([&] { a2.train(); });
    std::thread tb([&] { b2.train(); });
    ta.join();
    tb.join();
    CHECK(a2.W.value() == a1.W.value());
    CHECK(b2.W.value() == b1.W.value());
    CHECK(a2.b.value() == a1.b.value());
    CHECK(Tape::active() == nullptr);  // the threads' tapes never became this thread's
}

using test::Tied;

TEST_CASE("one model trained on several threads through replicas matches one thread") {
    constexpr int threads = 3, steps = 20;
    const Eigen::MatrixXd batch = (test::random_matrix(6, 12).array() + 1) / 2;  // 12 examples in [0, 1]
    Tied single;
    Tied model = single;  // the same starting weights
    const Eigen::MatrixXd W_start = model.W.value();
    const nn::OptimizerOptions options{.lr = nn::lr::fixed(0.01), .weight_decay = 5e-4};
    nn::Sgd<double> sgd_single(single.params(), options, {.momentum = 0.9});
    nn::Sgd<double> sgd(model.params(), options, {.momentum = 0.9});
    std::vector<Tied> replicas(threads, model);

    for (int step = 0; step < steps; ++step) {
        {
            Tape tape;
            tape.backward(single.loss(constant(batch)));
        }
        sgd_single.step();

        for (auto& replica : replicas) {
            nn::copy_values(model.params(), replica.params());
            replica.params().zero_grad();
        }
        std::vector<std::thread> workers;
        for (int t = 0; t < threads; ++t)
            workers.emplace_back([&, t] {
                Tape tape;  // this thread's own
                tape.backward(replicas[t].loss(constant(batch.middleCols(4 * t, 4))));
            });
        for (auto& w : workers) w.join();
        for (auto& replica : replicas) nn::add_grads(replica.params(), model.params());
        sgd.step();
    }
    // The same sums in another order: equal to rounding, not bit for bit.
    CHECK(model.W.value().isApprox(single.W.value(), 1e-12));
    CHECK(model.b1.value().isApprox(single.b1.value(), 1e-12));
    CHECK(model.b2.value().isApprox(single.b2.value(), 1e-12));
    CHECK_FALSE(model.W.value().isApprox(W_start, 1e-3));  // and it did train
}

TEST_CASE("DataParallel: 100 steps on 3 replicas match one thread on the whole batch, and repeat bit for bit") {
    constexpr Index examples = 13;  // shares of 5, 4 and 4
    const Eigen::MatrixXd batch = (test::random_matrix(6, examples).array() + 1) / 2;
    Tied single;
    Tied model = single, again = single;
    const Eigen::MatrixXd W_start = model.W.value();
    const nn::OptimizerOptions options{.lr = nn::lr::fixed(0.01), .weight_decay = 5e-4};
    nn::Sgd<double> sgd_single(single.params(), options, {.momentum = 0.9});
    nn::Sgd<double> sgd(model.params(), options, {.momentum = 0.9});
    nn::Sgd<double> sgd_again(again.params(), options, {.momentum = 0.9});
    nn::DataParallel parallel(model, 3), parallel_again(again, 3);
    const auto share_loss = [&](Tied& replica, Index first, Index count) {
        return replica.loss(constant(batch.middleCols(first, count)));
    };
    double worst_loss_difference = 0;
    for (int step = 0; step < 100; ++step) {
        double single_loss;
        {
            Tape tape;
            Var<double, 1, 1> loss = single.loss(constant(batch));
            tape.backward(loss);
            single_loss = loss.value()(0, 0);
        }
        sgd_single.step();
        const double loss = parallel.backward(examples, share_loss);
        sgd.step();
        CHECK(parallel_again.backward(examples, share_loss) == loss);
        sgd_again.step();
        worst_loss_difference = std::max(worst_loss_difference, std::abs(loss - single_loss) / single_loss);
    }
    CHECK(worst_loss_difference < 1e-12);
    CHECK(model.W.value().isApprox(single.W.value(), 1e-12));
    CHECK(model.b1.value().isApprox(single.b1.value(), 1e-12));
    CHECK(model.b2.value().isApprox(single.b2.value(), 1e-12));
    CHECK((model.W.value().array() == again.W.value().array()).all());  // the same run twice: the same bits
    CHECK((model.b2.value().array() == again.b2.value().array()).all());
    CHECK_FALSE(model.W.value().isApprox(W_start, 1e-3));  // and it did train
}

TEST_CASE("DataParallel: a batch smaller than the replicas leaves the extra replicas out") {
    const Eigen::MatrixXd batch = (test::random_matrix(6, 2).array() + 1) / 2;
    Tied single;
    Tied model = single;
    {
        Tape tape;
        tape.backward(single.loss(constant(batch)));
    }
    nn::DataParallel parallel(model, 4);
    std::vector<Index> counts;  // the shares seen; checked here, since Catch's CHECK is not thread-safe
    std::mutex counts_mutex;
    parallel.backward(2, [&](Tied& replica, Index first, Index count) {
        {
            const std::lock_guard lock(counts_mutex);
            counts.push_back(count);
        }
        return replica.loss(constant(batch.middleCols(first, count)));
    });
    CHECK(counts == std::vector<Index>{1, 1});
    CHECK(model.W.grad().isApprox(single.W.grad(), 1e-12));
    CHECK(parallel.backward(0, [&](Tied& replica, Index, Index) { return replica.loss(constant(batch)); }) == 0.0);
}

TEST_CASE("DataParallel: a share that throws leaves the model's gradients as they were, and the next step works") {
    const Eigen::MatrixXd batch = (test::random_matrix(6, 6).array() + 1) / 2;
    Tied model;
    nn::DataParallel parallel(model, 3);
    const auto good = [&](Tied& replica, Index first, Index count) {
        return replica.loss(constant(batch.middleCols(first, count)));
    };
    parallel.backward(6, good);
    // Fixed-size, as W's gradient: with a dynamic copy, g++ -O3 -march=native warns
    // (falsely) that isApprox below reads past the end.
    const auto grad_before = model.W.grad().eval();
    const auto failing = [&](Tied& replica, Index first, Index count) {
        if (first >= 2) throw value_error("share at " + std::to_string(first));
        return replica.loss(constant(batch.middleCols(first, count)));
    };
    CHECK_THROWS_MATCHES(parallel.backward(6, failing), value_error, test::MessageContains("share at 2"));
    CHECK((model.W.grad().array() == grad_before.array()).all());
    parallel.backward(6, good);
    CHECK(model.W.grad().isApprox(2 * grad_before, 1e-12));
    CHECK_THROWS_WITH(nn::DataParallel<Tied>(model, 0), Catch::Contains("0 replicas"));
}

TEST_CASE("DataParallel has as many replicas as threads were asked for, with or without OpenMP") {
    const int before = detail::requested_thread_count();
    set_num_threads(3);
    Tied model;
    CHECK(nn::DataParallel<Tied>(model).replicas() == 3);  // its threads are its own
    set_num_threads(before);
}

TEST_CASE("threads reading a stale gradient through const grad() all see zeros (the zeros are written once)") {
    Param<double, Dynamic, Dynamic> W(Eigen::MatrixXd::Random(64, 64));
    {
        Tape tape;
        tape.backward(sum(square(W)));
    }
    W.zero_grad();  // stale: the old gradient is still in memory
    const auto& shared = W;
    std::vector<double> sums(4, -1.0);
    std::vector<std::thread> readers;
    for (std::size_t t = 0; t < sums.size(); ++t)
        readers.emplace_back([&, t] { sums[t] = shared.grad().cwiseAbs().sum(); });
    for (auto& r : readers) r.join();
    for (double s : sums) CHECK(s == 0.0);
}

TEST_CASE("replicas must have the model's layout") {
    Tied model;
    Param<double, 4, 6> other;
    CHECK_THROWS_MATCHES(nn::add_grads(nn::ParamSet<double>{{"W", other}}, model.params()), value_error,
                         test::MessageContains("add_grads: the ParamSets hold 1 and 3 Params"));
    Param<double, 6, 4> transposed;
    Param<double, 4, 1> b1;
    Param<double, 6, 1> b2;
    CHECK_THROWS_MATCHES(
        nn::copy_values(nn::ParamSet<double>{{"W", transposed}, {"b1", b1}, {"b2", b2}}, model.params()), value_error,
        test::MessageContains("\"W\" 6x4 in one and \"W\" 4x6 in the other"));
}
