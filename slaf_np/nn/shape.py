"""Layers that only change the shape of each sample: :class:`Flatten` and :class:`Reshape`.

Both move no values: forward reshapes ``(N, ...)`` and backward reshapes ``dy`` back.
"""

from __future__ import annotations

import numpy as np

from .base import Module, check_grad, check_input, require_forward


class Flatten(Module):
    """Reshape ``(N, ...)`` to ``(N, prod(...))``."""

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        check_input(self, x)
        self._cache = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        require_forward(self, dy)
        shape = self._cache
        check_grad(self, dy, (shape[0], int(np.prod(shape[1:]))))
        return dy.reshape(shape)

    def output_shape(self, input_shape: tuple) -> tuple:
        return (input_shape[0], int(np.prod(input_shape[1:])))


class Reshape(Module):
    """Reshape each sample: ``(N, ...)`` to ``(N, *shape)``.

    Parameters
    ----------
    shape : tuple of int
        The per-sample shape (batch axis excluded), e.g. ``(1, 28, 28)``; one entry may be ``-1``.

    Examples
    --------
    >>> import numpy as np
    >>> Reshape((1, 28, 28)).forward(np.zeros((5, 784), np.float32)).shape
    (5, 1, 28, 28)
    """

    def __init__(self, shape) -> None:
        super().__init__()
        try:
            shape = tuple(int(s) for s in shape)
        except (TypeError, ValueError):
            raise TypeError(f"Reshape: shape must be a tuple of ints, got {shape!r}") from None
        if not shape or any(s == 0 or s < -1 for s in shape) or shape.count(-1) > 1:
            raise ValueError(f"Reshape: shape must hold positive sizes (at most one -1), "
                             f"got {shape}")
        self.shape = shape

    def _target(self, input_shape: tuple) -> tuple:
        size = int(np.prod(input_shape[1:]))
        known = int(np.prod([s for s in self.shape if s != -1]))
        fits = size % known == 0 if -1 in self.shape else size == known
        if not fits:
            raise ValueError(f"Reshape: cannot reshape samples of shape {tuple(input_shape[1:])} "
                             f"({size} values) to {self.shape}")
        return tuple(size // known if s == -1 else s for s in self.shape)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        check_input(self, x)
        target = self._target(x.shape)
        self._cache = x.shape
        return x.reshape((x.shape[0], *target))

    def backward(self, dy: np.ndarray) -> np.ndarray:
        require_forward(self, dy)
        shape = self._cache
        check_grad(self, dy, (shape[0], *self._target(shape)))
        return dy.reshape(shape)

    def output_shape(self, input_shape: tuple) -> tuple:
        return (input_shape[0], *self._target(input_shape))

    def config(self) -> dict:
        return {"shape": list(self.shape)}
