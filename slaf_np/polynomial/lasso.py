r"""The lasso by cyclic coordinate descent, with scikit-learn's duality-gap stopping rule.

With the intercept handled by centring (:mod:`slaf_np.polynomial.linear`), :func:`lasso_cd`
minimises

.. math:: P(w) = \frac{1}{2N} \|y_c - X_c w\|^2 + \alpha \|w\|_1

one coordinate at a time: with the residual ``r = y_c - X_c w`` kept up to date and
``q_j = ||X_{c,j}||^2`` precomputed, the exact minimiser over ``w_j`` alone is

.. math:: \rho_j = X_{c,j}^T r + q_j w_j, \qquad
          w_j \leftarrow \frac{S(\rho_j, N\alpha)}{q_j}, \qquad S(\rho, t) = \mathrm{sign}(\rho)
          \max(|\rho| - t, 0),

followed by ``r -= (w_j^new - w_j^old) X_{c,j}``. Columns with ``q_j = 0`` (constant columns, e.g.
the bias column of polynomial features) are skipped and keep ``w_j = 0``. The sweeps run in the
numba kernels of :mod:`slaf_np.kernels.linear` (or their NumPy twins, ``backend="numpy"``), which
read ``X[i, j] - xbar[j]`` on the fly (``X`` is never centred in memory) and accumulate in
float64 whatever the type of ``X``, so float32 features (half the memory) are fine.

Stopping rule (the duality gap of scikit-learn's ``enet_coordinate_descent``, divided by ``N`` for
our normalised objective). The dual point is the residual scaled into the dual feasible set,
``theta = s r`` with ``s = min(1, N alpha / ||X_c^T r||_inf)``, and

.. math:: \mathrm{gap} = P(w) - D(\theta)
          = \frac{1}{N}\Big(\frac{1 + s^2}{2}\|r\|^2 - s\, r^T y_c\Big) + \alpha \|w\|_1 \;\ge\; 0 .

It bounds the suboptimality ``P(w) - P(w^*)``. The gap is computed every ``check_every`` sweeps
(one extra pass over ``X``) and after the last sweep; the run has *converged* when
``gap <= tol * ||y_c||^2 / N`` (scikit-learn's ``tol * ||y||^2`` in its unnormalised units). After
``max_sweeps`` sweeps it stops either way and reports the last gap and ``converged=False``. With
``alpha = 0`` the gap is ``||r||^2 / (2N)`` and only vanishes for an exact fit.

Large, nearly collinear problems (e.g. 404 x 203,489 monomials) converge slowly under cyclic CD,
which spends each sweep on every column. :func:`lasso_working_set` solves the same problem (same
stopping rule) by CD on the support plus the violators of the optimality conditions
``|X_{c,j}^T r| / N <= alpha``, checking the full problem's gap after each round; it returns the
full :class:`LassoResult` and one record per round.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..kernels.linear import BACKENDS
from .linear import check_alpha, check_xy, column_blocks, column_means

__all__ = ["lasso_cd", "LassoResult", "alpha_max", "lasso_working_set"]


class LassoResult(NamedTuple):
    """What :func:`lasso_cd` returns.

    Attributes
    ----------
    coef : ndarray of float64, shape (d,)
    intercept : float
    n_sweeps : int
        Sweeps done (each: one pass over X for the dot products plus the updates of the columns
        that changed).
    duality_gap : float
        The last gap computed (after the last sweep), in the units of the objective.
    converged : bool
        ``duality_gap <= gap_tol``.
    gap_tol : float
        ``tol * ||y - ybar||^2 / N``.
    history : dict or None
        With ``history=True``: arrays ``sweep``, ``gap``, ``objective`` at every gap check.
    """

    coef: np.ndarray
    intercept: float
    n_sweeps: int
    duality_gap: float
    converged: bool
    gap_tol: float
    history: dict | None = None


def lasso_cd(X: np.ndarray, y: np.ndarray, alpha: float, max_sweeps: int = 1000,
             tol: float = 1e-4, fit_intercept: bool = True, coef_init: np.ndarray | None = None,
             check_every: int = 1, history: bool = False, backend: str = "numba") -> LassoResult:
    r"""Lasso by cyclic coordinate descent: ``min (1/(2N)) ||y - X w - w0||^2 + alpha ||w||_1``.

    Parameters
    ----------
    X : ndarray, shape (N, d)
        Float32 or float64 (other types become float64). Read column by column, so it is used as
        is when Fortran-contiguous and copied *once* into Fortran order otherwise (N d itemsize
        bytes: 658 MB for 404 x 203,490 float64, 329 MB float32). ``X`` is never modified, never
        centred in memory, and float32 is read with float64 accumulation.
    y : ndarray, shape (N,)
    alpha : float >= 0
        L1 penalty (scikit-learn's ``Lasso(alpha)`` convention). ``alpha >= alpha_max(X, y)`` gives
        ``w = 0`` exactly after one sweep.
    max_sweeps : int >= 0
        Cap on the number of sweeps; the run stops there converged or not.
    tol : float >= 0
        Converged when the duality gap is ``<= tol * ||y - ybar||^2 / N`` (module docstring).
    fit_intercept : bool
        Unpenalised intercept by implicit centring; otherwise ``w0 = 0`` and nothing is centred.
    coef_init : ndarray, shape (d,), optional
        Warm start (default zeros).
    check_every : int >= 1
        Compute the duality gap (one extra pass over X) every this many sweeps, and after the last.
    history : bool
        Record ``sweep``, ``gap`` and ``objective`` at each gap check.
    backend : {"numba", "numpy"}
        The compiled kernels or their plain-NumPy twins (slow; for tests and for reading).

    Returns
    -------
    LassoResult
        ``coef``, ``intercept``, ``n_sweeps``, ``duality_gap``, ``converged``, ``gap_tol``,
        ``history``.
    """
    who = "lasso_cd"
    X, y = check_xy(X, y, who)
    alpha = check_alpha(alpha, who)
    if int(max_sweeps) != max_sweeps or max_sweeps < 0:
        raise ValueError(f"{who}: max_sweeps must be an integer >= 0, got {max_sweeps!r}")
    if int(check_every) != check_every or check_every < 1:
        raise ValueError(f"{who}: check_every must be an integer >= 1, got {check_every!r}")
    if not tol >= 0:
        raise ValueError(f"{who}: tol must be >= 0, got {tol!r}")
    if backend not in BACKENDS:
        raise ValueError(f"{who}: backend must be one of {sorted(BACKENDS)}, got {backend!r}")
    moments, residual, sweep, dual_gap = BACKENDS[backend]

    dtype = X.dtype if X.dtype in (np.float32, np.float64) else np.float64
    X = np.asfortranarray(X, dtype=dtype)  # a no-op for Fortran-ordered float input
    N, d = X.shape
    xmean = np.empty(d)
    col_sq = np.empty(d)
    moments(X, bool(fit_intercept), xmean, col_sq)
    if not (np.all(np.isfinite(xmean)) and np.all(np.isfinite(col_sq))):
        bad = int(np.flatnonzero(~(np.isfinite(xmean) & np.isfinite(col_sq)))[0])
        raise ValueError(f"{who}: column {bad} of X holds NaN or inf (or its square overflows)")
    ybar = float(y.mean()) if fit_intercept else 0.0
    yc = y - ybar

    if coef_init is None:
        w = np.zeros(d)
    else:
        w = np.array(coef_init, dtype=np.float64)
        if w.shape != (d,) or not np.all(np.isfinite(w)):
            raise ValueError(f"{who}: coef_init must be finite with shape ({d},), got {w.shape}")
        w[col_sq == 0.0] = 0.0  # skipped columns keep 0 (they cannot change the fit)
    r = np.empty(N)
    residual(X, xmean, w, yc, r)

    gap_tol = float(tol) * float(yc @ yc) / N
    threshold = N * alpha
    rec_sweep: list[int] = []
    rec_gap: list[float] = []
    rec_obj: list[float] = []
    gap, obj = dual_gap(X, xmean, w, r, yc, alpha) if max_sweeps == 0 else (np.inf, np.inf)
    n_done = 0
    for k in range(1, int(max_sweeps) + 1):
        sweep(X, xmean, col_sq, w, r, threshold)
        n_done = k
        if k % check_every == 0 or k == max_sweeps:
            gap, obj = dual_gap(X, xmean, w, r, yc, alpha)
            if history:
                rec_sweep.append(k)
                rec_gap.append(gap)
                rec_obj.append(obj)
            if gap <= gap_tol:
                break
    hist = None
    if history:
        hist = {"sweep": np.array(rec_sweep, dtype=np.int64), "gap": np.array(rec_gap),
                "objective": np.array(rec_obj)}
    intercept = ybar - float(xmean @ w) if fit_intercept else 0.0
    return LassoResult(coef=w, intercept=intercept, n_sweeps=n_done, duality_gap=float(gap),
                       converged=bool(gap <= gap_tol), gap_tol=gap_tol, history=hist)


# ---------------------------------------------------------------------------------------------
# Lasso on a working set
# ---------------------------------------------------------------------------------------------
def lasso_working_set(X: np.ndarray, y: np.ndarray, alpha: float,
                      coef_init: np.ndarray | None = None, tol: float = 1e-4,
                      max_rounds: int = 20, max_sweeps: int = 500_000, check_every: int = 10,
                      log=None) -> tuple[LassoResult, list[dict]]:
    r"""Lasso by coordinate descent on a working set, checked on the full problem.

    Cyclic CD spends each sweep on all d columns although only a few hundred may ever be non-zero.
    The optimality conditions of the Lasso are ``|X_{c,j}^T r| / N <= alpha`` for every
    ``w_j = 0``. Each round:

    1. the working set ``W`` = columns with ``w_j != 0`` or ``|X_{c,j}^T r| / N > alpha``
       (the support and the violators, from one pass over ``X``);
    2. :func:`lasso_cd` on ``X[:, W]`` (warm start) to half the gap tolerance (if nothing outside
       ``W`` violates the conditions, the full gap equals the sub-problem's);
    3. the duality gap of the *full* problem at the result (``max_sweeps=0``: no sweep, one pass);
       stop when it passes the same test as :func:`lasso_cd` (``gap <= tol ||y - ybar||^2 / N``).

    Parameters
    ----------
    X : ndarray, shape (N, d)
        As for :func:`lasso_cd` (Fortran order avoids a copy per full-problem check).
    y : ndarray, shape (N,)
    alpha : float >= 0
    coef_init : ndarray, shape (d,), optional
        Warm start (default zeros), e.g. an unconverged :func:`lasso_cd` result.
    tol : float >= 0
        The full problem's stopping test, as in :func:`lasso_cd`.
    max_rounds : int
        Cap on the rounds; the run stops there converged or not.
    max_sweeps, check_every : int
        Passed to :func:`lasso_cd` for each sub-problem.
    log : callable, optional
        Called with one line per round.

    Returns
    -------
    (LassoResult, list of dict)
        The full problem's result at the final ``w`` (``n_sweeps`` = working-set sweeps summed)
        and one record per round (``working_set`` size, sub-problem ``sweeps``, full ``gap``).
    """
    X, y = check_xy(X, y, "lasso_working_set")
    N = X.shape[0]
    w = np.zeros(X.shape[1]) if coef_init is None else np.array(coef_init, dtype=np.float64)
    full = lasso_cd(X, y, alpha, max_sweeps=0, tol=tol, coef_init=w)
    rounds, sweeps = [], 0
    while not full.converged and len(rounds) < max_rounds:
        r = y - full.intercept - _matvec(X, w)
        corr = np.abs(_rmatvec(X, r)) / N
        ws = np.flatnonzero((w != 0) | (corr > alpha))
        sub = lasso_cd(np.asfortranarray(X[:, ws]), y, alpha, max_sweeps=max_sweeps,
                       tol=tol / 2, coef_init=w[ws], check_every=check_every)
        w = np.zeros_like(w)
        w[ws] = sub.coef
        sweeps += sub.n_sweeps
        full = lasso_cd(X, y, alpha, max_sweeps=0, tol=tol, coef_init=w)
        rounds.append({"working_set": int(ws.size), "sweeps": int(sub.n_sweeps),
                       "gap": float(full.duality_gap)})
        if log:
            log(f"   round {len(rounds)}: working set {ws.size} columns, {sub.n_sweeps} sweeps, "
                f"full gap {full.duality_gap:.3g}")
    return full._replace(n_sweeps=sweeps), rounds


def _matvec(X, w):
    """``X w`` over the non-zero ``w_j`` only, in float64."""
    nz = np.flatnonzero(w)
    return np.asarray(X[:, nz], np.float64) @ w[nz]


def _rmatvec(X, r):
    """``X^T r`` by blocks of columns (equal to ``X_c^T r`` since ``r`` sums to 0)."""
    out = np.empty(X.shape[1])
    for s, B in column_blocks(X, cols=8192):
        out[s] = r @ B
    return out


def alpha_max(X: np.ndarray, y: np.ndarray, fit_intercept: bool = True) -> float:
    """Smallest lasso ``alpha`` with solution ``w = 0``: ``||Xc^T yc||_inf / N``."""
    X, y = check_xy(X, y, "alpha_max")
    xbar = column_means(X) if fit_intercept else np.zeros(X.shape[1])
    yc = y - y.mean() if fit_intercept else y
    best = 0.0
    for s, B in column_blocks(X):  # Xc^T yc blockwise in float64
        best = max(best, float(np.max(np.abs((B - xbar[s]).T @ yc), initial=0.0)))
    return best / X.shape[0]
