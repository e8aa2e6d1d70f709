#pragma once
// The hand-written twins' linear algebra: their SGD step, in the form tapestry's Sgd
// uses (PyTorch's: the momentum buffer starts as the first gradient, then v = 0.9 v + g;
// p -= 0.01 v), a layer's bias plus product, and the weight gradients.

#include <Eigen/Core>

namespace bench {

template <class M, class G>
void sgd_momentum_update(M& p, M& v, const G& g, long step) {
    using T = typename M::Scalar;
    if (step == 0)
        v = g;
    else
        v = T(0.9) * v + g;
    p -= T(0.01) * v;
}

// out = bias repeated over the columns, + product: the GEMM adds into the bias, copied
// column by column where a product assigned with `=` would write zeros, so the bias takes
// no pass of its own (Eigen's replicate() would take a modulo per element).
template <class M, class V, class P>
void assign_bias_plus(M& out, const V& bias, const P& product) {
    for (Eigen::Index j = 0; j < out.cols(); ++j) out.col(j) = bias;
    out.noalias() += product;
}

// The weight gradients a * b^T of the twins, `=` or `+=`. At a batch of one, a and b are
// single columns and the product is an outer product: Eigen's vector outer product
// writes it in one pass, where its matrix product, not knowing the inner extent of 1
// until run time, zero-fills the result and then adds a packed GEMM of depth 1 to it.
template <class M, class A, class B>
void assign_a_bt(M& result, const A& a, const B& b) {
    if (a.cols() == 1)
        result.noalias() = a.col(0) * b.col(0).transpose();
    else
        result.noalias() = a * b.transpose();
}
template <class M, class A, class B>
void add_a_bt(M& result, const A& a, const B& b) {
    if (a.cols() == 1)
        result.noalias() += a.col(0) * b.col(0).transpose();
    else
        result.noalias() += a * b.transpose();
}

}  // namespace bench
