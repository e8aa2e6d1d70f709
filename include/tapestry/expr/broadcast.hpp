#pragma once
// Broadcasting: an operand repeated along an axis where its compile-time extent is 1
// (a bias column Rx1 over the columns of an RxC batch). Its gradient sums the
// adjoint over the repeated axis.

#include "tapestry/expr/expression.hpp"

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
    bool needs_grad() const { return inner_.needs_grad(); }
    void verify() const { inner_.verify(); }

    // rowwise().replicate() keeps the row index as is, so Eigen vectorises down each column.
    auto array() const {
        if constexpr (RepeatRows && RepeatCols)
            return inner_.array().replicate(rows_, cols_);
        else if constexpr (RepeatCols)
            return inner_.array().rowwise().replicate(cols_);
        else
            return inner_.array().colwise().replicate(rows_);
    }

    template <class G>
    void backprop(const G& g) const {
        if constexpr (RepeatRows && RepeatCols)
            inner_.backprop(Eigen::Array<Scalar, 1, 1>::Constant(g.sum()));
        else if constexpr (RepeatCols)
            inner_.backprop(g.rowwise().sum());
        else
            inner_.backprop(g.colwise().sum());
    }

private:
    Inner inner_;
    Index rows_, cols_;
};

}  // namespace tapestry
