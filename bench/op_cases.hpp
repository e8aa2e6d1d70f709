#pragma once
// The op-level cases of bench/bench_ops.cpp: each computes one operation's forward and
// backward pass with tapestry (ours()) and by hand in Eigen (hand()), both adding
// their gradients into the Params' grad(), so that bench/ops_agree.cpp can check
// that the two compute the same thing.

#include <numbers>
#include <random>
#include <type_traits>
#include <vector>

#include <tapestry/tapestry.hpp>
#include <unsupported/Eigen/SpecialFunctions>  // erf, for the gelu twin

#include "packet_loop.hpp"
#include "sigmoid_cross_entropy_by_hand.hpp"

namespace bench::ops {

using tapestry::Dynamic;
using tapestry::Index;
using Matrix = Eigen::MatrixXf;
using Array = Eigen::ArrayXXf;
using Param = tapestry::Param<float, Dynamic, Dynamic>;

inline Matrix random(Index rows, Index cols, unsigned seed, float lo = -1, float hi = 1) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> uniform(lo, hi);
    return Matrix::NullaryExpr(rows, cols, [&] { return uniform(rng); });
}

// The softmax twins' first pass over column j of Z: out's column j = Z's minus its
// maximum, which is returned. Plain loops: g++ compiles them tighter than Eigen's
// reductions of a column shorter than a packet (10 classes), which take a scalar path.
template <class Logits>
float shift_by_column_max(const Logits& Z, Index j, Array& out) {
    float m = Z(0, j);
    for (Index i = 1; i < Z.rows(); ++i) m = Z(i, j) > m ? Z(i, j) : m;
    for (Index i = 0; i < Z.rows(); ++i) out(i, j) = Z(i, j) - m;
    return m;
}

// y = tanh(a ∘ b + c) ∘ sigmoid(a), loss = sum(y): one fused node in tapestry.
struct ElementwiseChain {
    Param a, b, c;
    Eigen::ArrayXf t, s, dc;  // one column each
    tapestry::Tape tape;
    explicit ElementwiseChain(Index n)
        : a(random(n, n, 1)), b(random(n, n, 2)), c(random(n, n, 3)), t(n), s(n), dc(n) {}

    std::vector<Param*> params() { return {&a, &b, &c}; }
    float ours() {
        using namespace tapestry;
        tape.clear();
        auto loss = sum(hadamard(tanh(hadamard(a, b) + c), sigmoid(a)));
        tape.backward(loss);
        return loss.value()(0, 0);
    }
    float unfused() {
        using namespace tapestry;
        tape.clear();
        Var<float, Dynamic, Dynamic> ab = hadamard(a, b);
        Var<float, Dynamic, Dynamic> sum_ = ab + c;
        Var<float, Dynamic, Dynamic> th = tanh(sum_);
        Var<float, Dynamic, Dynamic> sg = sigmoid(a);
        Var<float, Dynamic, Dynamic> y = hadamard(th, sg);
        auto loss = sum(y);
        tape.backward(loss);
        return loss.value()(0, 0);
    }
    // Column by column, so that the intermediates (tanh, the logistic and the gradient of
    // a∘b + c) are computed once and read back from L1 by the loss and the three
    // gradients. Over whole arrays, recomputing the tanh for a's gradient, this took 2.3x
    // as long at n = 1024 and was slower than tapestry's one-pass backward.
    float hand() {
        float loss = 0;
        for (Index j = 0; j < a.value().cols(); ++j) {
            const auto A = a.value().col(j).array(), B = b.value().col(j).array(), C = c.value().col(j).array();
            t = (A * B + C).tanh();
            s = A.logistic();
            loss += (t * s).sum();
            dc = (1 - t.square()) * s;
            a.grad().col(j).array() += dc * B + t * s * (1 - s);
            b.grad().col(j).array() += dc * A;
            c.grad().col(j).array() += dc;
        }
        return loss;
    }
};

// C = op(A) op(B), loss = sum(C ∘ G): forward GEMM, two backward GEMMs.
template <bool TA, bool TB>
struct Product {
    Param A, B;
    Matrix G, C;
    tapestry::Var<float, Dynamic, Dynamic> weights;
    tapestry::Tape tape;
    explicit Product(Index n)
        : A(random(n, n, 4)), B(random(n, n, 5)), G(random(n, n, 6)), C(n, n), weights(tapestry::shared_constant(G)) {}

