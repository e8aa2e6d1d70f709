// Property test: the tape's gradient of thousands of random graphs (tests/random_graph.hpp)
// against central finite differences. A failure prints the seed and the graph; replay
// one with TAPESTRY_GRAPH_SEED=<seed>, or as a unit test that calls check_graph(seed).

#include <cstdlib>
#include <string>

#include <catch2/catch.hpp>

#include "helpers.hpp"
#include "random_graph.hpp"

using namespace tapestry;
using test::gradient_tolerance;

namespace {

constexpr unsigned graph_count = 2000;

double gradient_error(const random_graph::Graph& graph) {
    std::vector<random_graph::AnyParam> params = random_graph::make_params(graph);
    random_graph::Runner runner(graph, params);
    return gradcheck(
        GradcheckOptions{}, [&] { return runner.run(); }, random_graph::param_set(params));
}

void check_graph(unsigned seed) {
    const random_graph::Graph graph = random_graph::generate(seed);
    const double error = gradient_error(graph);
    INFO(random_graph::describe(graph) << "replay: TAPESTRY_GRAPH_SEED=" << seed << " test_random_graphs");
    CHECK(error < gradient_tolerance);
}

}  // namespace

TEST_CASE("random graphs: tape gradients agree with finite differences") {
    if (const char* seed = std::getenv("TAPESTRY_GRAPH_SEED")) {
        check_graph(static_cast<unsigned>(std::stoul(seed)));
        return;
    }
    for (unsigned seed = 1; seed <= graph_count; ++seed) check_graph(seed);
}
