r"""Numba kernel of :func:`slaf_np.polynomial.features.polynomial_features` and its NumPy twin.

Given the parent table of :func:`slaf_np.polynomial.monomials.graded_basis` (monomial ``m`` is
monomial ``parent[m]`` times ``x_{var[m]}``), every column of features costs one multiply per
entry:

.. math:: \Phi_{:, m} = \Phi_{:, \mathrm{parent}(m)} \odot X_{:, \mathrm{var}(m)}.

Both functions fill ``out`` in place with the same products in the same order, so they agree bit
for bit.
"""

from __future__ import annotations

import numpy as np

from ._jit import njit

CHUNK_ELEMENTS = 1 << 22  # entries per temporary block of the NumPy twin (32 MB in float64)


@njit
def fill_features(X, parent, var, skip, by_column, out):
    """Fill ``out`` (N, M - skip) with the monomials of ``X`` (N, d) given the parent table.

    ``parent``, ``var`` (M,) int64 as returned by ``graded_basis`` (entry 0 the constant).
    ``skip`` is 1 when the constant column is left out (then column ``m`` of the full list is
    ``out[:, m - 1]`` and a parent index 0 means "times one"). ``by_column`` picks the loop order
    that walks ``out`` contiguously: columns outer for Fortran order, rows outer for C order.
    """
    N = X.shape[0]
    M = parent.shape[0]
    if skip == 0:
        for i in range(N):
            out[i, 0] = 1.0
    if by_column:
        for m in range(1, M):
            p = parent[m] - skip
            v = var[m]
            c = m - skip
            if p < 0:
                for i in range(N):
                    out[i, c] = X[i, v]
            else:
                for i in range(N):
                    out[i, c] = out[i, p] * X[i, v]
    else:
        for i in range(N):
            for m in range(1, M):
                p = parent[m] - skip
                if p < 0:
                    out[i, m - skip] = X[i, var[m]]
                else:
                    out[i, m - skip] = out[i, p] * X[i, var[m]]


def fill_features_numpy(X, parent, var, skip, by_column, out):
    """NumPy twin of :func:`fill_features`: vectorised column products, block by block.

    A block of consecutive monomials can be computed at once when all its parents come before it
    (true inside one degree); blocks are capped so the temporaries stay small. ``by_column`` is
    accepted for the common signature and has no effect.
    """
    N = X.shape[0]
    M = parent.shape[0]
    if skip == 0:
        out[:, 0] = 1.0
    chunk = max(1, CHUNK_ELEMENTS // max(N, 1))
    a = 1
    while a < M:
        b = min(M, a + chunk)
        late = np.flatnonzero(parent[a:b] >= a)  # first monomial whose parent is inside the block
        if late.size:
            b = a + int(late[0])
        p = parent[a:b] - skip
        v = var[a:b]
        cols = slice(a - skip, b - skip)
        if p[0] < 0:  # degree 1 without the constant column: copies of X
            out[:, cols] = X[:, v]
        else:
            np.multiply(out[:, p], X[:, v], out=out[:, cols])
        a = b


#: name -> (numba kernel, NumPy twin), for the tests and ``NUMBA_DISABLE_JIT`` comparisons.
KERNELS = {"fill_features": (fill_features, fill_features_numpy)}
