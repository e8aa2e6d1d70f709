#pragma once
// The backward step of a fused elementwise expression in one pass over its elements,
// for all its operands at once.
//
// The recursive backprop (expr/unary.hpp, expr/binary.hpp) hands each operand its
// gradient as an Eigen expression, and each operand then runs a loop of its own: the
// backward step of sum(square((y - mu) * s)) walks y three times (y's gradient, and the
// sums that the broadcast mu and s take), recomputing y - mu each time. Here the
// expression is walked once, a tile of one packet at a time down each column:
//
//   values<W>(i, j)          every node's value on the tile, bottom-up (each leaf read once;
//                            the root's only where its own rule reads it)
//   send<W>(g, values, i, j) the tile's gradient, top-down from those values: a dense
//                            operand's written into its gradient, a broadcast one's summed
//   end_column(j), finish()  a broadcast operand's sums handed to its leaf
//
// A node type takes part by specialising OnePass (here: unary, binary and broadcast
// nodes; graph/leaf.hpp: Params and Vars). The walk is compiled only where it pays for
// its compile time (worth_compiling_one_pass) and run only where it saves passes
// (backprop_in_one_pass); anything else (a transpose, a block, where, a loop large
// enough to be cut between threads) keeps the recursive path.
//
// Which gradient is written over and which added to (graph/gradient.hpp) is decided by
// claim(), in the order the tiles are then sent: an operand used twice is written by its
// first use and added to by the second, tile by tile.

#include <algorithm>
#include <type_traits>

#include "tapestry/core/shape.hpp"
#include "tapestry/expr/declarations.hpp"
#include "tapestry/kernels/parallel.hpp"
#include "tapestry/kernels/scratch.hpp"

