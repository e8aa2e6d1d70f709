// Hessian-free optimisation against SGD on the deep tied autoencoder (784-1000-500-250-30,
// common/deep_tied_model.hpp) on Fashion-MNIST: Martens trained this architecture, untied,
// with Hessian-free (on MNIST, 2010). Each optimizer trains for the same wall-clock budget from
// the same initial weights; the test loss is measured every --eval-every seconds of
// training (the clock stops meanwhile). Writes loss_vs_time.csv, which
// examples/plot_loss_vs_time.py draws as loss_vs_time.png.
//
// SGD takes Caffe's solver settings (common/run.hpp: batches of 100, lr 0.01, momentum
// 0.9, weight decay 5e-4) with the learning rate held fixed, as the other examples do
// (Caffe's mnist_autoencoder solver divides it by 10 every 10,000 steps). Each Hessian-free step reads --hf-batch
// examples, the next ones of the shuffled training set, for its gradient, its Gauss-Newton products and its line search
// (nn::HessianFree), with no weight decay: its loss may read only the model's output (functional/gnvp.hpp). The test
// loss is the cross-entropy alone, summed over the pixels and averaged over the images, as Caffe reports it.

#include <chrono>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <tapestry/data/batches.hpp>
#include <tapestry/nn/optim/hessian_free.hpp>
#include <tapestry/nn/optim/sgd.hpp>

#include "common/autoencoder.hpp"
#include "common/deep_tied_model.hpp"

namespace {

struct Options {
    examples::RunOptions run;
    double seconds = 120;    // training time per optimizer
    double eval_every = 10;  // seconds of training between test losses
    long hf_batch = 500;
    int cg_iterations = 10;
    double damping = 10;
};

struct Sample {
    std::string optimizer;
    double seconds;  // of training, test evaluations not counted
    long steps;
    double test_loss;
};

// The training set's batches one after another, reshuffled at the start of each epoch.
class EndlessBatches {
public:
    EndlessBatches(const Eigen::MatrixXf& images, long batch_size, unsigned seed)
        : batches_(images, batch_size, seed) {}

    const tapestry::data::Batch<float>& next() {
        if (next_ == batches_.size()) {
            batches_.start_epoch(++epoch_);
            next_ = 0;
        }
        batches_.get(next_++, batch_);
        return batch_;
    }

private:
    tapestry::data::Batches<float> batches_;
    tapestry::data::Batch<float> batch_;
    tapestry::Index next_ = batches_.size();
    long epoch_ = -1;
};

// Runs `step()` until `o.seconds` of it have passed, timing only the steps, and samples
// the test loss at the start, every `o.eval_every` seconds of steps, and at the end.
template <class Step, class TestLoss>
void train_for(const Options& o, const std::string& name, Step step, TestLoss test_loss, std::vector<Sample>& out) {
    double trained = 0, next_sample = 0;
    long steps = 0;
    while (true) {
        if (trained >= next_sample || trained >= o.seconds) {
            out.push_back({name, trained, steps, test_loss()});
            std::printf("%-12s %7.1f s  %6ld steps  test loss %.3f\n", name.c_str(), trained, steps,
                        out.back().test_loss);
            std::fflush(stdout);
            if (trained >= o.seconds) return;
            while (next_sample <= trained) next_sample += o.eval_every;  // a step may outlast an interval
        }
        const auto began = std::chrono::steady_clock::now();
        step();
        trained += std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
        ++steps;
    }
}

}  // namespace

