r"""Multivariate polynomials, and the exact polynomial an evaluation-mode SLNN computes.

docs/paper.md claim 3: a network of affine maps and polynomial SLAFs of degrees :math:`k_1 .. k_L`
computes a polynomial of its input of total degree :math:`\le \prod_l k_l` (equal for generic
weights), with up to :math:`\binom{d + K}{K}` coefficients. :func:`expand` computes that polynomial
exactly (up to float64 rounding), :func:`degree_bound` the product of degrees and
:func:`count_monomials` the number of coefficients.

Representation
--------------
A :class:`Polynomial` in ``d`` variables :math:`x_1 .. x_d` is a list of distinct exponent rows
``exponents`` (M, d) int64 and their coefficients ``coefs`` (M,) float64,

.. math:: p(x) = \sum_{m=1}^{M} c_m\, x^{e_m}, \qquad x^{e} = x_1^{e_1} \cdots x_d^{e_d},

kept in *graded order*: by total degree, then by decreasing lexicographic order of the exponents
(``1, x_1, x_2, x_1^2, x_1 x_2, x_2^2, ...``; the order of scikit-learn's ``PolynomialFeatures``
and of :mod:`slaf_np.polynomial.features`, enumerated by :mod:`slaf_np.polynomial.monomials`).
Exact zeros are dropped after every operation, so ``n_terms`` counts the non-zero coefficients;
tiny non-zero values that rounding leaves behind are kept (drop them with
:meth:`Polynomial.prune`). The zero polynomial has no terms and degree -1. Polynomials are
immutable.

Algorithms
----------
In :mod:`slaf_np.polynomial.arithmetic`, with the loops in :mod:`slaf_np.kernels.polynomial`:

* Product: coefficient ``a_i b_j`` goes to ``rank(e_i + e_j)`` (closed form, numba), summed in a
  dense vector of the result's ``C(d + K, K)`` entries when that is not much larger than the
  number of pairs, by sorting the ranks otherwise.
* Evaluation: the monomials are closed under *parents* (drop one unit of the last variable
  present); each monomial's value is its parent's times one variable, one multiply per monomial
  and sample.
* Substitution :math:`p(q_1(x), .., q_d(x))` (:meth:`Polynomial.compose`,
  :meth:`Polynomial.affine`): Horner's scheme on the parent tree, one degree level at a time, on
  dense graded vectors.

:func:`expand` pushes the network's input through the layers as a matrix of dense graded vectors
(one row per feature, per-sample tensors flattened in C order): a Dense layer is a matrix product
of that matrix, BatchNorm and average pooling are linear maps of rows, a SLAF applies its
univariate polynomial to each row by Horner's scheme with batched row products.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np

from ..kernels.polynomial import binomial_table
from . import arithmetic
from .monomials import canonical, count_monomials, exponents_of, locate, ranks_of

__all__ = ["Polynomial", "PolynomialVector", "count_monomials"]


def _as_points(X, d: int, where: str) -> tuple[np.ndarray, bool]:
    X = np.asarray(X, dtype=np.float64)
    single = X.ndim == 1
    if single:
        X = X[None, :]
    if X.ndim != 2 or X.shape[1] != d:
        raise ValueError(f"{where}: expected points of shape (N, {d}) or ({d},), got {X.shape}")
    return np.ascontiguousarray(X), single


# ---------------------------------------------------------------------------------------------
# Polynomial
# ---------------------------------------------------------------------------------------------
def _fmt(x: float, precision: int, latex: bool) -> str:
    s = f"{x:.{precision}g}"
    if latex and "e" in s:
        mant, ex = s.split("e")
        s = f"{mant} \\cdot 10^{{{int(ex)}}}"
    return s


def _monomial_str(e: np.ndarray, latex: bool) -> str:
    parts = []
    for v in np.flatnonzero(e):
        name = f"x_{{{v + 1}}}" if latex else f"x_{v + 1}"
        if e[v] > 1:
            name += f"^{{{e[v]}}}" if latex else f"^{e[v]}"
        parts.append(name)
    return " ".join(parts)


class Polynomial:
    r"""A polynomial :math:`\sum_m c_m x^{e_m}` in ``d`` variables with float64 coefficients.

    Parameters
    ----------
    exponents : array-like of int, shape (M, d)
        Non-negative exponent rows; repeated rows are added up, and the terms are sorted into
        graded order (module docstring).
    coefs : array-like of float, shape (M,)
    n_vars : int, optional
        ``d``; needed only when ``exponents`` is empty and has no second axis.

    Notes
    -----
    Supports ``+``, ``-``, ``*`` (with polynomials of the same ``d`` and with numbers), ``/``
    by a number, ``**`` with a non-negative int (repeated squaring) and ``p(X)`` for X (N, d).
    Variables are ``x_1 .. x_d`` in text and indexed from 0 in the API (``variable(0, d)`` is
    ``x_1``). ``==`` compares exponents and coefficients exactly; see :meth:`allclose`.

    Examples
    --------
    >>> p = Polynomial([[0, 0], [1, 0], [1, 2]], [1.5, 2.0, -0.3])
    >>> print(p)
    1.5 + 2 x_1 - 0.3 x_1 x_2^2
    >>> p.degree, p.n_terms, float(p([1.0, 2.0]))
    (3, 3, 2.3)
    """

    __array_ufunc__ = None  # numpy values defer to our operators (2.0 * p, p * np.float64)

    def __init__(self, exponents, coefs, n_vars: int | None = None) -> None:
        E = np.asarray(exponents)
        c = np.asarray(coefs, dtype=np.float64).reshape(-1)
        if E.size == 0 and E.ndim < 2:
            if n_vars is None:
                raise ValueError("Polynomial: pass n_vars for an empty exponent list")
            E = np.zeros((0, int(n_vars)), dtype=np.int64)
        if E.ndim != 2 or E.shape[0] != c.shape[0]:
            raise ValueError(f"Polynomial: expected exponents (M, d) and coefs (M,), got shapes "
                             f"{E.shape} and {c.shape}")
        if n_vars is not None and E.shape[1] != n_vars:
            raise ValueError(f"Polynomial: n_vars={n_vars} but exponents have {E.shape[1]} columns")
        if E.size and (E.min() < 0 or not np.all(E == np.round(E))):
            raise ValueError("Polynomial: exponents must be non-negative integers")
        E, c = canonical(E.astype(np.int64), c)
        self._set(E, c)

    def _set(self, E: np.ndarray, c: np.ndarray) -> None:
        E.setflags(write=False)
        c.setflags(write=False)
        self._E, self._c, self._d, self._plan_cache = E, c, E.shape[1], None

    @classmethod
    def _make(cls, E: np.ndarray, c: np.ndarray) -> Polynomial:
        """From canonical rows (graded order, distinct, no zeros): no checks."""
        p = cls.__new__(cls)
        p._set(np.ascontiguousarray(E, dtype=np.int64), np.ascontiguousarray(c, np.float64))
        return p

    # -- constructors -------------------------------------------------------------------------
    @classmethod
    def zero(cls, d: int) -> Polynomial:
        return cls._make(np.zeros((0, d), np.int64), np.zeros(0))

    @classmethod
    def constant(cls, value: float, d: int) -> Polynomial:
        return cls(np.zeros((1, d), np.int64), [value])

    @classmethod
    def variable(cls, i: int, d: int) -> Polynomial:
        """The polynomial ``x_{i+1}`` (``i`` is 0-based) in ``d`` variables."""
        if not 0 <= i < d:
            raise ValueError(f"Polynomial.variable: index {i} out of range for d={d}")
        return cls(np.eye(d, dtype=np.int64)[i:i + 1], [1.0])

    @classmethod
    def linear(cls, w, b: float = 0.0) -> Polynomial:
        """``b + sum_i w[i] x_{i+1}``."""
        w = np.asarray(w, dtype=np.float64).reshape(-1)
        return cls(np.vstack([np.zeros((1, len(w)), np.int64), np.eye(len(w), dtype=np.int64)]),
                   np.r_[b, w])

    @classmethod
    def from_dict(cls, terms: dict, d: int | None = None) -> Polynomial:
        """From ``{exponent tuple: coefficient}``."""
        if d is None:
            if not terms:
                raise ValueError("Polynomial.from_dict: pass d for an empty dict")
            d = len(next(iter(terms)))
        E = np.array(list(terms), dtype=np.int64).reshape(-1, d)
        return cls(E, list(terms.values()), n_vars=d)

    @classmethod
    def from_dense(cls, coefs, d: int) -> Polynomial:
        """From a dense graded vector: entry ``r`` is the coefficient of the monomial of rank r."""
        v = np.asarray(coefs, dtype=np.float64).reshape(-1)
        K = 0
        while math.comb(d + K, K) < len(v):
            K += 1
        if math.comb(d + K, K) != len(v):
            raise ValueError(f"Polynomial.from_dense: length {len(v)} is not C(d + K, K) for "
                             f"d={d}")
        nz = np.flatnonzero(v)
        return cls._make(exponents_of(nz, d, binomial_table(d, K)), v[nz])

    # -- description --------------------------------------------------------------------------
    @property
    def exponents(self) -> np.ndarray:
        """(M, d) int64, read-only, graded order."""
        return self._E

    @property
    def coefs(self) -> np.ndarray:
        """(M,) float64, read-only, aligned with :attr:`exponents`."""
        return self._c

    @property
    def d(self) -> int:
        """Number of variables."""
        return self._d

    n_vars = d

    @property
    def n_terms(self) -> int:
        """Number of stored (non-zero) terms."""
        return len(self._c)

    @property
    def degree(self) -> int:
        """Total degree (-1 for the zero polynomial)."""
        return int(self._E[-1].sum()) if len(self._c) else -1

    def coef_of(self, exponent) -> float:
        """Coefficient of ``x^exponent`` (0.0 when absent)."""
        e = np.asarray(exponent, dtype=np.int64).reshape(-1)
        if e.shape != (self._d,):
            raise ValueError(f"coef_of: expected an exponent of length {self._d}, got {e.shape}")
        hit = np.flatnonzero((self._E == e).all(axis=1))
        return float(self._c[hit[0]]) if len(hit) else 0.0

    def to_dict(self) -> dict:
        """``{exponent tuple: coefficient}`` in graded order."""
        return {tuple(int(v) for v in e): float(c) for e, c in zip(self._E, self._c, strict=True)}

    def to_dense(self, K: int | None = None) -> np.ndarray:
        """Dense graded vector of length ``C(d + K, K)`` (``K`` defaults to the degree)."""
        K = max(self.degree, 0) if K is None else int(K)
        if K < self.degree:
            raise ValueError(f"to_dense: K={K} is below the degree {self.degree}")
        v = np.zeros(math.comb(self._d + K, K))
        v[ranks_of(self._E, binomial_table(self._d, K))] = self._c
        return v

    # -- arithmetic ---------------------------------------------------------------------------
    def _coerce(self, other) -> Polynomial | None:
        if isinstance(other, Polynomial):
            if other._d != self._d:
                raise ValueError(f"Polynomial: cannot combine polynomials in {self._d} and "
                                 f"{other._d} variables")
            return other
        if isinstance(other, numbers.Real) or (isinstance(other, np.ndarray) and other.ndim == 0):
            return Polynomial.constant(float(other), self._d)
        return None

    def __add__(self, other) -> Polynomial:
        q = self._coerce(other)
        if q is None:
            return NotImplemented
        return Polynomial(np.concatenate([self._E, q._E]), np.concatenate([self._c, q._c]))

    __radd__ = __add__

    def __neg__(self) -> Polynomial:
        return Polynomial._make(self._E, -self._c)

    def __pos__(self) -> Polynomial:
        return self

    def __sub__(self, other) -> Polynomial:
        q = self._coerce(other)
        return NotImplemented if q is None else self + (-q)

    def __rsub__(self, other) -> Polynomial:
        q = self._coerce(other)
        return NotImplemented if q is None else q + (-self)

    def __mul__(self, other) -> Polynomial:
        if isinstance(other, numbers.Real) or (isinstance(other, np.ndarray) and other.ndim == 0):
            c = self._c * float(other)
            keep = c != 0
            return Polynomial._make(self._E[keep], c[keep])
        q = self._coerce(other)
        if q is None:
            return NotImplemented
        return Polynomial._make(*arithmetic.multiply(self._E, self._c, q._E, q._c))

    __rmul__ = __mul__

    def __truediv__(self, other) -> Polynomial:
        if isinstance(other, numbers.Real):
            return self * (1.0 / float(other))
        return NotImplemented

    def __pow__(self, n: int) -> Polynomial:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"Polynomial: the power must be an integer >= 0, got {n!r}")
        result, base = Polynomial.constant(1.0, self._d), self
        while n:
            if n & 1:
                result = result * base
            n >>= 1
            if n:
                base = base * base
        return result

    def __eq__(self, other) -> bool:
        if not isinstance(other, Polynomial):
            return NotImplemented
        return (self._d == other._d and self._E.shape == other._E.shape
                and bool((self._E == other._E).all()) and bool((self._c == other._c).all()))

    __hash__ = None  # type: ignore[assignment]

    def allclose(self, other: Polynomial, rtol: float = 1e-12, atol: float = 0.0) -> bool:
        """Whether every coefficient of ``self - other`` is within ``atol + rtol * scale``,
        ``scale`` the largest absolute coefficient of either."""
        diff = self - other
        scale = max(np.abs(self._c).max(initial=0.0), np.abs(other._c).max(initial=0.0))
        return bool((np.abs(diff._c) <= atol + rtol * scale).all())

    def prune(self, tol: float) -> Polynomial:
        """Drop the terms with ``|c| <= tol``."""
        keep = np.abs(self._c) > tol
        return Polynomial._make(self._E[keep], self._c[keep])

    def derivative(self, var: int) -> Polynomial:
        """Partial derivative with respect to ``x_{var+1}`` (``var`` 0-based)."""
        if not 0 <= var < self._d:
            raise ValueError(f"derivative: variable {var} out of range for d={self._d}")
        has = self._E[:, var] > 0
        E = self._E[has].copy()
        c = self._c[has] * E[:, var]
        E[:, var] -= 1
        return Polynomial(E, c)

    # -- evaluation and substitution ----------------------------------------------------------
    def _get_plan(self) -> arithmetic.Plan:
        if self._plan_cache is None:
            self._plan_cache = arithmetic.evaluation_plan(self._E)
        return self._plan_cache

    def __call__(self, X) -> np.ndarray | float:
        """Values at the points ``X`` (N, d) -> (N,); a single point (d,) gives a float."""
        X, single = _as_points(X, self._d, "Polynomial")
        if not len(self._c):
            y = np.zeros(X.shape[0])
        else:
            y = arithmetic.evaluate_plan(self._get_plan(), self._c[:, None], X)[:, 0]
        return float(y[0]) if single else y

    evaluate = __call__

    def compose(self, polys: Sequence[Polynomial]) -> Polynomial:
        """``p(q_1(x), .., q_d(x))`` for ``d`` polynomials ``q_v`` in a common number of variables.

        Uses dense graded vectors of degree ``deg p * max deg q_v``; suited to dense results.
        """
        if len(polys) != self._d:
            raise ValueError(f"compose: expected {self._d} polynomials, got {len(polys)}")
        n = polys[0].d
        if any(q.d != n for q in polys):
            raise ValueError("compose: the substituted polynomials must share d")
        Kq = max(max(q.degree for q in polys), 0)
        Q = np.stack([q.to_dense(Kq) for q in polys])
        return self._compose_rows(Q, Kq, n)

    def _compose_rows(self, Q: np.ndarray, Kq: int, n: int) -> Polynomial:
        if not len(self._c):
            return Polynomial.zero(n)
        v = arithmetic.compose_dense(self._get_plan(), self._c, Q, Kq, n)
        return Polynomial.from_dense(v, n)

    def affine(self, A, c=None) -> Polynomial:
        """``q(x) = p(x A + c)``: substitute affine forms for the variables (a Dense layer).

        Parameters
        ----------
        A : (n, d) array: column ``v`` holds the weights of the form replacing ``x_{v+1}``.
        c : (d,) array or None: the offsets.

        Returns
        -------
        Polynomial in ``n`` variables of degree ``<= self.degree``.
        """
        A = np.atleast_2d(np.asarray(A, dtype=np.float64))
        if A.shape[1] != self._d:
            raise ValueError(f"affine: A must have shape (n, {self._d}), got {A.shape}")
        c = np.zeros(self._d) if c is None else np.asarray(c, dtype=np.float64).reshape(-1)
        Q = np.concatenate([c[:, None], A.T], axis=1)            # dense degree-1 rows
        return self._compose_rows(np.ascontiguousarray(Q), 1, A.shape[0])

    def apply(self, a) -> Polynomial:
        """``sum_j a[j] p^j``: the univariate polynomial with ascending coefficients ``a`` applied
        to ``p`` (Horner's scheme)."""
        a = np.asarray(a, dtype=np.float64).reshape(-1)
        out = Polynomial.zero(self._d)
        for aj in a[::-1]:
            out = out * self + aj
        return out

    # -- text ---------------------------------------------------------------------------------
    def to_string(self, precision: int = 6, max_terms: int | None = None,
                  latex: bool = False) -> str:
        """Terms in graded order, e.g. ``1.5 + 2 x_1 - 0.3 x_1 x_2^2``; at most ``max_terms``."""
        if not len(self._c):
            return "0"
        n = len(self._c) if max_terms is None else min(max_terms, len(self._c))
        out = []
        for i in range(n):
            c, mono = self._c[i], _monomial_str(self._E[i], latex)
            num = _fmt(abs(c), precision, latex)
            body = mono if (mono and num == "1") else f"{num} {mono}" if mono else num
            sign = ("-" if c < 0 else "") if i == 0 else (" - " if c < 0 else " + ")
            out.append(sign + body)
        if n < len(self._c):
            out.append(" + \\dots" if latex else f" + ... ({len(self._c) - n} more terms)")
        return "".join(out)

    def to_latex(self, precision: int = 6, max_terms: int | None = 20) -> str:
        """LaTeX source, e.g. ``1.5 + 2 x_{1} - 0.3 x_{1} x_{2}^{2}``."""
        return self.to_string(precision, max_terms, latex=True)

    def __str__(self) -> str:
        return self.to_string(max_terms=20)

    def __repr__(self) -> str:
        if len(self._c) <= 8:
            return f"Polynomial('{self.to_string()}', d={self._d})"
        return f"Polynomial(d={self._d}, degree={self.degree}, n_terms={self.n_terms})"


# ---------------------------------------------------------------------------------------------
# PolynomialVector
# ---------------------------------------------------------------------------------------------
class PolynomialVector:
    """Several polynomials in the same ``d`` variables on one shared list of monomials.

    ``exponents`` (M, d) in graded order holds every monomial with a non-zero coefficient in at
    least one output, ``coefs`` (F, M) the coefficients; ``shape`` is the per-sample output shape
    (``(F,)`` for a flat output). Calling it on X (N, d) returns (N, *shape), all outputs in one
    evaluation pass. ``n_terms`` is M (distinct monomials), ``nnz`` the non-zero coefficients,
    ``degree`` the largest degree, ``v[i]`` output i as a :class:`Polynomial`.
    """

    def __init__(self, polys: Sequence[Polynomial], shape: tuple | None = None) -> None:
        polys = list(polys)
        if not polys:
            raise ValueError("PolynomialVector: needs at least one polynomial")
        d = polys[0].d
        if any(p.d != d for p in polys):
            raise ValueError("PolynomialVector: the polynomials must share d")
        E = np.concatenate([p.exponents for p in polys])
        E, _ = canonical(E, np.ones(len(E)))
        C = np.zeros((len(polys), len(E)))
        for f, p in enumerate(polys):
            if p.n_terms:
                C[f, locate(E, p.exponents)] = p.coefs
        self._set(E, C, shape)

    def _set(self, E, C, shape) -> None:
        shape = (C.shape[0],) if shape is None else tuple(int(s) for s in shape)
        if math.prod(shape) != C.shape[0]:
            raise ValueError(f"PolynomialVector: shape {shape} does not hold {C.shape[0]} outputs")
        E.setflags(write=False)
        C.setflags(write=False)
        self._E, self._C, self.shape, self._plan_cache = E, C, shape, None

    @classmethod
    def _make(cls, E: np.ndarray, C: np.ndarray, shape=None) -> PolynomialVector:
        keep = (C != 0).any(axis=0)
        v = cls.__new__(cls)
        v._set(np.ascontiguousarray(E[keep]), np.ascontiguousarray(C[:, keep]), shape)
        return v

    @property
    def exponents(self) -> np.ndarray:
        return self._E

    @property
    def coefs(self) -> np.ndarray:
        return self._C

    @property
    def d(self) -> int:
        return self._E.shape[1]

    n_vars = d

    @property
    def n_outputs(self) -> int:
        return self._C.shape[0]

    @property
    def n_terms(self) -> int:
        return len(self._E)

    @property
    def nnz(self) -> int:
        return int(np.count_nonzero(self._C))

    @property
    def degree(self) -> int:
        return int(self._E[-1].sum()) if len(self._E) else -1

    def __len__(self) -> int:
        return self.n_outputs

    def __getitem__(self, i: int) -> Polynomial:
        c = self._C[i]
        keep = c != 0
        return Polynomial._make(self._E[keep], c[keep])

    def __iter__(self):
        return (self[i] for i in range(self.n_outputs))

    def __call__(self, X) -> np.ndarray:
        X, single = _as_points(X, self.d, "PolynomialVector")
        if not len(self._E):
            y = np.zeros((X.shape[0], self.n_outputs))
        else:
            if self._plan_cache is None:
                self._plan_cache = arithmetic.evaluation_plan(self._E)
            y = arithmetic.evaluate_plan(self._plan_cache, np.ascontiguousarray(self._C.T), X)
        y = y.reshape((X.shape[0], *self.shape))
        return y[0] if single else y

    def __str__(self) -> str:
        """One line per output, each as :class:`Polynomial` prints (at most 20 terms)."""
        return "\n".join(f"[{i}] {p}" for i, p in enumerate(self))

    def __repr__(self) -> str:
        if self.n_outputs <= 4 and all(len(p.coefs) <= 8 for p in self):
            inner = ", ".join(f"'{p.to_string()}'" for p in self)
            return f"PolynomialVector([{inner}], shape={self.shape}, d={self.d})"
        return (f"PolynomialVector(shape={self.shape}, d={self.d}, degree={self.degree}, "
                f"n_terms={self.n_terms})")
