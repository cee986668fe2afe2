r"""Pooling of images: :class:`MaxPool2D`, :class:`AvgPool2D` and :class:`GlobalAvgPool2D`.

Inputs are ``(N, C, H, W)``; every ``(n, c)`` plane is pooled on its own by the numba kernels of
:mod:`slaf_np.kernels.pool` (whose docstring gives the formulas, forward and backward). A window
is a ``size x size`` square; windows start every ``stride`` rows and columns (``stride = size`` by
default: non-overlapping windows). ``padding`` says where the windows lie:

============  ==============================================================================
``0`` (int p) ``p`` rows and columns of padding on every side; the windows must tile the padded
              input exactly, ``(H + 2p - size) % stride == 0`` (no silent cropping), and
              ``p < size``. Output ``(H + 2p - size) / stride + 1``.
``"valid"``   TensorFlow's ``VALID``: no padding, and the last rows and columns that fill no
              whole window are dropped. Output ``floor((H - size) / stride) + 1``.
``"same"``    TensorFlow's ``SAME``: output ``ceil(H / stride)``; the padding needed,
              ``(Ho - 1) stride + size - H``, is split with the smaller half before the first row.
============  ==============================================================================

Padded cells are ignored (as TensorFlow, with which the paper's authors worked, ignores them): they
never win a maximum and a mean divides by the number of input cells in its window. The paper's
networks (docs/paper.md) pool 2 x 2 with stride 2, on 28 -> 14 -> 7 for MNIST, where all three
paddings agree.

Max pooling routes each output's gradient to the arg-max of its window (cached by forward); ties
go to the first maximum in row-major order within the window, so the gradient there is one
subgradient. :class:`GlobalAvgPool2D` is the mean over the whole plane::

    y[n, c] = (1 / (H W)) sum_{h, w} x[n, c, h, w],     dx[n, c, h, w] = dy[n, c] / (H W)
"""

from __future__ import annotations

import numpy as np

from ..kernels import pool as _kernels
from .base import Module, check_grad, check_input, check_positive_int, require_forward

PADDINGS = ("valid", "same")


