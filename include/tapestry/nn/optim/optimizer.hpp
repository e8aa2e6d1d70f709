#pragma once
// What every optimizer shares: the ParamSet, the learning-rate policy with Caffe's
// per-Param lr_mult and decay_mult, L2 or L1 weight decay, gradient clipping by
// global norm, and gradient accumulation over several backward passes (Caffe's
// iter_size). A subclass supplies only its update rule and the names of its state.

#include <algorithm>
#include <array>
#include <cmath>
#include <string>
#include <vector>

#include "tapestry/kernels/parallel.hpp"
#include "tapestry/nn/lr_policy.hpp"
#include "tapestry/nn/param_set.hpp"

namespace tapestry::detail {
struct OptimizerAccess;
}  // namespace tapestry::detail

namespace tapestry::nn {

enum class Regularization { L2, L1 };

struct OptimizerOptions {
    LrPolicy lr = lr::fixed(0.01);
    double weight_decay = 0.0;  // times each Param's decay_mult
    Regularization regularization = Regularization::L2;
    double clip_norm = 0.0;  // > 0: scale gradients down to this global L2 norm
    int accumulate = 1;      // backward passes summed per update (iter_size)
};

// A stretch of one Param that stays in cache while an update runs over it: its
// values, gradients and the optimizer's state tensors as flat arrays of one length.
// The update of a Param is done slice by slice, so that weight decay and the rule's
// several statements cost one trip through memory, as a hand-fused loop would,
// instead of one trip each.
template <class T>
struct Slice {
    using Array = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
    static constexpr std::size_t max_states = 2;

    T* value_data;
    T* grad_data;
    std::array<T*, max_states> state_data;
    Index size;

    Array value() const { return {value_data, size}; }
    Array grad() const { return {grad_data, size}; }
    Array state(std::size_t k) const { return {state_data[k], size}; }
};

template <class T>
class Optimizer {
public:
    using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;

    virtual ~Optimizer() = default;
    Optimizer(const Optimizer&) = delete;
    Optimizer& operator=(const Optimizer&) = delete;

    // Call once after each backward(). Every `accumulate`-th call applies one update
    // from the summed gradients divided by `accumulate`, zeroes the gradients and
    // returns true; the other calls return false and leave the gradients adding up.
    bool step() {
        if (++pending_ < options_.accumulate) return false;
        pending_ = 0;
        const double rate = learning_rate();
        prepare_gradients();
        constexpr Index slice_length = 8192 / sizeof(T);  // 8 KB per array: a few arrays fit in L1
        for (std::size_t i = 0; i < params_.size(); ++i) {
            const NamedParam<T>& p = params_[i];
            const T lr = static_cast<T>(rate * p.options.lr_mult);
            const Index size = p.rows * p.cols;
            T* const grad = p.grad().data();  // zeros written first if no backward reached it
            // Slices are independent: a large Param's are shared out over the threads.
            const Index slices = (size + slice_length - 1) / slice_length;
            const int pieces = detail::pieces_for(double(size), detail::elementwise_min_work_per_thread, slices);
            detail::run_pieces(pieces, [&](int piece) {
                const auto [first, last] = detail::piece_range(slices, pieces, piece, 1);
                for (Index start = first * slice_length; start < std::min(size, last * slice_length);
                     start += slice_length) {
                    Slice<T> slice{p.value().data() + start, grad + start, {}, std::min(slice_length, size - start)};
                    for (std::size_t k = 0; k < state_[i].size(); ++k)
                        slice.state_data[k] = state_[i][k].data() + start;
                    if (!decouples_weight_decay()) regularize(p, slice);
                    update(p, slice, lr, iteration_ + 1);
                }
            });
            // Writes nothing: the next backward writes the zeros where it needs them, in cache.
            p.zero_grad();
        }
        ++iteration_;
        return true;
    }

    // The learning rate the next update will use (lr_mult aside).
    double learning_rate() const { return options_.lr.at(iteration_); }

