r"""Numba kernels of max and average pooling (:mod:`slaf_np.nn.pool`) and their NumPy twins.

Every function works on ``P = N * C`` independent planes ``x[p]`` of shape ``(H, W)`` (a
contiguous ``(P, H, W)`` array) and square windows of side ``k`` that start every ``s`` rows and
columns, at ``(i s - pt, j s - pl)`` with ``pt``, ``pl`` the padding before the first row and
column.
The window of output ``(i, j)`` keeps only the cells inside the plane::

    R(i, j) = {(h, w) : i s - pt <= h < i s - pt + k,  j s - pl <= w < j s - pl + k,
                        0 <= h < H,  0 <= w < W}

The callers (:class:`slaf_np.nn.pool.MaxPool2D`, :class:`~slaf_np.nn.pool.AvgPool2D`) make sure
no window is empty. Padded cells are ignored, as TensorFlow's ``SAME`` pooling ignores them: they
never win a maximum and are not counted in a mean.

Max pooling stores, for each output, the flat index ``a = h W + w`` of its arg-max, the first
maximum in row-major order within the window on ties::

    y[p, i, j] = max_{(h, w) in R(i, j)} x[p, h, w]
    dx[p, h, w] = sum over the outputs (i, j) whose arg-max is (h, w) of dy[p, i, j]

Average pooling divides by the number ``|R(i, j)|`` of cells inside the plane::

    y[p, i, j] = (1 / |R(i, j)|) sum_{(h, w) in R(i, j)} x[p, h, w]
    dx[p, h, w] = sum over the windows R(i, j) holding (h, w) of dy[p, i, j] / |R(i, j)|

Overlapping windows (``s < k``) add their contributions, hence the sums in both backwards.
A mean is summed in float64 and rounded once to the input's dtype; ``dy / |R|`` is float64 and
each addition to ``dx`` is rounded to ``dy``'s dtype.

Parallelism. Planes are independent: the ``*_range`` kernels take planes ``p0 <= p < p1`` and
:func:`slaf_np.kernels.parallel.run_ranges` spreads them over threads (one thread below
:data:`~slaf_np.kernels.parallel.PARALLEL_MIN_WORK` values). Each output is computed by one
thread with the same arithmetic whatever the thread count.

The twins loop over the ``k * k`` offsets of a window in row-major order with whole-array strided
slices of the padded planes (padding ``-inf`` for the maximum, 0 and a count for the mean); the
running maximum is replaced only by a strictly larger value, which gives the same first-maximum
rule. Both add a window's cells in row-major order, so the forwards agree exactly; the backwards
too when windows do not overlap (with overlaps the additions to a cell come in another order).
"""

from __future__ import annotations

import numpy as np

from ._jit import njit
from .parallel import run_ranges, threads_for

__all__ = ["max_forward", "max_backward", "avg_forward", "avg_backward",
           "max_forward_numpy", "max_backward_numpy", "avg_forward_numpy", "avg_backward_numpy",
           "KERNELS"]


# -- kernels over a range of planes --------------------------------------------------------------
@njit(nogil=True)
def _max_forward_range(x, y, arg, k, s, pt, pl, p0, p1, bs):
    H, W = x.shape[1], x.shape[2]
    Ho, Wo = y.shape[1], y.shape[2]
    for p in range(p0, p1):
        for i in range(Ho):
            h0 = i * s - pt
            hs, he = max(h0, 0), min(h0 + k, H)
            for j in range(Wo):
                w0 = j * s - pl
                ws, we = max(w0, 0), min(w0 + k, W)
                best = x[p, hs, ws]
                at = hs * W + ws
                for h in range(hs, he):
                    for w in range(ws, we):
                        v = x[p, h, w]
                        if v > best:
                            best = v
                            at = h * W + w
                y[p, i, j] = best
                arg[p, i, j] = at


