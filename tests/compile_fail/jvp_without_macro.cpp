// jvp in a program compiled without its steps: the first error names the macro that
// compiles them in (the control defines it).
// expect: define TAPESTRY_FORWARD_MODE .*for the whole program
#ifdef TAPESTRY_CONTROL
#define TAPESTRY_FORWARD_MODE
#endif
#include <tapestry/functional/jvp.hpp>
#include <tapestry/tapestry.hpp>
using namespace tapestry;
int main() {
    Param<double, 2, 1> w;
    const nn::ParamSet<double> params{{"w", w}};
    const Eigen::VectorXd v = Eigen::VectorXd::Ones(2);
    return jvp([&] { return sum(square(w)); }, params, v).value(0, 0) > 0 ? 0 : 1;
}
