#pragma once
// Param: a trainable leaf. It owns its value and its gradient, outlives tapes, and
// receives gradient contributions (+=) from every use the backward pass reaches:
// a Param used twice, as W and as W.transpose(), simply receives both.

#include <memory>
#include <type_traits>
#include <utility>

#include "tapestry/core/eigen.hpp"
#include "tapestry/core/errors.hpp"
#include "tapestry/core/shape.hpp"
#include "tapestry/graph/gradient.hpp"
#include "tapestry/graph/leaf.hpp"
#include "tapestry/graph/param_record.hpp"

namespace tapestry {
namespace detail {
struct ParamAccess;
}  // namespace detail

template <class T, int Rows, int Cols>
class Param {
    static_assert(std::is_floating_point_v<T>, "Param<T, Rows, Cols>: T must be float or double");

    static constexpr bool fixed_size = Rows != Dynamic && Cols != Dynamic;

public:
    using Scalar = T;
    using Matrix = Eigen::Matrix<T, Rows, Cols>;
    static constexpr int rows_at_compile_time = Rows;
    static constexpr int cols_at_compile_time = Cols;

    // What value() and grad() return: the matrix itself, or for a fixed-size Param a
    // Map with its fixed extents, used the same way. A fixed-size Param's numbers live
    // in a run-time-sized matrix on the heap, so that no Eigen::Matrix<float, 256, 784>
    // is ever made: Eigen refuses those above EIGEN_STACK_ALLOCATION_LIMIT (128 KiB)
    // as too big for the stack, wherever they actually are.
    using Ref = std::conditional_t<fixed_size, Eigen::Map<Matrix, Eigen::AlignedMax>, Matrix&>;
    using ConstRef = std::conditional_t<fixed_size, Eigen::Map<const Matrix, Eigen::AlignedMax>, const Matrix&>;

    // Zero-filled; only when both extents are fixed.
    Param()
        requires fixed_size
        : Param(Rows, Cols) {}

    // Zero-filled with run-time extents; a fixed extent must equal the one given.
    Param(Index rows, Index cols) : Param((check_shape(rows, cols), Storage::Zero(rows, cols))) {}

    // From any Eigen matrix or expression of a compatible shape.
    template <class Derived>
    explicit Param(const Eigen::MatrixBase<Derived>& initial) {
        static_assert(shape_rules::agree(Derived::RowsAtCompileTime, Rows) &&
                          shape_rules::agree(Derived::ColsAtCompileTime, Cols),
                      "Param: the Eigen matrix has a different fixed shape than the Param");
        static_assert(std::is_same_v<typename Derived::Scalar, T>,
                      "Param: the Eigen matrix has a different scalar type than the Param");
        check_shape(initial.rows(), initial.cols());
        value_ = std::make_unique<Storage>(initial);
        grad_ = std::make_unique<Storage>(Storage::Zero(initial.rows(), initial.cols()));
        record_ = Record::acquire(value_.get(), grad_.get(), &storage_of, !fixed_size);
    }

    Param(const Param& other) : Param((other.take_resized_storage(), *other.value_)) {
        *grad_ = other.grad();
        record_->assigned(grad_->data(), grad_->size());
    }

    // Assignment copies into this Param's own storage, which tapes and ParamSets that
    // recorded it keep reading. A Dynamic Param assigned one of another shape gets new
    // storage, and what recorded the old one throws when it next reads it.
    Param& operator=(const Param& other) {
        if (this != &other) assign(other);
        return *this;
    }
    Param& operator=(Param&& other) {
        if (this == &other) return *this;
        if (!value_ || !other.value_) {  // either side moved from: the storage itself changes hands
            value_ = std::move(other.value_);
            grad_ = std::move(other.grad_);
            record_ = std::move(other.record_);
        } else {
            assign(other);
        }
        return *this;
    }
    // Moving takes the storage along (it is on the heap): tapes that recorded the
    // moved-from Param read and write the new one's.
    Param(Param&&) noexcept = default;

