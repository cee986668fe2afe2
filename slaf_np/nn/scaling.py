r"""The input scalings of the paper's SLAF training routines, as layers placed before a SLAF.

The authors trained SLAFs of raw powers with one of these in front (docs/paper.md, section 3)::

    MS    Sequential(..., Dense(d, D), MaxScale(D), SLAF(D, k, normalize=False), ...)
    EMFN  Sequential(..., Dense(d, D), SampleMaxScale(), SLAF(D, 2k, "fourier", shared=True,
                                                              normalize=False), ...)
    GC    two spirals: nothing before the raw powers; MNIST: Affine(C, eps=1e-3)

The layers (per feature of (N, D) inputs, per channel of (N, C, H, W) inputs)::

    MaxScale        x^ = z / (m M + n)      M = max |z| over the batch (and space) in training,
                                            the running average running_max in evaluation
                                            (an estimate of the expected batch max);
                                            m learnable (init 2), n = 1e-8 fixed, decay 0.99
    SampleMaxScale  x^ = z / (m M_n + n)    M_n = max |z| over the features (and space) of
                                            sample n, in both modes; m (init 2), n (init 1)
    Affine          y = gamma z / s + beta  s = sqrt(1 + eps) fixed; gamma (init 1), beta (0)

Backward of the max scalings, ``x^ = z / q`` with ``q = m M + n`` (per feature for MaxScale, per
sample for SampleMaxScale) and sums over the values ``q`` divides::

    dz  = dx^ / q
    dq  = -sum(dx^ * x^) / q                        (from x^ = z / q)
    dm  = sum_q dq M        dn = sum_q dq           (n learnable: SampleMaxScale)
    dz[argmax] += m dq sign(z[argmax])              (M = |z| there: dM/dz = sign(z))

The last line is the gradient through the max; MaxScale has it in training only (its evaluation
``M`` is a constant running average), SampleMaxScale in both modes. In evaluation mode MaxScale
and Affine are affine maps of each feature (:meth:`MaxScale.evaluation_map`), so
:func:`slaf_np.polynomial.expand` passes through them; SampleMaxScale is not a polynomial.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .base import (
    Module,
    check_float_dtype,
    check_grad,
    check_input,
    check_positive_int,
    check_range,
)

__all__ = ["MaxScale", "SampleMaxScale", "Affine", "expected_max_weights"]

MAX_EPS = 1e-8         # the fixed n of MaxScale (the authors' value)


class MaxCache(NamedTuple):
    """What the max scalings keep for their backward."""

    xh: np.ndarray              # the output x^ = z / q, as (N, D, S)
    q: np.ndarray               # the divisors: (D,) per feature, or (N,) per sample
    M: np.ndarray               # the maxima of |z| that q was made from, same shape as q
    argmax: np.ndarray | None   # where each max was taken (flat index), None if M is constant
    shape: tuple                # the input's shape


def _as3d(x: np.ndarray, per_sample: bool = False) -> np.ndarray:
    """``x`` (N, D) or (N, C, H, W) as a C-contiguous (N, D, S) array, or (N, 1, D S) with
    ``per_sample`` (an empty batch too)."""
    x = np.ascontiguousarray(x)
    if per_sample:
        return x.reshape(x.shape[0], 1, math.prod(x.shape[1:]))
    return x.reshape(x.shape[0], x.shape[1], math.prod(x.shape[2:]))


def _flat_argmax(absz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index, value) of the largest entry of each row of the 2-d ``absz``."""
    idx = absz.argmax(axis=1)
    return idx, absz[np.arange(absz.shape[0]), idx]


def _sign_at(xh: np.ndarray, q: np.ndarray, at: tuple) -> np.ndarray:
    """sign(z) at ``at`` from x^ = z / q (the divisor q may be negative if m is)."""
    return np.sign(xh[at] * q)


