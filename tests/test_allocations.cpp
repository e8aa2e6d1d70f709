// After the first training step, a step allocates nothing: the tape reuses its arenas,
// GEMMs pack into a reused workspace, the optimizer updates in place. Counted by
// allocation_count.cpp's malloc, for the whole test binary. (jvp, hvp and gnvp:
// test_allocations_of_derivatives.cpp, a program with second order compiled in.)

#include <cstdlib>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include <tapestry/io/checkpoint.hpp>
#include <tapestry/nn/data_parallel.hpp>
#include <tapestry/nn/optim/sgd.hpp>

#include "../bench/model_a.hpp"
#include "allocation_count.hpp"
#include "temp_files.hpp"

using test::allocations_during;

TEMPLATE_TEST_CASE("a training step of Model A allocates nothing after the first", "", float, double) {
    if (!test::counts_allocations()) {
        WARN("not counted under a sanitizer, which owns malloc");
        return;
    }
    // The counter does count (through a volatile, so that the compiler cannot elide
    // the allocation as clang does for a local std::vector).
    CHECK(allocations_during(
              [] {
                  void* volatile p = std::malloc(16);
                  std::free(p);
              },
              1) == 1);

    for (tapestry::Index batch : {1, 64}) {
        bench::ModelAData<TestType> data(batch);
        bench::ModelATapestry<TestType> model(data);
        model.step();  // the first step sizes the tape's arenas and the GEMM workspace
        INFO("batch " << batch);
        CHECK(allocations_during([&] { model.step(); }, 5) == 0);
    }
}

TEMPLATE_TEST_CASE("a training step on two or three threads allocates nothing after the first", "", float, double) {
    if (!test::counts_allocations()) {
        WARN("not counted under a sanitizer, which owns malloc");
        return;
    }
    // At B = 256 the products, the elementwise loops, the adjoints' zero fill and the
    // optimizer's update are all cut over the threads; each thread keeps its own
    // workspace, and OpenMP keeps its team.
    const int before = tapestry::num_threads();
    for (const int threads : {2, 3}) {  // 3 on two cores: pieces of uneven sizes
        tapestry::set_num_threads(threads);
        bench::ModelAData<TestType> data(256);
        bench::ModelATapestry<TestType> model(data);
        model.step();
        const long allocations = allocations_during([&] { model.step(); }, 5);
        INFO(threads << " threads");
        CHECK(allocations == 0);
    }
    tapestry::set_num_threads(before);
}

namespace {
struct Tied {
    tapestry::Param<double, 8, 12> W{Eigen::MatrixXd::Random(8, 12)};
    tapestry::nn::ParamSet<double> params() { return {{"W", W}}; }
};
}  // namespace

TEST_CASE("DataParallel: a step on two replicas allocates nothing after the first") {
    if (!test::counts_allocations()) {
        WARN("not counted under a sanitizer, which owns malloc");
        return;
    }
    using namespace tapestry;
    const Eigen::MatrixXd x = Eigen::MatrixXd::Random(12, 40);
    Tied model;
    nn::DataParallel parallel(model, 2);
    nn::Sgd<double> sgd(model.params(), nn::OptimizerOptions{});
    const auto step = [&] {
        parallel.backward(40, [&](Tied& replica, Index first, Index count) {
            auto h = tanh(replica.W * constant(x.middleCols(first, count)));
            return sum(square(replica.W.transpose() * h - constant(x.middleCols(first, count))));
        });
        sgd.step();
    };
    step();
    CHECK(allocations_during(step, 5) == 0);
}

TEMPLATE_TEST_CASE("Model A's tape holds little more than the values its backward pass reads", "", float, double) {
    using T = TestType;
    constexpr tapestry::Index batch = 64;
    bench::ModelAData<T> data(batch);
    bench::ModelATapestry<T> model(data);
    model.step();
    const auto used = model.tape().bytes_used();
    // What backward reads: the input x (for dW of W x), the hidden layer h (for dW of
    // W^T h, and for sigmoid' = h (1 - h)) and the decoder's product z = W^T h (for
    // sigmoid(z + b2) - x). W is a Param, outside the tape.
    const double needed = static_cast<double>((bench::visible + bench::hidden + bench::visible) * batch * sizeof(T));
    // The gradient buffers a hand-written backward needs: dz, dh and d(W x).
    const double gradients = static_cast<double>((bench::visible + bench::hidden + bench::hidden) * batch * sizeof(T));
    INFO("values and steps: " << used.values_and_steps << " bytes for " << needed << " needed ("
                              << used.values_and_steps / needed << "x); adjoints: " << used.adjoints << " bytes for "
                              << gradients << " (" << used.adjoints / gradients << "x)");
    CHECK(used.values_and_steps <= 1.25 * needed);
    CHECK(used.adjoints <= 1.25 * gradients);
}

