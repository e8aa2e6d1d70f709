#pragma once
// Random computation graphs for property tests: from a seed, a small program of
// steps (products with and without transposes, broadcasts, fused elementwise chains,
// softmax, layer_norm, where, extremes along an axis, blocks of concatenations,
// reshape, gather_columns, dropout, batch norm, reductions, losses with nll_loss)
// over Params of fixed and Dynamic shapes, each Param used one to three times in
// different roles. The program is data: it can be printed, and replayed from its
// seed, and it is run through the ordinary public API.
//
// Every step materialises its result as a Var<double, Dynamic, Dynamic>, so steps
// compose at run time; inside a step the operands keep their own static types (a
// Param<double, 3, 3>, a transposed view, a bias typed Rx1), which is what exercises
// the library's templates.

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

#include <tapestry/nn/batch_norm.hpp>
#include <tapestry/tapestry.hpp>

namespace random_graph {

using namespace tapestry;
using Matrix = Eigen::MatrixXd;
using Value = Var<double, Dynamic, Dynamic>;

// The static types a Param can have here. A graph asks for a shape; the kind decides
// which of these types holds it.
enum class ParamKind { free, column, fixed_3x3, fixed_3x1 };

// A program compiled with RANDOM_GRAPH_VALUES_ONLY (test_random_graphs_second_order)
// hands every step its operands as Values (Var<double, Dynamic, Dynamic>, a broadcast
// one as a column, row or 1x1 Var), so that each formula instantiates the library's
// templates once: the second-order steps of every operand type would take minutes to
// compile. The variety of static types is test_random_graphs's.
#ifdef RANDOM_GRAPH_VALUES_ONLY
inline constexpr bool values_only = true;
#else
inline constexpr bool values_only = false;
#endif

using FreeParam = Param<double, Dynamic, Dynamic>;
using ColumnParam = Param<double, Dynamic, 1>;
using Fixed3x3 = Param<double, 3, 3>;
using Fixed3x1 = Param<double, 3, 1>;
using AnyParam = std::variant<FreeParam, ColumnParam, Fixed3x3, Fixed3x1>;

struct ParamSpec {
    ParamKind kind;
    Matrix initial;
    int uses = 0;
};

struct Operand {
    enum class Source { none, value, param, constant } source = Source::none;  // none: a step of one operand
    int index = -1;
    bool transposed = false;
};

enum class Op { product, elementwise, broadcast, unary, reduction, loss, total };

struct Step {
    Op op;
    int variant;  // which formula of its Op (the tables below)
    Operand a, b;
    Index rows, cols;  // of the result
};

struct Graph {
    unsigned seed = 0;
    std::vector<ParamSpec> params;
    std::vector<Matrix> constants;
    std::vector<std::vector<int>> labels;  // for softmax_cross_entropy, indexed like constants
    std::vector<Step> steps;               // step i makes value i; the last one is the loss
};

// ----- the formulas each step can apply, with how they print -----

// Elementwise functions of one operand, each a fused chain of the library's ops.
// Inputs stay where every function is smooth: log and sqrt see square(x) + c.
inline constexpr const char* unary_formulas[] = {
    "sigmoid(2 * {a} - 1)",
    "tanh({a})",
    "relu({a})",
    "softplus({a})",
    "exp(-square({a}))",
    "log(square({a}) + 0.5)",
    "sqrt(square({a}) + 0.25)",
    "pow(square({a}) + 0.5, 1.5)",
    "abs({a})",
    "3 / (square({a}) + 1)",
    "0.5 - {a} / 4",
    "square(tanh({a}))",
    "exp({a})",
    "leaky_relu({a}, 0.1)",
    "elu({a})",
    "silu({a})",
    "gelu({a})",
    "log1p(square({a}))",
    "expm1({a} / 2)",
    "clamp({a}, -0.5, 0.5)",
    "softmax({a})",
    "log_softmax({a}, Each::Row)",
    "layer_norm({a}, 0.1)",
    "where(checkerboard, {a}, square({a}))",
    "block(concat_rows(tanh({a}), {a}), 1, 0, rows, cols)",
    "block(concat_columns({a}, sigmoid({a})), 0, 1, rows, cols)",
    "reshape(flatten({a}), rows, cols)",
    "gather_columns({a}, (2j + 1) mod cols)",
    "dropout({a}, 0.25, the same seed each time, Mode::Train)",
    "nn::BatchNorm(eps 0.1)({a}, Mode::Train)",
};
inline constexpr int first_structural_unary_formula = 20;  // softmax and after: run_structural_unary
inline constexpr int batch_norm_formula = 29;              // run by the Runner, which keeps the layer

// Two operands of the same shape. The last ones use an operand twice in one fused node.
inline constexpr const char* elementwise_formulas[] = {
    "{a} + {b}",
    "{a} - {b}",
    "hadamard({a}, {b})",
    "divide({a}, square({b}) + 1)",
    "tanh(hadamard({a}, {b}) + {a})",
    "hadamard(softplus({a}), exp(-square({b})))",
    "maximum({a}, {b})",
    "minimum(tanh({a}), {b})",
};

// An RxC operand with a broadcast one: b is a column (Rx1), a row (1xC) or a 1x1.
enum class Repeat { column, row, scalar };
inline constexpr const char* broadcast_formulas[] = {
    "{a} + {b}",
    "{a} - {b}",
    "hadamard({a}, {b})",
    "sigmoid({a} + {b})",
    "divide({a}, square({b}) + 1)",
    "layer_norm({a}, {b}, tanh({b}), 0.1)",  // b a column only
};

inline constexpr const char* reduction_formulas[] = {
    "sum({a})",           "mean({a})",    "row_sum({a})", "col_sum({a})", "row_sum(square({a}))",
    "mean(sigmoid({a}))", "col_max({a})", "row_min({a})",
};
inline std::pair<Index, Index> reduced_shape(int variant, Index rows, Index cols) {
    if (variant == 2 || variant == 4 || variant == 7) return {rows, 1};
    if (variant == 3 || variant == 6) return {1, cols};
    return {1, 1};
}

// Terms of the loss, each 1x1. b is a constant target, or a trainable operand (variant 1).
inline constexpr const char* loss_formulas[] = {
    "mse({a}, {b})",
    "mse({a}, {b})",
    "sigmoid_cross_entropy({a}, {b})",
    "softmax_cross_entropy({a}, {b})",
    "sum(hadamard({a}, {b}))",
    "nll_loss(log_softmax({a}), {b})",
};
inline constexpr int loss_with_trainable_target = 1;
inline constexpr int loss_with_labels = 3;
inline constexpr int nll_loss_with_labels = 5;

// ----- running a graph -----

class Runner {
public:
    Runner(const Graph& graph, std::vector<AnyParam>& params) : graph_(graph), params_(params) {}

