r"""Plain-NumPy twins of the convolution kernels of :mod:`slaf_np.kernels.conv` (same signatures).

The whole batch is lowered at once (im2col): one strided slice of the padded input per kernel
offset ``(i, j)``, so there are ``kh * kw`` vectorised copies and no Python loop over positions.
With ``xp`` the input padded by ``ph`` rows and ``pw`` columns of zeros on each side and ``s`` the
stride::

    cols[n, (c, i, j), (p, q)] = xp[n, c, s p + i, s q + j]                  (N, C kh kw, Ho Wo)
    y[n]    = W_mat cols[n] + b                  W_mat = W.reshape(O, C kh kw)
    dW_mat  = sum_n dy[n] cols[n]^T              db = sum_{n, p, q} dy[n, :, p, q]
    dcols[n] = W_mat^T dy[n]                     dx = col2im(dcols)

``col2im`` adds every lowered entry back to the input position it was copied from (the transpose of
the copy), then drops the padding.
"""

from __future__ import annotations

import numpy as np

__all__ = ["forward", "backward", "output_size", "im2col", "col2im"]


def output_size(size: int, k: int, stride: int, pad: int) -> int:
    """Output length along one axis: ``(size + 2 pad - k) // stride + 1`` (floor: trailing input
    rows that no window reaches are ignored, as in PyTorch)."""
    return (size + 2 * pad - k) // stride + 1


def im2col(x: np.ndarray, kh: int, kw: int, stride: int, ph: int, pw: int) -> np.ndarray:
    """The lowered input ``cols`` (N, C kh kw, Ho Wo) of ``x`` (N, C, H, W)."""
    n, c, h, w = x.shape
    ho, wo = output_size(h, kh, stride, ph), output_size(w, kw, stride, pw)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw))) if ph or pw else x
    cols = np.empty((n, c, kh, kw, ho, wo), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            cols[:, :, i, j] = xp[:, :, i:i + stride * ho:stride, j:j + stride * wo:stride]
    return cols.reshape(n, c * kh * kw, ho * wo)


def col2im(dcols: np.ndarray, shape: tuple, kh: int, kw: int, stride: int, ph: int,
           pw: int) -> np.ndarray:
    """The transpose of :func:`im2col`: ``dx`` (N, C, H, W) from ``dcols`` (N, C kh kw, Ho Wo)."""
    n, c, h, w = shape
    ho, wo = output_size(h, kh, stride, ph), output_size(w, kw, stride, pw)
    d6 = dcols.reshape(n, c, kh, kw, ho, wo)
    dxp = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=dcols.dtype)
    for i in range(kh):
        for j in range(kw):
            dxp[:, :, i:i + stride * ho:stride, j:j + stride * wo:stride] += d6[:, :, i, j]
    return np.ascontiguousarray(dxp[:, :, ph:ph + h, pw:pw + w])


def forward(x: np.ndarray, W: np.ndarray, b: np.ndarray | None, stride: int, ph: int,
            pw: int) -> np.ndarray:
    """``y`` (N, O, Ho, Wo) of the convolution of ``x`` (N, C, H, W) with ``W`` (O, C, kh, kw),
    plus ``b`` (O,) unless it is None."""
    o, c, kh, kw = W.shape
    n, _, h, w = x.shape
    ho, wo = output_size(h, kh, stride, ph), output_size(w, kw, stride, pw)
    cols = im2col(x, kh, kw, stride, ph, pw)
    y = np.matmul(W.reshape(o, -1), cols)                      # (N, O, Ho Wo)
    if b is not None:
        y += b[:, None]
    return y.reshape(n, o, ho, wo)


def backward(dy: np.ndarray, x: np.ndarray, W: np.ndarray, stride: int, ph: int, pw: int,
             need_dx: bool = True) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """``(dx, dW, db)`` for ``dy`` (N, O, Ho, Wo) after :func:`forward` at ``x``; ``dx`` is None
    when ``need_dx`` is False (a first layer)."""
    o, c, kh, kw = W.shape
    n = x.shape[0]
    cols = im2col(x, kh, kw, stride, ph, pw)                  # (N, CK, P)
    dy3 = dy.reshape(n, o, dy.shape[2] * dy.shape[3])          # (N, O, P)
    dW = np.tensordot(dy3, cols, axes=([0, 2], [0, 2])).reshape(W.shape)
    db = dy3.sum(axis=(0, 2))
    dx = None
    if need_dx:
        dcols = np.matmul(W.reshape(o, -1).T, dy3)             # (N, CK, P)
        dx = col2im(dcols, x.shape, kh, kw, stride, ph, pw)
    return dx, dW, db
