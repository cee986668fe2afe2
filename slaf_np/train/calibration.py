r"""Recalibration: replace every running statistic of a model by its exact value over a data set.

Why. In training, a running statistic is an exponential average (``decay = 0.99``, a memory of about
100 steps) of batch statistics computed under weights that kept changing. SLAF standardises the
powers :math:`z^i` of its input, and powers amplify drift: if the scale of ``z`` grows by 1 % over
those 100 steps, the variance of :math:`z^4` grows by about 8 %. So the running statistics of high
powers lag behind the weights, and the evaluation-mode network (which uses them) is not quite the
network that was trained. :func:`recalibrate` fixes the weights and re-estimates every statistic
from data, which removes the lag (and the noise of the last batches) entirely.

What it sets: every layer with running statistics, i.e. with a ``calibrate(batches)`` method (the
calibration hook of :mod:`slaf_np.nn.base`): :class:`~slaf_np.nn.slaf.SLAF` (``running_mean`` /
``running_var`` of its terms, when ``normalize=True``), :class:`~slaf_np.nn.scaling.MaxScale`
(``running_max``: the expected max of ``|z|`` over a random batch of the training batch size,
computed exactly from order statistics, since that, not the max over all the data, is what the
layer divided by in training) and :class:`~slaf_np.nn.norm.BatchNorm` (``running_mean`` /
``running_var``). Variances are the biased ones, as in training. Afterwards a single layer's
evaluation-mode output on ``X`` equals its training-mode output on ``X`` taken as one batch
(for MaxScale: when it was trained on batches of at least ``len(X)`` rows, or not at all).

Algorithm (exact, one pass of ``X`` per layer). The statistic layers are visited in forward order
(depth first through ``.layers``: :class:`Sequential`, and :class:`Residual` whose body is
``.layers[0]``). For each, :meth:`Sequential.input_of` runs the evaluation-mode prefix of the model
before the layer on ``X`` in batches, and the layer's ``calibrate`` accumulates exact statistics
over those inputs (max exactly; means and variances by each batch's float64 moments merged with
:class:`slaf_np.nn.base.Moments`). Earlier layers are recalibrated before later ones are
measured, so every layer sees the input the final evaluation-mode network gives it. The cost is
one prefix pass over ``X`` per layer: for a model with L statistic layers about L^2 / 2
layer-passes over ``X``; no activations are stored.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ..nn.base import Module, check_positive_int
from .evaluation import _prepare

__all__ = ["recalibrate", "statistic_layers", "layer_inputs"]


def statistic_layers(model: Module) -> list[Module]:
    """The layers of ``model`` with running statistics (a ``calibrate`` method: SLAF, MaxScale,
    BatchNorm), in forward order (depth first through ``.layers``)."""
    leaves = model.modules() if hasattr(model, "modules") else [model]
    out: list[Module] = []
    for m in leaves:
        if hasattr(m, "calibrate") and all(m is not seen for seen in out):
            out.append(m)
    return out


def layer_inputs(model: Module, layer: Module, X: np.ndarray,
                 batch_size: int = 1024) -> Iterator[np.ndarray]:
    """Yield, batch by batch, the input ``layer`` receives in the evaluation-mode forward of
    ``model`` on ``X``. Only the part of the model before ``layer`` is run."""
    for start in range(0, len(X), batch_size):
        batch = X[start:start + batch_size]
        yield batch if model is layer else model.input_of(layer, batch)


def recalibrate(model: Module, X: np.ndarray, batch_size: int = 1024) -> Module:
    """Set every running statistic of ``model`` to its exact value over ``X``, layer by layer.

    Parameters
    ----------
    model : Module
        A layer or a container (``Sequential``, ``Residual``, nested) holding SLAF, MaxScale and
        BatchNorm layers. Parameters are not changed.
    X : ndarray (N, ...)
        Inputs (typically the training set); cast to the model's dtype like
        :func:`~slaf_np.train.predict` does, and checked finite.
    batch_size : int
        Rows per forward; the result does not depend on it (up to rounding).

    Returns
    -------
    model
        The same object, recalibrated in place.
    """
    batch_size = check_positive_int(batch_size, "batch_size", "recalibrate")
    X, _ = _prepare(model, X, where="recalibrate")
    if len(X) == 0:
        raise ValueError("recalibrate: X is empty")
    layers = statistic_layers(model)
    if len(X) == 1 and layers:  # as in training: one row would give every variance 0
        raise ValueError("recalibrate: X has 1 row; the statistics need at least 2 (pass the "
                         "training set, or a sample of it)")
    for layer in layers:
        layer.calibrate(layer_inputs(model, layer, X, batch_size))
    return model
