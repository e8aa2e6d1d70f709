#pragma once
// where(mask, a, b) as a lazy node: a where the mask is set, b elsewhere. The gradient
// each branch receives is g where it was taken and exactly 0 where it was not, picked
// by choose_if (kernels/choose.hpp), never multiplied by the mask: a branch that is NaN
// or infinite where it is not taken contributes neither its value nor a NaN to the
// gradient. (A function inside the untaken branch whose own derivative is infinite
// there still computes 0 x inf = NaN, as in PyTorch; clamp its input if that can happen.)

#include <string>
#include <utility>

#include "tapestry/expr/expression.hpp"
#include "tapestry/kernels/choose.hpp"

namespace tapestry {

// Mask: an expression of 0/1 values that takes no gradient (a stored leaf).
template <class Mask, class Left, class Right>
class SelectExpr : public ExpressionBase<SelectExpr<Mask, Left, Right>> {
public:
    using Scalar = typename Left::Scalar;
    static constexpr int Rows = shape_rules::merge(Left::Rows, Right::Rows);
    static constexpr int Cols = shape_rules::merge(Left::Cols, Right::Cols);

    SelectExpr(Mask mask, Left left, Right right)
        : mask_(std::move(mask)), left_(std::move(left)), right_(std::move(right)) {}

    Index rows() const { return left_.rows(); }
    Index cols() const { return left_.cols(); }
    auto array() const { return pick(left_.array(), right_.array()); }
    bool needs_grad() const { return left_.needs_grad() || right_.needs_grad(); }
    void verify() const {
        mask_.verify();
        left_.verify();
        right_.verify();
    }

    template <class G>
    void backprop(const G& g) const {
        if (left_.needs_grad()) left_.backprop(pick(g, Scalar(0)));
        if (right_.needs_grad()) right_.backprop(pick(Scalar(0), g));
    }

    // Forward mode and second order: the branch taken passes its tangent, and the
    // adjoint's, through; the other gets exactly zero, as in backprop.
    auto tangent() const
        requires requires(const Left& a, const Right& b) {
            a.tangent();
            b.tangent();
        }
    {
        return pick(left_.tangent(), right_.tangent());
    }
    bool has_tangent() const { return left_.has_tangent() || right_.has_tangent(); }
    template <class G, class Gt>
        requires detail::SecondOrder<Left> && detail::SecondOrder<Right>
    void backprop_with_tangents(const G& g, const Gt& gt) const {
        if (left_.needs_grad()) left_.backprop_with_tangents(pick(g, Scalar(0)), pick(gt, Scalar(0)));
        if (right_.needs_grad()) right_.backprop_with_tangents(pick(Scalar(0), g), pick(Scalar(0), gt));
    }

    // The same selection over f(left), f(right) (graph/second_order_form.hpp).
    template <class F>
    auto with_operands(F&& f) const {
        auto left = f(left_);
        auto right = f(right_);
        return SelectExpr<Mask, decltype(left), decltype(right)>(mask_, std::move(left), std::move(right));
    }

    auto kernel_form() const {
        using Form =
            SelectExpr<decltype(mask_.kernel_form()), decltype(left_.kernel_form()), decltype(right_.kernel_form())>;
        return Form(mask_.kernel_form(), left_.kernel_form(), right_.kernel_form());
    }
    [[gnu::cold]] std::string describe() const {
        return "where(" + mask_.describe() + ", " + left_.describe() + ", " + right_.describe() + ")";
    }
    template <class F>
    void for_each_leaf(F&& f) const {
        left_.for_each_leaf(f);
        right_.for_each_leaf(f);
    }

private:
    // a where the mask is set, b elsewhere.
    template <class A, class B>
    auto pick(const A& a, const B& b) const {
        return detail::choose_if(mask_.array(), detail::Nonzero{}, a, b);
    }

    Mask mask_;
    Left left_;
    Right right_;
};

// A value repeated over a shape: the scalar branch of where(mask, x, 0.0). No gradient.
template <class T, int R, int C>
class FilledExpr : public ExpressionBase<FilledExpr<T, R, C>> {
public:
    using Scalar = T;
    static constexpr int Rows = R, Cols = C;

    FilledExpr(T value, Index rows, Index cols) : value_(value), rows_(rows), cols_(cols) {}

    Index rows() const { return rows_; }
    Index cols() const { return cols_; }
    auto array() const { return detail::KernelArray<T, R, C>::Constant(rows_, cols_, value_); }
    bool needs_grad() const { return false; }
    void verify() const {}
    template <class G>
    void backprop(const G&) const {}
    auto tangent() const { return detail::KernelArray<T, R, C>::Zero(rows_, cols_); }
    bool has_tangent() const { return false; }
    template <class G, class Gt>
    void backprop_with_tangents(const G&, const Gt&) const {}

    auto kernel_form() const {
        return FilledExpr<T, detail::kernel_form_extent(R, C, R), detail::kernel_form_extent(R, C, C)>(value_, rows_,
                                                                                                       cols_);
    }
    [[gnu::cold]] std::string describe() const { return std::to_string(value_); }
    template <class F>
    void for_each_leaf(F&&) const {}

private:
    T value_;
    Index rows_, cols_;
};

}  // namespace tapestry
