"""Fully connected layer ``y = x W + b``.

Backward (``x``: (N, in), ``W``: (in, out), ``dy``: (N, out))::

    dW = x^T dy        db = sum_n dy[n]        dx = dy W^T
"""

from __future__ import annotations

import numpy as np

from .base import (
    Module,
    as_rng,
    check_float_dtype,
    check_grad,
    check_input,
    check_positive_int,
    require_forward,
)

INITS = ("he", "glorot")


class Dense(Module):
    """Affine map ``y = x W + b``.

    Parameters
    ----------
    in_features, out_features : int
        Widths of the input and the output.
    rng : numpy.random.Generator, int or None
        Source of the initial weights.
    init : {"he", "glorot"}
        He-normal, ``W ~ N(0, 2 / in)`` (for ReLU-like activations), or Glorot-uniform,
        ``W ~ U(-a, a)`` with ``a = sqrt(6 / (in + out))`` (for tanh, sigmoid and SLAF).
        Biases start at zero.
    dtype : float32 or float64
    """

    def __init__(self, in_features: int, out_features: int, rng=None, init: str = "he",
                 dtype=np.float32) -> None:
        super().__init__()
        self.in_features = check_positive_int(in_features, "in_features", "Dense")
        self.out_features = check_positive_int(out_features, "out_features", "Dense")
        if init not in INITS:
            raise ValueError(f"Dense: init must be one of {INITS}, got {init!r}")
        self.init = init
        dtype = check_float_dtype(dtype, "Dense")
        rng = as_rng(rng)
        if init == "he":
            W = rng.standard_normal((in_features, out_features)) * np.sqrt(2.0 / in_features)
        else:
            a = np.sqrt(6.0 / (in_features + out_features))
            W = rng.uniform(-a, a, size=(in_features, out_features))
        self.params = {"W": W.astype(dtype), "b": np.zeros(out_features, dtype)}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        check_input(self, x, ndim=(2,), features=self.in_features)
        self._cache = x
        y = x @ self.params["W"]
        y += self.params["b"]  # in place: no second (N, out) array
        return y

    def zero_grad(self) -> None:
        super().zero_grad()
        self._zeroed = True  # the next backward may write its gradients instead of adding them

    def backward(self, dy: np.ndarray) -> np.ndarray:
        require_forward(self, dy)
        x = self._cache
        check_grad(self, dy, (x.shape[0], self.out_features))
        gW, gb = self.grads["W"], self.grads["b"]
        if getattr(self, "_zeroed", False) and gW.dtype == dy.dtype:
            # right after zero_grad, "+=" would be a wasted pass over W: write in place
            np.matmul(x.T, dy, out=gW)
            np.sum(dy, axis=0, out=gb)
        else:
            gW += x.T @ dy
            gb += dy.sum(axis=0)
        self._zeroed = False
        return dy @ self.params["W"].T

    def output_shape(self, input_shape: tuple) -> tuple:
        return (input_shape[0], self.out_features)

    def config(self) -> dict:
        return {"in_features": self.in_features, "out_features": self.out_features,
                "init": self.init}
