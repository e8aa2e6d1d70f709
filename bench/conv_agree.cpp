// The convolution benchmarks' hand-written twins must compute what tapestry computes:
// the same loss and the same gradients, for every case in bench/conv_cases.hpp.

#include <cstdio>

#include "conv_cases.hpp"

namespace {

using namespace bench::conv;

int failures = 0;

template <class Case, class Hand>
void check(const char* name, Index batch, Hand hand) {
    Case c(batch);
    c.zero_gradients();
    const float ours = c.ours();
    const std::vector<Matrix> our_gradients = c.gradients();
    c.zero_gradients();
    const float by_hand = hand(c);
    const std::vector<Matrix> hand_gradients = c.gradients();
    bool ok = std::abs(ours - by_hand) <= 1e-4f * std::max(1.0f, std::abs(by_hand));
    for (std::size_t i = 0; i < our_gradients.size(); ++i)
        ok = ok && (our_gradients[i] - hand_gradients[i]).norm() <= 1e-4f * std::max(1.0f, hand_gradients[i].norm());
    if (!ok) {
        ++failures;
        std::printf("FAILED %s (batch %ld): losses %g and %g\n", name, static_cast<long>(batch), ours, by_hand);
    }
}

template <class Case>
void check_layer(const char* name) {
    for (const Index batch : {1, 3}) {
        check<Case>(name, batch, [](Case& c) { return c.hand(); });
        if constexpr (requires(Case& c) { c.hand_recompute(); })
            check<Case>(name, batch, [](Case& c) { return c.hand_recompute(); });
    }
}

}  // namespace

int main() {
    check_layer<LeNetConv1>("lenet conv1");
    check_layer<LeNetConv2>("lenet conv2");
    check_layer<AutoencoderConv1>("autoencoder conv1");
    check_layer<AutoencoderConv2>("autoencoder conv2");
    check_layer<AutoencoderDeconv2>("autoencoder deconv2");
    check_layer<AutoencoderDeconv1>("autoencoder deconv1");
    if (failures == 0) std::printf("every hand-written convolution agrees with tapestry\n");
    return failures == 0 ? 0 : 1;
}
