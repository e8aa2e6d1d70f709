#pragma once
// Broadcasting: an operand repeated along an axis where its compile-time extent is 1
// (a bias column Rx1 over the columns of an RxC batch). Its gradient sums the
// adjoint over the repeated axis.
//
// The repeated value is read through a nullary Eigen expression whose functor loads
// whole packets (a column: consecutive rows of the bias; a row: one value splatted),
// because Eigen's own Replicate has no packet access and would make every fused loop
// that contains a bias run scalar code. So the operand must be stored: ops/elementwise.hpp
// evaluates a non-leaf operand (a small Rx1 or 1xC) before it is broadcast.

#include "tapestry/expr/expression.hpp"

namespace tapestry::detail {

// The packet functors here and in ops/ (gather, concat) load whole packets down one
// column, which is all Eigen 3.4.0 asks of a nullary expression with an (i, j) operator.
// Eigen's development branch (3.4.90) also asks for partial packets at a column's ends
// through the same packetOp, which would read past the column: there they run scalar.
inline constexpr bool whole_packets_only = !EIGEN_VERSION_AT_LEAST(3, 4, 90);

// Element (i, j) of the repetition of a stored column (Rx1), row (1xC) or 1x1. A packet
// runs down a column (rows i.. of column j) in a column-major result, and along a row
// (columns j.. of row i) in a row-major one: a fixed 1xC result, where a 1x1 repeated
// along the row must be set, not loaded (the stored value has one element).
template <class T, bool RepeatRows, bool RepeatCols, bool ColumnMajor>
struct RepeatedValue {
    const T* data;

    T operator()(Index i, Index j) const {
        if constexpr (RepeatRows && RepeatCols)
            return data[0];
        else if constexpr (RepeatCols)
            return data[i];
        else
            return data[j];
    }

    template <class Packet>
    Packet packetOp(Index i, Index j) const {
        if constexpr (RepeatCols && !RepeatRows && ColumnMajor)
            return Eigen::internal::ploadu<Packet>(data + i);  // rows i..i+n of the column
        else if constexpr (RepeatRows && !RepeatCols && !ColumnMajor)
            return Eigen::internal::ploadu<Packet>(data + j);  // columns j..j+n of the row
        else
            return Eigen::internal::pset1<Packet>((*this)(i, j));  // one element across the packet
    }
};

}  // namespace tapestry::detail

template <class T, bool RepeatRows, bool RepeatCols, bool ColumnMajor>
struct Eigen::internal::functor_traits<tapestry::detail::RepeatedValue<T, RepeatRows, RepeatCols, ColumnMajor>> {
    enum {
        Cost = 1,
        PacketAccess = tapestry::detail::whole_packets_only && packet_traits<T>::Vectorizable,
        IsRepeatable = true
    };
};

namespace tapestry::detail {

// The rows x cols kernel array that repeats a stored column (RepeatCols), row (RepeatRows)
// or 1x1 (both), its packets in the array's storage order.
template <class T, int R, int C, bool RepeatRows, bool RepeatCols>
auto repeated_array(const T* data, Index rows, Index cols) {
    using Array = KernelArray<T, R, C>;
    return Array::NullaryExpr(rows, cols, RepeatedValue<T, RepeatRows, RepeatCols, !Array::IsRowMajor>{data});
}

}  // namespace tapestry::detail

namespace tapestry {

template <class Inner, bool RepeatRows, bool RepeatCols, int ResultRows, int ResultCols>
class BroadcastExpr : public ExpressionBase<BroadcastExpr<Inner, RepeatRows, RepeatCols, ResultRows, ResultCols>> {
    static_assert(!RepeatRows || Inner::Rows == 1, "only an extent of 1 can be repeated");
    static_assert(!RepeatCols || Inner::Cols == 1, "only an extent of 1 can be repeated");

public:
    using Scalar = typename Inner::Scalar;
    static constexpr int Rows = ResultRows, Cols = ResultCols;

    BroadcastExpr(Inner inner, Index rows, Index cols) : inner_(std::move(inner)), rows_(rows), cols_(cols) {}

    Index rows() const { return rows_; }
    Index cols() const { return cols_; }
    const Inner& inner() const { return inner_; }
    bool needs_grad() const { return inner_.needs_grad(); }
    void verify() const { inner_.verify(); }

    auto array() const {
        return detail::repeated_array<Scalar, Rows, Cols, RepeatRows, RepeatCols>(inner_.value_data(), rows_, cols_);
    }

    auto tangent() const
        requires requires(const Inner& x) { x.tangent_data(); }
    {
        return detail::repeated_array<Scalar, Rows, Cols, RepeatRows, RepeatCols>(inner_.tangent_data(), rows_, cols_);
    }
    bool has_tangent() const { return inner_.has_tangent(); }

    template <class G>
    void backprop(const G& g) const {
        if constexpr (RepeatRows && RepeatCols)  // column by column: vectorised even where g has no linear access
            inner_.backprop(Eigen::Array<Scalar, 1, 1>::Constant(g.colwise().sum().sum()));
        else if constexpr (RepeatCols)
            inner_.backprop(g.rowwise().sum());
        else
            inner_.backprop(g.colwise().sum());
    }
    // Second order: the adjoint and its tangent summed alike (a broadcast is linear).
    template <class G, class Gt>
        requires detail::SecondOrder<Inner>
    void backprop_with_tangents(const G& g, const Gt& gt) const {
        if constexpr (RepeatRows && RepeatCols)
            inner_.backprop_with_tangents(Eigen::Array<Scalar, 1, 1>::Constant(g.colwise().sum().sum()),
                                          Eigen::Array<Scalar, 1, 1>::Constant(gt.colwise().sum().sum()));
        else if constexpr (RepeatCols)
            inner_.backprop_with_tangents(g.rowwise().sum(), gt.rowwise().sum());
        else
            inner_.backprop_with_tangents(g.colwise().sum(), gt.colwise().sum());
    }

    auto kernel_form() const {
        constexpr int R = detail::kernel_form_extent(Rows, Cols, Rows);
        constexpr int C = detail::kernel_form_extent(Rows, Cols, Cols);
        return BroadcastExpr<decltype(inner_.kernel_form()), RepeatRows, RepeatCols, R, C>(inner_.kernel_form(), rows_,
                                                                                           cols_);
    }
    [[gnu::cold]] std::string describe() const {
        return inner_.describe() + " repeated to " + to_string_shape(rows_, cols_);
    }
    template <class F>
    void for_each_leaf(F&& f) const {
        inner_.for_each_leaf(f);
    }

private:
    Inner inner_;  // a leaf: its value is read in place
    Index rows_, cols_;
};

}  // namespace tapestry
