// Fuzz target: the checkpoint loader. A file either loads completely or throws
// file_error leaving every Param and all optimizer state exactly as they were.

#include <cstdint>
#include <cstdlib>

#include <tapestry/io/checkpoint.hpp>
#include <tapestry/nn/optim/sgd.hpp>

#include "fuzz_input_file.hpp"

namespace {

// The model the seed corpus was saved from (tests/fuzz/make_corpus.cpp).
struct Model {
    tapestry::Param<float, 4, 3> W{Eigen::Matrix<float, 4, 3>::Constant(0.25f)};
    tapestry::Param<float, 4, 1> b{Eigen::Matrix<float, 4, 1>::Constant(-0.5f)};
    tapestry::nn::Sgd<float> sgd{{{"W", W}, {"b", b, {.lr_mult = 2, .decay_mult = 0}}},
                                 {.lr = tapestry::nn::lr::fixed(0.1), .accumulate = 2},
                                 {.momentum = 0.9}};
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string& path = fuzz::write_input(data, size);
    Model model;
    const Eigen::Matrix<float, 4, 3> W_before = model.W.value();
    const Eigen::Matrix<float, 4, 1> b_before = model.b.value();
    try {
        tapestry::io::load_checkpoint(path, model.sgd);
    } catch (const tapestry::io::file_error&) {
        // Rejected: nothing may have changed.
        if (model.W.value() != W_before || model.b.value() != b_before) std::abort();
        if (model.sgd.iteration() != 0) std::abort();
    }
    try {
        tapestry::io::SafetensorsFile file(path);  // the container alone, whatever it holds
        for (const auto& [name, entry] : file.entries())
            if (entry.end < entry.begin) std::abort();
    } catch (const tapestry::io::file_error&) {}
    return 0;
}
