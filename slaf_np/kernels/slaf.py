r"""Fused numba kernels for the SLAF forward and backward passes.

The maths (per feature d and term i; ``a = c * gate``; ``s = sqrt(var + eps)``; sums over the
M = N * S values of the feature):

* forward: :math:`\hat P_i = (g_i(x) - \mu_i)/s_i`, :math:`y = \sum_i a_i \hat P_i + b`
  (training: :math:`\mu, \sigma^2` of the batch; evaluation: given values; raw terms:
  :math:`\mu = 0, s = 1`);
* backward, with :math:`w_i = a_i / s_i`, :math:`G_i = \sum dy\,\hat P_i`, :math:`\bar{dy}` the
  mean of dy:

  - training: :math:`dx = \sum_i w_i g_i'(x) \big(dy - \bar{dy} - \hat P_i G_i / M\big)`, the
    batch-norm backward (:mod:`slaf_np.kernels.batchnorm`) of each term, computed as
    :math:`\sum_i g_i' \big(w_i (dy - \bar{dy}) - q_i (g_i - \mu_i)\big)`,
    :math:`q_i = w_i G_i / (M s_i)`;
  - evaluation: :math:`dx = dy \sum_i w_i g_i'(x)`.

  The kernels return ``dx``, ``G`` (D, k) and :math:`\sum dy` (D,); the layer turns them into
  ``dc``, ``dalpha`` and ``db``.

A basis that is a recurrence in a function of its input, :math:`g_i(x) = h_i(u(x))`
(:class:`slaf_np.bases.Substitution`; ``fourier``, with :math:`u(x) = \sin(\pi x / 2)`), runs on
:math:`t = u(x)`, computed in float64, and its input gradient is multiplied by :math:`u'(x)`.
The NumPy twins, with the same signatures, are in :mod:`slaf_np.kernels.slaf_numpy`; a basis
with neither form is served by them inside the same call.

Layout. Every kernel takes the (already scaled) input as a C-contiguous array ``x`` of shape
(N, D, S): a dense input (N, D) is (N, D, 1), a convolutional input (N, C, H, W) is (N, C, H*W).
The values of a block of features ``d0 <= d < d1`` of one sample are one contiguous run of
length ``L = (d1 - d0) * S``; ranges of blocks go to threads (:mod:`slaf_np.kernels.parallel`).
A pass (:func:`_pass`) runs over the samples of a block two at a time, and one sweep
(:func:`_sweep`) over the two runs evaluates up to :data:`CHUNK` = 4 consecutive terms of both
by the recurrence of :mod:`slaf_np.bases` (:func:`_step`),

.. math::

    g_{n+1} = \alpha_n x g_n - \beta_n g_{n-1}, \qquad
    g_{n+1}' = \alpha_n (g_n + x g_n') - \beta_n g_{n-1}',

using each term at once. The k terms are never stored for the whole batch: the only full-size
arrays are the output (y or dx).

Speed. What a sweep does (``use``) is a constant at each call, which numba types as a literal,
and the chunk's coefficients come as a tuple whose length is part of its type: numba compiles
one version per (use, chunk size), in which the loop over terms unrolls, the branches on
``use`` fold away, arithmetic a use does not need is dropped, and the loop over positions
vectorises with the chunk's terms in registers. A sweep writes no state (an ADVANCE sweep moves
it on between chunks): every further array written in the loop adds run-time alias checks, and
past a handful LLVM leaves the loop scalar. Two samples per sweep halve the loads and stores of
the per-term sums and tables, and one call per sweep keeps numba's call cost (about 0.1 us with
a dozen arrays) low. One training step (N = 256, D = 1024, k = 4, float32, one thread): terms
in memory, 2.74 ms; in registers, 1.8 ms; two samples per sweep, about 0.9 ms.

Numerics. Terms and sums are float64 whatever the input dtype, so high powers keep their
accuracy. The batch mean and variance come from Welford's method per position of a run, each
pair of new values merged into the n seen so far by Chan et al.'s formula (:func:`_chan`), then
the S positions of a feature merged by the same formula. Never :math:`E[p^2] - E[p]^2`, which
cancels catastrophically when a term's mean is large compared with its spread: a float32 input
with mean 100 and spread 0.05 gives the variance of :math:`x^4` to 1e-9 relative
(tests/test_kernels.py). No ``fastmath``. ``NUMBA_DISABLE_JIT=1`` runs the kernels as plain
Python for debugging.
"""

