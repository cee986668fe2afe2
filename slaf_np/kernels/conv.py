r"""Convolution kernels: the lowering (im2col) and its transpose in numba, the products in BLAS.

The maths is in :mod:`slaf_np.nn.conv`; the NumPy twins, with the same signatures, are in
:mod:`slaf_np.kernels.conv_numpy`. With ``K = C kh kw`` and ``P = Ho Wo``::

    cols[n][(c, i, j), (p, q)] = xp[n, c, s p + i, s q + j]      (K, P), zero in the padding
    forward:   y[n]     = W_mat cols[n] + b         = [W_mat b] [cols[n]; 1]
    backward:  dW_mat  += dy[n] cols[n]^T,  db += dy[n] 1,  so  [dW_mat db] += dy[n] [cols[n]; 1]^T
               dcols[n] = W_mat^T dy[n],
               dx[n, c, s p + i - ph, s q + j - pw] += dcols[n][(c, i, j), (p, q)]

The bias rides in the products as one more column of the weights against a row of ones under
each lowered sample (written once per buffer): adding ``b`` to ``y`` and summing ``dy`` for
``db`` were two more passes over the largest arrays, 16 % of MNIST's first layer (K = 25), and
the extra row costs 1/(K + 1) of a product.

Layout (the one a prototype found fastest on 2 cores, see issue 12). The batch is never lowered
as a whole (that would be ``N K P`` values, 75 MB for a CIFAR ResNet's first block, far out of
cache). The samples are cut into :data:`GROUPS` contiguous groups; each thread takes groups in
turn (:func:`slaf_np.kernels.parallel.run_ranges`) and, a few samples at a time (a *chunk* of
``B`` samples whose lowered input fits in :data:`CHUNK_BYTES`), lowers them into its own small
buffer (:func:`_lower`, numba, ``nogil``; sample after sample, each (K, P)), multiplies with one
NumPy batched ``matmul`` per chunk (a single-threaded BLAS product per sample, with the GIL
released) and writes the output in place: ``y[n0:n1]`` directly in the forward, ``dx[n0:n1]``
through :func:`_scatter` (col2im) in the backward. While
the threads work, BLAS is limited to one thread (threadpoolctl) so that its own pool does not
fight them for the cores. The functions :func:`run_ranges` runs here are plain Python: between
their short Python steps they hold the GIL only while calling the ``nogil`` kernels and ``matmul``.

Determinism. ``dW`` (with ``db``) is summed per group, chunk after chunk (each chunk's
per-sample products summed in order), and the groups' sums are added in order, so the result does
not depend on the thread count (the groups and chunks depend on the shapes only).

Why one product per sample in the backward too. ``dW`` could be one product per chunk,
``dy (O, B P) @ cols (B P, K)``, after copying ``dy`` into that layout; for MNIST's first layer
(K = 25, three samples per chunk) that long, thin product ran no faster on two threads than on
one (1.04 ms against 0.77 ms for the backward without dx), while per-sample products scaled
(0.78 ms; measured with other work paused, medians of 25).

Lowering. Each thread keeps the chunk's samples zero-padded in a buffer ``xp`` whose border is
zeroed once and never written; row ``(c, i, j)`` of the lowered sample is then, for each output
row ``p``, the ``Wo`` values ``xp[c, s p + i, j + s q]``: one contiguous copy when ``s = 1``,
which LLVM vectorises (measured: 16 channels of 32 x 32, 3 x 3 kernel, one sample, 12 us against
220 us when the padding was tested per element). :func:`_scatter` walks the same runs adding
into a padded ``dxp`` and copies its interior to ``dx``. ``NUMBA_DISABLE_JIT=1`` runs both as
plain Python.

Speed: ``slaf-np bench --only conv`` times each of :func:`conv_shapes` against the matrix product
of the same M, N, K in the same run (README, "Performance"; figures/bench.json). On the
project's 2-core machine, two threads, float32, forward + backward: MNIST conv1 1.04 ms (61 % of
the product's throughput; 0.77 ms and 56 % without dx), MNIST conv2 5.3 ms (79 %), ResNet
16x32x32 14.4 ms (99 %), ResNet 64x8x8 10.3 ms (82 %).
"""

