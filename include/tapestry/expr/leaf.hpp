#pragma once
// The leaves of an expression: a Param (its adjoint is its grad()) and a Var (its
// adjoint is a buffer on the tape, or none). Both also serve as matrix operands
// of a product, which reads their storage in place.

#include "tapestry/expr/expression.hpp"
#include "tapestry/param.hpp"
#include "tapestry/var.hpp"

namespace tapestry {

template <class T, int R, int C>
class ParamLeaf : public ExpressionBase<ParamLeaf<T, R, C>> {
public:
    using Scalar = T;
    static constexpr int Rows = R, Cols = C;

    explicit ParamLeaf(const Param<T, R, C>& p)
        // The grad is written through this leaf only while recording a backward pass.
        : ParamLeaf(p.value_data(), &p.gradient_memory(), p.rows(), p.cols()) {}

    ParamLeaf(const T* value, detail::GradientMemory<T>* gradient, Index rows, Index cols)
        : value_(value), gradient_(gradient), rows_(rows), cols_(cols) {}

    Index rows() const { return rows_; }
    Index cols() const { return cols_; }
    auto array() const { return Eigen::Map<const detail::KernelArray<T, R, C>>(value_, rows_, cols_); }
    bool needs_grad() const { return true; }
    void verify() const {}

    // After zero_grad(), the first contribution overwrites the stale memory.
    template <class G>
    void backprop(const G& g) const {
        Eigen::Map<detail::KernelArray<T, R, C>> grad(gradient_->data(), rows_, cols_);
        if (gradient_->take_for_writing())
            grad = g;
        else
            grad += g;
    }

    const T* value_data() const { return value_; }
    // For writers that can only add (a GEMM): the zeros are written first if due.
    T* adjoint_data() const { return gradient_->zeroed_if_stale(); }
    detail::GradientMemory<T>* gradient_memory() const { return gradient_; }

    auto kernel_form() const {
        return ParamLeaf<T, detail::kernel_form_extent(R, C, R), detail::kernel_form_extent(R, C, C)>(
            value_, gradient_, rows_, cols_);
    }
    static const char* kind() { return "Param"; }
    std::string describe() const { return detail::describe_operand(kind(), rows_, cols_); }
    template <class F>
    void for_each_leaf(F&& f) const {
        f(*this);
    }

private:
    const T* value_;
    detail::GradientMemory<T>* gradient_;
    Index rows_, cols_;
};

template <class T, int R, int C>
class VarLeaf : public ExpressionBase<VarLeaf<T, R, C>> {
public:
    using Scalar = T;
    static constexpr int Rows = R, Cols = C;

    explicit VarLeaf(Var<T, R, C> v) : var_(std::move(v)) { var_.verify_as_operand(); }

    Index rows() const { return var_.rows(); }
    Index cols() const { return var_.cols(); }
    auto array() const { return Eigen::Map<const detail::KernelArray<T, R, C>>(var_.value_data(), rows(), cols()); }
    bool needs_grad() const { return var_.adjoint_data() != nullptr; }
    void verify() const { var_.verify(); }

    template <class G>
    void backprop(const G& g) const {
        if (var_.adjoint_data() != nullptr)
            Eigen::Map<detail::KernelArray<T, R, C>>(var_.adjoint_data(), rows(), cols()) += g;
    }

    const T* value_data() const { return var_.value_data(); }
    T* adjoint_data() const { return var_.adjoint_data(); }

    auto kernel_form() const {
        using Form = VarLeaf<T, detail::kernel_form_extent(R, C, R), detail::kernel_form_extent(R, C, C)>;
        return Form(typename Form::Checked{}, var_.parts());
    }
    static const char* kind() { return "Var"; }
    std::string describe() const { return detail::describe_operand(kind(), rows(), cols()); }
    template <class F>
    void for_each_leaf(F&& f) const {
        if (needs_grad()) f(*this);
    }
    const Var<T, R, C>& var() const { return var_; }

private:
    template <class, int, int>
    friend class VarLeaf;

    // From a leaf that checked its Var already (kernel_form): no checks again.
    struct Checked {};
    VarLeaf(Checked, detail::VarParts<T> parts) : var_(std::move(parts)) {}

    Var<T, R, C> var_;
};

template <class X>
inline constexpr bool is_leaf_v = false;
template <class T, int R, int C>
inline constexpr bool is_leaf_v<ParamLeaf<T, R, C>> = true;
template <class T, int R, int C>
inline constexpr bool is_leaf_v<VarLeaf<T, R, C>> = true;

}  // namespace tapestry