from __future__ import annotations

import numpy as np

from .. import bases
from . import slaf_numpy
from ._jit import njit
from .parallel import run_ranges, threads_for

__all__ = ["forward_train", "forward_eval", "backward_train", "backward_eval", "term_stats",
           "CHUNK"]

CHUNK = 4
"""Terms evaluated together per sweep over a run: their recurrence stays in registers."""

STATS, VALUES, CENTRED, SLOPES, GRAD_X, ADVANCE, ADVANCE_VALUES = range(7)
"""What a sweep does with each term; see :func:`_sweep`."""


# ------------------------------------------------------------------------ one sweep (jitted)

@njit(inline="always")
def _step(alpha, beta, x, g, g_prev, dg, dg_prev):
    """One step of the recurrence: ``(g_{n+1}, g_n, g'_{n+1}, g'_n)`` from
    ``(g_n, g_{n-1}, g'_n, g'_{n-1})``."""
    return alpha * x * g - beta * g_prev, g, alpha * (g + x * dg) - beta * dg_prev, dg


@njit(inline="always")
def _chan(mean, m2, mean_b, m2_b, f, h):
    """Chan et al.: merge a group of n_b values (mean_b, M2_b) into one of n values (mean, M2),
    given ``f = n_b / (n + n_b)`` and ``h = n f``."""
    delta = mean_b - mean
    return mean + delta * f, m2 + (m2_b + delta * delta * h)


@njit
def _sweep(use, i0, coef, xa, xb, ea, eb, st, T, U, V, outa, outb, f, h):
    """Terms i0..i0+C-1 of two samples' runs ``xa``, ``xb``, each used at once as ``use`` says.

    ``coef`` holds the C pairs (alpha_n, beta_n), n = i0..i0+C-1. ``st`` holds the recurrence
    state (rows 0-3: g_{i0}, g_{i0-1} and their derivatives for sample a; rows 4-7 for b). The
    tables (k, L) are T the terms' means, V their weights w = a / s, and U one more, by use.
    With t = g_j(x_a), u = g_j(x_b), derivatives t', u', and e_a, e_b the samples' entries of
    ``ea``, ``eb``:

    ==============  ==============================================================
    use             per term j and position p
    ==============  ==============================================================
    STATS           merge the pair (mean (t + u)/2, M2 (t - u)^2/2) into Welford's
                    (T, U) = (mean, M2) (:func:`_chan`, with ``f``, ``h``)
    VALUES          out_a += V_j t, out_b += V_j u (the forward's weighted sum)
    CENTRED         U_j += e_a (t - T_j) + e_b (u - T_j) (G before its 1/s)
    SLOPES          out_a += V_j t', out_b += V_j u' (the evaluation backward)
    GRAD_X          out_a += t' (V_j e_a - U_j (t - T_j)), likewise b (training dx)
    ADVANCE         nothing; afterwards ``st`` holds the state after the C terms
    ADVANCE_VALUES  the same without the derivatives, for the passes that use none
    ==============  ==============================================================
    """
    summing = use == VALUES or use == SLOPES or use == GRAD_X
    reading_e = use == CENTRED or use == GRAD_X
    for p in range(xa.shape[0]):
        x, y = np.float64(xa[p]), np.float64(xb[p])
        t, t1, dt, dt1 = st[0, p], st[1, p], st[2, p], st[3, p]
        u, u1, du, du1 = st[4, p], st[5, p], st[6, p], st[7, p]
        sa = outa[p] if summing else 0.0
        sb = outb[p] if summing else 0.0
        e_a = ea[p] if reading_e else 0.0
        e_b = eb[p] if reading_e else 0.0
        for j in range(len(coef)):
            alpha, beta = coef[j]
            t, t1, dt, dt1 = _step(alpha, beta, x, t, t1, dt, dt1)
            u, u1, du, du1 = _step(alpha, beta, y, u, u1, du, du1)
            i = i0 + j
            if use == STATS:
                d = t - u
                T[i, p], U[i, p] = _chan(T[i, p], U[i, p], 0.5 * (t + u), 0.5 * d * d, f, h)
            elif use == VALUES:
                sa += V[i, p] * t
                sb += V[i, p] * u
            elif use == CENTRED:
                m = T[i, p]
                U[i, p] += e_a * (t - m) + e_b * (u - m)
            elif use == SLOPES:
                sa += V[i, p] * dt
                sb += V[i, p] * du
            elif use == GRAD_X:
                m = T[i, p]
                sa += dt * (V[i, p] * e_a - U[i, p] * (t - m))
                sb += du * (V[i, p] * e_b - U[i, p] * (u - m))
        if summing:
            outa[p] = sa
            outb[p] = sb
        if use == ADVANCE or use == ADVANCE_VALUES:
            st[0, p], st[1, p], st[4, p], st[5, p] = t, t1, u, u1
        if use == ADVANCE:
            st[2, p], st[3, p], st[6, p], st[7, p] = dt, dt1, du, du1