    std::vector<Param*> params() { return {&A, &B}; }
    float ours() {
        using namespace tapestry;
        tape.clear();
        auto loss = [&] {
            if constexpr (TA && TB)
                return sum(hadamard(A.transpose() * B.transpose(), weights));
            else if constexpr (TA)
                return sum(hadamard(A.transpose() * B, weights));
            else if constexpr (TB)
                return sum(hadamard(A * B.transpose(), weights));
            else
                return sum(hadamard(A * B, weights));
        }();
        tape.backward(loss);
        return loss.value()(0, 0);
    }
    float hand() {
        const auto& a = A.value();
        const auto& b = B.value();
        auto& dA = A.grad();
        auto& dB = B.grad();
        if constexpr (TA && TB) {  // C = A^T B^T: dA += B^T G^T, dB += G^T A^T
            C.noalias() = a.transpose() * b.transpose();
            dA.noalias() += b.transpose() * G.transpose();
            dB.noalias() += G.transpose() * a.transpose();
        } else if constexpr (TA) {  // C = A^T B: dA += B G^T, dB += A G
            C.noalias() = a.transpose() * b;
            dA.noalias() += b * G.transpose();
            dB.noalias() += a * G;
        } else if constexpr (TB) {  // C = A B^T: dA += G B, dB += G^T A
            C.noalias() = a * b.transpose();
            dA.noalias() += G * b;
            dB.noalias() += G.transpose() * a;
        } else {  // C = A B: dA += G B^T, dB += A^T G
            C.noalias() = a * b;
            dA.noalias() += G * b.transpose();
            dB.noalias() += a.transpose() * G;
        }
        return (C.array() * G.array()).sum();
    }
};

// loss = sum(row_sum(A) ∘ u) + sum(col_sum(A) ∘ v): both partial reductions.
struct Reductions {
    Param A;
    Eigen::VectorXf u;
    Eigen::RowVectorXf v;
    tapestry::Var<float, Dynamic, 1> u_const;
    tapestry::Var<float, 1, Dynamic> v_const;
    tapestry::Tape tape;
    explicit Reductions(Index n)
        : A(random(n, n, 7)),
          u(random(n, 1, 8)),
          v(random(1, n, 9)),
          u_const(tapestry::shared_constant(u)),
          v_const(tapestry::shared_constant(v)) {}

    std::vector<Param*> params() { return {&A}; }
    float ours() {
        using namespace tapestry;
        tape.clear();
        auto loss = sum(hadamard(row_sum(A), u_const)) + sum(hadamard(col_sum(A), v_const));
        Var<float, 1, 1> value = loss;
        tape.backward(value);
        return value.value()(0, 0);
    }
    float hand() {
        const float loss = A.value().rowwise().sum().dot(u) + A.value().colwise().sum().dot(v);
        A.grad().colwise() += u;  // d/dA: u repeated over the columns, v over the rows
        A.grad().rowwise() += v;
        return loss;
    }
};

// The losses over a 784 x B batch (10 x B for softmax), as the training steps use them.
struct SigmoidCrossEntropy {
    Param z;
    Matrix x;
    tapestry::Var<float, Dynamic, Dynamic> target;
    tapestry::Tape tape;
    explicit SigmoidCrossEntropy(Index batch)
        : z(random(784, batch, 10, -4, 4)), x(random(784, batch, 11, 0, 1)), target(tapestry::shared_constant(x)) {}
    std::vector<Param*> params() { return {&z}; }
    float ours() {
        tape.clear();
        auto loss = tapestry::sigmoid_cross_entropy(z, target, tapestry::Reduction::Sum);
        tape.backward(loss);
        return loss.value()(0, 0);
    }
    // The loss and its gradient in one pass, as the training steps' floors compute them.
    float hand() {
        return bench::sigmoid_cross_entropy_and_gradient<true>(z.value().data(), x.data(), x.size(), 1.f,
                                                               z.grad().data());
    }
};

struct Mse {
    Param y;
    Matrix t;
    tapestry::Var<float, Dynamic, Dynamic> target;
    tapestry::Tape tape;
    explicit Mse(Index batch)
        : y(random(784, batch, 12)), t(random(784, batch, 13)), target(tapestry::shared_constant(t)) {}
    std::vector<Param*> params() { return {&y}; }
    float ours() {
        tape.clear();
        auto loss = tapestry::mse(y, target);
        tape.backward(loss);
        return loss.value()(0, 0);
    }
    float hand() {
        const float scale = 1.0f / static_cast<float>(t.size());
        const float loss = scale * (y.value() - t).squaredNorm();
        y.grad() += (2 * scale) * (y.value() - t);
        return loss;
    }
};