def _divisor_backward(layer: Module, dy: np.ndarray, per_sample: bool):
    """What both max scalings' backwards share, for ``x^ = z / q``: ``dz = dx^ / q`` and
    ``dq = -sum(dx^ * x^) / q`` over the values each ``q`` divides (a feature's: axes 0 and 2; a
    sample's: axes 1 and 2), and ``dm += sum dq M``. Returns ``(cache, dz, dq)``, dz (N, D, S)."""
    cache: MaxCache = layer._cache
    check_grad(layer, dy, cache.shape if cache else ())
    xh, q = cache.xh, cache.q
    dxh = dy.reshape(xh.shape)
    dz = dxh / (q[:, None, None] if per_sample else q[:, None])
    dq = -(dxh * xh).sum(axis=(1, 2) if per_sample else (0, 2)) / q   # (N,) or (D,)
    layer.grads["m"] += np.sum(dq * cache.M)
    return cache, dz, dq


def expected_max_weights(N: int, n: int) -> np.ndarray:
    r"""``w`` (N,) with ``w @ sorted(a)`` = the expected max of ``n`` of the ``N`` values ``a``
    drawn without replacement: :math:`w_i = \binom{i-1}{n-1} / \binom{N}{n}` (1-based ``i``),
    zero for ``i < n``. ``n`` of 0 or ``>= N`` gives the plain max (all weight on the last)."""
    w = np.zeros(N)
    if n <= 0 or n >= N:
        w[-1] = 1.0
        return w
    i = np.arange(N, n, -1, dtype=np.float64)                 # N, N-1, ..., n+1
    w[n - 1:] = (n / N) * np.concatenate([[1.0], np.cumprod((i - n) / (i - 1))])[::-1]
    return w