namespace tapestry {

namespace detail {

// What a node keeps while it walks, besides the walk itself: its running sums (none here).
struct NoSums {};

// The walk over an expression of type E; not specialised: E keeps the recursive path.
template <class E>
struct OnePass {
    using Sums = NoSums;
};

// What a walk of E would meet, read without instantiating OnePass<E> (which, for every
// fused expression of a program, cost a tenth of a Model B step's compile time): its
// leaves, 0 if some node of E cannot be walked; whether it repeats a 1x1; whether it
// repeats a row or a column. Leaves: graph/leaf.hpp.
template <class E>
inline constexpr int one_pass_leaves = 0;
template <class E>
inline constexpr bool one_pass_repeats_a_scalar = false;
template <class E>
inline constexpr bool one_pass_repeats_a_line = false;

template <class Op, class Inner>
inline constexpr int one_pass_leaves<UnaryExpr<Op, Inner>> = one_pass_leaves<Inner>;
template <class Op, class Inner>
inline constexpr bool one_pass_repeats_a_scalar<UnaryExpr<Op, Inner>> = one_pass_repeats_a_scalar<Inner>;
template <class Op, class Inner>
inline constexpr bool one_pass_repeats_a_line<UnaryExpr<Op, Inner>> = one_pass_repeats_a_line<Inner>;

template <class Op, class L, class R>
inline constexpr int one_pass_leaves<BinaryExpr<Op, L, R>> =
    one_pass_leaves<L> > 0 && one_pass_leaves<R> > 0 ? one_pass_leaves<L> + one_pass_leaves<R> : 0;
template <class Op, class L, class R>
inline constexpr bool one_pass_repeats_a_scalar<BinaryExpr<Op, L, R>> =
    one_pass_repeats_a_scalar<L> || one_pass_repeats_a_scalar<R>;
template <class Op, class L, class R>
inline constexpr bool one_pass_repeats_a_line<BinaryExpr<Op, L, R>> =
    one_pass_repeats_a_line<L> || one_pass_repeats_a_line<R>;

// A broadcast repeats a stored leaf: a 1x1, or a row or a column (a 1x1 beside a column
// vector is both a 1x1 and a row, repeated down its one column).
template <class Inner, bool RR, bool RC, int R, int C>
inline constexpr int one_pass_leaves<BroadcastExpr<Inner, RR, RC, R, C>> = one_pass_leaves<Inner> > 0 ? 1 : 0;
template <class Inner, bool RR, bool RC, int R, int C>
inline constexpr bool one_pass_repeats_a_scalar<BroadcastExpr<Inner, RR, RC, R, C>> =
    Inner::Rows == 1 && Inner::Cols == 1;
template <class Inner, bool RR, bool RC, int R, int C>
inline constexpr bool one_pass_repeats_a_line<BroadcastExpr<Inner, RR, RC, R, C>> = !(RR && RC);

// W values down one column: a packet, or 1 for the rows left at a column's end.
template <class T, int W>
using Tile = Eigen::Array<T, W, 1>;

template <class T>
inline constexpr int packet_width = Eigen::internal::packet_traits<T>::size;

// What values<W>() gives: a node's value on the tile, and its operands'. At the root,
// whose value only its own backward rule may read, the value is NotComputed: a unary
// root's rule is handed f(x) unevaluated, so that a rule that ignores it (softplus's,
// g * logistic(x)) costs no f.
struct NotComputed {};
template <class Value>
struct LeafTile {
    Value value;
};
template <class Value, class Operand>
struct UnaryTile {
    Value value;
    Operand operand;
};
// The root's tile where its value was stored: a rule cheaper given its value
// (backward_given_value) takes it only here, where the value costs nothing. A value the
// walk computed would cost its f even where the parent's rule ignores it.
template <class Value, class Operand>
struct StoredUnaryTile : UnaryTile<Value, Operand> {};
template <class Value, class Left, class Right>
struct BinaryTile {
    Value value;
    Left left;
    Right right;
};

// How many gradients the recursive path would compute, one loop each: one per leaf
// that takes a gradient, a broadcast's leaf included.
template <class E>
int gradient_loops(const E& e) {
    int loops = 0;
    e.for_each_leaf([&](const auto&) { ++loops; });
    return loops;
}

// Whether the walk is compiled for E at all. Each expression it is compiled for costs
// compile time (compiled for every fused expression of a Model B training step, a fifth
// more; for its loss alone, `sigmoid_cross_entropy(W x + c, x)` with three leaves, a
// tenth), so only where it saves passes that cost: where a 1x1 is repeated, whose sum
// the recursive path takes in a pass of its own (`(y - mu) / sigma`), or over four
// leaves or more. A layer's `sigmoid(W x + b)` (two leaves, a bias column) measured the
// same either way, and so did the loss's, and a loop too short for a packet gains nothing.
template <class E, class T = typename E::Scalar>
inline constexpr bool columns_can_hold_a_packet =
    packet_width<T> >= 2 && (E::Rows == Eigen::Dynamic || E::Rows >= packet_width<T>);
template <class E>
inline constexpr bool worth_compiling_one_pass =
    columns_can_hold_a_packet<E> &&
    (one_pass_leaves<E> >= 4 || (one_pass_leaves<E> >= 2 && one_pass_repeats_a_scalar<E>));

// g read a tile at a time along its storage, as one line: for an expression whose
// broadcasts (if any) repeat a 1x1, so that each column's leftover rows are not a scalar
// loop of their own (a 31 x 528 array: a tail of 15 of every 31 floats).
template <class G>
inline constexpr bool readable_as_one_line = (Eigen::internal::evaluator<G>::Flags & Eigen::LinearAccessBit) != 0 &&
                                             (Eigen::internal::evaluator<G>::Flags & Eigen::PacketAccessBit) != 0;

// Sends g (the expression's gradient, an Eigen array expression of its shape) to every
// operand in one pass, if the expression can be walked and the walk pays; returns false
// otherwise, having done nothing. `value`: the expression's value, stored (a unary root
// then uses it rather than recompute it), or nullptr.
template <class E, class G>
bool backprop_in_one_pass(const E& e, const G& g, const typename E::Scalar* value = nullptr) {
    using T = typename E::Scalar;
    constexpr int W = packet_width<T>;
    if constexpr (!worth_compiling_one_pass<E>) {
        (void)e, (void)g, (void)value;
        return false;
    } else {
        constexpr bool as_one_line = !one_pass_repeats_a_line<E> && readable_as_one_line<G>;
        const Index rows = e.rows(), cols = e.cols();
        // Down columns, a column's leftover rows run one at a time: worth it for long
        // columns only (a quarter of the rows at most), or for one column.
        const bool long_enough = as_one_line ? rows * cols >= W : rows >= W && (cols == 1 || rows >= 4 * W);
        if (!long_enough || cols == 0 || ElementwiseCut(rows, cols, double(rows) * double(cols)).pieces > 1 ||
            gradient_loops(e) < 2)
            return false;
        const ScratchScope scratch;  // the sums of a repeated column or row
        OnePass<E> built(e);         // takes the scratch; may throw, having changed nothing
        built.claim();               // where each gradient goes, written over or added to
        // The loop reads copies whose address never leaves this function (the walk, g)
        // and keeps its running sums in a local of plain packets: the compiler then keeps
        // them in registers, where otherwise any store into a gradient might change them
        // and they would be reloaded (the sums stored) at every tile.
        OnePass<E> walk = built;
        typename OnePass<E>::Sums sums{}, other_sums{};
        const G g_copy = g;
        const Eigen::internal::evaluator<G> g_read(g_copy);
        const Index length = as_one_line ? rows * cols : rows, lines = as_one_line ? 1 : cols;
        // (GNU's attribute: clang++ reads [[gnu::always_inline]] here as applying to the type.)
        const auto send_tile = [&]<int Width>(Index i, Index j, auto& sums) __attribute__((always_inline)) {
            Tile<T, Width> g_tile;
            if constexpr (!as_one_line)
                g_tile = g_copy.template block<Width, 1>(i, j);
            else if constexpr (Width == 1)
                g_tile(0) = g_read.coeff(i);
            else
                Eigen::internal::pstoreu(
                    g_tile.data(),
                    g_read.template packet<Eigen::Unaligned, typename Eigen::internal::packet_traits<T>::type>(i));
            if constexpr (requires { walk.template values_given<Width>(i, j, g_tile); }) {
                if (value != nullptr) {
                    const Eigen::Map<const Tile<T, Width>> y(value + j * length + i);
                    walk.template send<Width>(g_tile, walk.template values_given<Width>(i, j, y), i, j, sums);
                    return;
                }
            }
            walk.template send<Width>(g_tile, walk.template values<Width, false>(i, j), i, j, sums);
        };
        for (Index j = 0; j < lines; ++j) {
            Index i = 0;
            // Two tiles at a time, each with its own running sums, so that an addition
            // into a sum does not wait for the previous tile's.
            for (; i + 2 * W <= length; i += 2 * W) {
                send_tile.template operator()<W>(i, j, sums);
                send_tile.template operator()<W>(i + W, j, other_sums);
            }
            if (i + W <= length) {
                send_tile.template operator()<W>(i, j, sums);
                i += W;
            }
            for (; i < length; ++i) send_tile.template operator()<1>(i, j, sums);
            OnePass<E>::merge(sums, other_sums);
            other_sums = {};
            walk.end_column(j, sums);
        }
        built.finish(sums);
        return true;
    }
}

template <class Op, class Inner>
struct OnePass<UnaryExpr<Op, Inner>> {
    using T = typename Inner::Scalar;
    using Sums = typename OnePass<Inner>::Sums;

