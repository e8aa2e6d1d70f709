#pragma once
// A binary elementwise node over two operands of the same shape (broadcasts are
// already wrapped in BroadcastExpr by the time one is built).
//
//   Op::forward(a, b)            -> Eigen array expression of f(a, b)
//   Op::backward_left(g, a, b)   -> g * df/da
//   Op::backward_right(g, a, b)  -> g * df/db

#include "tapestry/expr/expression.hpp"
#include "tapestry/kernels/scratch.hpp"

namespace tapestry {

template <class Op, class Left, class Right>
class BinaryExpr : public ExpressionBase<BinaryExpr<Op, Left, Right>> {
public:
    using Scalar = typename Left::Scalar;
    static constexpr int Rows = shape_rules::merge(Left::Rows, Right::Rows);
    static constexpr int Cols = shape_rules::merge(Left::Cols, Right::Cols);
    static constexpr const char* op_name = Op::name;  // names the value it makes, in errors

    BinaryExpr(Op op, Left left, Right right) : op_(op), left_(std::move(left)), right_(std::move(right)) {}

    Index rows() const { return left_.rows(); }
    Index cols() const { return left_.cols(); }
    auto array() const { return op_.forward(left_.array(), right_.array()); }
    bool needs_grad() const { return left_.needs_grad() || right_.needs_grad(); }
    void verify() const {
        left_.verify();
        right_.verify();
    }

    // Both operands read g; if g is costly to evaluate, it is evaluated once, into scratch.
    // Also when only one operand needs it: that costs one pass over scratch, but the
    // operands' backward steps are then compiled for a plain array rather than once
    // more for each costly expression that reaches them.
    template <class G>
    void backprop(const G& g) const {
        if constexpr (detail::costly_to_recompute<G>) {
            const detail::EvaluatedOnce<Scalar, Rows, Cols> once(g);
            backprop_to_operands(once.array());
        } else {
            backprop_to_operands(g);
        }
    }

    // Forward mode: each operand's tangent through the backward rule (elementwise, so the
    // rule that scales g by a partial derivative scales a tangent by it too), summed.
    auto tangent() const
        requires requires(const Left& a, const Right& b) {
            a.tangent();
            b.tangent();
        }
    {
        return op_.backward_left(left_.tangent(), left_.array(), right_.array())
                   .unaryExpr(detail::KeepIf<Scalar>{left_.has_tangent()}) +
               op_.backward_right(right_.tangent(), left_.array(), right_.array())
                   .unaryExpr(detail::KeepIf<Scalar>{right_.has_tangent()});
    }
    bool has_tangent() const { return left_.has_tangent() || right_.has_tangent(); }

    auto kernel_form() const {
        using LeftForm = decltype(left_.kernel_form());
        using RightForm = decltype(right_.kernel_form());
        return BinaryExpr<Op, LeftForm, RightForm>(op_, left_.kernel_form(), right_.kernel_form());
    }
    [[gnu::cold]] std::string describe() const {
        return std::string(Op::name) + "(" + left_.describe() + ", " + right_.describe() + ")";
    }
    template <class F>
    void for_each_leaf(F&& f) const {
        left_.for_each_leaf(f);
        right_.for_each_leaf(f);
    }

private:
    template <class G>
    void backprop_to_operands(const G& g) const {
        if (left_.needs_grad()) left_.backprop(op_.backward_left(g, left_.array(), right_.array()));
        if (right_.needs_grad()) right_.backprop(op_.backward_right(g, left_.array(), right_.array()));
    }

    Op op_;
    Left left_;
    Right right_;
};

}  // namespace tapestry
