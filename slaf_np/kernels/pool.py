r"""Numba kernels of max and average pooling (:mod:`slaf_np.nn.pool`) and their NumPy twins.

Every function works on ``P = N * C`` independent planes ``x[p]`` of shape ``(H, W)`` (a
contiguous ``(P, H, W)`` array) and square windows of side ``k`` that start every ``s`` rows and
columns, at ``(i s - pt, j s - pl)`` with ``pt``, ``pl`` the padding before the first row and
column. The window of output ``(i, j)`` keeps only the cells inside the plane::

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

Order of the arithmetic. The max forward visits a window's cells in row-major order and keeps the
running maximum unless a later cell is strictly larger (the first-maximum rule). The mean kernels
go over the ``k * k`` offsets ``(di, dj)`` of a window in row-major order, each offset for every
window of the plane (long inner loops), and the max backward adds ``dy`` at the arg-maxes in
output order. The twins do the same with whole-array strided slices of the padded planes (padding
``-inf`` for the maximum, 0 for the mean) and ``np.add.at``, so kernels and twins agree bit for
bit. 2x2 windows with stride 2 inside the plane, what the paper's networks use, have kernels
with the window spelled out (the general ones spend most of their time in two-iteration loops: 1.0
against 0.18 ms for the max forward on N = 50, 16 x 28 x 28, one thread), with the same
arithmetic in the same order.

Parallelism. Planes are independent: each kernel takes planes ``p0 <= p < p1`` and
:func:`slaf_np.kernels.parallel.run_ranges` spreads them over threads (one thread below
:data:`~slaf_np.kernels.parallel.PARALLEL_MIN_WORK` values). Each output is computed by one
thread with the same arithmetic whatever the thread count.
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
def _span(n_out, s, off, n):
    """The outputs ``o`` whose cell ``o s + off`` lies in ``[0, n)``: ``range(lo, hi)``."""
    lo = 0 if off >= 0 else (s - 1 - off) // s
    hi = (n - 1 - off) // s + 1 if n - 1 - off >= 0 else 0
    return lo, max(lo, min(hi, n_out))


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
                best, at = x[p, hs, ws], hs * W + ws
                for h in range(hs, he):           # row-major: the first maximum wins a tie
                    for w in range(ws, we):
                        v = x[p, h, w]
                        better = v > best         # selects, not branches
                        best = v if better else best
                        at = h * W + w if better else at
                y[p, i, j] = best
                arg[p, i, j] = at


@njit(nogil=True)
def _max_backward_range(dy, arg, dx, p0, p1, bs):
    for p in range(p0, p1):                       # dy, arg (P, Ho * Wo); dx (P, H * W)
        dx[p] = 0
        for o in range(dy.shape[1]):
            dx[p, arg[p, o]] += dy[p, o]


@njit(nogil=True)
def _fill_counts(count, k, s, pt, pl, H, W):
    """``count[i, j] = |R(i, j)|`` (as floats)."""
    for i in range(count.shape[0]):
        rows = min(i * s - pt + k, H) - max(i * s - pt, 0)
        for j in range(count.shape[1]):
            count[i, j] = rows * (min(j * s - pl + k, W) - max(j * s - pl, 0))


@njit(nogil=True)
def _avg_forward_range(x, y, k, s, pt, pl, p0, p1, bs):
    H, W = x.shape[1], x.shape[2]
    Ho, Wo = y.shape[1], y.shape[2]
    acc, count = np.empty((Ho, Wo)), np.empty((Ho, Wo))
    _fill_counts(count, k, s, pt, pl, H, W)
    for p in range(p0, p1):
        acc[:] = 0.0
        for di in range(k):
            i0, i1 = _span(Ho, s, di - pt, H)
            for dj in range(k):
                j0, j1 = _span(Wo, s, dj - pl, W)
                for i in range(i0, i1):
                    h = i * s + di - pt
                    for j in range(j0, j1):
                        acc[i, j] += x[p, h, j * s + dj - pl]
        for i in range(Ho):
            for j in range(Wo):
                y[p, i, j] = acc[i, j] / count[i, j]


@njit(nogil=True)
def _avg_backward_range(dy, dx, k, s, pt, pl, p0, p1, bs):
    H, W = dx.shape[1], dx.shape[2]
    Ho, Wo = dy.shape[1], dy.shape[2]
    g, count = np.empty((Ho, Wo)), np.empty((Ho, Wo))
    _fill_counts(count, k, s, pt, pl, H, W)
    for p in range(p0, p1):
        for i in range(Ho):
            for j in range(Wo):
                g[i, j] = dy[p, i, j] / count[i, j]
        dx[p] = 0
        for di in range(k):
            i0, i1 = _span(Ho, s, di - pt, H)
            for dj in range(k):
                j0, j1 = _span(Wo, s, dj - pl, W)
                for i in range(i0, i1):
                    h = i * s + di - pt
                    for j in range(j0, j1):
                        dx[p, h, j * s + dj - pl] += g[i, j]


# -- 2x2 windows, stride 2, no padding (module docstring) ----------------------------------------
@njit(nogil=True)
def _max_forward_2x2(x, y, arg, p0, p1, bs):
    W = x.shape[2]
    for p in range(p0, p1):
        for i in range(y.shape[1]):
            h = 2 * i
            for j in range(y.shape[2]):
                w = 2 * j
                best, at = x[p, h, w], h * W + w
                v = x[p, h, w + 1]
                better = v > best
                best, at = (v, at + 1) if better else (best, at)
                v = x[p, h + 1, w]
                better = v > best
                best, at = (v, (h + 1) * W + w) if better else (best, at)
                v = x[p, h + 1, w + 1]
                better = v > best
                best, at = (v, (h + 1) * W + w + 1) if better else (best, at)
                y[p, i, j] = best
                arg[p, i, j] = at


@njit(nogil=True)
def _avg_forward_2x2(x, y, p0, p1, bs):
    for p in range(p0, p1):
        for i in range(y.shape[1]):
            h = 2 * i
            for j in range(y.shape[2]):
                w = 2 * j
                acc = np.float64(0.0)         # float64 also without numba (NEP 50)
                acc += x[p, h, w]
                acc += x[p, h, w + 1]
                acc += x[p, h + 1, w]
                acc += x[p, h + 1, w + 1]
                y[p, i, j] = acc / 4.0


@njit(nogil=True)
def _avg_backward_2x2(dy, dx, p0, p1, bs):
    Ho, Wo = dy.shape[1], dy.shape[2]
    for p in range(p0, p1):
        dx[p, 2 * Ho:, :] = 0                      # rows and columns no window covers
        dx[p, :, 2 * Wo:] = 0
        for i in range(Ho):
            for j in range(Wo):
                g = dy[p, i, j] / 4.0
                dx[p, 2 * i, 2 * j] = g
                dx[p, 2 * i, 2 * j + 1] = g
                dx[p, 2 * i + 1, 2 * j] = g
                dx[p, 2 * i + 1, 2 * j + 1] = g


# -- public wrappers -----------------------------------------------------------------------------
def _inside_2x2(k, s, pt, pl, H, W, Ho, Wo) -> bool:
    """2x2 windows, stride 2, all inside the plane: the case the ``*_2x2`` kernels serve."""
    return (k, s, pt, pl) == (2, 2, 0, 0) and 2 * Ho <= H and 2 * Wo <= W


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
    if _inside_2x2(k, s, pt, pl, x.shape[1], x.shape[2], Ho, Wo):
        _launch(_max_forward_2x2, x, x, y, arg)
    else:
        _launch(_max_forward_range, x, x, y, arg, k, s, pt, pl)
    return y, arg


def max_backward(dy: np.ndarray, arg: np.ndarray, H: int, W: int) -> np.ndarray:
    """``dx`` (P, H, W) of max pooling: each ``dy[p, i, j]`` added at its arg-max.

    ``dy`` (P, Ho, Wo) contiguous; ``arg`` as returned by :func:`max_forward`.
    """
    P = dy.shape[0]
    dx = np.empty((P, H * W), dy.dtype)
    _launch(_max_backward_range, dx, dy.reshape(P, -1), arg.reshape(P, -1), dx)
    return dx.reshape(P, H, W)


def avg_forward(x: np.ndarray, k: int, s: int, pt: int, pl: int, Ho: int, Wo: int) -> np.ndarray:
    """Average pooling of the planes of ``x`` (arguments as in :func:`max_forward`): the mean of
    the cells of each window that lie inside the plane. Returns y (P, Ho, Wo), dtype of x."""
    y = np.empty((x.shape[0], Ho, Wo), x.dtype)
    if _inside_2x2(k, s, pt, pl, x.shape[1], x.shape[2], Ho, Wo):
        _launch(_avg_forward_2x2, x, x, y)
    else:
        _launch(_avg_forward_range, x, x, y, k, s, pt, pl)
    return y


def avg_backward(dy: np.ndarray, k: int, s: int, pt: int, pl: int, H: int, W: int) -> np.ndarray:
    """``dx`` (P, H, W) of average pooling: ``dy / |R|`` spread over each window's cells."""
    dx = np.empty((dy.shape[0], H, W), dy.dtype)
    if _inside_2x2(k, s, pt, pl, H, W, dy.shape[1], dy.shape[2]):
        _launch(_avg_backward_2x2, dx, dy, dx)
    else:
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
