// The op-level benchmarks' hand-written twins must compute what tapestry computes:
// the same loss and the same gradients, for every case in bench/op_cases.hpp.

#include <cstdio>

#include "op_cases.hpp"

namespace {

using namespace bench::ops;

int failures = 0;

template <class Case>
void check(const char* name, Index size) {
    Case c(size);
    const auto zero = [&] {
        for (Param* p : c.params()) p->zero_grad();
    };
    zero();
    const float ours = c.ours();
    std::vector<Matrix> grads;
    for (Param* p : c.params()) grads.push_back(p->grad());
    zero();
    const float hand = c.hand();
    bool ok = std::abs(ours - hand) <= 1e-4f * std::max(1.0f, std::abs(hand));
    for (std::size_t i = 0; i < grads.size(); ++i) ok = ok && grads[i].isApprox(c.params()[i]->grad(), 1e-4f);
    if (!ok) {
        ++failures;
        std::printf("FAILED %s (size %ld): losses %g and %g\n", name, static_cast<long>(size), ours, hand);
    }
}

}  // namespace

int main() {
    for (Index n : {1, 7, 64}) {
        check<ElementwiseChain>("elementwise chain", n);
        check<Product<false, false>>("A*B", n);
        check<Product<true, false>>("A^T*B", n);
        check<Product<false, true>>("A*B^T", n);
        check<Product<true, true>>("A^T*B^T", n);
        check<Reductions>("row and column sums", n);
        check<Mse>("mse", n);
        check<SigmoidCrossEntropy>("sigmoid cross-entropy", n);
        check<SoftmaxCrossEntropy>("softmax cross-entropy", n);
    }
    if (failures == 0) std::printf("all op cases agree\n");
    return failures == 0 ? 0 : 1;
}