    explicit OnePass(const UnaryExpr<Op, Inner>& e) : op_(e.op()), inner_(e.inner()) {}

    template <int W, bool ForParent = true>
    [[gnu::always_inline]] auto values(Index i, Index j) const {
        auto x = inner_.template values<W>(i, j);
        if constexpr (ForParent)
            return UnaryTile<Tile<T, W>, decltype(x)>{op_.forward(x.value), x};
        else
            return UnaryTile<NotComputed, decltype(x)>{{}, x};
    }
    // At the root of a fused node: its value y was stored.
    template <int W, class Y>
    [[gnu::always_inline]] auto values_given(Index i, Index j, const Y& y) const {
        auto x = inner_.template values<W>(i, j);
        return StoredUnaryTile<Tile<T, W>, decltype(x)>{{y, x}};
    }
    template <int W, class G, class V>
    [[gnu::always_inline]] void send(const G& g, const V& v, Index i, Index j, Sums& sums) const {
        if constexpr (std::is_same_v<std::remove_cvref_t<decltype(v.value)>, NotComputed>)
            inner_.template send<W>(Tile<T, W>(op_.backward(g, v.operand.value, op_.forward(v.operand.value))),
                                    v.operand, i, j, sums);
        else if constexpr (std::is_same_v<V, StoredUnaryTile<Tile<T, W>, decltype(v.operand)>> &&
                           requires { op_.backward_given_value(g, v.operand.value, v.value); })
            inner_.template send<W>(Tile<T, W>(op_.backward_given_value(g, v.operand.value, v.value)), v.operand, i, j,
                                    sums);
        else
            inner_.template send<W>(Tile<T, W>(op_.backward(g, v.operand.value, v.value)), v.operand, i, j, sums);
    }
    void claim() { inner_.claim(); }
    [[gnu::always_inline]] void end_column(Index j, Sums& sums) { inner_.end_column(j, sums); }
    static void merge(Sums& into, const Sums& from) { OnePass<Inner>::merge(into, from); }
    void finish(const Sums& sums) const { inner_.finish(sums); }

private:
    Op op_;
    OnePass<Inner> inner_;
};

template <class Op, class Left, class Right>
struct OnePass<BinaryExpr<Op, Left, Right>> {
    using T = typename Left::Scalar;
    struct Sums {
        typename OnePass<Left>::Sums left;
        typename OnePass<Right>::Sums right;
    };

