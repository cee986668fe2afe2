"""The Boston experiment: its helpers checked against definitions, and the quick run end to end.

The generic pieces it uses are tested with their modules: ``CoupledPenalty`` in test_optim.py,
``lasso_working_set`` and ``ridge_cv`` in test_linear.py, ``single_thread`` in test_threads.py,
``fit(drop_last=, penalty=)`` in test_train.py."""

import json
import math

import numpy as np
import pytest

from slaf_np.experiments import boston as B
from slaf_np.experiments import boston_baselines as BB
from slaf_np.experiments import boston_report as BR
from slaf_np.nn import SLAF, Dense, Sequential
from slaf_np.train import TrainingDivergedError
from slaf_np.train.losses import mse
from slaf_np.train.optim import SGD, Adam
from slaf_np.train.penalties import CoupledPenalty


def _tiny_slnn(rng):
    return Sequential(Dense(3, 4, rng=rng, init="glorot", dtype=np.float64),
                      SLAF(4, 3, shared=True, rng=rng, dtype=np.float64),
                      Dense(4, 1, rng=rng, init="glorot", dtype=np.float64))


# ----------------------------------------------------------------------------- training loops
def test_train_network_drops_the_last_batch_and_records_curves():
    rng = np.random.default_rng(0)
    model = _tiny_slnn(rng)
    X, y = rng.standard_normal((10, 3)), rng.standard_normal(10)
    opt = SGD(model, lr=1e-2)
    c = B.train_network(model, ((X, y), (X[:4], y[:4])), opt, epochs=3, batch_size=4, rng=rng,
                        drop_last=True)
    assert opt.t == 3 * 2  # 10 rows, batch 4: two full batches per epoch, the 2 left are skipped
    assert len(c["train_rmse"]) == len(c["test_rmse"]) == 3
    assert all(math.isfinite(v) for v in c["train_rmse"] + c["test_rmse"])
    B.train_network(model, ((X, y), (X, y)), opt, epochs=1, batch_size=4, rng=rng)
    assert opt.t == 6 + 3


def test_train_network_raises_on_divergence():
    rng = np.random.default_rng(0)
    model = _tiny_slnn(rng)
    X, y = rng.standard_normal((8, 3)), rng.standard_normal(8)
    model.params["0.W"][0, 0] = np.inf  # the SLAF layer refuses the non-finite pre-activation
    with pytest.raises(TrainingDivergedError,
                       match="epoch 1/1.*non-finite values inside the network"):
        B.train_network(model, ((X, y), (X, y)), SGD(model, lr=1e-2), epochs=1, batch_size=8,
                        rng=rng)


def test_lr_sgd_epochs_equals_gathered_batches():
    """The gather-free linear step equals Dense.forward/backward on the gathered batch."""
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((11, 7)), rng.standard_normal(11)
    a, b = (Dense(7, 1, rng=5, init="glorot", dtype=np.float64) for _ in range(2))
    pen = CoupledPenalty({"W": (0.01, 0.0)})
    opt_a, opt_b = Adam(a, lr=1e-2, eps=1e-8), Adam(b, lr=1e-2, eps=1e-8)
    BB.lr_sgd_epochs(X, y, X[:3], y[:3], a, opt_a, pen, epochs=2, batch_size=4,
                    rng=np.random.default_rng(9))
    r2 = np.random.default_rng(9)
    for _ in range(2):
        perm = r2.permutation(11)
        for s in range(0, 11, 4):
            idx = perm[s:s + 4]
            opt_b.zero_grad()
            _, dout = mse(b.forward(X[idx], training=True), y[idx, None])
            b.backward(dout)
            pen.add_gradients(b)
            opt_b.step()
    for k in ("W", "b"):
        np.testing.assert_allclose(a.params[k], b.params[k], rtol=1e-12, atol=1e-14)


