"""Synthetic data sets: the authors' two spirals, random sparse polynomials with a known
expansion, a smooth non-polynomial regression target, and a shuffled train/validation split."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ._common import XY


def _check_count(where: str, name: str, value, least: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
        raise ValueError(f"{where}: {name} must be an integer >= {least}, got {value!r}")


def _check_scale(where: str, **values) -> None:
    """Each value a finite number >= 0 (a noise level, a number of turns)."""
    for name, value in values.items():
        if not (isinstance(value, (int, float, np.integer, np.floating))
                and not isinstance(value, bool) and np.isfinite(value) and value >= 0):
            raise ValueError(f"{where}: {name} must be a finite number >= 0, got {value!r}")


def two_spirals(n_per_class: int, rng: np.random.Generator, noise: float = 0.1,
                turns: float = 2.0, inner_half: bool = False) -> XY:
    """The authors' two-spirals generator (docs/paper.md section 4).

    .. math::
        n = \\sqrt{U} \\cdot 780 \\cdot 2\\pi / 360, \\quad
        x_0 = -\\cos(t n)\\, n + \\sigma U_1, \\quad y_0 = \\sin(t n)\\, n + \\sigma U_2

    with U, U_1, U_2 ~ Uniform(0, 1) (the noise is uniform, as in their code), t = ``turns``,
    sigma = ``noise``. Class 0 is (x_0, y_0); class 1 is its exact negation, noise included.

    Parameters
    ----------
    n_per_class : int
        Points drawn per class.
    rng : numpy.random.Generator or int
    noise, turns : float
    inner_half : bool
        What the authors' two-spirals GC script does: sort the ``n_per_class`` draws by ``n`` and
        keep the ``n_per_class // 2`` nearest the centre (radius up to about 9.6 of the full
        13.6), so each class is the inner half of its spiral, ordered by ``n``. The draws are the
        same as without it (the default output is unchanged).

    Returns
    -------
    XY
        x float64 (2 m, 2) with class 0 first; y int64 (2 m,) in {0, 1}; m = ``n_per_class``, or
        ``n_per_class // 2`` with ``inner_half``.
    """
    _check_count("two_spirals", "n_per_class", n_per_class, 2 if inner_half else 1)
    _check_scale("two_spirals", noise=noise, turns=turns)
    rng = np.random.default_rng(rng)
    n = np.sqrt(rng.random(n_per_class)) * 780 * 2 * np.pi / 360
    x0 = -np.cos(turns * n) * n + noise * rng.random(n_per_class)
    y0 = np.sin(turns * n) * n + noise * rng.random(n_per_class)
    class0 = np.stack([x0, y0], axis=1)
    if inner_half:
        class0 = class0[np.argsort(n, kind="stable")[:n_per_class // 2]]
    labels = np.repeat(np.array([0, 1], dtype=np.int64), len(class0))
    return XY(np.concatenate([class0, -class0]), labels)


def train_val_split(x: np.ndarray, y: np.ndarray, frac_val: float = 0.2,
                    rng: np.random.Generator | None = None) -> tuple[XY, XY]:
    """Shuffled split into ``(train, val)``; ``ceil(frac_val * N)`` samples go to validation
    (scikit-learn's ``train_test_split`` convention). ``rng`` is required (it draws)."""
    if rng is None:
        raise TypeError("train_val_split: pass rng, a np.random.Generator")
    if len(x) != len(y) or not 0 <= frac_val < 1:
        raise ValueError(f"train_val_split: {len(x)} inputs, {len(y)} targets, "
                         f"frac_val={frac_val} (need equal lengths and 0 <= frac_val < 1)")
    perm = np.random.default_rng(rng).permutation(len(x))
    n_val = math.ceil(frac_val * len(x))
    val, train = perm[:n_val], perm[n_val:]
    return XY(x[train], y[train]), XY(x[val], y[val])


class PolynomialData(NamedTuple):
    """A regression set whose target is a known sparse polynomial
    y = sum_t coef[t] * prod_j x_j ** exponents[t, j] (+ noise)."""

    x: np.ndarray
    y: np.ndarray
    exponents: np.ndarray
    coef: np.ndarray


def sparse_polynomial(n: int, d: int, degree: int, n_terms: int, rng: np.random.Generator,
                      noise: float = 0.0) -> PolynomialData:
    """Inputs x ~ Uniform[-1, 1]^(n, d) and a random sparse polynomial of total degree exactly
    ``degree`` with ``n_terms`` distinct monomials (no constant term).

    The first monomial has total degree ``degree``, the others a degree drawn from 1..degree;
    a monomial's degree is spread over the d variables by a multinomial draw. Coefficients are
    +-Uniform[0.5, 1.5] (never near zero); ``noise`` is the std of Gaussian noise on y.

    Returns
    -------
    PolynomialData
        x (n, d) float64, y (n,) float64, exponents (n_terms, d) int64, coef (n_terms,) float64.
    """
    _check_count("sparse_polynomial", "n", n)
    _check_count("sparse_polynomial", "d", d)
    _check_scale("sparse_polynomial", noise=noise)
    available = math.comb(d + degree, degree) - 1
    if degree < 1 or not 1 <= n_terms <= available:
        raise ValueError(f"sparse_polynomial: need degree >= 1 and 1 <= n_terms <= {available} "
                         f"(monomials of degree 1..{degree} in {d} variables), got "
                         f"degree={degree}, n_terms={n_terms}")
    rng = np.random.default_rng(rng)
    terms: list[tuple[int, ...]] = []
    while len(terms) < n_terms:
        t = degree if not terms else int(rng.integers(1, degree + 1))
        term = tuple(int(e) for e in rng.multinomial(t, np.full(d, 1.0 / d)))
        if term not in terms:
            terms.append(term)
    exponents = np.array(terms, dtype=np.int64)
    coef = rng.choice([-1.0, 1.0], n_terms) * rng.uniform(0.5, 1.5, n_terms)
    x = rng.uniform(-1.0, 1.0, (n, d))
    y = (x[:, None, :] ** exponents[None]).prod(axis=2) @ coef
    if noise:
        y = y + noise * rng.standard_normal(n)
    return PolynomialData(x, y, exponents, coef)


def smooth_regression(n: int, d: int, rng: np.random.Generator, noise: float = 0.0) -> XY:
    """A smooth non-polynomial target: x ~ Uniform[-2, 2]^(n, d) and

    .. math:: y = \\sum_j \\sin(x_j) + \\tfrac12 \\exp(-\\lVert x \\rVert^2 / d)
              + \\sigma \\varepsilon

    with epsilon standard normal and sigma = ``noise``. Returns x (n, d), y (n,), float64.
    """
    _check_count("smooth_regression", "n", n)
    _check_count("smooth_regression", "d", d)
    _check_scale("smooth_regression", noise=noise)
    rng = np.random.default_rng(rng)
    x = rng.uniform(-2.0, 2.0, (n, d))
    y = np.sin(x).sum(axis=1) + 0.5 * np.exp(-(x ** 2).sum(axis=1) / d)
    if noise:
        y = y + noise * rng.standard_normal(n)
    return XY(x, y)
