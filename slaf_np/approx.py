r"""Fitting SLAF polynomials to standard activations (RQ1); the SLAF parameters that realise a fit.

Claim 1 of the paper (docs/paper.md) is that a polynomial SLAF :math:`c_0 + \sum_{i=1}^{k} c_i g_i`
can approximate the usual activations; claim 2 (universality) replaces every activation of a
network by such a polynomial on the range its pre-activations take. This module makes both
concrete, with numbers only (it builds no layer; :meth:`slaf_np.nn.slaf.SLAF.fit_to` and
:meth:`~slaf_np.nn.slaf.SLAF.from_fit` turn its results into layers):

* :data:`ACTIVATIONS`: the target activations, accurate and overflow-free, with their Lipschitz
  constants: the one table of their formulas (``SLAF(init="relu")`` and the experiments read it).
* :func:`fit_activation`: the degree-``k`` least-squares fit on an interval, with its sup and
  :math:`L^2` errors and the condition number of the problem (:class:`FitResult`).
* :func:`fit_standard_normal`: the fit of a SLAF to a target on standard-normal inputs, what
  ``SLAF(..., init="relu")`` (or any other name of :data:`ACTIVATIONS`) uses.
* :func:`jackson_bound`: the classical a-priori bound for Lipschitz targets.
* :func:`fit_features`: one fit per feature, each on its own interval.
* :func:`layer_coefficients` / :func:`slaf_parameters`: the coefficients, bias and running
  statistics with which an evaluation-mode SLAF computes given polynomials exactly.

How the fit is done (and why)
    The interval :math:`[lo, hi]` is mapped onto :math:`[-1, 1]` by :math:`t = s (x - m) / h`
    (centre :math:`m`, half-width :math:`h`, :math:`s = 1`) and the basis is evaluated at
    :math:`t`, for every basis including ``power``: the fitted function does not depend on the basis
    (all span the polynomials of degree :math:`\le k`), only the conditioning does, and the
    monomials of a raw :math:`x \in [-5, 5]` would mix column scales of :math:`5^{16}`. The
    ``hermite`` basis (probabilists' :math:`He_i`, made for N(0, 1) inputs) uses :math:`s = 3`: the
    interval is read as :math:`\pm 3` standard deviations of a standardised input. (The scale that
    gives the uniform distribution on the interval unit variance, :math:`s = \sqrt 3`, is much
    worse: the column-scaled condition number at k = 16 is 2.5e9 against 6.7e5 for s = 3, and the
    float32 evaluation loses about 2 digits.) ``raw=True`` evaluates the basis at :math:`x` itself
    (what a SLAF with ``normalize=False`` sees) to expose the conditioning of raw bases.

    The fit is linear least squares at ``n_points`` Chebyshev nodes (default :math:`20k + 200`),
    i.e. the discrete Chebyshev-weighted :math:`L^2` projection, which is within a factor
    :math:`O(\log k)` of the best uniform (minimax) approximation; ``method="l2"`` instead uses
    composite Gauss-Legendre nodes and weights (the continuous, uniform-weight :math:`L^2`
    projection). The columns of the design matrix are scaled to unit norm (as ``numpy.polyfit``
    does) and the system is solved by ``numpy.linalg.lstsq`` (SVD); the reported condition number
    is that of the column-scaled matrix.

Errors are measured in float64 against the exact target: sup error on a uniform grid of 20,001
points (plus any kink of the target), RMS error :math:`\sqrt{\frac{1}{hi-lo}\int (f-p)^2}` by
composite Gauss-Legendre quadrature with the kinks as panel edges (exact to rounding on each smooth
piece), and the sup error of the same expansion evaluated in float32, as a float32 SLAF would.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from . import bases

__all__ = ["Activation", "ACTIVATIONS", "sigmoid", "FitResult", "fit_activation", "jackson_bound",
           "NormalFit", "fit_standard_normal", "fit_features", "layer_coefficients",
           "SLAFParameters",
           "slaf_parameters", "BERNSTEIN_CONSTANT"]

#: :math:`\lim_{n\to\infty} n\,E_n(|x|)` on [-1, 1] over even n (Bernstein 1914; Varga-Carpenter).
BERNSTEIN_CONSTANT = 0.2801694990238691
SUP_GRID = 20_001
HERMITE_SCALE = 3.0


# ------------------------------------------------------------------------------ the targets

def sigmoid(z: np.ndarray) -> np.ndarray:
    """Logistic function ``1 / (1 + e^-z)`` in ``z``'s float dtype, stable for large ``|z|``: it
    only takes ``exp`` of ``-|z|``, which never overflows (the Sigmoid, SiLU and gate code of
    :mod:`slaf_np.nn` use it too)."""
    z = np.asarray(z)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(z.dtype, copy=False)


_erfc = np.vectorize(math.erfc, otypes=[float])


@dataclass(frozen=True)
class Activation:
    """A target activation: a vectorised float64 function and its Lipschitz constant on R.

    ``smooth`` marks the functions analytic in a strip around the real axis, for which the best
    polynomial error decays geometrically in the degree; the others (kinks: ReLU, leaky ReLU; a
    jump in the second derivative: ELU) decay only algebraically.
    """

    name: str
    func: Callable[[np.ndarray], np.ndarray]
    lipschitz: float
    smooth: bool
    formula: str
    kinks: tuple[float, ...] = ()

    def __call__(self, x) -> np.ndarray:
        return self.func(np.asarray(x, dtype=np.float64))


ACTIVATIONS: dict[str, Activation] = {a.name: a for a in (
    Activation("relu", lambda x: np.maximum(x, 0.0), 1.0, False, "max(x, 0)", (0.0,)),
    Activation("leaky_relu", lambda x: np.where(x > 0, x, 0.01 * x), 1.0, False,
               "x if x > 0 else 0.01 x", (0.0,)),
    Activation("sigmoid", sigmoid, 0.25, True, "1 / (1 + e^-x)"),
    Activation("tanh", np.tanh, 1.0, True, "tanh x"),
    # max f' = f'(2.39936) of f' = s (1 + x (1 - s)), s = sigmoid(x); min f' = 1 - max f'
    Activation("silu", lambda x: x * sigmoid(x), 1.0998393201288668, True, "x sigmoid(x)"),
    Activation("elu", lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0.0))), 1.0, False,
               "x if x > 0 else e^x - 1", (0.0,)),
    # exact GELU x Phi(x) via erfc (no cancellation for x << 0); max f' = Phi(r) + r phi(r), r = √2
    Activation("gelu", lambda x: 0.5 * x * _erfc(-x / math.sqrt(2.0)), 1.128904145185155, True,
               "x Phi(x) (exact, erf)"),
    Activation("softplus", lambda x: np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x))), 1.0, True,
               "log(1 + e^x)"),
)}


def jackson_bound(lipschitz: float, a: float, degree) -> np.ndarray | float:
    r"""Jackson's theorem: the best degree-``n`` error of an ``L``-Lipschitz function on [-a, a].

    **Theorem** (Jackson 1911, sharp constant by Favard / Akhiezer-Krein; see Rivlin, *An
    Introduction to the Approximation of Functions*, Thm 1.5, or Cheney, *Introduction to
    Approximation Theory*, ch. 4). If :math:`|f(x) - f(y)| \le L |x - y|` on :math:`[-1, 1]`, then

    .. math::

        E_n(f) := \min_{\deg p \le n} \max_{|x| \le 1} |f(x) - p(x)| \le \frac{\pi L}{2 (n + 1)}.

    (Proof: :math:`F(\theta) = f(\cos\theta)` is :math:`L`-Lipschitz and even; Favard's bound
    :math:`\pi L / (2(n+1))` for trigonometric polynomials of degree n gives a cosine polynomial,
    i.e. an algebraic polynomial in :math:`\cos\theta`.) On :math:`[-a, a]`,
    :math:`x \mapsto f(a x)` is :math:`La`-Lipschitz on [-1, 1], hence

    .. math::

        E_n(f; [-a, a]) \le \frac{\pi}{2} \frac{L a}{n + 1}.

    The rate :math:`1/n` is attained by :math:`|x|` (Bernstein: :math:`n E_n(|x|) \to 0.28017` for
    even n); smooth targets do much better.

    Parameters
    ----------
    lipschitz : float
        Lipschitz constant L of the target.
    a : float
        Half-width of the interval (for [lo, hi] use (hi - lo) / 2).
    degree : int or array of int
        Polynomial degree n >= 0.
    """
    n = np.asarray(degree, dtype=np.float64)
    if np.any(n < 0) or lipschitz < 0 or a <= 0:
        raise ValueError(f"jackson_bound: need L >= 0, a > 0, degree >= 0; got L={lipschitz}, "
                         f"a={a}, degree={degree}")
    out = 0.5 * math.pi * lipschitz * a / (n + 1.0)
    return float(out) if out.ndim == 0 else out


# ------------------------------------------------------------------------------ quadrature

def _panels_quadrature(lo: float, hi: float, kinks=(), panels: int = 64, order: int = 20):
    """Composite Gauss-Legendre nodes and weights on [lo, hi], with the kinks as panel edges.

    Weights sum to ``hi - lo``; each panel integrates polynomials of degree < 2 * order exactly.
    """
    edges = np.union1d(np.linspace(lo, hi, panels + 1), [k for k in kinks if lo < k < hi])
    g, w = np.polynomial.legendre.leggauss(order)
    half = np.diff(edges)[:, None] / 2
    mid = (edges[:-1] + edges[1:])[:, None] / 2
    return (mid + half * g).ravel(), (half * w).ravel()


def _target(f) -> tuple[str, Callable, tuple]:
    if isinstance(f, str):
        if f not in ACTIVATIONS:
            raise ValueError(f"unknown activation {f!r}; known: {', '.join(ACTIVATIONS)}")
        f = ACTIVATIONS[f]
    if isinstance(f, Activation):
        return f.name, f, f.kinks
    if not callable(f):
        raise TypeError(f"f must be an activation name or a callable, got {type(f).__name__}")
    return getattr(f, "__name__", "f"), (lambda x: np.asarray(f(x), dtype=np.float64)), (0.0,)


# ------------------------------------------------------------------------------ the fit

@dataclass
class FitResult:
    r"""A degree-k fit :math:`p(x) = c_0 + \sum_{i=1}^k c_i g_i(t)`, :math:`t = s (x - m) / h`.

    Attributes
    ----------
    target, basis, degree, interval, method : what was fitted, and how.
    center, halfwidth, scale : m, h, s of the map to the basis variable (raw: 0, 1, 1).
    coef : ndarray (k + 1,)
        ``coef[0]`` the constant, ``coef[i]`` multiplies :math:`g_i(t)`.
    monomial : ndarray (k + 1,)
        Ascending power-series coefficients of p in x (exact algebra, float64 rounding; its
        evaluation cancels terms of size about ``sum |monomial_j| |x|^j``).
    sup_error, l2_error : float
        :math:`\max |f - p|` on 20,001 points and the RMS error over the interval.
    sup_error_float32 : float
        Sup error of the same expansion evaluated in float32.
    argmax : float
        Where the sup error is attained.
    cond : float
        Condition number of the column-scaled design matrix.
    n_points : int
    """

    target: str
    basis: str
    degree: int
    interval: tuple[float, float]
    method: str
    center: float
    halfwidth: float
    scale: float
    coef: np.ndarray
    monomial: np.ndarray
    cond: float
    n_points: int
    sup_error: float = math.nan
    l2_error: float = math.nan
    sup_error_float32: float = math.nan
    argmax: float = math.nan

    def t(self, x) -> np.ndarray:
        """The basis variable :math:`t = s (x - m) / h`."""
        return self.scale * (np.asarray(x, dtype=np.float64) - self.center) / self.halfwidth

    def evaluate(self, x, dtype=np.float64) -> np.ndarray:
        """p(x) from the basis expansion (the stable form), computed in ``dtype``."""
        t = self.t(x).astype(dtype)
        G, _ = bases.evaluate(self.basis, t, self.degree)
        c = self.coef.astype(dtype)
        return c[0] + G @ c[1:]

    __call__ = evaluate

    def to_dict(self) -> dict:
        """JSON-able summary (coefficients as lists)."""
        keys = ("target", "basis", "degree", "interval", "method", "center", "halfwidth", "scale",
                "cond", "n_points", "sup_error", "l2_error", "sup_error_float32", "argmax")
        out = {k: getattr(self, k) for k in keys}
        out.update(coef=self.coef.tolist(), monomial=self.monomial.tolist())
        return out


def _compose_affine(a: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    """Ascending coefficients of :math:`\\sum_j a_j (\\alpha x + \\beta)^j` (Horner on series)."""
    P = np.polynomial.polynomial
    out = np.array([a[-1]])
    for aj in a[-2::-1]:
        out = P.polyadd(P.polymul(out, [beta, alpha]), [aj])
    return np.pad(out, (0, len(a) - len(out)))


def _design(basis: str, t: np.ndarray, k: int) -> np.ndarray:
    G, _ = bases.evaluate(basis, t, k)
    return np.concatenate([np.ones(t.shape + (1,), dtype=t.dtype), G], axis=-1)


def fit_activation(f, degree: int, basis: str = "chebyshev", interval=(-1.0, 1.0),
                   n_points: int | None = None, method: str = "lstsq", raw: bool = False,
                   scale: float | None = None) -> FitResult:
    r"""Least-squares fit of :math:`c_0 + \sum_{i=1}^{k} c_i g_i(t)` to ``f`` on ``interval``.

    Parameters
    ----------
    f : str, Activation or callable
        A key of :data:`ACTIVATIONS` or a vectorised float64 function.
    degree : int >= 1
        k, the number of basis functions (the polynomial degree).
    basis : str
        A polynomial basis of :mod:`slaf_np.bases` (``power``, ``chebyshev``, ``legendre``,
        ``hermite``).
    interval : (lo, hi)
        The fitting interval, lo < hi.
    n_points : int, optional
        Number of sample points (default ``20 k + 200``).
    method : {"lstsq", "l2"}
        Unweighted least squares at Chebyshev nodes (near-minimax), or the uniform-weight
        :math:`L^2` projection by composite Gauss-Legendre quadrature.
    raw : bool
        Evaluate the basis at x itself instead of the scaled :math:`t` (module docstring).
    scale : float, optional
        s in :math:`t = s (x - m) / h`; default 1, or 3 for ``hermite``.

    Returns
    -------
    FitResult
    """
    name, func, kinks = _target(f)
    k = int(degree)
    if k < 1:
        raise ValueError(f"fit_activation: degree must be >= 1, got {degree!r}")
    if not bases.get_basis(basis).polynomial:
        raise ValueError(f"fit_activation: basis {basis!r} is not a polynomial basis")
    try:
        lo, hi = map(float, interval)
    except (TypeError, ValueError):
        raise ValueError(f"fit_activation: interval must be a pair (lo, hi), got "
                         f"{interval!r}") from None
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ValueError(f"fit_activation: interval must be finite with lo < hi, got {interval!r}")
    m, h = (lo + hi) / 2, (hi - lo) / 2
    s = (HERMITE_SCALE if basis == "hermite" else 1.0) if scale is None else float(scale)
    if raw:
        m, h, s = 0.0, 1.0, 1.0
    n = 20 * k + 200 if n_points is None else int(n_points)
    if n <= k:
        raise ValueError(f"fit_activation: need n_points > degree, got {n} <= {k}")

    if method == "lstsq":                    # Chebyshev nodes of the first kind on [lo, hi]
        x = (lo + hi) / 2 + (hi - lo) / 2 * np.cos(np.pi * (np.arange(n) + 0.5) / n)
        sw = np.ones(n)
    elif method == "l2":
        x, w = _panels_quadrature(lo, hi, kinks, panels=max(1, n // 20), order=20)
        sw = np.sqrt(w)
    else:
        raise ValueError(f"fit_activation: method must be 'lstsq' or 'l2', got {method!r}")
    A = _design(basis, s * (x - m) / h, k) * sw[:, None]
    norms = np.linalg.norm(A, axis=0)
    norms[norms == 0] = 1.0
    sol, _, _, sv = np.linalg.lstsq(A / norms, func(x) * sw, rcond=None)
    coef = sol / norms
    cond = float(sv[0] / sv[-1]) if sv[-1] > 0 else math.inf

    mono_t = np.concatenate([[coef[0]], [0.0] * k]) + coef[1:] @ bases.monomial_matrix(basis, k)
    monomial = _compose_affine(mono_t, s / h, -s * m / h)
    fit = FitResult(name, basis, k, (lo, hi), method, m, h, s, coef, monomial, cond, len(x))

    grid = np.concatenate([np.linspace(lo, hi, SUP_GRID), [c for c in kinks if lo < c < hi]])
    fx = func(grid)
    err = np.abs(fx - fit.evaluate(grid))
    fit.sup_error, fit.argmax = float(err.max()), float(grid[np.argmax(err)])
    fit.sup_error_float32 = float(np.abs(fx - fit.evaluate(grid, np.float32)).max())
    xq, wq = _panels_quadrature(lo, hi, kinks)
    fit.l2_error = float(np.sqrt(np.sum(wq * (func(xq) - fit.evaluate(xq)) ** 2) / (hi - lo)))
    return fit


# ------------------------------------------------------------------------------ SLAF parameters

def layer_coefficients(monomial, basis: str) -> tuple[np.ndarray, np.ndarray]:
    r"""SLAF coefficients ``c`` (D, k) and bias ``b`` (D,): :math:`b + \sum_i c_i g_i(z) = p(z)`.

    With :math:`g_i(z) = \sum_j M_{i-1,j} z^j` (:func:`slaf_np.bases.monomial_matrix`) and
    :math:`p(z) = \sum_j d_j z^j`: :math:`\sum_i c_i M_{i-1,j} = d_j` for :math:`j \ge 1` (a
    triangular system, since :math:`g_i` has degree i) and :math:`b = d_0 - \sum_i c_i M_{i-1,0}`.

    Parameters
    ----------
    monomial : array (D, k + 1) or (k + 1,)
        Ascending monomial coefficients of one polynomial per feature.
    basis : str
        A polynomial basis.
    """
    d = np.atleast_2d(np.asarray(monomial, dtype=np.float64))
    k = d.shape[1] - 1
    M = bases.monomial_matrix(basis, k)
    c = np.linalg.solve(M[:, 1:].T, d[:, 1:].T).T
    return c, d[:, 0] - c @ M[:, 0]


def _uniform_moments(basis: str, k: int, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (biased) variance of g_1(z)..g_k(z) for z uniform on [lo, hi] (exact quadrature)."""
    g, w = np.polynomial.legendre.leggauss(k + 1)    # exact for degree <= 2k + 1
    G, _ = bases.evaluate(basis, (lo + hi) / 2 + (hi - lo) / 2 * g, k)
    w = w / 2
    mean = w @ G
    return mean, w @ (G - mean) ** 2


