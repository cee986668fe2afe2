"""The paper's networks (docs/paper.md section 4, "Classification"), built in one place.

Every experiment, benchmark and parameter count that needs one of these networks builds it here,
so there is one source of truth for their layouts:

=======================  =====================================================================
:func:`mnist_slnn`       MNIST SLNN: conv 5x5x16, SLAF k=4, max-pool 2, conv 5x5x32, SLAF k=4,
                         max-pool 2, FC 1024, SLAF k=5, dropout 0.5, FC 10 (1,636,538 params)
:func:`mnist_relu_cnn`   its ReLU baseline: conv 5x5x32, conv 5x5x64, FC 1024 (3,274,634)
:func:`cifar_resnet`     ResNet v1 for CIFAR-10 (depth 20 or the paper's 32), optionally with a
                         SLAF as the first activation (the paper's hybrid)
:func:`fashion_slnn`     Fashion-MNIST SLNN (SLAF k=2 everywhere) and, ``hybrid=True``, the
                         hybrid with BN + ReLU in the two FC 512 layers
:func:`fashion_resnet`   the Fashion-MNIST BN + ReLU ResNet baseline and, ``slaf_head=True``,
                         its second hybrid (the last FC 512's BN + ReLU -> one shared SLAF k=2)
=======================  =====================================================================

Inputs are ``(N, C, H, W)``: ``(N, 1, 28, 28)`` for MNIST and Fashion-MNIST, ``(N, 3, 32, 32)``
for CIFAR-10; outputs are the class logits ``(N, classes)`` (the loss applies the softmax).
Each builder takes ``rng`` (the source of every initial weight: the same seed gives the same
network) and ``dtype``, and width / size knobs whose defaults are the paper's, so tests can build
tiny variants of the same layouts. SLAF layers use the layer's defaults (``init="paper"``,
``normalize=True``), as docs/paper.md section 3 describes; convolutions are He-normal; Dense layers
are He-normal before a ReLU and Glorot-uniform before a SLAF (as the Boston experiment's SLNN).
Building imports NumPy and the layers only: nothing is compiled until a forward pass.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .nn import (
    SLAF,
    AvgPool2D,
    BatchNorm,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GlobalAvgPool2D,
    MaxPool2D,
    Module,
    ReLU,
    Residual,
    Sequential,
    basic_block,
)
from .nn.base import as_rng, check_positive_int

__all__ = ["mnist_slnn", "mnist_relu_cnn", "cifar_resnet", "fashion_slnn", "fashion_resnet"]


def _flat_size(trunk: Sequential, input_shape: tuple) -> int:
    """Features per sample after ``trunk`` (its own shape arithmetic, not a formula of ours)."""
    return int(np.prod(trunk.output_shape((1, *input_shape))[1:]))


def _mnist_cnn(act: Callable[[int, int], Module], widths, degrees, image: int, classes: int,
               dropout: float, dense_init: str, rng, dtype, where: str) -> Sequential:
    """conv 5x5 'same' - act - maxpool 2, twice; flatten; FC - act - dropout - FC."""
    c1, c2, fc = (check_positive_int(w, "widths", where) for w in widths)
    k1, k2, k3 = degrees
    image = check_positive_int(image, "image", where)
    trunk = Sequential(Conv2D(1, c1, 5, padding="same", input_gradient=False, rng=rng,
                              dtype=dtype), act(c1, k1),
                       MaxPool2D(2, padding="same"),
                       Conv2D(c1, c2, 5, padding="same", rng=rng, dtype=dtype), act(c2, k2),
                       MaxPool2D(2, padding="same"), Flatten())
    flat = _flat_size(trunk, (1, image, image))
    return Sequential(*trunk, Dense(flat, fc, rng=rng, init=dense_init, dtype=dtype), act(fc, k3),
                      Dropout(dropout, rng=rng),
                      Dense(fc, check_positive_int(classes, "classes", where), rng=rng,
                            init=dense_init, dtype=dtype))


def mnist_slnn(rng=None, dtype=np.float32, widths: tuple[int, int, int] = (16, 32, 1024),
               degrees: tuple[int, int, int] = (4, 4, 5), image: int = 28, classes: int = 10,
               dropout: float = 0.5) -> Sequential:
    """The paper's MNIST SLNN (docs/paper.md section 4): 1,636,538 parameters at the defaults.

    ::

        conv 5x5x16 'same' - SLAF(16, 4) - maxpool 2 - conv 5x5x32 'same' - SLAF(32, 4) - maxpool 2
        - Flatten - Dense(1568, 1024) - SLAF(1024, 5) - Dropout(0.5) - Dense(1024, 10)

    The convolutional SLAFs have one coefficient row per channel, the FC SLAF one per neuron.

    Parameters
    ----------
    rng : numpy.random.Generator, int or None
        Source of every initial weight and of the dropout masks.
    dtype : float32 or float64
    widths : (int, int, int)
        Channels of the two convolutions and units of the hidden FC layer.
    degrees : (int, int, int)
        The three SLAFs' ``k``.
    image : int
        Input side (28 for MNIST); the max-pools use ``"same"`` padding, so odd sides round up,
        as :data:`slaf_np.experiments.polyfeatures.MNIST_CNN` counts them.
    classes : int
    dropout : float
        The dropout probability before the last layer.

    Returns
    -------
    Sequential
        ``(N, 1, image, image) -> (N, classes)`` logits. The two Dense layers are Glorot-uniform.
    """
    rng = as_rng(rng)

    def act(c, k):
        return SLAF(c, k, rng=rng, dtype=dtype)

    return _mnist_cnn(act, widths, degrees, image, classes, dropout, "glorot", rng, dtype,
                      "mnist_slnn")


def mnist_relu_cnn(rng=None, dtype=np.float32, widths: tuple[int, int, int] = (32, 64, 1024),
                   image: int = 28, classes: int = 10, dropout: float = 0.5) -> Sequential:
    """The paper's MNIST ReLU baseline (docs/paper.md section 4): 3,274,634 parameters.

    ::

        conv 5x5x32 'same' - ReLU - maxpool 2 - conv 5x5x64 'same' - ReLU - maxpool 2
        - Flatten - Dense(3136, 1024) - ReLU - Dropout(0.5) - Dense(1024, 10)

    Parameters are as :func:`mnist_slnn`'s (no degrees); the Dense layers are He-normal.
    """
    rng = as_rng(rng)
    return _mnist_cnn(lambda c, k: ReLU(), widths, (None,) * 3, image, classes, dropout, "he",
                      rng, dtype, "mnist_relu_cnn")


def cifar_resnet(depth: int = 20, first_activation: Callable[[int], Module] | None = None,
                 width: int = 16, classes: int = 10, in_channels: int = 3, rng=None,
                 dtype=np.float32) -> Sequential:
    """ResNet v1 for CIFAR-10 (He et al. 2016, section 4.2) with option-B shortcuts.

    ::

        conv 3x3xw (no bias) - BN - act0 - n blocks of w - n blocks of 2w (the first with stride 2)
        - n blocks of 4w (the first with stride 2) - GlobalAvgPool2D - Dense(4w, classes)

    with ``n = (depth - 2) / 6`` :func:`slaf_np.nn.basic_block` s (ReLU inside and after each);
    depth 20 has 272,474 parameters (BN included; the 0.27M usually quoted), the paper's depth 32
    466,906. The block that changes the width has a 1x1 convolution + BN shortcut (option B,
    :func:`slaf_np.nn.basic_block`), where He et al.'s CIFAR nets pad with zeros (option A).

    Parameters
    ----------
    depth : int
        ``6 n + 2``: 20, 32, 44, 56, 110.
    first_activation : callable, optional
        ``first_activation(w)`` makes ``act0``, the activation after the first convolution, e.g.
        ``lambda c: SLAF(c, 2)`` for the paper's hybrid (one SLAF k=2 per channel, 48 extra
        parameters at w=16); ``None`` gives ReLU. Every other activation stays a ReLU.
    width : int
        Base filters (16 in the paper).
    classes, in_channels : int
    rng : numpy.random.Generator, int or None
    dtype : float32 or float64

    Returns
    -------
    Sequential
        ``(N, in_channels, H, W) -> (N, classes)`` logits.
    """
    depth = check_positive_int(depth, "depth", "cifar_resnet")
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"cifar_resnet: depth must be 6 n + 2 with n >= 1 (20, 32, 44, 56, "
                         f"110), got {depth}")
    width = check_positive_int(width, "width", "cifar_resnet")
    rng = as_rng(rng)
    n = (depth - 2) // 6
    act0 = first_activation(width) if first_activation is not None else ReLU()
    layers: list[Module] = [
        Conv2D(check_positive_int(in_channels, "in_channels", "cifar_resnet"), width, 3,
               padding=1, bias=False, input_gradient=False, rng=rng, dtype=dtype),
        BatchNorm(width, dtype=dtype), act0]
    c_in = width
    for stage in range(3):
        c_out = width * 2 ** stage
        for i in range(n):
            stride = 2 if stage > 0 and i == 0 else 1
            layers.append(basic_block(c_in, c_out, stride, rng=rng, dtype=dtype))
            c_in = c_out
    layers += [GlobalAvgPool2D(),
               Dense(c_in, check_positive_int(classes, "classes", "cifar_resnet"), rng=rng,
                     dtype=dtype)]
    return Sequential(*layers)


def _conv3(c_in: int, c_out: int, rng, dtype, bias: bool = True, first: bool = False) -> Conv2D:
    """A 3x3 'same' convolution; ``first``: the network's first layer, which computes no input
    gradient."""
    return Conv2D(c_in, c_out, 3, padding="same", bias=bias, input_gradient=not first, rng=rng,
                  dtype=dtype)


def fashion_slnn(hybrid: bool = False, widths: tuple[int, int, int] = (32, 64, 128),
                 fc: int = 512, degree: int = 2, image: int = 28, classes: int = 10, rng=None,
                 dtype=np.float32) -> Sequential:
    """The paper's Fashion-MNIST SLNN, or (``hybrid=True``) its hybrid (docs/paper.md section 4).

    ::

        c32 S c32 S avgpool - c64 S [c64 S + skip] avgpool - c128 S [c128 S + skip] avgpool
        - Flatten - FC 512 S - FC 512 S - FC 10

    ``cW`` is a 3x3 'same' convolution with bias, ``S`` a ``SLAF(., degree)`` (per channel after a
    convolution, per neuron after an FC layer), ``avgpool`` a 2x2 average pool with stride 2.
    The hybrid replaces each FC ``S`` by BN + ReLU (``FC 512 - BN - ReLU``).

    Decisions where the paper's text leaves a detail open:

    * "with a skip from the first c64": the skip adds the first c64 S's output to the second
      c64 S's output, ``x1 + S(c64(x1))`` (a :class:`slaf_np.nn.Residual` with an identity
      shortcut around ``c64 S``); the same for c128. Sums and average pools keep the network a
      polynomial, of degree ``degree ** 8`` along its longest path (256 for k=2).
    * The third average pool acts on a 7x7 map; it uses ``padding="same"`` (TensorFlow's SAME,
      padded cells not counted), so 7 -> 4 and no row is dropped: the flattened size is
      128 x 4 x 4 = 2048.
    * Dense layers are Glorot-uniform before a SLAF and He-normal before BN + ReLU (the last one
      Glorot-uniform). The convolution L2 and the SLAF L1 of the paper belong to training (see
      :mod:`slaf_np.train.penalties`), not to the network.

    A fresh network's SLAF running statistics are (0, 1), so its evaluation-mode output overflows
    float32 (a degree-256 polynomial of unnormalised terms): train it, or call
    :func:`slaf_np.recalibrate` on some inputs, before evaluating.

    Parameters
    ----------
    hybrid : bool
        BN + ReLU in the two FC layers instead of SLAFs.
    widths : (int, int, int)
        Channels of the three stages.
    fc : int
        Units of the two hidden FC layers.
    degree : int
        Every SLAF's ``k``.
    image, classes : int
        Input side and number of classes.
    rng : numpy.random.Generator, int or None
    dtype : float32 or float64

    Returns
    -------
    Sequential
        ``(N, 1, image, image) -> (N, classes)`` logits.
    """
    rng = as_rng(rng)
    w1, w2, w3 = (check_positive_int(w, "widths", "fashion_slnn") for w in widths)
    k = check_positive_int(degree, "degree", "fashion_slnn")

    def s(c):
        return SLAF(c, k, rng=rng, dtype=dtype)

    def pool():
        return AvgPool2D(2, padding="same")

    trunk = Sequential(
        _conv3(1, w1, rng, dtype, first=True), s(w1), _conv3(w1, w1, rng, dtype), s(w1), pool(),
        _conv3(w1, w2, rng, dtype), s(w2), Residual(_conv3(w2, w2, rng, dtype), s(w2)), pool(),
        _conv3(w2, w3, rng, dtype), s(w3), Residual(_conv3(w3, w3, rng, dtype), s(w3)), pool(),
        Flatten())
    flat = _flat_size(trunk, (1, check_positive_int(image, "image", "fashion_slnn"), image))
    fc = check_positive_int(fc, "fc", "fashion_slnn")
    if hybrid:
        head = [Dense(flat, fc, rng=rng, dtype=dtype), BatchNorm(fc, dtype=dtype), ReLU(),
                Dense(fc, fc, rng=rng, dtype=dtype), BatchNorm(fc, dtype=dtype), ReLU()]
    else:
        head = [Dense(flat, fc, rng=rng, init="glorot", dtype=dtype), s(fc),
                Dense(fc, fc, rng=rng, init="glorot", dtype=dtype), s(fc)]
    return Sequential(*trunk, *head, Dense(fc, check_positive_int(classes, "classes",
                                                                  "fashion_slnn"),
                                           rng=rng, init="glorot", dtype=dtype))


def fashion_resnet(slaf_head: bool = False, widths: tuple[int, int, int] = (32, 64, 128),
                   fc: int = 512, image: int = 28, classes: int = 10, rng=None,
                   dtype=np.float32) -> Sequential:
    """The paper's Fashion-MNIST BN + ReLU ResNet baseline (docs/paper.md section 4).

    ::

        conv 3x3x32 - BN - ReLU - conv 1x1x32 - BN - avgpool - block 64 - avgpool - block 128
        - avgpool - Flatten - FC 512 - BN - ReLU - FC 512 - BN - ReLU - FC 10

    ``block C`` is :func:`slaf_np.nn.basic_block` (stride 1; its shortcut is a 1x1 convolution +
    BN, since the channels change), ``avgpool`` a 2x2 average pool with stride 2.

    Decisions where the paper's text leaves a detail open:

    * The 1x1 convolution is a layer of the stem, after the first convolution's BN + ReLU and
      followed by a BN without an activation (the text's "1x1 c32 (BN)", in its order).
    * The third average pool uses ``padding="same"`` as in :func:`fashion_slnn` (7 -> 4).
    * The stem's convolutions keep their bias although a BN follows (the text does not say;
      a bias before BN is redundant but harmless).

    Parameters
    ----------
    slaf_head : bool
        The paper's second hybrid: the last FC 512's BN + ReLU become one shared ``SLAF(fc, 2,
        shared=True)`` (3 parameters).
    widths : (int, int, int)
        Channels of the stem and the two blocks.
    fc, image, classes : int
    rng : numpy.random.Generator, int or None
    dtype : float32 or float64

    Returns
    -------
    Sequential
        ``(N, 1, image, image) -> (N, classes)`` logits.
    """
    rng = as_rng(rng)
    w1, w2, w3 = (check_positive_int(w, "widths", "fashion_resnet") for w in widths)

    def pool():
        return AvgPool2D(2, padding="same")

    trunk = Sequential(
        _conv3(1, w1, rng, dtype, first=True), BatchNorm(w1, dtype=dtype), ReLU(),
        Conv2D(w1, w1, 1, rng=rng, dtype=dtype), BatchNorm(w1, dtype=dtype), pool(),
        basic_block(w1, w2, rng=rng, dtype=dtype), pool(),
        basic_block(w2, w3, rng=rng, dtype=dtype), pool(), Flatten())
    flat = _flat_size(trunk, (1, check_positive_int(image, "image", "fashion_resnet"), image))
    fc = check_positive_int(fc, "fc", "fashion_resnet")
    last = ([SLAF(fc, 2, shared=True, rng=rng, dtype=dtype)] if slaf_head
            else [BatchNorm(fc, dtype=dtype), ReLU()])
    return Sequential(*trunk, Dense(flat, fc, rng=rng, dtype=dtype), BatchNorm(fc, dtype=dtype),
                      ReLU(), Dense(fc, fc, rng=rng, dtype=dtype), *last,
                      Dense(fc, check_positive_int(classes, "classes", "fashion_resnet"),
                            rng=rng, init="glorot", dtype=dtype))