// The mean softmax cross-entropy of z's columns against labels, with its gradient added
// into z.grad(): the fastest hand-written form we know (the twin of softmax_cross_entropy,
// and of log_softmax followed by nll_loss). The exponentials e^(z - max) are taken once,
// over the whole 10 x B array at once: down one column of 10, Eigen's exp is not
// vectorised where a packet is longer than the column (16 floats with AVX-512) and goes
// through libm element by element. The gradient is e / sum - onehot, so backward scales
// the same exponentials instead of taking them again. Every other step is a plain loop
// down each column, which g++ compiles tighter than Eigen's reductions of a column
// shorter than a packet (those take a generic scalar path): 4.9 -> 2.8-3.1 us at B = 256.
struct FusedCrossEntropy {
    Eigen::ArrayXXf e;  // e^(z - max), 10 x B
    Eigen::Array<float, 1, Dynamic> column_max, sum;

    explicit FusedCrossEntropy(Index classes, Index batch) : e(classes, batch), column_max(batch), sum(batch) {}

    float operator()(Param& z, const std::vector<int>& labels) {
        const auto Z = z.value().array();
        auto dZ = z.grad().array();
        const Index batch = Z.cols();
        const float scale = 1.0f / static_cast<float>(batch);
        const Index classes = Z.rows();
        for (Index j = 0; j < batch; ++j) column_max(j) = shift_by_column_max(Z, j, e);
        e = e.exp();
        float loss = 0;
        for (Index j = 0; j < batch; ++j) {
            float s = 0;
            for (Index i = 0; i < classes; ++i) s += e(i, j);
            sum(j) = s;
            const float weight = scale / s;
            for (Index i = 0; i < classes; ++i) dZ(i, j) += weight * e(i, j);
            const int label = labels[static_cast<std::size_t>(j)];
            dZ(label, j) -= scale;
            loss -= Z(label, j) - column_max(j);
        }
        sum = sum.log();  // the whole row at once, vectorised
        return scale * (loss + sum.sum());
    }
};

struct SoftmaxCrossEntropy {
    Param z;
    std::vector<int> labels;
    FusedCrossEntropy by_hand;
    tapestry::Tape tape;
    explicit SoftmaxCrossEntropy(Index batch)
        : z(random(10, batch, 14, -3, 3)), labels(static_cast<std::size_t>(batch)), by_hand(10, batch) {
        for (std::size_t j = 0; j < labels.size(); ++j) labels[j] = static_cast<int>(j % 10);
    }
    std::vector<Param*> params() { return {&z}; }
    float ours() {
        tape.clear();
        auto loss = tapestry::softmax_cross_entropy(z, labels);
        tape.backward(loss);
        return loss.value()(0, 0);
    }
    float hand() { return by_hand(z, labels); }
};

// log_softmax then nll_loss over 10 x B logits, as a classifier built from the two ops
// computes its loss. The twin is the fused one-pass cross-entropy, the fastest form.
struct LogSoftmaxNll {
    Param z;
    std::vector<int> labels;
    FusedCrossEntropy by_hand;
    tapestry::Tape tape;
    explicit LogSoftmaxNll(Index batch)
        : z(random(10, batch, 15, -3, 3)), labels(static_cast<std::size_t>(batch)), by_hand(10, batch) {
        for (std::size_t j = 0; j < labels.size(); ++j) labels[j] = static_cast<int>((3 * j) % 10);
    }
    std::vector<Param*> params() { return {&z}; }
    float ours() {
        tape.clear();
        auto loss = tapestry::nll_loss(tapestry::log_softmax(z), labels);
        tape.backward(loss);
        return loss.value()(0, 0);
    }
    float hand() { return by_hand(z, labels); }
};

