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

// The two reductions down a column: how to combine two values, and Eigen's reduction of
// every column at once.
struct ColumnSum {
    static auto combine(auto r, auto v) { return r + v; }
    static auto of_columns(const auto& columns) { return columns.sum(); }
};
struct ColumnMax {
    static auto combine(auto r, auto v) { return v > r ? v : r; }
    static auto of_columns(const auto& columns) { return columns.maxCoeff(); }
};

// Whether a's columns are reduced by plain loops: stored by columns, and shorter than a
// packet (10 classes). Eigen's reduction of such a column takes a generic scalar path
// with more overhead per column; it runs on packets for longer columns, and across the
// columns of a transposed view.
template <class A>
bool has_short_columns(const A& a) {
    constexpr bool across_columns = (A::Flags & Eigen::RowMajorBit) != 0;
    return !across_columns && a.rows() > 0 &&
           a.rows() < Index(Eigen::internal::packet_traits<typename A::Scalar>::size);
}

template <class Reduction, class A>
typename A::Scalar reduce_column(const A& a, Index j) {
    auto r = a(0, j);
    for (Index i = 1; i < a.rows(); ++i) r = Reduction::combine(r, a(i, j));
    return r;
}

// line(j) = the sum (or the maximum) of a's column j.
template <class Reduction, class A, class Line>
void reduce_each_column(const A& a, Line&& line) {
    if (!has_short_columns(a)) {
        line = Reduction::of_columns(a.colwise());
        return;
    }
    for (Index j = 0; j < a.cols(); ++j) line(j) = reduce_column<Reduction>(a, j);
}
template <class A, class Line>
void sum_of_each_column(const A& a, Line&& line) {
    reduce_each_column<ColumnSum>(a, line);
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

// Per column j: line(j) = finish(j, the reduction of a's column j), then out(i, j) =
// value(i, j, line(j)). Short columns are each reduced and written in one visit, while
// the column is in registers: as two passes over the array, the loop overhead of a
// column of 10 was paid twice. Otherwise the whole array is reduced, then written.
template <class Reduction, class A, class Line, class Out, class Finish, class Value>
void reduce_then_write_per_column(const A& a, Line&& line, Out&& out, Finish finish, Value value) {
    constexpr bool out_by_columns = (std::remove_cvref_t<Out>::Flags & Eigen::RowMajorBit) == 0;
    if (!out_by_columns || !has_short_columns(a)) {
        reduce_each_column<Reduction>(a, line);
        for (Index j = 0; j < line.size(); ++j) line(j) = finish(j, line(j));
        write_per_column(line, out, value);
        return;
    }
    for (Index j = 0; j < a.cols(); ++j) {
        const auto c = finish(j, reduce_column<Reduction>(a, j));
        line(j) = c;
        for (Index i = 0; i < a.rows(); ++i) out(i, j) = value(i, j, c);
    }
}

// The reduction as it is, for reduce_then_write_per_column.
inline constexpr auto unchanged = [](Index, auto r) { return r; };

// line = each column's maximum, and out = a minus it.
template <class A, class Line, class Out>
void shift_by_column_max(const A& a, Line&& line, Out&& out) {
    reduce_then_write_per_column<ColumnMax>(a, line, out, unchanged,
                                            [&](Index i, Index j, auto m) { return a(i, j) - m; });
}

// out = a - line broadcast down the columns.
template <class A, class Line, class Out>
void subtract_per_column(const A& a, const Line& line, Out&& out) {
    write_per_column(line, out, [&](Index i, Index j, auto c) { return a(i, j) - c; });
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
    shift_by_column_max(x, max, e);
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
