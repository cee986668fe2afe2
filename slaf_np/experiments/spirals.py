"""Two spirals: the paper's SLNN training routines beside a ReLU network (PAPER.md section 4).

Goal
    Reproduce the toy table of the paper: validation accuracy on the authors' two-spirals data
    (two turns, 100k points per class, 80/20 split) of 2-10-10-1 networks trained for 15 epochs
    with Adam, batch 256, sigmoid cross-entropy. Paper: GC 100 %, EMFN 98.8 %, ReLU 77.2 %,
    BN-SLAF 73.5 %, MS 56.3 %.

Routines (PAPER.md section 3), each a 2-10-10-1 network whose two hidden activations are:

* ``relu``: ReLU (He initialisation).
* ``bn``: SLAF k = 4, power basis, per-power standardisation (the final SLAF of the paper).
* ``gc``: SLAF k = 4 on batch-normalised input (learned affine), raw powers, Adam with global-norm
  gradient clipping at 1 (the paper's value for two-spirals).
* ``ms``: SLAF k = 4 on max-scaled input ``z / (m M + n)``, raw powers.
* ``emfn``: SLAF with the bounded Fourier basis, 4 sines + 4 cosines, on per-sample max-scaled
  input.

Decisions (the authors' spiral learning rate and SLAF granularity are not known): Adam at the
Keras default rate 1e-3 for every routine, per-neuron (unshared) coefficients, Glorot-uniform
weights for SLAF networks. Validation accuracy is measured in evaluation mode after
:func:`slaf_np.recalibrate` re-estimates the running statistics over the training set (reported
beside the accuracy with the running statistics as trained, which can lag, see the README).
``--quick`` uses 2,000 points per class and 3 epochs.
"""

from __future__ import annotations

import numpy as np

from ..layers import Dense, ReLU, Sequential
from . import register

PAPER = {"gc": 100.0, "emfn": 98.8, "relu": 77.2, "bn": 73.5, "ms": 56.3}
ROUTINES = ("relu", "bn", "gc", "ms", "emfn")
WIDTH, DEGREE = 10, 4
EPOCHS, BATCH, LR = 15, 256, 1e-3
N_PER_CLASS = 100_000
CLIP_GC = 1.0


def build(routine: str, rng: np.random.Generator, width: int = WIDTH, degree: int = DEGREE):
    """The 2-width-width-1 network of one routine."""
    if routine == "relu":
        return Sequential(Dense(2, width, rng=rng), ReLU(), Dense(width, width, rng=rng), ReLU(),
                          Dense(width, 1, rng=rng))
    from ..layers.slaf import SLAF

    def act():
        if routine == "bn":
            return SLAF(width, degree, rng=rng)
        if routine == "gc":
            return SLAF(width, degree, normalize=False, scaling="batchnorm", rng=rng)
        if routine == "ms":
            return SLAF(width, degree, normalize=False, scaling="max", rng=rng)
        if routine == "emfn":
            return SLAF(width, 2 * degree, basis="fourier", normalize=False, shared=True, rng=rng)
        raise ValueError(f"unknown routine {routine!r}; known: {ROUTINES}")

    return Sequential(Dense(2, width, rng=rng, init="glorot"), act(),
                      Dense(width, width, rng=rng, init="glorot"), act(),
                      Dense(width, 1, rng=rng, init="glorot"))


def _train_one(routine, data, seed, epochs, ctx):
    from ..calibration import recalibrate
    from ..optim import Adam
    from ..train import evaluate, fit

    (Xtr, ytr), (Xva, yva) = data
    rng = np.random.default_rng(seed)
    model = build(routine, rng)
    opt = Adam(model, lr=LR, clip_norm=CLIP_GC if routine == "gc" else None)
    hist = fit(model, Xtr, ytr, "sigmoid_binary_cross_entropy", opt, epochs=epochs,
               batch_size=BATCH, validation=(Xva, yva), metric="accuracy", rng=rng,
               verbose=ctx.verbose)
    _, acc_running = evaluate(model, Xva, yva, "sigmoid_binary_cross_entropy", metric="accuracy")
    recalibrate(model, Xtr.astype(model.dtype))
    _, acc = evaluate(model, Xva, yva, "sigmoid_binary_cross_entropy", metric="accuracy")
    return model, hist, 100 * acc, 100 * acc_running


