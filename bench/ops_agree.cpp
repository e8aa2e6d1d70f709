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
    using Scalar = decltype(c.ours());
    using Gradient = Eigen::Matrix<Scalar, Dynamic, Dynamic>;
    // Every Param's gradient, whatever its static shape.
    const auto gradients = [&] {
        std::vector<Gradient> grads;
        for (auto* p : c.params()) grads.push_back(p->grad());
        if constexpr (requires { c.column_params(); })
            for (auto* p : c.column_params()) grads.push_back(p->grad());
        return grads;
    };
    const auto zero = [&] {
        for (auto* p : c.params()) p->zero_grad();
        if constexpr (requires { c.column_params(); })
            for (auto* p : c.column_params()) p->zero_grad();
    };
    zero();
    const Scalar ours = c.ours();
    const std::vector<Gradient> our_grads = gradients();
    zero();
    const Scalar hand = c.hand();
    const std::vector<Gradient> hand_grads = gradients();
    const Scalar tolerance(1e-4);
    bool ok = std::abs(ours - hand) <= tolerance * std::max(Scalar(1), std::abs(hand));
    for (std::size_t i = 0; i < our_grads.size(); ++i) ok = ok && our_grads[i].isApprox(hand_grads[i], tolerance);
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
        check<LogSoftmaxNll>("log_softmax + nll_loss", n);
        check<Softmax>("softmax", n);
        check<LogSoftmaxRows>("log_softmax along rows", n);
        check<LayerNorm>("layer_norm", n);
        check<Gather>("gather_columns", n);
        check<Concat>("concat_rows", n);
        check<Gelu<float>>("gelu (float)", n);
        check<Gelu<double>>("gelu (double)", n);
        check<GeluLayer<float>>("gelu as a stored layer (float)", n);
        check<GeluLayer<double>>("gelu as a stored layer (double)", n);
        check<LeakyRelu<float>>("leaky_relu (float)", n);
        check<LeakyRelu<double>>("leaky_relu (double)", n);
    }
    if (failures == 0) std::printf("all op cases agree\n");
    return failures == 0 ? 0 : 1;
}
