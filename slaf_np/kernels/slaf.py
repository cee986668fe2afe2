r"""Fused numba kernels for the SLAF forward and backward passes, and their plain-NumPy twins.

Layout. Every kernel takes the (already scaled) input as a C-contiguous array ``x`` of shape
(N, D, S): a dense input (N, D) is (N, D, 1), a convolutional input (N, C, H, W) is (N, C, H*W).
Statistics run over the M = N * S values of each feature d. In that layout the values of a block
of features ``d0 <= d < d1`` of one sample n are one contiguous run ``x[n, d0:d1, :]`` of length
``L = (d1 - d0) * S``. The features are split into ranges of blocks that threads take in turn
(:func:`_run`), and inside a block the kernels run over the samples, two at a time. For each
pair, one sweep over the run evaluates a chunk of up to :data:`CHUNK` = 4 consecutive terms of
both samples by the three-term recurrence and uses each at once (Welford merge, output sum,
gradient sums): the chunk's terms live in registers, since the chunk size is a compile-time
constant (:func:`_chunk_kernels`), which lets LLVM unroll the loop over terms and vectorise the
loop over positions; and two samples per sweep halve the traffic of the per-term sums and
tables. A larger k takes several sweeps, the state passed on in eight float64 rows
(:func:`_advance`). The k terms are never stored for the whole batch: the only full-size arrays
are the output (y or dx).

Speed, one SLAF training step (N = 256, D = 1024, k = 4, float32, one thread): rolling rows of
terms in memory, 2.74 ms; terms in registers, 1.8 ms; and two samples per sweep, 1.45-1.55 ms.

Basis terms (``code``: 0 power, 1 chebyshev, 2 legendre, 3 hermite) all follow one recurrence
(:func:`recurrence`), with :math:`g_0 = 1`, :math:`g_{-1} = 0`:

.. math::

    g_{n+1} = \alpha_n x g_n - \beta_n g_{n-1}, \qquad
    g_{n+1}' = \alpha_n (g_n + x g_n') - \beta_n g_{n-1}'

=========  ====================================  ============================
code       :math:`\alpha_n`                      :math:`\beta_n`
=========  ====================================  ============================
power      1                                     0
chebyshev  1 for n = 0, else 2                   1 for n >= 1
legendre   (2n + 1) / (n + 1)                    n / (n + 1)
hermite    1                                     n
=========  ====================================  ============================

Numerics. Terms and sums are float64 whatever the input dtype (float32 inputs are read as float32
and widened per value), so high powers keep their accuracy. The batch mean and variance come from
Welford's method run for each position p of a run over the samples (position p sees one value per
sample): each pair of new values, with mean m' and :math:`M_2' = (g_a - g_b)^2 / 2`, is merged
into the n values seen so far by Chan et al.'s formula, ``delta = m' - mu; mu += delta * 2 /
(n + 2); M2 += M2' + delta**2 * 2 n / (n + 2)`` (an odd last sample alone, with count 1); then
the S positions of a feature are merged the same way. Never :math:`E[p^2] - E[p]^2`, which
cancels catastrophically when a term's mean is large compared with its spread. This needs one
pass where the two-pass (mean, then centred squares) algorithm needs two, and is as stable here
(a float32 input with mean 100 and spread 0.05 gives the variance of :math:`x^4` to 1e-9
relative; tests/test_kernels.py). No ``fastmath``.

The maths (per feature d and term i; ``a = c * gate``; ``s = sqrt(var + eps)``):

* forward: :math:`\hat P_i = (g_i(x) - \mu_i)/s_i`, :math:`y = \sum_i a_i \hat P_i + b`
  (training: :math:`\mu, var` from the batch; evaluation: given running values; unnormalised:
  :math:`\mu = 0, s = 1`);
* backward, with :math:`w_i = a_i / s_i`, :math:`G_i = \sum dy\,\hat P_i`, :math:`\bar{dy}` the
  mean of dy:

  - training: :math:`dx = \sum_i w_i g_i'(x) \big(dy - \bar{dy} - \hat P_i G_i / M\big)`
    (the batch-norm term: the gradient through :math:`\mu_i` and :math:`var_i`);
  - evaluation: :math:`dx = dy \sum_i w_i g_i'(x)`.

  The kernels return ``dx``, ``G`` (D, k) and :math:`\sum dy` (D,); the layer turns them into
  ``dc``, ``dalpha`` and ``db``.

The twins (``*_numpy``) have the same signatures and materialise the terms with
:func:`slaf_np.bases.evaluate` (in float64); they also serve basis ``fourier`` (code 4), which has
no kernel. Set ``NUMBA_DISABLE_JIT=1`` to run the kernels as plain Python for debugging.
"""

from __future__ import annotations

import os
from types import SimpleNamespace

import numpy as np

from .. import bases
from ._jit import njit

__all__ = ["CODES", "POLYNOMIAL_CODES", "recurrence", "forward_train", "forward_eval",
           "backward_train", "backward_eval", "term_stats", "forward_train_numpy",
           "forward_eval_numpy", "backward_train_numpy", "backward_eval_numpy", "term_stats_numpy",
           "get_backend", "BACKENDS"]

CODES = {"power": 0, "chebyshev": 1, "legendre": 2, "hermite": 3, "fourier": 4}
NAMES = {v: k for k, v in CODES.items()}
POLYNOMIAL_CODES = (0, 1, 2, 3)


