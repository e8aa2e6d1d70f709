// Each thread has its own active tape: two threads training separate models at once
// get exactly what training them one after the other gives.

#include <thread>

#include <catch2/catch.hpp>

#include "helpers.hpp"

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
