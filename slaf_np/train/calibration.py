r"""Recalibration: replace every running statistic of a model by its exact value over a data set.

Why. In training, a running statistic is an exponential average (``decay = 0.99``, a memory of about
100 steps) of batch statistics computed under weights that kept changing. SLAF standardises the
powers :math:`z^i` of its input, and powers amplify drift: if the scale of ``z`` grows by 1 % over
those 100 steps, the variance of :math:`z^4` grows by about 8 %. So the running statistics of high
powers lag behind the weights, and the evaluation-mode network (which uses them) is not quite the
network that was trained. :func:`recalibrate` fixes the weights and re-estimates every statistic
from data, which removes the lag (and the noise of the last batches) entirely.

What it sets. For each :class:`~slaf_np.nn.slaf.SLAF`: ``running_max`` (``scaling="max"``:
the max of ``|z|`` over all the data, i.e. the batch max of the data taken as one batch),
``bn_running_mean`` / ``bn_running_var`` (``scaling="batchnorm"``), then ``running_mean`` /
``running_var`` of the terms of the scaled input (``normalize=True``), and ``input_min`` /
``input_max`` (the range of ``z`` over the data, used by the plots). For each
:class:`~slaf_np.nn.norm.BatchNorm`: ``running_mean`` / ``running_var``. Variances are the
biased ones, as in training. Afterwards a single layer's evaluation-mode output on ``X`` equals its
training-mode output on ``X`` taken as one batch.

Algorithm (exact, one pass of ``X`` per stage). The statistic-holding layers are visited in forward
order (depth first through ``.layers``: :class:`Sequential`, and :class:`Residual` whose body is
``.layers[0]``). For each layer and each of its stages (SLAF with ``max`` or ``batchnorm`` scaling
has two: the scaling statistics, then the term statistics that depend on them), the
evaluation-mode forward of the whole model runs on ``X`` in batches, the layer's input is
intercepted (the forward of that batch stops there, so only the prefix of the model is computed),
and exact per-batch statistics are accumulated: max and min exactly, means and variances by each
batch's two-pass float64 moments merged with Chan, Golub and LeVeque's pairwise update::

    delta = mean_b - mean_a,   n = n_a + n_b
    mean  = mean_a + delta n_b / n
    M2    = M2_a + M2_b + delta^2 n_a n_b / n          (M2 = n * variance)

Earlier layers are recalibrated before later ones are measured, so every layer sees the input the
final evaluation-mode network gives it. The cost is one prefix pass over ``X`` per stage: for a
model with L statistic layers about L^2 / 2 layer-passes over ``X``; no activations are stored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from ..kernels import slaf as kernels
from ..nn.base import Module, check_input
from ..nn.norm import BatchNorm
from ..nn.slaf import SLAF

__all__ = ["recalibrate", "statistic_layers", "layer_inputs"]


class _Captured(Exception):
    """Raised by an intercepted forward once the layer's input has been recorded."""


class _Moments:
    """Per-feature count, mean and M2 (= count * biased variance), merged batch by batch."""

    def __init__(self) -> None:
        self.n = 0
        self.mean: np.ndarray | None = None
        self.m2: np.ndarray | None = None

    def add(self, n: int, mean: np.ndarray, var: np.ndarray) -> None:
        if n == 0:
            return
        mean, var = np.asarray(mean, np.float64), np.asarray(var, np.float64)
        if self.mean is None:
            self.n, self.mean, self.m2 = n, mean.copy(), var * n
            return
        total = self.n + n
        delta = mean - self.mean
        self.mean = self.mean + delta * (n / total)
        self.m2 = self.m2 + var * n + delta * delta * (self.n * n / total)
        self.n = total

    @property
    def var(self) -> np.ndarray:
        return self.m2 / self.n


def statistic_layers(model: Module) -> list[Module]:
    """The SLAF and BatchNorm layers of ``model`` in forward order (depth first through
    ``.layers``)."""
    out: list[Module] = []
    seen: set[int] = set()

    def walk(m) -> None:
        if isinstance(m, (SLAF, BatchNorm)) and id(m) not in seen:
            seen.add(id(m))
            out.append(m)
        for child in getattr(m, "layers", ()) or ():
            walk(child)

    walk(model)
    return out