    // Updates applied so far; the policy's iteration.
    long iteration() const { return iteration_; }

    const ParamSet<T>& params() const { return params_; }
    const OptimizerOptions& options() const { return options_; }

    // ----- its state, as a checkpoint holds it -----
    // Names of the per-Param state tensors ("momentum", "exp_avg", ...).
    const std::vector<std::string>& state_names() const { return state_names_; }
    // state(i)[k]: Param i's state tensor named state_names()[k].
    const std::vector<Matrix>& state(std::size_t i) const { return state_[i]; }
    // Backward passes summed since the last update.
    int pending() const { return pending_; }

protected:
    Optimizer(ParamSet<T> params, OptimizerOptions options, std::vector<std::string> state_names)
        : params_(std::move(params)), options_(std::move(options)), state_names_(std::move(state_names)) {
        if (options_.accumulate < 1) throw value_error("Optimizer: accumulate must be at least 1");
        if (state_names_.size() > Slice<T>::max_states)
            throw value_error("Optimizer: more state tensors than Slice::max_states");
        for (const auto& p : params_) state_.emplace_back(state_names_.size(), Matrix::Zero(p.rows, p.cols));
    }

    // Adds the rule's step to the slice's values, from its gradients (already averaged,
    // clipped and, unless decoupled, regularized); the gradients may be overwritten.
    // `t` counts updates from 1, as Adam's bias correction does. Slices of one Param are
    // updated on several threads at once: an update reads and writes its slice only.
    virtual void update(const NamedParam<T>& p, const Slice<T>& slice, T lr, long t) = 0;

    // AdamW applies its weight decay to the value itself, not through the gradient.
    virtual bool decouples_weight_decay() const { return false; }

private:
    friend struct tapestry::detail::OptimizerAccess;

    // Restored from a checkpoint (io/checkpoint.hpp).
    void restore_counters(long iteration, int pending) {
        if (iteration < 0 || pending < 0 || pending >= options_.accumulate)
            throw value_error("Optimizer: iteration " + std::to_string(iteration) + " / pending " +
                              std::to_string(pending) + " is not a state this optimizer can be in");
        iteration_ = iteration;
        pending_ = pending;
    }

    // Averages accumulated gradients, then clips the average (Caffe clips the sum
    // before averaging; clipping the average keeps the threshold independent of accumulate).
    void prepare_gradients() {
        if (options_.accumulate > 1)
            for (const auto& p : params_) p.grad() /= static_cast<T>(options_.accumulate);
        if (options_.clip_norm > 0) {
            double squared = 0;
            for (const auto& p : params_) squared += static_cast<double>(p.grad().squaredNorm());
            const double norm = std::sqrt(squared);
            if (norm > options_.clip_norm)
                for (const auto& p : params_) p.grad() *= static_cast<T>(options_.clip_norm / norm);
        }
    }

    void regularize(const NamedParam<T>& p, const Slice<T>& slice) const {
        const T decay = static_cast<T>(options_.weight_decay * p.options.decay_mult);
        if (decay == T(0)) return;
        if (options_.regularization == Regularization::L2)
            slice.grad() += decay * slice.value();
        else
            slice.grad() += decay * slice.value().sign();
    }

    ParamSet<T> params_;
    OptimizerOptions options_;
    std::vector<std::string> state_names_;
    std::vector<std::vector<Matrix>> state_;
    long iteration_ = 0;
    int pending_ = 0;
};

}  // namespace tapestry::nn

namespace tapestry::detail {
// What a checkpoint writes into an optimizer when it restores one.
struct OptimizerAccess {
    template <class T>
    static std::vector<typename nn::Optimizer<T>::Matrix>& state(nn::Optimizer<T>& optimizer, std::size_t i) {
        return optimizer.state_[i];
    }
    template <class T>
    static void restore_counters(nn::Optimizer<T>& optimizer, long iteration, int pending) {
        optimizer.restore_counters(iteration, pending);
    }
};
}  // namespace tapestry::detail
