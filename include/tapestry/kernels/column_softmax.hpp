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
#include "tapestry/kernels/parallel.hpp"
#include "tapestry/kernels/scratch.hpp"
#include "tapestry/kernels/vectorised_math.hpp"

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
// contiguous memory when a is stored (a Map, or a transposed one); exactly 0 where a is
// -inf (a masked class).
template <class A>
auto exp_of_whole_array(ScratchScope& scratch, const A& a) {
    auto e = map_like(a, scratch.take<typename A::Scalar>(a.size()));
    e = exp_underflow_to_zero(a);
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

// Per line j of x (a column, or a column of a transposed view: any Eigen array
// expression): max(j) = the line's maximum and e = e^(x - max(j)), stored in e's order.
// A masked class (x = -inf) gets e = 0 exactly; a line that is all -inf gives NaN, as in
// PyTorch.
// - Lines across storage (a transposed view) at least a packet long: one row of the view
//   at a time, the subtraction and the exponential in one loop over contiguous memory.
// - Otherwise: the shifted values written first (each short column in one visit,
//   reduce_then_write_per_column), then the exponential over the whole array, where it
//   runs on full packets however short the lines are. Rows of the view shorter than a
//   packet would each go through the C library's exp: 1.4-1.6x the time for 4 or 12
//   lines along a long axis (found in review).
template <class X, class Line, class E>
void exponentials_of_lines(const X& x, Line&& max, E&& e) {
    constexpr bool across_storage = (X::Flags & Eigen::RowMajorBit) != 0;
    if (across_storage && x.cols() >= Index(Eigen::internal::packet_traits<typename X::Scalar>::size)) {
        reduce_each_column<ColumnMax>(x, max);
        for (Index i = 0; i < x.rows(); ++i) e.row(i) = exp_underflow_to_zero(x.row(i) - max);
    } else {
        shift_by_column_max(x, max, e);
        e = exp_underflow_to_zero(e);
    }
}

// exponentials_of_lines, and sum(j) = the sum of e's column j. Lines of no elements
// have a maximum of -inf and a sum of 0.
template <class X, class E, class Line>
void exponentials_of_columns(const X& x, E& e, Line& max, Line& sum) {
    using T = typename X::Scalar;
    if (x.size() == 0) {
        max.setConstant(-std::numeric_limits<T>::infinity());
        sum.setZero();
        return;
    }
    exponentials_of_lines(x, max, e);
    sum_of_each_column(e, sum);
}

// The gradient of a cross-entropy with respect to its logits, w_j (softmax - onehot) per
// column j, from e = e^(z - max) (classes x examples) and the inverse of each column's
// sum: -at_label[j] inverse_sums[j] e(:, j), and at_label[j] (that is, -w_j) more at row
// labels[j], written over `gradient` or added into it. One pass over the
// array, as the fused loss's hand-written backward takes, written in place: through
// scratch and a copy, softmax_cross_entropy took 1.05-1.08x that twin at B = 64. On as
// many threads as pay, each a range of columns (of rows, for one example's many classes).
template <class T>
void write_cross_entropy_gradient(T* gradient, bool overwrite, const T* exponentials, const T* inverse_sums,
                                  const int* labels, const T* at_label, Index classes, Index examples) {
    // Plain loops over pointers held in registers, which the compiler vectorises: through
    // Maps captured by reference it reloaded each Map's fields after every store, one
    // element at a time (softmax_cross_entropy at 10 x 64: 1.35x the time).
    const auto block = [=](Index first_row, Index rows, Index first_column, Index columns) {
        for (Index j = first_column; j < first_column + columns; ++j) {
            T* const g = gradient + j * classes + first_row;
            const T* const e = exponentials + j * classes + first_row;
            const T c = -at_label[j] * inverse_sums[j];
            if (overwrite)
                for (Index i = 0; i < rows; ++i) g[i] = e[i] * c;
            else
                for (Index i = 0; i < rows; ++i) g[i] += e[i] * c;
            const Index label = labels[j] - first_row;
            if (label >= 0 && label < rows) g[label] += at_label[j];
        }
    };
    const ElementwiseCut cut(classes, examples, double(classes) * double(examples));
    if (cut.pieces == 1) {
        block(0, classes, 0, examples);
        return;
    }
    run_pieces(cut.pieces, [&](int p) {
        if (examples > 1) {
            const auto [begin, end] = piece_range(examples, cut.pieces, p, 1);
            block(0, classes, begin, end - begin);
        } else {
            const auto [begin, end] = piece_range(classes, cut.pieces, p, ElementwiseCut::row_grain);
            block(begin, end - begin, 0, 1);
        }
    });
}

}  // namespace tapestry::detail