@njit
def _pass(use, x2, dy2, out2, off, L, coef, last, T, U, V, row):
    """Every term of every sample of a block (the runs ``x2[n, off:off + L]``), two samples
    per sweep: chunks of CHUNK terms with the coefficients ``coef`` (k, 2), the state moved on
    after each, then a last chunk of R = 1..CHUNK terms whose pairs (alpha_n, beta_n) are the
    tuple ``last``. Its length is part of its type, so numba compiles a version of the pass for
    each R, with every chunk size a constant.

    Besides the tables T, U, V (k, L) of :func:`_sweep`, a pass reads the rows ``dy2`` and
    writes the rows ``out2`` (N, D*S) and one per-position row ``row`` (L,):

    ========  ====================================================================
    use       before the sweeps; after them (for each pair of samples)
    ========  ====================================================================
    STATS     f = (new values) / (values seen), h = (values seen before) f
    VALUES    sums start at ``row`` (b - sum_i w_i mu_i); out2 = the sums (y)
    CENTRED   e = dy; ``row`` += dy (the sum of dy)
    SLOPES    as CENTRED, and the CENTRED sweeps run too, each in a loop of its own
              (fused, the loop stays scalar); sums start at 0; out2 = e * sums (dx)
    GRAD_X    e = dy - ``row`` (the mean of dy), sums start at 0; out2 = sums (dx)
    ========  ====================================================================

    An odd last sample is paired with itself: a count of 1 (STATS), e_b = 0 (so that it counts
    once), and its out2 row written from sample a.
    """
    N, k0 = x2.shape[0], coef.shape[0] - len(last)    # k0: the terms before the last chunk
    reads_dy = use == CENTRED or use == SLOPES or use == GRAD_X
    sums = use == VALUES or use == SLOPES or use == GRAD_X
    rows = np.empty((12, L))               # one allocation: the state, e_a, e_b and the sums
    st, ea, eb, outa, outb = _start(rows[:8]), rows[8], rows[9], rows[10], rows[11]
    for n0 in range(0, N, 2):
        n1 = min(n0 + 1, N - 1)
        xa, xb = x2[n0, off:off + L], x2[n1, off:off + L]
        f, b_counts = (n1 - n0 + 1.0) / (n1 + 1.0), 1.0 if n1 > n0 else 0.0
        if reads_dy:                  # row views: indexing dy2[n, off + p] took 1.3 times as long
            dya, dyb = dy2[n0, off:off + L], dy2[n1, off:off + L]
        for p in range(L):
            if reads_dy:
                shift = row[p] if use == GRAD_X else 0.0
                ea[p], eb[p] = dya[p] - shift, (dyb[p] - shift) * b_counts
            if use == CENTRED or use == SLOPES:
                row[p] = (row[p] + ea[p]) + eb[p]
            if sums:
                outa[p] = outb[p] = row[p] if use == VALUES else 0.0
        if k0 > 0:
            _start(st)
        for i0 in range(0, k0, CHUNK):
            four = ((coef[i0, 0], coef[i0, 1]), (coef[i0 + 1, 0], coef[i0 + 1, 1]),
                    (coef[i0 + 2, 0], coef[i0 + 2, 1]), (coef[i0 + 3, 0], coef[i0 + 3, 1]))
            if use == SLOPES:
                _sweep(CENTRED, i0, four, xa, xb, ea, eb, st, T, U, V, outa, outb, f, n0 * f)
            _sweep(use, i0, four, xa, xb, ea, eb, st, T, U, V, outa, outb, f, n0 * f)
            if use == SLOPES or use == GRAD_X:
                _sweep(ADVANCE, i0, four, xa, xb, ea, eb, st, T, U, V, outa, outb, f, n0 * f)
            else:
                _sweep(ADVANCE_VALUES, i0, four, xa, xb, ea, eb, st, T, U, V, outa, outb, f,
                       n0 * f)
        if use == SLOPES:
            _sweep(CENTRED, k0, last, xa, xb, ea, eb, st, T, U, V, outa, outb, f, n0 * f)
        _sweep(use, k0, last, xa, xb, ea, eb, st, T, U, V, outa, outb, f, n0 * f)
        if sums:                     # b first: for an odd last sample, n1 = n0 and a is right
            ya, yb = out2[n0, off:off + L], out2[n1, off:off + L]
            for p in range(L):
                yb[p] = (eb[p] if use == SLOPES else 1.0) * outb[p]
                ya[p] = (ea[p] if use == SLOPES else 1.0) * outa[p]