int main(int argc, char** argv) {
    using namespace tapestry;
    Options o;
    o.run.out = "hessian_free_autoencoder_out";
    CLI::App app{"Hessian-free against SGD on the deep tied autoencoder, for the same wall-clock time"};
    examples::add_run_flags(app, o.run);
    examples::add_sgd_flags(app, o.run);
    app.add_option("--seconds", o.seconds, "training time per optimizer")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    app.add_option("--eval-every", o.eval_every, "seconds of training between test losses")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    app.add_option("--hf-batch", o.hf_batch, "examples per Hessian-free step")
        ->check(CLI::Range(1L, 60000L))
        ->capture_default_str();
    app.add_option("--cg-iterations", o.cg_iterations, "most conjugate-gradient iterations per Hessian-free step")
        ->check(CLI::Range(1, 10000))
        ->capture_default_str();
    app.add_option("--damping", o.damping, "Hessian-free's initial damping λ")
        ->check(CLI::NonNegativeNumber)
        ->capture_default_str();
    CLI11_PARSE(app, argc, argv);

    const std::optional<examples::FashionMnist> loaded = examples::load_data(o.run);
    if (!loaded) return 2;
    const examples::FashionMnist& data = *loaded;
    std::filesystem::create_directories(o.run.out);

    examples::DeepTiedAutoencoder model(o.run.seed);
    const nn::ParamSet<float> params = model.params();
    std::vector<Eigen::MatrixXf> initial;  // both optimizers start here
    for (const auto& p : params) initial.emplace_back(p.value());
    auto restart = [&] {
        for (std::size_t i = 0; i < params.size(); ++i) params[i].value() = initial[i];
    };
    auto logits_of = [&](const auto& x) { return model.logits(x); };
    auto test_loss = [&] {
        return examples::summed_reconstruction_loss(data.test_images, 0, data.test_images.cols(), logits_of) /
               static_cast<double>(data.test_images.cols());
    };
    std::vector<Sample> samples;

    try {
        {
            nn::OptimizerOptions solver;
            solver.lr = nn::lr::fixed(o.run.lr);
            solver.weight_decay = o.run.weight_decay;
            nn::Sgd<float> sgd(params, solver, {.momentum = o.run.momentum});
            EndlessBatches batches(data.train_images, o.run.batch, o.run.seed);
            Tape tape;
            train_for(
                o, "sgd",
                [&] {
                    tape.clear();
                    const auto x = constant(batches.next().x);
                    tape.backward(sigmoid_cross_entropy(logits_of(x), x, Reduction::Sum) *
                                  (1.0f / static_cast<float>(x.cols())));
                    sgd.step();
                },
                test_loss, samples);
        }

        restart();
        {
            nn::HessianFree<float> hf(params, {.damping = o.damping, .max_cg_iterations = o.cg_iterations});
            EndlessBatches batches(data.train_images, o.hf_batch, o.run.seed);
            train_for(
                o, "hessian_free",
                [&] {
                    const Eigen::MatrixXf& x = batches.next().x;
                    const float per_image = 1.0f / static_cast<float>(x.cols());
                    const nn::HessianFreeReport report =
                        hf.step([&] { return logits_of(constant(x)); },
                                [&](const auto& z) {
                                    return sigmoid_cross_entropy(z, constant(x), Reduction::Sum) * per_image;
                                });
                    std::printf(
                        "  step: loss %.3f -> %.3f, %d CG iterations, rho %.2f, damping %.3g, step length %.2f\n",
                        report.loss, report.new_loss, report.cg_iterations, report.reduction_ratio, report.damping,
                        report.step_length);
                },
                test_loss, samples);
        }
    } catch (const std::exception& e) {  // HessianFree's value_error where the loss is not finite, say
        std::fprintf(stderr, "error: %s\n", e.what());
        return 2;
    }

    const std::string csv_path = o.run.out + "/loss_vs_time.csv";
    std::ofstream csv(csv_path);
    csv.precision(9);
    csv << "optimizer,seconds,steps,test_loss\n";
    for (const Sample& s : samples)
        csv << s.optimizer << ',' << s.seconds << ',' << s.steps << ',' << s.test_loss << '\n';
    csv.close();
    if (!csv) {
        std::fprintf(stderr, "error: cannot write %s\n", csv_path.c_str());
        return 2;
    }
    std::printf("wrote %s (draw it: python3 examples/plot_loss_vs_time.py %s)\n", csv_path.c_str(), csv_path.c_str());
    return 0;
}