def layer_inputs(model: Module, layer: Module, X: np.ndarray,
                 batch_size: int = 1024) -> Iterator[np.ndarray]:
    """Yield, batch by batch, the input ``layer`` receives in the evaluation-mode forward of
    ``model`` on ``X``. Only the part of the model before ``layer`` is run."""
    seen: list[np.ndarray] = []

    def intercept(x, training=False):
        features = getattr(layer, "num_features", None)
        seen.append(check_input(layer, x, ndim=(2, 4) if features else None, features=features))
        raise _Captured

    layer.forward = intercept                        # an instance attribute shadows the method
    try:
        for start in range(0, len(X), batch_size):
            seen.clear()
            try:
                model.forward(X[start:start + batch_size], training=False)
            except _Captured:
                pass
            if not seen:
                raise ValueError(f"recalibrate: {layer!r} is not reached by the forward of "
                                 f"the model")
            yield seen[0]
    finally:
        del layer.forward


def _axes(x: np.ndarray) -> tuple[int, ...]:
    return (0,) if x.ndim == 2 else (0, 2, 3)


def _moments_of(x: np.ndarray, axes) -> tuple[int, np.ndarray, np.ndarray]:
    x = np.asarray(x, np.float64)
    n = int(np.prod([x.shape[a] for a in axes]))
    return n, x.mean(axis=axes), x.var(axis=axes)


def _run(model, layer, X, batch_size, accumulate: Callable[[np.ndarray], None]) -> None:
    inputs = layer_inputs(model, layer, X, batch_size)
    try:
        for x in inputs:
            accumulate(x)
    finally:
        inputs.close()                              # restores layer.forward even on an error


def _set(buffers: dict, key: str, value: np.ndarray) -> None:
    buffers[key][...] = np.asarray(value).astype(buffers[key].dtype)


def _recalibrate_batchnorm(model, layer: BatchNorm, X, batch_size) -> None:
    mom = _Moments()
    _run(model, layer, X, batch_size, lambda x: mom.add(*_moments_of(x, _axes(x))))
    _set(layer.buffers, "running_mean", mom.mean)
    _set(layer.buffers, "running_var", mom.var)


def _recalibrate_slaf(model, layer: SLAF, X, batch_size) -> None:
    D = layer.num_features
    lo, hi, zmax = np.full(D, np.inf), np.full(D, -np.inf), np.zeros(D)
    zmom = _Moments()

    def first(x):                                   # the range, and the scaling statistics
        z3 = layer.to3d(x)
        np.minimum(lo, z3.min(axis=(0, 2)), out=lo)
        np.maximum(hi, z3.max(axis=(0, 2)), out=hi)
        if layer.scaling == "max":
            np.maximum(zmax, np.abs(z3).max(axis=(0, 2)), out=zmax)
        elif layer.scaling == "batchnorm":
            zmom.add(*_moments_of(z3, (0, 2)))

    _run(model, layer, X, batch_size, first)
    buf = layer.buffers
    _set(buf, "input_min", lo)
    _set(buf, "input_max", hi)
    if layer.scaling == "max":
        _set(buf, "running_max", zmax)
    elif layer.scaling == "batchnorm":
        _set(buf, "bn_running_mean", zmom.mean)
        _set(buf, "bn_running_var", zmom.var)
    if not layer.normalize:
        return
    kern = kernels.get_backend(layer.backend, layer.code)
    code = layer.code if layer.code >= 0 else layer.basis
    tmom = _Moments()

    def second(x):                                  # the term statistics of the scaled input
        xh, _ = layer._scale(layer.to3d(x), training=False, record=False)
        mean, var = kern.term_stats(np.ascontiguousarray(xh), code, layer.degree)
        tmom.add(xh.shape[0] * xh.shape[2], mean, var)

    _run(model, layer, X, batch_size, second)
    _set(buf, "running_mean", tmom.mean)
    _set(buf, "running_var", tmom.var)


def recalibrate(model: Module, X: np.ndarray, batch_size: int = 1024) -> Module:
    """Set every running statistic of ``model`` to its exact value over ``X``, layer by layer.

    Parameters
    ----------
    model : Module
        A layer or a container (``Sequential``, ``Residual``, nested) holding SLAF and BatchNorm
        layers. Parameters are not changed.
    X : ndarray (N, ...)
        Inputs, in the model's dtype (typically the training set).
    batch_size : int
        Rows per forward; the result does not depend on it (up to rounding).

    Returns
    -------
    model
        The same object, recalibrated in place.
    """
    if batch_size < 1:
        raise ValueError(f"recalibrate: batch_size must be >= 1, got {batch_size}")
    if len(X) == 0:
        raise ValueError("recalibrate: X is empty")
    for layer in statistic_layers(model):
        if isinstance(layer, SLAF):
            _recalibrate_slaf(model, layer, X, batch_size)
        else:
            _recalibrate_batchnorm(model, layer, X, batch_size)
    return model
