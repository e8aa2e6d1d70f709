#pragma once
// Param: a trainable leaf. It owns its value and its gradient, outlives tapes, and
// receives gradient contributions (+=) from every use the backward pass reaches:
// a Param used twice, as W and as W.transpose(), simply receives both.

#include <memory>
#include <type_traits>

#include "tapestry/core/eigen.hpp"
#include "tapestry/core/errors.hpp"
#include "tapestry/core/shape.hpp"
#include "tapestry/graph/gradient.hpp"
#include "tapestry/graph/leaf.hpp"

namespace tapestry {
namespace detail {
struct ParamAccess;
}  // namespace detail

template <class T, int Rows, int Cols>
class Param {
    static_assert(std::is_floating_point_v<T>, "Param<T, Rows, Cols>: T must be float or double");
#if EIGEN_STACK_ALLOCATION_LIMIT
    static_assert(Rows == Dynamic || Cols == Dynamic ||
                      std::size_t(Rows) * std::size_t(Cols) * sizeof(T) <= EIGEN_STACK_ALLOCATION_LIMIT,
                  "this fixed-size Param is larger than EIGEN_STACK_ALLOCATION_LIMIT: include "
                  "<tapestry/tapestry.hpp> before any Eigen header, or define "
                  "EIGEN_STACK_ALLOCATION_LIMIT to 0 (tapestry keeps Params on the heap)");
#endif

public:
    using Scalar = T;
    using Matrix = Eigen::Matrix<T, Rows, Cols>;
    static constexpr int rows_at_compile_time = Rows;
    static constexpr int cols_at_compile_time = Cols;

    // Zero-filled; only when both extents are fixed.
    Param()
        requires(Rows != Dynamic && Cols != Dynamic)
        : value_(std::make_unique<Matrix>(Matrix::Zero())),
          grad_(std::make_unique<Matrix>(Matrix::Zero())),
          gradient_(gradient_of(*grad_)),
          value_data_(value_->data()) {}

    // Zero-filled with run-time extents; a fixed extent must equal the one given.
    Param(Index rows, Index cols) {
        check_shape(rows, cols);
        value_ = std::make_unique<Matrix>(Matrix::Zero(rows, cols));
        grad_ = std::make_unique<Matrix>(Matrix::Zero(rows, cols));
        gradient_ = gradient_of(*grad_);
        value_data_ = value_->data();
    }

    // From any Eigen matrix or expression of a compatible shape.
    template <class Derived>
    explicit Param(const Eigen::MatrixBase<Derived>& initial) {
        static_assert(shape_rules::agree(Derived::RowsAtCompileTime, Rows) &&
                          shape_rules::agree(Derived::ColsAtCompileTime, Cols),
                      "Param: the Eigen matrix has a different fixed shape than the Param");
        static_assert(std::is_same_v<typename Derived::Scalar, T>,
                      "Param: the Eigen matrix has a different scalar type than the Param");
        check_shape(initial.rows(), initial.cols());
        value_ = std::make_unique<Matrix>(initial);
        grad_ = std::make_unique<Matrix>(Matrix::Zero(initial.rows(), initial.cols()));
        gradient_ = gradient_of(*grad_);
        value_data_ = value_->data();
    }

    Param(const Param& other)
        : value_(std::make_unique<Matrix>(*other.value_)),
          grad_(std::make_unique<Matrix>(other.grad())),
          gradient_(gradient_of(*grad_)),
          value_data_(value_->data()) {}
    Param& operator=(const Param& other) {
        if (this != &other) {
            check_shape(other.rows(), other.cols());
            *value_ = *other.value_;
            *grad_ = other.grad();
            gradient_->assigned(grad_->data(), grad_->size());
            value_data_ = value_->data();
        }
        return *this;
    }
    Param(Param&&) noexcept = default;
    Param& operator=(Param&&) noexcept = default;

    Matrix& value() { return *value_; }
    const Matrix& value() const { return *value_; }
    // The gradient. After zero_grad(), the first read writes the zeros (safely, also
    // when several threads read it at once).
    Matrix& grad() {
        gradient_->read();
        return *grad_;
    }
    const Matrix& grad() const {
        gradient_->read();
        return *grad_;
    }
    // Sets the gradient to zero; the memory is written when next used (graph/gradient.hpp).
    void zero_grad() { gradient_->set_zero(); }

    Index rows() const {
        if constexpr (Rows != Dynamic)
            return Rows;
        else
            return value_->rows();
    }
    Index cols() const {
        if constexpr (Cols != Dynamic)
            return Cols;
        else
            return value_->cols();
    }

    // A view for expressions: W.transpose() * h reads W in place and its gradient lands in W.grad().
    auto transpose() const& { return TransposeExpr<ParamLeaf<T, Rows, Cols>>(leaf()); }
    auto transpose() const&& = delete;

private:
    friend struct detail::ParamAccess;

    // How expressions read this Param: in place, the gradient going to grad().
    ParamLeaf<T, Rows, Cols> leaf() const { return {value_data(), gradient_.get(), rows(), cols()}; }

    // The value's storage, read without naming the Matrix type: instantiating
    // Eigen::Matrix<float, 1000, 784> and its bases costs compile time per shape, in
    // every file that builds expressions. A Dynamic extent may be resized through
    // value(), so that case asks the matrix.
    T* value_data() const {
        if constexpr (Rows != Dynamic && Cols != Dynamic)
            return value_data_;
        else
            return value_->data();
    }

    static void check_shape(Index rows, Index cols) {
        if ((Rows != Dynamic && rows != Rows) || (Cols != Dynamic && cols != Cols) || rows < 0 || cols < 0)
            detail::throw_shape_error("Param", Rows == Dynamic ? rows : Rows, Cols == Dynamic ? cols : Cols, rows, cols,
                                      "the initial value must have the Param's shape");
    }

    static std::unique_ptr<detail::ParamGradient<T>> gradient_of(Matrix& grad) {
        return std::make_unique<detail::ParamGradient<T>>(grad.data(), grad.size());
    }

    // On the heap, so that moving a Param moves no memory that a recorded tape points to.
    std::unique_ptr<Matrix> value_;
    std::unique_ptr<Matrix> grad_;
    std::unique_ptr<detail::ParamGradient<T>> gradient_;
    T* value_data_ = nullptr;  // value_->data(); read only when both extents are fixed (it cannot move then)
};

template <class X>
inline constexpr bool is_param_v = false;
template <class T, int R, int C>
inline constexpr bool is_param_v<Param<T, R, C>> = true;

namespace detail {
// What the library reads of a Param beyond its public interface: its leaf for
// expressions, its storage and its gradient for optimizers, files and checks.
struct ParamAccess {
    template <class T, int R, int C>
    static ParamLeaf<T, R, C> leaf(const Param<T, R, C>& p) {
        return p.leaf();
    }
    template <class T, int R, int C>
    static T* value_data(const Param<T, R, C>& p) {
        return p.value_data();
    }
    template <class T, int R, int C>
    static ParamGradient<T>& gradient(const Param<T, R, C>& p) {
        return *p.gradient_;
    }
};
}  // namespace detail

}  // namespace tapestry
