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

__all__ = ["plot_activations", "slaf_input_histograms", "slaf_input_ranges", "slaf_layers"]

FALLBACK_RANGE = (-3.0, 3.0)
HIST_BINS = 40
"""Bins of the histogram of a layer's inputs drawn under its activation."""


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


def slaf_input_histograms(model: Module, X: np.ndarray, bins: int = HIST_BINS,
                          batch_size: int = 1024) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Histogram of all the input values (every feature pooled) of each SLAF layer in the
    evaluation-mode forward of ``model`` on ``X``, keyed by ``id(layer)``.

    Two prefix passes per layer (:func:`slaf_input_ranges`, then the counts in fixed bins over
    that range), so no layer's inputs are ever held whole. No buffer is changed.

    Parameters
    ----------
    model : Module
    X : ndarray (N, ...)
        Cast to the model's dtype.
    bins : int >= 1
        Equal-width bins spanning the layer's smallest to largest input (a range narrower than
        1e-12 is widened by 1 on each side).
    batch_size : int

    Returns
    -------
    dict of id(layer) -> (counts (bins,) int64, edges (bins + 1,) float64)
        ``counts.sum()`` is the number of input values (N * D, or N * C * H * W); a layer with
        no input (empty ``X``) is left out.
    """
    X, _ = _prepare(model, X, where="slaf_input_histograms")
    return _input_histograms(model, X, slaf_input_ranges(model, X, batch_size), bins, batch_size)


def _span(lo: np.ndarray, hi: np.ndarray) -> tuple[float, float]:
    """The whole range of a layer's per-feature (lo, hi), widened when it is a point."""
    a, b = float(np.min(lo)), float(np.max(hi))
    return (a - 1.0, b + 1.0) if b - a < 1e-12 else (a, b)


def _input_histograms(model: Module, X: np.ndarray, ranges: dict, bins: int,
                      batch_size: int) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """:func:`slaf_input_histograms` given ``X`` already cast and the ranges' pass done."""
    if int(bins) < 1:
        raise ValueError(f"slaf_input_histograms: bins must be >= 1, got {bins}")
    hists: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for i, layer in enumerate(slaf_layers(model)):
        lo, hi = ranges[id(layer)]
        if not np.all(lo <= hi):                                     # no input values
            continue
        a, b = _span(lo, hi)
        if not (np.isfinite(a) and np.isfinite(b)):
            raise ValueError(f"slaf_input_histograms: SLAF layer {i} ({layer!r}) receives "
                             f"non-finite inputs on X (range [{a}, {b}]): an earlier layer "
                             f"overflows; see its warning, or use float64 / a scaling layer")
        edges = np.linspace(a, b, int(bins) + 1)                    # edges[0] = a, [-1] = b
        counts = np.zeros(int(bins), np.int64)
        for x in layer_inputs(model, layer, X, batch_size):
            counts += np.histogram(x, edges)[0]
        hists[id(layer)] = (counts, edges)
    return hists


