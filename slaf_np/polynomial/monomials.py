r"""Monomials in ``d`` variables: how many there are, their order, the parent table and ranks.

This module is the one place that enumerates monomials; polynomial features
(:mod:`slaf_np.polynomial.features`), the polynomial algebra (:mod:`slaf_np.polynomial.algebra`)
and :func:`slaf_np.polynomial.expand` all read their order from here.

Count and order
---------------
The monomials of total degree at most ``K`` in ``d`` variables are

.. math:: x^e = x_1^{e_1} x_2^{e_2} \cdots x_d^{e_d}, \qquad |e| = e_1 + \dots + e_d \le K,

and there are :math:`M(d, K) = \binom{d + K}{K}` of them (203,490 for ``d = 13``, ``K = 8``).
They come in *graded order*: by total degree, then, within a degree ``g``, the multisets of ``g``
variables ``i_1 <= ... <= i_g`` in the order of
``itertools.combinations_with_replacement(range(d), g)`` -- that is by *decreasing*
lexicographic order of the exponent vectors (``1, x_1, x_2, x_1^2, x_1 x_2, x_2^2`` for
``d = 2``), the order of scikit-learn's ``PolynomialFeatures``. A polynomial of degree ``<= K``
is then a *dense graded vector* of length ``M(d, K)``; one of lower degree is a prefix of it.

The parent table
----------------
Every monomial of degree ``g >= 1`` is its *parent* (drop the last variable ``i_g`` of the
multiset, a monomial of degree ``g - 1``) times ``x_{i_g}``. Taking the children of each parent in
graded order (parent ``i_1..i_{g-1}`` gets ``x_j`` for ``j = i_{g-1} .. d-1``) lists degree ``g``
exactly in the order above, so :func:`graded_basis` builds the table degree by degree with
vectorised ``repeat`` s. A column of features, or a monomial's value at a point, then costs one
multiply:

.. math:: \Phi_{:, m} = \Phi_{:, \mathrm{parent}(m)} \odot X_{:, \mathrm{var}(m)}.

Ranks
-----
The position of an exponent row in graded order (its *rank*) has a closed form, computed by the
kernels of :mod:`slaf_np.kernels.polynomial` (which state it); :func:`ranks_of` and
:func:`exponents_of` are the array-level calls. Rows in any order are sorted into graded order by
:func:`graded_order` (a lexsort, no ranks needed) and merged by :func:`canonical`.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ..kernels import polynomial as pk

__all__ = ["count_monomials", "graded_basis", "monomial_exponents", "monomial_parents",
           "ranks_of", "exponents_of", "graded_order", "canonical", "locate", "max_degree",
           "last_variable", "parents_of"]


def check_dims(d: int, K: int, who: str, min_d: int = 1) -> tuple[int, int]:
    """``(d, K)`` as ints after checking they are integers (not bool), ``d >= min_d``, ``K >= 0``;
    a ``ValueError`` that names ``who`` otherwise."""
    for name, v, low in (("the number of variables d", d, min_d), ("the degree K", K, 0)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
            raise ValueError(f"{who}: {name} must be an integer >= {low}, got {v!r}")
    return int(d), int(K)


def count_monomials(d: int, K: int) -> int:
    """Number of monomials of total degree ``<= K`` in ``d`` variables, ``C(d + K, K)`` (exact).

    Parameters
    ----------
    d : int
        Number of variables, >= 1.
    K : int
        Largest total degree, >= 0.

    Returns
    -------
    int

    >>> count_monomials(13, 8)
    203490
    """
    d, K = check_dims(d, K, "count_monomials")
    return math.comb(d + K, K)


@functools.lru_cache(maxsize=8)
def graded_basis(d: int, K: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every monomial of degree ``<= K`` in graded order, with the parent table (module doc).

    Parameters
    ----------
    d : int
        Number of variables, >= 0 (0: the constant alone).
    K : int
        Largest total degree, >= 0.

    Returns
    -------
    exponents : ndarray of int64, shape (M, d)
        Row ``m`` holds the exponents of monomial ``m`` (its rank); ``M = C(d + K, K)``; row 0
        is the constant.
    parent, var : ndarray of int64, shape (M,)
        Monomial ``m >= 1`` is monomial ``parent[m] < m`` (one degree lower) times
        ``x_{var[m]}``, ``var[m]`` the last variable present; entry 0 is -1 in both.

    The arrays are cached and read-only (:func:`monomial_exponents` and
    :func:`monomial_parents` return copies).
    """
    d, K = check_dims(d, K, "graded_basis", min_d=0)
    M = math.comb(d + K, K)
    parent = np.full(M, -1, dtype=np.int64)
    var = np.full(M, -1, dtype=np.int64)
    last = np.zeros(M, dtype=np.int64)  # smallest variable a child may append (the bias: x_0)
    exps = np.zeros((M, d), dtype=np.int64)
    start, stop = 0, 1  # the monomials of degree g - 1
    for _ in range(K):
        counts = d - last[start:stop]  # parent p gets children x_{last[p]} .. x_{d-1}
        n_new = int(counts.sum())
        offsets = np.cumsum(counts) - counts
        par = np.repeat(np.arange(start, stop), counts)
        v = np.arange(n_new) - np.repeat(offsets, counts) + np.repeat(last[start:stop], counts)
        block = slice(stop, stop + n_new)
        parent[block], var[block], last[block] = par, v, v
        exps[block] = exps[par]
        exps[np.arange(stop, stop + n_new), v] += 1
        start, stop = stop, stop + n_new
    assert stop == M, (stop, M)
    for a in (exps, parent, var):
        a.setflags(write=False)
    return exps, parent, var


