"""Inverted dropout."""

from __future__ import annotations

import numpy as np

from .base import Module, as_rng, check_grad, check_input, check_range


class Dropout(Module):
    """Inverted dropout: in training, keep each value with probability ``1 - p`` and scale it by
    ``1 / (1 - p)``; in evaluation, the identity.

    Parameters
    ----------
    p : float in [0, 1)
        Probability of dropping a value.
    rng : numpy.random.Generator, int or None
        Source of the masks.

    Notes
    -----
    Setting ``fixed_mask`` to an array of the input's shape (0 or ``1 / (1 - p)`` entries) makes
    training-mode forwards reuse it instead of drawing; the gradient checks use this.
    """

    def __init__(self, p: float = 0.5, rng=None) -> None:
        super().__init__()
        self.p = check_range(p, "p", "Dropout", 0.0, 1.0)
        self.rng = as_rng(rng)
        self.fixed_mask: np.ndarray | None = None

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        check_input(self, x)
        if not training or self.p == 0:
            self._cache = (None, x.shape)
            return x
        if self.fixed_mask is not None:
            mask = self.fixed_mask.astype(x.dtype, copy=False)
            if mask.shape != x.shape:
                raise ValueError(f"Dropout: fixed_mask has shape {mask.shape}, input {x.shape}")
        else:
            keep = 1.0 - self.p
            mask = (self.rng.random(x.shape) < keep).astype(x.dtype) / x.dtype.type(keep)
        self._cache = (mask, x.shape)
        return x * mask

    def backward(self, dy: np.ndarray) -> np.ndarray:
        check_grad(self, dy, self._cache[1] if self._cache else ())
        mask = self._cache[0]
        return dy if mask is None else dy * mask

    def config(self) -> dict:
        return {"p": self.p}