def fit_features(f, degree: int, intervals, num_features: int, basis: str = "chebyshev",
                 method: str = "lstsq") -> list[FitResult]:
    """One :func:`fit_activation` of ``f`` per feature, on ``intervals[d]`` (array (D, 2), or one
    (lo, hi) pair for every feature), in the basis ``basis``."""
    D = int(num_features)
    iv = np.broadcast_to(np.asarray(intervals, dtype=np.float64), (D, 2))
    bad = ~(iv[:, 0] < iv[:, 1])
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"fit_features: interval of feature {i} is {tuple(iv[i].tolist())}, "
                         f"need lo < hi (widen a constant feature's range by hand)")
    return [fit_activation(f, degree, basis=basis, interval=tuple(r), method=method) for r in iv]


class SLAFParameters(NamedTuple):
    """What an evaluation-mode SLAF holds: ``c`` (D, k), ``b`` (D,), and the running statistics
    ``mean``, ``var`` (D, k) (0 and 1 for raw terms), all float64."""

    c: np.ndarray
    b: np.ndarray
    mean: np.ndarray
    var: np.ndarray


def slaf_parameters(monomial, intervals, basis: str = "power", normalize: bool = False,
                    eps: float = 1e-8) -> SLAFParameters:
    r"""The SLAF parameters whose feature ``d`` computes the polynomial ``monomial[d]`` of z.

    With ``normalize=False`` the layer computes :math:`b + \sum_i c_i g_i(z)` and ``c``, ``b`` are
    :func:`layer_coefficients`. With ``normalize=True`` (the paper's layer) the running statistics
    are the mean and variance of each :math:`g_i(z)` for z uniform on the feature's interval, i.e.
    what the batch statistics would be if the pre-activations filled it, and
    :math:`c_i \sqrt{\mathrm{var}_i + \epsilon}`, :math:`b + \sum_i c_i \mu_i` absorb the
    standardisation. Both realise the polynomials exactly up to rounding: about
    ``eps * sum_j |d_j| |z|^j``, so use float64 for wide or off-centre intervals (raw bases grow
    like :math:`|z|^k` there).

    Parameters
    ----------
    monomial : array (D, k + 1)
        Ascending monomial coefficients of one polynomial per feature.
    intervals : array (D, 2)
        Per-feature [lo, hi] (used for the statistics of ``normalize=True``).
    basis : str
        The layer's (polynomial) basis, evaluated at the raw z.
    normalize : bool
        Parameters of a normalised SLAF (see above) or of a raw one.
    eps : float
        The layer's ``eps``.
    """
    mono = np.atleast_2d(np.asarray(monomial, dtype=np.float64))
    D, k = mono.shape[0], mono.shape[1] - 1
    c, b = layer_coefficients(mono, basis)
    if not normalize:
        return SLAFParameters(c, b, np.zeros((D, k)), np.ones((D, k)))
    mean, var = map(np.stack, zip(*(_uniform_moments(basis, k, lo, hi) for lo, hi in intervals),
                                  strict=True))
    b = b + np.sum(c * mean, axis=1)
    c = c * np.sqrt(var + eps)
    return SLAFParameters(c, b, mean, var)


