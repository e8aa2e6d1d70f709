#pragma once
// transpose(): a view. Elementwise, it reads its operand transposed and sends the
// adjoint back transposed; in a product of a leaf it becomes a GEMM flag (product.hpp).

#include "tapestry/expr/leaf.hpp"

namespace tapestry {

template <class Inner>
class TransposeExpr : public ExpressionBase<TransposeExpr<Inner>> {
public:
    using Scalar = typename Inner::Scalar;
    static constexpr int Rows = Inner::Cols, Cols = Inner::Rows;

    explicit TransposeExpr(Inner inner) : inner_(std::move(inner)) {}

    Index rows() const { return inner_.cols(); }
    Index cols() const { return inner_.rows(); }
    auto array() const { return inner_.array().transpose(); }
    bool needs_grad() const { return inner_.needs_grad(); }
    void verify() const { inner_.verify(); }

    template <class G>
    void backprop(const G& g) const {
        inner_.backprop(g.transpose());
    }

    const Inner& inner() const { return inner_; }

    auto kernel_form() const { return TransposeExpr<decltype(inner_.kernel_form())>(inner_.kernel_form()); }
    [[gnu::cold]] std::string describe() const { return inner_.describe() + ".transpose()"; }
    template <class F>
    void for_each_leaf(F&& f) const {
        inner_.for_each_leaf(f);
    }

private:
    Inner inner_;
};

template <class T, int R, int C>
auto Param<T, R, C>::transpose() const& {
    return TransposeExpr<ParamLeaf<T, R, C>>(ParamLeaf<T, R, C>(*this));
}

template <class T, int R, int C>
auto Var<T, R, C>::transpose() const {
    return TransposeExpr<VarLeaf<T, R, C>>(VarLeaf<T, R, C>(*this));
}

}  // namespace tapestry