// loss = sum(softmax(z) ∘ G) down the columns of 10 x B: probabilities read by the loss.
// Twin: the exponential as one loop over the whole array, every other step a plain loop
// down each column, the maximum and the shift in one pass. g++ vectorises a loop of 10;
// Eigen's per-column expressions and reductions do not, and took 1.6x this twin's time.
// p = e^(z - max), then per column with s = 1 / sum(p): loss += s p·G,
// dz += s p ∘ (G - s p·G). p is never scaled in memory.
struct Softmax {
    Param z;
    Array G, p;
    tapestry::Var<float, Dynamic, Dynamic> weights;
    tapestry::Tape tape;
    explicit Softmax(Index batch)
        : z(random(10, batch, 16, -3, 3)),
          G(random(10, batch, 17).array()),
          p(10, batch),
          weights(tapestry::shared_constant(G.matrix())) {}
    std::vector<Param*> params() { return {&z}; }
    float ours() {
        using namespace tapestry;
        tape.clear();
        auto loss = sum(hadamard(softmax(z), weights));
        tape.backward(loss);
        return loss.value()(0, 0);
    }
    float hand() {
        const auto Z = z.value().array();
        auto dZ = z.grad().array();
        const Index classes = Z.rows();
        for (Index j = 0; j < Z.cols(); ++j) shift_by_column_max(Z, j, p);
        p = p.exp();
        float loss = 0;
        for (Index j = 0; j < Z.cols(); ++j) {
            float sum = 0, dot = 0;
            for (Index i = 0; i < classes; ++i) {
                sum += p(i, j);
                dot += p(i, j) * G(i, j);
            }
            const float s = 1.0f / sum, expected = s * dot;
            loss += expected;
            for (Index i = 0; i < classes; ++i) dZ(i, j) += s * p(i, j) * (G(i, j) - expected);
        }
        return loss;
    }
};

// loss = sum(log_softmax(z, Each::Row) ∘ G) over B x 10: the classes along each row, as
// a model laid out one example per row would have them. Twin: the rows' maxima, sums
// and scales as whole-array operations on the column-major array (a row's reduction is
// then a packet operation across rows), the exponential once over the whole array, and
// the gradient G - e / sum * rowsum(G) from the same exponentials.
struct LogSoftmaxRows {
    Param z;
    Array G, shifted, e;
    Eigen::ArrayXf line, g_sums;
    tapestry::Var<float, Dynamic, Dynamic> weights;
    tapestry::Tape tape;
    explicit LogSoftmaxRows(Index batch)
        : z(random(batch, 10, 18, -3, 3)),
          G(random(batch, 10, 19).array()),
          shifted(batch, 10),
          e(batch, 10),
          line(batch),
          g_sums(batch),
          weights(tapestry::shared_constant(G.matrix())) {}
    std::vector<Param*> params() { return {&z}; }
    float ours() {
        using namespace tapestry;
        tape.clear();
        auto loss = sum(hadamard(log_softmax(z, Each::Row), weights));
        tape.backward(loss);
        return loss.value()(0, 0);
    }
    float hand() {
        const auto Z = z.value().array();
        auto dZ = z.grad().array();
        line = Z.rowwise().maxCoeff();
        shifted = Z.colwise() - line;
        e = shifted.exp();
        line = e.rowwise().sum();
        g_sums = G.rowwise().sum();
        // y = shifted - log(sum), so sum(y ∘ G) = sum(shifted ∘ G) - sum(log(sum) ∘ rowsum(G))
        const float loss = (shifted * G).sum() - (line.log() * g_sums).sum();
        line = g_sums / line;
        dZ += G - e.colwise() * line;
        return loss;
    }
};

// loss = sum(layer_norm(x, gamma, beta) ∘ G) over a 256 x B hidden layer, eps = 1e-5.
struct LayerNorm {
    Param x;
    tapestry::Param<float, Dynamic, 1> gamma, beta;  // typed as columns, to broadcast
    Array G, xhat;
    tapestry::Var<float, Dynamic, Dynamic> weights;
    tapestry::Tape tape;
    explicit LayerNorm(Index batch)
        : x(random(256, batch, 18, -2, 3)),
          gamma(random(256, 1, 19)),
          beta(random(256, 1, 20)),
          G(random(256, batch, 21).array()),
          xhat(256, batch),
          weights(tapestry::shared_constant(G.matrix())) {}
    std::vector<Param*> params() { return {&x}; }
    std::vector<tapestry::Param<float, Dynamic, 1>*> column_params() { return {&gamma, &beta}; }
    float ours() {
        using namespace tapestry;
        tape.clear();
        auto loss = sum(hadamard(layer_norm(x, gamma, beta), weights));
        tape.backward(loss);
        return loss.value()(0, 0);
    }
    // One pass per column (256 values stay in L1): statistics, loss, and all three
    // gradients while the column is there.
    float hand() {
        const auto X = x.value().array();
        const float n = static_cast<float>(X.rows());
        const auto g = gamma.value().array();
        const auto b = beta.value().array();
        auto dgamma = gamma.grad().array();
        auto dbeta = beta.grad().array();
        auto dX = x.grad().array();
        float loss = 0;
        for (Index j = 0; j < X.cols(); ++j) {
            auto xh = xhat.col(j);
            xh = X.col(j) - X.col(j).mean();
            const float inverse_sigma = 1.0f / std::sqrt(xh.square().sum() / n + 1e-5f);
            xh *= inverse_sigma;
            const auto Gj = G.col(j);
            loss += ((xh * g + b) * Gj).sum();
            dgamma += Gj * xh;
            dbeta += Gj;
            const auto dxhat = Gj * g;
            const float mean_d = dxhat.sum() / n, mean_dx = (dxhat * xh).sum() / n;
            dX.col(j) += inverse_sigma * (dxhat - mean_d - xh * mean_dx);
        }
        return loss;
    }
};

