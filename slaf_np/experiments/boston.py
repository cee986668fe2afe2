r"""Boston Housing regression: NN, SLNN and degree-8 polynomial regression (docs/paper.md s. 4).

Goal
    Reproduce the paper's regression table, train / test RMSE in $1000s on the Keras split (404 /
    102 rows), and test claim 3 on the trained SLNN: it *is* a degree-8 polynomial of its 13
    inputs, the same function class as the LR-SGD and LLS baselines (C(21, 8) = 203,490 monomials).

    ==================== ================== ================================================
    row                  paper train / test settings (authors' code, docs/paper.md section 4)
    ==================== ================== ================================================
    NN ReLU BN           1.32 / 3.78        standardised x; Dense128 ReLU (L2 0.1) BN Dense64
                                            ReLU (L1 0.1) BN Dense1; Adam 1e-2, batch 256
    SLNN k = 4 * 2 = 8   2.09 / 3.98        raw x; Dense128 (L2 0.05) SLAF4 Dense64 (L2 0.05)
                                            SLAF2 Dense1; Adam 1e-3, 1e-4 from epoch 1600;
                                            batch 265; L1 0.01 on the SLAF coefficients
    LR-SGD, degree 8     22.03 / 22.69      standardised monomials, one Dense(1), Adam 1e-2,
                                            batch 256, penalty 0.01
    LLS, degree 8        1.59 / 3.06        the same monomials, Lasso alpha 0.01 (coordinate
                                            descent, unpenalised intercept)
    Ridge (ours)         -                  the same monomials, closed form, alpha by 5-fold CV
    ==================== ================== ================================================

    All networks: 2000 epochs, MSE loss, Glorot-uniform weights (the Keras / ``tf.contrib``
    default), zero biases, Adam with eps = 1e-8 (the value the authors' scripts pass).

Decisions (read against the authors' scripts ``single_layer/boston_housing/trainNNrelu.py``,
``train_taylor.py``, ``taylor_batch_norm.py`` and ``Experiments/boston_housing/train.py``,
``linearregression.py`` of ``mohit1997/PAF``)

* **NN penalties are coupled.** The NN is Keras with ``kernel_regularizer=l2(0.1)`` and ``l1(0.1)``:
  Keras adds ``0.1 sum W^2`` and ``0.1 sum |W|`` to the loss, so their gradients ``0.2 W`` and
  ``0.1 sign(W)`` go *through* Adam (normalised by its second moment), unlike the decoupled step of
  :mod:`slaf_np.train.optim`. :class:`slaf_np.train.penalties.CoupledPenalty` adds them to the
  gradients before ``step()``.
* **SLNN penalties are as the TF script has them.** The Dense L2 is a ``tf.contrib`` regulariser
  (``0.05 * sum W^2 / 2``) minimised by a *separate* ``GradientDescentOptimizer`` step at the same
  rate: the decoupled ``l2 = 0.05`` of :class:`slaf_np.train.optim.Adam` (groups; TF runs the two
  updates side by side from the same weights, ours shrinks the Adam-updated weights, a difference
  of order ``lr^2``). The L1 on the
  SLAF coefficients (``0.1 * sum 0.1 |c|``) is added to the loss that Adam minimises: coupled,
  ``CoupledPenalty`` again. Dense SLAFs are *shared* (one coefficient vector and one bias per
  layer, the script's ``[1, k]`` kernel), without the attention gate, init ``N(0, 1) + 1`` on the
  linear term, bias 0.1. The script's batch iterator drops the incomplete batch, so an epoch is one
  step on 265 random rows (``DROP_LAST``); the NN and LR-SGD (Keras ``fit``) use every row.
* **LR-SGD penalty: L1 0.01, coupled.** The paper states "penalty 0.01"; the repository's script has
  ``kernel_regularizer=l1(0.05)``. We take the paper's value with the script's mechanism (Keras L1
  on the kernel, bias unpenalised): ``loss = MSE + 0.01 ||w||_1``. (sklearn's Lasso has ``1/2`` in
  front of the MSE, so this is Lasso alpha 0.005 in LLS units.) The bias monomial is left out of the
  features: sklearn's ``StandardScaler`` turns it into a zero column in the authors' code, and the
  layer's own bias plays its role.
* **LLS is sklearn's ``Lasso(alpha=0.01)``** (max_iter = 1000, tol = 1e-4, duality-gap test),
  reproduced by :func:`slaf_np.polynomial.lasso.lasso_cd` with the same stopping rule: the
  *authors' row* stops after at most 1000 sweeps converged or not (it does not converge: the
  203,489 monomials are nearly collinear; measured, plain cyclic CD at about 40 s per 1000 sweeps
  brings the gap from 0.33 at 1000 sweeps only to 0.078 at 5000, against a tolerance of 0.0085).
  The *converged row* finishes the same problem from there with
  :func:`slaf_np.polynomial.lasso.lasso_working_set` (CD on the support plus the violators of the
  optimality conditions, the full problem's duality gap checked after each round) until the full
  gap passes sklearn's test; both gaps are reported.
  Lasso is deterministic: one run, std 0.
* **Ridge** (our extra row): :func:`slaf_np.polynomial.ridge.ridge` (dual, 404 x 404 system) at
  the alpha with the lowest 5-fold cross-validated MSE on the *training set* over
  ``RIDGE_ALPHAS``; the folds are solved from one Gram matrix
  (:func:`slaf_np.polynomial.ridge.ridge_cv`); the test set is never looked at.
* **Features** are the monomials of the raw inputs computed in float64, standardised with the
  training mean and std (as sklearn), kept float64 for LLS / Ridge (sklearn's precision) and cast
  to float32 for LR-SGD (Keras's).
* **Evaluation.** RMSE of the evaluation-mode network on all 404 / 102 rows after
  :func:`slaf_np.recalibrate` sets the BN / SLAF running statistics to their exact training-set
  values; the RMSE with the running statistics as trained (what the authors' scripts printed) is
  kept as ``*_running_stats``. The paper gives one number per row, presumably the final epoch of
  one run; we give mean and std over ``SEEDS`` seeds (population std, ``ddof = 0``).
* **Learning curves**: per epoch, train RMSE of the training-mode batch outputs during the epoch
  (what Keras / the TF script log) and test RMSE of the evaluation-mode model (running statistics)
  at its end; mean over seeds, with the min-max band.
* **Training loop.** :func:`train_network`: :func:`slaf_np.train.loop.fit` with ``penalty=`` (the
  coupled penalties), ``drop_last`` (the SLNN script's iterator) and a callback for the test
  curve; the linear layer has its own gather-free loop
  (:func:`slaf_np.experiments.boston_baselines.lr_sgd_epochs`). A non-finite loss
  or overflow raises ``TrainingDivergedError``, and a diverged seed is recorded (``n_diverged``)
  and left out of the means instead of stopping the table. Tiny networks run on one thread
  (:func:`slaf_np.threads.single_thread`): on a busy 2-core machine a thread pool made an NN step
  20 times slower.
* **Budget** (the full run must fit in 15 minutes on 2 cores): LR-SGD costs two passes over a
  404 x 203,489 float32 matrix per step, 0.07 s measured (2000 epochs: about 150 s per seed); it
  runs ``LR_SGD_SEEDS`` = 5 seeds of 2000 epochs like the other rows (about 14 minutes in all on a
  quiet machine; lower it on a loaded one).

``--quick`` (under a minute): degree-3 monomials, 50 epochs, one seed, Lasso 50 sweeps, every row
still run and the SLNN still expanded.

Outputs: ``boston.json`` (rows, per-seed runs, curves, configuration, discussion),
``boston.md`` (the table beside the paper's), ``boston_curves.png`` (drawn from the saved curves).

This module runs the networks and the whole experiment; the baselines on polynomial features are
in :mod:`slaf_np.experiments.boston_baselines`, the table, figure and discussion in
:mod:`slaf_np.experiments.boston_report`.
"""