from __future__ import annotations

import contextlib

import numpy as np

from . import conv_numpy
from ._jit import njit
from .parallel import run_ranges, threads_for

__all__ = ["forward", "backward", "output_size", "GROUPS", "CHUNK_BYTES", "conv_shapes"]

output_size = conv_numpy.output_size

GROUPS = 16
"""The most groups of samples: the unit of work a thread takes, and of the per-group ``dW`` sums
that make the result independent of the thread count. A batch gets fewer when it holds fewer
full chunks (MNIST's first layer, 50 samples of 78 KB lowered: 4 groups of one chunk each),
because each chunk costs a few Python steps under the GIL: with 16 groups of 3 samples its
forward + backward on two threads took 1.35 ms, no faster than on one, and with 4 groups
1.0 ms (other work paused, medians of 30)."""

CHUNK_BYTES = 1 << 20
"""Bytes of lowered input per chunk (at least one sample): 1 MB, a core's L2 cache here."""


# ---------------------------------------------------------------------- lowering (jitted)
@njit(nogil=True)
def _lower(x, n0, n1, xp, cols, kh, kw, s, ph, pw, ho, wo):
    """``cols[n - n0, :K]`` (K, P) = the lowered sample n, for ``n0 <= n < n1``; ``cols`` is
    (n1 - n0, K or more, P), its further rows untouched. Through ``xp``
    (B, C, H + 2 ph, W + 2 pw), the padded samples (its border must be zero: it is never
    written)."""
    C, H, Wd = x.shape[1], x.shape[2], x.shape[3]
    for n in range(n0, n1):
        b = n - n0
        for c in range(C):
            for h in range(H):
                src, dst = x[n, c, h], xp[b, c, ph + h, pw:pw + Wd]
                for w in range(Wd):
                    dst[w] = src[w]
        for c in range(C):
            for i in range(kh):
                for j in range(kw):
                    row = cols[b, (c * kh + i) * kw + j]
                    for p in range(ho):
                        dst = row[p * wo:(p + 1) * wo]
                        if s == 1:                         # contiguous: vectorised copy
                            src = xp[b, c, p + i, j:j + wo]
                            for q in range(wo):
                                dst[q] = src[q]
                        else:
                            src = xp[b, c, s * p + i, j:]
                            for q in range(wo):
                                dst[q] = src[s * q]


@njit(nogil=True)
def _scatter(dcols, dxp, dx, n0, n1, kh, kw, s, ph, pw, ho, wo):
    """col2im: ``dx[n]`` = the entries of ``dcols[n - n0]`` (K, P) added back where
    :func:`_lower` took them from, for ``n0 <= n < n1``, through the padded ``dxp``."""
    C, H, Wd = dx.shape[1], dx.shape[2], dx.shape[3]
    for n in range(n0, n1):
        b = n - n0
        dxp[b] = 0
        for c in range(C):
            for i in range(kh):
                for j in range(kw):
                    row = dcols[b, (c * kh + i) * kw + j]
                    for p in range(ho):
                        src = row[p * wo:(p + 1) * wo]
                        if s == 1:
                            dst = dxp[b, c, p + i, j:j + wo]
                            for q in range(wo):
                                dst[q] += src[q]
                        else:
                            dst = dxp[b, c, s * p + i, j:]
                            for q in range(wo):
                                dst[s * q] += src[q]
        for c in range(C):
            for h in range(H):
                src, dst = dxp[b, c, ph + h, pw:pw + Wd], dx[n, c, h]
                for w in range(Wd):
                    dst[w] = src[w]


