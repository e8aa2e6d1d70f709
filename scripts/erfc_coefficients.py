#!/usr/bin/env python3
"""Prints the polynomial coefficients of tapestry's vectorised erfc (kernels/vectorised_math.hpp).

For z >= 0, with t = 2 / (2 + z) and y = 2 t - 1 in (-1, 1]:

    erfc(z) = t exp(-z^2) g(y)

where g is smooth on [-1, 1] (g(1) = 1 at z = 0; g(-1) = 1 / (2 sqrt(pi)) as z -> inf), so a
polynomial in y represents it over the whole half-line. g is expanded in Chebyshev
polynomials by interpolation at Chebyshev nodes, in 50-digit arithmetic (mpmath); the series
is cut after the terms each precision needs and turned into the monomial coefficients that
Horner's rule evaluates (sum |a_k| = 1.03 against g's values in [0.28, 1]: no cancellation).

Usage: python3 scripts/erfc_coefficients.py   (needs python3-mpmath)
"""
import mpmath as mp

mp.mp.dps = 50


def g(y):
    t = (y + 1) / 2
    if t == 0:
        return 1 / (2 * mp.sqrt(mp.pi))
    z = 2 / t - 2
    return mp.erfc(z) * mp.exp(z * z) / t


def chebyshev_coefficients(f, nodes):
    theta = [mp.pi * (j + mp.mpf(1) / 2) / nodes for j in range(nodes)]
    values = [f(mp.cos(th)) for th in theta]
    c = [2 * mp.fsum(values[j] * mp.cos(k * theta[j]) for j in range(nodes)) / nodes for k in range(nodes)]
    c[0] /= 2
    return c


def monomial(c, terms):
    """sum_{k < terms} c_k T_k(y) as coefficients of y^0 .. y^(terms - 1)."""
    chebyshev = [[mp.mpf(1)], [mp.mpf(0), mp.mpf(1)]]
    while len(chebyshev) < terms:
        previous, last = chebyshev[-2], chebyshev[-1]
        following = [mp.mpf(0)] + [2 * a for a in last]
        for i, a in enumerate(previous):
            following[i] -= a
        chebyshev.append(following)
    a = [mp.mpf(0)] * terms
    for k in range(terms):
        for i, coefficient in enumerate(chebyshev[k]):
            a[i] += c[k] * coefficient
    return a


def worst_relative_error(a):
    worst = 0
    for i in range(4001):
        y = -1 + mp.mpf(2) * i / 4000
        worst = max(worst, abs(mp.polyval(a[::-1], y) / g(y) - 1))
    return worst


c = chebyshev_coefficients(g, 80)
for name, terms, digits in (("double", 27, 21), ("float", 14, 12)):
    a = monomial(c, terms)
    print(f"// {name}: {terms} terms, largest relative error of the polynomial {mp.nstr(worst_relative_error(a), 2)}")
    print(",\n".join(mp.nstr(x, digits, strip_zeros=False) for x in a))
