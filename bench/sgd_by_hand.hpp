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

}  // namespace bench
