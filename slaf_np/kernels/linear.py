r"""Numba kernels of the lasso by coordinate descent and their NumPy twins.

:mod:`slaf_np.polynomial.lasso` states the problem, the soft-threshold update of one coordinate
(:func:`cd_sweep` does it for ``j = 0..d-1`` in turn, keeping the residual ``r`` up to date) and
the duality gap of the stopping rule (:func:`dual_gap`). :func:`column_moments` gives the column
means and the squared norms ``q_j`` of the centred columns; columns with ``q_j = 0`` are skipped.

``X`` is never centred in memory: every kernel reads ``X[i, j] - xmean[j]`` on the fly and
accumulates in float64 whatever the type of ``X``. The twins (suffix ``_numpy``, same signatures)
do the same arithmetic vectorised; :data:`BACKENDS` maps a backend name to the four functions.
"""

from __future__ import annotations

import numpy as np

from ._jit import njit

CHUNK_ELEMENTS = 1 << 22  # entries per temporary block of the NumPy twins (32 MB in float64)


@njit
def column_moments(X, center, xmean, col_sq):
    """Per column: ``xmean[j]`` (0 unless ``center``) and ``col_sq[j] = ||X_j - xmean[j]||^2``.

    A column whose entries are all equal gets its mean exactly (its first entry), so centring it
    gives exactly zero and ``col_sq[j] == 0`` (skipped by the sweep).
    """
    N, d = X.shape
    for j in range(d):
        first = float(X[0, j])  # float(): float64 sums also when the JIT is off (NumPy 2
        same = True             # would keep np.float32 + float in float32)
        s = 0.0
        for i in range(N):
            x = float(X[i, j])
            s += x
            if x != first:
                same = False
        m = 0.0
        if center:
            m = first if same else s / N
        q = 0.0
        for i in range(N):
            t = float(X[i, j]) - m
            q += t * t
        xmean[j] = m
        col_sq[j] = q


