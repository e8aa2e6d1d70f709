#pragma once
// A model's Params, named once and used for the optimizer and for checkpoints:
//
//   ParamSet<float> params{{"encode1_matrix", W},
//                          {"encode1_bias", b1, {.lr_mult = 1, .decay_mult = 0}},
//                          {"decode1_bias", b2, {.lr_mult = 1, .decay_mult = 0}}};
//
// lr_mult and decay_mult are Caffe's `param { lr_mult decay_mult }`.

#include <string>
#include <utility>
#include <vector>

#include "tapestry/param.hpp"

namespace tapestry::nn {

struct ParamOptions {
    double lr_mult = 1.0;
    double decay_mult = 1.0;
};

// A Param seen without its compile-time shape: what optimizers and files need.
template <class T>
struct NamedParam {
    using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;

    template <int R, int C>
    NamedParam(std::string param_name, Param<T, R, C>& p, ParamOptions param_options = {})
        : name(std::move(param_name)),
          rows(p.rows()),
          cols(p.cols()),
          options(param_options),
          param_(tapestry::detail::ParamSnapshot<T>::of(&tapestry::detail::ParamAccess::gradient(p))) {}

    Eigen::Map<Matrix> value() const { return {storage().value, rows, cols}; }
    // The gradient (graph/gradient.hpp writes its zeros first if they are due).
    Eigen::Map<Matrix> grad() const {
        storage();
        return {param_.record->read(), rows, cols};
    }
    void zero_grad() const {
        storage();
        param_.record->set_zero();
    }
    // True if the gradient is known to be zero without reading it: zero_grad() (or an
    // optimizer's update) was the last thing to touch it.
    bool grad_is_zeroed() const {
        storage();
        return param_.record->is_zeroed();
    }

    // What identifies the Param to a recording (forward mode gives it a tangent by this).
    const void* identity() const {
        storage();
        return param_.record;
    }

    std::string name;
    Index rows, cols;
    ParamOptions options;

private:
    // Where the Param's numbers are, after checking that they are still those it joined
    // with: a Param destroyed, or resized, since it joined throws instead of being read.
    const tapestry::detail::ParamStorage<T>& storage() const {
        if (const char* change = param_.change()) [[unlikely]]
            throw value_error("ParamSet: the Param \"" + name + "\" (" + to_string_shape(rows, cols) +
                              " when it joined) " + change +
                              " after it joined: a Param must outlive the ParamSets and optimizers that hold it and "
                              "keep its shape");
        return param_.storage;
    }

    tapestry::detail::ParamSnapshot<T> param_;
};

template <class T>
class ParamSet {
public:
    ParamSet(std::initializer_list<NamedParam<T>> params) : params_(params) { check_unique_names(); }

    template <int R, int C>
    ParamSet& add(std::string name, Param<T, R, C>& p, ParamOptions options = {}) {
        params_.emplace_back(std::move(name), p, options);
        check_unique_names();
        return *this;
    }

    auto begin() const { return params_.begin(); }
    auto end() const { return params_.end(); }
    std::size_t size() const { return params_.size(); }
    const NamedParam<T>& operator[](std::size_t i) const { return params_[i]; }

    // The index of the Param called `name`, or size() if there is none.
    std::size_t find(const std::string& name) const {
        for (std::size_t i = 0; i < params_.size(); ++i)
            if (params_[i].name == name) return i;
        return params_.size();
    }

    void zero_grad() const {
        for (const auto& p : params_) p.zero_grad();
    }

private:
    // One Param under two names would be updated twice per step (the second time from
    // the gradient the first update zeroed) and saved twice: refused like a repeated name.
    void check_unique_names() const {
        for (std::size_t i = 0; i < params_.size(); ++i)
            for (std::size_t j = i + 1; j < params_.size(); ++j) {
                if (params_[i].name == params_[j].name)
                    throw value_error("ParamSet: the name \"" + params_[i].name + "\" is used twice");
                if (params_[i].value().data() == params_[j].value().data())
                    throw value_error("ParamSet: \"" + params_[i].name + "\" and \"" + params_[j].name +
                                      "\" are the same Param");
            }
    }

    std::vector<NamedParam<T>> params_;
};

}  // namespace tapestry::nn
