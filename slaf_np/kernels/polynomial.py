r"""Numba kernels of the polynomial side (graded ranks, products, evaluation) and their twins.

Monomials in ``d`` variables are ranked in graded order: by total degree, then, within a degree,
by *decreasing* lexicographic order of the exponent vectors (``x_1^2, x_1 x_2, x_2^2`` for
``d = 2``), the order :mod:`slaf_np.polynomial.monomials` enumerates. A polynomial of degree
``<= K`` is then a *dense graded vector* of length :math:`M(d, K) = \binom{d + K}{K}` whose entry
``r`` is the coefficient of the monomial of rank ``r``; a polynomial of lower degree is a prefix
of it.

Closed-form rank
----------------
With :math:`G[n, m] = \binom{n + m}{m}` the number of monomials of degree ``<= m`` in ``n``
variables (:func:`binomial_table`), the rank of ``e`` with :math:`|e| = k` is

.. math::

    \mathrm{rank}(e) = G[d, k - 1] + \sum_{v=0}^{d-2} G[d - v - 1,\; r_v - e_v - 1],
    \qquad r_v = k - \sum_{u<v} e_u,

(terms with a negative second index are 0, and :math:`G[d, -1] = 0`): the first part counts the
lower degrees; term ``v`` counts the monomials that agree with ``e`` before ``v`` and have a
*larger* exponent at ``v`` (their remaining ``d - v - 1`` variables carry degree
``<= r_v - e_v - 1``). :func:`graded_unrank` inverts it greedily, variable by variable.

Products scatter: :math:`p q = \sum_{i,j} a_i b_j\, x^{e_i + e_j}` adds ``a_i b_j`` at
``rank(e_i + e_j)``, which :func:`pair_ranks` tabulates once for all the rows that share the
operand degrees (:func:`rowmul`). Evaluation uses the parent table: every monomial but the
constant equals an earlier one times one variable, so a sample costs one multiply per monomial
(:func:`evaluate`).

Every kernel has a plain-NumPy twin (suffix ``_numpy``, same signature) that the tests compare
with it. Cross-module calls between jitted functions are avoided (see :mod:`slaf_np.kernels._jit`).
The array algorithms built on these kernels (pair tables, products of polynomials, evaluation
plans, substitution) are in :mod:`slaf_np.polynomial.arithmetic`.
"""

from __future__ import annotations

import math

import numpy as np

from ._jit import njit

RANK_LIMIT = 2**62  # ranks are int64: M(d, K) must stay below this


def binomial_table(d: int, K: int) -> np.ndarray:
    """``G`` (d + 1, K + 1) int64 with ``G[n, m] = C(n + m, m)`` (monomials of degree <= m in n
    variables). Raises ``OverflowError`` when ``C(d + K, K)`` does not fit the rank type."""
    if math.comb(d + K, K) >= RANK_LIMIT:
        raise OverflowError(f"C(d + K, K) = C({d + K}, {K}) monomials do not fit int64 ranks")
    G = np.empty((d + 1, K + 1), dtype=np.int64)
    for n in range(d + 1):
        for m in range(K + 1):
            G[n, m] = math.comb(n + m, m)
    return G


# ---------------------------------------------------------------------------------------------
# Ranks
# ---------------------------------------------------------------------------------------------
@njit
def graded_rank(E, G, out):
    """``out[m] = rank(E[m])`` for exponent rows ``E`` (M, d) (module docstring), into a
    contiguous ``out`` (M,): the ranks of :func:`pair_ranks` against the zero row."""
    pair_ranks(E, np.zeros((1, E.shape[1]), dtype=E.dtype), G, out.reshape(-1, 1))


def graded_rank_numpy(E, G, out):
    """NumPy twin of :func:`graded_rank` (vectorised over the rows)."""
    M, d = E.shape
    k = E.sum(axis=1)
    r = np.where(k > 0, G[d, np.maximum(k - 1, 0)], 0)
    rem = k.copy()
    for v in range(d - 1):
        m = rem - E[:, v] - 1
        r = r + np.where(m >= 0, G[d - v - 1, np.maximum(m, 0)], 0)
        rem = rem - E[:, v]
    out[:] = r


@njit
def graded_unrank(ranks, G, out):
    """``out[m]`` (row of ``out`` (M, d)) = the exponent vector of rank ``ranks[m]``."""
    d = out.shape[1]
    K = G.shape[1] - 1
    for m in range(ranks.shape[0]):
        r = ranks[m]
        k = 0
        while k < K and G[d, k] <= r:
            k += 1
        if k > 0:
            r -= G[d, k - 1]
        rem = k
        for v in range(d - 1):
            e = rem
            while e > 0:
                cnt = G[d - v - 2, rem - e]  # monomials of degree rem - e in d - v - 1 variables
                if r < cnt:
                    break
                r -= cnt
                e -= 1
            out[m, v] = e
            rem -= e
        out[m, d - 1] = rem


def graded_unrank_numpy(ranks, G, out):
    """NumPy twin of :func:`graded_unrank` (vectorised over the ranks)."""
    d = out.shape[1]
    K = G.shape[1] - 1
    r = np.asarray(ranks, dtype=np.int64).copy()
    k = np.searchsorted(G[d], r, side="right")  # G[d] is increasing: first k with G[d, k] > r
    k = np.minimum(k, K)
    r -= np.where(k > 0, G[d, np.maximum(k - 1, 0)], 0)
    rem = k.copy()
    for v in range(d - 1):
        e = rem.copy()
        active = e > 0
        while active.any():
            cnt = G[d - v - 2, np.where(active, rem - e, 0)]
            step = active & (r >= cnt)
            r = np.where(step, r - cnt, r)
            e = np.where(step, e - 1, e)
            active = step & (e > 0)
        out[:, v] = e
        rem = rem - e
    out[:, d - 1] = rem


