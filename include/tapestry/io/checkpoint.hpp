#pragma once
// Checkpoints as safetensors files: a ParamSet's values under their names and, for
// a training checkpoint, the optimizer's state ("optimizer/<state>/<param>") with
// its iteration, pending accumulations and learning rate in the metadata, so that
// a resumed run continues exactly as if it had not stopped.
//
// Loading checks the whole file against what is expected (every name present, no
// unknown names, dtypes, shapes) before it changes anything, and then copies without
// allocating, so that a load changes every Param or none.

#include <charconv>
#include <set>

#include "tapestry/io/safetensors.hpp"
#include "tapestry/nn/optim/optimizer.hpp"

namespace tapestry::detail {

template <class T>
using DynamicMap = Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>>;

template <class T>
std::vector<io::TensorView<T>> param_views(const nn::ParamSet<T>& params) {
    std::vector<io::TensorView<T>> views;
    for (const auto& p : params) views.push_back({p.name, {p.value().data(), p.rows, p.cols}});
    return views;
}

inline std::string state_name(const std::string& state, const std::string& param) {
    return "optimizer/" + state + "/" + param;
}

// A copy that a load makes once the whole file is validated. Planned first (names
// built, entries found, gradients' pending zeros written), so that the copies allocate
// nothing and a load cannot stop halfway (e.g. on std::bad_alloc) with some Params
// changed and others not.
template <class T>
struct PlannedCopy {
    const io::SafetensorsFile::Entry* entry;
    DynamicMap<T> out;
};

template <class T>
void plan_copy(const io::SafetensorsFile& file, std::vector<PlannedCopy<T>>& copies, std::set<std::string>& expected,
               const std::string& name, DynamicMap<T> out) {
    file.expect<T>(name, out.rows(), out.cols());
    expected.insert(name);
    copies.push_back({&file.entries().at(name), out});
}

template <class T>
void copy_all(const io::SafetensorsFile& file, const std::vector<PlannedCopy<T>>& copies) noexcept {
    for (const auto& copy : copies) file.copy_into<T>(*copy.entry, copy.out);
}

// Names the file has that nobody asked for: an error, since it is likely the wrong model.
inline void reject_unknown(const io::SafetensorsFile& file, const std::set<std::string>& expected) {
    for (const auto& [name, entry] : file.entries())
        if (!expected.contains(name)) file.fail(name, "is in the file but not in the model");
}

// Enough digits to read back the same double.
inline std::string exact_decimal(double x) {
    char text[32];
    std::snprintf(text, sizeof(text), "%.17g", x);
    return text;
}

inline long metadata_number(const io::SafetensorsFile& file, const std::string& key) {
    const auto it = file.metadata().find(key);
    if (it == file.metadata().end()) file.fail("", "metadata \"" + key + "\" is missing");
    long value = 0;
    const auto& text = it->second;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || end != text.data() + text.size())
        file.fail("", "metadata \"" + key + "\" is \"" + text + "\", not a whole number");
    return value;
}

}  // namespace tapestry::detail

namespace tapestry::io {

// Writes the Params' values (atomically).
template <class T>
void save_params(const std::string& path, const nn::ParamSet<T>& params,
                 const std::map<std::string, std::string>& metadata = {}) {
    write_safetensors(path, detail::param_views(params), metadata);
}

// Reads the Params' values. The file must hold exactly these names, with their
// dtype and shape; otherwise file_error, and no Param is changed.
template <class T>
void load_params(const std::string& path, const nn::ParamSet<T>& params) {
    SafetensorsFile file(path);
    std::set<std::string> expected;
    std::vector<detail::PlannedCopy<T>> copies;
    for (const auto& p : params) detail::plan_copy(file, copies, expected, p.name, p.value());
    detail::reject_unknown(file, expected);
    detail::copy_all(file, copies);
}

// Writes the Params and the optimizer's state (atomically).
template <class T>
void save_checkpoint(const std::string& path, const nn::Optimizer<T>& optimizer) {
    auto tensors = detail::param_views(optimizer.params());
    for (std::size_t i = 0; i < optimizer.params().size(); ++i)
        for (std::size_t k = 0; k < optimizer.state_names().size(); ++k) {
            const auto& m = optimizer.state(i)[k];
            tensors.push_back({detail::state_name(optimizer.state_names()[k], optimizer.params()[i].name),
                               {m.data(), m.rows(), m.cols()}});
        }
    // Between updates the Params' grads hold a partial sum that the next update needs.
    if (optimizer.pending() > 0)
        for (const auto& p : optimizer.params())
            tensors.push_back({detail::state_name("accumulated_grad", p.name), {p.grad().data(), p.rows, p.cols}});
    write_safetensors(path, tensors,
                      {{"format", "tapestry checkpoint 1"},
                       {"iteration", std::to_string(optimizer.iteration())},
                       {"pending", std::to_string(optimizer.pending())},
                       {"learning_rate", detail::exact_decimal(optimizer.learning_rate())}});
}

// Restores Params and optimizer state from save_checkpoint()'s file, after
// validating all of it; on any problem file_error, with nothing changed.
template <class T>
void load_checkpoint(const std::string& path, nn::Optimizer<T>& optimizer) {
    SafetensorsFile file(path);
    // save_checkpoint always writes one; without it a flipped bit in its key would go unchecked.
    if (file.metadata().count(detail::checksum_key) == 0)
        file.fail("",
                  std::string("no ") + detail::checksum_key + " checksum: not written by save_checkpoint, or damaged");
    const auto& params = optimizer.params();
    std::set<std::string> expected;
    std::vector<detail::PlannedCopy<T>> copies;
    for (std::size_t i = 0; i < params.size(); ++i) {
        detail::plan_copy(file, copies, expected, params[i].name, params[i].value());
        for (std::size_t k = 0; k < optimizer.state_names().size(); ++k) {
            auto& m = detail::OptimizerAccess::state(optimizer, i)[k];
            detail::plan_copy(file, copies, expected, detail::state_name(optimizer.state_names()[k], params[i].name),
                              detail::DynamicMap<T>(m.data(), m.rows(), m.cols()));
        }
    }
    const long iteration = detail::metadata_number(file, "iteration");
    const long pending = detail::metadata_number(file, "pending");
    if (iteration < 0 || pending < 0 || pending >= optimizer.options().accumulate)
        file.fail("", "metadata iteration " + std::to_string(iteration) + " / pending " + std::to_string(pending) +
                          " does not fit this optimizer (accumulate = " +
                          std::to_string(optimizer.options().accumulate) + ")");
    if (pending > 0)
        for (const auto& p : params)
            detail::plan_copy(file, copies, expected, detail::state_name("accumulated_grad", p.name), p.grad());
    detail::reject_unknown(file, expected);

    // From here on nothing allocates or throws: the counters were checked above.
    detail::copy_all(file, copies);
    if (pending == 0)
        for (const auto& p : params) p.zero_grad();
    detail::OptimizerAccess::restore_counters(optimizer, iteration, static_cast<int>(pending));
}

}  // namespace tapestry::io
