r"""Polynomial features and column standardisation (the LR-SGD and LLS baselines of PAPER.md s. 4).

Monomials and their order
-------------------------
The features of degree at most ``K`` in ``d`` variables are the monomials

.. math:: x^e = x_1^{e_1} x_2^{e_2} \cdots x_d^{e_d}, \qquad |e| = e_1 + \dots + e_d \le K,

and there are :math:`M = \binom{d + K}{K}` of them (203,490 for ``d = 13``, ``K = 8``). They come in
graded order, the order of scikit-learn's ``PolynomialFeatures``: degree 0 (the constant), then the
degree-1 monomials ``x_1 .. x_d``, then, for each degree ``g``, the multisets of ``g`` variables
``i_1 <= ... <= i_g`` in the order of ``itertools.combinations_with_replacement(range(d), g)``.

The parent table
----------------
Every monomial of degree ``g >= 1`` is its *parent* (drop the last variable ``i_g`` of the
multiset, a monomial of degree ``g - 1``) times ``x_{i_g}``. Taking the children of each parent in
graded order (parent ``i_1..i_{g-1}`` gets ``x_j`` for ``j = i_{g-1} .. d-1``) lists degree ``g``
exactly in the lexicographic order above, so the table is built degree by degree with vectorised
``repeat``s, and a column of features costs one multiply per entry:

.. math:: \Phi_{:, m} = \Phi_{:, \mathrm{parent}(m)} \odot X_{:, \mathrm{var}(m)}.

Memory: the output is allocated once (``N * M * itemsize`` bytes: 658 MB for 404 x 203,490 float64,
329 MB in float32) and filled in place; nothing else of that size is created. It is Fortran
(column-major) ordered by default, the layout :func:`slaf_np.polynomial.linear.lasso_cd` reads without a copy.

:class:`Standardizer` fits column means and standard deviations on training data and applies them
to any data, optionally in place (no second copy of a 658 MB matrix).
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ..kernels._jit import njit

__all__ = ["count_monomials", "monomial_exponents", "monomial_parents", "polynomial_features",
           "Standardizer"]

_CHUNK_ELEMENTS = 1 << 22  # entries per temporary block in the NumPy paths (32 MB in float64)


# ---------------------------------------------------------------------------------------------
# Monomials
# ---------------------------------------------------------------------------------------------
def _check_dK(d: int, K: int) -> tuple[int, int]:
    if int(d) != d or d < 1:
        raise ValueError(f"monomials: the number of variables d must be an integer >= 1, got {d!r}")
    if int(K) != K or K < 0:
        raise ValueError(f"monomials: the degree K must be an integer >= 0, got {K!r}")
    return int(d), int(K)


def count_monomials(d: int, K: int) -> int:
    """Number of monomials of total degree ``<= K`` in ``d`` variables: ``C(d + K, K)``."""
    d, K = _check_dK(d, K)
    return math.comb(d + K, K)


@functools.lru_cache(maxsize=16)
def _monomial_tree(d: int, K: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(exponents (M, d), parent (M,), var (M,)), read-only, built degree by degree (module doc)."""
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
    """All exponent vectors of total degree ``<= K`` in graded order (see the module docstring).

    Parameters
    ----------
    d : int
        Number of variables, >= 1.
    K : int
        Largest total degree, >= 0.

    Returns
    -------
    exponents : ndarray of int64, shape (M, d)
        Row ``m`` holds the exponents of monomial ``m``; ``M = C(d + K, K)``. Row 0 is the constant.
    """
    d, K = _check_dK(d, K)
    return _monomial_tree(d, K)[0].copy()


def monomial_parents(d: int, K: int) -> tuple[np.ndarray, np.ndarray]:
    """The parent table: monomial ``m >= 1`` equals monomial ``parent[m]`` times ``x_{var[m]}``.

    Returns
    -------
    parent, var : ndarray of int64, shape (M,)
        ``parent[m] < m`` has degree one less than ``m``; ``var[m]`` is the 0-based variable index.
        Entry 0 (the constant) is ``-1`` in both.
    """
    d, K = _check_dK(d, K)
    _, parent, var = _monomial_tree(d, K)
    return parent.copy(), var.copy()