@njit
def pair_ranks(E1, E2, G, out):
    """``out[i, j] = rank(E1[i] + E2[j])`` for exponent rows ``E1`` (M1, d), ``E2`` (M2, d)."""
    M1, d = E1.shape
    M2 = E2.shape[0]
    k2 = np.zeros(M2, dtype=np.int64)
    for j in range(M2):
        for v in range(d):
            k2[j] += E2[j, v]
    for i in range(M1):
        k1 = 0
        for v in range(d):
            k1 += E1[i, v]
        for j in range(M2):
            k = k1 + k2[j]
            r = G[d, k - 1] if k > 0 else 0
            rem = k
            for v in range(d - 1):
                if rem == 0:
                    break
                e = E1[i, v] + E2[j, v]
                if rem - e - 1 >= 0:
                    r += G[d - v - 1, rem - e - 1]
                rem -= e
            out[i, j] = r


def pair_ranks_numpy(E1, E2, G, out):
    """NumPy twin of :func:`pair_ranks`."""
    S = (E1[:, None, :] + E2[None, :, :]).reshape(-1, E1.shape[1])
    r = np.empty(S.shape[0], dtype=np.int64)
    graded_rank_numpy(S, G, r)
    out[:] = r.reshape(out.shape)


# ---------------------------------------------------------------------------------------------
# Row-wise products of dense graded vectors
# ---------------------------------------------------------------------------------------------
@njit
def rowmul(A, B, T, out):
    """``out[f] += A[f] * B[f]`` as polynomials, for every row ``f``.

    ``A`` (F, Ma) and ``B`` (F, Mb) hold coefficients on the monomials whose pairwise product
    ranks are ``T`` (Ma, Mb) (from :func:`pair_ranks`); ``out`` (F, M) is indexed by those ranks.
    Zero entries of ``A`` are skipped, so sparse rows cost less.
    """
    F, Ma = A.shape
    Mb = B.shape[1]
    for f in range(F):
        for i in range(Ma):
            a = A[f, i]
            if a != 0.0:
                for j in range(Mb):
                    out[f, T[i, j]] += a * B[f, j]


def rowmul_numpy(A, B, T, out):
    """NumPy twin of :func:`rowmul`."""
    for f in range(A.shape[0]):
        out[f] += np.bincount(T.ravel(), weights=np.outer(A[f], B[f]).ravel(),
                              minlength=out.shape[1])[: out.shape[1]]


# ---------------------------------------------------------------------------------------------
# Evaluation by the parent table
# ---------------------------------------------------------------------------------------------
@njit
def evaluate(X, parent, var, C, out):
    """``out[n, f] = sum_m C[m, f] * x_n^{e_m}`` with monomial ``m = parent[m] * x_{var[m]}``.

    ``X`` (N, d); ``parent``, ``var`` (L,) with entry 0 the constant (``parent[m] < m``);
    ``C`` (L, F); ``out`` (N, F). Samples go in blocks of B (32, fewer when L is huge): the
    values of monomial m for the block are one contiguous row ``val[m]`` of a (L, B) work array,
    computed from row ``parent[m]`` in one vectorisable pass. In graded order the parents of
    consecutive monomials are non-decreasing, so both rows stream through memory.
    """
    N, d = X.shape
    L, F = C.shape
    B = max(1, min(32, (1 << 24) // L))
    val = np.empty((L, B))
    xt = np.empty((d, B))
    acc = np.empty((F, B))
    for n0 in range(0, N, B):
        nb = min(B, N - n0)
        for v in range(d):
            for b in range(nb):
                xt[v, b] = X[n0 + b, v]
        for b in range(nb):
            val[0, b] = 1.0
        for f in range(F):
            for b in range(nb):
                acc[f, b] = C[0, f]
        for m in range(1, L):
            p = parent[m]
            v = var[m]
            for b in range(nb):
                val[m, b] = val[p, b] * xt[v, b]
            for f in range(F):
                c = C[m, f]
                if c != 0.0:
                    for b in range(nb):
                        acc[f, b] += c * val[m, b]
        for f in range(F):
            for b in range(nb):
                out[n0 + b, f] = acc[f, b]


def evaluate_numpy(X, parent, var, C, out):
    """NumPy twin of :func:`evaluate` (a loop over the monomials, vectorised over samples)."""
    V = np.empty((X.shape[0], C.shape[0]))
    V[:, 0] = 1.0
    for m in range(1, C.shape[0]):
        V[:, m] = V[:, parent[m]] * X[:, var[m]]
    out[:] = V @ C


#: name -> (numba kernel, NumPy twin), for the tests and ``NUMBA_DISABLE_JIT`` comparisons.
KERNELS = {
    "graded_rank": (graded_rank, graded_rank_numpy),
    "graded_unrank": (graded_unrank, graded_unrank_numpy),
    "pair_ranks": (pair_ranks, pair_ranks_numpy),
    "rowmul": (rowmul, rowmul_numpy),
    "evaluate": (evaluate, evaluate_numpy),
}
