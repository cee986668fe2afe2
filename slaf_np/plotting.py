"""Plots of learned activations (matplotlib, Agg, without pyplot).

Figures are built as :class:`matplotlib.figure.Figure` objects and rendered by the Agg canvas, so
nothing here touches pyplot's global state (no backend switch, no open figure in the user's
session) and it runs headless.
"""

from __future__ import annotations

import os

import numpy as np

from .nn.base import Module
from .nn.slaf import SLAF
from .train.calibration import layer_inputs
from .train.evaluation import _prepare
from .utils import save_figure

__all__ = ["plot_activations", "slaf_input_ranges", "slaf_layers"]

FALLBACK_RANGE = (-3.0, 3.0)


def slaf_layers(model: Module) -> list[SLAF]:
    """The SLAF layers of ``model`` in forward order."""
    leaves = model.modules() if hasattr(model, "modules") else [model]
    return [m for m in leaves if isinstance(m, SLAF)]


def slaf_input_ranges(model: Module, X: np.ndarray,
                      batch_size: int = 1024) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Per-feature (min, max) of the input of every SLAF layer in the evaluation-mode forward of
    ``model`` on ``X``, keyed by ``id(layer)``. No buffer is changed. The inputs come from
    :func:`slaf_np.train.calibration.layer_inputs` (the same prefix passes as recalibration)."""
    X, _ = _prepare(model, X, where="slaf_input_ranges")  # cast to the model's dtype
    ranges: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for layer in slaf_layers(model):
        lo, hi = np.inf, -np.inf
        for x in layer_inputs(model, layer, X, batch_size):
            z = layer.to3d(x)
            lo = np.minimum(lo, z.min(axis=(0, 2), initial=np.inf))
            hi = np.maximum(hi, z.max(axis=(0, 2), initial=-np.inf))
        ranges[id(layer)] = (lo, hi)
    return ranges


def plot_activations(model: Module, X: np.ndarray | None = None,
                     path: str | os.PathLike | None = None, n_points: int = 200):
    """One panel per SLAF layer: the learned activation of every feature/channel (thin lines) and
    their mean (bold), in evaluation mode, over the range the layer's inputs took.

    Parameters
    ----------
    model : Module
        A SLAF layer or a container holding some.
    X : ndarray, optional
        Inputs: the evaluation-mode forward on ``X`` gives each SLAF's input range (a layer
        records no range itself); cast to the model's dtype. Without ``X`` every panel spans
        [-3, 3] (said in its title).
    path : path, optional
        Write the figure there as PNG (atomically: a temporary file, then a rename).
    n_points : int
        Grid points per panel.

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    Each thin line covers its own feature's range; the mean is taken over all features on the
    layer's whole range. The activation is drawn against the SLAF's own input: after a scaling
    layer (MaxScale, SampleMaxScale, Affine) that is the scaled value.
    """
    from matplotlib.figure import Figure

    if int(n_points) < 2:
        raise ValueError(f"plot_activations: n_points must be >= 2, got {n_points}")
    layers = slaf_layers(model)
    if not layers:
        raise ValueError(f"plot_activations: the model has no SLAF layer ({type(model).__name__})")
    seen = slaf_input_ranges(model, X) if X is not None else {}

    ncols = min(3, len(layers))
    nrows = -(-len(layers) // ncols)
    fig = Figure(figsize=(4.2 * ncols, 3.2 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for i, layer in enumerate(layers):
        ax = axes[i // ncols][i % ncols]
        note = ""
        if id(layer) in seen and np.all(seen[id(layer)][0] <= seen[id(layer)][1]):
            lo, hi = (np.asarray(v, np.float64) for v in seen[id(layer)])
        else:
            lo = np.full(layer.num_features, FALLBACK_RANGE[0])
            hi = np.full(layer.num_features, FALLBACK_RANGE[1])
            note = " (no data: range [-3, 3])"
        a, b = float(lo.min()), float(hi.max())
        if b - a < 1e-12:
            a, b = a - 1.0, b + 1.0
        z = np.linspace(a, b, int(n_points))
        curves = layer.activation(z)                                            # (P, D)
        inside = (z[:, None] >= lo[None, :]) & (z[:, None] <= hi[None, :])      # (P, D)
        shown = np.where(inside, curves, np.nan)
        for d in range(curves.shape[1]):
            ax.plot(z, shown[:, d], lw=0.6, alpha=0.35, color="C0")
        # the mean at z is over the features whose recorded range covers z (a feature's
        # polynomial far outside its range would swamp the axis)
        count = inside.sum(axis=1)
        mean = np.where(count > 0, np.nansum(shown, axis=1) / np.maximum(count, 1), np.nan)
        ax.plot(z, mean, lw=2.2, color="C3", label="mean over features (where in range)")
        ax.set_title(f"{i}: {layer!r}{note}", fontsize=8)
        ax.set_xlabel("input of the layer")
        ax.set_ylabel("activation")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    for j in range(len(layers), nrows * ncols):
        axes[j // ncols][j % ncols].set_visible(False)
    if path is not None:
        save_figure(fig, path)
    return fig
