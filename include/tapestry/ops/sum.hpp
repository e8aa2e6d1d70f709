#pragma once
// Sums: sum and mean of all elements (1x1), row_sum (Rx1: one sum per row) and col_sum
// (1xC: one per column). Each consumes its operand as an expression:
// sum(square(a - b)) is one fused loop forward and one backward, with nothing stored.

#include <string>
#include <type_traits>
#include <utility>

#include "tapestry/expr/broadcast.hpp"
#include "tapestry/graph/node.hpp"
#include "tapestry/kernels/line_sums.hpp"
#include "tapestry/kernels/parallel.hpp"
#include "tapestry/operand.hpp"

namespace tapestry {
namespace ops {

// scale * (sum of all elements).
template <class T>
struct ScaledSum {
    static constexpr const char* name = "sum";
    T scale;

    template <class E>
    void forward(const auto& out, const E& e) const {
        out.data()[0] = scale * detail::parallel_sum(e.array());
    }
    template <class E>
    void backward(const auto& dy, const auto&, const E& e) const {
        e.backprop(detail::KernelArray<T, E::Rows, E::Cols>::Constant(e.rows(), e.cols(), scale * dy(0, 0)));
    }
    // Second order: linear, so the adjoint's tangent goes down as the adjoint does.
    template <class E>
        requires detail::SecondOrder<E>
    void backward_with_tangents(const auto& dy, const auto& dy_tangent, const auto&, const auto&, const E& e) const {
        using Repeated = detail::KernelArray<T, E::Rows, E::Cols>;
        e.backprop_with_tangents(Repeated::Constant(e.rows(), e.cols(), scale * dy(0, 0)),
                                 Repeated::Constant(e.rows(), e.cols(), scale * dy_tangent(0, 0)));
    }
    template <class E>
        requires requires(const E& e) { e.tangent(); }
    void tangent(const auto& out, const auto&, const E& e) const {
        out.data()[0] = scale * detail::parallel_sum(e.tangent());
    }
};

// Sums along each row (an Rx1 result) or each column (1xC).
template <bool AlongRows>
struct PartialSum {
    static constexpr const char* name = AlongRows ? "row_sum" : "col_sum";

    // The result and its adjoint are seen as a column (row_sum) or a row (col_sum) in the
    // type: as a Dynamic x Dynamic array, Eigen takes slower general paths for the
    // partial reduction and the replicate() (docs/performance.md).
    template <class E>
    using Line = std::conditional_t<AlongRows, Eigen::Array<typename E::Scalar, Dynamic, 1>,
                                    Eigen::Array<typename E::Scalar, 1, Dynamic>>;

    template <class E>
    void forward(const auto& out, const E& e) const {
        Eigen::Map<Line<E>> sums(out.data(), AlongRows ? e.rows() : e.cols());
        const double work = double(e.rows()) * double(e.cols());  // each thread its own rows, or columns
        if constexpr (AlongRows)
            detail::parallel_sum_of_each_row(e.array(), sums, work);
        else
            detail::parallel_sum_of_each_column(e.array(), sums, work);
    }
    template <class E>
    void backward(const auto& dy, const auto&, const E& e) const {
        const Eigen::Map<const Line<E>> adjoint(dy.data(), AlongRows ? e.rows() : e.cols());
        if constexpr (AlongRows)  // the column repeated, read a packet of rows at a time (expr/broadcast.hpp)
            e.backprop(detail::repeated_array<typename E::Scalar, E::Rows, E::Cols, false, true>(adjoint.data(),
                                                                                                 e.rows(), e.cols()));
        else
            e.backprop(adjoint.colwise().replicate(e.rows()));
    }
    template <class E>
        requires detail::SecondOrder<E>
    void backward_with_tangents(const auto& dy, const auto& dy_tangent, const auto&, const auto&, const E& e) const {
        using T = typename E::Scalar;
        const Index n = AlongRows ? e.rows() : e.cols();
        const Eigen::Map<const Line<E>> adjoint(dy.data(), n), adjoint_tangent(dy_tangent.data(), n);
        if constexpr (AlongRows)
            e.backprop_with_tangents(
                detail::repeated_array<T, E::Rows, E::Cols, false, true>(adjoint.data(), e.rows(), e.cols()),
                detail::repeated_array<T, E::Rows, E::Cols, false, true>(adjoint_tangent.data(), e.rows(), e.cols()));
        else
            e.backprop_with_tangents(adjoint.colwise().replicate(e.rows()),
                                     adjoint_tangent.colwise().replicate(e.rows()));
    }
    template <class E>
        requires requires(const E& e) { e.tangent(); }
    void tangent(const auto& out, const auto&, const E& e) const {
        Eigen::Map<Line<E>> sums(out.data(), AlongRows ? e.rows() : e.cols());
        if constexpr (AlongRows)
            sums = e.tangent().rowwise().sum();
        else
            sums = e.tangent().colwise().sum();
    }
};

}  // namespace ops

namespace detail {

template <LazyExpression E>
Var<typename E::Scalar, 1, 1> scaled_sum(const E& e, typename E::Scalar scale) {
    return make_node<Var<typename E::Scalar, 1, 1>>(ops::ScaledSum<typename E::Scalar>{scale}, 1, 1, e);
}

}  // namespace detail

template <Operand X>
auto sum(X&& x) {
    auto e = as_expression(std::forward<X>(x));
    return detail::scaled_sum(e, typename decltype(e)::Scalar(1));
}

template <Operand X>
auto mean(X&& x) {
    auto e = as_expression(std::forward<X>(x));
    using T = typename decltype(e)::Scalar;
    return detail::scaled_sum(e, T(1) / static_cast<T>(e.rows() * e.cols()));
}

template <Operand X>
auto row_sum(X&& x) {
    auto e = as_expression(std::forward<X>(x));
    using E = decltype(e);
    return detail::make_node<Var<typename E::Scalar, E::Rows, 1>>(ops::PartialSum<true>{}, e.rows(), 1, e);
}

template <Operand X>
auto col_sum(X&& x) {
    auto e = as_expression(std::forward<X>(x));
    using E = decltype(e);
    return detail::make_node<Var<typename E::Scalar, 1, E::Cols>>(ops::PartialSum<false>{}, 1, e.cols(), e);
}

}  // namespace tapestry
