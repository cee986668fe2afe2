r"""Ridge regression in closed form, and its alpha by cross-validation from one Gram matrix.

With the intercept handled by centring (:mod:`slaf_np.polynomial.linear`),

.. math:: \min_w \|y_c - X_c w\|^2 + \alpha \|w\|^2, \qquad
          w = (X_c^T X_c + \alpha I)^{-1} X_c^T y_c = X_c^T (X_c X_c^T + \alpha I)^{-1} y_c.

The first (primal) form solves a d x d system, the second (dual, kernel) form an N x N one; they
agree by the push-through identity ``(A^T A + a I)^{-1} A^T = A^T (A A^T + a I)^{-1}``
(:func:`ridge`).

Choosing ``alpha``: :func:`ridge_cv` gives the k-fold cross-validated MSE for a grid of alphas
from the N x N Gram matrix alone (:func:`gram`), one eigendecomposition per fold.
"""

from __future__ import annotations

import numpy as np

from .linear import check_alpha, check_xy, column_blocks, column_means

__all__ = ["ridge", "ridge_cv", "gram"]


def ridge(X: np.ndarray, y: np.ndarray, alpha: float, fit_intercept: bool = True,
          solver: str = "auto") -> tuple[np.ndarray, float]:
    r"""Ridge regression in closed form: ``min ||y - X w - w0||^2 + alpha ||w||^2`` (``w0`` free).

    Parameters
    ----------
    X : ndarray, shape (N, d)
        Float32 or float64 (any layout); arithmetic is float64.
    y : ndarray, shape (N,)
    alpha : float >= 0
        Penalty. ``alpha = 0`` returns the minimum-norm least-squares solution (``lstsq`` on the
        centred data), the ``alpha -> 0+`` limit of ridge.
    fit_intercept : bool
        Fit ``w0`` (by centring ``X`` and ``y``); otherwise ``w0 = 0``.
    solver : {"auto", "primal", "dual"}
        "primal" solves ``(Xc^T Xc + alpha I) w = Xc^T yc`` (d x d); "dual" solves
        ``(Xc Xc^T + alpha I) a = yc`` (N x N) and returns ``w = Xc^T a``; "auto" takes the smaller
        system (primal when ``d <= N``). Both use ``numpy.linalg.solve`` (LU; the matrices are
        symmetric positive definite for ``alpha > 0``). The dual path centres a block of columns
        at a time, so a wide float32 ``X`` is never copied whole.

    Returns
    -------
    w : ndarray of float64, shape (d,)
    w0 : float
    """
    who = "ridge"
    X, y = check_xy(X, y, who)
    alpha = check_alpha(alpha, who)
    if solver not in ("auto", "primal", "dual"):
        raise ValueError(f"{who}: solver must be 'auto', 'primal' or 'dual', got {solver!r}")
    N, d = X.shape
    xbar = column_means(X) if fit_intercept else np.zeros(d)
    ybar = float(y.mean()) if fit_intercept else 0.0
    yc = y - ybar
    if not np.all(np.isfinite(xbar)):
        raise ValueError(f"{who}: X holds NaN or inf")
    if solver == "auto":
        solver = "primal" if d <= N else "dual"

    if alpha == 0.0:
        Xc = np.asarray(X, dtype=np.float64) - xbar
        w = np.linalg.lstsq(Xc, yc, rcond=None)[0]
    elif solver == "primal":
        Xc = np.asarray(X, dtype=np.float64) - xbar
        A = Xc.T @ Xc
        A[np.diag_indices(d)] += alpha
        w = np.linalg.solve(A, Xc.T @ yc)
    else:
        G = np.zeros((N, N))
        for s, B in column_blocks(X):
            B = B - xbar[s]
            G += B @ B.T
        G[np.diag_indices(N)] += alpha
        coef = np.linalg.solve(G, yc)
        w = np.empty(d)
        for s, B in column_blocks(X):
            w[s] = (B - xbar[s]).T @ coef
    return w, ybar - float(xbar @ w)


def gram(X: np.ndarray) -> np.ndarray:
    """``X X^T`` in float64, accumulated over blocks of 8192 columns (no float64 copy of ``X``).

    Parameters
    ----------
    X : ndarray, shape (N, d)

    Returns
    -------
    ndarray, shape (N, N)
    """
    G = np.zeros((X.shape[0], X.shape[0]))
    for _, B in column_blocks(X, cols=8192):
        G += B @ B.T
    return G


def ridge_cv(X: np.ndarray, y: np.ndarray, alphas, n_folds: int, rng: np.random.Generator,
             precomputed: bool = False) -> np.ndarray:
    r"""Cross-validated MSE of ridge with an intercept, from the Gram matrix ``G = X X^T`` alone.

    Ridge with a free intercept on the training rows ``S`` of a fold (``n`` rows) is ridge on the
    centred data ``X_S - 1 m^T`` (``m`` their column means); in the dual form it only needs inner
    products of centred rows, which follow from ``G`` (``H = I - 1 1^T / n``)::

        Kc_SS = H G_SS H                       a = (Kc_SS + alpha I)^{-1} (y_S - ybar_S)
        Kc_VS = (G_VS - 1 colmean(G_SS)^T) H    yhat_V = ybar_S + Kc_VS a

    for the held-out rows ``V``; one eigendecomposition of ``Kc_SS`` per fold serves every alpha.

    Parameters
    ----------
    X : ndarray, shape (N, d), or (N, N) with ``precomputed``
        The (uncentred) training rows, or their Gram matrix ``X X^T`` in float64.
    y : ndarray, shape (N,)
    alphas : sequence of float > 0
    n_folds : int >= 2
    rng : numpy.random.Generator
        Shuffles the rows into folds.
    precomputed : bool
        ``X`` is already the Gram matrix (see :func:`gram`).

    Returns
    -------
    ndarray, shape (len(alphas),)
        Mean squared error on the held-out rows, pooled over the folds.
    """
    G = np.asarray(X, dtype=np.float64) if precomputed else gram(X)
    if G.ndim != 2 or G.shape[0] != G.shape[1] or len(y) != G.shape[0]:
        raise ValueError(f"ridge_cv: need a square Gram matrix matching y ({len(y)},), got "
                         f"{G.shape}" + (" (precomputed=True)" if precomputed else ""))
    N = G.shape[0]
    alphas = np.asarray(alphas, dtype=np.float64)
    folds = np.array_split(rng.permutation(N), n_folds)
    sq = np.zeros(len(alphas))
    for V in folds:
        S = np.setdiff1d(np.arange(N), V)
        n = len(S)
        H = np.eye(n) - 1.0 / n
        Gss = G[np.ix_(S, S)]
        Kss = H @ Gss @ H
        Kvs = (G[np.ix_(V, S)] - Gss.mean(axis=0)) @ H
        lam, Q = np.linalg.eigh((Kss + Kss.T) / 2)
        ybar = y[S].mean()
        qy = Q.T @ (y[S] - ybar)
        KQ = Kvs @ Q
        for i, a in enumerate(alphas):
            pred = ybar + KQ @ (qy / (np.maximum(lam, 0.0) + a))
            sq[i] += np.sum((pred - y[V]) ** 2)
    return sq / N
