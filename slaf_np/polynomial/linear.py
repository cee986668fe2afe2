r"""Linear least squares on features: what ridge (:mod:`slaf_np.polynomial.ridge`) and the lasso
(:mod:`slaf_np.polynomial.lasso`) share, the LLS baselines of the Boston experiment.

Both fit ``y ~ X w + w0`` with an *unpenalised* intercept ``w0``. Minimising over ``w0`` first gives
``w0 = ybar - xbar . w``, which leaves the same problem on centred data ``Xc = X - xbar``,
``yc = y - ybar``; both solvers work on the centred problem and never penalise ``w0``.

``X`` may be a wide float32 matrix (404 x 203,489 monomials: 329 MB); it is never copied whole in
float64 here: :func:`column_blocks` hands out float64 copies of a block of columns at a time
(:data:`CHUNK_ELEMENTS` entries), and :func:`predict_linear` reads only the columns with a
non-zero weight.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

__all__ = ["predict_linear", "column_blocks", "column_means", "check_xy", "check_alpha",
           "CHUNK_ELEMENTS"]

CHUNK_ELEMENTS = 1 << 22  # entries per temporary block (32 MB in float64)


def check_xy(X, y, who: str) -> tuple[np.ndarray, np.ndarray]:
    """``X`` (N, d) as an array and ``y`` (N,) as float64, N >= 1 and ``y`` finite, or a
    ``ValueError`` that names ``who``."""
    X = np.asarray(X)
    y = np.asarray(y, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"{who}: X must be 2-D (N, d), got shape {X.shape}")
    if y.ndim != 1 or y.shape[0] != X.shape[0]:
        raise ValueError(f"{who}: y must have shape ({X.shape[0]},) to match X {X.shape}, got "
                         f"{y.shape}")
    if X.shape[0] < 1:
        raise ValueError(f"{who}: need at least one sample, got X of shape {X.shape}")
    if not np.all(np.isfinite(y)):
        raise ValueError(f"{who}: y holds NaN or inf")
    return X, y


def check_alpha(alpha, who: str) -> float:
    """``alpha`` as a finite float >= 0, or a ``ValueError`` that names ``who``."""
    alpha = float(alpha)
    if not alpha >= 0 or not np.isfinite(alpha):
        raise ValueError(f"{who}: alpha must be a finite number >= 0, got {alpha!r}")
    return alpha


def column_blocks(X: np.ndarray, cols: int | None = None) -> Iterator[tuple[slice, np.ndarray]]:
    """``(s, X[:, s] as float64)`` for consecutive blocks ``s`` of columns of ``X`` (N, d).

    A block has ``cols`` columns (default ``CHUNK_ELEMENTS // N``, at least one), the last one
    fewer, so no full-size float64 copy of ``X`` is made. A block of a float64 ``X`` is a view
    of it: read it, do not write to it.
    """
    N, d = X.shape
    step = cols or max(1, CHUNK_ELEMENTS // max(N, 1))
    for a in range(0, d, step):
        s = slice(a, a + step)
        yield s, np.asarray(X[:, s], dtype=np.float64)


def column_means(X: np.ndarray) -> np.ndarray:
    """Column means (d,) in float64 of ``X`` (N, d), a block of columns at a time."""
    out = np.empty(X.shape[1])
    for s, B in column_blocks(X):
        out[s] = B.mean(axis=0)
    return out


def predict_linear(X: np.ndarray, w: np.ndarray, w0: float = 0.0) -> np.ndarray:
    """``X w + w0`` in float64, reading only the columns with ``w_j != 0`` (a block at a time).

    Parameters
    ----------
    X : ndarray, shape (N, d)
    w : ndarray, shape (d,)
    w0 : float

    Returns
    -------
    yhat : ndarray of float64, shape (N,)
    """
    X = np.asarray(X)
    w = np.asarray(w, dtype=np.float64)
    if X.ndim != 2 or w.shape != (X.shape[1],):
        raise ValueError(f"predict_linear: X must be (N, d) and w (d,), got {X.shape} and "
                         f"{w.shape}")
    N = X.shape[0]
    out = np.full(N, float(w0))
    nz = np.flatnonzero(w)
    chunk = max(1, CHUNK_ELEMENTS // max(N, 1))
    for a in range(0, nz.size, chunk):
        idx = nz[a:a + chunk]
        out += np.asarray(X[:, idx], dtype=np.float64) @ w[idx]
    return out