def column_moments_numpy(X, center, xmean, col_sq):
    """NumPy twin of :func:`column_moments`."""
    N, d = X.shape
    chunk = max(1, CHUNK_ELEMENTS // N)
    for a in range(0, d, chunk):
        B = np.asarray(X[:, a:a + chunk], dtype=np.float64)
        same = np.all(B == B[0], axis=0)
        m = np.where(same, B[0], B.mean(axis=0)) if center else np.zeros(B.shape[1])
        xmean[a:a + chunk] = m
        col_sq[a:a + chunk] = np.sum((B - m) ** 2, axis=0)


@njit
def residual(X, xmean, w, y, r):
    """``r = y - (X - xmean) w``, reading only the columns with ``w_j != 0``."""
    N, d = X.shape
    for i in range(N):
        r[i] = y[i]
    for j in range(d):
        wj = w[j]
        if wj != 0.0:
            m = xmean[j]
            for i in range(N):
                r[i] -= wj * (X[i, j] - m)


def residual_numpy(X, xmean, w, y, r):
    """NumPy twin of :func:`residual`."""
    r[:] = y
    for j in np.flatnonzero(w):
        r -= w[j] * (X[:, j].astype(np.float64) - xmean[j])


@njit
def _centred_dot(X, j, m, r):
    """``sum_i (X[i, j] - m) r[i]`` with four partial sums (deterministic; no fastmath)."""
    N = X.shape[0]
    N4 = N - N % 4
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    s3 = 0.0
    for i in range(0, N4, 4):
        s0 += (X[i, j] - m) * r[i]
        s1 += (X[i + 1, j] - m) * r[i + 1]
        s2 += (X[i + 2, j] - m) * r[i + 2]
        s3 += (X[i + 3, j] - m) * r[i + 3]
    for i in range(N4, N):
        s0 += (X[i, j] - m) * r[i]
    return (s0 + s1) + (s2 + s3)


@njit
def cd_sweep(X, xmean, col_sq, w, r, threshold):
    """One cyclic sweep ``j = 0..d-1`` of the soft-threshold update (module docstring).

    ``threshold = N * alpha``. Updates ``w`` and ``r`` in place; returns
    ``(max |dw_j|, max |w_j|)``.
    The dot product uses four partial sums so the loop is not bound by the latency of one add.
    """
    N, d = X.shape
    dw_max = 0.0
    w_max = 0.0
    for j in range(d):
        q = col_sq[j]
        if q == 0.0:
            continue
        m = xmean[j]
        wj = w[j]
        rho = _centred_dot(X, j, m, r) + q * wj
        if rho > threshold:
            new = (rho - threshold) / q
        elif rho < -threshold:
            new = (rho + threshold) / q
        else:
            new = 0.0
        if new != wj:
            delta = new - wj
            for i in range(N):
                r[i] -= delta * (X[i, j] - m)
            w[j] = new
            if abs(delta) > dw_max:
                dw_max = abs(delta)
        if abs(new) > w_max:
            w_max = abs(new)
    return dw_max, w_max


def cd_sweep_numpy(X, xmean, col_sq, w, r, threshold):
    """NumPy twin of :func:`cd_sweep` (a Python loop over columns, vector work inside)."""
    dw_max = 0.0
    w_max = 0.0
    for j in range(X.shape[1]):
        q = col_sq[j]
        if q == 0.0:
            continue
        xj = X[:, j].astype(np.float64) - xmean[j]
        wj = w[j]
        rho = float(xj @ r) + q * wj
        new = np.sign(rho) * max(abs(rho) - threshold, 0.0) / q
        if new != wj:
            delta = new - wj
            r -= delta * xj
            w[j] = new
            dw_max = max(dw_max, abs(delta))
        w_max = max(w_max, abs(new))
    return dw_max, w_max


@njit
def dual_gap(X, xmean, w, r, y, alpha):
    """``(gap, primal)`` for the current ``w`` and residual ``r``, ``y`` centred (the gap of
    :mod:`slaf_np.polynomial.lasso`)."""
    N, d = X.shape
    dual_norm = 0.0
    for j in range(d):
        m = xmean[j]
        c = abs(_centred_dot(X, j, m, r))
        if c > dual_norm:
            dual_norm = c
    rr = 0.0
    ry = 0.0
    for i in range(N):
        rr += r[i] * r[i]
        ry += r[i] * y[i]
    l1 = 0.0
    for j in range(d):
        l1 += abs(w[j])
    threshold = N * alpha
    s = 1.0
    if dual_norm > threshold:
        s = threshold / dual_norm
    gap = (0.5 * (1.0 + s * s) * rr - s * ry) / N + alpha * l1
    primal = 0.5 * rr / N + alpha * l1
    return gap, primal


def dual_gap_numpy(X, xmean, w, r, y, alpha):
    """NumPy twin of :func:`dual_gap`."""
    N, d = X.shape
    dual_norm = 0.0
    chunk = max(1, CHUNK_ELEMENTS // N)
    for a in range(0, d, chunk):
        B = np.asarray(X[:, a:a + chunk], dtype=np.float64) - xmean[a:a + chunk]
        dual_norm = max(dual_norm, float(np.max(np.abs(B.T @ r), initial=0.0)))
    rr = float(r @ r)
    ry = float(r @ y)
    l1 = float(np.abs(w).sum())
    threshold = N * alpha
    s = threshold / dual_norm if dual_norm > threshold else 1.0
    gap = (0.5 * (1.0 + s * s) * rr - s * ry) / N + alpha * l1
    return gap, 0.5 * rr / N + alpha * l1


#: backend name -> (column_moments, residual, cd_sweep, dual_gap), as :func:`lasso_cd` calls them.
BACKENDS = {
    "numba": (column_moments, residual, cd_sweep, dual_gap),
    "numpy": (column_moments_numpy, residual_numpy, cd_sweep_numpy, dual_gap_numpy),
}
