#pragma once
// Compile-time misuse, reported so that the compiler's first error line reads as a
// sentence naming both shapes. Each diagnostic is a class template that is declared
// but never defined; naming it with the offending shapes makes g++ print
//   error: invalid use of incomplete type 'struct tapestry::diagnostic::...<Shape<2, 3>, Shape<4, 5>>'
// and clang++
//   error: implicit instantiation of undefined template 'tapestry::diagnostic::...<...>'
// A static_assert cannot do this: its message must be a literal, so it cannot name the shapes.
//
// The diagnostics below are the ones every operation may meet; a misuse of one
// operation is declared in that operation's file (ops/).

namespace tapestry::diagnostic {

template <class LeftShape, class RightShape>
struct elementwise_operation_on_incompatible_shapes;

template <class LeftScalar, class RightScalar>
struct operands_have_different_scalar_types;

template <class LossShape>
struct backward_needs_a_1x1_loss_but_got_shape;

template <class VarShape>
struct item_needs_a_1x1_var_not;

template <class Loss>
struct backward_takes_a_var_a_param_or_an_expression_not;

template <class OutputShape, class SeedShape>
struct backward_needs_a_seed_of_the_outputs_shape;

template <class OutputScalar, class SeedScalar>
struct backward_needs_a_seed_of_the_outputs_scalar_type;

template <class ExpressionShape, class VarShape>
struct cannot_assign_expression_to_a_var_of_another_shape;

template <class ExpressionScalar, class VarScalar>
struct cannot_assign_expression_to_a_var_of_another_scalar_type;

template <class Operand>
struct a_temporary_param_cannot_be_used_in_an_expression_declare_it_as_a_variable;

template <class EigenShape>
struct an_eigen_matrix_in_an_expression_must_be_wrapped_in_constant_first;

// Names the diagnostic D (an incomplete type) and so stops compilation with its name.
// Returns normally in the type system so that no second error follows from the caller.
template <class D>
constexpr void report() {
    (void)sizeof(D);
}

}  // namespace tapestry::diagnostic
