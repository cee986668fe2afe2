r"""Polynomial features and column standardisation (the LR-SGD and LLS baselines of the Boston
experiment).

The features of degree at most ``K`` in ``d`` variables are the :math:`M = \binom{d + K}{K}`
monomials :math:`x^e` with :math:`|e| \le K` (203,490 for ``d = 13``, ``K = 8``), in the graded
order of :mod:`slaf_np.polynomial.monomials` (scikit-learn's ``PolynomialFeatures`` order:
``1, x_1 .. x_d, x_1^2, x_1 x_2, ...``). Column ``m`` is column ``parent(m)`` times one input
column, one multiply per entry (the kernel :func:`slaf_np.kernels.features.fill_features`).

Memory: the output is allocated once (``N * M * itemsize`` bytes: 658 MB for 404 x 203,490 float64,
329 MB in float32) and filled in place; nothing else of that size is created. It is Fortran
(column-major) ordered by default, the layout :func:`slaf_np.polynomial.lasso.lasso_cd` reads
without a copy.

:class:`Standardizer` fits column means and standard deviations on training data and applies them
to any data, optionally in place (no second copy of a 658 MB matrix).
"""

from __future__ import annotations

import numpy as np

from ..kernels.features import fill_features, fill_features_numpy
from .monomials import (
    check_dims,
    count_monomials,
    graded_basis,
    monomial_exponents,
    monomial_parents,
)

__all__ = ["count_monomials", "monomial_exponents", "monomial_parents", "polynomial_features",
           "Standardizer"]

_CHUNK_ELEMENTS = 1 << 22  # entries per temporary block of Standardizer.fit (32 MB in float64)


# ---------------------------------------------------------------------------------------------
# Features
# ---------------------------------------------------------------------------------------------
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
    d, K = check_dims(X.shape[1], K, "polynomial_features")
    _, parent, var = graded_basis(d, K)
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
    return _features(X, K, include_bias, dtype, order, fill_features)


def _polynomial_features_numpy(X: np.ndarray, K: int, include_bias: bool = True, dtype=None,
                               order: str = "F") -> np.ndarray:
    """NumPy twin of :func:`polynomial_features` (same signature and values; for tests)."""
    return _features(X, K, include_bias, dtype, order, fill_features_numpy)


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
