r"""Numba kernels of :mod:`slaf_np.polynomial` (graded ranks, products, evaluation) and their twins.

Monomials in ``d`` variables are ranked in graded order: by total degree, then, within a degree,
by *decreasing* lexicographic order of the exponent vectors (``x_1^2, x_1 x_2, x_2^2`` for
``d = 2``). That is the order of ``itertools.combinations_with_replacement(range(d), k)`` on the
variable multisets, of scikit-learn's ``PolynomialFeatures`` and of :mod:`slaf_np.polynomial.features`.
A polynomial of degree ``<= K`` is then a *dense graded vector* of length
:math:`M(d, K) = \binom{d + K}{K}` whose entry ``r`` is the coefficient of the monomial of rank
``r``; a polynomial of lower degree is a prefix of it.

Closed-form rank
----------------
With :math:`G[n, m] = \binom{n + m}{m}` the number of monomials of degree ``<= m`` in ``n``
variables, the rank of ``e`` with :math:`|e| = k` is

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

The second half of the module holds the array algorithms that :mod:`slaf_np.polynomial` builds
on them: the full basis and pair tables (cached), row-wise products of dense graded vectors,
sorting exponent rows into graded order, products of sparse polynomials, evaluation plans (the
monomials closed under parents) and substitution by Horner's scheme on the parent tree.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

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
    """``out[m] = rank(E[m])`` for exponent rows ``E`` (M, d) (module docstring)."""
    M, d = E.shape
    for m in range(M):
        k = 0
        for v in range(d):
            k += E[m, v]
        r = G[d, k - 1] if k > 0 else 0
        rem = k
        for v in range(d - 1):
            if rem == 0:
                break
            e = E[m, v]
            if rem - e - 1 >= 0:
                r += G[d - v - 1, rem - e - 1]
            rem -= e
        out[m] = r


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


# ---------------------------------------------------------------------------------------------
# Dense graded vectors: the full basis, pair tables and row-wise products
# ---------------------------------------------------------------------------------------------
TABLE_LIMIT = 1 << 24  # entries of one pair table held at once (64 MB as int32)
PAIR_BLOCK = 1 << 22   # monomial pairs per block in products (32 MB of ranks)
DENSE_PLAN = 1 << 26   # entries (M d) of a full basis up to which evaluation plans use it


def ranks_of(E: np.ndarray, G: np.ndarray) -> np.ndarray:
    """Graded ranks (M,) int64 of the exponent rows ``E`` (M, d)."""
    out = np.empty(E.shape[0], dtype=np.int64)
    graded_rank(np.ascontiguousarray(E, dtype=np.int64), G, out)
    return out


def exponents_of(ranks: np.ndarray, d: int, G: np.ndarray) -> np.ndarray:
    """Exponent rows (M, d) int64 of the graded ``ranks`` (M,)."""
    out = np.empty((len(ranks), d), dtype=np.int64)
    graded_unrank(np.ascontiguousarray(ranks, dtype=np.int64), G, out)
    return out


def last_variable(E: np.ndarray) -> np.ndarray:
    """Index of the last variable with a non-zero exponent in each row of ``E`` (rows != 0)."""
    d = E.shape[1]
    return d - 1 - np.argmax(E[:, ::-1] > 0, axis=1)


@functools.lru_cache(maxsize=8)
def graded_basis(d: int, K: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every monomial of degree ``<= K`` in graded order, with the parent table.

    Returns
    -------
    exponents : (M, d) int64, ``M = C(d + K, K)``; row ``r`` is the monomial of rank ``r``.
    parent, var : (M,) int64; monomial ``r >= 1`` is monomial ``parent[r]`` times
        ``x_{var[r]}`` (``var`` the last variable present, as in :mod:`slaf_np.polynomial.features`);
        entry 0 (the constant) is -1. Read-only arrays.
    """
    G = binomial_table(d, K)
    M = math.comb(d + K, K)
    E = exponents_of(np.arange(M, dtype=np.int64), d, G)
    var = np.full(M, -1, dtype=np.int64)
    parent = np.full(M, -1, dtype=np.int64)
    if M > 1:
        var[1:] = last_variable(E[1:])
        P = E[1:].copy()
        P[np.arange(M - 1), var[1:]] -= 1
        parent[1:] = ranks_of(P, G)
    for a in (E, parent, var):
        a.setflags(write=False)
    return E, parent, var


def _index_dtype(d: int, K: int):
    return np.int32 if math.comb(d + K, K) < 2**31 else np.int64