# --------------------------------------------------------------------------- recurrence (jitted)

@njit
def recurrence(code, k):
    """Coefficients ``(alpha, beta)``, each (k,), of ``g_{n+1} = alpha_n x g_n - beta_n g_{n-1}``
    for n = 0..k-1 (``g_0 = 1``, ``g_{-1} = 0``), for basis ``code`` 0..3."""
    al = np.ones(k)
    be = np.zeros(k)
    for n in range(k):
        if code == 1:
            al[n] = 1.0 if n == 0 else 2.0
            be[n] = 0.0 if n == 0 else 1.0
        elif code == 2:
            al[n] = (2.0 * n + 1.0) / (n + 1.0)
            be[n] = n / (n + 1.0)
        elif code == 3:
            be[n] = float(n)
    return al, be


CHUNK = 4
"""Terms evaluated together per sweep over a run: their recurrence stays in registers."""


@njit
def _padded(code, k):
    """:func:`recurrence` padded with CHUNK - 1 unused entries, so that a chunk may read
    ``CHUNK`` coefficients from any term index ``i0 < k``."""
    al, be = recurrence(code, k)
    alp = np.ones(k + CHUNK - 1)
    bep = np.zeros(k + CHUNK - 1)
    alp[:k] = al
    bep[:k] = be
    return alp, bep


def _chunk_kernels(C):
    """The inner loops for a chunk of ``C`` consecutive terms ``i0 .. i0 + C - 1`` (1 <= C <=
    CHUNK), for two samples a and b at once.

    ``C`` is a closure constant, so numba compiles one version per chunk size in which the loop
    over the C terms unrolls and the loop over the positions p of a run vectorises. Each loop
    starts the recurrence of both samples from the state rows ``st`` (rows 0-3: :math:`g_{i_0}`,
    :math:`g_{i_0-1}` and their derivatives for sample a; rows 4-7 for sample b) and keeps the C
    new terms in registers; it writes no state (:func:`_advance` moves the rows on when more
    chunks follow): every further array written in the loop adds run-time alias checks, and past
    a handful LLVM leaves the loop scalar. Two samples per sweep halve the loads and stores of
    the per-term sums (Welford state, gradient sums) and of the per-term tables. An odd last
    sample is passed as both a and b, with a count of 1 (``stats``), a zero ``db`` (``gsum``) or
    a discarded ``b`` output. The recurrence coefficients are read into tuples first, for the
    same reason: loads from an array that might alias the rows written keep the loop scalar."""

    @njit
    def stats(xa, xb, cnt, n, al, be, i0, st, mu, m2):
        """Merge ``cnt`` (2, or 1 when xa is xb) new values of terms i0.. into Welford's (mu, M2)
        of n values (Chan et al.): delta = mean_new - mu; mu += delta cnt / (n + cnt);
        M2 += M2_new + delta^2 n cnt / (n + cnt), with M2_new = (g_a - g_b)^2 / 2."""
        ca = (al[i0], al[i0 + 1], al[i0 + 2], al[i0 + 3])
        cb = (be[i0], be[i0 + 1], be[i0 + 2], be[i0 + 3])
        f = cnt / (n + cnt)
        h = n * f
        for p in range(xa.shape[0]):
            x = np.float64(xa[p])
            y = np.float64(xb[p])
            u = st[0, p]
            v = st[1, p]
            uu = st[4, p]
            vv = st[5, p]
            for j in range(C):
                t = ca[j] * x * u - cb[j] * v
                v = u
                u = t
                s = ca[j] * y * uu - cb[j] * vv
                vv = uu
                uu = s
                dd = t - s
                delta = 0.5 * (t + s) - mu[i0 + j, p]
                mu[i0 + j, p] += delta * f
                m2[i0 + j, p] += 0.5 * dd * dd + delta * delta * h

    @njit
    def output(xa, xb, al, be, i0, st, w, acca, accb):
        """acc += sum_j w_j g_j over terms i0.. (the forward's weighted sum), both samples."""
        ca = (al[i0], al[i0 + 1], al[i0 + 2], al[i0 + 3])
        cb = (be[i0], be[i0 + 1], be[i0 + 2], be[i0 + 3])
        for p in range(xa.shape[0]):
            x = np.float64(xa[p])
            y = np.float64(xb[p])
            u = st[0, p]
            v = st[1, p]
            uu = st[4, p]
            vv = st[5, p]
            sa = acca[p]
            sb = accb[p]
            for j in range(C):
                t = ca[j] * x * u - cb[j] * v
                v = u
                u = t
                s = ca[j] * y * uu - cb[j] * vv
                vv = uu
                uu = s
                wj = w[i0 + j, p]
                sa += wj * t
                sb += wj * s
            acca[p] = sa
            accb[p] = sb

    @njit
    def gsum(xa, xb, da, db, al, be, i0, st, mu, acc):
        """acc_j += dy_a (g_a - mu_j) + dy_b (g_b - mu_j) over terms i0.. (G before its 1/s)."""
        ca = (al[i0], al[i0 + 1], al[i0 + 2], al[i0 + 3])
        cb = (be[i0], be[i0 + 1], be[i0 + 2], be[i0 + 3])
        for p in range(xa.shape[0]):
            x = np.float64(xa[p])
            y = np.float64(xb[p])
            u = st[0, p]
            v = st[1, p]
            uu = st[4, p]
            vv = st[5, p]
            ea = da[p]
            eb = db[p]
            for j in range(C):
                t = ca[j] * x * u - cb[j] * v
                v = u
                u = t
                s = ca[j] * y * uu - cb[j] * vv
                vv = uu
                uu = s
                m = mu[i0 + j, p]
                acc[i0 + j, p] += ea * (t - m) + eb * (s - m)

    @njit
    def dsum(xa, xb, al, be, i0, st, w, outa, outb):
        """out += sum_j w_j g_j' over terms i0.. (the evaluation backward's dx / dy). Kept apart
        from ``gsum``, which it would otherwise share a sweep with: the fused loop stayed
        scalar."""
        ca = (al[i0], al[i0 + 1], al[i0 + 2], al[i0 + 3])
        cb = (be[i0], be[i0 + 1], be[i0 + 2], be[i0 + 3])
        for p in range(xa.shape[0]):
            x = np.float64(xa[p])
            y = np.float64(xb[p])
            u = st[0, p]
            v = st[1, p]
            du = st[2, p]
            dw = st[3, p]
            uu = st[4, p]
            vv = st[5, p]
            duu = st[6, p]
            dww = st[7, p]
            sa = outa[p]
            sb = outb[p]
            for j in range(C):
                t = ca[j] * x * u - cb[j] * v
                dt = ca[j] * (u + x * du) - cb[j] * dw
                v = u
                u = t
                dw = du
                du = dt
                s = ca[j] * y * uu - cb[j] * vv
                ds = ca[j] * (uu + y * duu) - cb[j] * dww
                vv = uu
                uu = s
                dww = duu
                duu = ds
                wj = w[i0 + j, p]
                sa += wj * dt
                sb += wj * ds
            outa[p] = sa
            outb[p] = sb

    @njit
    def dx(xa, xb, da, db, al, be, i0, st, mu, w, q, outa, outb):
        """out += sum_j g_j' (w_j dv - q_j (g_j - mu_j)) over terms i0.. (training dx)."""
        ca = (al[i0], al[i0 + 1], al[i0 + 2], al[i0 + 3])
        cb = (be[i0], be[i0 + 1], be[i0 + 2], be[i0 + 3])
        for p in range(xa.shape[0]):
            x = np.float64(xa[p])
            y = np.float64(xb[p])
            u = st[0, p]
            v = st[1, p]
            du = st[2, p]
            dw = st[3, p]
            uu = st[4, p]
            vv = st[5, p]
            duu = st[6, p]
            dww = st[7, p]
            ea = da[p]
            eb = db[p]
            sa = outa[p]
            sb = outb[p]
            for j in range(C):
                t = ca[j] * x * u - cb[j] * v
                dt = ca[j] * (u + x * du) - cb[j] * dw
                v = u
                u = t
                dw = du
                du = dt
                s = ca[j] * y * uu - cb[j] * vv
                ds = ca[j] * (uu + y * duu) - cb[j] * dww
                vv = uu
                uu = s
                dww = duu
                duu = ds
                m = mu[i0 + j, p]
                wj = w[i0 + j, p]
                qj = q[i0 + j, p]
                sa += dt * (wj * ea - qj * (t - m))
                sb += ds * (wj * eb - qj * (s - m))
            outa[p] = sa
            outb[p] = sb

    return stats, output, gsum, dsum, dx