    // Runs every step; the last value is the loss.
    Value run() {
        values_.clear();
        for (const Step& step : graph_.steps) values_.push_back(run_step(step));
        return values_.back();
    }

    Value run_step(const Step& step) {
        switch (step.op) {
            case Op::product: return run_product(step);
            case Op::elementwise: return run_elementwise(step);
            case Op::broadcast: return run_broadcast(step);
            case Op::unary:
                if (step.variant == batch_norm_formula) return batch_norm(step);
                return step.variant < first_structural_unary_formula ? run_unary(step) : run_structural_unary(step);
            case Op::reduction: return run_reduction(step);
            case Op::loss: return run_loss(step);
            case Op::total: {
                Value total = values_[static_cast<std::size_t>(step.a.index)];
                for (int i = step.a.index + 1; i < step.b.index; ++i)
                    total = total + values_[static_cast<std::size_t>(i)];
                return total;
            }
        }
        throw std::logic_error("unknown step");
    }

    const std::vector<Value>& values() const { return values_; }

private:
    // Each kind of step is defined in its own file, tests/random_graph_<kind>.cpp. Each
    // instantiates the library's templates for every operand type it can meet, and g++
    // 12's front end slows down more than linearly with the instantiations in one file
    // (each typedef of double lengthens a list it walks whenever it forms const double):
    // 182 s of g++ -fsyntax-only in one file, 93 s in five.
    Value run_product(const Step& step);
    Value run_elementwise(const Step& step);
    Value run_broadcast(const Step& step);
    Value run_unary(const Step& step);
    Value run_structural_unary(const Step& step);
    Value run_reduction(const Step& step);
    Value run_loss(const Step& step);
    Value batch_norm(const Step& step);
    // The operand as a Value: a Param is copied, a transpose materialised.
    Value as_value(const Operand& o);