@functools.lru_cache(maxsize=8)
def pair_table(d: int, Ka: int, Kb: int) -> np.ndarray:
    """``T[i, j] = rank(e_i + e_j)`` for the monomials of degree ``<= Ka`` (rows) and ``<= Kb``
    (columns) in ``d`` variables; int32 when the ranks fit. Read-only, cached."""
    Ea, Eb = graded_basis(d, Ka)[0], graded_basis(d, Kb)[0]
    T = np.empty((len(Ea), len(Eb)), dtype=_index_dtype(d, Ka + Kb))
    pair_ranks(Ea, Eb, binomial_table(d, Ka + Kb), T)
    T.setflags(write=False)
    return T


def rowmul_graded(A: np.ndarray, Ka: int, B: np.ndarray, Kb: int, d: int,
                  out: np.ndarray | None = None) -> np.ndarray:
    """Row-wise products of dense graded vectors: ``out[f] += A[f] * B[f]``.

    Parameters
    ----------
    A : (F, C(d + Ka, Ka)) float64, rows of degree ``<= Ka``.
    B : (F, C(d + Kb, Kb)) float64, rows of degree ``<= Kb``.
    out : (F, C(d + Ka + Kb, Ka + Kb)) float64 or None (a zero array).

    The pair table of :func:`pair_table` is used whole when it has at most :data:`TABLE_LIMIT`
    entries, otherwise it is built in blocks of rows of ``A``, each block serving all F rows.
    """
    A, B = np.ascontiguousarray(A, np.float64), np.ascontiguousarray(B, np.float64)
    F = A.shape[0]
    if out is None:
        out = np.zeros((F, math.comb(d + Ka + Kb, Ka + Kb)))
    Ma, Mb = A.shape[1], B.shape[1]
    if Ma * Mb <= TABLE_LIMIT:
        rowmul(A, B, pair_table(d, Ka, Kb), out)
        return out
    Ea, Eb = graded_basis(d, Ka)[0], graded_basis(d, Kb)[0]
    G = binomial_table(d, Ka + Kb)
    step = max(1, TABLE_LIMIT // Mb)
    for i0 in range(0, Ma, step):
        i1 = min(Ma, i0 + step)
        T = np.empty((i1 - i0, Mb), dtype=_index_dtype(d, Ka + Kb))
        pair_ranks(Ea[i0:i1], Eb, G, T)
        rowmul(np.ascontiguousarray(A[:, i0:i1]), B, T, out)
    return out


# ---------------------------------------------------------------------------------------------
# Sparse polynomials as (exponents, coefficients): order, products, evaluation, substitution
# ---------------------------------------------------------------------------------------------
def graded_order(E: np.ndarray) -> np.ndarray:
    """Permutation sorting exponent rows into graded order (degree, then decreasing lex)."""
    keys = [-E[:, v] for v in range(E.shape[1] - 1, -1, -1)] + [E.sum(axis=1)]
    return np.lexsort(keys)


def canonical(E: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort into graded order, add up repeated monomials, drop exact zeros."""
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
    if math.comb(d + K, K) < RANK_LIMIT:
        G = binomial_table(d, K)
        rt, rq = ranks_of(table, G), ranks_of(query, G)
        order = np.argsort(rt, kind="stable")
        return order[np.searchsorted(rt[order], rq)]
    _, inv = np.unique(np.concatenate([table, query]), axis=0, return_inverse=True)
    inv = inv.reshape(-1)
    pos = np.empty(inv.max() + 1, dtype=np.int64)
    pos[inv[: len(table)]] = np.arange(len(table))
    return pos[inv[len(table):]]


def parents_of(E: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(parent rows, variable): each row minus one unit of its last variable present."""
    v = last_variable(E)
    P = E.copy()
    P[np.arange(len(E)), v] -= 1
    return P, v


class Plan(NamedTuple):
    """Evaluation plan: the monomials closed under parents, in graded order."""
    exponents: np.ndarray   # (L, d); row 0 is the constant
    parent: np.ndarray      # (L,) index of the parent, -1 for the constant
    var: np.ndarray         # (L,) the variable multiplied onto the parent
    index: np.ndarray       # (M,) row of each term of the polynomial in the plan
    starts: np.ndarray      # (K + 2,) first row of each degree


def evaluation_plan(E: np.ndarray) -> Plan:
    """The parent-closed set of monomials containing the rows ``E`` (canonical, graded order)."""
    d = E.shape[1]
    K = max_degree(E)
    full = math.comb(d + K, K)
    if full * d <= DENSE_PLAN and full <= max(4 * len(E), 4096):
        C, parent, var = graded_basis(d, K)
        index = ranks_of(E, binomial_table(d, K))
    else:                                        # sparse: add the missing ancestors level by level
        deg = E.sum(axis=1)
        levels, carry = [], np.zeros((0, d), dtype=np.int64)
        for t in range(K, 0, -1):
            rows = np.unique(np.concatenate([E[deg == t], carry]), axis=0)
            levels.append(rows)
            carry = parents_of(rows)[0]
        levels.append(np.zeros((1, d), dtype=np.int64))
        C = np.concatenate(levels[::-1])
        C = np.ascontiguousarray(C[graded_order(C)])
        P, v = parents_of(C[1:])
        parent = np.concatenate([[-1], locate(C, P)])
        var = np.concatenate([[-1], v])
        index = locate(C, E)
    starts = np.searchsorted(C.sum(axis=1), np.arange(K + 2))
    return Plan(C, parent, var, index, starts)


def evaluate_plan(plan: Plan, coefs: np.ndarray, X: np.ndarray) -> np.ndarray:
    """``(N, F)`` values of the F coefficient columns ``coefs`` (M, F) on the plan's terms."""
    C = np.zeros((len(plan.exponents), coefs.shape[1]))
    C[plan.index] = coefs
    out = np.empty((X.shape[0], coefs.shape[1]))
    evaluate(X, plan.parent, plan.var, C, out)
    return out


def compose_dense(plan: Plan, coefs: np.ndarray, Q: np.ndarray, Kq: int, n: int) -> np.ndarray:
    """Dense graded vector (n variables, degree <= K Kq) of ``p(q_1, .., q_d)``.

    ``Q`` (d, C(n + Kq, Kq)) holds the substituted polynomials as dense graded rows. Horner on the
    parent tree, deepest level first: ``S`` holds one dense row per monomial of the level, and
    the children of a parent are contiguous in graded order (``reduceat`` adds them up).
    """
    c = np.zeros(len(plan.exponents))
    c[plan.index] = coefs
    K = len(plan.starts) - 2
    lo, hi = plan.starts[K], plan.starts[K + 1]
    S = c[lo:hi, None].copy()                                   # level K, degree 0 in x
    for t in range(K, 0, -1):
        deg = (K - t) * Kq
        tmp = rowmul_graded(S, deg, Q[plan.var[lo:hi]], Kq, n)
        plo, phi = plan.starts[t - 1], plan.starts[t]
        par = plan.parent[lo:hi] - plo
        first = np.flatnonzero(np.r_[True, par[1:] != par[:-1]])
        S = np.zeros((phi - plo, tmp.shape[1]))
        S[:, 0] = c[plo:phi]
        S[par[first]] += np.add.reduceat(tmp, first, axis=0)
        lo, hi = plo, phi
    return S[0]


def multiply(E1, c1, E2, c2) -> tuple[np.ndarray, np.ndarray]:
    """Canonical (exponents, coefs) of the product of two canonical polynomials."""
    d = E1.shape[1]
    if not len(c1) or not len(c2):
        return np.zeros((0, d), np.int64), np.zeros(0)
    if len(c1) > len(c2):
        E1, c1, E2, c2 = E2, c2, E1, c1
    K = int(E1[-1].sum() + E2[-1].sum())
    M = math.comb(d + K, K)
    if M >= RANK_LIMIT:                       # ranks overflow: sort exponent rows instead
        return canonical(np.concatenate([E2 + e for e in E1]), np.outer(c1, c2).ravel())
    G = binomial_table(d, K)
    pairs = len(c1) * len(c2)
    dense = M <= max(4 * pairs, 1 << 16) and M <= 1 << 27
    acc = np.zeros((1, M)) if dense else None
    parts_r, parts_v = [], []
    step = max(1, PAIR_BLOCK // len(c2))
    for i0 in range(0, len(c1), step):
        i1 = min(len(c1), i0 + step)
        R = np.empty((i1 - i0, len(c2)), dtype=np.int64)
        pair_ranks(E1[i0:i1], E2, G, R)
        if dense:
            rowmul(c1[None, i0:i1].copy(), c2[None, :], R, acc)
        else:
            r, inv = np.unique(R.ravel(), return_inverse=True)
            parts_r.append(r)
            parts_v.append(np.bincount(inv.ravel(), weights=np.outer(c1[i0:i1], c2).ravel()))
    if dense:
        r = np.flatnonzero(acc[0])
        v = acc[0, r]
    else:
        r, inv = np.unique(np.concatenate(parts_r), return_inverse=True)
        v = np.bincount(inv.ravel(), weights=np.concatenate(parts_v))
        keep = v != 0
        r, v = r[keep], v[keep]
    return exponents_of(r, d, G), v
