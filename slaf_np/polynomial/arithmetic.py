r"""The array algorithms under :class:`slaf_np.polynomial.Polynomial`: products, evaluation and
substitution, on exponent rows in the graded order of :mod:`slaf_np.polynomial.monomials`.

* **Products** scatter: :math:`p q = \sum_{i,j} a_i b_j\, x^{e_i + e_j}` adds ``a_i b_j`` at
  ``rank(e_i + e_j)``. :func:`rowmul_graded` multiplies rows of dense graded vectors with one
  table of pair ranks (:func:`pair_table`) for all rows; :func:`multiply` multiplies two sparse
  polynomials, summing into a dense vector of the result's ``C(d + K, K)`` entries when that is
  not much larger than the number of pairs, by sorting the ranks otherwise.
* **Evaluation** (:func:`evaluation_plan`, :func:`evaluate_plan`): the monomials closed under
  parents; each monomial's value is its parent's times one variable, one multiply per monomial
  and sample.
* **Substitution** :math:`p(q_1(x), .., q_d(x))` (:func:`compose_dense`): Horner's scheme on the
  parent tree, :math:`S(m) = c_m + \sum_{\text{children } m'} q_{v(m')} S(m')`, one degree level
  at a time, on dense graded vectors.

The loops run in the numba kernels of :mod:`slaf_np.kernels.polynomial`.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import numpy as np

from ..kernels import polynomial as pk
from .monomials import (
    canonical,
    exponents_of,
    graded_basis,
    graded_order,
    locate,
    max_degree,
    parents_of,
    ranks_of,
)

__all__ = ["pair_table", "rowmul_graded", "multiply", "Plan", "evaluation_plan", "evaluate_plan",
           "compose_dense", "TABLE_LIMIT", "PAIR_BLOCK", "DENSE_PLAN"]

TABLE_LIMIT = 1 << 24  # entries of one pair table held at once (64 MB as int32)
PAIR_BLOCK = 1 << 22   # monomial pairs per block in products (32 MB of ranks)
DENSE_PLAN = 1 << 26   # entries (M d) of a full basis up to which evaluation plans use it


# ---------------------------------------------------------------------------------------------
# Dense graded vectors: pair tables and row-wise products
# ---------------------------------------------------------------------------------------------
def _index_dtype(d: int, K: int):
    return np.int32 if math.comb(d + K, K) < 2**31 else np.int64


@functools.lru_cache(maxsize=8)
def pair_table(d: int, Ka: int, Kb: int) -> np.ndarray:
    """``T[i, j] = rank(e_i + e_j)`` for the monomials of degree ``<= Ka`` (rows) and ``<= Kb``
    (columns) in ``d`` variables; int32 when the ranks fit. Read-only, cached."""
    Ea, Eb = graded_basis(d, Ka)[0], graded_basis(d, Kb)[0]
    T = np.empty((len(Ea), len(Eb)), dtype=_index_dtype(d, Ka + Kb))
    pk.pair_ranks(Ea, Eb, pk.binomial_table(d, Ka + Kb), T)
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
        pk.rowmul(A, B, pair_table(d, Ka, Kb), out)
        return out
    Ea, Eb = graded_basis(d, Ka)[0], graded_basis(d, Kb)[0]
    G = pk.binomial_table(d, Ka + Kb)
    step = max(1, TABLE_LIMIT // Mb)
    for i0 in range(0, Ma, step):
        i1 = min(Ma, i0 + step)
        T = np.empty((i1 - i0, Mb), dtype=_index_dtype(d, Ka + Kb))
        pk.pair_ranks(Ea[i0:i1], Eb, G, T)
        pk.rowmul(np.ascontiguousarray(A[:, i0:i1]), B, T, out)
    return out


def multiply(E1, c1, E2, c2) -> tuple[np.ndarray, np.ndarray]:
    """Canonical (exponents, coefs) of the product of two canonical polynomials."""
    d = E1.shape[1]
    if not len(c1) or not len(c2):
        return np.zeros((0, d), np.int64), np.zeros(0)
    if len(c1) > len(c2):
        E1, c1, E2, c2 = E2, c2, E1, c1
    K = int(E1[-1].sum() + E2[-1].sum())
    M = math.comb(d + K, K)
    if M >= pk.RANK_LIMIT:                    # ranks overflow: sort exponent rows instead
        return canonical(np.concatenate([E2 + e for e in E1]), np.outer(c1, c2).ravel())
    G = pk.binomial_table(d, K)
    pairs = len(c1) * len(c2)
    dense = M <= max(4 * pairs, 1 << 16) and M <= 1 << 27
    acc = np.zeros((1, M)) if dense else None
    parts_r, parts_v = [], []
    step = max(1, PAIR_BLOCK // len(c2))
    for i0 in range(0, len(c1), step):
        i1 = min(len(c1), i0 + step)
        R = np.empty((i1 - i0, len(c2)), dtype=np.int64)
        pk.pair_ranks(E1[i0:i1], E2, G, R)
        if dense:
            pk.rowmul(c1[None, i0:i1].copy(), c2[None, :], R, acc)
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


# ---------------------------------------------------------------------------------------------
# Evaluation and substitution on the parent tree
# ---------------------------------------------------------------------------------------------
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
        index = ranks_of(E, pk.binomial_table(d, K))
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
    pk.evaluate(X, plan.parent, plan.var, C, out)
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
