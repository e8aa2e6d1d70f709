// Eigen included before tapestry, as a program that already uses Eigen would: large
// fixed-size Params still compile and work (issue 21: EIGEN_STACK_ALLOCATION_LIMIT was
// lifted by tapestry's first include, too late when Eigen came first). This file's
// first include must stay <Eigen/Dense>.
#include <Eigen/Dense>

#include <catch2/catch.hpp>

#include <tapestry/io/checkpoint.hpp>
#include <tapestry/nn/init.hpp>
#include <tapestry/nn/optim/sgd.hpp>
#include <tapestry/tapestry.hpp>

#include "temp_files.hpp"

using namespace tapestry;

TEST_CASE("with Eigen included first, a 256x784 Param trains, saves and loads") {
    static_assert(EIGEN_STACK_ALLOCATION_LIMIT > 0, "this test needs Eigen's own stack limit in force");
    Param<float, 256, 784> W;
    Param<float, 256, 1> b;
    nn::Rng rng(1);
    nn::gaussian_init(W, 0.0, 0.01, rng);
    nn::ParamSet<float> params{{"W", W}, {"b", b}};
    nn::Sgd<float> sgd(params, {.lr = nn::lr::fixed(0.1)});
    const Eigen::MatrixXf x = Eigen::MatrixXf::Random(784, 8);
    float first = 0, last = 0;
    for (int step = 0; step < 5; ++step) {
        Tape tape;
        auto loss = mse(sigmoid(W * constant(x) + b), constant(Eigen::MatrixXf::Zero(256, 8)));
        tape.backward(loss);
        (step == 0 ? first : last) = loss.item();
        sgd.step();
    }
    CHECK(last < first);

    test::TempDir dir;
    io::save_params(dir.file("w.safetensors"), params);
    const Eigen::MatrixXf saved = W.value();
    W.value().setZero();
    io::load_params(dir.file("w.safetensors"), params);
    CHECK(Eigen::MatrixXf(W.value()) == saved);  // printed as a run-time-sized matrix if it fails
}
