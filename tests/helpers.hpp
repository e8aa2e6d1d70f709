#pragma once
// Shared by the tests: seeded random Params and matrices, and the tolerance every
// gradient check uses.

#include <random>
#include <string>
#include <utility>

#include <catch2/catch.hpp>

#include <tapestry/check/gradcheck.hpp>
#include <tapestry/functional/flat_params.hpp>
#include <tapestry/tapestry.hpp>

namespace test {

using tapestry::Dynamic;
using tapestry::Index;

// Largest relative error accepted between tape and finite-difference gradients (double).
inline constexpr double gradient_tolerance = 1e-6;

inline std::mt19937& rng() {
    static std::mt19937 generator(20261127);
    return generator;
}

inline Eigen::MatrixXd random_matrix(Index rows, Index cols, double lo = -1.0, double hi = 1.0) {
    std::uniform_real_distribution<double> uniform(lo, hi);
    Eigen::MatrixXd m(rows, cols);
    for (Index i = 0; i < m.size(); ++i) m.data()[i] = uniform(rng());
    return m;
}

// Moves every Param of the set by step * v (v laid out as jacobian's columns).
inline void move_params(const tapestry::nn::ParamSet<double>& params, const Eigen::VectorXd& v, double step) {
    tapestry::detail::for_each_segment(
        params, [&](const auto& p, Index offset, Index n) { p.value().reshaped() += step * v.segment(offset, n); });
}

// Magnitudes in [0.5, 2] with random signs: safe as a denominator, and both signs tested.
inline Eigen::MatrixXd random_away_from_zero(Index rows, Index cols) {
    std::bernoulli_distribution negative(0.5);
    Eigen::MatrixXd m = random_matrix(rows, cols, 0.5, 2.0);
    for (Index i = 0; i < m.size(); ++i)
        if (negative(rng())) m.data()[i] = -m.data()[i];
    return m;
}

// Each element's logistic function, computed without tapestry: the reference for sigmoid.
inline Eigen::MatrixXd reference_sigmoid(const Eigen::MatrixXd& x) {
    return (1.0 / (1.0 + (-x.array()).exp())).matrix();
}

template <int R, int C>
tapestry::Param<double, R, C> random_param(Index rows, Index cols, double lo = -1.0, double hi = 1.0) {
    return tapestry::Param<double, R, C>(random_matrix(rows, cols, lo, hi));
}

// Runs `body.template operator()<R, C>(rows, cols)` over fixed and Dynamic shapes,
// Eigen's habit: the same test for Matrix<3,4> and MatrixX(r, c). (Each static
// shape is a new instantiation of every kernel; run-time shapes vary for free.)
template <class Body>
void for_each_shape(Body&& body) {
    body.template operator()<3, 4>(3, 4);
    body.template operator()<5, 7>(5, 7);  // fixed, but over 16 values: Dynamic in its kernel form
    body.template operator()<Dynamic, Dynamic>(2, 5);
    body.template operator()<Dynamic, Dynamic>(4, 1);
    body.template operator()<Dynamic, Dynamic>(1, 3);
}

// For CHECK_THROWS_MATCHES: the exception's what() contains `part`.
class MessageContains : public Catch::MatcherBase<std::exception> {
public:
    explicit MessageContains(std::string part) : part_(std::move(part)) {}
    bool match(const std::exception& e) const override {
        return std::string(e.what()).find(part_) != std::string::npos;
    }
    std::string describe() const override { return "has a message containing \"" + part_ + "\""; }

private:
    std::string part_;
};

// An elementwise op whose two backward rules differ, to see which one a sweep takes:
// slope 2 from backward, 3 from backward_given_value (the rule for a stored value).
struct TwoRules {
    static constexpr const char* name = "two_rules";
    auto forward(const auto& x) const { return x * 1.0; }
    auto backward(const auto& g, const auto&, const auto&) const { return g * 2.0; }
    auto backward_given_value(const auto& g, const auto&, const auto&) const { return g * 3.0; }
    auto curvature(const auto&, const auto&, const auto&, const auto&) const { return tapestry::detail::NoCurvature{}; }
};
template <class X>
auto two_rules(X&& x) {
    return tapestry::detail::unary(TwoRules{}, std::forward<X>(x));
}

}  // namespace test
