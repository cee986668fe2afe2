r"""RQ3: the effect of the SLAF degree on accuracy and on training stability, normalised vs raw.

Goal
    Research question 3 of the published review (docs/paper.md section 1): how does the degree k of
    the polynomial SLAF affect approximation, optimisation and generalisation? And claim 4: high
    powers make SLNNs hard to optimise, and normalising the basis terms (per-term mean-variance
    standardisation, the paper's final SLAF) stabilises training. We train 2-16-16-1 SLNNs (the
    same SLAF of degree k in both hidden layers) for k = 1..8 on two tasks, with and without the
    per-term normalisation, several seeds each, and record train/test error and how often
    training diverges.

Paper's numbers
    None: docs/paper.md section 4 says the degree ablations (RQ3) are claimed, no numbers survive.
    For reference, the paper's two-spirals SLNNs used k = 4 or 7 (BN-SLAF 73.5 % validation
    accuracy with a 2-10-10-1 network, 15 epochs, on 100k points per class).

Tasks
    * ``spirals``: the authors' two-spirals generator (:func:`slaf_np.datasets.two_spirals`, two
      turns, uniform noise 0.1) with 5,000 points per class instead of the paper's 100,000 (CPU
      budget), shuffled 80/20 into train/test; raw coordinates as in the paper (|x| up to about
      14, not standardised: large inputs are exactly where raw powers blow up); sigmoid
      cross-entropy, 15 epochs (as in the paper); error = 100 - accuracy (%).
    * ``regression``: :func:`slaf_np.datasets.smooth_regression` with d = 2 (x uniform on
      [-2, 2]^2, :math:`y = \sin x_1 + \sin x_2 + \tfrac12 e^{-\lVert x \rVert^2 / 2}`, Gaussian
      noise 0.1, so the best possible RMSE is about 0.1), 3,000 points split 2,000 / 1,000; MSE,
      60 epochs; error = RMSE.

Model and optimiser (identical for every degree, normalisation and task)
    ``Dense(2, 16) -> SLAF(16, k) -> Dense(16, 16) -> SLAF(16, k) -> Dense(16, 1)``, Glorot
    weights, power basis, per-neuron coefficients, the paper's initialisation (``c ~ N(0, 1)`` + 1
    on the linear term, ``b = 0.1``), float32. ``normalize=True`` is the paper's SLAF (batch
    statistics in training, running averages with decay 0.99 in evaluation); ``normalize=False``
    uses the raw powers :math:`z, \dots, z^k`. Adam, lr ``LR`` = 3e-3, batch 128, no gradient
    clipping (clipping would hide the instability we measure), no weight decay.

Divergence (a run counts as diverged if any of these happens)
    1. :func:`slaf_np.train.loop.fit` raises :class:`~slaf_np.train.TrainingDivergedError` (a NaN or
       infinite batch loss) or a ``ValueError`` about non-finite values inside the network (an
       activation overflowed float32 before the loss saw it);
    2. the final epoch's mean training loss is non-finite or above ``EXPLODE_FACTOR`` = 10 times
       the loss of the best constant predictor on the training set (spirals: the binary entropy
       of the class balance, about ln 2 = 0.69; regression: the variance of the targets), i.e.
       the network ended far worse than predicting a constant;
    3. the (recalibrated) test metric is non-finite.
    The errors plotted are the mean (and std) over the runs that did not diverge; the JSON holds
    every run, diverged or not.

Evaluation
    In evaluation mode after :func:`slaf_np.recalibrate` re-estimates the running statistics on
    the training inputs (the running averages of the last epoch can lag behind the weights); the
    numbers with the running statistics as trained are recorded too (``*_running``). Raw SLAFs
    have no statistics, so the two agree for them.

Outputs
    ``degree.json`` (configuration, every run with its per-epoch training loss, the aggregates and
    a summary: best degree and first diverging degree per task and normalisation) and
    ``degree.png`` (per task: train/test error vs degree, and divergence fraction vs degree,
    normalised vs raw), drawn from the JSON-able results only. ``--quick``: degrees 1, 3, 6, one
    seed, 1,000 spiral points per class for 3 epochs, 600 regression points for 8 epochs.
"""

from __future__ import annotations

import math
import time

import numpy as np

from . import register

