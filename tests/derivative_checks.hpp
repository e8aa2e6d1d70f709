// The checks of forward mode and second order that several test files share:
// check_jvp(f, params) against central differences of f's value and against the
// Jacobian from reverse mode; check_hvp(f, params) against central differences of the
// gradient. The direction is random; the Params are moved and put back.
#pragma once

#include <algorithm>

#include <catch2/catch.hpp>

#include <tapestry/functional/flat_params.hpp>
#include <tapestry/functional/hvp.hpp>
#include <tapestry/functional/jacobian.hpp>
#include <tapestry/functional/jvp.hpp>
#include <tapestry/tapestry.hpp>

#include "helpers.hpp"

namespace test {

inline double relative_difference(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b) {
    return (a - b).cwiseAbs().maxCoeff() / std::max(1.0, b.cwiseAbs().maxCoeff());
}

// The Params' values, flat, and put back exactly: stepping back by -h v does not undo
// +h v in floating point (with FMA contraction not even from an exact 0).
inline Eigen::VectorXd snapshot(const tapestry::nn::ParamSet<double>& params) {
    Eigen::VectorXd s(tapestry::detail::flat_size(params));
    tapestry::detail::for_each_segment(
        params, [&](const auto& p, Index offset, Index n) { s.segment(offset, n) = p.value().reshaped(); });
    return s;
}
inline void restore(const tapestry::nn::ParamSet<double>& params, const Eigen::VectorXd& s) {
    tapestry::detail::for_each_segment(
        params, [&](const auto& p, Index offset, Index n) { p.value().reshaped() = s.segment(offset, n); });
}

// (f(p + h v) - f(p - h v)) / 2h.
template <class F>
Eigen::MatrixXd value_difference(F&& f, const tapestry::nn::ParamSet<double>& params, const Eigen::VectorXd& v,
                                 double h = 1e-6) {
    tapestry::InferenceMode no_recording;
    const Eigen::VectorXd at = snapshot(params);
    move_params(params, v, h);
    const Eigen::MatrixXd up = tapestry::evaluate(f()).value();
    restore(params, at);
    move_params(params, v, -h);
    const Eigen::MatrixXd down = tapestry::evaluate(f()).value();
    restore(params, at);
    return (up - down) / (2 * h);
}

// The gradient of a scalar f at the Params, by an ordinary backward sweep.
template <class F>
Eigen::VectorXd gradient_at(F&& f, const tapestry::nn::ParamSet<double>& params) {
    params.zero_grad();
    {
        tapestry::Tape tape;
        tape.backward(f());
    }
    return tapestry::detail::gather_gradients(params);
}

// (∇f(p + h v) - ∇f(p - h v)) / 2h: H v to O(h²).
template <class F>
Eigen::VectorXd gradient_difference(F&& f, const tapestry::nn::ParamSet<double>& params, const Eigen::VectorXd& v,
                                    double h = 1e-5) {
    const Eigen::VectorXd at = snapshot(params);
    move_params(params, v, h);
    const Eigen::VectorXd up = gradient_at(f, params);
    restore(params, at);
    move_params(params, v, -h);
    const Eigen::VectorXd down = gradient_at(f, params);
    restore(params, at);
    return (up - down) / (2 * h);
}

// jvp's value is f's, its tangent the central difference's and J v's from reverse mode.
template <class F>
void check_jvp(F&& f, const tapestry::nn::ParamSet<double>& params, double tolerance = 1e-7) {
    const Eigen::VectorXd v = random_matrix(tapestry::detail::flat_size(params), 1);
    const tapestry::JvpResult<double> result = tapestry::jvp(f, params, v);
    Eigen::MatrixXd plain;
    {
        tapestry::InferenceMode no_recording;
        plain = tapestry::evaluate(f()).value();
    }
    CHECK(result.value == plain);
    REQUIRE(result.tangent.rows() == plain.rows());
    REQUIRE(result.tangent.cols() == plain.cols());
    const Eigen::MatrixXd by_differences = value_difference(f, params, v);
    INFO("jvp: " << result.tangent << "\nby differences: " << by_differences);
    CHECK(relative_difference(result.tangent, by_differences) < tolerance);
    const Eigen::MatrixXd by_reverse_mode = (tapestry::jacobian(f, params) * v).reshaped(plain.rows(), plain.cols());
    CHECK(relative_difference(result.tangent, by_reverse_mode) < 1e-13);
}

// hvp's value and gradient are f's, its product the central difference of gradients.
// Needs TAPESTRY_SECOND_ORDER for the whole test program.
template <class F>
void check_hvp(F&& f, const tapestry::nn::ParamSet<double>& params, double tolerance = 1e-7) {
    const Eigen::VectorXd v = random_matrix(tapestry::detail::flat_size(params), 1);
    const tapestry::HvpResult<double> result = tapestry::hvp(f, params, v);
    {
        tapestry::InferenceMode plain;
        // Recorded for second order, chains are evaluated one operation at a time: the
        // same value, rounded in another order.
        CHECK(result.value == Approx(tapestry::evaluate(f()).value()(0, 0)).epsilon(1e-14));
    }
    const Eigen::VectorXd expected_gradient = gradient_at(f, params);
    CHECK(relative_difference(result.gradient, expected_gradient) < 1e-14);
    const Eigen::VectorXd by_differences = gradient_difference(f, params, v);
    INFO("H v: " << result.product.transpose() << "\nby differences: " << by_differences.transpose());
    CHECK(relative_difference(result.product, by_differences) < tolerance);
}

// A scalar in which an op's curvature meets another: its values squashed and multiplied
// by themselves, so that both g and ġ reach the op's second-order step non-trivially.
template <class V>
auto scalar_of(const V& v) {
    return sum(hadamard(tanh(v), v));
}

// A user's operation with forward and backward rules only (no tangent rule): cube(x).
struct CubeWithoutTangent {
    static constexpr const char* name = "cube";
    void forward(const auto& out, const auto& x) const { out.value() = x.array().cube(); }
    void backward(const auto& dy, const auto&, const auto& x) const { x.backprop(3 * dy * x.array().square()); }
};
template <class X>
auto cube_without_tangent(const X& x) {
    using E = tapestry::expression_t<const X&>;
    return tapestry::detail::make_node<tapestry::Var<double, E::Rows, E::Cols>>(CubeWithoutTangent{}, x.rows(),
                                                                                x.cols(), tapestry::as_expression(x));
}

}  // namespace test