def _boundary_figure(models, data, path, extent):
    from matplotlib.figure import Figure

    from ..train import predict
    from ..utils import save_figure

    (_, _), (Xva, yva) = data
    g = np.linspace(-extent, extent, 250)
    gx, gy = np.meshgrid(g, g)
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    fig = Figure(figsize=(3.2 * len(models), 3.4))
    axes = fig.subplots(1, len(models), squeeze=False)[0]
    show = np.random.default_rng(0).permutation(len(Xva))[:2000]
    for ax, (name, (model, acc)) in zip(axes, models.items(), strict=True):
        z = predict(model, grid.astype(model.dtype)).reshape(gx.shape)
        ax.contourf(gx, gy, z > 0, levels=[-0.5, 0.5, 1.5], colors=["#c6dbef", "#fdd0a2"])
        ax.scatter(Xva[show, 0], Xva[show, 1], c=yva[show], s=1.5, cmap="coolwarm")
        ax.set_title(f"{name}: {acc:.1f} %", fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_aspect("equal")
    fig.suptitle("Two spirals: decision regions (validation points)", fontsize=11)
    save_figure(fig, path)


@register("spirals", "two-spirals: SLNN routines (BN, GC, MS, EMFN) vs a ReLU net, PAPER.md s.4")
def run(ctx) -> dict:
    from ..datasets import train_val_split, two_spirals

    n = 2_000 if ctx.quick else N_PER_CLASS
    epochs = 3 if ctx.quick else EPOCHS
    seeds = [ctx.seed] if ctx.quick else [ctx.seed + i for i in range(3)]
    rng = ctx.rng()
    X, y = two_spirals(n, rng)
    data = train_val_split(X, y, 0.2, rng)
    ctx.log(f"two spirals: {len(data[0][0])} train / {len(data[1][0])} validation points, "
            f"{epochs} epochs, seeds {seeds}")
    rows, best = {}, {}
    for routine in ROUTINES:
        accs, runs, curves = [], [], []
        for s in seeds:
            ctx.log(f"-- {routine}, seed {s}")
            model, hist, acc, acc_running = _train_one(routine, data, s, epochs, ctx)
            accs.append(acc)
            runs.append({"seed": s, "val_acc": acc, "val_acc_running_stats": acc_running})
            curves.append(hist.to_dict())
            if routine not in best or acc > best[routine][1]:
                best[routine] = (model, acc)
        rows[routine] = {"val_acc_mean": float(np.mean(accs)), "val_acc_std": float(np.std(accs)),
                         "paper": PAPER[routine], "runs": runs, "params": model.n_params(),
                         "history": curves}
        ctx.log(f"{routine}: validation accuracy {np.mean(accs):.2f} +- {np.std(accs):.2f} % "
                f"(paper {PAPER[routine]} %)")
    _boundary_figure(best, data, ctx.path(".png"), extent=float(np.abs(X).max()))
    table = ["| routine | ours: val. acc. % (mean +- std) | paper |", "|---|---|---|"]
    for r, row in rows.items():
        table.append(f"| {r} | {row['val_acc_mean']:.2f} +- {row['val_acc_std']:.2f} "
                     f"| {row['paper']} |")
    ctx.log("\n".join(table))
    return {"config": {"n_per_class": n, "epochs": epochs, "batch": BATCH, "lr": LR,
                       "width": WIDTH, "degree": DEGREE, "clip_gc": CLIP_GC, "seeds": seeds},
            "rows": rows, "table_markdown": "\n".join(table), "paper": PAPER}
