#pragma once
// Elementwise choices, as Eigen expressions: every select in tapestry's rules is one.
//
//   choose_if(x, test, a, b)  a where test(x) holds, b elsewhere; x, a, b of one scalar
//                             type: vectorised (relu, leaky_relu, elu, clamp, where)
//   choose(condition, a, b)   the same for an array of bool (a comparison of two arrays)
//
// Why not Eigen's select: it reads only the arm it picks, so it has no packet form and
// a compiler's vectorised loop must load each arm under a mask. g++ 12.2 at -O3 with
// AVX-512 (-march=native on such a CPU) gives those masked loads the wrong mask in a
// small fixed-size loop unrolled by groups of four: every group loads with the first
// group's mask, and a lane whose group's differs reads 0 (leaky_relu's gradient came out
// 0 where x > 0, seen in the disassembly; docs/reliability.md). Both forms here read both
// arms everywhere: a blend, with no masked load to get wrong; and choose_if runs on
// Eigen's packets, where select ran one element at a time without -march. An arm that
// is NaN or infinite where it is not taken is still not picked up: the choice is a
// pick, not a product by a 0/1 mask.

#include <type_traits>

#include "tapestry/core/eigen.hpp"

namespace tapestry::detail {

template <class X>
concept ArrayExpression = std::is_base_of_v<Eigen::ArrayBase<X>, X>;

// The tests of choose_if: each answers for one value and, as a bit mask, for a packet.
// A NaN passes none of them but Nonzero, as the scalar comparisons would have it.
struct Positive {  // x > 0
    template <class T>
    bool operator()(const T& x) const {
        return x > T(0);
    }
    template <class Packet>
    Packet mask(const Packet& x) const {
        return Eigen::internal::pcmp_lt(Eigen::internal::pzero(x), x);
    }
};

template <class T>
struct Within {  // lo <= x <= hi
    T lo, hi;
    bool operator()(const T& x) const { return x >= lo && x <= hi; }
    template <class Packet>
    Packet mask(const Packet& x) const {
        namespace ei = Eigen::internal;
        return ei::pand(ei::pcmp_le(ei::pset1<Packet>(lo), x), ei::pcmp_le(x, ei::pset1<Packet>(hi)));
    }
};

struct Nonzero {  // x != 0
    template <class T>
    bool operator()(const T& x) const {
        return x != T(0);
    }
    template <class Packet>
    Packet mask(const Packet& x) const {
        namespace ei = Eigen::internal;
        return ei::pandnot(ei::ptrue(x), ei::pcmp_eq(x, ei::pzero(x)));
    }
};

template <class Test>
struct ChooseIfOp {
    Test test;
    template <class T>
    T operator()(const T& x, const T& a, const T& b) const {
        return test(x) ? a : b;
    }
    template <class Packet>
    Packet packetOp(const Packet& x, const Packet& a, const Packet& b) const {
        return Eigen::internal::pselect(test.mask(x), a, b);
    }
};

struct ChooseOp {
    template <class T>
    T operator()(bool condition, const T& a, const T& b) const {
        return condition ? a : b;
    }
};

// X's shape filled with one value: a scalar arm.
template <class T, class X>
auto filled_like(const X& x, T value) {
    using Filled = Eigen::Array<T, X::RowsAtCompileTime, X::ColsAtCompileTime>;
    return Filled::Constant(x.rows(), x.cols(), value);
}

// The operands nest as Eigen nests them: expressions by value, plain arrays by reference
// (which must outlive the result, as with select).
template <class Test, ArrayExpression X, ArrayExpression A, ArrayExpression B>
auto choose_if(const X& x, Test test, const A& a, const B& b) {
    static_assert(std::is_same_v<typename X::Scalar, typename A::Scalar> &&
                      std::is_same_v<typename X::Scalar, typename B::Scalar>,
                  "choose_if: the tested operand and both arms have one scalar type");
    return Eigen::CwiseTernaryOp<ChooseIfOp<Test>, const X, const A, const B>(x, a, b, ChooseIfOp<Test>{test});
}
template <class Test, ArrayExpression X, ArrayExpression A>
auto choose_if(const X& x, Test test, const A& a, typename X::Scalar b) {
    return choose_if(x, test, a, filled_like(x, b));
}
template <class Test, ArrayExpression X, ArrayExpression B>
auto choose_if(const X& x, Test test, typename X::Scalar a, const B& b) {
    return choose_if(x, test, filled_like(x, a), b);
}

template <ArrayExpression Condition, ArrayExpression A, ArrayExpression B>
auto choose(const Condition& condition, const A& a, const B& b) {
    static_assert(std::is_same_v<typename Condition::Scalar, bool>, "choose: the condition is an array of bool");
    static_assert(std::is_same_v<typename A::Scalar, typename B::Scalar>, "choose: both arms have one scalar type");
    return Eigen::CwiseTernaryOp<ChooseOp, const Condition, const A, const B>(condition, a, b);
}
template <ArrayExpression Condition, ArrayExpression A>
auto choose(const Condition& condition, const A& a, typename A::Scalar b) {
    return choose(condition, a, filled_like(condition, b));
}

}  // namespace tapestry::detail

// A pick costs one operation, as Select's does. Only choose_if has a packet form: Eigen
// 3.4 compares arrays one element at a time, so an array of bool has no packets.
template <class Test>
struct Eigen::internal::functor_traits<tapestry::detail::ChooseIfOp<Test>> {
    enum { Cost = 2, PacketAccess = true };
};
template <>
struct Eigen::internal::functor_traits<tapestry::detail::ChooseOp> {
    enum { Cost = 1, PacketAccess = false };
};
