#pragma once
// jacobian(f, params): the Jacobian of f's value with respect to the Params, from one
// forward pass and one backward sweep per element of the value, each seeded with that
// element alone (Tape::backward(output, seed)). For small outputs: tests, and users with
// few parameters.
//
//   Eigen::MatrixXd J = jacobian([&] { return sigmoid(W * x + b); }, params);
//
// Row k is the value's element k in column-major order (element (i, j) of an R x C value
// is row i + j R); the columns are the Params' elements in the ParamSet's order (or the
// order listed), each Param's column-major. The Params' gradients are left as they were.

#include <string>
#include <utility>

#include "tapestry/functional/flat_params.hpp"
#include "tapestry/nn/param_set.hpp"
#include "tapestry/operand.hpp"
#include "tapestry/tape.hpp"

namespace tapestry {

template <class F, class T>
Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic> jacobian(F&& f, const nn::ParamSet<T>& params) {
    using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
    Eigen::Matrix<T, Eigen::Dynamic, 1> gradients_before;
    const detail::KeptGradients<T> kept(params, gradients_before);
    Tape tape;
    const auto output = evaluate(f());
    Matrix result(output.rows() * output.cols(), detail::flat_size(params));
    Matrix seed = Matrix::Zero(output.rows(), output.cols());
    for (Index k = 0; k < seed.size(); ++k) {
        params.zero_grad();
        seed(k) = T(1);
        tape.backward(output, seed);
        seed(k) = T(0);
        detail::for_each_segment(params, [&](const auto& p, Index offset, Index n) {
            result.row(k).segment(offset, n) = p.grad().reshaped().transpose();
        });
    }
    return result;
}

template <class F, class First, class... Rest>
    requires is_param_v<First>
auto jacobian(F&& f, First& first, Rest&... rest) {
    nn::ParamSet<typename First::Scalar> params{{"0", first}};
    int index = 0;
    (params.add(std::to_string(++index), rest), ...);
    return jacobian(std::forward<F>(f), params);
}

}  // namespace tapestry