    Ref value() { return reference(*value_); }
    ConstRef value() const { return reference(std::as_const(*value_)); }
    // The gradient. After zero_grad(), the first read writes the zeros (safely, also
    // when several threads read it at once).
    Ref grad() {
        take_resized_storage();
        record_->read();
        return reference(*grad_);
    }
    ConstRef grad() const {
        take_resized_storage();
        record_->read();
        return reference(std::as_const(*grad_));
    }
    // Sets the gradient to zero; the memory is written when next used (graph/gradient.hpp).
    void zero_grad() {
        take_resized_storage();
        record_->set_zero();
    }

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
    using Storage = std::conditional_t<fixed_size, Eigen::Matrix<T, Dynamic, Dynamic>, Matrix>;
    using Record = detail::ParamRecord<T>;

    static Ref reference(Storage& m) {
        if constexpr (fixed_size)
            return Ref(m.data());
        else
            return m;
    }
    static ConstRef reference(const Storage& m) {
        if constexpr (fixed_size)
            return ConstRef(m.data());
        else
            return m;
    }

    // How expressions read this Param: in place, the gradient going to grad().
    ParamLeaf<T, Rows, Cols> leaf() const {
        take_resized_storage();
        return ParamLeaf<T, Rows, Cols>(record_.get());
    }

    // A Dynamic value or gradient resized in place (value() and grad() give the matrix
    // itself) is noticed here, at the Param's next use: the gradient takes the value's
    // shape (zeros), and the record moves on to the new storage, so that what recorded
    // the old one throws instead of reading freed memory. One compare when nothing changed.
    void take_resized_storage() const {
        if constexpr (!fixed_size) {
            if (record_->storage_unchanged() && grad_->rows() == value_->rows() && grad_->cols() == value_->cols())
                [[likely]]
                return;
            if (grad_->rows() != value_->rows() || grad_->cols() != value_->cols())
                grad_->setZero(value_->rows(), value_->cols());
            record_->storage_replaced();
        }
    }

    T* value_data() const { return value_->data(); }

    static void check_shape(Index rows, Index cols) {
        if ((Rows != Dynamic && rows != Rows) || (Cols != Dynamic && cols != Cols) || rows < 0 || cols < 0)
            detail::throw_shape_error("Param", Rows == Dynamic ? rows : Rows, Cols == Dynamic ? cols : Cols, rows, cols,
                                      "the initial value must have the Param's shape");
    }

    static detail::ParamStorage<T> storage_of(void* value, void* grad) {
        auto& v = *static_cast<Storage*>(value);
        return {v.data(), static_cast<Storage*>(grad)->data(), v.rows(), v.cols()};
    }

    void assign(const Param& other) {
        if (!other.value_) throw value_error("Param: assigned from a Param that was moved from");
        check_shape(other.rows(), other.cols());
        if (!value_) {  // moved from: storage of its own again
            *this = Param(other);
            return;
        }
        other.take_resized_storage();
        take_resized_storage();
        other.record_->read();  // its due zeros, before they are copied
        if (value_->rows() == other.value_->rows() && value_->cols() == other.value_->cols()) {
            *value_ = *other.value_;  // same size: copied in place, nothing allocated
            *grad_ = *other.grad_;
            record_->assigned(grad_->data(), grad_->size());
            return;
        }
        // Another size: both copies made before anything changes, so that a failed
        // allocation leaves this Param as it was.
        Storage value(*other.value_), grad(*other.grad_);
        value_->swap(value);
        grad_->swap(grad);
        record_->storage_replaced();
    }

    // On the heap, so that moving a Param moves no memory that a recorded tape points to.
    std::unique_ptr<Storage> value_;
    std::unique_ptr<Storage> grad_;
    typename Record::Owner record_;  // the gradient's bookkeeping, and what outlives this Param
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
    static ParamRecord<T>& gradient(const Param<T, R, C>& p) {
        p.take_resized_storage();
        return *p.record_;
    }
};
}  // namespace detail

}  // namespace tapestry
