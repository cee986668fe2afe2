"""The Boston experiment's baselines on polynomial features: LR-SGD (one linear layer trained by
Adam on the standardised monomials), LLS (the Lasso, the authors' sweep cap and converged) and our
Ridge row. :mod:`slaf_np.experiments.boston` gives the settings and the reasons for them."""

from __future__ import annotations

import math
import time

import numpy as np

from .boston_report import LABELS, mean_curves, rmse, row_summary


def monomial_features(x_train, x_test, degree: int):
    """Standardised monomials of degree 1..``degree`` (no bias column), float64 Fortran order."""
    from ..polynomial.features import Standardizer, polynomial_features

    Ztr = polynomial_features(x_train, degree, include_bias=False, dtype=np.float64)
    Zte = polynomial_features(x_test, degree, include_bias=False, dtype=np.float64)
    sc = Standardizer().fit(Ztr)
    sc.transform(Ztr, inplace=True)
    sc.transform(Zte, inplace=True)
    return Ztr, Zte, int(sc.constant_.sum())


def lr_sgd_epochs(X, y, Xte, yte, lin, optimizer, penalty, epochs: int, batch_size: int, rng,
                  log=None) -> dict:
    """Train the linear layer ``lin`` (a ``Dense(M, 1)``) on the MSE; per-epoch RMSE curves.

    The same updates as ``Dense.forward`` / ``backward`` on each batch, computed without gathering
    the batch's rows (a 200 MB copy at degree 8): ``u = X W + b`` over all N rows (one pass over
    ``X``), the MSE gradient ``r = 2 (u - y) / B`` on the B batch rows and 0 elsewhere, then
    ``dW = X^T r`` (one pass) and ``db = sum r``.
    """
    from ..train import TrainingDivergedError

    N = X.shape[0]
    W, b = lin.params["W"], lin.params["b"]
    c = {"train_rmse": [], "test_rmse": []}
    t0 = time.perf_counter()
    for epoch in range(epochs):
        perm = rng.permutation(N)
        sq = 0.0
        for a in range(0, N, batch_size):
            idx = perm[a:a + batch_size]
            optimizer.zero_grad()
            err = (X @ W[:, 0] + b[0])[idx] - y[idx]
            value = float(np.mean(err.astype(np.float64) ** 2))
            if not math.isfinite(value):
                raise TrainingDivergedError(f"boston LR-SGD: loss {value} at epoch {epoch + 1}")
            r = np.zeros(N, X.dtype)
            r[idx] = (2.0 / len(idx)) * err
            lin.grads["W"][:, 0] += X.T @ r
            lin.grads["b"] += r.sum()
            penalty.add_gradients(lin)
            optimizer.step()
            sq += value * len(idx)
        c["train_rmse"].append(math.sqrt(sq / N))
        c["test_rmse"].append(rmse(Xte @ W[:, 0] + b[0], yte))
        if log and (epoch + 1) % max(1, epochs // 10) == 0:
            log(f"  epoch {epoch + 1}/{epochs}  train {c['train_rmse'][-1]:.3f}  "
                f"test {c['test_rmse'][-1]:.3f}  ({time.perf_counter() - t0:.0f} s)")
    return c


def lr_sgd_row(Z32, ytr, Zte32, yte, seeds, epochs: int, *, lr: float, batch_size: int, l1: float,
               adam_eps: float, log) -> tuple[dict, dict]:
    """LR-SGD: one Dense(M, 1) on the float32 monomials ``Z32`` (N, M), Adam at ``lr``, coupled
    L1 ``l1`` on the kernel, once per seed; (row, curves)."""
    from ..nn import Dense
    from ..threads import single_thread
    from ..train import TrainingDivergedError
    from ..train.optim import Adam
    from ..train.penalties import CoupledPenalty

    N, M = Z32.shape
    runs, curves = [], []
    t0 = time.perf_counter()
    for s in seeds:
        rng = np.random.default_rng(s)
        lin = Dense(M, 1, rng=rng, init="glorot")
        opt = Adam(lin, lr=lr, eps=adam_eps)
        penalty = CoupledPenalty({"W": (l1, 0.0)})
        log(f"-- {LABELS['lr_sgd']}, seed {s} ({N} x {M} float32)")
        try:
            with single_thread():  # memory-bound matrix-vector products: one thread is faster
                c = lr_sgd_epochs(Z32, ytr, Zte32, yte, lin, opt, penalty, epochs, batch_size,
                                  rng, log=log)
        except TrainingDivergedError as e:
            log(f"   diverged: {e}")
            runs.append({"seed": s, "diverged": True, "error": str(e)})
            continue
        W, b = lin.params["W"][:, 0], float(lin.params["b"][0])
        run = {"seed": s, "diverged": False, "train_rmse": rmse(Z32 @ W + b, ytr),
               "test_rmse": rmse(Zte32 @ W + b, yte), "bias": b,
               "weights_above_1e-3": int(np.count_nonzero(np.abs(W) > 1e-3)),
               "weight_l1_norm": float(np.abs(W).astype(np.float64).sum())}
        tail = np.array(c["test_rmse"][-max(1, epochs // 10):])
        run.update({"test_rmse_min_over_epochs": float(np.min(c["test_rmse"])),
                    "epoch_of_min": int(np.argmin(c["test_rmse"])) + 1,
                    "test_rmse_last_10pct_median": float(np.median(tail)),
                    "test_rmse_last_10pct_range": [float(tail.min()), float(tail.max())]})
        runs.append(run)
        curves.append(c)
        log(f"   train {run['train_rmse']:.3f}  test {run['test_rmse']:.3f}")
    return row_summary("lr_sgd", runs, time.perf_counter() - t0, epochs), mean_curves(curves)


def lasso_rows(Z, ytr, Zte, yte, *, alpha: float, tol: float, sweeps: int, check_every: int,
               log) -> tuple[dict, dict]:
    """LLS: the authors' Lasso (at most ``sweeps`` sweeps), then finished by the working-set
    solver; (authors' row, converged row)."""
    from ..polynomial.lasso import lasso_cd, lasso_working_set
    from ..polynomial.linear import predict_linear

    def row(kind, res, seconds):
        r = {"seed": None, "diverged": False,
             "train_rmse": rmse(predict_linear(Z, res.coef, res.intercept), ytr),
             "test_rmse": rmse(predict_linear(Zte, res.coef, res.intercept), yte)}
        out = row_summary(kind, [r], seconds, None)
        out.update({"sweeps": res.n_sweeps, "duality_gap": res.duality_gap,
                    "gap_tol": res.gap_tol, "converged": res.converged,
                    "nonzero_coefficients": int(np.count_nonzero(res.coef)),
                    "note": "deterministic: one run, std 0"})
        return out

    log(f"-- {LABELS['lls_authors']}: Lasso alpha {alpha}, tol {tol}, at most {sweeps} sweeps")
    t0 = time.perf_counter()
    res = lasso_cd(Z, ytr, alpha, max_sweeps=sweeps, tol=tol, check_every=min(check_every, sweeps))
    t1 = time.perf_counter()
    authors = row("lls_authors", res, t1 - t0)
    log(f"   {res.n_sweeps} sweeps, gap {res.duality_gap:.3g} (tol {res.gap_tol:.3g}), "
        f"converged {res.converged}; train {authors['train_rmse_mean']:.3f} test "
        f"{authors['test_rmse_mean']:.3f}  ({t1 - t0:.0f} s)")
    fin, rounds = lasso_working_set(Z, ytr, alpha, res.coef, tol=tol, check_every=check_every,
                                    log=log)
    converged = row("lls_converged", fin, time.perf_counter() - t1)
    converged.update({"rounds": rounds, "warm_start": f"the {res.n_sweeps}-sweep solution",
                      "sweeps_are": "working-set sweeps (columns in the working set only)"})
    log(f"   working set: {len(rounds)} round(s), sizes {[r['working_set'] for r in rounds]}"
        f"; full gap {fin.duality_gap:.3g}, converged {fin.converged}; train "
        f"{converged['train_rmse_mean']:.3f} test {converged['test_rmse_mean']:.3f}")
    return authors, converged


def ridge_row(Z, ytr, Zte, yte, *, alphas, folds: int, seed: int, log) -> dict:
    """Ridge at the alpha of ``alphas`` with the lowest ``folds``-fold CV error on the training
    rows (fold shuffle seeded by ``seed``)."""
    from ..polynomial.linear import predict_linear
    from ..polynomial.ridge import ridge, ridge_cv

    t0 = time.perf_counter()
    cv = ridge_cv(Z, ytr, alphas, folds, np.random.default_rng(seed))
    best = float(alphas[int(np.argmin(cv))])
    w, w0 = ridge(Z, ytr, best, solver="dual")
    r = {"seed": None, "diverged": False, "train_rmse": rmse(predict_linear(Z, w, w0), ytr),
         "test_rmse": rmse(predict_linear(Zte, w, w0), yte)}
    row = row_summary("ridge", [r], time.perf_counter() - t0, None)
    row.update({"alpha": best, "alpha_at_grid_edge": best in (alphas[0], alphas[-1]),
                "cv_rmse": {f"{a:.3g}": math.sqrt(v) for a, v in zip(alphas, cv, strict=True)},
                "note": f"alpha by {folds}-fold CV on the training set (fold seed {seed}); "
                        "deterministic given alpha: one fit, std 0"})
    log(f"-- {LABELS['ridge']}: alpha {best:.3g} (CV RMSE {math.sqrt(cv.min()):.3f}); "
        f"train {r['train_rmse']:.3f} test {r['test_rmse']:.3f}")
    return row