from __future__ import annotations

import copy
import math
import time

import numpy as np

from . import register
from .boston_baselines import lasso_rows, lr_sgd_row, monomial_features, ridge_row
from .boston_report import (
    LABELS,
    PAPER,
    curves_figure,
    discussion,
    markdown_page,
    markdown_table,
    mean_curves,
    rmse,
    row_summary,
)

SEEDS = 5
EPOCHS = 2000
ADAM_EPS = 1e-8
NN_LR, NN_BATCH, NN_L2, NN_L1 = 1e-2, 256, 0.1, 0.1
SLNN_DEGREES, SLNN_BATCH, SLNN_L2, SLNN_L1 = (4, 2), 265, 0.05, 0.01
SLNN_SCHEDULE = ((0, 1e-3), (1600, 1e-4))          # (first epoch, rate)
DROP_LAST = True                                   # the SLNN script's batch iterator
DEGREE = 8
LR_SGD_LR, LR_SGD_BATCH, LR_SGD_L1 = 1e-2, 256, 0.01
LR_SGD_SEEDS, LR_SGD_EPOCHS = 5, 2000
LASSO_ALPHA, LASSO_TOL, LASSO_AUTHORS_SWEEPS = 0.01, 1e-4, 1000
LASSO_CHECK_EVERY = 10
RIDGE_ALPHAS = np.logspace(-2, 8, 21)
RIDGE_FOLDS = 5
QUICK = {"degree": 3, "epochs": 50, "seeds": 1, "lasso_sweeps": 50}