def plot_activations(model: Module, X: np.ndarray | None = None,
                     path: str | os.PathLike | None = None, n_points: int = 200,
                     bins: int = HIST_BINS, max_curves: int = 64):
    """One panel per SLAF layer: its learned activations in evaluation mode, drawn over the
    inputs the layer saw, with the distribution of those inputs beneath (as
    rational_activations' ``show()`` draws it).

    What each panel holds:

    * thin blue lines: the activation of each feature/channel, each over its own input range
      (at most ``max_curves`` of them, evenly spaced over the features, said in the title);
    * bold red line: the mean over all features, drawn over the inputs every feature saw (the
      common range: with features entering and leaving the mean at the edges of their own
      ranges, a mean over "the features that saw z" jumped there, as a shape no activation
      has); absent when the ranges have no common part (said in the legend), as for a fully
      connected layer whose features see inputs of different signs;
    * light grey bars (with ``X``), on a twin y-axis on the right: the histogram of every input
      value the layer received on ``X`` (all features pooled, ``bins`` equal bins over the
      layer's range), counted batch by batch by :func:`slaf_input_histograms`, so the inputs
      are never held whole. It shows where the curve is supported by data and where it is
      extrapolated.

    Parameters
    ----------
    model : Module
        A SLAF layer or a container holding some.
    X : ndarray, optional
        Inputs: the evaluation-mode forward on ``X`` gives each SLAF's input range and histogram
        (a layer records neither itself); cast to the model's dtype. No buffer is changed.
        Without ``X`` every panel spans [-3, 3] (said in its title) and has no histogram.
    path : path, optional
        Write the figure there as PNG (atomically: a temporary file, then a rename).
    n_points : int
        Grid points per panel.
    bins : int
        Bins of each histogram.
    max_curves : int
        The most features drawn per panel (a layer of 1024 features is a solid band).

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    The activation is drawn against the SLAF's own input: after a scaling layer (MaxScale,
    SampleMaxScale, Affine) that is the scaled value. With ``X`` the layers' inputs are
    computed twice (range, then histogram): two evaluation-mode prefix passes per layer.
    """
    from matplotlib.figure import Figure

    if int(n_points) < 2:
        raise ValueError(f"plot_activations: n_points must be >= 2, got {n_points}")
    if int(bins) < 1:
        raise ValueError(f"plot_activations: bins must be >= 1, got {bins}")
    if int(max_curves) < 1:
        raise ValueError(f"plot_activations: max_curves must be >= 1, got {max_curves}")
    layers = slaf_layers(model)
    if not layers:
        raise ValueError(f"plot_activations: the model has no SLAF layer ({type(model).__name__})")
    seen: dict = {}
    hists: dict = {}
    if X is not None:
        X, _ = _prepare(model, X, where="plot_activations")
        seen = slaf_input_ranges(model, X)
        hists = _input_histograms(model, X, seen, bins, 1024)

    ncols = min(3, len(layers))
    nrows = -(-len(layers) // ncols)
    fig = Figure(figsize=(4.6 * ncols, 3.4 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for i, layer in enumerate(layers):
        ax = axes[i // ncols][i % ncols]
        note = ""
        if id(layer) in hists:
            lo, hi = (np.asarray(v, np.float64) for v in seen[id(layer)])
        else:
            lo = np.full(layer.num_features, FALLBACK_RANGE[0])
            hi = np.full(layer.num_features, FALLBACK_RANGE[1])
            note = " (no data: range [-3, 3])"
        a, b = _span(lo, hi)
        z = np.linspace(a, b, int(n_points))
        curves = layer.activation(z)                                            # (P, D)
        inside = (z[:, None] >= lo[None, :]) & (z[:, None] <= hi[None, :])      # (P, D)
        shown = np.where(inside, curves, np.nan)
        D = curves.shape[1]
        drawn = np.unique(np.linspace(0, D - 1, min(D, int(max_curves))).round().astype(int))
        for j, d in enumerate(drawn):
            ax.plot(z, shown[:, d], lw=0.6, alpha=0.35, color="C0",
                    label="each feature (over its range)" if j == 0 else None)
        # the mean where every feature saw inputs (docstring): NaN elsewhere
        common = inside.all(axis=1)
        mean = np.where(common, curves.mean(axis=1), np.nan)
        ax.plot(z, mean, lw=2.2, color="C3", label="mean over features (common range)"
                if common.any() else "mean over features: no common range")
        if len(drawn) < D:
            note += f"; {len(drawn)} of {D} features drawn"
        handles, labels = ax.get_legend_handles_labels()
        if id(layer) in hists:
            counts, edges = hists[id(layer)]
            hx = ax.twinx()                    # the histogram beneath, on its own count axis
            hx.bar(edges[:-1], counts, width=np.diff(edges), align="edge", color="0.85",
                   edgecolor="0.75", linewidth=0.3, label="inputs seen (X)")
            hx.set_ylabel("count of input values", fontsize=8)
            ax.set_zorder(hx.get_zorder() + 1)  # the curves over the bars
            ax.patch.set_visible(False)
            more = hx.get_legend_handles_labels()
            handles, labels = handles + more[0], labels + more[1]
        ax.set_title(f"{i}: {layer!r}{note}", fontsize=8)
        ax.set_xlabel("input of the layer")
        ax.set_ylabel("activation (layer output)")
        ax.grid(alpha=0.3)
        ax.legend(handles, labels, fontsize=7, loc="best")
    for j in range(len(layers), nrows * ncols):
        axes[j // ncols][j % ncols].set_visible(False)
    if path is not None:
        save_figure(fig, path)
    return fig
