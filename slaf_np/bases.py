r"""Basis families g_1..g_k for SLAF: one record per basis, in one registry.

A SLAF is :math:`f(z) = \sum_{i=1}^{k} c_i g_i(z) + b` (docs/paper.md section 1). This module
supplies the :math:`g_i` and :math:`g_i'`; there is no constant :math:`g_0`, the bias :math:`b`
plays that role.

Each polynomial basis is one three-term recurrence, and its record holds the coefficients:

.. math::

    g_{n+1} = \alpha_n z\, g_n - \beta_n g_{n-1}, \qquad g_0 = 1,\ g_{-1} = 0, \\
    g_{n+1}' = \alpha_n (g_n + z\, g_n') - \beta_n g_{n-1}' \quad \text{(the derivative rule)}.

=============  =====================  ===================  =============  ==========================
name           g_i                    alpha_n              beta_n         domain
=============  =====================  ===================  =============  ==========================
``power``      z^i                    1                    0              the real line (unbounded)
``chebyshev``  T_i (first kind)       1 at n = 0, then 2   0, then 1      [-1, 1]
``legendre``   P_i                    (2n + 1) / (n + 1)   n / (n + 1)    [-1, 1]
``hermite``    He_i (probabilists')   1                    n              the real line, N(0, 1)
``fourier``    sin((2j-1) pi x / 2),  in t = sin(pi x / 2):               [-1, 1]
               cos(j pi x)            1 at n = 0, then     -1
                                      2 (n even), -2 (odd)
=============  =====================  ===================  =============  ==========================

Everything that needs a basis reads its record (:class:`Basis`): :func:`evaluate` runs the
recurrence in NumPy (:func:`recurrence_terms`), the numba kernels of :mod:`slaf_np.kernels.slaf`
read ``alpha`` and ``beta`` from :func:`kernel_form`, and :func:`monomial_matrix` runs the same
recurrence on coefficient rows, in exact rational arithmetic. Adding a basis is one call of
:func:`register_basis`.

A basis that is a recurrence in a function of its input, :math:`g_i(x) = h_i(u(x))` with
:math:`h` a three-term recurrence, records it as a :class:`Substitution`: the kernels run the
recurrence on :math:`t = u(x)` and multiply the input gradient by :math:`u'(x)`. ``fourier`` is
one: with :math:`\theta = \pi x / 2` and :math:`t = \sin\theta`, :math:`T_n(t) =
\cos(n(\pi/2 - \theta))`, which is :math:`\pm\sin(n\theta)` for odd n and
:math:`\pm\cos(n\theta)` for even n, so each :math:`g_n` is :math:`\pm T_n(t)` with the sign
pattern +, -, -, +, + ... (n = 1, 2, 3, ...), and the signs fold into the Chebyshev recurrence as
the coefficients of the table. Its own NumPy function (:func:`fourier`, angle addition) is the
independent reference the kernels are tested against. A basis with neither brings its own NumPy
function; the kernels serve it with their NumPy twins.

No value comes from ``arccos`` or a per-term ``power``. The outputs are allocated once and filled
column by column in place (``out=``). They keep ``z``'s float dtype; integer input is a
``TypeError`` (a silent cast would hide a float32/float64 mix-up).
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from functools import lru_cache, partial
from numbers import Rational
from typing import NamedTuple

import numpy as np

__all__ = ["Basis", "Substitution", "BASES", "register_basis", "names", "get_basis", "evaluate",
           "coefficients", "kernel_form",
           "recurrence_terms", "monomial_matrix", "power", "chebyshev", "legendre", "hermite",
           "fourier"]

Recurrence = Callable[[int], tuple[Rational, Rational]]
"""``n -> (alpha_n, beta_n)``, exact numbers (int or :class:`fractions.Fraction`)."""


class Substitution(NamedTuple):
    r"""A basis that is a three-term recurrence in a function of its input:
    :math:`g_i(x) = h_i(u(x))`, :math:`h_{n+1} = \alpha_n t\, h_n - \beta_n h_{n-1}`,
    :math:`h_0 = 1, h_{-1} = 0`, so :math:`g_i'(x) = h_i'(u(x))\, u'(x)`.

    ``u`` and ``du`` map an array to an array of its shape and dtype (``t`` and :math:`u'(x)`);
    ``recurrence`` is ``n -> (alpha_n, beta_n)`` as for :class:`Basis`.
    """

    u: Callable[[np.ndarray], np.ndarray]
    du: Callable[[np.ndarray], np.ndarray]
    recurrence: Recurrence


class Basis(NamedTuple):
    """One registered basis family.

    ``func(z, k) -> (G, dG)`` with ``G[..., i-1] = g_i(z)``, ``dG[..., i-1] = g_i'(z)``;
    ``recurrence(n) -> (alpha_n, beta_n)`` for a basis given by the three-term recurrence of the
    module docstring, None otherwise.
    """

    name: str
    func: Callable[[np.ndarray, int], tuple[np.ndarray, np.ndarray]]
    domain: str
    polynomial: bool
    description: str
    recurrence: Recurrence | None = None
    substitution: Substitution | None = None


BASES: dict[str, Basis] = {}


# ----------------------------------------------------------------------------------------- checks

def _check_k(k) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k (the number of basis functions) must be an integer >= 1, got {k!r}")
    return int(k)


def _check_z(z, where: str) -> np.ndarray:
    z = np.asarray(z)
    if z.dtype.kind != "f":
        raise TypeError(f"basis {where!r}: z must be a float array (float32 or float64), got dtype "
                        f"{z.dtype}; convert it first, e.g. z.astype(np.float64)")
    return z


def _outputs(z: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    shape = z.shape + (k,)
    return np.empty(shape, dtype=z.dtype), np.empty(shape, dtype=z.dtype)


# ------------------------------------------------------------------ the three-term recurrence

def recurrence_terms(z: np.ndarray, k: int, recurrence: Recurrence):
    r"""Values and derivatives of g_1..g_k from ``recurrence``, in ``z``'s dtype.

    Column ``n`` receives :math:`g_{n+1} = \alpha_n z g_n - \beta_n g_{n-1}` and
    :math:`g_{n+1}' = \alpha_n (g_n + z g_n') - \beta_n g_{n-1}'`, from the two columns before
    it (:math:`g_0 = 1`, :math:`g_{-1} = 0` and their derivatives 0 before the first).
    """
    G, dG = _outputs(z, k)
    g, dg, g_prev, dg_prev = 1.0, 0.0, 0.0, 0.0          # g_n, g_n', g_{n-1}, g_{n-1}'
    for n in range(k):
        alpha, beta = (float(c) for c in recurrence(n))
        np.multiply(z, g, out=G[..., n])
        G[..., n] *= alpha
        np.multiply(z, dg, out=dG[..., n])
        dG[..., n] += g
        dG[..., n] *= alpha
        if beta:
            G[..., n] -= beta * g_prev
            dG[..., n] -= beta * dg_prev
        g, dg, g_prev, dg_prev = G[..., n], dG[..., n], g, dg
    return G, dG


@lru_cache(maxsize=256)
def _coefficients(recurrence: Recurrence, k: int) -> np.ndarray:
    coef = np.array([[float(c) for c in recurrence(n)] for n in range(k)])
    coef.flags.writeable = False
    return coef


def coefficients(name: str, k: int) -> np.ndarray | None:
    r"""The recurrence coefficients of basis ``name`` for n = 0..k-1 as an array (k, 2) of
    rows :math:`(\alpha_n, \beta_n)`, float64 and read-only (it is shared between calls);
    None for a basis without a recurrence."""
    basis, k = get_basis(name), _check_k(k)
    return None if basis.recurrence is None else _coefficients(basis.recurrence, k)


def kernel_form(name: str, k: int) -> tuple[np.ndarray, Substitution | None] | None:
    r"""What the numba kernels run for basis ``name``: ``(coef, substitution)``, the recurrence
    coefficients (k, 2) as in :func:`coefficients` and the :class:`Substitution` of the input
    (None when the recurrence is in the input itself); None for a basis with neither (its NumPy
    function serves it)."""
    coef = coefficients(name, k)
    if coef is not None:
        return coef, None
    basis = get_basis(name)
    if basis.substitution is not None:
        return _coefficients(basis.substitution.recurrence, k), basis.substitution
    return None


# ----------------------------------------------------------------------------------------- bases

def _power(n: int) -> tuple[int, int]:
    return 1, 0


def _chebyshev(n: int) -> tuple[int, int]:
    return (1, 0) if n == 0 else (2, 1)


def _legendre(n: int) -> tuple[Fraction, Fraction]:
    return Fraction(2 * n + 1, n + 1), Fraction(n, n + 1)


def _hermite(n: int) -> tuple[int, int]:
    return 1, n


def _fourier_in_t(n: int) -> tuple[int, int]:
    """``g_{n+1} = alpha_n t g_n + g_{n-1}`` for ``g_n = sign_n T_n(t)``, ``t = sin(pi x / 2)``,
    signs +, +, -, -, +, + ... for n = 0, 1, 2, ...: the ratio sign_{n+1}/sign_n is +1 for even
    n, -1 for odd n, and sign_{n+1}/sign_{n-1} is always -1 (so beta = -1)."""
    return (1, 0) if n == 0 else (2 if n % 2 == 0 else -2, -1)


def _sin_half_pi(x: np.ndarray) -> np.ndarray:
    return np.sin(x * np.asarray(np.pi / 2, dtype=x.dtype))


def _dsin_half_pi(x: np.ndarray) -> np.ndarray:
    h = np.asarray(np.pi / 2, dtype=x.dtype)
    return np.cos(x * h) * h


def power(z: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    r"""Monomials (the paper's "Taylor" basis) :math:`g_i = z^i`, :math:`i = 1..k`.

    .. math::

        p_0 = 1, \qquad p_{n+1} = z\, p_n \qquad (\alpha_n = 1,\ \beta_n = 0).

    Domain: the whole real line, but unbounded: :math:`|g_i| = |z|^i`, so for :math:`|z| > 1` the
    top term dominates and for :math:`|z| < 1` the high terms vanish. This is why SLAF standardises
    each term (docs/paper.md section 2).

    Parameters
    ----------
    z : ndarray of float, any shape
    k : int >= 1

    Returns
    -------
    G, dG : ndarray, shape ``z.shape + (k,)``, dtype of ``z``
        ``G[..., i-1] = z**i`` and ``dG[..., i-1] = i * z**(i-1)``.
    """
    return recurrence_terms(_check_z(z, "power"), _check_k(k), _power)


def chebyshev(z: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    r"""Chebyshev polynomials of the first kind :math:`T_1..T_k`.

    .. math::

        T_0 = 1,\quad T_1 = z,\quad T_{n+1} = 2 z T_n - T_{n-1}.

    Domain: :math:`[-1, 1]`, where :math:`T_n(\cos t) = \cos(n t)`, so :math:`|T_n| \le 1` and
    :math:`|T_n'| \le n^2`. Outside it they grow like
    :math:`\tfrac12 (|z| + \sqrt{z^2 - 1})^n`; scale the input into [-1, 1] first.

    Parameters and returns as in :func:`power`.
    """
    return recurrence_terms(_check_z(z, "chebyshev"), _check_k(k), _chebyshev)


def legendre(z: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    r"""Legendre polynomials :math:`P_1..P_k`.

    .. math::

        P_0 = 1,\quad P_1 = z,\quad (n+1) P_{n+1} = (2n+1) z P_n - n P_{n-1}.

    Domain: :math:`[-1, 1]` (orthogonal for the uniform weight there), where :math:`|P_n| \le 1`.
    Outside it they grow like :math:`(|z| + \sqrt{z^2 - 1})^n`.

    Parameters and returns as in :func:`power`.
    """
    return recurrence_terms(_check_z(z, "legendre"), _check_k(k), _legendre)


def hermite(z: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    r"""Probabilists' Hermite polynomials :math:`He_1..He_k`.

    .. math::

        He_0 = 1,\quad He_1 = z,\quad He_{n+1} = z He_n - n He_{n-1}.

    Domain: the real line with the standard-normal weight: for :math:`z \sim N(0, 1)`,
    :math:`E[He_m He_n] = n!\,\delta_{mn}`, so they are the natural basis after batch normalisation.
    They oscillate for :math:`|z| < 2\sqrt{n}` and grow like :math:`|z|^n` beyond.

    Parameters and returns as in :func:`power`.
    """
    return recurrence_terms(_check_z(z, "hermite"), _check_k(k), _hermite)


def fourier(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    r"""The EMFN "modified Fourier" basis (docs/paper.md section 3) of an already-scaled input
    ``x``.

    Sines and cosines interleaved, :math:`\theta = \pi x / 2`:

    .. math::

        g_{2j-1}(x) = \sin\big((2j-1)\tfrac{\pi}{2} x\big) = \sin((2j-1)\theta), \qquad
        g_{2j}(x) = \cos(j \pi x) = \cos(2j\theta),

    so :math:`g_m` is :math:`\sin(m\theta)` for odd :math:`m` and :math:`\cos(m\theta)` for even
    :math:`m`; ``k = 8`` gives 4 sines and 4 cosines, odd ``k`` one more sine. Only
    :math:`\sin\theta, \cos\theta` are evaluated; the rest follow by angle addition

    .. math::

        \sin((m+1)\theta) = \sin(m\theta)\cos\theta + \cos(m\theta)\sin\theta, \quad
        \cos((m+1)\theta) = \cos(m\theta)\cos\theta - \sin(m\theta)\sin\theta,

    (rounding error grows linearly in :math:`m`, unlike the three-term form
    :math:`2\cos\theta\,\sin(m\theta) - \sin((m-1)\theta)`), and the derivatives are
    :math:`g_m' = \tfrac{m\pi}{2}\cos(m\theta)` (odd :math:`m`),
    :math:`-\tfrac{m\pi}{2}\sin(m\theta)` (even :math:`m`).

    Domain: :math:`[-1, 1]`, where this is the modified Fourier basis (sines odd, cosines even about
    0). Outside it every :math:`g_m` is mirrored, :math:`g_m(2 - x) = g_m(x)`, with period 4, so the
    learned activation cannot take new shapes there. The SLAF layer's scaling
    :math:`x = z / (m \max|z| + n)` (done by the layer, not here) keeps :math:`|x| \le 1/m`, i.e.
    :math:`|x| \le 1/2` at the initial :math:`m = 2`. Everywhere :math:`|g_m| \le 1` and
    :math:`|g_m'| \le m\pi/2`.

    Parameters
    ----------
    x : ndarray of float, any shape
        The scaled input.
    k : int >= 1

    Returns
    -------
    G, dG : ndarray, shape ``x.shape + (k,)``, dtype of ``x``
        Values and derivatives with respect to ``x``.
    """
    x, k = _check_z(x, "fourier"), _check_k(k)
    # Filled term by term in (k,) + x.shape buffers, so that every operation below runs over
    # contiguous memory (the (..., k) layout would make each one a pass with stride k), then
    # copied once into the C-contiguous (..., k) results. While filling, row m-1 keeps
    # the basis value in G and its partner (cos for a sine, sin for a cosine) in dG; one final
    # multiply turns the partners into derivatives.
    Gt, dGt = np.empty((k,) + x.shape, dtype=x.dtype), np.empty((k,) + x.shape, dtype=x.dtype)

    def sin_(m):                                   # [m - 1, ...]: a view even for 0-d x
        return Gt[m - 1, ...] if m % 2 else dGt[m - 1, ...]

    def cos_(m):
        return dGt[m - 1, ...] if m % 2 else Gt[m - 1, ...]

    scratch = np.empty(x.shape, dtype=x.dtype)
    np.multiply(x, np.pi / 2, out=scratch)                   # theta, then reused by the recurrence
    s, c = np.sin(scratch, out=sin_(1)), np.cos(scratch, out=cos_(1))
    for m in range(1, k):
        S, C = sin_(m + 1), cos_(m + 1)
        np.multiply(sin_(m), c, out=S)
        np.multiply(cos_(m), s, out=scratch)
        S += scratch
        np.multiply(cos_(m), c, out=C)
        np.multiply(sin_(m), s, out=scratch)
        C -= scratch
    m = np.arange(1, k + 1)
    dGt *= (np.where(m % 2 == 1, m, -m) * (np.pi / 2)).astype(x.dtype).reshape((k,) + (1,) * x.ndim)
    return (np.ascontiguousarray(np.moveaxis(Gt, 0, -1)),
            np.ascontiguousarray(np.moveaxis(dGt, 0, -1)))


# ----------------------------------------------------------------------- monomial coefficients

def _recurrence_monomials(recurrence: Recurrence, k: int) -> np.ndarray:
    """Monomial coefficients of g_1..g_k: the recurrence run on coefficient rows (``z`` shifts a
    row), in exact rationals, rounded to float64 once at the end."""
    rows = [[Fraction(1)] + [Fraction(0)] * k]                  # g_0 = 1
    prev = [Fraction(0)] * (k + 1)                               # g_{-1} = 0
    for n in range(k):
        alpha, beta = recurrence(n)
        shifted = [Fraction(0)] + rows[-1][:-1]
        rows.append([alpha * s - beta * p for s, p in zip(shifted, prev, strict=True)])
        prev = rows[-2]
    return np.array([[float(c) for c in row] for row in rows[1:]])


def _interpolated_monomials(func, k: int) -> np.ndarray:
    """For a polynomial basis registered without a recurrence: interpolate at k + 1 Chebyshev
    points. Accurate to about cond(Vandermonde) * eps, roughly (1 + sqrt 2)^k * 1e-16."""
    nodes = np.cos(np.pi * (np.arange(k + 1) + 0.5) / (k + 1))
    G, _ = func(nodes, k)
    return np.linalg.solve(np.polynomial.polynomial.polyvander(nodes, k), G).T


def monomial_matrix(name: str, k: int) -> np.ndarray:
    r"""Power-series coefficients of the polynomial basis ``name``: row ``i-1`` holds
    :math:`g_i(z) = \sum_{j=0}^{k} M_{i-1, j} z^j`.

    A SLAF with coefficients ``c`` (k,) and bias ``b`` is then the polynomial with ascending
    coefficients ``c @ M`` plus ``b`` on :math:`z^0`. For a basis with a recurrence the matrix
    comes from the record's :math:`\alpha_n, \beta_n`, run on coefficient rows (multiplying by
    :math:`z` shifts a row) in exact rational arithmetic, so every entry is the float64 nearest to
    the true coefficient.

    Growth: the largest :math:`|M|` at k = 12 / 20 / 30 is 6.9e3 / 6.6e6 / 3.6e10 (chebyshev),
    2.0e3 / 1.5e6 / 6.9e9 (legendre), 6.2e4 / 9.8e9 / 2.2e17 (hermite); integer entries are exact
    while below :math:`2^{53}` (hermite passes it at k = 29, chebyshev at k = 45). Evaluating the
    monomial form on [-1, 1] cancels terms of that size and loses about ``log10(max|M|)`` digits,
    so converting a learned expansion to monomials is fine for the small degrees SLAF uses
    (k <= 12) and lossy for large k.

    Parameters
    ----------
    name : str
        A registered polynomial basis (``power``, ``chebyshev``, ``legendre``, ``hermite``, ...).
    k : int >= 1

    Returns
    -------
    M : ndarray, shape (k, k + 1), float64

    Raises
    ------
    ValueError
        For a basis that is not a polynomial (``fourier``), an unknown name or a bad ``k``.
    """
    basis, k = get_basis(name), _check_k(k)
    if not basis.polynomial:
        poly = [n for n, b in BASES.items() if b.polynomial]
        raise ValueError(f"basis {name!r} is not a polynomial ({basis.description}), so it has no "
                         f"monomial matrix; polynomial bases: {', '.join(poly)}")
    if basis.recurrence is not None:
        return _recurrence_monomials(basis.recurrence, k)
    return _interpolated_monomials(basis.func, k)


# ------------------------------------------------------------------------------------- registry

def register_basis(name: str, func: Callable | None, domain: str, polynomial: bool,
                   description: str, recurrence: Recurrence | None = None, *,
                   substitution: Substitution | None = None, overwrite: bool = False) -> Basis:
    r"""Add a basis family to :data:`BASES` and return its :class:`Basis` record.

    Parameters
    ----------
    name : str
        Registry key, used as ``SLAF(..., basis=name)``.
    func : callable ``(z, k) -> (G, dG)``, or None with a ``recurrence``
        Values and derivatives of g_1..g_k, each of shape ``z.shape + (k,)`` in ``z``'s dtype.
        None: :func:`recurrence_terms` with ``recurrence``.
    domain : str
        Where the basis is meant to be used, in words (e.g. ``"[-1, 1]"``).
    polynomial : bool
        True if every g_i is a polynomial of degree i (needed by :mod:`slaf_np.polynomial`).
    description : str
        One line for listings.
    recurrence : callable ``n -> (alpha_n, beta_n)``, optional
        :math:`g_{n+1} = \alpha_n z g_n - \beta_n g_{n-1}` (:math:`g_0 = 1, g_{-1} = 0`), with
        exact numbers (int or Fraction). It makes the basis polynomial; the numba kernels and
        :func:`monomial_matrix` use it. A polynomial basis without one gets its monomial matrix
        by interpolation and runs on the kernels' NumPy twins.
    substitution : Substitution, optional
        For a basis that is a recurrence in ``u(x)`` (not a polynomial in x): the kernels run it
        on ``u(x)``. Needs ``func``, the basis's own NumPy function, and excludes
        ``recurrence``.
    overwrite : bool
        Replace an existing entry instead of raising.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"register_basis: name must be a non-empty string, got {name!r}")
    if name in BASES and not overwrite:
        raise ValueError(f"register_basis: basis {name!r} is already registered "
                         f"(pass overwrite=True to replace it)")
    if recurrence is not None and not polynomial:
        raise ValueError(f"register_basis({name!r}): a recurrence given for a non-polynomial "
                         f"basis (a three-term recurrence makes g_i a polynomial of degree i)")
    if substitution is not None and (recurrence is not None or func is None):
        raise ValueError(f"register_basis({name!r}): a substitution needs func (the basis's own "
                         f"NumPy function) and no recurrence")
    if func is None and recurrence is not None:
        func = partial(recurrence_terms, recurrence=recurrence)
    if not callable(func):
        raise TypeError(f"register_basis({name!r}): func must be callable (or None with a "
                        f"recurrence), got {type(func).__name__}")
    basis = Basis(name, func, str(domain), bool(polynomial), str(description), recurrence,
                  substitution)
    BASES[name] = basis
    return basis