# ---------------------------------------------------------------------- the threads' work
def _chunks(edges, g0, g1, B):
    """``(n0, n1)`` of the chunks of groups ``g0 <= g < g1``: at most B samples, within a group."""
    for g in range(g0, g1):
        for n0 in range(edges[g], edges[g + 1], B):
            yield g, n0, min(n0 + B, edges[g + 1])


def _buffer(B, K, P, ones, dtype):
    """A chunk's lowered samples (B, K + ones, P); with ``ones``, row K of each is all ones
    (written once here: :func:`_lower` writes rows 0..K-1 only)."""
    buf = np.empty((B, K + ones, P), dtype)
    if ones:
        buf[:, K] = 1
    return buf


def _forward_groups(x, Wb, y, geom, edges, B, g0, g1, bs):
    """Forward of the samples of groups ``g0 <= g < g1``: lower a chunk, one product with ``Wb``,
    the weights (O, K) or the weights and bias (O, K + 1)."""
    kh, kw, s, ph, pw, ho, wo = geom
    n, c, h, w = x.shape
    K, P = c * kh * kw, ho * wo
    xp = np.zeros((B, c, h + 2 * ph, w + 2 * pw), x.dtype)
    buf = _buffer(B, K, P, Wb.shape[1] - K, x.dtype)
    for _, n0, n1 in _chunks(edges, g0, g1, B):
        cols = buf[:n1 - n0]
        _lower(x, n0, n1, xp, cols, kh, kw, s, ph, pw, ho, wo)
        np.matmul(Wb, cols, out=y[n0:n1])


def _backward_groups(dy, x, Wm, dWbg, dx, geom, edges, B, g0, g1, bs):
    """Backward of groups ``g0 <= g < g1``: ``dWbg[g]`` (O, K + 1) = the group's
    ``sum dy[n] [cols[n]; 1]^T``, the weights' and the bias's gradients (one product per sample,
    summed over the chunk, then added in sample order); ``dx`` of its samples unless ``dx`` is
    None."""
    kh, kw, s, ph, pw, ho, wo = geom
    n, c, h, w = x.shape
    O, K, P = Wm.shape[0], Wm.shape[1], ho * wo
    xp = np.zeros((B, c, h + 2 * ph, w + 2 * pw), x.dtype)
    buf, part = _buffer(B, K, P, 1, x.dtype), np.empty((B, O, K + 1), x.dtype)
    if dx is not None:
        dbuf, dxp = np.empty((B, K, P), x.dtype), np.empty_like(xp)
    for g, n0, n1 in _chunks(edges, g0, g1, B):
        m = n1 - n0
        cols = buf[:m]
        _lower(x, n0, n1, xp, cols, kh, kw, s, ph, pw, ho, wo)
        np.matmul(dy[n0:n1], cols.transpose(0, 2, 1), out=part[:m])
        dWbg[g] += part[:m].sum(axis=0)
        if dx is not None:
            np.matmul(Wm.T, dy[n0:n1], out=dbuf[:m])
            _scatter(dbuf[:m], dxp, dx, n0, n1, kh, kw, s, ph, pw, ho, wo)


# ---------------------------------------------------------------------- entry points
_controller = []


@contextlib.contextmanager
def _blas_single():
    """One BLAS thread inside a convolution (the kernel threads, however many, are its threads;
    BLAS's own pool would only fight them, or run its small products slower)."""
    if not _controller:
        from threadpoolctl import ThreadpoolController

        _controller.append(ThreadpoolController())
    with _controller[0].limit(limits=1, user_api="blas"):
        yield