    // A product reads Values, Params of kind free or 3x3, and their transposes in place.
    template <class F>
    Value with_gemm_operand(const Operand& o, F&& f) {
        const auto pass = [&](const auto& x) -> Value {
            if constexpr (values_only)
                return f(Value(x));
            else
                return f(x);
        };
        if (o.source == Operand::Source::value) {
            const Value& v = values_[static_cast<std::size_t>(o.index)];
            return o.transposed ? pass(v.transpose()) : pass(v);
        }
        if (o.source == Operand::Source::constant) {
            const Value c = constant(graph_.constants[static_cast<std::size_t>(o.index)]);
            return o.transposed ? pass(c.transpose()) : pass(c);
        }
        return std::visit(
            [&](const auto& p) -> Value {
                using P = std::remove_cvref_t<decltype(p)>;
                if constexpr (std::is_same_v<P, FreeParam> || std::is_same_v<P, Fixed3x3>)
                    return o.transposed ? pass(p.transpose()) : pass(p);
                else
                    return o.transposed ? pass(Value(p.transpose())) : pass(Value(p));
            },
            params_[static_cast<std::size_t>(o.index)]);
    }

    // Elementwise operands: Values, free Params, 3x3 Params transposed; others as Values.
    template <class F>
    Value with_operand(const Operand& o, F&& f) {
        if constexpr (!values_only) {
            if (o.source == Operand::Source::param && !o.transposed) {
                if (auto* p = std::get_if<FreeParam>(&params_[static_cast<std::size_t>(o.index)])) return f(*p);
            }
            if (o.source == Operand::Source::param && o.transposed) {
                if (auto* p = std::get_if<Fixed3x3>(&params_[static_cast<std::size_t>(o.index)]))
                    return f(p->transpose());
            }
        }
        return f(as_value(o));
    }

    // The broadcast operand with the static type that makes it repeat: a column
    // (ColumnParam, Param<double, 3, 1>, or a Value as Var<double, Dynamic, 1>), a
    // row (a column Param transposed, or Var<double, 1, Dynamic>) or a 1x1.
    template <class F>
    Value with_repeated(const Operand& o, Index rows, Index cols, F&& f) {
        const Index r = o.transposed ? operand_cols(o) : operand_rows(o);
        const Index c = o.transposed ? operand_rows(o) : operand_cols(o);
        if (r == 1 && c == 1 && (rows != 1 || cols != 1)) return f(Var<double, 1, 1>(as_value(o)));
        if constexpr (!values_only) {
            if (o.source == Operand::Source::param) {
                const AnyParam& p = params_[static_cast<std::size_t>(o.index)];
                if (c == 1 && !o.transposed) {
                    if (auto* column = std::get_if<ColumnParam>(&p)) return f(*column);
                    if (auto* column = std::get_if<Fixed3x1>(&p)) return f(*column);
                }
                if (r == 1 && o.transposed) {
                    if (auto* column = std::get_if<ColumnParam>(&p)) return f(column->transpose());
                }
            }
        }
        if (c == 1) return f(Var<double, Dynamic, 1>(as_value(o)));
        return f(Var<double, 1, Dynamic>(as_value(o)));
    }

    Index operand_rows(const Operand& o) const;
    Index operand_cols(const Operand& o) const;