@njit
def _advance(xa, xb, al, be, i0, st):
    """Move the state rows of both samples on by CHUNK terms: from g_{i0}, g_{i0-1} and their
    derivatives to g_{i0+CHUNK}, g_{i0+CHUNK-1}. Only for k > CHUNK, between chunks. (The
    tuples read CHUNK = 4 coefficients, as in :func:`_chunk_kernels`.)"""
    ca = (al[i0], al[i0 + 1], al[i0 + 2], al[i0 + 3])
    cb = (be[i0], be[i0 + 1], be[i0 + 2], be[i0 + 3])
    for p in range(xa.shape[0]):
        x = np.float64(xa[p])
        y = np.float64(xb[p])
        u = st[0, p]
        v = st[1, p]
        du = st[2, p]
        dw = st[3, p]
        uu = st[4, p]
        vv = st[5, p]
        duu = st[6, p]
        dww = st[7, p]
        for j in range(CHUNK):
            t = ca[j] * x * u - cb[j] * v
            dt = ca[j] * (u + x * du) - cb[j] * dw
            v = u
            u = t
            dw = du
            du = dt
            s = ca[j] * y * uu - cb[j] * vv
            ds = ca[j] * (uu + y * duu) - cb[j] * dww
            vv = uu
            uu = s
            dww = duu
            duu = ds
        st[0, p] = u
        st[1, p] = v
        st[2, p] = du
        st[3, p] = dw
        st[4, p] = uu
        st[5, p] = vv
        st[6, p] = duu
        st[7, p] = dww


