r"""Residual blocks: :class:`Residual` (``y = F(x) + S(x)``) and :func:`basic_block`, the CIFAR
ResNet basic block.

A residual block adds the outputs of two paths that read the same input: the body ``F`` and the
shortcut ``S`` (the identity unless given)::

    y = F(x) + S(x)
    dL/dx = F'(x)^T dy + S'(x)^T dy          (both paths receive dy; their dx add)

Each path is a :class:`~slaf_np.nn.Sequential`: ``layers[0]`` is the body and ``layers[1]``, when
there is one, the shortcut, so the parameters are keyed ``"0.<i>.<name>"`` (body) and
``"1.<i>.<name>"`` (shortcut), as in any container.

ResNet's basic block (He et al. 2016, the CIFAR networks; option B: a projection shortcut only
where the shape changes)::

    body      conv3x3(stride s) - BN - act - conv3x3 - BN
    shortcut  identity, or conv1x1(stride s, no bias) - BN when s != 1 or the channels change
    output    act(body + shortcut)

:func:`basic_block` returns ``Sequential(Residual(body, shortcut), act)``: the activation after the
sum is an ordinary layer after the block, so :class:`Residual` stays a plain sum.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .activations import ReLU
from .base import Module, as_rng, check_positive_int
from .containers import Sequential, _Container, gives_no_input_gradient
from .conv import Conv2D
from .norm import BatchNorm


class Residual(_Container):
    """``y = F(x) + S(x)``: ``F`` the given layers in order, ``S`` the identity or ``shortcut``.

    Parameters
    ----------
    *layers : Module
        The body ``F``, run as a :class:`Sequential` (a single module, itself a Sequential or
        not, becomes a one-layer Sequential).
    shortcut : Module or sequence of Module, optional
        The shortcut ``S``, run as a :class:`Sequential`; ``None`` (the default) is the identity.
        Both paths must map the input to the same shape.

    Examples
    --------
    >>> import numpy as np, slaf_np as sn
    >>> block = sn.Residual(sn.Dense(3, 4, rng=0), sn.Tanh(), shortcut=sn.Dense(3, 4, rng=1))
    >>> block.forward(np.zeros((2, 3), np.float32)).shape
    (2, 4)
    >>> sorted(block.params)
    ['0.0.W', '0.0.b', '1.0.W', '1.0.b']
    """

    def __init__(self, *layers: Module, shortcut: Module | Sequence[Module] | None = None) -> None:
        super().__init__()
        self.layers = [Sequential(*layers)]
        if shortcut is not None:
            path = shortcut if isinstance(shortcut, (list, tuple)) else [shortcut]
            if not all(isinstance(m, Module) for m in path):
                raise TypeError(f"Residual: shortcut must be a Module or a list of Modules, got "
                                f"{shortcut!r}")
            self.layers.append(Sequential(*path))
        for name, path in zip(("body", "shortcut"), self.layers, strict=False):
            if gives_no_input_gradient(path):
                raise ValueError(f"Residual: the {name} starts with a layer that computes no "
                                 f"input gradient (input_gradient=False), which the sum needs; "
                                 f"only the first layer of a network may set it")

    @property
    def body(self) -> Sequential:
        """The path ``F``."""
        return self.layers[0]

    @property
    def shortcut(self) -> Sequential | None:
        """The path ``S``; ``None`` for the identity."""
        return self.layers[1] if len(self.layers) > 1 else None

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self.output_shape(np.shape(x))        # raises, before any layer runs, if the paths differ
        y = self.body.forward(x, training=training)
        s = x if self.shortcut is None else self.shortcut.forward(x, training=training)
        self._cache = x.shape
        return y + s

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """``dx = F'(x)^T dy + S'(x)^T dy`` (``S'(x)^T dy = dy`` for the identity)."""
        dx = self.body.backward(dy)
        return dx + (dy if self.shortcut is None else self.shortcut.backward(dy))

    def output_shape(self, input_shape: tuple) -> tuple:
        shape = tuple(input_shape)
        y = self.body.output_shape(shape)
        s = shape if self.shortcut is None else self.shortcut.output_shape(shape)
        if y != s:
            what = "the input" if self.shortcut is None else "the shortcut maps it to"
            raise ValueError(
                f"Residual: the branch maps shape {shape} to {y}, {what} {s}; a residual sum "
                f"needs equal shapes (give a shortcut that maps {shape} to {y}, e.g. a strided "
                f"1x1 Conv2D)")
        return y

    def input_of(self, layer: Module, x: np.ndarray) -> np.ndarray:
        """The input ``layer`` (a leaf of either path) receives: both paths read ``x``."""
        for path in self.layers:
            if any(leaf is layer for leaf in path.modules()):
                return path.input_of(layer, x)
        raise ValueError(f"{self.name}.input_of: {layer!r} is not a layer of this model")

    def __repr__(self) -> str:
        if self.shortcut is None:
            return "Residual(" + repr(self.body) + ")"
        inner = "\n".join(f"  ({name}) {path!r}".replace("\n", "\n  ")
                          for name, path in (("body", self.body), ("shortcut", self.shortcut)))
        return f"Residual(\n{inner}\n)"


def basic_block(in_channels: int, out_channels: int, stride: int = 1,
                activation: Callable[[int], Module] | None = None, rng=None,
                dtype=np.float32) -> Sequential:
    """The ResNet basic block for CIFAR (option B shortcut), followed by its activation.

    Parameters
    ----------
    in_channels, out_channels : int
        Channels in and out.
    stride : int
        Stride of the first 3x3 convolution (2 halves the height and width).
    activation : callable, optional
        ``activation(channels)`` makes one activation layer; it is called twice (inside the body
        and after the sum), e.g. ``lambda c: SLAF(c, 2)``. ``None`` gives :class:`ReLU`.
    rng : numpy.random.Generator, int or None
        Source of the convolutions' He-normal weights.
    dtype : float32 or float64

    Returns
    -------
    Sequential
        ``Sequential(Residual(body, shortcut=...), activation)``: the body is
        conv3x3(stride) - BN - act - conv3x3 - BN (convolutions without bias: BN's beta is the
        bias); the shortcut is the identity when ``stride == 1`` and the channels agree, else a
        1x1 convolution with the same stride (no bias) and a BN. ``(N, in_channels, H, W) ->
        (N, out_channels, ceil(H / stride), ceil(W / stride))``.
    """
    check_positive_int(in_channels, "in_channels", "basic_block")
    check_positive_int(out_channels, "out_channels", "basic_block")
    stride = check_positive_int(stride, "stride", "basic_block")
    act = activation if activation is not None else (lambda c: ReLU())
    rng = as_rng(rng)
    body = [Conv2D(in_channels, out_channels, 3, stride=stride, padding=1, bias=False, rng=rng,
                   dtype=dtype),
            BatchNorm(out_channels, dtype=dtype), act(out_channels),
            Conv2D(out_channels, out_channels, 3, padding=1, bias=False, rng=rng, dtype=dtype),
            BatchNorm(out_channels, dtype=dtype)]
    shortcut = None
    if stride != 1 or in_channels != out_channels:
        shortcut = [Conv2D(in_channels, out_channels, 1, stride=stride, bias=False, rng=rng,
                           dtype=dtype),
                    BatchNorm(out_channels, dtype=dtype)]
    return Sequential(Residual(*body, shortcut=shortcut), act(out_channels))
