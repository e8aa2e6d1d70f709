#pragma once
// The leaves of an expression: a Param's value read in place, its gradient its
// grad(); and a computed value (a Var's), its adjoint a buffer on the tape or none.
// Each leaf can tell whether the memory it points to is still what it recorded
// (verify()), which the node builder asks before every forward and backward step.

#include <string>

#include "tapestry/expr/expression.hpp"
#include "tapestry/expr/one_pass.hpp"
#include "tapestry/graph/gradient.hpp"
#include "tapestry/graph/param_record.hpp"
#include "tapestry/graph/value.hpp"
#include "tapestry/kernels/parallel.hpp"
#include "tapestry/kernels/zeros.hpp"

namespace tapestry {

template <class T, int R, int C>
class ParamLeaf : public ExpressionBase<ParamLeaf<T, R, C>> {
public:
    using Scalar = T;
    static constexpr int Rows = R, Cols = C;

    explicit ParamLeaf(detail::ParamRecord<T>* record) : param_(detail::ParamSnapshot<T>::of(record)) {}

    Index rows() const { return param_.storage.rows; }
    Index cols() const { return param_.storage.cols; }
    auto array() const { return Eigen::Map<const detail::KernelArray<T, R, C>>(value_data(), rows(), cols()); }
    bool needs_grad() const { return true; }

    // The Param is still there, with the storage this leaf read: not destroyed, not
    // given new storage by an assignment, not resized in place.
    [[gnu::always_inline]] void verify() const {  // twice per step: out of line, it was 5% of a small node
        if (const char* change = param_.change()) [[unlikely]]
            throw_param_changed(describe(), change);
    }

    template <class G>
    void backprop(const G& g) const {
        param_.record->template accumulate<R, C>(rows(), cols(), g);
    }
    // Second order: g into the gradient, g's tangent into the Param's slice of H v (if
    // the active recording was given one); nothing for a Param held fixed.
    template <class G, class Gt>
    void backprop_with_tangents(const G& g, const Gt& gt) const {
        if (held_fixed()) return;
        backprop(g);
        if (T* adjoint_tangent = given_adjoint_tangent())
            detail::parallel_add(Eigen::Map<detail::KernelArray<T, R, C>>(adjoint_tangent, rows(), cols()), gt);
    }
    // Second order: a Param the active recording has no direction for is held fixed.
    bool held_fixed() const {
        const detail::Recording* recording = detail::Recording::active();
        return recording != nullptr && !recording->knows_param(param_.record);
    }

    const T* value_data() const { return param_.storage.value; }
    // Forward mode: the direction the active recording was given for this Param, or zeros.
    const T* tangent_data() const {
        const T* tangent = given_tangent();
        return tangent != nullptr ? tangent : detail::zeros<T>(rows() * cols());
    }
    bool has_tangent() const { return given_tangent() != nullptr; }
    auto tangent() const { return Eigen::Map<const detail::KernelArray<T, R, C>>(tangent_data(), rows(), cols()); }
    // Second order: where this Param's adjoint tangent is added, or nullptr.
    T* adjoint_tangent_data() const { return given_adjoint_tangent(); }
    // For the checks after a backward step (the zeros are written first if due).
    const T* adjoint_data() const { return param_.record->read(); }
    detail::GradientSink<T> gradient_sink() const { return detail::GradientSink<T>::into_param(param_.record); }
    const detail::ParamSnapshot<T>& snapshot() const { return param_; }

    auto kernel_form() const {
        using Form = ParamLeaf<T, detail::kernel_form_extent(R, C, R), detail::kernel_form_extent(R, C, C)>;
        return Form(param_);
    }
    static const char* kind() { return "Param"; }
    [[gnu::cold]] std::string describe() const { return detail::describe_operand(kind(), rows(), cols()); }
    template <class F>
    void for_each_leaf(F&& f) const {
        f(*this);
    }

    // "a Param 3x2 that this tape recorded was destroyed ... before the step that reads it".
    [[noreturn, gnu::cold, gnu::noinline]] static void throw_param_changed(const std::string& param,
                                                                           const char* change) {
        throw tape_error("a " + param + " that this tape recorded " + change +
                         " before the step that reads it: a Param must outlive the tapes that use it and keep its "
                         "shape (zero_grad() and assigning values of the same shape are fine)");
    }

private:
    template <class, int, int>
    friend class ParamLeaf;

    const T* given_tangent() const {
        const detail::Recording* recording = detail::Recording::active();
        return recording != nullptr ? static_cast<const T*>(recording->param_tangent(param_.record)) : nullptr;
    }
    T* given_adjoint_tangent() const {
        const detail::Recording* recording = detail::Recording::active();
        return recording != nullptr ? static_cast<T*>(recording->param_adjoint_tangent(param_.record)) : nullptr;
    }

    // The same leaf with other static extents (kernel_form): what it recorded, unchanged.
    explicit ParamLeaf(const detail::ParamSnapshot<T>& param) : param_(param) {}

    detail::ParamSnapshot<T> param_;
};

template <class T, int R, int C>
class VarLeaf : public ExpressionBase<VarLeaf<T, R, C>> {
public:
    using Scalar = T;
    static constexpr int Rows = R, Cols = C;