@njit
def _start(st):
    """The state before the first term: g_0 = 1, g_{-1} = 0, derivatives 0 (both samples)."""
    st[:, :] = 0.0
    st[0, :] = st[4, :] = 1.0
    return st


@njit
def _along(A, S):
    """out[i, p] = A[p // S, i]: a table of the block's features (d1 - d0, k) laid out along
    the run, (k, L)."""
    out = np.empty((A.shape[1], A.shape[0] * S))
    for p in range(out.shape[1]):
        for i in range(out.shape[0]):
            out[i, p] = A[p // S, i]
    return out


@njit
def _merge(mu, m2, N, d0, S, mean, var):
    """Mean and biased variance of each feature from its S positions' (mean, M2) of N values
    each, merged one position at a time (:func:`_chan`)."""
    k, L = mu.shape
    for q in range(L // S):
        for i in range(k):
            m, M2 = mu[i, q * S], m2[i, q * S]
            for s in range(1, S):
                m, M2 = _chan(m, M2, mu[i, q * S + s], m2[i, q * S + s], 1.0 / (s + 1),
                              N * s / (s + 1.0))
            mean[d0 + q, i] = m
            var[d0 + q, i] = M2 / (N * S)


# ------------------------------------------------------------------ ranges of blocks (jitted)

@njit(nogil=True)
def _forward_range(x2, y, S, coef, last, a, b, mean, var, std, eps, train, want_y, d0, d1,
                   bs):
    """The forward of features d0 <= d < d1, in blocks of ``bs``. ``train``: first write the
    batch mean and variance of the terms to ``mean`` and ``var``, and ``sqrt(var + eps)`` to
    ``std``; otherwise ``mean`` and ``std`` are given. ``want_y``: write the rows of ``y``."""
    k, no1, no2 = a.shape[1], np.empty(0), np.empty((0, 0))
    for e0 in range(d0, d1, bs):
        block = slice(e0, min(d1, e0 + bs))
        L = (block.stop - e0) * S
        if train:                                     # pass 1: Welford per position
            mu, m2 = np.zeros((k, L)), np.zeros((k, L))
            _pass(STATS, x2, no2, no2, e0 * S, L, coef, last, mu, m2, no2, no1)
            _merge(mu, m2, x2.shape[0], e0, S, mean, var)
            std[block] = np.sqrt(var[block] + eps)
        if want_y:           # pass 2: y = sum_i w_i g_i + (b - sum_i w_i mu_i), w_i = a_i / s_i
            mu, w = _along(mean[block], S), _along(a[block] / std[block], S)
            c0 = _along(b[block].reshape(-1, 1), S)[0]
            for i in range(k):
                c0 -= w[i] * mu[i]
            _pass(VALUES, x2, no2, y, e0 * S, L, coef, last, no2, no2, w, c0)


@njit(nogil=True)
def _backward_range(dy2, x2, dx, G, dsum, S, coef, last, a, mean, std, train, d0, d1, bs):
    """The backward of features d0 <= d < d1, in blocks of ``bs``: writes dx (N, D*S),
    G = sum dy P^ (D, k) and sum dy (D, 1)."""
    k, M = a.shape[1], x2.shape[0] * S
    for e0 in range(d0, d1, bs):
        block = slice(e0, min(d1, e0 + bs))
        L = (block.stop - e0) * S
        mu, w = _along(mean[block], S), _along(a[block] / std[block], S)
        acc, dy_sum = np.zeros((k, L)), np.zeros((1, L))
        # pass 1: sum dy (g_i - mu_i) and sum dy; in evaluation also dx = dy sum_i w_i g_i'
        if train:
            _pass(CENTRED, x2, dy2, dx, e0 * S, L, coef, last, mu, acc, w, dy_sum[0])
        else:
            _pass(SLOPES, x2, dy2, dx, e0 * S, L, coef, last, mu, acc, w, dy_sum[0])
        # sums over the S positions of each feature; G_i = sum dy (g_i - mu_i) / s_i
        G[block] = acc.reshape((k, -1, S)).sum(axis=2).T / std[block]
        dsum[block] = dy_sum.reshape((1, -1, S)).sum(axis=2).T
        if train:            # pass 2: dx = sum_i g_i' (w_i dv - q_i (g_i - mu_i)), dv = dy - mean
            q = np.empty((k, L))                      # q_i = w_i G_i / (M s_i)
            for i, p in np.ndindex(k, L):
                q[i, p] = w[i, p] * G[e0 + p // S, i] / (M * std[e0 + p // S, i])
            _pass(GRAD_X, x2, dy2, dx, e0 * S, L, coef, last, mu, q, w,
                  _along(dsum[block] / M, S)[0])


# ----------------------------------------------------------------------------- public wrappers

def _block_size(D: int, S: int, threads: int) -> int:
    """Features per block: runs of about 128..512 values, and about 4 blocks per thread.

    Runs shorter than 128 values cost more in per-row overhead (views, loop set-up for each
    chunk of terms of every pair of samples) than they gain in balance: with 64-value runs the
    kernels ran about 15-30 % slower (N = 256, D = 256, k = 8)."""
    bs = max(1, min(max(1, 512 // S), -(-D // (4 * threads))))
    if bs * S < 128:
        bs = min(D, -(-128 // S))
    return bs


def _f64(a) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float64)


def _form(x: np.ndarray, basis: str, k: int, where: str):
    """``(recurrence, t, substitution)``: ``(coef, last)`` for :func:`_pass`, the rows
    (alpha_n, beta_n) of ``basis`` (k, 2) and the last chunk's pairs as a tuple; ``t`` the
    values the recurrence runs on, ``x`` itself or ``u(x)`` in float64 (a float32 ``t`` would
    round away what the float64 terms keep) for a basis with a
    :class:`~slaf_np.bases.Substitution`, which is returned too (else None). None when the basis
    has no recurrence (the NumPy twin serves it). Checks the layout of ``x``."""
    if np.ndim(x) != 3:
        raise ValueError(f"kernels.slaf.{where}: expected x of shape (N, D, S), got "
                         f"{np.shape(x)}")
    form = bases.kernel_form(basis, k)
    if form is None:
        return None
    coef, sub = form
    last = tuple(map(tuple, coef[(k - 1) // CHUNK * CHUNK:].tolist()))
    return (coef, last), (x if sub is None else sub.u(_f64(x))), sub


def _forward(x, recurrence, a, b, mean, var, std, eps, train, want_y, dtype):
    """Launch :func:`_forward_range` over all features; returns y (N, D, S) in ``dtype``."""
    x = np.ascontiguousarray(x)
    N, D, S = x.shape
    y2 = np.empty((N, D * S) if want_y else (0, 0), dtype)
    threads = threads_for(x.size * a.shape[1])
    run_ranges(_forward_range, D, _block_size(D, S, threads), threads, x.reshape(N, D * S), y2,
               S, *recurrence, a, _f64(b), mean, var, std, float(eps), train, want_y)
    return y2.reshape(x.shape) if want_y else None


def forward_train(x: np.ndarray, basis: str, a: np.ndarray, b: np.ndarray, eps: float):
    """Training forward of normalised SLAF terms.

    Parameters
    ----------
    x : ndarray (N, D, S), float32 or float64
        The scaled input.
    basis : str
        A name in :data:`slaf_np.bases.BASES`.
    a : ndarray (D, k)
        Effective coefficients ``c * gate``.
    b : ndarray (D,)
        Bias.
    eps : float
        Added to each term's variance.

    Returns
    -------
    y : ndarray (N, D, S), dtype of x
    mean, var : ndarray (D, k), float64
        Batch mean and biased variance of each term.
    """
    form = _form(x, basis, np.shape(a)[1], "forward_train")
    if form is None:
        return slaf_numpy.forward_train(x, basis, a, b, eps)
    recurrence, t, _ = form
    a = _f64(a)
    mean, var, std = np.empty(a.shape), np.empty(a.shape), np.empty(a.shape)
    y = _forward(t, recurrence, a, b, mean, var, std, eps, True, True, x.dtype)
    return y, mean, var


def forward_eval(x: np.ndarray, basis: str, a: np.ndarray, b: np.ndarray, mean: np.ndarray,
                 std: np.ndarray) -> np.ndarray:
    """Forward with fixed statistics: ``y = sum_i a_i (g_i(x) - mean_i) / std_i + b``.

    ``mean``, ``std`` (D, k): running mean and ``sqrt(running_var + eps)``, or 0 and 1 for raw
    terms; other arguments as in :func:`forward_train`. Returns y (N, D, S) in x's dtype.
    """
    form = _form(x, basis, np.shape(a)[1], "forward_eval")
    if form is None:
        return slaf_numpy.forward_eval(x, basis, a, b, mean, std)
    recurrence, t, _ = form
    a = _f64(a)
    return _forward(t, recurrence, a, b, _f64(mean), np.empty((0, 0)), _f64(std), 0.0, False, True,
                    x.dtype)


def term_stats(x: np.ndarray, basis: str, k: int):
    """Mean and biased variance (D, k), float64, of g_1..g_k over the N * S values of each
    feature (Welford, then Chan's merge)."""
    form = _form(x, basis, k, "term_stats")
    if form is None:
        return slaf_numpy.term_stats(x, basis, k)
    recurrence, t, _ = form
    D = np.shape(x)[1]
    mean, var, std = np.empty((D, k)), np.empty((D, k)), np.empty((D, k))
    _forward(t, recurrence, np.zeros((D, k)), np.zeros(D), mean, var, std, 0.0, True, False,
             t.dtype)
    return mean, var


def backward_train(dy: np.ndarray, x: np.ndarray, basis: str, a: np.ndarray, mean: np.ndarray,
                   std: np.ndarray):
    """Training backward through the batch statistics.

    Parameters
    ----------
    dy, x : ndarray (N, D, S), same dtype
    basis : str
    a : ndarray (D, k)
        Effective coefficients ``c * gate``.
    mean, std : ndarray (D, k)
        The batch mean and ``sqrt(var + eps)`` used by the forward.

    Returns
    -------
    dx : ndarray (N, D, S), dtype of x
    G : ndarray (D, k), float64
        ``sum over (n, s) of dy * P^_i``.
    dy_sum : ndarray (D,), float64
    """
    form = _form(x, basis, np.shape(a)[1], "backward_train")
    if form is None:
        return slaf_numpy.backward_train(dy, x, basis, a, mean, std)
    return _backward(dy, x, *form, a, mean, std, True)


def backward_eval(dy: np.ndarray, x: np.ndarray, basis: str, a: np.ndarray, mean: np.ndarray,
                  std: np.ndarray):
    """Backward with fixed statistics (evaluation, or raw terms with mean 0 and std 1).

    Same arguments and returns as :func:`backward_train`; ``dx = dy * sum_i a_i g_i'(x) / std_i``.
    """
    form = _form(x, basis, np.shape(a)[1], "backward_eval")
    if form is None:
        return slaf_numpy.backward_eval(dy, x, basis, a, mean, std)
    return _backward(dy, x, *form, a, mean, std, False)


def _backward(dy, x_in, recurrence, t, sub, a, mean, std, training: bool):
    """Launch :func:`_backward_range` over all features, on ``t`` (see :func:`_form`); with a
    substitution, ``dx`` is the gradient with respect to t times ``u'(x)``."""
    x = np.ascontiguousarray(t)
    N, D, S = x.shape
    dy = np.ascontiguousarray(dy, dtype=x_in.dtype).reshape(N, D * S)
    a = _f64(a)
    dx, G, dsum = np.empty(x.shape, x_in.dtype), np.empty(a.shape), np.empty((D, 1))
    threads = threads_for(x.size * a.shape[1])
    run_ranges(_backward_range, D, _block_size(D, S, threads), threads, dy, x.reshape(N, D * S),
               dx.reshape(N, D * S), G, dsum, S, *recurrence, a, _f64(mean), _f64(std),
               training)
    if sub is not None:
        dx *= sub.du(_f64(x_in))
    return dx, G, dsum[:, 0]
