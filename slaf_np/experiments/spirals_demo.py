"""The quick two-spirals demo (``slaf-np run spirals --quick``): the authors' GC routine trained as
their script ran it, the learned activations, and the trained network as its exact polynomial.

One seed of the GC setting of :mod:`slaf_np.experiments.spirals_authors` (inner half of the
authors' two spirals, 8,000 / 2,000 points, 2-10-10-1 with ``SLAF(10, 4, shared=True,
normalize=False, init="normal")``, Adam 1e-2 for epochs 0-5 then 1e-3, batch 10, clipping at 1,
the script's 15 epochs): about 3 s of training, within a minute on two cores with numba's first
compilation. Every number it prints is measured on this run: the
validation accuracy, and how far the network's exact polynomial (:func:`slaf_np.polynomial.expand`)
is from the network on the validation points. The figure (``spirals_demo.png``) shows the
decision regions with the validation points and each SLAF layer's learned activation over the
inputs it saw.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .spirals import PAPER
from .spirals_authors import SETTINGS, spiral_data, train_as_script


def demo(ctx) -> dict:
    """Train, expand, draw; return the record (validation accuracy, polynomial, figure name)."""
    from ..polynomial import expand
    from ..train import predict

    setting = SETTINGS["gc"]
    data = spiral_data(setting, ctx.rng())
    (Xtr, _), (Xva, yva) = data
    ctx.log(f"two spirals, the inner half as in the authors' GC script: {len(Xtr):,} train / "
            f"{len(Xva):,} validation points")
    ctx.log(f"GC SLNN 2-10-10-1, SLAF(10, 4, shared, raw powers); Adam 1e-2, from epoch 7 1e-3, "
            f"batch 10, clip 1.0; {setting.epochs} epochs as the script; seed {ctx.seed}")
    model, hist, acc, _ = train_as_script("gc", setting, data, ctx.seed, ctx.verbose)
    ctx.log(f"validation accuracy: {acc:.2f} % on {len(Xva):,} points (this run, one seed; "
            f"the paper's GC run: {PAPER['gc']} %)")

    poly = expand(model)
    net = predict(model, Xva.astype(model.dtype))[:, 0].astype(np.float64)
    diff = float(np.abs(poly(Xva.astype(model.dtype).astype(np.float64)) - net).max())
    scale = float(np.abs(net).max())
    ctx.log(f"the trained network is a polynomial in (x, y): degree {poly.degree}, "
            f"{poly.n_terms} terms; max |polynomial - network| on the validation points "
            f"{diff:.1e} (logits up to {scale:.1e}: {model.dtype.name} rounding)")

    path = ctx.path("_demo.png")
    _figure(model, data, acc, poly, path)
    ctx.log(f"figure: {path}")
    return {"setting": dataclasses.asdict(setting), "seed": ctx.seed, "data_seed": ctx.seed,
            "val_acc": acc,
            "n_train": len(Xtr), "n_val": len(Xva), "history": hist.to_dict(),
            "polynomial": {"degree": poly.degree, "n_terms": poly.n_terms,
                           "max_abs_diff_val": diff, "max_abs_logit_val": scale},
            "figure": path.name}


def _figure(model, data, acc: float, poly, path, n: int = 200) -> None:
    """Decision regions with the validation points, then one panel per SLAF layer."""
    from matplotlib.colors import ListedColormap
    from matplotlib.figure import Figure

    from ..plotting import slaf_input_ranges, slaf_layers
    from ..train import predict
    from ..utils import save_figure

    (Xtr, _), (Xva, yva) = data
    e = float(np.abs(Xva).max()) * 1.05
    g = np.linspace(-e, e, n)
    gx, gy = np.meshgrid(g, g)
    grid = np.column_stack([gx.ravel(), gy.ravel()]).astype(model.dtype)
    regions = (predict(model, grid).reshape(n, n) > 0).astype(np.uint8)
    layers = slaf_layers(model)
    ranges = slaf_input_ranges(model, Xtr.astype(model.dtype))

    fig = Figure(figsize=(4.0 * (1 + len(layers)), 4.0), layout="constrained")
    axes = fig.subplots(1, 1 + len(layers), squeeze=False)[0]
    ax = axes[0]
    ax.imshow(regions, origin="lower", extent=(-e, e, -e, e), vmin=0, vmax=1,
              cmap=ListedColormap(["#c6dbef", "#fdd0a2"]))
    for cls, color in ((0, "#08519c"), (1, "#a63603")):
        pts = Xva[yva == cls]
        ax.scatter(pts[:, 0], pts[:, 1], s=1.0, color=color, label=f"class {cls}")
    ax.legend(fontsize=7, loc="lower left", markerscale=4)
    ax.set_title(f"decision regions, validation {acc:.2f} %\n(network = polynomial of degree "
                 f"{poly.degree}, {poly.n_terms} terms)", fontsize=9)
    for i, layer in enumerate(layers, start=1):
        lo, hi = float(np.min(ranges[id(layer)][0])), float(np.max(ranges[id(layer)][1]))
        z = np.linspace(lo, hi, 200)
        axes[i].plot(z, layer.activation(z)[:, 0], color="C3")
        axes[i].set_title(f"SLAF {i} (shared, k = {layer.degree}): learned activation\n"
                          f"over the inputs it saw in training", fontsize=9)
        axes[i].set_xlabel("input of the layer")
        axes[i].grid(alpha=0.3)
    fig.suptitle("slaf-np run spirals --quick: the authors' GC routine on two spirals", fontsize=10)
    save_figure(fig, path)