// An embedding lookup: B ids into a 64 x 10000 table, loss = sum(gathered ∘ G).
// Twin: the loss read straight from the table's columns, the scatter-add by hand.
struct Gather {
    Param table;
    std::vector<int> ids;
    Matrix G;
    tapestry::Var<float, Dynamic, Dynamic> weights;
    tapestry::Tape tape;
    explicit Gather(Index batch)
        : table(random(64, 10000, 22)), ids(static_cast<std::size_t>(batch)), G(random(64, batch, 23)) {
        std::mt19937 rng(24);
        for (int& id : ids) id = static_cast<int>(rng() % 10000);
        weights = tapestry::shared_constant(G);
    }
    std::vector<Param*> params() { return {&table}; }
    float ours() {
        using namespace tapestry;
        tape.clear();
        auto loss = sum(hadamard(gather_columns(table, ids), weights));
        tape.backward(loss);
        return loss.value()(0, 0);
    }
    float hand() {
        float loss = 0;
        for (std::size_t k = 0; k < ids.size(); ++k) {
            const auto j = static_cast<Index>(k);
            loss += table.value().col(ids[k]).dot(G.col(j));
            table.grad().col(ids[k]) += G.col(j);
        }
        return loss;
    }
};

// Two 256 x B activations stacked, loss = sum([a; b] ∘ G). Twin: no stacked copy at all,
// each half of each column of G read once against its half.
struct Concat {
    Param a, b;
    Matrix G;
    tapestry::Var<float, Dynamic, Dynamic> weights;
    tapestry::Tape tape;
    explicit Concat(Index batch)
        : a(random(256, batch, 25)),
          b(random(256, batch, 26)),
          G(random(512, batch, 27)),
          weights(tapestry::shared_constant(G)) {}
    std::vector<Param*> params() { return {&a, &b}; }
    float ours() {
        using namespace tapestry;
        tape.clear();
        auto loss = sum(hadamard(concat_rows(a, b), weights));
        tape.backward(loss);
        return loss.value()(0, 0);
    }
    // One pass per column: each column of G is read once, for the loss and the gradient.
    float hand() {
        float loss = 0;
        auto&& dA = a.grad();
        auto&& dB = b.grad();
        for (Index j = 0; j < G.cols(); ++j) {
            const auto top = G.col(j).head(256), bottom = G.col(j).tail(256);
            loss += a.value().col(j).dot(top) + b.value().col(j).dot(bottom);
            dA.col(j) += top;
            dB.col(j) += bottom;
        }
        return loss;
    }
};