    explicit VarLeaf(detail::ValueParts<T> parts) : parts_(std::move(parts)) { detail::verify_operand(parts_); }

    Index rows() const { return parts_.rows; }
    Index cols() const { return parts_.cols; }
    auto array() const { return Eigen::Map<const detail::KernelArray<T, R, C>>(parts_.value, rows(), cols()); }
    bool needs_grad() const { return parts_.adjoint != nullptr; }
    void verify() const { detail::verify_value(parts_); }

    // g into the adjoint: written over it if it is the first contribution of the sweep
    // (detail::first_write), else added.
    template <class G>
    void backprop(const G& g) const {
        if (parts_.adjoint == nullptr) return;
        Eigen::Map<detail::KernelArray<T, R, C>> adjoint(parts_.adjoint, rows(), cols());
        if (detail::first_write(parts_.life, parts_.position))
            detail::parallel_assign(adjoint, g);
        else
            detail::parallel_add(adjoint, g);
    }
    // Second order: g into the adjoint, g's tangent into the adjoint's tangent.
    template <class G, class Gt>
    void backprop_with_tangents(const G& g, const Gt& gt) const {
        if (parts_.adjoint == nullptr) return;
        backprop(g);
        detail::parallel_add(Eigen::Map<detail::KernelArray<T, R, C>>(adjoint_tangent_data(), rows(), cols()), gt);
    }
    T* adjoint_tangent_data() const {
        return parts_.adjoint != nullptr ? detail::Recording::adjoint_tangent_of(parts_.adjoint, rows() * cols())
                                         : nullptr;
    }

    const T* value_data() const { return parts_.value; }
    const T* adjoint_data() const { return gradient_sink().read(); }
    // Forward mode, on a recording made with tangents: the value's tangent, after its
    // adjoint; zeros for a value nothing trainable reaches.
    const T* tangent_data() const {
        const Index n = rows() * cols();
        return parts_.adjoint != nullptr ? detail::Recording::tangent_of(parts_.adjoint, n) : detail::zeros<T>(n);
    }
    bool has_tangent() const { return parts_.adjoint != nullptr; }
    auto tangent() const { return Eigen::Map<const detail::KernelArray<T, R, C>>(tangent_data(), rows(), cols()); }
    detail::GradientSink<T> gradient_sink() const {
        return detail::GradientSink<T>::into_adjoint(parts_.adjoint, parts_.life, parts_.position, rows() * cols());
    }
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

namespace detail {

// A leaf in a walk of one pass (expr/one_pass.hpp): its value read in place, tile by
// tile, and its gradient written over or added to, as claim() decided.
template <class T>
struct DenseLeafPass {
    using Sums = NoSums;

    template <class Leaf>
    explicit DenseLeafPass(const Leaf& leaf)
        : value(leaf.value_data()), rows(leaf.rows()), sink(leaf.gradient_sink()) {}

    // Where the gradient goes: a stale Param's, or an adjoint not yet written in this
    // sweep, is written over; from here on the gradient counts as written.
    void claim() {
        const auto whole = sink.whole();
        gradient = whole.data;
        overwrite = whole.overwrite;
    }

    template <int W, bool = true>
    [[gnu::always_inline]] auto values(Index i, Index j) const {
        return LeafTile<Eigen::Map<const Tile<T, W>>>{Eigen::Map<const Tile<T, W>>(value + j * rows + i)};
    }
    template <int W, class G, class V>
    [[gnu::always_inline]] void send(const G& g, const V&, Index i, Index j, NoSums&) const {
        if (gradient == nullptr) return;
        Eigen::Map<Tile<T, W>> tile(gradient + j * rows + i);
        if (overwrite)
            tile = g;
        else
            tile += g;
    }
    [[gnu::always_inline]] void end_column(Index, NoSums&) const {}
    static void merge(NoSums&, const NoSums&) {}
    void finish(const NoSums&) const {}

    const T* value;
    Index rows;
    GradientSink<T> sink;
    T* gradient = nullptr;  // nullptr: takes no gradient
    bool overwrite = false;
};

template <class T, int R, int C>
inline constexpr int one_pass_leaves<ParamLeaf<T, R, C>> = 1;
template <class T, int R, int C>
inline constexpr int one_pass_leaves<VarLeaf<T, R, C>> = 1;

template <class T, int R, int C>
struct OnePass<ParamLeaf<T, R, C>> : DenseLeafPass<T> {
    explicit OnePass(const ParamLeaf<T, R, C>& leaf) : DenseLeafPass<T>(leaf) {}
};

template <class T, int R, int C>
struct OnePass<VarLeaf<T, R, C>> : DenseLeafPass<T> {
    explicit OnePass(const VarLeaf<T, R, C>& leaf) : DenseLeafPass<T>(leaf) {}
};

}  // namespace detail

template <class X>
inline constexpr bool is_leaf_v = false;
template <class T, int R, int C>
inline constexpr bool is_leaf_v<ParamLeaf<T, R, C>> = true;
template <class T, int R, int C>
inline constexpr bool is_leaf_v<VarLeaf<T, R, C>> = true;

}  // namespace tapestry
