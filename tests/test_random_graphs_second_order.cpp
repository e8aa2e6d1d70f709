// Property test of forward mode and second order on random graphs (tests/random_graph.hpp,
// each step handed its operands as Values: RANDOM_GRAPH_VALUES_ONLY). For each graph,
// along random directions v and w of all its Params:
//   jvp's derivative of the loss against central differences of the loss,
//   hvp's H v against central differences of the gradient,
//   and the symmetry of the Hessian, wᵀ (H v) = vᵀ (H w).
// A failure prints the seed and the graph; replay one with TAPESTRY_GRAPH_SEED=<seed>. The
// seeds are fixed: a change to the generator may draw a point within 1e-5 of a kink (relu,
// abs, clamp, maximum, col_max), where a central difference of the gradient is wrong.

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "derivative_checks.hpp"
#include "helpers.hpp"
#include "random_graph.hpp"

using namespace tapestry;
using test::relative_difference;

namespace {

constexpr unsigned graph_count = 400;

void check_graph(unsigned seed) {
    const random_graph::Graph graph = random_graph::generate(seed);
    std::vector<random_graph::AnyParam> params = random_graph::make_params(graph);
    random_graph::Runner runner(graph, params);
    const nn::ParamSet<double> set = random_graph::param_set(params);
    auto f = [&] { return runner.run(); };
    INFO(random_graph::describe(graph) << "replay: TAPESTRY_GRAPH_SEED=" << seed << " test_random_graphs_second_order");

    const Eigen::VectorXd v = test::random_matrix(detail::flat_size(set), 1);
    const Eigen::VectorXd w = test::random_matrix(detail::flat_size(set), 1);

    // As in test_random_graphs, a step of 1e-5: these losses reach ~50.
    const JvpResult<double> forward = jvp(f, set, v);
    const Eigen::MatrixXd loss_difference = test::value_difference(f, set, v, 1e-5);
    CHECK(relative_difference(forward.tangent, loss_difference) < 1e-6);

    if (set.size() == 0) return;  // no Param of the graph's own (batch norm's are not in the set): no Hessian

    const HvpResult<double> along_v = hvp(f, set, v);
    CHECK(along_v.value == Approx(forward.value(0, 0)).epsilon(1e-12));
    CHECK(relative_difference(along_v.gradient, test::gradient_at(f, set)) < 1e-12);
    CHECK(relative_difference(along_v.product, test::gradient_difference(f, set, v)) < 1e-6);

    const HvpResult<double> along_w = hvp(f, set, w);
    const double scale = std::max({1.0, along_v.product.norm() * w.norm(), along_w.product.norm() * v.norm()});
    CHECK(std::abs(w.dot(along_v.product) - v.dot(along_w.product)) < 1e-12 * scale);
}

}  // namespace

TEST_CASE("random graphs: jvp and hvp agree with finite differences, and the Hessian is symmetric") {
    if (const char* seed = std::getenv("TAPESTRY_GRAPH_SEED")) {
        check_graph(static_cast<unsigned>(std::stoul(seed)));
        return;
    }
    for (unsigned seed = 1; seed <= graph_count; ++seed) check_graph(seed);
}