// loss = sum(gelu(x) ∘ G) over a 256 x B hidden layer: gelu in its exact (erf) form, in
// float and in double. Twin: in float Φ(x) = (1 + erf(x / √2)) / 2 with Eigen's own erf (a
// vectorised rational approximation, faster than any erfc; it gives up Φ's digits where Φ
// is tiny, x < -5, which tapestry keeps); in double Φ(x) = erfc(-x / √2) / 2 with the
// library's vectorised erfc (Eigen's double erf is the C library's, one element at a time:
// the twin took 1.5-2.6x tapestry's time with it). φ with Eigen's exp, and the loss and the
// gradient in one pass.
template <class T>
struct Gelu {
    using Values = Eigen::Array<T, Dynamic, Dynamic>;
    tapestry::Param<T, Dynamic, Dynamic> x;
    Values G, cdf;
    tapestry::Var<T, Dynamic, Dynamic> weights;
    tapestry::Tape tape;
    explicit Gelu(Index batch)
        : x(random(256, batch, 25, -4, 4).cast<T>()),
          G(random(256, batch, 26).cast<T>().array()),
          cdf(256, batch),
          weights(tapestry::shared_constant(G.matrix())) {}
    std::vector<tapestry::Param<T, Dynamic, Dynamic>*> params() { return {&x}; }
    T ours() {
        using namespace tapestry;
        tape.clear();
        auto loss = sum(hadamard(gelu(x), weights));
        tape.backward(loss);
        return loss.value()(0, 0);
    }
    T hand() {
        const auto X = x.value().array();
        if constexpr (std::is_same_v<T, float>)
            cdf = T(0.5) * (T(1) + (X * T(std::numbers::sqrt2 / 2)).erf());
        else
            cdf = T(0.5) * tapestry::detail::vectorised_erfc(X * T(-std::numbers::sqrt2 / 2));
        x.grad().array() +=
            G * (cdf + X * (T(-0.5) * X.square()).exp() * T(std::numbers::inv_sqrtpi / std::numbers::sqrt2));
        return (X * cdf * G).sum();
    }
};
// The same gelu as a layer's activation: h = gelu(x) stored, the root of its node (as
// `Var h = gelu(W x + b)` is in a model), then loss = sum(h ∘ G), two nodes. Backward
// takes Φ from h / x where the fused case above takes erfc again. Twin: Gelu's.
template <class T>
struct GeluLayer : Gelu<T> {
    using Gelu<T>::Gelu;
    T ours() {
        using namespace tapestry;
        this->tape.clear();
        Var<T, Dynamic, Dynamic> h = gelu(this->x);
        auto loss = sum(hadamard(h, this->weights));
        this->tape.backward(loss);
        return loss.value()(0, 0);
    }
};

// loss = sum(leaky_relu(x) ∘ G) over a 256 x B hidden layer, slope 0.01, in float and in
// double: a choice per element (kernels/choose.hpp). Twin: one pass in Eigen's packets,
// d = x > 0 ? g : s g by a blend, the gradient += d, and the loss as the sum of x d
// (leaky_relu(x) g = x leaky_relu'(x) g) in two accumulators: it reads x and G once.
// Eigen's select would run one element at a time, and a plain loop is not vectorised
// without -march (g++ 12 keeps a branch there, mispredicted half the time on these
// random signs).
// (Eigen's packet types as template arguments: see sum_of_elements in kernels/parallel.hpp.)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"
template <class T>
struct LeakyRelu {
    static constexpr T slope = T(0.01);
    using Values = Eigen::Array<T, Dynamic, Dynamic>;
    tapestry::Param<T, Dynamic, Dynamic> x;
    Values G;
    tapestry::Var<T, Dynamic, Dynamic> weights;
    tapestry::Tape tape;
    explicit LeakyRelu(Index batch)
        : x(random(256, batch, 27, -4, 4).cast<T>()),
          G(random(256, batch, 28).cast<T>().array()),
          weights(tapestry::shared_constant(G.matrix())) {}
    std::vector<tapestry::Param<T, Dynamic, Dynamic>*> params() { return {&x}; }
    T ours() {
        using namespace tapestry;
        tape.clear();
        auto loss = sum(hadamard(leaky_relu(x, slope), weights));
        tape.backward(loss);
        return loss.value()(0, 0);
    }
    T hand() {
        namespace ei = Eigen::internal;
        using Packet = typename ei::packet_traits<T>::type;
        const T* values = x.value().data();
        const T* weight = G.data();
        T* gradient = x.grad().data();
        const Index size = G.size();
        const Packet s = ei::pset1<Packet>(slope);
        const auto step = [&](Index i, Packet& loss) {
            const Packet v = ei::ploadu<Packet>(values + i), w = ei::ploadu<Packet>(weight + i);
            const Packet d = ei::pselect(ei::pcmp_lt(ei::pzero(v), v), w, ei::pmul(s, w));
            ei::pstoreu(gradient + i, ei::padd(ei::ploadu<Packet>(gradient + i), d));
            loss = ei::pmadd(v, d, loss);
        };
        T total = sum_over_packets<Packet>(size, step);
        for (Index i = whole_packets<Packet>(size); i < size; ++i) {
            const T d = values[i] > T(0) ? weight[i] : slope * weight[i];
            gradient[i] += d;
            total += values[i] * d;
        }
        return total;
    }
};
#pragma GCC diagnostic pop
}  // namespace bench::ops