def _plan(x: np.ndarray, W: np.ndarray, stride: int, ph: int, pw: int):
    """Geometry, group edges, chunk size and thread count of a call."""
    n, c, h, w = x.shape
    o, _, kh, kw = W.shape
    ho, wo = output_size(h, kh, stride, ph), output_size(w, kw, stride, pw)
    K, P = c * kh * kw, ho * wo
    B = max(1, CHUNK_BYTES // max(1, K * P * x.itemsize))      # samples that fit a chunk
    groups = max(1, min(n, GROUPS, -(-n // B)))
    edges = [(n * g) // groups for g in range(groups + 1)]
    B = int(min(B, -(-n // groups)))
    threads = threads_for(n * K * P)
    return (kh, kw, stride, ph, pw, ho, wo), edges, groups, B, threads


def forward(x: np.ndarray, W: np.ndarray, b: np.ndarray | None, stride: int, ph: int,
            pw: int) -> np.ndarray:
    """``y`` (N, O, Ho, Wo) of the convolution of ``x`` (N, C, H, W) with ``W`` (O, C, kh, kw),
    plus ``b`` (O,) unless it is None; C-contiguous arrays of one float dtype."""
    geom, edges, groups, B, threads = _plan(x, W, stride, ph, pw)
    o = W.shape[0]
    ho, wo = geom[5], geom[6]
    y = np.empty((x.shape[0], o, ho * wo), x.dtype)
    Wb = W.reshape(o, -1) if b is None else np.concatenate([W.reshape(o, -1), b[:, None]], 1)
    if x.shape[0]:
        with _blas_single():
            run_ranges(_forward_groups, groups, 1, threads, x, Wb, y, geom, edges, B)
    return y.reshape(x.shape[0], o, ho, wo)


def backward(dy: np.ndarray, x: np.ndarray, W: np.ndarray, stride: int, ph: int, pw: int,
             need_dx: bool = True) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """``(dx, dW, db)`` for ``dy`` (N, O, Ho, Wo) after :func:`forward` at ``x``; ``dx`` is None
    when ``need_dx`` is False (a first layer)."""
    geom, edges, groups, B, threads = _plan(x, W, stride, ph, pw)
    n, o = x.shape[0], W.shape[0]
    dy3 = dy.reshape(n, o, dy.shape[2] * dy.shape[3])
    dWbg = np.zeros((groups, o, W[0].size + 1), x.dtype)
    dx = np.empty_like(x) if need_dx else None
    if n:
        with _blas_single():
            run_ranges(_backward_groups, groups, 1, threads, dy3, x, W.reshape(o, -1), dWbg, dx,
                       geom, edges, B)
    dWb = dWbg[0].copy()
    for g in range(1, groups):
        dWb += dWbg[g]
    dW, db = dWb[:, :-1].copy(), dWb[:, -1].copy()
    return dx, dW.reshape(W.shape), db


# ---------------------------------------------------------------------- benchmark shapes
_SHAPES = (  # name, N, C, H = W, O, k: "same" padding, stride 1 (issue 12)
    ("MNIST conv1", 50, 1, 28, 16, 5),
    ("MNIST conv2", 50, 16, 14, 32, 5),
    ("ResNet 16x32x32", 128, 16, 32, 16, 3),
    ("ResNet 64x8x8", 128, 64, 8, 64, 3),
)


def conv_shapes() -> list[dict]:
    """The convolutions the benchmark times, as data: for each, ``name``, ``input_shape``
    (N, C, H, W), ``layer`` (the :class:`slaf_np.nn.Conv2D` keyword arguments), ``gemm`` the
    ``(M, N, K)`` of the forward's matrix product ``(M, K) @ (K, N)``: ``M = O``,
    ``K = C kh kw``, ``N = batch Ho Wo``; ``flops`` of forward + backward (three such products,
    ``6 M N K``) and ``lowered`` the number of entries of the lowered input (``K N``).

    A throughput share compares ``flops / t(forward + backward)`` with ``2 M N K / t(a @ b)``
    for ``a`` (M, K) and ``b`` (K, N) timed in the same run."""
    cases = []
    for name, n, c, h, o, k in _SHAPES:
        m, kk, nn = o, c * k * k, n * h * h
        cases.append({"name": name, "input_shape": (n, c, h, h),
                      "layer": {"in_channels": c, "out_channels": o, "kernel_size": k,
                                "padding": "same"},
                      "gemm": (m, nn, kk), "flops": 6 * m * nn * kk, "lowered": kk * nn})
    return cases
