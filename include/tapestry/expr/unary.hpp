#pragma once
// A unary elementwise node: Op supplies the forward expression and the rule that
// turns the output adjoint into the input adjoint (ops/*.hpp hold the Ops).
//
//   Op::forward(x)          -> Eigen array expression of f(x)
//   Op::backward(g, x, y)   -> Eigen array expression of g * f'(x), given y = f(x)
//   Op::backward_given_value(g, x, y) (optional) -> the same where y is stored, not an
//                              expression that recomputes f: for a slope cheaper from y
//   Op::curvature(g, x, y, dx) -> g * f''(x) * dx, the derivative of backward along x's
//                              tangent dx (second order), or detail::NoCurvature{}

#include "tapestry/expr/expression.hpp"
#include "tapestry/expr/one_pass.hpp"
#include "tapestry/kernels/scratch.hpp"

namespace tapestry {

template <class Op, class Inner>
class UnaryExpr : public ExpressionBase<UnaryExpr<Op, Inner>> {
public:
    using Scalar = typename Inner::Scalar;
    static constexpr int Rows = Inner::Rows, Cols = Inner::Cols;
    static constexpr const char* op_name = Op::name;  // names the value it makes, in errors

    UnaryExpr(Op op, Inner inner) : op_(op), inner_(std::move(inner)) {}

    Index rows() const { return inner_.rows(); }
    Index cols() const { return inner_.cols(); }
    auto array() const { return op_.forward(inner_.array()); }
    bool needs_grad() const { return inner_.needs_grad(); }
    void verify() const { inner_.verify(); }

    // Not at the root of a fused node: recompute f(x) where the derivative wants it.
    template <class G>
    void backprop(const G& g) const {
        if (!inner_.needs_grad() || detail::backprop_in_one_pass(*this, g)) return;
        inner_.backprop(op_.backward(g, inner_.array(), array()));
    }

    // At the root: f(x) was stored when the node was evaluated.
    template <class G, class Y>
    void backprop_given_value(const G& g, const Y& y) const {
        if (!inner_.needs_grad() || detail::backprop_in_one_pass(*this, g, y.data())) return;
        if constexpr (requires { op_.backward_given_value(g, inner_.array(), y); })
            inner_.backprop(op_.backward_given_value(g, inner_.array(), y));
        else
            inner_.backprop(op_.backward(g, inner_.array(), y));
    }

    // Forward mode: f'(x) times x's tangent, which is the backward rule applied to it.
    auto tangent() const
        requires requires(const Inner& x) { x.tangent(); }
    {
        return op_.backward(inner_.tangent(), inner_.array(), array())
            .unaryExpr(detail::KeepIf<Scalar>{inner_.has_tangent()});
    }
    bool has_tangent() const { return inner_.has_tangent(); }

    // Second order: the adjoint g and its tangent gt reach x as f'(x) g and
    // f'(x) gt + f''(x) ẋ g. Each reads g twice: a costly g is evaluated once.
    template <class G, class Gt>
        requires detail::SecondOrder<Inner> &&
                 requires(const Op& op, const Eigen::Array<Scalar, Eigen::Dynamic, Eigen::Dynamic>& a) {
                     op.curvature(a, a, a, a);
                 }
    void backprop_with_tangents(const G& g, const Gt& gt) const {
        if (!inner_.needs_grad()) return;
        detail::send_evaluated_if_costly<Scalar, Rows, Cols>(
            g, gt, [&](const auto& g_read, const auto& gt_read) { send_with_tangents(g_read, gt_read); });
    }

    // The same operation over f(operand) (graph/second_order_form.hpp).
    template <class F>
    auto with_operands(F&& f) const {
        auto operand = f(inner_);
        return UnaryExpr<Op, decltype(operand)>(op_, std::move(operand));
    }

    const Op& op() const { return op_; }
    const Inner& inner() const { return inner_; }

    auto kernel_form() const {
        using Form = decltype(inner_.kernel_form());
        return UnaryExpr<Op, Form>(op_, inner_.kernel_form());
    }
    [[gnu::cold]] std::string describe() const { return std::string(Op::name) + "(" + inner_.describe() + ")"; }
    template <class F>
    void for_each_leaf(F&& f) const {
        inner_.for_each_leaf(f);
    }

private:
    template <class G, class Gt>
    void send_with_tangents(const G& g, const Gt& gt) const {
        const auto x = inner_.array();
        const auto y = array();
        inner_.backprop_with_tangents(
            op_.backward(g, x, y),
            detail::plus_curvature(op_.backward(gt, x, y), op_.curvature(g, x, y, inner_.tangent()),
                                   detail::KeepIf<Scalar>{inner_.has_tangent()}));
    }

    Op op_;
    Inner inner_;
};

}  // namespace tapestry
