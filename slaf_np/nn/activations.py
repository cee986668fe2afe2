"""Fixed element-wise activations (and Identity).

Each backward is ``dx = dy * f'(z)`` with ``f'`` written in terms of what forward cached:

========== ============================== ===========================================
layer      f(z)                           f'(z)
========== ============================== ===========================================
ReLU       max(z, 0)                      1[z > 0]
LeakyReLU  z if z > 0 else a z            1 if z > 0 else a
Tanh       tanh z                         1 - f^2
Sigmoid    1 / (1 + e^-z)                 f (1 - f)
SiLU       z sigma(z)                     sigma(z) (1 + z (1 - sigma(z)))
ELU        z if z > 0 else a (e^z - 1)    1 if z > 0 else f + a
========== ============================== ===========================================

The sigmoid is evaluated without overflow for either sign of ``z`` (``exp`` of a non-positive number
only) by :func:`slaf_np.approx.sigmoid`, the one definition beside the table of target activations.
"""

from __future__ import annotations

import numpy as np

from ..approx import sigmoid
from .base import Module, check_grad, check_input, check_range, require_forward

__all__ = ["Identity", "ReLU", "LeakyReLU", "Tanh", "Sigmoid", "SiLU", "ELU", "sigmoid"]


class _Elementwise(Module):
    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        check_input(self, x)
        y, self._cache = self._f(x)
        self._shape = x.shape
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        require_forward(self, dy)
        check_grad(self, dy, self._shape)
        return (dy * self._df(self._cache)).astype(dy.dtype, copy=False)


class Identity(_Elementwise):
    """``f(z) = z``."""

    def _f(self, z):
        return z, True

    def _df(self, cache):
        return 1

    def backward(self, dy: np.ndarray) -> np.ndarray:
        require_forward(self, dy)
        check_grad(self, dy, self._shape)
        return dy


class ReLU(_Elementwise):
    """``f(z) = max(z, 0)``; the derivative at 0 is taken as 0."""

    def _f(self, z):
        mask = z > 0
        return z * mask, mask

    def _df(self, mask):
        return mask


class LeakyReLU(_Elementwise):
    """``f(z) = z`` for ``z > 0``, ``alpha z`` otherwise."""

    def __init__(self, alpha: float = 0.01) -> None:
        super().__init__()
        self.alpha = check_range(alpha, "alpha", "LeakyReLU", 0.0, 1.0, hi_open=False)

    def _f(self, z):
        mask = z > 0
        return np.where(mask, z, self.alpha * z).astype(z.dtype, copy=False), mask

    def _df(self, mask):
        return np.where(mask, 1.0, self.alpha)

    def config(self) -> dict:
        return {"alpha": self.alpha}


class Tanh(_Elementwise):
    """``f(z) = tanh z``."""

    def _f(self, z):
        y = np.tanh(z)
        return y, y

    def _df(self, y):
        return 1 - y * y


class Sigmoid(_Elementwise):
    """``f(z) = 1 / (1 + exp(-z))``."""

    def _f(self, z):
        y = sigmoid(z)
        return y, y

    def _df(self, y):
        return y * (1 - y)


class SiLU(_Elementwise):
    """``f(z) = z sigma(z)`` (swish)."""

    def _f(self, z):
        s = sigmoid(z)
        return z * s, (z, s)

    def _df(self, cache):
        z, s = cache
        return s * (1 + z * (1 - s))


class ELU(_Elementwise):
    """``f(z) = z`` for ``z > 0``, ``alpha (exp(z) - 1)`` otherwise."""

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        self.alpha = check_range(alpha, "alpha", "ELU", 0.0, np.inf, lo_open=True)

    def _f(self, z):
        mask = z > 0
        neg = self.alpha * np.expm1(np.minimum(z, 0))
        y = np.where(mask, z, neg).astype(z.dtype, copy=False)
        return y, (mask, neg)

    def _df(self, cache):
        mask, neg = cache
        return np.where(mask, 1.0, neg + self.alpha)

    def config(self) -> dict:
        return {"alpha": self.alpha}