# ---------------------------------------------------------------------------------------------
# Feature kernels: numba and its NumPy twin (same signature, same values bit for bit)
# ---------------------------------------------------------------------------------------------
@njit
def _fill_features(X, parent, var, skip, by_column, out):
    """Fill ``out`` (N, M - skip) with the monomials of ``X`` (N, d) given the parent table.

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


def _fill_features_numpy(X, parent, var, skip, by_column, out):
    """NumPy twin of :func:`_fill_features`: vectorised column products, block by block.

    A block of consecutive monomials can be computed at once when all its parents come before it
    (true inside one degree); blocks are capped so the temporaries stay small. ``by_column`` is
    accepted for the common signature and has no effect.
    """
    N = X.shape[0]
    M = parent.shape[0]
    if skip == 0:
        out[:, 0] = 1.0
    chunk = max(1, _CHUNK_ELEMENTS // max(N, 1))
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


def _features(X, K, include_bias, dtype, order, fill) -> np.ndarray:
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"polynomial_features: X must be 2-D (N, d), got shape {X.shape}")
    if dtype is None:
        dtype = X.dtype if X.dtype in (np.float32, np.float64) else np.float64
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"polynomial_features: dtype must be float32 or float64, got {dtype}")
    if order not in ("C", "F"):
        raise ValueError(f"polynomial_features: order must be 'C' or 'F', got {order!r}")
    if not np.all(np.isfinite(X)):
        raise ValueError("polynomial_features: X holds NaN or inf")
    d, K = _check_dK(X.shape[1], K)
    _, parent, var = _monomial_tree(d, K)
    skip = 0 if include_bias else 1
    N = X.shape[0]
    out = np.empty((N, parent.shape[0] - skip), dtype=dtype, order=order)
    by_column = order == "F"
    Xw = np.asfortranarray(X, dtype=dtype) if by_column else np.ascontiguousarray(X, dtype=dtype)
    fill(Xw, parent, var, skip, by_column, out)
    return out


def polynomial_features(X: np.ndarray, K: int, include_bias: bool = True, dtype=None,
                        order: str = "F") -> np.ndarray:
    """All monomials of degree ``<= K`` of the columns of ``X``, one multiply per entry (numba).

    Parameters
    ----------
    X : ndarray, shape (N, d)
        Inputs (finite). Integer input gives float64 features.
    K : int
        Largest total degree, >= 0.
    include_bias : bool
        Keep the constant column (column 0). Without it the output has ``M - 1`` columns.
    dtype : float32 or float64, optional
        Output type; default: the type of ``X`` when it is a float type, else float64. Products are
        taken in this type (float32 halves the memory; degree-8 products of standardised inputs
        stay far from float32 overflow, raw inputs may not).
    order : {"F", "C"}
        Memory layout of the result. "F" (column-major, the default) is what coordinate descent
        reads without a copy.

    Returns
    -------
    Phi : ndarray, shape (N, M) or (N, M - 1)
        ``Phi[:, m] = prod_j X[:, j] ** e[m, j]`` with ``e = monomial_exponents(d, K)``;
        ``M = C(d + K, K)``. Overflowing products are not checked (they become inf).
    """
    return _features(X, K, include_bias, dtype, order, _fill_features)


def _polynomial_features_numpy(X: np.ndarray, K: int, include_bias: bool = True, dtype=None,
                               order: str = "F") -> np.ndarray:
    """NumPy twin of :func:`polynomial_features` (same signature and values; for tests)."""
    return _features(X, K, include_bias, dtype, order, _fill_features_numpy)


# ---------------------------------------------------------------------------------------------
# Standardisation
# ---------------------------------------------------------------------------------------------
class Standardizer:
    r"""Per-column standardisation ``z = (x - mean) / std`` fitted on training data.

    ``std`` is the biased (``ddof = 0``) standard deviation, computed in float64 two passes per
    block of columns (no full-size temporary). A column is *constant* when
    ``std <= rtol * |mean|`` (this includes ``std == 0``): constant columns (the bias column of
    polynomial features, a feature that never varies on the training set) are left untouched, i.e.
    given ``mean = 0`` and ``std = 1``; this is the guard against dividing by zero.

    Parameters
    ----------
    rtol : float
        Relative threshold for "constant" (default 1e-10: well above the rounding of a mean of
        identical values, far below any real spread).

    Attributes
    ----------
    mean_, scale_ : ndarray of float64, shape (D,)
        What :meth:`transform` subtracts and divides by (0 and 1 on constant columns).
    constant_ : ndarray of bool, shape (D,)
    """

    def __init__(self, rtol: float = 1e-10) -> None:
        if not rtol >= 0:
            raise ValueError(f"Standardizer: rtol must be >= 0, got {rtol!r}")
        self.rtol = float(rtol)
        self.mean_: np.ndarray | None = None
        self.scale_: np.ndarray | None = None
        self.constant_: np.ndarray | None = None

    def fit(self, X: np.ndarray) -> Standardizer:
        """Column means and standard deviations of ``X`` (N, D), N >= 1."""
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[0] < 1:
            raise ValueError(f"Standardizer.fit: X must be 2-D with at least one row, got shape "
                             f"{X.shape}")
        N, D = X.shape
        mean = np.empty(D)
        std = np.empty(D)
        chunk = max(1, _CHUNK_ELEMENTS // N)
        for a in range(0, D, chunk):
            block = np.asarray(X[:, a:a + chunk], dtype=np.float64)
            with np.errstate(invalid="ignore", over="ignore"):  # NaN/inf reported below
                mu = block.mean(axis=0)
                mean[a:a + chunk] = mu
                std[a:a + chunk] = np.sqrt(np.mean((block - mu) ** 2, axis=0))
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(std))):
            bad = int(np.flatnonzero(~(np.isfinite(mean) & np.isfinite(std)))[0])
            raise ValueError(f"Standardizer.fit: column {bad} holds NaN or inf (or overflows)")
        constant = std <= self.rtol * np.abs(mean)
        self.constant_ = constant
        self.mean_ = np.where(constant, 0.0, mean)
        self.scale_ = np.where(constant, 1.0, std)
        return self

    def _check(self, X: np.ndarray, what: str) -> np.ndarray:
        if self.mean_ is None:
            raise RuntimeError(f"Standardizer.{what}: call fit first")
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.mean_.shape[0]:
            raise ValueError(f"Standardizer.{what}: expected shape (N, {self.mean_.shape[0]}), got "
                             f"{X.shape}")
        return X

    @staticmethod
    def _target(X: np.ndarray, inplace: bool, what: str) -> np.ndarray:
        if inplace:
            if X.dtype not in (np.float32, np.float64) or not X.flags.writeable:
                raise ValueError(f"Standardizer.{what}: inplace needs a writable float32/float64 "
                                 f"array, got {X.dtype} (writeable={X.flags.writeable})")
            return X
        dtype = X.dtype if X.dtype in (np.float32, np.float64) else np.float64
        return np.empty_like(X, dtype=dtype)  # keeps the C/F layout of X

    def transform(self, X: np.ndarray, inplace: bool = False) -> np.ndarray:
        """``(X - mean_) / scale_``; with ``inplace=True`` ``X`` itself is overwritten and returned.

        The arithmetic runs in the dtype of ``X`` (float32 stays float32); no temporary of the
        size of ``X`` is made.
        """
        X = self._check(X, "transform")
        out = self._target(X, inplace, "transform")
        np.subtract(X, self.mean_.astype(out.dtype), out=out)
        np.divide(out, self.scale_.astype(out.dtype), out=out)
        return out

    def fit_transform(self, X: np.ndarray, inplace: bool = False) -> np.ndarray:
        """:meth:`fit` then :meth:`transform`."""
        return self.fit(X).transform(X, inplace=inplace)

    def inverse_transform(self, Z: np.ndarray, inplace: bool = False) -> np.ndarray:
        """``Z * scale_ + mean_`` (the inverse of :meth:`transform`)."""
        Z = self._check(Z, "inverse_transform")
        out = self._target(Z, inplace, "inverse_transform")
        np.multiply(Z, self.scale_.astype(out.dtype), out=out)
        np.add(out, self.mean_.astype(out.dtype), out=out)
        return out
