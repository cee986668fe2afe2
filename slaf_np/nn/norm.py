"""Batch normalisation.

BatchNorm (per feature of (N, D) inputs, per channel of (N, C, H, W) inputs; the statistics run over
the M = N (or N H W) values of each feature)::

    mu = mean(z)    var = mean((z - mu)^2)          (biased, as in training-mode batch norm)
    zh = (z - mu) / s,   s = sqrt(var + eps)
    y  = gamma * zh + beta

Backward, with ``g = dy * gamma`` and sums over the same M values::

    dgamma = sum(dy * zh)      dbeta = sum(dy)
    dz = (g - mean(g) - zh * mean(g * zh)) / s       (slaf_np.kernels.batchnorm, shared with SLAF)

The two mean terms are the gradient through ``mu`` and ``var``: they make ``dz`` orthogonal to the
constant and to ``zh``, since shifting or scaling the batch does not change ``zh``. In evaluation
mode ``mu`` and ``var`` are the running averages ``r <- decay r + (1 - decay) batch`` and the layer
is affine: ``dz = g / s``.
"""

from __future__ import annotations

import numpy as np

from ..kernels.batchnorm import batchnorm_backward
from .base import (
    Module,
    Moments,
    check_float_dtype,
    check_grad,
    check_input,
    check_positive_int,
    check_range,
)


def _stat_axes(x: np.ndarray) -> tuple[int, ...]:
    return (0,) if x.ndim == 2 else (0, 2, 3)


def _bshape(x: np.ndarray) -> tuple[int, ...]:
    return (1, -1) if x.ndim == 2 else (1, -1, 1, 1)


class BatchNorm(Module):
    """Batch normalisation with learned scale ``gamma`` and shift ``beta``.

    Parameters
    ----------
    num_features : int
        D for (N, D) inputs, C for (N, C, H, W) inputs.
    decay : float in [0, 1)
        Running statistics: ``running = decay * running + (1 - decay) * batch``. The default 0.99
        and ``eps = 1e-3`` are Keras's, which the paper's Boston and ResNet experiments used. The
        batch variance is the biased one (ddof=0) in both the normalisation and the running
        average, as TensorFlow/Keras (PyTorch averages the unbiased one): the running value then
        estimates what training normalised by, and recalibration's exact moments match it.
    eps : float > 0
        Added to the variance before the square root.
    affine : bool
        Learn ``gamma`` (init 1) and ``beta`` (init 0); otherwise a pure standardisation.
    """

    def __init__(self, num_features: int, decay: float = 0.99, eps: float = 1e-3,
                 affine: bool = True, dtype=np.float32) -> None:
        super().__init__()
        self.num_features = check_positive_int(num_features, "num_features", "BatchNorm")
        self.decay = check_range(decay, "decay", "BatchNorm", 0.0, 1.0)
        self.eps = check_range(eps, "eps", "BatchNorm", 0.0, np.inf, lo_open=True)
        self.affine = bool(affine)
        dtype = check_float_dtype(dtype, "BatchNorm")
        self._dtype = dtype
        if self.affine:
            self.params = {"gamma": np.ones(num_features, dtype),
                           "beta": np.zeros(num_features, dtype)}
            self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.buffers = {"running_mean": np.zeros(num_features, dtype),
                        "running_var": np.ones(num_features, dtype)}

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        check_input(self, x, ndim=(2, 4), features=self.num_features)
        axes, bs = _stat_axes(x), _bshape(x)
        if training and x.size // self.num_features <= 1:
            raise ValueError(f"BatchNorm.forward: batch statistics need more than one value per "
                             f"feature; got input of shape {x.shape} in training mode (use a "
                             f"larger batch, or training=False)")
        if training:
            mu = x.mean(axis=axes)
            var = x.var(axis=axes)
            d = self.decay
            self.buffers["running_mean"] *= d
            self.buffers["running_mean"] += (1 - d) * mu
            self.buffers["running_var"] *= d
            self.buffers["running_var"] += (1 - d) * var
        else:
            mu, var = self.buffers["running_mean"], self.buffers["running_var"]
        s = np.sqrt(var + self.eps).astype(x.dtype)
        zh = (x - mu.reshape(bs)) / s.reshape(bs)
        self._cache = (zh, s, training, x.shape)
        if self.affine:
            return zh * self.params["gamma"].reshape(bs) + self.params["beta"].reshape(bs)
        return zh

    def backward(self, dy: np.ndarray) -> np.ndarray:
        check_grad(self, dy, self._cache[3] if self._cache else ())
        zh, s, training, _ = self._cache
        axes, bs = _stat_axes(zh), _bshape(zh)
        if self.affine:
            self.grads["gamma"] += (dy * zh).sum(axis=axes)
            self.grads["beta"] += dy.sum(axis=axes)
            g = dy * self.params["gamma"].reshape(bs)
        else:
            g = dy
        if training:
            return batchnorm_backward(g, zh, s.reshape(bs), axes)
        return g / s.reshape(bs)

    def calibrate(self, batches) -> None:
        """The calibration hook (:mod:`slaf_np.train.calibration`): set ``running_mean`` and
        ``running_var`` to the exact (biased) moments of the inputs over all of ``batches``."""
        moments = Moments()
        for x in batches:
            check_input(self, x, ndim=(2, 4), features=self.num_features)
            moments.add_values(x, _stat_axes(x))
        moments.write(self.buffers, "running_mean", "running_var")

    def output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape)

    def config(self) -> dict:
        return {"num_features": self.num_features, "decay": self.decay, "eps": self.eps,
                "affine": self.affine}
