#pragma once
// The hand-written twins' SGD step, in the form tapestry's Sgd uses (PyTorch's):
// the momentum buffer starts as the first gradient, then v = 0.9 v + g; p -= 0.01 v.

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
