#pragma once
// Overloads that exist only to turn a likely mistake into a first error line that
// says what to do (core/diagnostics.hpp), instead of "no match for operator*"
// followed by every candidate the compiler tried. Each reports, then carries on
// with a stand-in of the right type, so that no second error follows.

#include <iterator>
#include <span>
#include <type_traits>
#include <utility>

#include "tapestry/core/diagnostics.hpp"
#include "tapestry/operand.hpp"
#include "tapestry/ops/arithmetic.hpp"
#include "tapestry/ops/math.hpp"
#include "tapestry/ops/matrix_product.hpp"
#include "tapestry/ops/nll_loss.hpp"
#include "tapestry/ops/softmax_cross_entropy.hpp"

namespace tapestry {
namespace diagnostic {
template <class Exponent>
struct pow_needs_a_number_as_its_exponent_not;
template <class Label>
struct nll_loss_needs_int_class_labels_not;
}  // namespace diagnostic

namespace detail {

// Labels in a standard container with contiguous storage (std::vector, std::array, ...).
// Not std::ranges::contiguous_range: <ranges> costs every includer ~0.1 s of parsing.
template <class R>
concept LabelContainer = !std::is_base_of_v<Eigen::EigenBase<R>, R> && requires(const R& r) {
    std::data(r);
    std::size(r);
};
template <class R>
using label_type_t = std::remove_cvref_t<decltype(*std::data(std::declval<const R&>()))>;

template <class M>
concept EigenDense = std::is_base_of_v<Eigen::DenseBase<std::remove_cvref_t<M>>, std::remove_cvref_t<M>>;

// An Eigen operand where an expression is expected: W * x with x an Eigen matrix.
template <class A, class B>
concept OperandWithEigen = (Operand<A> && EigenDense<B>) || (EigenDense<A> && Operand<B>);

// What the Eigen operand should have been: constant(m), a Var of its type.
template <class X>
decltype(auto) as_operand_after_report(X&& x) {
    if constexpr (EigenDense<X>) {
        using M = std::remove_cvref_t<X>;
        diagnostic::report<diagnostic::an_eigen_matrix_in_an_expression_must_be_wrapped_in_constant_first<
            Shape<M::RowsAtCompileTime, M::ColsAtCompileTime>>>();
        return Var<typename M::Scalar, M::RowsAtCompileTime, M::ColsAtCompileTime>();
    } else {
        return std::forward<X>(x);
    }
}

}  // namespace detail

template <class A, class B>
    requires detail::OperandWithEigen<A, B>
auto operator*(A&& a, B&& b) {
    return detail::as_operand_after_report(std::forward<A>(a)) * detail::as_operand_after_report(std::forward<B>(b));
}

template <class A, class B>
    requires detail::OperandWithEigen<A, B>
auto operator+(A&& a, B&& b) {
    return detail::as_operand_after_report(std::forward<A>(a)) + detail::as_operand_after_report(std::forward<B>(b));
}

template <class A, class B>
    requires detail::OperandWithEigen<A, B>
auto operator-(A&& a, B&& b) {
    return detail::as_operand_after_report(std::forward<A>(a)) - detail::as_operand_after_report(std::forward<B>(b));
}

template <class A, class B>
    requires detail::OperandWithEigen<A, B>
auto hadamard(A&& a, B&& b) {
    return hadamard(detail::as_operand_after_report(std::forward<A>(a)),
                    detail::as_operand_after_report(std::forward<B>(b)));
}

template <class A, class B>
    requires detail::OperandWithEigen<A, B>
auto divide(A&& a, B&& b) {
    return divide(detail::as_operand_after_report(std::forward<A>(a)),
                  detail::as_operand_after_report(std::forward<B>(b)));
}

// pow(x, p) takes a number p; an elementwise x^y of two expressions is exp(y * log(x)).
template <Operand X, class P>
    requires(!Arithmetic<P>)
auto pow(X&& x, P&&) {
    diagnostic::report<diagnostic::pow_needs_a_number_as_its_exponent_not<std::remove_cvref_t<P>>>();
    return pow(std::forward<X>(x), 1);
}

template <Operand L, detail::LabelContainer Labels>
    requires(!std::is_same_v<detail::label_type_t<Labels>, int>)
auto softmax_cross_entropy(L&& logits, const Labels&, Reduction reduction = Reduction::Mean) {
    diagnostic::report<diagnostic::softmax_cross_entropy_needs_int_class_labels_not<detail::label_type_t<Labels>>>();
    return softmax_cross_entropy(std::forward<L>(logits), std::span<const int>(), reduction);
}

template <Operand L, class Derived>
    requires(!std::is_same_v<typename Derived::Scalar, int>)
auto softmax_cross_entropy(L&& logits, const Eigen::DenseBase<Derived>&, Reduction reduction = Reduction::Mean) {
    diagnostic::report<diagnostic::softmax_cross_entropy_needs_int_class_labels_not<typename Derived::Scalar>>();
    return softmax_cross_entropy(std::forward<L>(logits), std::span<const int>(), reduction);
}

template <Operand P, detail::LabelContainer Labels>
    requires(!std::is_same_v<detail::label_type_t<Labels>, int>)
auto nll_loss(P&& log_probs, const Labels&, Reduction reduction = Reduction::Mean) {
    diagnostic::report<diagnostic::nll_loss_needs_int_class_labels_not<detail::label_type_t<Labels>>>();
    return nll_loss(std::forward<P>(log_probs), std::span<const int>(), reduction);
}

template <Operand P, class Derived>
    requires(!std::is_same_v<typename Derived::Scalar, int>)
auto nll_loss(P&& log_probs, const Eigen::DenseBase<Derived>&, Reduction reduction = Reduction::Mean) {
    diagnostic::report<diagnostic::nll_loss_needs_int_class_labels_not<typename Derived::Scalar>>();
    return nll_loss(std::forward<P>(log_probs), std::span<const int>(), reduction);
}

}  // namespace tapestry