    explicit OnePass(const BinaryExpr<Op, Left, Right>& e) : op_(e.op()), left_(e.left()), right_(e.right()) {}

    template <int W, bool ForParent = true>
    [[gnu::always_inline]] auto values(Index i, Index j) const {
        auto a = left_.template values<W>(i, j);
        auto b = right_.template values<W>(i, j);
        if constexpr (ForParent)
            return BinaryTile<Tile<T, W>, decltype(a), decltype(b)>{op_.forward(a.value, b.value), a, b};
        else
            return BinaryTile<NotComputed, decltype(a), decltype(b)>{{}, a, b};
    }
    template <int W, class G, class V>
    [[gnu::always_inline]] void send(const G& g, const V& v, Index i, Index j, Sums& sums) const {
        left_.template send<W>(Tile<T, W>(op_.backward_left(g, v.left.value, v.right.value)), v.left, i, j, sums.left);
        right_.template send<W>(Tile<T, W>(op_.backward_right(g, v.left.value, v.right.value)), v.right, i, j,
                                sums.right);
    }
    void claim() {  // in the order the tiles are sent
        left_.claim();
        right_.claim();
    }
    [[gnu::always_inline]] void end_column(Index j, Sums& sums) {
        left_.end_column(j, sums.left);
        right_.end_column(j, sums.right);
    }
    static void merge(Sums& into, const Sums& from) {
        OnePass<Left>::merge(into.left, from.left);
        OnePass<Right>::merge(into.right, from.right);
    }
    void finish(const Sums& sums) const {
        left_.finish(sums.left);
        right_.finish(sums.right);
    }

private:
    Op op_;
    OnePass<Left> left_;
    OnePass<Right> right_;
};

// A stored 1x1, column (Rx1) or row (1xC) repeated: its value read in place, its gradient
// summed over the repetition and handed to its leaf when the walk ends. A column's sums
// go into a line of scratch, tile by tile; a 1x1's or a row's into a packet of running
// sums (reduced at the end of each column for a row).
template <class Inner, bool RepeatRows, bool RepeatCols, int R, int C>
struct OnePass<BroadcastExpr<Inner, RepeatRows, RepeatCols, R, C>> {
    using T = typename Inner::Scalar;
    using Packet = typename Eigen::internal::packet_traits<T>::type;
    static constexpr bool repeats_a_column = RepeatCols && !RepeatRows;
    struct RunningSums {
        Packet packet = Eigen::internal::pset1<Packet>(T(0));
        T tail = T(0);
        T total() const { return Eigen::internal::predux(packet) + tail; }
    };
    using Sums = std::conditional_t<repeats_a_column, NoSums, RunningSums>;