# ------------------------------------------------------------------------------ on N(0, 1) inputs

class NormalFit(NamedTuple):
    """A SLAF fitted on standard-normal inputs: effective coefficients ``a`` (k,), bias ``b``, and
    the terms' moments ``mean``, ``var`` (k,) under N(0, 1) (0 and 1 for raw terms), float64."""

    a: np.ndarray
    b: float
    mean: np.ndarray
    var: np.ndarray


NORMAL_GRID = np.linspace(-6.0, 6.0, 2401)
"""The nodes of :func:`fit_standard_normal`: [-6, 6] holds all but 2e-9 of the N(0, 1) mass."""


def fit_standard_normal(f, degree: int, basis: str = "power", normalize: bool = True,
                        eps: float = 1e-8, dtype=np.float64) -> NormalFit:
    r"""Least-squares fit of :math:`\sum_i a_i \hat P_i(z) + b` to ``f(z)`` for z ~ N(0, 1).

    :math:`\hat P_i = (g_i(z) - \mu_i) / \sqrt{\sigma_i^2 + \epsilon}` with :math:`\mu_i`,
    :math:`\sigma_i^2` the moments of :math:`g_i(z)` under N(0, 1) (``normalize=True``; raw
    terms otherwise), so a normalised SLAF holding them as running statistics realises the fit in
    evaluation mode, in training mode on standard-normal batches and after recalibration on
    standard-normal data. The fit is weighted least squares on :data:`NORMAL_GRID` with the
    normal density as weights (the moments use the same weights), solved in float64.

    Parameters
    ----------
    f : str, Activation or callable
        A key of :data:`ACTIVATIONS` or a vectorised function ``f(z) -> array``.
    degree : int
        k, the number of basis functions.
    basis : str
        Any registered basis (``fourier`` included).
    normalize : bool
        Standardised terms (the paper's SLAF) or raw ones.
    eps : float
        The layer's ``eps``.
    dtype : float32 or float64
        The layer's dtype: the moments are rounded to it before the fit, so that a layer that
        stores them in ``dtype`` computes exactly the fitted combination.

    Returns
    -------
    NormalFit
    """
    _, func, _ = _target(f)
    k = int(degree)
    z = NORMAL_GRID
    w = np.exp(-0.5 * z * z)
    w /= w.sum()
    G, _ = bases.evaluate(basis, z, k)
    if normalize:
        mu = w @ G
        mean, var = mu, w @ (G - mu) ** 2
    else:
        mean, var = np.zeros(k), np.ones(k)
    held_mean = mean.astype(dtype).astype(np.float64)
    std = np.sqrt(var.astype(dtype).astype(np.float64) + eps) if normalize else np.ones(k)
    A = np.hstack([(G - held_mean) / std, np.ones((z.size, 1))]) * np.sqrt(w)[:, None]
    target = np.asarray(func(z), dtype=np.float64) * np.sqrt(w)
    sol = np.linalg.lstsq(A, target, rcond=None)[0]
    return NormalFit(sol[:k], float(sol[k]), mean, var)