# ------------------------------------------------------------------------------ features
def test_monomial_features_are_standardised_without_bias():
    rng = np.random.default_rng(0)
    xtr, xte = rng.uniform(1, 5, (20, 3)), rng.uniform(1, 5, (6, 3))
    Z, Zte, n_const = BB.monomial_features(xtr, xte, 2)
    assert Z.shape == (20, 9) and Zte.shape == (6, 9) and n_const == 0  # C(5, 2) - 1
    np.testing.assert_allclose(Z.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(Z.std(axis=0), 1, rtol=1e-12)
    # column 3 + 1 = x1^2 in graded order, standardised with the training statistics
    raw = xtr[:, 0] ** 2
    np.testing.assert_allclose(Zte[:, 3], (xte[:, 0] ** 2 - raw.mean()) / raw.std(), rtol=1e-10)


# ------------------------------------------------------------------------------ the curves figure
def _curve(test, train=None):
    train = [2.0] * len(test) if train is None else train
    return {f"{k}_{stat}": list(v) for k, v in (("train_rmse", train), ("test_rmse", test))
            for stat in ("mean", "min", "max")}


def test_robust_ylim_cuts_only_epochs_that_would_squash_the_axis():
    test = [1e4] + [5.0 - 0.01 * i for i in range(199)]      # the SLNN's first test epoch
    lo, hi, clipped = BR.robust_ylim(_curve(test), extra=(2.09, 3.98))
    assert 5.0 < hi < 100 and lo < 2.0
    assert clipped == [("test", 1e4, 1)]
    spiky = [5.0] * 150 + [40.0] * 50                          # high, but a quarter of the run
    lo, hi, clipped = BR.robust_ylim(_curve(spiky))
    assert hi >= 40.0 and clipped == []


def test_curves_figure_labels_its_reference_lines_and_says_what_it_cut(tmp_path):
    test = [1e4] + [5.0] * 29
    rows = {"slnn": {"label": "SLNN", "paper_train": 2.09, "paper_test": 3.98,
                     "seeds": [0, 1], "n_diverged": 0}}
    fig = BR.curves_figure({"slnn": _curve(test)}, rows, tmp_path / "c.png", lr_drop_epoch=20)
    ax = fig.axes[0]
    labels = {line.get_label(): line for line in ax.lines}
    assert list(labels["lr drop after epoch 20"].get_xdata()) == [20.5, 20.5]  # 1-based epochs
    assert list(labels["paper train 2.09"].get_ydata()) == [2.09, 2.09]
    assert "paper test 3.98" in [t.get_text() for t in ax.get_legend().get_texts()]
    assert ax.get_ylim()[1] < 100                               # the 1e4 epoch does not squash
    assert "test up to 1e+04 (epoch 1)" in ax.get_title() and "cut" in ax.get_ylabel()


# ------------------------------------------------------------------------------ the quick run
@pytest.mark.data
def test_quick_run_writes_every_row(tmp_path):
    from slaf_np import experiments
    from slaf_np.datasets import DataUnavailable, load_boston

    try:
        load_boston()
    except DataUnavailable as e:  # only out of reach skips: a broken reader or cache fails here
        pytest.skip(f"Boston data unavailable: {e}")
    experiments.get("boston").run(quick=True, out=tmp_path, verbose=False)
    rec = json.loads((tmp_path / "boston.json").read_text())
    md = (tmp_path / "boston.md").read_text()
    assert (tmp_path / "boston_curves.png").stat().st_size > 10_000
    assert set(rec["rows"]) == set(BR.ORDER)
    for kind in BR.ORDER:
        row = rec["rows"][kind]
        assert row["label"] in md
        for key in ("train_rmse_mean", "test_rmse_mean", "train_rmse_std", "test_rmse_std"):
            assert math.isfinite(row[key]), (kind, key)
        assert row["n_diverged"] == 0 and row["seconds"] >= 0
    for kind in ("nn", "slnn", "lr_sgd"):
        c = rec["curves"][kind]
        assert len(c["test_rmse_mean"]) == rec["config"]["epochs"]
        assert math.isfinite(rec["rows"][kind]["runs"][0]["train_rmse"])
    assert rec["rows"]["lls_converged"]["converged"]
    assert rec["rows"]["lls_authors"]["sweeps"] <= 50
    e = rec["expand"]
    assert e["degree"] == 8 and e["n_terms"] == 203_490
    assert e["max_rel_diff_vs_float64_net"] < 1e-8
    assert set(rec["discussion"]) >= {"nn", "slnn", "lr_sgd", "lls", "ridge"}