    // Takes scratch for the sums along a line: call inside a ScratchScope.
    explicit OnePass(const BroadcastExpr<Inner, RepeatRows, RepeatCols, R, C>& e)
        : inner_(&e.inner()),
          data_(inner_->value_data()),
          cols_(e.cols()),
          column_value_(data_[0]),
          takes_(inner_->needs_grad()) {
        if (!takes_) return;
        if constexpr (RepeatRows != RepeatCols) {
            const Index length = RepeatCols ? e.rows() : e.cols();
            line_ = static_cast<T*>(ScratchStack::of_this_thread().take(sizeof(T) * static_cast<std::size_t>(length)));
            std::fill_n(line_, length, T(0));
        }
    }

    // The repeated value, as an expression: a tile set to a constant and read back would
    // stall the loop (two 32-byte stores read by one 64-byte load).
    template <int Width, bool = true>
    [[gnu::always_inline]] auto values(Index i, Index) const {
        if constexpr (repeats_a_column) {
            return LeafTile<Eigen::Map<const Tile<T, Width>>>{Eigen::Map<const Tile<T, Width>>(data_ + i)};
        } else {
            auto repeated = Tile<T, Width>::Constant(column_value_);
            return LeafTile<decltype(repeated)>{repeated};
        }
    }
    // A running sum is kept whether or not the leaf takes it: an addition in a register
    // costs less than a branch.
    template <int Width, class G, class V>
    [[gnu::always_inline]] void send(const G& g, const V&, Index i, Index, Sums& sums) const {
        if constexpr (repeats_a_column) {
            if (takes_) Eigen::Map<Tile<T, Width>>(line_ + i) += g;
        } else if constexpr (Width == 1) {
            sums.tail += g(0);
        } else {
            sums.packet = Eigen::internal::padd(sums.packet, Eigen::internal::ploadu<Packet>(g.data()));
        }
    }
    static void merge(Sums& into, const Sums& from) {
        if constexpr (!repeats_a_column) {
            into.packet = Eigen::internal::padd(into.packet, from.packet);
            into.tail += from.tail;
        }
    }
    void claim() {}  // its leaf is sent its gradient when the walk ends
    [[gnu::always_inline]] void end_column(Index j, Sums& sums) {
        if constexpr (RepeatRows && !RepeatCols) {
            if (j + 1 < cols_) column_value_ = data_[j + 1];
            if (!takes_) return;
            line_[j] = sums.total();
            sums = RunningSums{};
        } else {
            (void)j, (void)sums;
        }
    }
    void finish(const Sums& sums) const {
        if (!takes_) return;
        if constexpr (RepeatRows && RepeatCols)
            inner_->backprop(Eigen::Array<T, 1, 1>::Constant(sums.total()));
        else if constexpr (RepeatCols)
            inner_->backprop(Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>(line_, inner_->rows()));
        else
            inner_->backprop(Eigen::Map<const Eigen::Array<T, 1, Eigen::Dynamic>>(line_, inner_->cols()));
    }

private:
    const Inner* inner_;
    const T* data_;
    Index cols_;
    T column_value_;  // what a row (or a 1x1) repeats down the current column
    bool takes_;
    T* line_ = nullptr;
};

}  // namespace detail
}  // namespace tapestry