    const Graph& graph_;
    std::vector<AnyParam>& params_;
    std::vector<Value> values_;
    std::map<const Step*, std::unique_ptr<nn::BatchNorm<double, Dynamic>>> batch_norms_;
};

inline Index stored_rows(const Graph& g, const Operand& o) {
    switch (o.source) {
        case Operand::Source::value: return g.steps[static_cast<std::size_t>(o.index)].rows;
        case Operand::Source::param: return g.params[static_cast<std::size_t>(o.index)].initial.rows();
        default: return g.constants[static_cast<std::size_t>(o.index)].rows();
    }
}
inline Index stored_cols(const Graph& g, const Operand& o) {
    switch (o.source) {
        case Operand::Source::value: return g.steps[static_cast<std::size_t>(o.index)].cols;
        case Operand::Source::param: return g.params[static_cast<std::size_t>(o.index)].initial.cols();
        default: return g.constants[static_cast<std::size_t>(o.index)].cols();
    }
}
inline Index Runner::operand_rows(const Operand& o) const { return stored_rows(graph_, o); }
inline Index Runner::operand_cols(const Operand& o) const { return stored_cols(graph_, o); }

// Fresh Params holding the graph's initial values.
inline std::vector<AnyParam> make_params(const Graph& g) {
    std::vector<AnyParam> params;
    for (const ParamSpec& spec : g.params) {
        switch (spec.kind) {
            case ParamKind::free: params.emplace_back(FreeParam(spec.initial)); break;
            case ParamKind::column: params.emplace_back(ColumnParam(spec.initial)); break;
            case ParamKind::fixed_3x3: params.emplace_back(Fixed3x3(spec.initial)); break;
            case ParamKind::fixed_3x1: params.emplace_back(Fixed3x1(spec.initial)); break;
        }
    }
    return params;
}

inline nn::ParamSet<double> param_set(std::vector<AnyParam>& params) {
    nn::ParamSet<double> set{};
    for (std::size_t i = 0; i < params.size(); ++i)
        std::visit([&](auto& p) { set.add("p" + std::to_string(i), p); }, params[i]);
    return set;
}

// ----- printing -----

inline std::string kind_name(ParamKind kind) {
    switch (kind) {
        case ParamKind::free: return "Param<double, Dynamic, Dynamic>";
        case ParamKind::column: return "Param<double, Dynamic, 1>";
        case ParamKind::fixed_3x3: return "Param<double, 3, 3>";
        default: return "Param<double, 3, 1>";
    }
}

inline std::string operand_name(const Operand& o) {
    // Appended one piece at a time: g++ 12 -O3 warns (-Wrestrict, a false positive, GCC
    // bug 105329) on "p" + std::string.
    std::string name = o.source == Operand::Source::value ? "v" : o.source == Operand::Source::param ? "p" : "c";
    name += std::to_string(o.index);
    if (o.transposed) name += ".transpose()";
    return name;
}

// The formula with {a} and {b} replaced by the operands' names.
inline std::string fill(const std::string& formula, const std::string& a, const std::string& b) {
    std::string out;
    for (std::size_t i = 0; i < formula.size(); ++i) {
        if (formula.compare(i, 3, "{a}") == 0) {
            out += a;
            i += 2;
        } else if (formula.compare(i, 3, "{b}") == 0) {
            out += b;
            i += 2;
        } else {
            out += formula[i];
        }
    }
    return out;
}

inline std::string describe(const Graph& g) {
    std::ostringstream out;
    out << "graph of seed " << g.seed << ":\n";
    for (std::size_t i = 0; i < g.params.size(); ++i)
        out << "  p" << i << ": " << kind_name(g.params[i].kind) << " (" << g.params[i].initial.rows() << "x"
            << g.params[i].initial.cols() << "), used " << g.params[i].uses << "x\n";
    for (std::size_t i = 0; i < g.constants.size(); ++i)
        out << "  c" << i << ": constant (" << g.constants[i].rows() << "x" << g.constants[i].cols() << ")"
            << (g.labels[i].empty() ? "" : ", labels") << "\n";
    for (std::size_t i = 0; i < g.steps.size(); ++i) {
        const Step& s = g.steps[i];
        const std::string a = operand_name(s.a), b = operand_name(s.b);
        std::string text;
        switch (s.op) {
            case Op::product: text = a + " * " + b; break;
            case Op::elementwise: text = fill(elementwise_formulas[s.variant], a, b); break;
            case Op::broadcast: text = fill(broadcast_formulas[s.variant], a, b); break;
            case Op::unary: text = fill(unary_formulas[s.variant], a, b); break;
            case Op::reduction: text = fill(reduction_formulas[s.variant], a, b); break;
            case Op::loss: text = fill(loss_formulas[s.variant], a, b); break;
            case Op::total:
                text = "the sum of v" + std::to_string(s.a.index) + " .. v" + std::to_string(s.b.index - 1);
                break;
        }
        out << "  v" << i << " = " << text << "   (" << s.rows << "x" << s.cols << ")\n";
    }
    return out.str();
}

// ----- generating a graph -----

class Generator {
public:
    explicit Generator(unsigned seed) : rng_(seed) { graph_.seed = seed; }