@njit
def _advance_values(xa, xb, al, be, i0, st):
    """:func:`_advance` without the derivatives (for the passes that use none)."""
    ca = (al[i0], al[i0 + 1], al[i0 + 2], al[i0 + 3])
    cb = (be[i0], be[i0 + 1], be[i0 + 2], be[i0 + 3])
    for p in range(xa.shape[0]):
        x = np.float64(xa[p])
        y = np.float64(xb[p])
        u = st[0, p]
        v = st[1, p]
        uu = st[4, p]
        vv = st[5, p]
        for j in range(CHUNK):
            t = ca[j] * x * u - cb[j] * v
            v = u
            u = t
            s = ca[j] * y * uu - cb[j] * vv
            vv = uu
            uu = s
        st[0, p] = u
        st[1, p] = v
        st[4, p] = uu
        st[5, p] = vv


# numba resolves a kernel's callees by global name, so each chunk size gets module-level names
_stats1, _output1, _gsum1, _dsum1, _dx1 = _chunk_kernels(1)
_stats2, _output2, _gsum2, _dsum2, _dx2 = _chunk_kernels(2)
_stats3, _output3, _gsum3, _dsum3, _dx3 = _chunk_kernels(3)
_stats4, _output4, _gsum4, _dsum4, _dx4 = _chunk_kernels(4)


@njit
def _start(st):
    """State rows at the start of the recurrence, for both samples: g_0 = 1, g_{-1} = 0, and
    their derivatives 0."""
    for p in range(st.shape[1]):
        for r in (0, 4):
            st[r, p] = 1.0
            st[r + 1, p] = 0.0
            st[r + 2, p] = 0.0
            st[r + 3, p] = 0.0


@njit
def _stats_terms(xa, xb, cnt, n, al, be, k, st, mu, m2):
    """Welford merge of all k terms of two samples' runs (one when xa is xb and cnt = 1)."""
    if k > CHUNK:
        _start(st)
    for i0 in range(0, k, CHUNK):
        C = min(CHUNK, k - i0)
        if C == 4:
            _stats4(xa, xb, cnt, n, al, be, i0, st, mu, m2)
        elif C == 3:
            _stats3(xa, xb, cnt, n, al, be, i0, st, mu, m2)
        elif C == 2:
            _stats2(xa, xb, cnt, n, al, be, i0, st, mu, m2)
        else:
            _stats1(xa, xb, cnt, n, al, be, i0, st, mu, m2)
        if i0 + C < k:
            _advance_values(xa, xb, al, be, i0, st)


@njit
def _output_terms(xa, xb, al, be, k, st, w, acca, accb):
    """acc += sum_i w_i g_i over all k terms of two samples' runs."""
    if k > CHUNK:
        _start(st)
    for i0 in range(0, k, CHUNK):
        C = min(CHUNK, k - i0)
        if C == 4:
            _output4(xa, xb, al, be, i0, st, w, acca, accb)
        elif C == 3:
            _output3(xa, xb, al, be, i0, st, w, acca, accb)
        elif C == 2:
            _output2(xa, xb, al, be, i0, st, w, acca, accb)
        else:
            _output1(xa, xb, al, be, i0, st, w, acca, accb)
        if i0 + C < k:
            _advance_values(xa, xb, al, be, i0, st)


@njit
def _gsum_terms(xa, xb, da, db, al, be, k, st, mu, acc):
    """acc_i += dy (g_i - mu_i) over all k terms of two samples' runs."""
    if k > CHUNK:
        _start(st)
    for i0 in range(0, k, CHUNK):
        C = min(CHUNK, k - i0)
        if C == 4:
            _gsum4(xa, xb, da, db, al, be, i0, st, mu, acc)
        elif C == 3:
            _gsum3(xa, xb, da, db, al, be, i0, st, mu, acc)
        elif C == 2:
            _gsum2(xa, xb, da, db, al, be, i0, st, mu, acc)
        else:
            _gsum1(xa, xb, da, db, al, be, i0, st, mu, acc)
        if i0 + C < k:
            _advance_values(xa, xb, al, be, i0, st)


@njit
def _gsum_eval_terms(xa, xb, da, db, al, be, k, st, mu, w, acc, outa, outb):
    """:func:`_gsum_terms` plus out += sum_i w_i g_i'."""
    if k > CHUNK:
        _start(st)
    for i0 in range(0, k, CHUNK):
        C = min(CHUNK, k - i0)
        if C == 4:
            _gsum4(xa, xb, da, db, al, be, i0, st, mu, acc)
            _dsum4(xa, xb, al, be, i0, st, w, outa, outb)
        elif C == 3:
            _gsum3(xa, xb, da, db, al, be, i0, st, mu, acc)
            _dsum3(xa, xb, al, be, i0, st, w, outa, outb)
        elif C == 2:
            _gsum2(xa, xb, da, db, al, be, i0, st, mu, acc)
            _dsum2(xa, xb, al, be, i0, st, w, outa, outb)
        else:
            _gsum1(xa, xb, da, db, al, be, i0, st, mu, acc)
            _dsum1(xa, xb, al, be, i0, st, w, outa, outb)
        if i0 + C < k:
            _advance(xa, xb, al, be, i0, st)