# --------------------------------------------------------------------------------- networks
def build_nn(rng: np.random.Generator):
    """13 - Dense128 ReLU BN - Dense64 ReLU BN - Dense1 (keys 0.W (L2) and 3.W (L1))."""
    from ..nn import BatchNorm, Dense, ReLU, Sequential

    return Sequential(Dense(13, 128, rng=rng, init="glorot"), ReLU(), BatchNorm(128),
                      Dense(128, 64, rng=rng, init="glorot"), ReLU(), BatchNorm(64),
                      Dense(64, 1, rng=rng, init="glorot"))


def build_slnn(rng: np.random.Generator, degrees=SLNN_DEGREES):
    """13 - Dense128 SLAF(k1) - Dense64 SLAF(k2) - Dense1, shared SLAFs (keys 1.c, 3.c)."""
    from ..nn import SLAF, Dense, Sequential

    k1, k2 = degrees
    return Sequential(Dense(13, 128, rng=rng, init="glorot"), SLAF(128, k1, shared=True, rng=rng),
                      Dense(128, 64, rng=rng, init="glorot"), SLAF(64, k2, shared=True, rng=rng),
                      Dense(64, 1, rng=rng, init="glorot"))


def train_network(model, data, optimizer, epochs: int, batch_size: int, rng, penalty=None,
                  schedule=None, drop_last: bool = False, log=None) -> dict:
    """:func:`slaf_np.train.loop.fit` on the MSE, with per-epoch train / test RMSE curves.

    Train: the RMSE of the training-mode batch outputs of the epoch (``sqrt`` of fit's loss);
    test: of the evaluation-mode model at the end of the epoch (a callback, float64 targets).
    ``penalty`` is added to the gradients before each step; ``drop_last`` skips the incomplete
    last batch. A divergence raises :class:`slaf_np.train.TrainingDivergedError`.
    """
    from ..train import fit, predict

    (X, y), (Xte, yte) = data
    curves = {"train_rmse": [], "test_rmse": []}

    def record(info):
        curves["train_rmse"].append(math.sqrt(info["history"].train_loss[-1]))
        curves["test_rmse"].append(rmse(predict(model, Xte), yte))
        epoch = info["epoch"]
        if log and epoch % max(1, epochs // 10) == 0:
            log(f"  epoch {epoch}/{epochs}  train {curves['train_rmse'][-1]:.3f}  "
                f"test {curves['test_rmse'][-1]:.3f}  lr {optimizer.current_lr:.0e}")

    # calibrate=False: the curves record the running statistics as trained; the caller then
    # recalibrates and reports both numbers.
    fit(model, X, y.reshape(-1, 1), "mse", optimizer, epochs, batch_size, rng=rng,
        schedule=schedule, keep=None, verbose=False, callbacks=[record], drop_last=drop_last,
        penalty=penalty, calibrate=False)
    return curves


def _expand_check(model, X: np.ndarray) -> dict:
    """Claim 3 on the trained SLNN: its float64 copy equals ``expand(copy)`` on ``X``."""
    from ..polynomial import expand
    from ..polynomial.monomials import count_monomials
    from ..train import predict

    t0 = time.perf_counter()
    m64 = copy.deepcopy(model).astype(np.float64)
    poly = expand(m64)
    p = poly(X)
    f64 = m64.forward(X, training=False)[:, 0]
    f32 = predict(model, X)[:, 0].astype(np.float64)
    scale = float(np.abs(f64).max())
    return {"degree": int(poly.degree), "n_terms": int(poly.n_terms),
            "C(d+K,K)": count_monomials(X.shape[1], int(poly.degree)),
            "max_abs_diff_vs_float64_net": float(np.abs(p - f64).max()),
            "max_rel_diff_vs_float64_net": float(np.abs(p - f64).max() / scale),
            "max_rel_diff_vs_float32_net": float(np.abs(p - f32).max() / scale),
            "rows": int(len(X)), "seconds": round(time.perf_counter() - t0, 2)}


def _network_row(kind: str, data_raw, data_std, seeds, epochs: int, ctx) -> tuple[dict, dict]:
    """Train ``kind`` ("nn" or "slnn") once per seed; (row, curves)."""
    from ..nn.base import NonFiniteError
    from ..threads import single_thread
    from ..train import TrainingDivergedError, predict
    from ..train.calibration import recalibrate
    from ..train.optim import Adam, StepSchedule
    from ..train.penalties import CoupledPenalty

    (Xtr, ytr), (Xte, yte) = data_std if kind == "nn" else data_raw
    Xtr, Xte = Xtr.astype(np.float32), Xte.astype(np.float32)
    runs, curves, expand_info = [], [], None
    t0 = time.perf_counter()
    for s in seeds:
        rng = np.random.default_rng(s)
        if kind == "nn":
            model = build_nn(rng)
            opt = Adam(model, lr=NN_LR, eps=ADAM_EPS)
            penalty = CoupledPenalty({"0.W": (0.0, NN_L2), "3.W": (NN_L1, 0.0)})
            kw = {"batch_size": NN_BATCH}
        else:
            model = build_slnn(rng)
            opt = Adam(model, lr=SLNN_SCHEDULE[0][1], eps=ADAM_EPS,
                       groups=[{"keys": ["0.W", "2.W"], "l2": SLNN_L2}])
            penalty = CoupledPenalty({"1.c": (SLNN_L1, 0.0), "3.c": (SLNN_L1, 0.0)})
            kw = {"batch_size": SLNN_BATCH, "drop_last": DROP_LAST,
                  "schedule": StepSchedule(SLNN_SCHEDULE, unit="epoch")}
        ctx.log(f"-- {LABELS[kind]}, seed {s}")
        try:
            with single_thread():
                c = train_network(model, ((Xtr, ytr), (Xte, yte)), opt, epochs, rng=rng,
                                  penalty=penalty, log=ctx.log, **kw)
                run = {"seed": s, "diverged": False,
                       "train_rmse_running_stats": rmse(predict(model, Xtr), ytr),
                       "test_rmse_running_stats": rmse(predict(model, Xte), yte)}
                recalibrate(model, Xtr)
                run["train_rmse"] = rmse(predict(model, Xtr), ytr)
                run["test_rmse"] = rmse(predict(model, Xte), yte)
        except (TrainingDivergedError, NonFiniteError) as e:
            ctx.log(f"   diverged: {e}")
            runs.append({"seed": s, "diverged": True, "error": str(e)})
            continue
        runs.append(run)
        curves.append(c)
        ctx.log(f"   train {run['train_rmse']:.3f}  test {run['test_rmse']:.3f}  (running "
                f"stats as trained: {run['train_rmse_running_stats']:.3f} / "
                f"{run['test_rmse_running_stats']:.3f})")
        if kind == "slnn" and expand_info is None:
            expand_info = _expand_for(model, data_raw[1][0], s, ctx)
    row = row_summary(kind, runs, time.perf_counter() - t0, epochs)
    if kind == "slnn":
        row["expand"] = expand_info or {"skipped": "every seed diverged"}
    return row, mean_curves(curves)


def _expand_for(model, Xte64, seed, ctx) -> dict:
    try:
        info = _expand_check(model, Xte64)
    except ImportError as e:  # polynomial.py missing
        return {"skipped": f"slaf_np.polynomial unavailable: {e}"}
    info["seed"] = seed
    ctx.log(f"   expand: degree {info['degree']}, {info['n_terms']} terms; max relative "
            f"difference to the float64 network on the test set "
            f"{info['max_rel_diff_vs_float64_net']:.1e}")
    return info


# ------------------------------------------------------------------------------------- runner
@register("boston", "Boston Housing: NN, SLNN (exactly a degree-8 polynomial), LR-SGD, Lasso, "
                    "Ridge on degree-8 monomials, docs/paper.md s.4")
def run(ctx) -> dict:
    from ..datasets import load_boston
    from ..polynomial.features import Standardizer
    from ..polynomial.monomials import count_monomials

    q = QUICK if ctx.quick else None
    epochs = q["epochs"] if q else EPOCHS
    seeds = [ctx.seed + i for i in range(q["seeds"] if q else SEEDS)]
    lr_seeds = seeds[:q["seeds"] if q else LR_SGD_SEEDS]
    lr_epochs = q["epochs"] if q else LR_SGD_EPOCHS
    degree = q["degree"] if q else DEGREE
    (xtr, ytr), (xte, yte) = load_boston(ctx.data_dir)
    sc = Standardizer().fit(xtr)
    raw = ((xtr, ytr), (xte, yte))
    std = ((sc.transform(xtr), ytr), (sc.transform(xte), yte))
    ctx.log(f"Boston: {len(xtr)} train / {len(xte)} test rows; seeds {seeds}; {epochs} epochs")

    rows, curves = {}, {}
    rows["nn"], curves["nn"] = _network_row("nn", raw, std, seeds, epochs, ctx)
    rows["slnn"], curves["slnn"] = _network_row("slnn", raw, std, seeds, epochs, ctx)

    t0 = time.perf_counter()
    Z, Zte, n_const = monomial_features(xtr, xte, degree)
    feat_s = time.perf_counter() - t0
    ctx.log(f"monomials of degree <= {degree}: {Z.shape[1]} + bias = "
            f"{count_monomials(13, degree)} columns ({feat_s:.1f} s)")
    Z32, Zte32 = np.ascontiguousarray(Z, np.float32), np.ascontiguousarray(Zte, np.float32)
    rows["lr_sgd"], curves["lr_sgd"] = lr_sgd_row(
        Z32, ytr, Zte32, yte, lr_seeds, lr_epochs, lr=LR_SGD_LR, batch_size=LR_SGD_BATCH,
        l1=LR_SGD_L1, adam_eps=ADAM_EPS, log=ctx.log)
    del Z32, Zte32
    rows["lls_authors"], rows["lls_converged"] = lasso_rows(
        Z, ytr, Zte, yte, alpha=LASSO_ALPHA, tol=LASSO_TOL,
        sweeps=q["lasso_sweeps"] if q else LASSO_AUTHORS_SWEEPS, check_every=LASSO_CHECK_EVERY,
        log=ctx.log)
    rows["ridge"] = ridge_row(Z, ytr, Zte, yte, alphas=RIDGE_ALPHAS, folds=RIDGE_FOLDS,
                              seed=ctx.seed, log=ctx.log)

    table = markdown_table(rows)
    notes = discussion(rows, curves, ctx.quick, RIDGE_FOLDS)
    ctx.log(table)
    config = {"seeds": seeds, "epochs": epochs, "adam_eps": ADAM_EPS,
              "nn": {"lr": NN_LR, "batch": NN_BATCH, "l2_coupled_0.W": NN_L2,
                     "l1_coupled_3.W": NN_L1, "inputs": "standardised"},
              "slnn": {"degrees": SLNN_DEGREES, "schedule": SLNN_SCHEDULE, "batch": SLNN_BATCH,
                       "drop_last": DROP_LAST, "l2_decoupled_dense": SLNN_L2,
                       "l1_coupled_slaf_c": SLNN_L1, "shared_slaf": True, "inputs": "raw"},
              "features": {"degree": degree, "columns_incl_bias": count_monomials(13, degree),
                           "constant_train_columns": n_const, "seconds": round(feat_s, 1)},
              "lr_sgd": {"lr": LR_SGD_LR, "batch": LR_SGD_BATCH, "l1_coupled": LR_SGD_L1,
                         "seeds": lr_seeds, "epochs": lr_epochs, "dtype": "float32",
                         "authors_script_l1": 0.05},
              "lls": {"alpha": LASSO_ALPHA, "tol": LASSO_TOL,
                      "authors_sweeps": q["lasso_sweeps"] if q else LASSO_AUTHORS_SWEEPS,
                      "check_every": LASSO_CHECK_EVERY},
              "ridge": {"alphas": RIDGE_ALPHAS, "folds": RIDGE_FOLDS, "fold_seed": ctx.seed},
              "seed_rule": "each NN, SLNN and LR-SGD run: default_rng(its seed) for the "
                           "initialisation and the batch order; ridge's CV folds: "
                           "default_rng(fold_seed); the split is Keras's fixed one, lasso and "
                           "ridge draw nothing else"}
    result = {"config": config, "paper": PAPER, "rows": rows, "curves": curves,
              "expand": rows["slnn"].get("expand"), "table_markdown": table,
              "discussion": notes}
    curves_figure(curves, rows, ctx.path("_curves.png"), lr_drop_epoch=SLNN_SCHEDULE[1][0])
    from ..utils import atomic_write_bytes, to_json

    atomic_write_bytes(ctx.path(".md"), markdown_page(config, rows, table, notes).encode())
    to_json(result)  # fail here, not in the runner, if something is not JSON-able
    return result
