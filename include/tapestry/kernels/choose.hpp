#pragma once
// choose_if(x, test, a, b): a where test(x) holds, b elsewhere, elementwise, as an Eigen
// expression on packets; x, a and b of one scalar type. Every branch picked per element in
// tapestry's rules is one (relu, leaky_relu, elu, clamp, where; maximum and minimum pick
// with their own functor, ops/extremes.hpp).
//
// Why not Eigen's select: it reads only the arm it picks, so it has no packet form, and
// a compiler that vectorises its loop loads each arm under a mask. g++ 12.2 at -O3 with
// AVX or later (-mavx, -mavx2, -march=native) gives those masked loads the wrong mask in
// a small fixed-size loop unrolled by groups of lanes: every group loads with the first
// group's mask, and a lane whose group's mask differs reads 0 (leaky_relu's gradient came
// out 0 where x > 0, seen in the disassembly; docs/reliability.md). choose_if tests x on
// packets and blends a and b, both read everywhere: no masked load to get wrong, and
// vectorised without -march too, where select ran one element at a time. An arm that is
// NaN or infinite where it is not taken is still not picked up: the choice is a pick,
// not a product by a 0/1 mask.

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

// X's shape and storage order filled with one value: a scalar arm. (Orders that differ
// would cost the expression its packets.)
template <class X>
auto filled_like(const X& x, typename X::Scalar value) {
    return X::Constant(x.rows(), x.cols(), value);
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

}  // namespace tapestry::detail

// A test and a pick.
template <class Test>
struct Eigen::internal::functor_traits<tapestry::detail::ChooseIfOp<Test>> {
    enum { Cost = 2, PacketAccess = true };
};