TEST_CASE("a step through the everyday operations allocates nothing after the first") {
    if (!test::counts_allocations()) {
        WARN("not counted under a sanitizer, which owns malloc");
        return;
    }
    using namespace tapestry;
    Param<float, Dynamic, Dynamic> table(Eigen::MatrixXf::Random(16, 50));
    Param<float, 10, 32> W(Eigen::MatrixXf::Random(10, 32));
    Param<float, 16, 1> gamma(Eigen::VectorXf::Ones(16)), beta(Eigen::VectorXf::Zero(16));
    const std::vector<int> ids{3, 7, 7, 41, 0, 12, 9, 33};
    const std::vector<int> labels{1, 0, 9, 4, 4, 2, 7, 5};
    const Eigen::Array<bool, 10, Dynamic> mask = Eigen::Array<bool, 10, Dynamic>::Constant(10, 8, true);
    std::mt19937_64 rng(5);
    Tape tape;
    const auto step = [&] {
        tape.clear();
        auto embedded = layer_norm(gather_columns(table, ids), gamma, beta);
        Var<float, Dynamic, Dynamic> h = dropout(concat_rows(embedded, embedded * 2.0f), 0.2, rng);
        Var<float, 10, Dynamic> logits = W * h;
        auto clipped = where(mask, maximum(logits, clamp(logits, -1.0f, 1.0f)), 0.0f);
        auto loss = nll_loss(log_softmax(clipped), labels) + sum(softmax(block<4, 4>(logits, 0, 0), Each::Row)) +
                    sum(col_max(reshape(flatten(logits), 5, 16))) + mean(row_min(middle_cols(logits, 2, 3)));
        Var<float, 1, 1> total = loss;
        tape.backward(total);
    };
    step();
    CHECK(allocations_during(step, 5) == 0);
}

TEST_CASE("a step of a small convolutional network allocates nothing after the first") {
    if (!test::counts_allocations()) {
        WARN("not counted under a sanitizer, which owns malloc");
        return;
    }
    using namespace tapestry;
    Kernel<float, 4, 1, 5> K1(Eigen::MatrixXf::Random(25, 4) * 0.2f);
    Kernel<float, 6, 4, 3> K2(Eigen::MatrixXf::Random(36, 6) * 0.2f);
    Param<float, 6, 1> bias(Eigen::VectorXf::Zero(6));
    Param<float, 10, 6 * 3 * 3> W(Eigen::MatrixXf::Random(10, 54) * 0.1f);
    const Eigen::MatrixXf batch = Eigen::MatrixXf::Random(1 * 12 * 12, 8);
    const std::vector<int> labels{1, 0, 9, 4, 4, 2, 7, 5};
    const auto x = as_images<1, 12, 12>(shared_constant(batch));  // made once, outside every tape
    Tape tape;
    const auto step = [&] {
        tape.clear();
        const auto h = as_images<4, 6, 6>(relu(conv2d(x, K1, stride<2>, padding<2>).flat()));
        const auto pooled = max_pool2d<2>(add_channel_bias(conv2d(h, K2, padding<1>), bias));
        const auto decoded =
            conv_transpose2d(upsample_nearest<2>(avg_pool2d<2>(h)), K1, stride<2>, padding<2>, output_padding<1>);
        Var<float, 1, 1> loss = softmax_cross_entropy(W * pooled.flat(), labels) + mse(decoded.flat(), x.flat());
        tape.backward(loss);
    };
    step();
    CHECK(allocations_during(step, 5) == 0);
}

TEST_CASE("a convolution step on two threads allocates nothing after the first") {
    if (!test::counts_allocations()) {
        WARN("not counted under a sanitizer, which owns malloc");
        return;
    }
    using namespace tapestry;
    // 64 images: the convolutions share them out, each thread with its own im2col
    // buffer and its own share of the kernel's gradient.
    const int before = num_threads();
    set_num_threads(2);
    Kernel<float, 16, 4, 3> K(Eigen::MatrixXf::Random(36, 16) * 0.2f);
    const Eigen::MatrixXf batch = Eigen::MatrixXf::Random(4 * 12 * 12, 64);
    const auto x = as_images<4, 12, 12>(shared_constant(batch));
    Tape tape;
    const auto step = [&] {
        tape.clear();
        const auto h = sigmoid(conv2d(x, K));
        Var<float, 1, 1> loss = mse(conv_transpose2d(h, K).flat(), x.flat());
        tape.backward(loss);
    };
    step();
    const long allocations = allocations_during(step, 5);
    set_num_threads(before);
    CHECK(allocations == 0);
}

