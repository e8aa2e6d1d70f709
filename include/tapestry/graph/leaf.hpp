#pragma once
// The leaves of an expression: a Param's value read in place, its gradient its
// grad(); and a computed value (a Var's), its adjoint a buffer on the tape or none.

#include <string>

#include "tapestry/expr/expression.hpp"
#include "tapestry/graph/gradient.hpp"
#include "tapestry/graph/value.hpp"

namespace tapestry {

template <class T, int R, int C>
class ParamLeaf : public ExpressionBase<ParamLeaf<T, R, C>> {
public:
    using Scalar = T;
    static constexpr int Rows = R, Cols = C;

    ParamLeaf(const T* value, detail::ParamGradient<T>* gradient, Index rows, Index cols)
        : value_(value), gradient_(gradient), rows_(rows), cols_(cols) {}

    Index rows() const { return rows_; }
    Index cols() const { return cols_; }
    auto array() const { return Eigen::Map<const detail::KernelArray<T, R, C>>(value_, rows_, cols_); }
    bool needs_grad() const { return true; }
    void verify() const {}

    template <class G>
    void backprop(const G& g) const {
        gradient_->template accumulate<R, C>(rows_, cols_, g);
    }

    const T* value_data() const { return value_; }
    // For the checks after a backward step (the zeros are written first if due).
    const T* adjoint_data() const { return gradient_->read(); }
    detail::GradientSink<T> gradient_sink() const { return detail::GradientSink<T>::into_param(gradient_); }

    auto kernel_form() const {
        return ParamLeaf<T, detail::kernel_form_extent(R, C, R), detail::kernel_form_extent(R, C, C)>(value_, gradient_,
                                                                                                      rows_, cols_);
    }
    static const char* kind() { return "Param"; }
    [[gnu::cold]] std::string describe() const { return detail::describe_operand(kind(), rows_, cols_); }
    template <class F>
    void for_each_leaf(F&& f) const {
        f(*this);
    }

private:
    const T* value_;
    detail::ParamGradient<T>* gradient_;
    Index rows_, cols_;
};

template <class T, int R, int C>
class VarLeaf : public ExpressionBase<VarLeaf<T, R, C>> {
public:
    using Scalar = T;
    static constexpr int Rows = R, Cols = C;

    explicit VarLeaf(detail::ValueParts<T> parts) : parts_(std::move(parts)) {
        detail::verify_operand(parts_.value, parts_.life.get(), parts_.epoch);
    }

    Index rows() const { return parts_.rows; }
    Index cols() const { return parts_.cols; }
    auto array() const { return Eigen::Map<const detail::KernelArray<T, R, C>>(parts_.value, rows(), cols()); }
    bool needs_grad() const { return parts_.adjoint != nullptr; }
    void verify() const { detail::verify_value(parts_.value, parts_.life.get(), parts_.epoch); }

    template <class G>
    void backprop(const G& g) const {
        if (parts_.adjoint != nullptr) Eigen::Map<detail::KernelArray<T, R, C>>(parts_.adjoint, rows(), cols()) += g;
    }

    const T* value_data() const { return parts_.value; }
    const T* adjoint_data() const { return parts_.adjoint; }
    detail::GradientSink<T> gradient_sink() const { return detail::GradientSink<T>::into_adjoint(parts_.adjoint); }
    const detail::ValueParts<T>& parts() const { return parts_; }

    auto kernel_form() const {
        using Form = VarLeaf<T, detail::kernel_form_extent(R, C, R), detail::kernel_form_extent(R, C, C)>;
        return Form(typename Form::Verified{}, parts_);
    }
    static const char* kind() { return "Var"; }
    [[gnu::cold]] std::string describe() const { return detail::describe_operand(kind(), rows(), cols()); }
    template <class F>
    void for_each_leaf(F&& f) const {
        if (needs_grad()) f(*this);
    }

private:
    template <class, int, int>
    friend class VarLeaf;

    // From a leaf that verified its value already (kernel_form): no checks again.
    struct Verified {};
    VarLeaf(Verified, detail::ValueParts<T> parts) : parts_(std::move(parts)) {}

    detail::ValueParts<T> parts_;
};

template <class X>
inline constexpr bool is_leaf_v = false;
template <class T, int R, int C>
inline constexpr bool is_leaf_v<ParamLeaf<T, R, C>> = true;
template <class T, int R, int C>
inline constexpr bool is_leaf_v<VarLeaf<T, R, C>> = true;

}  // namespace tapestry
