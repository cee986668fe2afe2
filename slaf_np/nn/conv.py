r"""Two-dimensional convolution of ``(N, C, H, W)`` images: :class:`Conv2D`.

Symbols: ``x`` (N, C, H, W) input, ``W`` (O, C, kh, kw) weights, ``b`` (O,) bias, stride ``s``,
zero padding ``ph`` rows and ``pw`` columns on each side, output ``y`` (N, O, Ho, Wo) with
``Ho = (H + 2 ph - kh) // s + 1`` and ``Wo = (W + 2 pw - kw) // s + 1`` (floor: input rows that no
window reaches are ignored). With ``xp`` the padded input (zero outside ``x``)::

    y[n, o, p, q] = b[o] + sum_{c, i, j} W[o, c, i, j] xp[n, c, s p + i, s q + j]

Lowered to a matrix product (im2col). The lowered input of sample n is the matrix ``cols[n]`` of
shape (K, P), ``K = C kh kw`` rows indexed by ``(c, i, j)`` and ``P = Ho Wo`` columns indexed by
``(p, q)``::

    cols[n][(c, i, j), (p, q)] = xp[n, c, s p + i, s q + j]
    y[n] = W_mat cols[n] + b          W_mat = W.reshape(O, K),  y[n] as (O, P)

Backward. ``y`` is linear in ``W_mat`` and in ``cols``, so with ``dy[n]`` as (O, P)::

    dW_mat   = sum_n dy[n] cols[n]^T                 (O, K)
    db[o]    = sum_{n, p, q} dy[n, o, p, q]
    dcols[n] = W_mat^T dy[n]                         (K, P)
    dx[n, c, h, w] = sum dcols[n][(c, i, j), (p, q)] over s p + i - ph = h, s q + j - pw = w

The last line is col2im, the transpose of the lowering: each lowered entry is a copy of one
input entry (or of a padding zero, whose gradient is dropped), so its gradient is added back there.

Padding. An int pads every side by that many zeros; ``"valid"`` is 0; ``"same"`` keeps the size,
``Ho = H`` and ``Wo = W``, and is defined for stride 1 and odd kernel sides only, as symmetric
padding ``((kh - 1) / 2, (kw - 1) / 2)``. Other cases are refused (TensorFlow pads them unevenly,
PyTorch refuses them too): give an int padding instead.

The kernels (:mod:`slaf_np.kernels.conv`, NumPy twin :mod:`slaf_np.kernels.conv_numpy`) never
lower the whole batch at once: each thread lowers a few samples at a time into a small buffer.
"""

from __future__ import annotations

import numpy as np

from .base import (
    Module,
    as_rng,
    check_bool,
    check_float_dtype,
    check_grad,
    check_input,
    check_positive_int,
)

PADDINGS = ("same", "valid")


def _kernels():
    """:mod:`slaf_np.kernels.conv`, imported on first use (importing the layers stays fast)."""
    from ..kernels import conv as kernels

    return kernels


def _pair(value, name: str) -> tuple[int, int]:
    """``value`` (an int or two ints) as a pair of positive ints, or a ``ValueError``."""
    if isinstance(value, (list, tuple)) and len(value) == 2:
        a, b = value
        return (check_positive_int(a, name, "Conv2D"), check_positive_int(b, name, "Conv2D"))
    if isinstance(value, (list, tuple)):
        raise ValueError(f"Conv2D: {name} must be an int or a pair of ints, got {value!r}")
    k = check_positive_int(value, name, "Conv2D")
    return k, k