TASKS = ("spirals", "regression")
DEGREES = tuple(range(1, 9))
NORMALIZE = (True, False)
N_SEEDS = 3
WIDTH = 16
LR, BATCH = 3e-3, 128
SPIRALS_N_PER_CLASS, SPIRALS_TEST_FRAC, SPIRALS_EPOCHS = 5_000, 0.2, 15
REG_N, REG_TEST_FRAC, REG_NOISE, REG_EPOCHS = 3_000, 1 / 3, 0.1, 60
EXPLODE_FACTOR = 10.0
QUICK = {"degrees": (1, 3, 6), "n_seeds": 1, "spirals_n_per_class": 1_000, "spirals_epochs": 3,
         "reg_n": 600, "reg_epochs": 8}
PAPER = ("None: docs/paper.md section 4 says the degree ablations (RQ3) are claimed but no numbers "
         "survive. The paper's two-spirals SLNNs used k = 4 or 7.")


# ------------------------------------------------------------------------------ data and model

def make_task(task: str, rng: np.random.Generator, quick: bool) -> dict:
    """Train/test arrays, the loss, the metric and the constant-predictor loss of one task."""
    from ..datasets import smooth_regression, train_val_split, two_spirals

    if task == "spirals":
        n = QUICK["spirals_n_per_class"] if quick else SPIRALS_N_PER_CLASS
        X, y = two_spirals(n, rng)
        (Xtr, ytr), (Xte, yte) = train_val_split(X, y, frac_val=SPIRALS_TEST_FRAC, rng=rng)
        p = float(np.mean(ytr))
        baseline = -(p * math.log(p) + (1 - p) * math.log(1 - p))
        return {"train": (Xtr, ytr), "test": (Xte, yte), "loss": "sigmoid_binary_cross_entropy",
                "metric": "accuracy", "baseline_loss": baseline,
                "epochs": QUICK["spirals_epochs"] if quick else SPIRALS_EPOCHS}
    if task == "regression":
        n = QUICK["reg_n"] if quick else REG_N
        X, y = smooth_regression(n, 2, rng, noise=REG_NOISE)
        (Xtr, ytr), (Xte, yte) = train_val_split(X, y, frac_val=REG_TEST_FRAC, rng=rng)
        return {"train": (Xtr, ytr), "test": (Xte, yte), "loss": "mse", "metric": "rmse",
                "baseline_loss": float(np.var(ytr)),
                "epochs": QUICK["reg_epochs"] if quick else REG_EPOCHS}
    raise ValueError(f"unknown task {task!r}; known: {TASKS}")


def build(degree: int, normalize: bool, rng: np.random.Generator, width: int = WIDTH):
    """The 2-width-width-1 SLNN with SLAF of degree ``degree`` in both hidden layers."""
    from ..nn import Dense, Sequential
    from ..nn.slaf import SLAF

    return Sequential(Dense(2, width, rng=rng, init="glorot"),
                      SLAF(width, degree, normalize=normalize, rng=rng),
                      Dense(width, width, rng=rng, init="glorot"),
                      SLAF(width, degree, normalize=normalize, rng=rng),
                      Dense(width, 1, rng=rng, init="glorot"))


def error(metric: str, value: float | None) -> float:
    """The plotted error: 100 - accuracy (%) or the RMSE itself; NaN for a missing value."""
    if value is None or not math.isfinite(value):
        return math.nan
    return 100.0 * (1.0 - value) if metric == "accuracy" else float(value)


def _safe_evaluate(model, X, y, data) -> float:
    """The metric of ``model`` on (X, y) in evaluation mode; NaN if the network overflows."""
    from ..train import evaluate

    try:
        _, m = evaluate(model, X, y, data["loss"], metric=data["metric"])
    except ValueError as e:                  # non-finite activations inside the network
        if "non-finite" not in str(e):
            raise
        return math.nan
    return error(data["metric"], m)


