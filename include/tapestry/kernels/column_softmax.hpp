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
#include <type_traits>

#include "tapestry/core/eigen.hpp"
#include "tapestry/kernels/scratch.hpp"

namespace tapestry::detail {

// An array of a's shape over the memory at p, in a's storage order (by columns, or by
// rows for a transposed view), so that a whole-array loop between the two is contiguous.
template <class A, class T>
auto map_like(const A& a, T* p) {
    constexpr int order = (A::Flags & Eigen::RowMajorBit) != 0 ? Eigen::RowMajor : Eigen::ColMajor;
    using Array = Eigen::Array<std::remove_const_t<T>, Dynamic, Dynamic, order>;
    return Eigen::Map<std::conditional_t<std::is_const_v<T>, const Array, Array>>(p, a.rows(), a.cols());
}

// e^a into scratch, stored in a's order, so that the exponential is one loop over
// contiguous memory when a is stored (a Map, or a transposed one).
template <class A>
auto exp_of_whole_array(ScratchScope& scratch, const A& a) {
    auto e = map_like(a, scratch.take<typename A::Scalar>(a.size()));
    e = a.exp();
    return e;
}

// line(j) = the sum (or the maximum) of a's column j. Eigen's reduction where it runs on
// packets: a transposed view, reduced across its columns, or columns of a packet or more.
// A shorter column (10 classes) goes to a plain loop: Eigen's reduction of it takes a
// generic scalar path with more overhead per column.
template <class A, class Line, class Reduce, class EigenReduce>
void reduce_each_column(const A& a, Line&& line, Reduce reduce, EigenReduce eigen_reduce) {
    using T = typename A::Scalar;
    constexpr bool across_columns = (A::Flags & Eigen::RowMajorBit) != 0;
    if (across_columns || a.rows() >= Index(Eigen::internal::packet_traits<T>::size) || a.rows() == 0) {
        line = eigen_reduce(a.colwise());
        return;
    }
    for (Index j = 0; j < a.cols(); ++j) {
        T r = a(0, j);
        for (Index i = 1; i < a.rows(); ++i) r = reduce(r, a(i, j));
        line(j) = r;
    }
}
template <class A, class Line>
void sum_of_each_column(const A& a, Line&& line) {
    reduce_each_column(
        a, line, [](auto r, auto v) { return r + v; }, [](const auto& columns) { return columns.sum(); });
}
template <class A, class Line>
void max_of_each_column(const A& a, Line&& line) {
    reduce_each_column(
        a, line, [](auto r, auto v) { return v > r ? v : r; }, [](const auto& columns) { return columns.maxCoeff(); });
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

// Whether the values at data (not empty) may hold a masked class (-inf) or a line all
// masked (NaN, once its maximum is subtracted). A plain loop, which g++ and clang++
// vectorise: Eigen's minCoeff drops a NaN or keeps it depending on its lane, and its
// NaN-propagating form took a third of log_softmax's forward along rows.
template <class T>
bool may_hold_minus_infinity(const T* data, Index size) {
    constexpr T minus_infinity = -std::numeric_limits<T>::infinity();
    int not_above = 0;
    for (Index k = 0; k < size; ++k) not_above |= !(data[k] > minus_infinity);
    return not_above != 0;
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
    max_of_each_column(x, max);
    subtract_per_column(x, max, e);
    const bool any_masked = may_hold_minus_infinity(e.data(), e.size());
    e = e.exp();
    if (any_masked) {
        for (Index j = 0; j < x.cols(); ++j)
            for (Index i = 0; i < x.rows(); ++i)
                if (x(i, j) == -infinity && max(j) != -infinity) e(i, j) = T(0);
    }
    sum_of_each_column(e, sum);
}

}  // namespace tapestry::detail