class Conv2D(Module):
    """2-D convolution (cross-correlation, as in every deep-learning library) of NCHW images.

    Parameters
    ----------
    in_channels, out_channels : int
        C and O.
    kernel_size : int or (int, int)
        ``(kh, kw)``; an int is a square kernel.
    stride : int
        Step between windows, in both directions.
    padding : int, "same" or "valid"
        Zeros added on each side (see the module docstring; ``"same"`` needs stride 1 and odd
        kernel sides).
    bias : bool
        Learn a bias ``b`` (O,); without it the layer has ``W`` only.
    input_gradient : bool
        Compute ``dx`` in :meth:`backward` (the col2im pass). ``False`` is for a network's first
        layer, whose input gradient nobody uses: backward then adds ``dW`` and ``db`` only and
        returns None (MNIST conv1's backward is about a third cheaper). A container refuses a
        layer with ``input_gradient=False`` anywhere but first.
    rng : numpy.random.Generator, int or None
        Source of the initial weights: He-normal, ``W ~ N(0, 2 / (C kh kw))``; ``b`` starts at 0.
    dtype : float32 or float64

    Attributes
    ----------
    params : ``W`` (O, C, kh, kw) and ``b`` (O,).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride: int = 1,
                 padding: int | str = 0, bias: bool = True, input_gradient: bool = True,
                 rng=None, dtype=np.float32) -> None:
        super().__init__()
        self.in_channels = check_positive_int(in_channels, "in_channels", "Conv2D")
        self.out_channels = check_positive_int(out_channels, "out_channels", "Conv2D")
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.stride = check_positive_int(stride, "stride", "Conv2D")
        self.pad = self._resolve_padding(padding)
        self.padding = padding if isinstance(padding, str) else self.pad[0]
        self.bias = check_bool(bias, "bias", "Conv2D")
        self.input_gradient = check_bool(input_gradient, "input_gradient", "Conv2D")
        dtype = check_float_dtype(dtype, "Conv2D")
        kh, kw = self.kernel_size
        fan_in = in_channels * kh * kw
        W = as_rng(rng).standard_normal((out_channels, in_channels, kh, kw)) * np.sqrt(2 / fan_in)
        self.params = {"W": W.astype(dtype)}
        if self.bias:
            self.params["b"] = np.zeros(out_channels, dtype)
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}

    def _resolve_padding(self, padding) -> tuple[int, int]:
        """``(ph, pw)`` from the ``padding`` argument, or a ``ValueError`` saying what to give."""
        kh, kw = self.kernel_size
        if isinstance(padding, str):
            if padding not in PADDINGS:
                raise ValueError(f"Conv2D: padding must be an int >= 0 or one of {PADDINGS}, "
                                 f"got {padding!r}")
            if padding == "valid":
                return 0, 0
            if self.stride != 1 or kh % 2 == 0 or kw % 2 == 0:
                raise ValueError(
                    f"Conv2D: padding='same' needs stride 1 and odd kernel sides (symmetric "
                    f"padding), got kernel_size={self.kernel_size} and stride={self.stride}; "
                    f"give an int padding instead (e.g. padding={(kh - 1) // 2})")
            return (kh - 1) // 2, (kw - 1) // 2
        p = check_positive_int(padding, "padding", "Conv2D", minimum=0)
        return p, p

    # -- shapes -------------------------------------------------------------------------------
    def output_shape(self, input_shape: tuple) -> tuple:
        n, c, h, w = input_shape
        kh, kw = self.kernel_size
        ph, pw = self.pad
        if h + 2 * ph < kh or w + 2 * pw < kw:
            raise ValueError(
                f"Conv2D: the {kh}x{kw} kernel does not fit in the input of shape "
                f"{tuple(input_shape)} padded by ({ph}, {pw}); use a larger input or padding")
        s = self.stride
        return (n, self.out_channels, (h + 2 * ph - kh) // s + 1, (w + 2 * pw - kw) // s + 1)

    # -- the protocol -------------------------------------------------------------------------
    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        check_input(self, x, ndim=(4,), features=self.in_channels)
        self.output_shape(x.shape)                       # raises when the kernel does not fit
        x = np.ascontiguousarray(x)
        self._cache = x
        return _kernels().forward(x, self.params["W"], self.params.get("b"), self.stride,
                                  *self.pad)

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        """``dx`` (None with ``input_gradient=False``), adding ``dW = sum_n dy[n] cols[n]^T`` and
        ``db = sum dy`` to the gradients (module docstring)."""
        x = self._cache
        check_grad(self, dy, self.output_shape(x.shape) if x is not None else ())
        dx, dW, db = _kernels().backward(np.ascontiguousarray(dy), x, self.params["W"],
                                         self.stride, *self.pad,
                                         need_dx=self.input_gradient)
        self.grads["W"] += dW
        if self.bias:
            self.grads["b"] += db
        return dx

    def config(self) -> dict:
        kh, kw = self.kernel_size
        return {"in_channels": self.in_channels, "out_channels": self.out_channels,
                "kernel_size": kh if kh == kw else [kh, kw], "stride": self.stride,
                "padding": self.padding, "bias": self.bias,
                **({} if self.input_gradient else {"input_gradient": False})}