class _Pool2D(Module):
    def __init__(self, size: int = 2, stride: int | None = None, padding: int | str = 0) -> None:
        super().__init__()
        where = type(self).__name__
        self.size = check_positive_int(size, "size", where)
        self.stride = self.size if stride is None else check_positive_int(stride, "stride", where)
        if isinstance(padding, str):
            if padding not in PADDINGS:
                raise ValueError(f"{where}: padding must be an integer or one of "
                                 f"{', '.join(map(repr, PADDINGS))}, got {padding!r}")
        else:
            padding = check_positive_int(padding, "padding", where, minimum=0)
            if padding >= self.size:
                raise ValueError(f"{where}: padding must be smaller than size={self.size} (a "
                                 f"window of padding alone has no value), got {padding}")
        self.padding = padding

    def geometry(self, shape: tuple) -> tuple[int, int, int, int]:
        """``(pt, pl, Ho, Wo)`` for an input of ``shape`` (N, C, H, W): the padding before the
        first row and the first column, the output height and width (the arguments of
        :mod:`slaf_np.kernels.pool`). Raises ``ValueError`` if the windows do not fit."""
        k, s, p = self.size, self.stride, self.padding
        out, before = [], []
        for axis, cells, n in (("height", "rows", shape[2]), ("width", "columns", shape[3])):
            if p == "same":
                o = -(-n // s)
                before.append(max((o - 1) * s + k - n, 0) // 2)
            else:
                pad = 0 if p == "valid" else p
                if n + 2 * pad < k:
                    raise ValueError(f"{self.name}: input {axis} {n} (padding {pad}) is smaller "
                                     f"than the window size={k}, got input of shape "
                                     f"{tuple(shape)}; use a smaller size or padding='same'")
                left = (n + 2 * pad - k) % s
                if left and p != "valid":
                    raise ValueError(
                        f"{self.name}: windows of size={k}, stride={s}, padding={pad} do not "
                        f"tile the input {axis} {n} (its last {left} {cells} would be dropped), "
                        f"got input of shape {tuple(shape)}; pass padding='valid' to drop them "
                        f"as TensorFlow does, padding='same' to pad, or crop the input")
                o = (n + 2 * pad - k) // s + 1
                before.append(pad)
            out.append(o)
        return before[0], before[1], out[0], out[1]

    def _planes(self, x: np.ndarray) -> np.ndarray:
        n, c, h, w = x.shape
        return np.ascontiguousarray(x).reshape(n * c, h, w)

    def output_shape(self, input_shape: tuple) -> tuple:
        n, c = input_shape[:2]
        _, _, ho, wo = self.geometry(tuple(input_shape))
        return (n, c, ho, wo)

    def config(self) -> dict:
        """``size``, and ``stride`` and ``padding`` where they are not the defaults."""
        cfg: dict = {"size": self.size}
        if self.stride != self.size:
            cfg["stride"] = self.stride
        if self.padding != 0:
            cfg["padding"] = self.padding
        return cfg


class AvgPool2D(_Pool2D):
    """Mean over ``size x size`` windows of ``(N, C, H, W)`` inputs (padded cells not counted).

    Parameters
    ----------
    size : int
        Window side.
    stride : int, optional
        Step between windows; ``size`` by default.
    padding : int or {"valid", "same"}
        See the module docstring; 0 by default (the windows must tile the input).
    """

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        check_input(self, x, ndim=(4,))
        n, c, h, w = x.shape
        pt, pl, ho, wo = geometry = self.geometry(x.shape)
        y = _kernels.avg_forward(self._planes(x), self.size, self.stride, pt, pl, ho, wo)
        self._cache = (x.shape, geometry)
        return y.reshape(n, c, ho, wo)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """``dx[n, c, h, w] = sum over the windows R holding (h, w) of dy[n, c, R] / |R|``."""
        require_forward(self, dy)
        (n, c, h, w), (pt, pl, ho, wo) = self._cache
        check_grad(self, dy, (n, c, ho, wo))
        g = np.ascontiguousarray(dy).reshape(n * c, ho, wo)
        dx = _kernels.avg_backward(g, self.size, self.stride, pt, pl, h, w)
        return dx.reshape(n, c, h, w)


class MaxPool2D(_Pool2D):
    """Maximum over ``size x size`` windows of ``(N, C, H, W)`` inputs.

    Parameters
    ----------
    size : int
        Window side.
    stride : int, optional
        Step between windows; ``size`` by default.
    padding : int or {"valid", "same"}
        See the module docstring; 0 by default (the windows must tile the input).

    Notes
    -----
    Forward caches the arg-max of every window (the first maximum in row-major order on ties);
    backward adds ``dy`` at those positions (several times where overlapping windows share one)
    and leaves zero elsewhere.
    """

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        check_input(self, x, ndim=(4,))
        n, c, h, w = x.shape
        pt, pl, ho, wo = self.geometry(x.shape)
        y, arg = _kernels.max_forward(self._planes(x), self.size, self.stride, pt, pl, ho, wo)
        self._cache = (arg, x.shape)
        return y.reshape(n, c, ho, wo)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """``dx[n, c, h, w] = sum of dy[n, c, i, j] over the windows (i, j) whose arg-max is
        (h, w)``."""
        require_forward(self, dy)
        arg, (n, c, h, w) = self._cache
        check_grad(self, dy, (n, c) + arg.shape[1:])
        g = np.ascontiguousarray(dy).reshape(arg.shape)
        return _kernels.max_backward(g, arg, h, w).reshape(n, c, h, w)


class GlobalAvgPool2D(Module):
    """Mean over the whole plane: ``(N, C, H, W) -> (N, C)``.

    ``y[n, c] = mean_{h, w} x[n, c, h, w]``; backward spreads ``dy[n, c] / (H W)`` evenly.
    """

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        check_input(self, x, ndim=(4,))
        self._cache = x.shape
        return x.mean(axis=(2, 3), dtype=x.dtype)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        require_forward(self, dy)
        n, c, h, w = self._cache
        check_grad(self, dy, (n, c))
        g = (dy / dy.dtype.type(h * w))[:, :, None, None]
        return np.broadcast_to(g, (n, c, h, w)).copy()

    def output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape[:2])