def train_one(data: dict, degree: int, normalize: bool, seed: int) -> dict:
    """Train one SLNN; returns its errors, divergence verdict and training curve.

    The initialisation and the batch order come from ``default_rng([seed, degree, normalize])``.
    """
    from ..train import TrainingDivergedError, fit
    from ..train.calibration import recalibrate
    from ..train.optim import Adam

    rng_seed = [seed, degree, int(normalize)]
    rng = np.random.default_rng(rng_seed)
    model = build(degree, normalize, rng)
    (Xtr, ytr), (Xte, yte) = data["train"], data["test"]
    reason, curve = None, []
    t0 = time.perf_counter()
    with np.errstate(over="ignore", invalid="ignore"):
        try:
            hist = fit(model, Xtr, ytr, data["loss"], Adam(model, lr=LR), epochs=data["epochs"],
                       batch_size=BATCH, rng=rng, verbose=False,
                       calibrate=False)  # measured below both as trained and recalibrated
            curve = hist.train_loss
            last = curve[-1]
            limit = EXPLODE_FACTOR * data["baseline_loss"]
            if not math.isfinite(last) or last > limit:
                reason = (f"final training loss {last:.4g} > {EXPLODE_FACTOR:g} x the "
                          f"constant-predictor loss {data['baseline_loss']:.4g}")
        except TrainingDivergedError as e:
            reason = f"TrainingDivergedError: {e}"
        except ValueError as e:
            if "non-finite" not in str(e):
                raise
            reason = f"non-finite values inside the network: {e}"
        out = {"train_error_running": _safe_evaluate(model, Xtr, ytr, data),
               "test_error_running": _safe_evaluate(model, Xte, yte, data)}
        try:
            recalibrate(model, Xtr.astype(model.dtype))
        except ValueError as e:
            if "non-finite" not in str(e):
                raise
        out["train_error"] = _safe_evaluate(model, Xtr, ytr, data)
        out["test_error"] = _safe_evaluate(model, Xte, yte, data)
    if reason is None and not math.isfinite(out["test_error"]):
        reason = "the recalibrated test metric is non-finite"
    return {"degree": degree, "normalize": normalize, "seed": seed, "rng_seed": rng_seed,
            "diverged": reason is not None,
            "reason": reason, **out, "final_train_loss": curve[-1] if curve else math.nan,
            "epochs_done": len(curve), "train_loss": curve,
            "seconds": round(time.perf_counter() - t0, 2)}


# ------------------------------------------------------------------------------ aggregation

def aggregate(runs: list[dict], degrees) -> dict:
    """Per normalisation and degree: divergence fraction and mean/std errors of converged runs."""
    agg = {}
    for norm in NORMALIZE:
        key = "normalized" if norm else "raw"
        rows = {"degrees": list(degrees), "diverged_fraction": [], "n_runs": [], "n_ok": []}
        for name in ("train_error", "test_error", "test_error_running"):
            rows[f"{name}_mean"], rows[f"{name}_std"] = [], []
        for k in degrees:
            rs = [r for r in runs if r["degree"] == k and r["normalize"] == norm]
            ok = [r for r in rs if not r["diverged"]]
            rows["n_runs"].append(len(rs))
            rows["n_ok"].append(len(ok))
            rows["diverged_fraction"].append((len(rs) - len(ok)) / len(rs) if rs else math.nan)
            for name in ("train_error", "test_error", "test_error_running"):
                v = np.array([r[name] for r in ok], dtype=np.float64)
                rows[f"{name}_mean"].append(float(np.mean(v)) if len(v) else math.nan)
                rows[f"{name}_std"].append(float(np.std(v)) if len(v) else math.nan)
        agg[key] = rows
    return agg


def summarize(agg: dict) -> dict:
    """Best degree (lowest mean test error) and where divergence begins, per normalisation."""
    out = {}
    for key, rows in agg.items():
        ks, test, frac = rows["degrees"], rows["test_error_mean"], rows["diverged_fraction"]
        finite = [(t, k) for t, k in zip(test, ks, strict=True) if math.isfinite(t)]
        best = min(finite) if finite else (math.nan, None)
        out[key] = {"best_degree": best[1], "best_test_error": best[0],
                    "first_degree_with_divergence": next((k for k, f in zip(ks, frac, strict=True)
                                                          if f > 0), None),
                    "first_degree_all_diverged": next((k for k, f in zip(ks, frac, strict=True)
                                                       if f == 1), None)}
    return out


# ------------------------------------------------------------------------------ the figure