@njit
def _dx_terms(xa, xb, da, db, al, be, k, st, mu, w, q, outa, outb):
    """out += sum_i g_i' (w_i dv - q_i (g_i - mu_i)) over all k terms of two samples' runs."""
    if k > CHUNK:
        _start(st)
    for i0 in range(0, k, CHUNK):
        C = min(CHUNK, k - i0)
        if C == 4:
            _dx4(xa, xb, da, db, al, be, i0, st, mu, w, q, outa, outb)
        elif C == 3:
            _dx3(xa, xb, da, db, al, be, i0, st, mu, w, q, outa, outb)
        elif C == 2:
            _dx2(xa, xb, da, db, al, be, i0, st, mu, w, q, outa, outb)
        else:
            _dx1(xa, xb, da, db, al, be, i0, st, mu, w, q, outa, outb)
        if i0 + C < k:
            _advance(xa, xb, al, be, i0, st)


@njit
def _expand(A, d0, S, out):
    """out[i, p] = A[d0 + p // S, i]: a per-feature (D, k) table laid out along the run."""
    k, L = out.shape
    for p in range(L):
        d = d0 + p // S
        for i in range(k):
            out[i, p] = A[d, i]


@njit
def _reduce(acc, d0, S, scale, out):
    """out[d0 + p // S, i] = scale * sum of acc[i, p] over the S positions p of each feature."""
    k, L = acc.shape
    for q in range(L // S):
        for i in range(k):
            t = 0.0
            for s in range(S):
                t += acc[i, q * S + s]
            out[d0 + q, i] = t * scale


@njit
def _merge(mu, m2, N, d0, S, mean, var):
    """Merge the S per-position (mean, M2) pairs of each feature, N values each (Chan et al. with
    equal counts): mean = average of the means, M2 = sum M2_s + N sum_s (mean_s - mean)^2."""
    k, L = mu.shape
    for q in range(L // S):
        for i in range(k):
            t = 0.0
            for s in range(S):
                t += mu[i, q * S + s]
            m = t / S
            t = 0.0
            for s in range(S):
                dev = mu[i, q * S + s] - m
                t += m2[i, q * S + s] + N * dev * dev
            mean[d0 + q, i] = m
            var[d0 + q, i] = t / (N * S)


# ------------------------------------------------------------------------------- kernels (jitted)

@njit(nogil=True)
def _forward_range(x2, y, S, al, be, a, b, mean, std, eps, train, want_y, d0, d1, bs):
    """The forward for features d0 <= d < d1, in blocks of ``bs`` features (one call per range
    keeps the Python-side dispatch to a few calls per kernel). ``train``: write the batch
    mean/variance of the terms into ``mean`` and ``std`` (which then holds the *variance*), then
    use ``sqrt(var + eps)``; otherwise ``mean``/``std`` are inputs. The output goes to ``y``
    (N, D*S); ``want_y = False`` skips it (statistics only)."""
    for s0 in range(d0, d1, bs):
        _forward_block(x2, y, S, al, be, a, b, mean, std, eps, train, want_y, s0,
                       min(d1, s0 + bs))


@njit
def _forward_block(x2, y, S, al, be, a, b, mean, std, eps, train, want_y, d0, d1):
    """One block of :func:`_forward_range`, two samples per sweep."""
    N = x2.shape[0]
    k = a.shape[1]
    L = (d1 - d0) * S
    off = d0 * S
    st = np.empty((8, L))
    _start(st)
    mu = np.empty((k, L))
    if train:
        # pass 1, Welford per position p (every position gets one value per sample), two
        # samples merged at a time (Chan et al.); an odd last sample alone
        m2 = np.zeros((k, L))
        mu[:, :] = 0.0
        for n0 in range(0, N, 2):
            n1 = min(n0 + 1, N - 1)
            _stats_terms(x2[n0, off:off + L], x2[n1, off:off + L], float(n1 - n0 + 1),
                         float(n0), al, be, k, st, mu, m2)
        _merge(mu, m2, N, d0, S, mean, std)
    _expand(mean, d0, S, mu)                          # the mean of each term, per position
    if want_y:
        # pass 2 (the only one in evaluation): y = sum_i w_i g_i + (b - sum_i w_i mu_i),
        # w_i = a_i / s_i
        w = np.empty((k, L))
        c0 = np.empty(L)
        acca = np.empty(L)
        accb = np.empty(L)
        for p in range(L):
            d = d0 + p // S
            t = b[d]
            for i in range(k):
                s = np.sqrt(std[d, i] + eps) if train else std[d, i]
                w[i, p] = a[d, i] / s
                t -= w[i, p] * mu[i, p]
            c0[p] = t
        for n0 in range(0, N, 2):
            n1 = min(n0 + 1, N - 1)
            for p in range(L):
                acca[p] = c0[p]
                accb[p] = c0[p]
            _output_terms(x2[n0, off:off + L], x2[n1, off:off + L], al, be, k, st, w,
                          acca, accb)
            ya = y[n0, off:off + L]
            for p in range(L):
                ya[p] = acca[p]
            if n1 > n0:
                yb = y[n1, off:off + L]
                for p in range(L):
                    yb[p] = accb[p]


@njit(nogil=True)
def _backward_range(dy2, x2, dx, gsum, dsum, S, al, be, a, mean, std, train, d0, d1, bs):
    """The backward for features d0 <= d < d1, in blocks of ``bs`` features: writes dx
    (N, D*S), G = sum dy * P^ (D, k) and sum dy (D, 1) for those features."""
    for s0 in range(d0, d1, bs):
        _backward_block(dy2, x2, dx, gsum, dsum, S, al, be, a, mean, std, train, s0,
                        min(d1, s0 + bs))


@njit
def _backward_block(dy2, x2, dx, gsum, dsum, S, al, be, a, mean, std, train, d0, d1):
    """One block of :func:`_backward_range`, two samples per sweep."""
    N = x2.shape[0]
    k = a.shape[1]
    M = N * S
    L = (d1 - d0) * S
    off = d0 * S
    dva = np.empty(L)
    dvb = np.empty(L)
    zero = np.zeros(L)
    outa = np.empty(L)
    outb = np.empty(L)
    st = np.empty((8, L))
    _start(st)
    mu = np.empty((k, L))
    w = np.empty((k, L))
    for p in range(L):
        d = d0 + p // S
        for i in range(k):
            mu[i, p] = mean[d, i]
            w[i, p] = a[d, i] / std[d, i]
    acc = np.zeros((k, L))
    accd2 = np.zeros((1, L))
    accd = accd2[0]
    # pass 1: sum dy (g_i - mu_i) and sum dy (evaluation: dx in the same pass)
    for n0 in range(0, N, 2):
        n1 = min(n0 + 1, N - 1)
        xa = x2[n0, off:off + L]
        xb = x2[n1, off:off + L]
        ra = dy2[n0, off:off + L]
        rb = dy2[n1, off:off + L]
        for p in range(L):
            v = np.float64(ra[p])
            dva[p] = v
            accd[p] += v
        if n1 > n0:
            for p in range(L):
                v = np.float64(rb[p])
                dvb[p] = v
                accd[p] += v
        db = dvb if n1 > n0 else zero                 # an odd last sample counts once
        if train:
            _gsum_terms(xa, xb, dva, db, al, be, k, st, mu, acc)
        else:
            for p in range(L):
                outa[p] = 0.0
                outb[p] = 0.0
            _gsum_eval_terms(xa, xb, dva, db, al, be, k, st, mu, w, acc, outa, outb)
            dxa = dx[n0, off:off + L]
            for p in range(L):
                dxa[p] = dva[p] * outa[p]
            if n1 > n0:
                dxb = dx[n1, off:off + L]
                for p in range(L):
                    dxb[p] = dvb[p] * outb[p]
    _reduce(acc, d0, S, 1.0, gsum)
    for q in range(d1 - d0):                          # G_i = sum dy (g_i - mu_i) / s_i
        for i in range(k):
            gsum[d0 + q, i] /= std[d0 + q, i]
    _reduce(accd2, d0, S, 1.0, dsum)
    if train:
        # pass 2: dx = sum_i w_i g_i' (dy - mean(dy) - P^_i G_i / M)
        #            = sum_i g_i' (w_i dv - q_i (g_i - mu_i)),  dv = dy - mean(dy),
        #              q_i = w_i G_i / (M s_i)
        q = np.empty((k, L))
        mdy = np.empty(L)
        for p in range(L):
            d = d0 + p // S
            mdy[p] = dsum[d, 0] / M
            for i in range(k):
                q[i, p] = w[i, p] * gsum[d, i] / (M * std[d, i])
        for n0 in range(0, N, 2):
            n1 = min(n0 + 1, N - 1)
            ra = dy2[n0, off:off + L]
            rb = dy2[n1, off:off + L]
            for p in range(L):
                dva[p] = ra[p] - mdy[p]
                dvb[p] = rb[p] - mdy[p]
                outa[p] = 0.0
                outb[p] = 0.0
            _dx_terms(x2[n0, off:off + L], x2[n1, off:off + L], dva, dvb, al, be, k, st, mu,
                      w, q, outa, outb)
            dxa = dx[n0, off:off + L]
            for p in range(L):
                dxa[p] = outa[p]
            if n1 > n0:
                dxb = dx[n1, off:off + L]
                for p in range(L):
                    dxb[p] = outb[p]


# ----------------------------------------------------------------------------- public wrappers

def _check(x: np.ndarray, code, where: str) -> np.ndarray:
    if isinstance(code, str):
        code = CODES.get(code, -1)
    if x.ndim != 3:
        raise ValueError(f"kernels.{where}: expected x of shape (N, D, S), got {x.shape}")
    if code not in POLYNOMIAL_CODES:
        raise ValueError(f"kernels.{where}: no numba kernel for basis code {code} "
                         f"({NAMES.get(code, '?')}); use the *_numpy twin")
    return np.ascontiguousarray(x), code


PARALLEL_MIN_WORK = 1 << 16
"""Below this many term evaluations (N * D * S * k) a kernel runs on one thread: waking a thread
costs more than the work (and much more on a busy machine)."""

_POOL = {"pid": None, "pool": None, "workers": 0}


def _pool(workers: int):
    """A persistent pool of ``workers`` threads (made again in a forked child, whose copy of the
    pool has no threads)."""
    from concurrent.futures import ThreadPoolExecutor

    if _POOL["pid"] != os.getpid() or _POOL["workers"] < workers:
        _POOL.update(pid=os.getpid(), workers=workers,
                     pool=ThreadPoolExecutor(workers, thread_name_prefix="slaf_np-kernel"))
    return _POOL["pool"]


def _threads(work: int) -> int:
    """Threads for a kernel call: ``numba.get_num_threads()`` (so ``numba.set_num_threads``,
    ``NUMBA_NUM_THREADS`` and :func:`slaf_np.threads.single_thread` apply), or 1 for small work."""
    if work < PARALLEL_MIN_WORK:
        return 1
    import numba

    return numba.get_num_threads()


def _run(kernel, D: int, bs: int, threads: int, *args):
    """Run ``kernel(*args, d0, d1, bs)`` over all D features, split into ranges of whole blocks
    taken by ``threads`` threads (the caller's included) as each finishes its last.

    Parallelism is over feature ranges with plain threads: the kernels release the GIL
    (``nogil``). numba's ``prange`` ran a training step 5-10 % faster (N = 256, D = 1024, k = 4,
    2 threads: 0.93-1.0 ms against 1.03-1.05 ms), but compiling the kernels inside its parallel
    loops made a first training step take 27 s instead of 19 s, and each of its threading layers
    had a cost here: ``workqueue`` about 90 us per parallel region and no gain from a second
    thread; ``omp`` threads that spun on the core BLAS needed (the Dense layer beside them took
    twice as long) unless told to wait passively, and GNU OpenMP is not fork-safe (numba's
    documentation). Waking the pool thread costs about 45-65 us per call. Two ranges per
    thread, taken in turn, let a thread slowed by another process hand its share over. A forked
    child makes its own pool (its copy has no threads).
    """
    nblocks = -(-D // bs)
    parts = min(nblocks, 2 * threads)
    if parts <= 1 or threads <= 1:
        kernel(*args, 0, D, bs)
        return
    edges = [bs * ((nblocks * i) // parts) for i in range(parts)] + [D]
    ranges = iter(range(parts))                   # next() on it is atomic under the GIL

    def work():
        for i in ranges:
            kernel(*args, edges[i], edges[i + 1], bs)

    futures = [_pool(threads - 1).submit(work) for _ in range(threads - 1)]
    try:
        work()
    finally:
        for f in futures:
            f.result()                            # waits, and re-raises a worker's error


def _block_size(D: int, S: int, threads: int) -> int:
    """Features per block: runs of about 128..512 values, and about 4 blocks per thread.

    Runs shorter than 128 values cost more in per-row overhead (views, loop set-up for each
    chunk of terms of every pair of samples) than they gain in balance: with 64-value runs the
    kernels ran about 15-30 % slower (N = 256, D = 256, k = 8)."""
    bs = max(1, min(max(1, 512 // S), -(-D // (4 * threads))))
    if bs * S < 128:
        bs = min(D, -(-128 // S))
    return bs


def _forward(x, y, code, a, b, mean, std, eps, train, want_y):
    """Launch :func:`_forward_range` over all features of x (N, D, S) into y (same shape)."""
    N, D, S = x.shape
    threads = _threads(x.size * a.shape[1])
    al, be = _padded(code, a.shape[1])
    y2 = y.reshape(N, D * S) if want_y else y.reshape(0, 0)
    _run(_forward_range, D, _block_size(D, S, threads), threads, x.reshape(N, D * S), y2, S,
         al, be, a, b, mean, std, eps, train, want_y)


def _f64(a) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float64)


def forward_train(x: np.ndarray, code: int, a: np.ndarray, b: np.ndarray, eps: float):
    """Training forward of normalised SLAF terms.

    Parameters
    ----------
    x : ndarray (N, D, S), float32 or float64
        The scaled input.
    code : int
        Basis code (:data:`CODES`).
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
    x, code = _check(x, code, "forward_train")
    a = _f64(a)
    mean = np.empty(a.shape)
    var = np.empty(a.shape)
    y = np.empty_like(x)
    _forward(x, y, code, a, _f64(b), mean, var, float(eps), True, True)
    return y, mean, var


def forward_eval(x: np.ndarray, code: int, a: np.ndarray, b: np.ndarray, mean: np.ndarray,
                 std: np.ndarray) -> np.ndarray:
    """Forward with fixed statistics: ``y = sum_i a_i (g_i(x) - mean_i) / std_i + b``.

    ``mean``, ``std`` (D, k): running mean and ``sqrt(running_var + eps)``, or 0 and 1 for raw
    terms.
    Returns y (N, D, S) in x's dtype.
    """
    x, code = _check(x, code, "forward_eval")
    a = _f64(a)
    y = np.empty_like(x)
    _forward(x, y, code, a, _f64(b), _f64(mean), _f64(std), 0.0, False, True)
    return y


def term_stats(x: np.ndarray, code: int, k: int):
    """Mean and biased variance (D, k), float64, of g_1..g_k over the N * S values of each
    feature (Welford, then Chan's merge)."""
    x, code = _check(x, code, "term_stats")
    D = x.shape[1]
    mean = np.empty((D, k))
    var = np.empty((D, k))
    _forward(x, np.empty((0, 0, 0), x.dtype), code, np.zeros((D, k)), np.zeros(D), mean, var,
             0.0, True, False)
    return mean, var


def backward_train(dy: np.ndarray, x: np.ndarray, code: int, a: np.ndarray, mean: np.ndarray,
                   std: np.ndarray):
    """Training backward through the batch statistics.

    Parameters
    ----------
    dy, x : ndarray (N, D, S), same dtype
    code : int
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
    return _backward_call(dy, x, code, a, mean, std, True, "backward_train")


def backward_eval(dy: np.ndarray, x: np.ndarray, code: int, a: np.ndarray, mean: np.ndarray,
                  std: np.ndarray):
    """Backward with fixed statistics (evaluation, or raw terms with mean 0 and std 1).

    Same arguments and returns as :func:`backward_train`; ``dx = dy * sum_i a_i g_i'(x) / std_i``.
    """
    return _backward_call(dy, x, code, a, mean, std, False, "backward_eval")


def _backward_call(dy, x, code, a, mean, std, training: bool, where: str):
    """The shared launch of :func:`backward_train` and :func:`backward_eval`."""
    x, code = _check(x, code, where)
    N, D, S = x.shape
    dy = np.ascontiguousarray(dy, dtype=x.dtype).reshape(N, D * S)
    a = _f64(a)
    dx = np.empty_like(x)
    G = np.empty(a.shape)
    dsum = np.empty((D, 1))
    threads = _threads(x.size * a.shape[1])
    al, be = _padded(code, a.shape[1])
    _run(_backward_range, D, _block_size(D, S, threads), threads, dy, x.reshape(N, D * S),
         dx.reshape(N, D * S), G, dsum, S, al, be, a, _f64(mean), _f64(std), training)
    dsum = dsum[:, 0]
    return dx, G, dsum


# --------------------------------------------------------------------------------- NumPy twins

def _terms(x: np.ndarray, code, k: int):
    """(G, dG) of shape (N, D, S, k), float64, from :func:`slaf_np.bases.evaluate`; ``code`` may
    also be the name of a registered basis without a code."""
    if x.ndim != 3:
        raise ValueError(f"kernels: expected x of shape (N, D, S), got {x.shape}")
    name = NAMES[int(code)] if isinstance(code, (int, np.integer)) else code
    return bases.evaluate(name, np.asarray(x, dtype=np.float64), k)


def forward_train_numpy(x, code, a, b, eps):
    """Twin of :func:`forward_train`: materialises the (N, D, S, k) terms."""
    a = _f64(a)
    G, _ = _terms(x, code, a.shape[1])
    mean = G.mean(axis=(0, 2))
    var = ((G - mean[:, None, :]) ** 2).mean(axis=(0, 2))
    Ph = (G - mean[:, None, :]) / np.sqrt(var + eps)[:, None, :]
    y = (Ph * a[:, None, :]).sum(axis=-1) + _f64(b)[:, None]
    return y.astype(x.dtype), mean, var


def forward_eval_numpy(x, code, a, b, mean, std):
    """Twin of :func:`forward_eval`."""
    a = _f64(a)
    G, _ = _terms(x, code, a.shape[1])
    Ph = (G - _f64(mean)[:, None, :]) / _f64(std)[:, None, :]
    y = (Ph * a[:, None, :]).sum(axis=-1) + _f64(b)[:, None]
    return y.astype(x.dtype)


def term_stats_numpy(x, code, k):
    """Twin of :func:`term_stats`."""
    G, _ = _terms(x, code, k)
    mean = G.mean(axis=(0, 2))
    return mean, ((G - mean[:, None, :]) ** 2).mean(axis=(0, 2))


def _backward_numpy(dy, x, code, a, mean, std, train):
    a, mean, std = _f64(a), _f64(mean)[:, None, :], _f64(std)[:, None, :]
    G, dG = _terms(x, code, a.shape[1])
    dy64 = np.asarray(dy, dtype=np.float64)[..., None]
    Ph = (G - mean) / std
    gsum = (dy64 * Ph).sum(axis=(0, 2))
    dsum = dy64[..., 0].sum(axis=(0, 2))
    dPh = dy64 * a[:, None, :]                                  # dL/dP^_i = a_i dy
    if train:
        M = x.shape[0] * x.shape[2]
        dPh = dPh - dPh.mean(axis=(0, 2), keepdims=True) - Ph * (dPh * Ph).sum(
            axis=(0, 2), keepdims=True) / M
    dx = (dPh / std * dG).sum(axis=-1)                            # dL/dx = sum_i dP_i g_i'
    return dx.astype(x.dtype), gsum, dsum


def backward_train_numpy(dy, x, code, a, mean, std):
    """Twin of :func:`backward_train`."""
    return _backward_numpy(dy, x, code, a, mean, std, True)


def backward_eval_numpy(dy, x, code, a, mean, std):
    """Twin of :func:`backward_eval`."""
    return _backward_numpy(dy, x, code, a, mean, std, False)


BACKENDS = {
    "numba": SimpleNamespace(forward_train=forward_train, forward_eval=forward_eval,
                             backward_train=backward_train, backward_eval=backward_eval,
                             term_stats=term_stats),
    "numpy": SimpleNamespace(forward_train=forward_train_numpy, forward_eval=forward_eval_numpy,
                             backward_train=backward_train_numpy,
                             backward_eval=backward_eval_numpy, term_stats=term_stats_numpy),
}


def get_backend(name: str, code: int = 0) -> SimpleNamespace:
    """The kernel set ``name`` ("numba" or "numpy"); basis codes without a kernel get the twins."""
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; valid: {', '.join(BACKENDS)}")
    if code not in POLYNOMIAL_CODES:
        return BACKENDS["numpy"]
    return BACKENDS[name]