def monomial_exponents(d: int, K: int) -> np.ndarray:
    """The ``exponents`` (M, d) int64 of :func:`graded_basis` as a writable copy (``d >= 1``).

    >>> monomial_exponents(2, 2).tolist()
    [[0, 0], [1, 0], [0, 1], [2, 0], [1, 1], [0, 2]]
    """
    return graded_basis(*check_dims(d, K, "monomial_exponents"))[0].copy()


def monomial_parents(d: int, K: int) -> tuple[np.ndarray, np.ndarray]:
    """The parent table ``(parent, var)`` (M,) int64 of :func:`graded_basis` as writable copies
    (``d >= 1``): monomial ``m >= 1`` is monomial ``parent[m]`` times ``x_{var[m]}``."""
    _, parent, var = graded_basis(*check_dims(d, K, "monomial_parents"))
    return parent.copy(), var.copy()


# ---------------------------------------------------------------------------------------------
# Ranks and order of arbitrary exponent rows
# ---------------------------------------------------------------------------------------------
def ranks_of(E: np.ndarray, G: np.ndarray) -> np.ndarray:
    """Graded ranks (M,) int64 of the exponent rows ``E`` (M, d); ``G`` from
    :func:`slaf_np.kernels.polynomial.binomial_table` ``(d, K)`` with ``K >=`` their degree."""
    out = np.empty(E.shape[0], dtype=np.int64)
    pk.graded_rank(np.ascontiguousarray(E, dtype=np.int64), G, out)
    return out


def exponents_of(ranks: np.ndarray, d: int, G: np.ndarray) -> np.ndarray:
    """Exponent rows (M, d) int64 of the graded ``ranks`` (M,); ``G`` as for :func:`ranks_of`."""
    out = np.empty((len(ranks), d), dtype=np.int64)
    pk.graded_unrank(np.ascontiguousarray(ranks, dtype=np.int64), G, out)
    return out


def graded_order(E: np.ndarray) -> np.ndarray:
    """Permutation sorting exponent rows into graded order (degree, then decreasing lex)."""
    keys = [-E[:, v] for v in range(E.shape[1] - 1, -1, -1)] + [E.sum(axis=1)]
    return np.lexsort(keys)


def canonical(E: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort (exponents (M, d), coefficients (M,)) into graded order, add up repeated monomials,
    drop exact zeros."""
    if len(c):
        order = graded_order(E)
        E, c = E[order], c[order]
        new = np.ones(len(c), dtype=bool)
        new[1:] = (E[1:] != E[:-1]).any(axis=1)
        if not new.all():
            c = np.bincount(np.cumsum(new) - 1, weights=c)
            E = E[new]
    keep = c != 0
    return np.ascontiguousarray(E[keep]), np.ascontiguousarray(c[keep], dtype=np.float64)


def max_degree(*Es: np.ndarray) -> int:
    """Largest total degree among the rows of the given exponent arrays (0 if none)."""
    return max((int(E.sum(axis=1).max()) for E in Es if len(E)), default=0)


def locate(table: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Row index in ``table`` of each row of ``query`` (every query row must occur in table)."""
    d = table.shape[1]
    K = max_degree(table, query)
    if math.comb(d + K, K) < pk.RANK_LIMIT:
        G = pk.binomial_table(d, K)
        rt, rq = ranks_of(table, G), ranks_of(query, G)
        order = np.argsort(rt, kind="stable")
        return order[np.searchsorted(rt[order], rq)]
    _, inv = np.unique(np.concatenate([table, query]), axis=0, return_inverse=True)
    inv = inv.reshape(-1)
    pos = np.empty(inv.max() + 1, dtype=np.int64)
    pos[inv[: len(table)]] = np.arange(len(table))
    return pos[inv[len(table):]]


def last_variable(E: np.ndarray) -> np.ndarray:
    """Index of the last variable with a non-zero exponent in each row of ``E`` (rows != 0)."""
    d = E.shape[1]
    return d - 1 - np.argmax(E[:, ::-1] > 0, axis=1)


def parents_of(E: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(parent rows, variable): each row of ``E`` (rows != 0) minus one unit of its last
    variable present -- the parent table of :func:`graded_basis` for arbitrary rows."""
    v = last_variable(E)
    P = E.copy()
    P[np.arange(len(E)), v] -= 1
    return P, v
