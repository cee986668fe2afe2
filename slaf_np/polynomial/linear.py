r"""Least squares with an L2 (ridge) or L1 (lasso) penalty: the LLS baseline of PAPER.md s. 4.

Both fit ``y ~ X w + w0`` with an *unpenalised* intercept ``w0``. Minimising over ``w0`` first gives
``w0 = ybar - xbar . w``, which leaves the same problem on centred data ``Xc = X - xbar``,
``yc = y - ybar``; both solvers work on the centred problem and never penalise ``w0``.

Ridge (:func:`ridge`), closed form

.. math:: \min_w \|y_c - X_c w\|^2 + \alpha \|w\|^2, \qquad
          w = (X_c^T X_c + \alpha I)^{-1} X_c^T y_c = X_c^T (X_c X_c^T + \alpha I)^{-1} y_c.

The first (primal) form solves a d x d system, the second (dual, kernel) form an N x N one; they
agree by the push-through identity ``(A^T A + a I)^{-1} A^T = A^T (A A^T + a I)^{-1}``.

Lasso (:func:`lasso_cd`), cyclic coordinate descent

.. math:: P(w) = \frac{1}{2N} \|y_c - X_c w\|^2 + \alpha \|w\|_1 .

With the residual ``r = y_c - X_c w`` kept up to date and ``q_j = ||X_{c,j}||^2`` precomputed, the
exact minimiser over ``w_j`` alone is

.. math:: \rho_j = X_{c,j}^T r + q_j w_j, \qquad
          w_j \leftarrow \frac{S(\rho_j, N\alpha)}{q_j}, \qquad S(\rho, t) = \mathrm{sign}(\rho)
          \max(|\rho| - t, 0),

followed by ``r -= (w_j^new - w_j^old) X_{c,j}``. Columns with ``q_j = 0`` (constant columns, e.g.
the bias column of polynomial features) are skipped and keep ``w_j = 0``.

Centring is implicit: ``X`` is never copied to subtract its means; every kernel reads
``X[i, j] - xbar[j]`` on the fly (one subtraction per entry, negligible next to memory traffic).
The kernels accumulate in float64 whatever the type of ``X``, so float32 features (half the memory)
are fine.

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

Choosing the ridge ``alpha``: :func:`ridge_cv` gives the k-fold cross-validated MSE for a grid of
alphas from the N x N Gram matrix alone (:func:`gram`), one eigendecomposition per fold.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..kernels._jit import njit

__all__ = ["ridge", "lasso_cd", "LassoResult", "predict_linear", "alpha_max",
           "lasso_working_set", "ridge_cv", "gram"]

_CHUNK_ELEMENTS = 1 << 22  # entries per temporary block (32 MB in float64)


# ---------------------------------------------------------------------------------------------
# Shared checks
# ---------------------------------------------------------------------------------------------
def _check_xy(X, y, who: str) -> tuple[np.ndarray, np.ndarray]:
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


def _check_alpha(alpha, who: str) -> float:
    alpha = float(alpha)
    if not alpha >= 0 or not np.isfinite(alpha):
        raise ValueError(f"{who}: alpha must be a finite number >= 0, got {alpha!r}")
    return alpha


def _column_means(X: np.ndarray) -> np.ndarray:
    """Column means in float64, a block of columns at a time (no full-size float64 copy)."""
    N, d = X.shape
    out = np.empty(d)
    chunk = max(1, _CHUNK_ELEMENTS // N)
    for a in range(0, d, chunk):
        out[a:a + chunk] = np.asarray(X[:, a:a + chunk], dtype=np.float64).mean(axis=0)
    return out


# ---------------------------------------------------------------------------------------------
# Ridge
# ---------------------------------------------------------------------------------------------
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
    X, y = _check_xy(X, y, who)
    alpha = _check_alpha(alpha, who)
    if solver not in ("auto", "primal", "dual"):
        raise ValueError(f"{who}: solver must be 'auto', 'primal' or 'dual', got {solver!r}")
    N, d = X.shape
    xbar = _column_means(X) if fit_intercept else np.zeros(d)
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
        chunk = max(1, _CHUNK_ELEMENTS // N)
        G = np.zeros((N, N))
        for a in range(0, d, chunk):
            B = np.asarray(X[:, a:a + chunk], dtype=np.float64) - xbar[a:a + chunk]
            G += B @ B.T
        G[np.diag_indices(N)] += alpha
        coef = np.linalg.solve(G, yc)
        w = np.empty(d)
        for a in range(0, d, chunk):
            B = np.asarray(X[:, a:a + chunk], dtype=np.float64) - xbar[a:a + chunk]
            w[a:a + chunk] = B.T @ coef
    return w, ybar - float(xbar @ w)


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
    chunk = max(1, _CHUNK_ELEMENTS // max(N, 1))
    for a in range(0, nz.size, chunk):
        idx = nz[a:a + chunk]
        out += np.asarray(X[:, idx], dtype=np.float64) @ w[idx]
    return out


def alpha_max(X: np.ndarray, y: np.ndarray, fit_intercept: bool = True) -> float:
    """Smallest lasso ``alpha`` with solution ``w = 0``: ``||Xc^T yc||_inf / N``."""
    X, y = _check_xy(X, y, "alpha_max")
    xbar = _column_means(X) if fit_intercept else np.zeros(X.shape[1])
    yc = y - y.mean() if fit_intercept else y
    # Xc^T yc = X^T yc when yc sums to zero; computed blockwise in float64
    N, d = X.shape
    chunk = max(1, _CHUNK_ELEMENTS // N)
    best = 0.0
    for a in range(0, d, chunk):
        B = np.asarray(X[:, a:a + chunk], dtype=np.float64) - xbar[a:a + chunk]
        best = max(best, float(np.max(np.abs(B.T @ yc), initial=0.0)))
    return best / N


# ---------------------------------------------------------------------------------------------
# Lasso kernels: numba and NumPy twins with the same signatures
# ---------------------------------------------------------------------------------------------
@njit
def _column_moments(X, center, xmean, col_sq):
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


def _column_moments_numpy(X, center, xmean, col_sq):
    """NumPy twin of :func:`_column_moments`."""
    N, d = X.shape
    chunk = max(1, _CHUNK_ELEMENTS // N)
    for a in range(0, d, chunk):
        B = np.asarray(X[:, a:a + chunk], dtype=np.float64)
        same = np.all(B == B[0], axis=0)
        m = np.where(same, B[0], B.mean(axis=0)) if center else np.zeros(B.shape[1])
        xmean[a:a + chunk] = m
        col_sq[a:a + chunk] = np.sum((B - m) ** 2, axis=0)


@njit
def _residual(X, xmean, w, y, r):
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


def _residual_numpy(X, xmean, w, y, r):
    """NumPy twin of :func:`_residual`."""
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
def _cd_sweep(X, xmean, col_sq, w, r, threshold):
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


def _cd_sweep_numpy(X, xmean, col_sq, w, r, threshold):
    """NumPy twin of :func:`_cd_sweep` (a Python loop over columns, vector work inside)."""
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
def _dual_gap(X, xmean, w, r, y, alpha):
    """``(gap, primal)`` for the current ``w`` and residual ``r`` (module docstring), y centred."""
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


def _dual_gap_numpy(X, xmean, w, r, y, alpha):
    """NumPy twin of :func:`_dual_gap`."""
    N, d = X.shape
    dual_norm = 0.0
    chunk = max(1, _CHUNK_ELEMENTS // N)
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


_BACKENDS = {
    "numba": (_column_moments, _residual, _cd_sweep, _dual_gap),
    "numpy": (_column_moments_numpy, _residual_numpy, _cd_sweep_numpy, _dual_gap_numpy),
}


# ---------------------------------------------------------------------------------------------
# Lasso driver
# ---------------------------------------------------------------------------------------------
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
    X, y = _check_xy(X, y, who)
    alpha = _check_alpha(alpha, who)
    if int(max_sweeps) != max_sweeps or max_sweeps < 0:
        raise ValueError(f"{who}: max_sweeps must be an integer >= 0, got {max_sweeps!r}")
    if int(check_every) != check_every or check_every < 1:
        raise ValueError(f"{who}: check_every must be an integer >= 1, got {check_every!r}")
    if not tol >= 0:
        raise ValueError(f"{who}: tol must be >= 0, got {tol!r}")
    if backend not in _BACKENDS:
        raise ValueError(f"{who}: backend must be one of {sorted(_BACKENDS)}, got {backend!r}")
    moments, residual, sweep, dual_gap = _BACKENDS[backend]

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
    X, y = _check_xy(X, y, "lasso_working_set")
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
    for a in range(0, X.shape[1], 8192):
        out[a:a + 8192] = r @ np.asarray(X[:, a:a + 8192], np.float64)
    return out


# ---------------------------------------------------------------------------------------------
# Ridge: cross-validated alpha from one Gram matrix
# ---------------------------------------------------------------------------------------------
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
    for a in range(0, X.shape[1], 8192):
        B = np.asarray(X[:, a:a + 8192], dtype=np.float64)
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
