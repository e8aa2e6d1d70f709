// A tied autoencoder on Fashion-MNIST, with Caffe's recipe: 784-128-784, sigmoid
// hidden layer, sigmoid cross-entropy on the logits, gaussian(std 1, sparse 15)
// weights, SGD lr 0.01 momentum 0.9 weight decay 5e-4 (biases: decay_mult 0), batch 100.
//
// The encoder uses W and the decoder W.transpose(): W.grad() receives both
// contributions, where Caffe needs two layers sharing a blob by name plus
// `transpose: true`.
//
// With --distributed it trains on every rank of an MPI job, each on its share of every
// batch (mpirun -np 2 tied_autoencoder --distributed): the same losses as one process.

#include "common/autoencoder.hpp"

int main(int argc, char** argv) {
    using namespace tapestry;
    examples::RunOptions options;
    options.out = "tied_autoencoder_out";
    std::string init = "caffe";
    CLI::App app{"Train a tied autoencoder (784-128-784) on Fashion-MNIST"};
    examples::add_common_flags(app, options);
    app.add_option("--init", init, "caffe: gaussian std 1 sparse 15; xavier: Xavier uniform")
        ->check(CLI::IsMember({"caffe", "xavier"}))
        ->capture_default_str();
    examples::add_distributed_flag(app, options);
    CLI11_PARSE(app, argc, argv);

    return examples::run_job(options.distributed, argc, argv, [&](auto make_job) {
        Param<float, 128, 784> W;
        Param<float, 128, 1> b1;
        Param<float, 784, 1> b2;
        nn::Rng rng(options.seed);
        if (init == "caffe")
            nn::gaussian_init(W, 0.0, 1.0, rng, 15);
        else
            nn::xavier_init(W, rng);

        nn::ParamSet<float> params{{"encode1_matrix", W},
                                   {"encode1_bias", b1, {.lr_mult = 1, .decay_mult = 0}},
                                   {"decode1_bias", b2, {.lr_mult = 1, .decay_mult = 0}}};
        auto logits_of = [&](const auto& x) {
            auto h = sigmoid(W * x + b1);
            return W.transpose() * h + b2;  // the same W, transposed
        };
        auto job = make_job(params);  // with --distributed: every rank starts from rank 0's weights
        return examples::train_autoencoder(options, job, params, logits_of, [&] { return Eigen::MatrixXf(W.value()); });
    });
}