    Graph generate() {
        const int wanted = uniform_int(1, 6);
        for (int attempts = 0; static_cast<int>(graph_.steps.size()) < wanted && attempts < 40; ++attempts) {
            const Graph before = graph_;  // a rejected step takes its new Params and uses with it
            if (!keeps_values_moderate(random_step())) graph_ = before;
        }
        while (graph_.steps.empty()) {
            const Graph before = graph_;
            if (!keeps_values_moderate(first_product())) graph_ = before;
        }
        add_loss_terms();
        return graph_;
    }

private:
    // Keeps a step only if its value is finite and moderate, so that finite
    // differences stay accurate (the step is run to find out).
    bool keeps_values_moderate(Step step) {
        graph_.steps.push_back(step);
        std::vector<AnyParam> params = make_params(graph_);
        InferenceMode plain_values;
        Runner runner(graph_, params);
        const Value v = runner.run();
        const auto value = v.value();
        return value.allFinite() && value.cwiseAbs().maxCoeff() <= 8.0;
    }

    Step random_step() {
        if (graph_.steps.empty() || bernoulli(0.15)) return first_product();
        const int from = uniform_int(0, static_cast<int>(graph_.steps.size()) - 1);
        const Step& source = graph_.steps[static_cast<std::size_t>(from)];
        const Index rows = source.rows, cols = source.cols;
        const Operand a{Operand::Source::value, from, false};
        switch (uniform_int(0, 4)) {
            case 0: {  // a product reading a value (maybe transposed) and a new or reused operand
                const bool t = bernoulli(0.3);
                const Operand left{Operand::Source::value, from, t};
                const Index inner = t ? rows : cols;
                const Index n = random_extent();
                const bool right_first = bernoulli(0.3);
                if (right_first) {  // the value on the right: (n x inner) * left^T... kept simple:
                    const Operand other = pick_operand(n, t ? cols : rows, true);
                    return {Op::product, 0, other, {Operand::Source::value, from, t}, n, t ? rows : cols};
                }
                return {Op::product, 0, left, pick_operand(inner, n, true), t ? cols : rows, n};
            }
            case 1: return {Op::elementwise, uniform_int(0, 7), a, pick_operand(rows, cols, true), rows, cols};
            case 2: {
                const int kind = uniform_int(0, 2);
                const Index br = kind == 0 ? rows : 1, bc = kind == 1 ? cols : 1;
                return {Op::broadcast,
                        uniform_int(0, kind == 0 ? 5 : 4),  // layer_norm's scale and shift: columns
                        bernoulli(0.8) ? a : pick_operand(rows, cols, false),
                        pick_repeated(br, bc),
                        rows,
                        cols};
            }
            case 3: {
                int variant = uniform_int(0, static_cast<int>(std::size(unary_formulas)) - 1);
                if (variant == batch_norm_formula && cols < 2) variant = 22;  // a batch of one: layer_norm instead
                return {Op::unary, variant, bernoulli(0.8) ? a : pick_operand(rows, cols, true), {}, rows, cols};
            }
            default: {
                const int variant = uniform_int(0, 7);
                const auto [r, c] = reduced_shape(variant, rows, cols);
                return {Op::reduction, variant, bernoulli(0.8) ? a : pick_operand(rows, cols, true), {}, r, c};
            }
        }
    }

    Step first_product() {
        const Index m = random_extent(), k = random_extent(), n = random_extent();
        return {Op::product, 0, pick_operand(m, k, true), pick_operand(k, n, true), m, n};
    }

    // Every value no later step reads becomes a loss term; the loss is their sum.
    void add_loss_terms() {
        std::vector<bool> read(graph_.steps.size(), false);
        for (const Step& s : graph_.steps) {
            if (s.a.source == Operand::Source::value) read[static_cast<std::size_t>(s.a.index)] = true;
            if (s.b.source == Operand::Source::value) read[static_cast<std::size_t>(s.b.index)] = true;
        }
        const int first_term = static_cast<int>(graph_.steps.size());
        for (std::size_t i = 0; i < read.size(); ++i)
            if (!read[i]) graph_.steps.push_back(loss_term(static_cast<int>(i)));
        const int end = static_cast<int>(graph_.steps.size());
        graph_.steps.push_back(
            {Op::total, 0, {Operand::Source::value, first_term}, {Operand::Source::value, end}, 1, 1});
    }

