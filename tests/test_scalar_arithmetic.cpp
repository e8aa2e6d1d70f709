// Scalar arithmetic on either side of an expression (-a, a * s, s * a, a / s, s / a,
// a + s, s - a, a - s): values against plain formulas, gradients against central finite
// differences, fixed and Dynamic shapes. (The other unary operations: test_unary_ops.cpp.)

#include <catch2/catch.hpp>

#include "helpers.hpp"
#include "unary_checks.hpp"

using namespace tapestry;
using test::check_unary_everywhere;

TEST_CASE("scalar arithmetic on either side matches its formulas and its gradients") {
    SECTION("-a") {
        check_unary_everywhere([](auto& a) { return -a; }, [](double x) { return -x; });
    }
    SECTION("a * s") {
        check_unary_everywhere([](auto& a) { return a * 1.75; }, [](double x) { return x * 1.75; });
    }
    SECTION("s * a") {
        check_unary_everywhere([](auto& a) { return -0.5 * a; }, [](double x) { return -0.5 * x; });
    }
    SECTION("a / s") {
        check_unary_everywhere([](auto& a) { return a / 3.0; }, [](double x) { return x / 3.0; });
    }
    SECTION("s / a") {
        check_unary_everywhere([](auto& a) { return 2.0 / a; }, [](double x) { return 2.0 / x; }, 0.3, 2.0);
    }
    SECTION("a + s") {
        check_unary_everywhere([](auto& a) { return a + 0.25; }, [](double x) { return x + 0.25; });
    }
    SECTION("s - a") {
        check_unary_everywhere([](auto& a) { return 1 - a; }, [](double x) { return 1 - x; });
    }
    SECTION("a - s") {
        check_unary_everywhere([](auto& a) { return a - 4; }, [](double x) { return x - 4; });
    }
}