class MaxScale(Module):
    r"""MS, max-scaling: ``x^ = z / (m M + n)`` per feature or channel.

    ``M`` is ``max |z|`` over the batch (and the spatial axes) in training, with the gradient
    through the position of the max, and the running average ``running_max`` in evaluation
    (where the layer is linear). ``n = 1e-8``.

    Parameters
    ----------
    num_features : int
        D for (N, D) inputs, C for (N, C, H, W) inputs.
    decay : float in [0, 1)
        ``running_max = decay * running_max + (1 - decay) * M`` after each training forward.
    dtype : float32 or float64

    Attributes
    ----------
    params : ``m`` (1,), init 2.
    buffers : ``running_max`` (D,), init 1; ``batch_rows`` (1,), the largest training batch seen
        (0 before training), which :meth:`calibrate` needs.

    Notes
    -----
    ``running_max`` estimates the *expected* maximum of ``|z|`` over a training batch, which for
    a batch of n rows out of N is well below the maximum over all N (for the two-spirals MS run,
    n = 10 of 16,000). Evaluating with the maximum over all the data would shrink every input of
    the following SLAF and cost the network most of its accuracy, so :meth:`calibrate` computes
    the expectation exactly instead.
    """

    def __init__(self, num_features: int, decay: float = 0.99, dtype=np.float32) -> None:
        super().__init__()
        self.num_features = check_positive_int(num_features, "num_features", "MaxScale")
        self.decay = check_range(decay, "decay", "MaxScale", 0.0, 1.0)
        dtype = self._dtype = check_float_dtype(dtype, "MaxScale")
        self.params = {"m": np.full(1, 2.0, dtype)}
        self.grads = {"m": np.zeros(1, dtype)}
        self.buffers = {"running_max": np.ones(num_features, dtype),
                        "batch_rows": np.zeros(1, dtype)}

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        check_input(self, x, ndim=(2, 4), features=self.num_features)
        z = _as3d(x)
        if training:
            if x.size == 0:
                raise ValueError(f"MaxScale.forward: training needs a non-empty batch, got "
                                 f"input of shape {x.shape}")
            idx, M = _flat_argmax(np.abs(z).transpose(1, 0, 2).reshape(self.num_features, -1))
            r = self.buffers["running_max"]
            r *= self.decay
            r += ((1.0 - self.decay) * M).astype(r.dtype)
            rows = self.buffers["batch_rows"]
            rows[0] = max(rows[0], x.shape[0])
        else:
            idx, M = None, self.buffers["running_max"]
        q = (self.params["m"] * M + z.dtype.type(MAX_EPS)).astype(z.dtype)
        xh = z / q[:, None]
        self._cache = MaxCache(xh, q, M, idx, x.shape)
        return xh.reshape(x.shape)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """dz = dy / q, plus (training) the gradient through the max (module docstring)."""
        cache, dz, dq = _divisor_backward(self, dy, per_sample=False)
        xh, q = cache.xh, cache.q
        if cache.argmax is not None:
            n, s = np.divmod(cache.argmax, xh.shape[2])
            d = np.arange(xh.shape[1])
            dz[n, d, s] += self.params["m"][0] * dq * _sign_at(xh, q, (n, d, s))
        return dz.reshape(cache.shape)

    def calibrate(self, batches) -> None:
        r"""Set ``running_max`` to the expected max of ``|z|`` over a random training batch.

        With ``n`` = ``batch_rows`` (the training batch size) and the data's per-sample maxima
        sorted, :math:`a_{(1)} \le \dots \le a_{(N)}` (per feature; max over space first),
        the max of ``n`` rows drawn without replacement is :math:`a_{(i)}` with probability
        :math:`\binom{i-1}{n-1} / \binom{N}{n}`, so

        .. math:: E[M] = \sum_{i=n}^{N} a_{(i)} \binom{i-1}{n-1} \Big/ \binom{N}{n},

        the value the running average estimates, without its lag. The weights come from
        :math:`w_N = n/N` and :math:`w_{i-1} = w_i (i-n)/(i-1)`. Before any training
        (``batch_rows`` 0), or with ``n >= N``, this is the max over all the data: then the
        evaluation-mode output on the data equals the training-mode output on it as one batch.
        Holds every per-sample maximum in memory: N x D values.
        """
        per_sample = []
        for x in batches:
            check_input(self, x, ndim=(2, 4), features=self.num_features)
            if x.size:
                per_sample.append(np.abs(_as3d(x)).max(axis=2).astype(np.float64))  # (N, D)
        if not per_sample:
            return
        a = np.sort(np.concatenate(per_sample), axis=0)                            # (N, D)
        self.buffers["running_max"][...] = (expected_max_weights(
            len(a), int(self.buffers["batch_rows"][0])) @ a).astype(self._dtype)

    def evaluation_map(self) -> tuple[np.ndarray, np.ndarray]:
        """(scale, shift) (D,) float64 with ``x^ = scale * z + shift`` in evaluation mode."""
        M = self.buffers["running_max"].astype(np.float64)
        return 1.0 / (self.params["m"].astype(np.float64) * M + MAX_EPS), np.zeros_like(M)

    def config(self) -> dict:
        return {"num_features": self.num_features, "decay": self.decay}