    Step loss_term(int value) {
        const Step& s = graph_.steps[static_cast<std::size_t>(value)];
        const Operand a{Operand::Source::value, value, false};
        const int variant = uniform_int(0, static_cast<int>(std::size(loss_formulas)) - 1);
        if (variant == loss_with_trainable_target)
            return {Op::loss, variant, a, pick_operand(s.rows, s.cols, true), 1, 1};
        if (variant == loss_with_labels || variant == nll_loss_with_labels) {
            std::vector<int> labels(static_cast<std::size_t>(s.cols));
            for (int& label : labels) label = uniform_int(0, static_cast<int>(s.rows) - 1);
            return {Op::loss, variant, a, new_constant(Matrix::Zero(1, s.cols), std::move(labels)), 1, 1};
        }
        const double lo = variant == 2 ? 0.0 : -1.0;  // cross-entropy targets are probabilities
        return {Op::loss, variant, a, new_constant(random_matrix(s.rows, s.cols, lo, 1.0)), 1, 1};
    }

    // An operand of shape rows x cols: a Param used before (plain or transposed, at most
    // three uses), a new Param, or sometimes a constant.
    Operand pick_operand(Index rows, Index cols, bool constant_allowed) {
        if (constant_allowed && bernoulli(0.1)) return new_constant(random_matrix(rows, cols, -1.0, 1.0));
        std::vector<Operand> reusable;
        for (std::size_t i = 0; i < graph_.params.size(); ++i) {
            const ParamSpec& p = graph_.params[i];
            if (p.uses >= 3) continue;
            if (p.initial.rows() == rows && p.initial.cols() == cols)
                reusable.push_back({Operand::Source::param, static_cast<int>(i), false});
            if (p.initial.rows() == cols && p.initial.cols() == rows)
                reusable.push_back({Operand::Source::param, static_cast<int>(i), true});
        }
        if (!reusable.empty() && bernoulli(0.6)) {
            const Operand o = reusable[static_cast<std::size_t>(uniform_int(0, static_cast<int>(reusable.size()) - 1))];
            ++graph_.params[static_cast<std::size_t>(o.index)].uses;
            return o;
        }
        return new_param(rows, cols);
    }

    // A broadcast operand: often a Param (a bias), sometimes a reduction's value.
    Operand pick_repeated(Index rows, Index cols) {
        for (std::size_t i = 0; i < graph_.steps.size(); ++i) {
            const Step& s = graph_.steps[i];
            if (s.rows == rows && s.cols == cols && bernoulli(0.3))
                return {Operand::Source::value, static_cast<int>(i)};
        }
        return pick_operand(rows, cols, false);
    }

    Operand new_param(Index rows, Index cols) {
        ParamKind kind = ParamKind::free;
        if (rows == 3 && cols == 3 && bernoulli(0.7))
            kind = ParamKind::fixed_3x3;
        else if (rows == 3 && cols == 1 && bernoulli(0.5))
            kind = ParamKind::fixed_3x1;
        else if (cols == 1 && bernoulli(0.6))
            kind = ParamKind::column;
        bool transposed = false;
        if (rows == 1 && cols > 1 && bernoulli(0.5)) {  // a row as a column Param, transposed
            kind = ParamKind::column;
            transposed = true;
            std::swap(rows, cols);
        }
        graph_.params.push_back({kind, random_matrix(rows, cols, -1.0, 1.0), 1});
        return {Operand::Source::param, static_cast<int>(graph_.params.size()) - 1, transposed};
    }

    Operand new_constant(Matrix m, std::vector<int> labels = {}) {
        graph_.constants.push_back(std::move(m));
        graph_.labels.push_back(std::move(labels));
        return {Operand::Source::constant, static_cast<int>(graph_.constants.size()) - 1};
    }

    // Extents 1 to 5, with 3 often, so that the fixed 3x3 and 3x1 Params come up.
    Index random_extent() {
        static constexpr Index extents[] = {1, 2, 3, 3, 3, 4, 5};
        return extents[uniform_int(0, 6)];
    }

    Matrix random_matrix(Index rows, Index cols, double lo, double hi) {
        std::uniform_real_distribution<double> uniform(lo, hi);
        Matrix m(rows, cols);
        for (Index i = 0; i < m.size(); ++i) m.data()[i] = uniform(rng_);
        return m;
    }

    int uniform_int(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
    bool bernoulli(double p) { return std::bernoulli_distribution(p)(rng_); }

    std::mt19937 rng_;
    Graph graph_;
};

inline Graph generate(unsigned seed) { return Generator(seed).generate(); }

}  // namespace random_graph
