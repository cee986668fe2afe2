r"""Pooling of images: :class:`AvgPool2D` and :class:`MaxPool2D`.

Pooling works on ``(N, C, H, W)`` inputs with square, non-overlapping windows: the stride equals the
window ``size`` ``s`` and ``H``, ``W`` must be multiples of ``s`` (no padding, no silent cropping).
Both poolings view the input as ``(N, C, H/s, s, W/s, s)``, so every window is one pair of axes
(3 and 5) and no index arithmetic is needed.

Average pooling, with ``P`` the ``s x s`` window of output ``(i, j)``::

    y[n, c, i, j] = (1 / s^2) sum_{(h, w) in P} x[n, c, h, w]
    dx[n, c, h, w] = dy[n, c, h // s, w // s] / s^2

Max pooling routes the gradient to the arg-max of each window (cached by forward); ties go to the
first maximum in row-major order within the window, so the gradient is a subgradient there::

    y[n, c, i, j] = max_{(h, w) in P} x[n, c, h, w]
    dx[n, c, h, w] = dy[n, c, i, j] if (h, w) is the arg-max of P else 0
"""

from __future__ import annotations

import numpy as np

from .base import Module, check_grad, check_input, check_positive_int, require_forward


class _Pool2D(Module):
    def __init__(self, size: int = 2) -> None:
        super().__init__()
        self.size = check_positive_int(size, "size", type(self).__name__)

    def _windows(self, x: np.ndarray) -> np.ndarray:
        """``x`` (N, C, H, W) viewed as (N, C, H/s, s, W/s, s), after checking the shape."""
        check_input(self, x, ndim=(4,))
        n, c, h, w = x.shape
        s = self.size
        if h % s or w % s:
            raise ValueError(f"{self.name}: height and width must be multiples of size={s} "
                             f"(stride = size, no padding), got input of shape {x.shape}")
        return x.reshape(n, c, h // s, s, w // s, s)

    def output_shape(self, input_shape: tuple) -> tuple:
        n, c, h, w = input_shape
        s = self.size
        if h % s or w % s:
            raise ValueError(f"{self.name}: height and width must be multiples of size={s}, "
                             f"got input shape {tuple(input_shape)}")
        return (n, c, h // s, w // s)

    def config(self) -> dict:
        return {"size": self.size}


class AvgPool2D(_Pool2D):
    """Mean over non-overlapping ``size x size`` windows of ``(N, C, H, W)`` inputs.

    Parameters
    ----------
    size : int
        Window side and stride; ``H`` and ``W`` must be multiples of it.
    """

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        v = self._windows(x)
        self._cache = x.shape
        return v.mean(axis=(3, 5), dtype=x.dtype)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        require_forward(self, dy)
        shape = self._cache
        n, c, h, w = shape
        s = self.size
        check_grad(self, dy, (n, c, h // s, w // s))
        # dx = dy / s^2 repeated over each window: broadcast over the window axes, then one copy.
        g = (dy / dy.dtype.type(s * s))[:, :, :, None, :, None]
        return np.broadcast_to(g, (n, c, h // s, s, w // s, s)).reshape(shape)


class MaxPool2D(_Pool2D):
    """Maximum over non-overlapping ``size x size`` windows of ``(N, C, H, W)`` inputs.

    Parameters
    ----------
    size : int
        Window side and stride; ``H`` and ``W`` must be multiples of it.

    Notes
    -----
    Forward caches the arg-max of every window (first maximum on ties); backward scatters ``dy``
    to those positions and zero elsewhere.
    """

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        v = self._windows(x)
        n, c, h, w = x.shape
        s = self.size
        # (N, C, H/s, W/s, s*s): one row per window, then the arg-max within the row.
        rows = v.transpose(0, 1, 2, 4, 3, 5).reshape(n, c, h // s, w // s, s * s)
        arg = rows.argmax(axis=-1)[..., None]
        self._cache = (arg, x.shape)
        return np.take_along_axis(rows, arg, axis=-1)[..., 0]

    def backward(self, dy: np.ndarray) -> np.ndarray:
        require_forward(self, dy)
        arg, shape = self._cache
        n, c, h, w = shape
        s = self.size
        check_grad(self, dy, (n, c, h // s, w // s))
        rows = np.zeros((n, c, h // s, w // s, s * s), dtype=dy.dtype)
        np.put_along_axis(rows, arg, dy[..., None], axis=-1)
        return rows.reshape(n, c, h // s, w // s, s, s).transpose(0, 1, 2, 4, 3, 5).reshape(shape)
