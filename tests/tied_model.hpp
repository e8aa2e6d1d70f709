#pragma once
// Model A's shape in small, for the tests that train one model several ways (threads,
// replicas, MPI ranks): a tied autoencoder with biases, W used twice. Each copy starts
// from the test generator's next numbers.

#include <tapestry/nn/param_set.hpp>
#include <tapestry/tapestry.hpp>

#include "helpers.hpp"

namespace test {

struct Tied {
    tapestry::Param<double, 4, 6> W{random_matrix(4, 6)};
    tapestry::Param<double, 4, 1> b1{random_matrix(4, 1)};
    tapestry::Param<double, 6, 1> b2{random_matrix(6, 1)};
    tapestry::nn::ParamSet<double> params() { return {{"W", W}, {"b1", b1}, {"b2", b2}}; }

    // Summed over the examples, so that the losses of a batch's shares add up.
    template <class X>
    auto loss(const X& x) {
        using namespace tapestry;
        auto h = sigmoid(W * x + b1);
        return sigmoid_cross_entropy(W.transpose() * h + b2, x, Reduction::Sum);
    }
};

}  // namespace test