TEST_CASE("a load that runs out of memory at any allocation changes every Param or none") {
    if (!test::counts_allocations()) {
        WARN("no fault injection under a sanitizer, which owns malloc");
        return;
    }
    using namespace tapestry;
    test::TempDir dir;
    Param<float, 3, 1> b(Eigen::Vector3f::Constant(1.0f));
    Param<float, 3, 4> W(Eigen::Matrix<float, 3, 4>::Constant(2.0f));
    nn::Sgd<float> saved({{"b", b}, {"W", W}}, {.lr = nn::lr::fixed(0.1)}, {.momentum = 0.9});
    const std::string params_path = dir.file("params.safetensors"), checkpoint_path = dir.file("ckpt.safetensors");
    io::save_params(params_path, saved.params());
    io::save_checkpoint(checkpoint_path, saved);

    // Before, the second tensor's staging buffer could fail after b had been written.
    for (int loader = 0; loader < 2; ++loader) {
        Param<float, 3, 1> b2;
        Param<float, 3, 4> W2;
        nn::Sgd<float> sgd({{"b", b2}, {"W", W2}}, {.lr = nn::lr::fixed(0.1)}, {.momentum = 0.9});
        const std::string& path = loader == 0 ? params_path : checkpoint_path;
        // Failures start after the header's parse: nlohmann's json allocates in its
        // destructor, so a failure inside the parse ends in std::terminate (with nothing
        // changed). The allocations that follow (validation, planning, copies) may fail.
        const long parse = allocations_during([&] { io::SafetensorsFile file(path); }, 1);
        int failed = 0, partial = 0;
        for (long n = parse;; ++n) {
            b2.value().setConstant(7.0f);
            W2.value().setConstant(7.0f);
            bool loaded = false;
            test::fail_allocation_after(n);
            try {
                if (loader == 0) io::load_params(path, sgd.params());
                if (loader == 1) io::load_checkpoint(path, sgd);
                loaded = true;
            } catch (const std::exception&) {  // bad_alloc, or file_error made of one
            }
            const bool injected = test::stop_failing_allocations();
            const bool changed_b = (b2.value().array() != 7.0f).any(), changed_W = (W2.value().array() != 7.0f).any();
            if (changed_b != changed_W || changed_b != loaded) ++partial;
            if (!loaded) ++failed;
            if (!injected) break;  // every allocation of the load has been made to fail once
        }
        INFO("loader " << loader << ": loads stopped by a failed allocation: " << failed);
        CHECK(failed > 3);
        CHECK(partial == 0);
        CHECK(b2.value() == b.value());
        CHECK(W2.value() == W.value());
    }
}

TEST_CASE("a save streams its tensors through a fixed buffer; a load reads them from the mapped file") {
    if (!test::counts_allocations()) {
        WARN("not counted under a sanitizer, which owns malloc");
        return;
    }
    using namespace tapestry;
    test::TempDir dir;
    // 8 MiB of Params. Before: a save built the whole file in memory plus a row-major
    // copy of each tensor (twice the file); a load read the file and copied it whole
    // for the CRC (twice the file, plus a staging buffer per tensor), then read it
    // once (the file's size).
    Param<double, Dynamic, Dynamic> W(Eigen::MatrixXd::Constant(512, 1024, 0.5));
    Param<double, Dynamic, Dynamic> V(Eigen::MatrixXd::Constant(1024, 512, -0.5));
    const std::string path = dir.file("big.safetensors");

    const std::size_t before_save = test::large_bytes_so_far();
    io::save_params(path, nn::ParamSet<double>{{"W", W}, {"V", V}});
    const std::size_t save_bytes = test::large_bytes_so_far() - before_save;
    CHECK(save_bytes == 0);  // no block of 1 MiB or more at all

    W.value().setZero();
    V.value().setZero();
    const std::size_t before_load = test::large_bytes_so_far();
    const long load_allocations = allocations_during(
        [&] {
            io::load_params(path, nn::ParamSet<double>{{"W", W}, {"V", V}});
        },
        1);
    const std::size_t load_bytes = test::large_bytes_so_far() - before_load;
    INFO("large blocks during the load: " << load_bytes << " bytes; allocations: " << load_allocations);
    CHECK(load_bytes == 0);
    CHECK((W.value().array() == 0.5).all());
    CHECK((V.value().array() == -0.5).all());
}
