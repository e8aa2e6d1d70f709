// Initializers: deterministic from a seed, with the statistics Caffe's fillers have.

#include <cmath>

#include <catch2/catch.hpp>

#include <tapestry/nn/init.hpp>

#include "helpers.hpp"

using namespace tapestry;
using namespace tapestry::nn;

namespace {
template <class M>
double standard_deviation(const M& m) {
    const double mean = m.mean();
    return std::sqrt((m.array() - mean).square().sum() / static_cast<double>(m.size()));
}
}  // namespace

TEST_CASE("initializers are deterministic from their seed") {
    Param<float, 50, 40> a, b;
    Rng r1(42), r2(42), r3(43);
    gaussian_init(a, 0.0, 1.0, r1);
    gaussian_init(b, 0.0, 1.0, r2);
    CHECK(a.value() == b.value());
    gaussian_init(b, 0.0, 1.0, r3);
    CHECK(a.value() != b.value());
}

TEST_CASE("constant and uniform fill as asked") {
    Param<double, Dynamic, Dynamic> p(300, 400);
    constant_init(p, 0.25);
    CHECK((p.value().array() == 0.25).all());
    Rng rng(1);
    uniform_init(p, -0.5, 1.5, rng);
    CHECK(p.value().minCoeff() >= -0.5);
    CHECK(p.value().maxCoeff() < 1.5);
    CHECK(p.value().mean() == Approx(0.5).margin(0.01));
}

TEST_CASE("gaussian has the requested mean and std; sparse keeps sparse/rows of the weights") {
    Param<double, 400, 500> p;
    Rng rng(2);
    gaussian_init(p, 0.3, 2.0, rng);
    CHECK(p.value().mean() == Approx(0.3).margin(0.02));
    CHECK(standard_deviation(p.value()) == Approx(2.0).epsilon(0.01));

    gaussian_init(p, 0.0, 1.0, rng, 15);  // Caffe's sparse: 15
    const double kept = static_cast<double>((p.value().array() != 0.0).count()) / static_cast<double>(p.value().size());
    CHECK(kept == Approx(15.0 / 400.0).epsilon(0.05));
    const Eigen::ArrayXd nonzero = p.value().reshaped().array();
    CHECK(std::sqrt(nonzero.square().sum() / (kept * static_cast<double>(p.value().size()))) ==
          Approx(1.0).epsilon(0.03));
}

TEST_CASE("Xavier and MSRA scale with fan-in, fan-out or their average") {
    Param<double, 200, 800> W;  // 200 outputs, 800 inputs: fan_in 800, fan_out 200
    Rng rng(3);
    xavier_init(W, rng);
    CHECK(W.value().cwiseAbs().maxCoeff() <= std::sqrt(3.0 / 800.0));
    CHECK(standard_deviation(W.value()) == Approx(std::sqrt(1.0 / 800.0)).epsilon(0.01));
    xavier_init(W, rng, FanMode::Out);
    CHECK(standard_deviation(W.value()) == Approx(std::sqrt(1.0 / 200.0)).epsilon(0.01));
    msra_init(W, rng);
    CHECK(standard_deviation(W.value()) == Approx(std::sqrt(2.0 / 800.0)).epsilon(0.01));
    msra_init(W, rng, FanMode::Average);
    CHECK(standard_deviation(W.value()) == Approx(std::sqrt(2.0 / 500.0)).epsilon(0.01));
}

TEST_CASE("a convolution Kernel's fans are Caffe's: In KH KW in, Out KH KW out") {
    Rng rng(3);
    Kernel<double, 20, 50, 5> K;  // 50 input channels, 5x5: fan-in 1250, fan-out 500
    xavier_init(K, rng);
    const double in_bound = std::sqrt(3.0 / 1250.0);
    CHECK(K.value().cwiseAbs().maxCoeff() <= in_bound);
    CHECK(K.value().cwiseAbs().maxCoeff() > 0.95 * in_bound);
    xavier_init(K, rng, FanMode::Out);
    CHECK(K.value().cwiseAbs().maxCoeff() > 0.95 * std::sqrt(3.0 / 500.0));
    msra_init(K, rng);
    CHECK(standard_deviation(K.value()) == Approx(std::sqrt(2.0 / 1250.0)).epsilon(0.05));
}

TEST_CASE("a sparse gaussian Kernel keeps sparse / Out of its weights, as Caffe's filler on a conv blob") {
    Rng rng(4);
    Kernel<double, 20, 50, 5> K;  // Caffe's num_outputs: 20
    gaussian_init(K, 0.0, 1.0, rng, 15);
    const double kept = static_cast<double>((K.value().array() != 0).count()) / static_cast<double>(K.value().size());
    CHECK(kept == Approx(15.0 / 20.0).epsilon(0.03));
}