def figure(results: dict, path) -> None:
    """Per task: error vs degree (train dashed, test solid) and divergence fraction vs degree."""
    from matplotlib.figure import Figure

    from ..utils import save_figure

    tasks = results["tasks"]
    fig = Figure(figsize=(10.5, 3.6 * len(tasks)), layout="constrained")
    axes = fig.subplots(len(tasks), 2, squeeze=False)
    colors = {"normalized": "tab:blue", "raw": "tab:red"}
    for i, (task, res) in enumerate(tasks.items()):
        ax, axd = axes[i]
        width = 0.38
        for j, (key, rows) in enumerate(res["aggregate"].items()):
            k = np.array(rows["degrees"], dtype=float)
            c = colors[key]
            for name, style in (("test_error", "o-"), ("train_error", "s--")):
                m = np.array(rows[f"{name}_mean"], dtype=float)
                s = np.array(rows[f"{name}_std"], dtype=float)
                ax.errorbar(k, m, yerr=s, fmt=style, color=c, ms=4, capsize=2, lw=1.2,
                            label=f"{key}: {name.split('_')[0]}")
            if key == "normalized":
                ax.plot(k, rows["test_error_running_mean"], ":", color=c, lw=1,
                        label=f"{key}: test, running stats (no recalibration)")
            axd.bar(k + (j - 0.5) * width, rows["diverged_fraction"], width, color=c,
                    label=key)
            axd.plot(k + (j - 0.5) * width, rows["diverged_fraction"], "_", color=c, ms=9,
                     mew=2)                   # makes a zero fraction visible
        ylabel = "error (100 - accuracy, %)" if res["metric"] == "accuracy" else "RMSE"
        if res["metric"] == "rmse":
            ax.set_yscale("log")
        ax.set(xlabel="SLAF degree k", ylabel=ylabel,
               title=f"{task}: error of the runs that did not diverge (mean +- std)")
        ax.legend(fontsize=7)
        ax.grid(True, alpha=0.3)
        axd.set(xlabel="SLAF degree k", ylabel="fraction of runs diverged", ylim=(0, 1.05),
                title=f"{task}: fraction of {res['n_seeds']} runs that diverged")
        axd.set_xticks(res["aggregate"]["raw"]["degrees"])
        axd.legend(fontsize=8)
        axd.grid(True, axis="y", alpha=0.3)
    fig.suptitle("SLAF degree (RQ3): 2-16-16-1 SLNNs, same Adam settings for every degree",
                 fontsize=11)
    save_figure(fig, path)


# ------------------------------------------------------------------------------ the experiment

@register("degree", "RQ3: SLNN train/test error and training divergence vs SLAF degree 1..8, "
                    "normalised vs raw, on two-spirals and a smooth regression")
def run(ctx) -> dict:
    degrees = QUICK["degrees"] if ctx.quick else DEGREES
    n_seeds = QUICK["n_seeds"] if ctx.quick else N_SEEDS
    seeds = [ctx.seed + i for i in range(n_seeds)]
    tasks = {}
    for t, task in enumerate(TASKS):
        data_seed = [ctx.seed, t]
        data = make_task(task, np.random.default_rng(data_seed), ctx.quick)
        ctx.log(f"== {task}: {len(data['train'][0])} train / {len(data['test'][0])} test, "
                f"{data['epochs']} epochs, batch {BATCH}, Adam lr {LR}, seeds {seeds}, "
                f"constant-predictor loss {data['baseline_loss']:.4g}")
        runs = []
        for norm in NORMALIZE:
            for k in degrees:
                for s in seeds:
                    r = train_one(data, k, norm, s)
                    runs.append(r)
                    what = "DIVERGED (" + r["reason"][:70] + ")" if r["diverged"] else "ok"
                    ctx.log(f"{task:10s} {'normalized' if norm else 'raw':10s} k={k} seed {s}: "
                            f"train err {r['train_error']:.4g}  test err {r['test_error']:.4g}  "
                            f"(running stats {r['test_error_running']:.4g})  final loss "
                            f"{r['final_train_loss']:.4g}  {r['seconds']:.1f}s  {what}")
        agg = aggregate(runs, degrees)
        summ = summarize(agg)
        for key, s in summ.items():
            ctx.log(f"{task} {key}: best degree {s['best_degree']} (test error "
                    f"{s['best_test_error']:.4g}); divergence begins at k = "
                    f"{s['first_degree_with_divergence']}, all runs diverge from k = "
                    f"{s['first_degree_all_diverged']}")
        tasks[task] = {"data_seed": data_seed, "metric": data["metric"], "loss": data["loss"],
                       "epochs": data["epochs"],
                       "n_train": len(data["train"][0]), "n_test": len(data["test"][0]),
                       "baseline_loss": data["baseline_loss"], "n_seeds": n_seeds,
                       "runs": runs, "aggregate": agg, "summary": summ}
    results = {"config": {"degrees": list(degrees), "seeds": seeds,
                          "seed_rule": "data: default_rng(task's data_seed = [seed, task index]); "
                                       "each run: default_rng(its rng_seed = [seed, degree, "
                                       "normalize]) for the initialisation and the batch order",
                          "width": WIDTH, "lr": LR,
                          "batch": BATCH, "optimizer": "Adam (no clipping, no weight decay)",
                          "explode_factor": EXPLODE_FACTOR,
                          "spirals_n_per_class": (QUICK["spirals_n_per_class"] if ctx.quick
                                                  else SPIRALS_N_PER_CLASS),
                          "reg_n": QUICK["reg_n"] if ctx.quick else REG_N,
                          "reg_noise": REG_NOISE, "basis": "power", "init": "paper",
                          "dtype": "float32"},
               "paper": PAPER, "tasks": tasks}
    figure(results, ctx.path(".png"))
    return results