@njit(nogil=True)
def _max_backward_range(dy, arg, dx, p0, p1, bs):
    W = dx.shape[2]
    Ho, Wo = dy.shape[1], dy.shape[2]
    for p in range(p0, p1):
        dx[p] = 0
        for i in range(Ho):
            for j in range(Wo):
                a = arg[p, i, j]
                dx[p, a // W, a % W] += dy[p, i, j]


@njit(nogil=True)
def _avg_forward_range(x, y, k, s, pt, pl, p0, p1, bs):
    H, W = x.shape[1], x.shape[2]
    Ho, Wo = y.shape[1], y.shape[2]
    for p in range(p0, p1):
        for i in range(Ho):
            h0 = i * s - pt
            hs, he = max(h0, 0), min(h0 + k, H)
            for j in range(Wo):
                w0 = j * s - pl
                ws, we = max(w0, 0), min(w0 + k, W)
                acc = 0.0
                for h in range(hs, he):
                    for w in range(ws, we):
                        acc += x[p, h, w]
                y[p, i, j] = acc / ((he - hs) * (we - ws))


@njit(nogil=True)
def _avg_backward_range(dy, dx, k, s, pt, pl, p0, p1, bs):
    H, W = dx.shape[1], dx.shape[2]
    Ho, Wo = dy.shape[1], dy.shape[2]
    for p in range(p0, p1):
        dx[p] = 0
        for i in range(Ho):
            h0 = i * s - pt
            hs, he = max(h0, 0), min(h0 + k, H)
            for j in range(Wo):
                w0 = j * s - pl
                ws, we = max(w0, 0), min(w0 + k, W)
                g = dy[p, i, j] / ((he - hs) * (we - ws))
                for h in range(hs, he):
                    for w in range(ws, we):
                        dx[p, h, w] += g


# -- public wrappers -----------------------------------------------------------------------------
def _launch(kernel, x: np.ndarray, *args) -> None:
    """Run ``kernel`` over the planes of ``x`` (P, H, W), about four ranges per thread."""
    P = x.shape[0]
    threads = threads_for(x.size)
    run_ranges(kernel, P, max(1, -(-P // (4 * threads))), threads, *args)


def max_forward(x: np.ndarray, k: int, s: int, pt: int, pl: int, Ho: int, Wo: int):
    """Max pooling of the planes of ``x``.

    Parameters
    ----------
    x : ndarray (P, H, W), float32 or float64, contiguous
    k, s : int
        Window side and stride.
    pt, pl : int
        Padding before the first row and the first column.
    Ho, Wo : int
        Output height and width; every window must hold at least one cell of the plane.

    Returns
    -------
    y : ndarray (P, Ho, Wo), dtype of x
    arg : ndarray (P, Ho, Wo), int64
        Flat index ``h W + w`` of each window's first maximum.
    """
    y = np.empty((x.shape[0], Ho, Wo), x.dtype)
    arg = np.empty((x.shape[0], Ho, Wo), np.int64)
    _launch(_max_forward_range, x, x, y, arg, k, s, pt, pl)
    return y, arg


def max_backward(dy: np.ndarray, arg: np.ndarray, H: int, W: int) -> np.ndarray:
    """``dx`` (P, H, W) of max pooling: each ``dy[p, i, j]`` added at its arg-max.

    ``dy`` (P, Ho, Wo) contiguous; ``arg`` as returned by :func:`max_forward`.
    """
    dx = np.empty((dy.shape[0], H, W), dy.dtype)
    _launch(_max_backward_range, dx, dy, arg, dx)
    return dx


def avg_forward(x: np.ndarray, k: int, s: int, pt: int, pl: int, Ho: int, Wo: int) -> np.ndarray:
    """Average pooling of the planes of ``x`` (arguments as in :func:`max_forward`): the mean of
    the cells of each window that lie inside the plane. Returns y (P, Ho, Wo), dtype of x."""
    y = np.empty((x.shape[0], Ho, Wo), x.dtype)
    _launch(_avg_forward_range, x, x, y, k, s, pt, pl)
    return y


def avg_backward(dy: np.ndarray, k: int, s: int, pt: int, pl: int, H: int, W: int) -> np.ndarray:
    """``dx`` (P, H, W) of average pooling: ``dy / |R|`` spread over each window's cells."""
    dx = np.empty((dy.shape[0], H, W), dy.dtype)
    _launch(_avg_backward_range, dx, dy, dx, k, s, pt, pl)
    return dx


# -- NumPy twins ---------------------------------------------------------------------------------
def _padded(x: np.ndarray, k: int, s: int, pt: int, pl: int, Ho: int, Wo: int, fill):
    """``x`` (P, H, W) inside a grid of ``fill`` that every window fits, its top-left corner at
    ``(pt, pl)``."""
    P, H, W = x.shape
    rows, cols = max((Ho - 1) * s + k, pt + H), max((Wo - 1) * s + k, pl + W)
    out = np.full((P, rows, cols), fill, x.dtype)
    out[:, pt:pt + H, pl:pl + W] = x
    return out


def _offset(a: np.ndarray, di: int, dj: int, s: int, Ho: int, Wo: int) -> np.ndarray:
    """The cells at offset ``(di, dj)`` of every window: a strided (P, Ho, Wo) view of ``a``."""
    return a[:, di:di + (Ho - 1) * s + 1:s, dj:dj + (Wo - 1) * s + 1:s]


def max_forward_numpy(x, k, s, pt, pl, Ho, Wo):
    """NumPy twin of :func:`max_forward`."""
    P, H, W = x.shape
    xp = _padded(x, k, s, pt, pl, Ho, Wo, -np.inf)
    y = np.full((P, Ho, Wo), -np.inf, x.dtype)
    arg = np.zeros((P, Ho, Wo), np.int64)
    top = np.arange(Ho)[:, None] * s - pt               # plane row of each window's offset 0
    left = np.arange(Wo)[None, :] * s - pl
    for di in range(k):
        for dj in range(k):
            v = _offset(xp, di, dj, s, Ho, Wo)
            better = v > y                                 # strict: ties keep the first maximum
            y = np.where(better, v, y)
            arg = np.where(better, (top + di) * W + (left + dj), arg)
    return y, arg


def max_backward_numpy(dy, arg, H, W):
    """NumPy twin of :func:`max_backward`."""
    P = dy.shape[0]
    dx = np.zeros((P, H * W), dy.dtype)
    np.add.at(dx, (np.arange(P)[:, None], arg.reshape(P, -1)), dy.reshape(P, -1))
    return dx.reshape(P, H, W)


def _counts(H, W, k, s, pt, pl, Ho, Wo) -> np.ndarray:
    """``|R(i, j)|`` (Ho, Wo): the cells of each window inside the plane."""
    rows = np.minimum(np.arange(Ho) * s - pt + k, H) - np.maximum(np.arange(Ho) * s - pt, 0)
    cols = np.minimum(np.arange(Wo) * s - pl + k, W) - np.maximum(np.arange(Wo) * s - pl, 0)
    return rows[:, None] * cols[None, :]


def avg_forward_numpy(x, k, s, pt, pl, Ho, Wo):
    """NumPy twin of :func:`avg_forward`."""
    P, H, W = x.shape
    xp = _padded(x, k, s, pt, pl, Ho, Wo, 0)
    acc = np.zeros((P, Ho, Wo))
    for di in range(k):
        for dj in range(k):
            acc += _offset(xp, di, dj, s, Ho, Wo)
    return (acc / _counts(H, W, k, s, pt, pl, Ho, Wo)).astype(x.dtype, copy=False)


def avg_backward_numpy(dy, k, s, pt, pl, H, W):
    """NumPy twin of :func:`avg_backward`."""
    P, Ho, Wo = dy.shape
    g = dy / _counts(H, W, k, s, pt, pl, Ho, Wo)                # float64, as in the kernel
    dxp = _padded(np.zeros((P, H, W), dy.dtype), k, s, pt, pl, Ho, Wo, 0)
    for di in range(k):
        for dj in range(k):
            _offset(dxp, di, dj, s, Ho, Wo)[...] += g
    return np.ascontiguousarray(dxp[:, pt:pt + H, pl:pl + W])


#: name -> (numba kernel, NumPy twin), for the tests and ``NUMBA_DISABLE_JIT`` comparisons.
KERNELS = {"max_forward": (max_forward, max_forward_numpy),
           "max_backward": (max_backward, max_backward_numpy),
           "avg_forward": (avg_forward, avg_forward_numpy),
           "avg_backward": (avg_backward, avg_backward_numpy)}
