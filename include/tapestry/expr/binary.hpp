#pragma once
// A binary elementwise node over two operands of the same shape (broadcasts are
// already wrapped in BroadcastExpr by the time one is built).
//
//   Op::forward(a, b)            -> Eigen array expression of f(a, b)
//   Op::backward_left(g, a, b)   -> g * df/da
//   Op::backward_right(g, a, b)  -> g * df/db
//   Op::curvature_left(g, a, b, da, db)   -> g * (d²f/da² da + d²f/dadb db), the derivative of
//   Op::curvature_right(g, a, b, da, db)  -> g * (d²f/dbda da + d²f/db² db)  backward along the
//                                            tangents (second order), or detail::NoCurvature{}

#include "tapestry/expr/expression.hpp"
#include "tapestry/expr/one_pass.hpp"
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
    const Op& op() const { return op_; }
    const Left& left() const { return left_; }
    const Right& right() const { return right_; }
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
        if (detail::backprop_in_one_pass(*this, g)) return;
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

    // Second order: each operand receives its backward rule applied to g and to g's
    // tangent gt, plus the rule's own derivative along both operands' tangents.
    template <class G, class Gt>
        requires detail::SecondOrder<Left> && detail::SecondOrder<Right> &&
                 requires(const Op& op, const Eigen::Array<Scalar, Eigen::Dynamic, Eigen::Dynamic>& x) {
                     op.curvature_left(x, x, x, x, x);
                     op.curvature_right(x, x, x, x, x);
                 }
    void backprop_with_tangents(const G& g, const Gt& gt) const {
        detail::send_evaluated_if_costly<Scalar, Rows, Cols>(
            g, gt, [&](const auto& g_read, const auto& gt_read) { send_with_tangents(g_read, gt_read); });
    }

    // The same operation over f(left), f(right) (graph/second_order_form.hpp).
    template <class F>
    auto with_operands(F&& f) const {
        auto left = f(left_);
        auto right = f(right_);
        return BinaryExpr<Op, decltype(left), decltype(right)>(op_, std::move(left), std::move(right));
    }

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

    template <class G, class Gt>
    void send_with_tangents(const G& g, const Gt& gt) const {
        const auto a = left_.array();
        const auto b = right_.array();
        const auto da = left_.tangent();
        const auto db = right_.tangent();
        const detail::KeepIf<Scalar> keep{has_tangent()};
        if (left_.needs_grad())
            left_.backprop_with_tangents(
                op_.backward_left(g, a, b),
                detail::plus_curvature(op_.backward_left(gt, a, b), op_.curvature_left(g, a, b, da, db), keep));
        if (right_.needs_grad())
            right_.backprop_with_tangents(
                op_.backward_right(g, a, b),
                detail::plus_curvature(op_.backward_right(gt, a, b), op_.curvature_right(g, a, b, da, db), keep));
    }

    Op op_;
    Left left_;
    Right right_;
};

namespace detail {
// Is E a BinaryExpr of Op?
template <class Op, class E>
inline constexpr bool is_binary_expr_of = false;
template <class Op, class Left, class Right>
inline constexpr bool is_binary_expr_of<Op, BinaryExpr<Op, Left, Right>> = true;
}  // namespace detail

}  // namespace tapestry
