#pragma once
// The exponentials of softmax, log_softmax and the softmax cross-entropy, taken over a
// whole array at once rather than column by column.
//
// Why: Eigen vectorises exp along a column only where the column holds a whole packet
// (AVX-512: 16 floats or 8 doubles), and an expression whose columns are shorter goes
// one element at a time, through libm's exp: with 10 classes per column, every
// exponential of a classifier's loss did (issue 23). Over the whole array, stored
// contiguously, Eigen's exp runs on full packets; only the array's last partial packet
// goes through libm. What is done per column afterwards (sums, scaling) is arithmetic.

#include <limits>

#include "tapestry/core/eigen.hpp"
#include "tapestry/kernels/scratch.hpp"

namespace tapestry::detail {

// e^a into scratch, stored in a's order (by columns or by rows), so that the exponential
// is one loop over contiguous memory when a is stored (a Map, or a transposed one).
template <class A>
auto exp_of_whole_array(ScratchScope& scratch, const A& a) {
    using T = typename A::Scalar;
    constexpr int order = (A::Flags & Eigen::RowMajorBit) != 0 ? Eigen::RowMajor : Eigen::ColMajor;
    Eigen::Map<Eigen::Array<T, Dynamic, Dynamic, order>> e(scratch.take<T>(a.size()), a.rows(), a.cols());
    e = a.exp();
    return e;
}

// out(i, j) = value(i, j, line(j)) for a value of a row broadcast down its column. Plain
// loops in out's storage order (down each column, or along each row of a transposed
// view), which the compiler vectorises; Eigen's replicate of a row has no packet access
// and went one element at a time.
template <class Line, class Out, class Value>
void write_per_column(const Line& line, Out& out, const Value& value) {
    if constexpr ((Out::Flags & Eigen::RowMajorBit) != 0) {
        for (Index i = 0; i < out.rows(); ++i)
            for (Index j = 0; j < out.cols(); ++j) out(i, j) = value(i, j, line(j));
    } else {
        for (Index j = 0; j < out.cols(); ++j) {
            const auto c = line(j);
            for (Index i = 0; i < out.rows(); ++i) out(i, j) = value(i, j, c);
        }
    }
}

// out = a - line broadcast down the columns; or a - b * line.
template <class A, class Line, class Out>
void subtract_per_column(const A& a, const Line& line, Out&& out) {
    write_per_column(line, out, [&](Index i, Index j, auto c) { return a(i, j) - c; });
}
template <class A, class B, class Line, class Out>
void subtract_per_column(const A& a, const B& b, const Line& line, Out&& out) {
    write_per_column(line, out, [&](Index i, Index j, auto c) { return a(i, j) - b(i, j) * c; });
}

// Whether a (not empty) may hold a masked class (-inf) or a line all masked (NaN, once
// its maximum is subtracted): one vectorised minimum. PropagateNaN: Eigen's default
// minimum drops a NaN or keeps it depending on its lane, which hid another line's -inf.
template <class A>
bool may_hold_minus_infinity(const A& a) {
    return !(a.template minCoeff<Eigen::PropagateNaN>() > -std::numeric_limits<typename A::Scalar>::infinity());
}

// Per column j of x (any Eigen array expression): max(j) = the column's maximum,
// e.col(j) = e^(x.col(j) - max(j)), and sum(j) = the sum of e.col(j). e is stored, of
// x's shape; max and sum are rows of x.cols() values. A masked class (x = -inf) gets e
// = 0 exactly: Eigen's vectorised exp clamps its argument, and gives e^-inf as 3e-39 in
// float (6e-309 in double). A column that is all -inf gives NaN, as in PyTorch.
template <class X, class E, class Line>
void exponentials_of_columns(const X& x, E& e, Line& max, Line& sum) {
    using T = typename X::Scalar;
    constexpr T infinity = std::numeric_limits<T>::infinity();
    if (x.size() == 0) {
        max.setConstant(-infinity);
        sum.setZero();
        return;
    }
    max = x.colwise().maxCoeff();
    for (Index j = 0; j < x.cols(); ++j) e.col(j) = x.col(j) - max(j);
    const bool any_masked = may_hold_minus_infinity(e);
    e = e.exp();
    if (any_masked) {
        for (Index j = 0; j < x.cols(); ++j)
            for (Index i = 0; i < x.rows(); ++i)
                if (x(i, j) == -infinity && max(j) != -infinity) e(i, j) = T(0);
    }
    sum = e.colwise().sum();
}

}  // namespace tapestry::detail