class SampleMaxScale(Module):
    r"""EMFN's scaling: ``x^ = z / (m M_n + n)``, ``M_n = max |z|`` over sample n's features.

    The max runs over every feature (and spatial position) of each sample, in training and in
    evaluation alike, so one sample's output depends on all its features: the layer is not a
    polynomial (``expand`` refuses it). With ``m = 2``, ``n = 1`` at init, ``|x^| < 1/2``: the
    range the bounded ``fourier`` basis expects.

    Parameters
    ----------
    dtype : float32 or float64

    Attributes
    ----------
    params : ``m`` (1,), init 2; ``n`` (1,), init 1.
    """

    def __init__(self, dtype=np.float32) -> None:
        super().__init__()
        dtype = self._dtype = check_float_dtype(dtype, "SampleMaxScale")
        self.params = {"m": np.full(1, 2.0, dtype), "n": np.ones(1, dtype)}
        self.grads = {key: np.zeros(1, dtype) for key in self.params}

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        check_input(self, x, ndim=(2, 4))
        z = _as3d(x, per_sample=True)
        idx, M = _flat_argmax(np.abs(z[:, 0]))
        q = (self.params["m"] * M + self.params["n"]).astype(z.dtype)
        xh = z / q[:, None, None]
        self._cache = MaxCache(xh, q, M, idx, x.shape)
        return xh.reshape(x.shape)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """dz = dy / q_n plus the gradient through each sample's max (module docstring)."""
        cache, dz, dq = _divisor_backward(self, dy, per_sample=True)
        xh, q = cache.xh, cache.q
        self.grads["n"] += np.sum(dq)
        n = np.arange(xh.shape[0])
        dz[n, 0, cache.argmax] += self.params["m"][0] * dq * _sign_at(xh, q, (n, 0, cache.argmax))
        return dz.reshape(cache.shape)


class Affine(Module):
    r"""A learnable affine map per feature or channel: ``y = gamma z / sqrt(1 + eps) + beta``.

    With ``eps = 1e-3`` this is what a Keras / TensorFlow batch normalisation computes in
    inference mode while its moving statistics are still at their initial mean 0 and variance 1:
    the layer the authors' MNIST GC script put before the raw powers
    (``tf.layers.batch_normalization(X, training=False)``: the statistics never move, ``gamma``
    and ``beta`` are trained). ``eps = 0`` (the default) gives the plain map ``gamma z + beta``.

    Backward, with ``s = sqrt(1 + eps)`` and sums over the values of each feature::

        dgamma = sum(dy z) / s      dbeta = sum(dy)      dz = dy gamma / s

    Parameters
    ----------
    num_features : int
        D for (N, D) inputs, C for (N, C, H, W) inputs.
    eps : float >= 0
    dtype : float32 or float64

    Attributes
    ----------
    params : ``gamma`` (D,), init 1; ``beta`` (D,), init 0.
    """

    def __init__(self, num_features: int, eps: float = 0.0, dtype=np.float32) -> None:
        super().__init__()
        D = self.num_features = check_positive_int(num_features, "num_features", "Affine")
        self.eps = check_range(eps, "eps", "Affine", 0.0, np.inf)
        dtype = self._dtype = check_float_dtype(dtype, "Affine")
        self.params = {"gamma": np.ones(D, dtype), "beta": np.zeros(D, dtype)}
        self.grads = {key: np.zeros(D, dtype) for key in self.params}

    def _shape(self, x: np.ndarray) -> tuple[int, ...]:
        return (1, -1) if x.ndim == 2 else (1, -1, 1, 1)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        check_input(self, x, ndim=(2, 4), features=self.num_features)
        zh = x / x.dtype.type(np.sqrt(1.0 + self.eps))
        self._cache = zh
        bs = self._shape(x)
        return zh * self.params["gamma"].reshape(bs) + self.params["beta"].reshape(bs)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        zh = self._cache
        check_grad(self, dy, zh.shape if zh is not None else ())
        axes, bs = (0,) if dy.ndim == 2 else (0, 2, 3), self._shape(dy)
        self.grads["gamma"] += (dy * zh).sum(axis=axes)
        self.grads["beta"] += dy.sum(axis=axes)
        return dy * (self.params["gamma"] / self.params["gamma"].dtype.type(
            np.sqrt(1.0 + self.eps))).reshape(bs)

    def evaluation_map(self) -> tuple[np.ndarray, np.ndarray]:
        """(scale, shift) (D,) float64 with ``y = scale * z + shift`` (in both modes)."""
        p = {key: v.astype(np.float64) for key, v in self.params.items()}
        return p["gamma"] / np.sqrt(1.0 + self.eps), p["beta"]

    def config(self) -> dict:
        return {"num_features": self.num_features, "eps": self.eps}