def names() -> list[str]:
    """Registered basis names, in registration order."""
    return list(BASES)


def get_basis(name: str) -> Basis:
    """The :class:`Basis` registered as ``name``; ``ValueError`` naming the known ones if absent."""
    try:
        return BASES[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown basis {name!r}; known bases: {', '.join(names())}") from None


def evaluate(name: str, z: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Values and derivatives of the first ``k`` functions of basis ``name`` at ``z``.

    Parameters
    ----------
    name : str
        A key of :data:`BASES` (``power``, ``chebyshev``, ``legendre``, ``hermite``, ``fourier``).
    z : ndarray of float32 or float64, any shape, e.g. (N,), (N, D) or (N, C, H, W)
    k : int >= 1
        Number of basis functions g_1..g_k (there is no g_0).

    Returns
    -------
    G, dG : ndarray, shape ``z.shape + (k,)``, dtype of ``z``
        ``G[..., i-1] = g_i(z)``, ``dG[..., i-1] = g_i'(z)``.

    Raises
    ------
    ValueError
        Unknown ``name`` (the message lists the known ones) or ``k`` not an integer >= 1.
    TypeError
        ``z`` is not a float array.
    """
    basis = get_basis(name)
    z, k = _check_z(z, name), _check_k(k)
    G, dG = basis.func(z, k)
    expected = z.shape + (k,)
    if G.shape != expected or dG.shape != expected:
        raise ValueError(f"basis {name!r} returned shapes {G.shape} and {dG.shape}, expected "
                         f"{expected}")
    return G, dG


register_basis("power", power, "the real line (unbounded, grows like |z|^k)", True,
               "monomials z^1..z^k (the paper's Taylor basis)", _power)
register_basis("chebyshev", chebyshev, "[-1, 1] (|T_n| <= 1; grows outside)", True,
               "Chebyshev polynomials of the first kind T_1..T_k", _chebyshev)
register_basis("legendre", legendre, "[-1, 1] (|P_n| <= 1; grows outside)", True,
               "Legendre polynomials P_1..P_k", _legendre)
register_basis("hermite", hermite, "the real line, standard-normal weight (inputs ~ N(0, 1))", True,
               "probabilists' Hermite polynomials He_1..He_k", _hermite)
register_basis("fourier", fourier, "[-1, 1] scaled input (|x| <= 1/2 after SLAF scaling at m = 2; "
               "mirrored about +-1 outside)", False,
               "EMFN modified Fourier basis: sin((2j-1) pi x / 2) and cos(j pi x), interleaved",
               substitution=Substitution(_sin_half_pi, _dsin_half_pi, _fourier_in_t))
