// Second order through every elementwise operation: hvp(f, params, v) against central
// differences of the gradient along v, each op reading a Param twice, in fixed and
// Dynamic shapes. (hvp's other tests: test_hvp.cpp.)

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include <tapestry/functional/hvp.hpp>
#include <tapestry/tapestry.hpp>

#include "derivative_checks.hpp"
#include "helpers.hpp"

using namespace tapestry;
using test::check_hvp;

TEST_CASE("hvp of every elementwise op, each reading a Param twice, in fixed and Dynamic shapes") {
    // Positive values for the ops defined on them; each f reads P in the op and again beside it.
    auto P = test::random_param<3, 4>(3, 4, 0.5, 2.0);
    Param<double, Dynamic, Dynamic> Q(test::random_matrix(3, 4, 0.5, 2.0));
    const nn::ParamSet<double> params{{"P", P}, {"Q", Q}};
    const Eigen::Array<bool, 3, 4> mask = test::random_matrix(3, 4).array() > 0;
    const std::vector<std::pair<std::string, std::function<Var<double, 3, 4>()>>> unary{
        {"sigmoid", [&] { return evaluate(sigmoid(hadamard(P, Q) - 1.0)); }},
        {"tanh", [&] { return evaluate(tanh(hadamard(P, Q) - 1.0)); }},
        {"relu", [&] { return evaluate(relu(hadamard(P, Q) - 1.5)); }},
        {"leaky_relu", [&] { return evaluate(leaky_relu(hadamard(P, Q) - 1.5, 0.1)); }},
        {"elu", [&] { return evaluate(elu(hadamard(P, Q) - 1.5, 0.7)); }},
        {"silu", [&] { return evaluate(silu(hadamard(P, Q) - 1.5)); }},
        {"softplus", [&] { return evaluate(softplus(hadamard(P, Q) - 1.5)); }},
        {"gelu", [&] { return evaluate(gelu(hadamard(P, Q) - 1.5)); }},
        {"gelu_tanh", [&] { return evaluate(gelu_tanh(hadamard(P, Q) - 1.5)); }},
        {"exp", [&] { return evaluate(exp(hadamard(P, Q) - 1.0)); }},
        {"log", [&] { return evaluate(log(hadamard(P, Q))); }},
        {"log1p", [&] { return evaluate(log1p(hadamard(P, Q) - 0.2)); }},
        {"expm1", [&] { return evaluate(expm1(hadamard(P, Q) - 1.0)); }},
        {"sqrt", [&] { return evaluate(sqrt(hadamard(P, Q))); }},
        {"square", [&] { return evaluate(square(hadamard(P, Q) - 1.0)); }},
        {"abs", [&] { return evaluate(abs(hadamard(P, Q) - 1.5)); }},
        {"pow", [&] { return evaluate(pow(hadamard(P, Q), 2.5)); }},
        {"negate", [&] { return evaluate(-hadamard(P, Q)); }},
        {"scale", [&] { return evaluate(3.0 * hadamard(P, Q)); }},
        {"divide_by_scalar", [&] { return evaluate(hadamard(P, Q) / 3.0); }},
        {"scalar_over", [&] { return evaluate(2.0 / hadamard(P, Q)); }},
        {"shift and scalar_minus", [&] { return evaluate(2.0 - (hadamard(P, Q) + 1.0)); }},
        {"clamp", [&] { return evaluate(clamp(hadamard(P, Q), 0.8, 2.0)); }},
        {"divide", [&] { return evaluate(divide(P + 0.5, Q)); }},
        {"maximum", [&] { return evaluate(maximum(P, Q)); }},
        {"minimum", [&] { return evaluate(minimum(P, Q) - P); }},
        {"where", [&] { return evaluate(where(mask, hadamard(P, P), exp(Q))); }},
    };
    for (const auto& [name, make] : unary) {
        SECTION(name) {
            // The op's value times a function of P: its curvature meets the product's.
            const auto& op = make;  // a structured binding cannot be captured before C++20's P1091 in clang 14
            check_hvp([&] { return sum(hadamard(op(), tanh(P)) + square(op())); }, params);
        }
    }
}
