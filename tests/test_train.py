"""The training loop: determinism, learning, the divergence guard and checkpoints, keep="best",
schedules, evaluation in batches, metrics, progress output and argument errors."""

import json

import numpy as np
import pytest

from slaf_np.nn import BatchNorm, Dense, Dropout, ReLU, Sequential, Tanh, io
from slaf_np.train import (
    History,
    TrainingDivergedError,
    accuracy,
    evaluate,
    fit,
    predict,
    rmse,
)
from slaf_np.train.callbacks import Callback
from slaf_np.train.losses import mse
from slaf_np.train.optim import SGD, Adam, StepSchedule


def _xor(n=256, seed=0):
    """Four Gaussian blobs with XOR labels (not linearly separable)."""
    rng = np.random.default_rng(seed)
    signs = rng.choice([-1.0, 1.0], size=(n, 2))
    X = (signs + 0.25 * rng.standard_normal((n, 2))).astype(np.float32)
    y = (signs[:, 0] * signs[:, 1] > 0).astype(np.int64)
    return X, y


def _net(seed, d=2, out=2, dropout=True):
    rng = np.random.default_rng(seed)
    layers = [Dense(d, 16, rng=rng), BatchNorm(16), ReLU()]
    if dropout:
        layers.append(Dropout(0.1, rng=rng))
    return Sequential(*layers, Dense(16, out, rng=rng))


def _regression(n=64, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, (n, 2)).astype(np.float32)
    return X, (X[:, :1] * 2 - X[:, 1:]).astype(np.float32)


def _weights(model):
    return {k: v.copy() for d in (model.params, model.buffers) for k, v in d.items()}


# -- determinism and learning ---------------------------------------------------------------------
def test_same_seed_same_history_and_weights():
    X, y = _xor(128)

    def run():
        model = _net(3)
        hist = fit(model, X, y, "softmax_cross_entropy", Adam(model, lr=1e-2), epochs=3,
                   batch_size=32, validation=(X[:40], y[:40]), rng=np.random.default_rng(7),
                   metric="accuracy", eval_every=2, verbose=False)
        return hist, model

    (h1, m1), (h2, m2) = run(), run()
    d1, d2 = h1.to_dict(), h2.to_dict()
    d1.pop("seconds"), d2.pop("seconds")
    assert d1 == d2
    w1, w2 = _weights(m1), _weights(m2)
    for k in w1:
        np.testing.assert_array_equal(w1[k], w2[k])


def test_learns_xor():
    X, y = _xor(512)
    Xv, yv = _xor(256, seed=1)
    model = _net(0, dropout=False)
    hist = fit(model, X, y, "softmax_cross_entropy", Adam(model, lr=1e-2), epochs=15,
               batch_size=32, validation=(Xv, yv), rng=np.random.default_rng(0),
               metric="accuracy", verbose=False)
    assert hist.train_loss[-1] < 0.1 < hist.train_loss[0]
    assert hist.val_metric[-1] >= 0.97
    assert evaluate(model, Xv, yv, "softmax_cross_entropy", metric="accuracy")[1] >= 0.97


def test_learns_sin_regression():
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, (512, 1)).astype(np.float32)
    y = np.sin(2 * X).astype(np.float32)
    model = Sequential(Dense(1, 32, rng=rng, init="glorot"), Tanh(),
                       Dense(32, 1, rng=rng, init="glorot"))
    hist = fit(model, X, y, "mse", Adam(model, lr=1e-2), epochs=40, batch_size=32, rng=rng,
               metric="rmse", verbose=False)
    assert hist.train_loss[-1] < 0.01  # mean squared error of sin(2x) on [-2, 2]
    assert hist.train_metric[-1] == pytest.approx(np.sqrt(hist.train_loss[-1]), rel=1e-5)


# -- the divergence guard ----------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_huge_learning_rate_raises_and_restores_finite_weights():
    X, y = _regression()
    model = Sequential(Dense(2, 8, rng=0), Tanh(), Dense(8, 1, rng=1))
    start = _weights(model)
    with pytest.raises(TrainingDivergedError,
                       match=r"fit: training diverged at epoch 1/5, step \d+/4 "
                             r"\(iteration \d+\): loss (nan|inf)"):
        fit(model, X, y, "mse", SGD(model, lr=1e10), epochs=5, batch_size=16, rng=0,
            verbose=False)
    for k, v in _weights(model).items():
        assert np.isfinite(v).all()
        np.testing.assert_array_equal(v, start[k])  # no finite epoch yet: the initial weights


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_overflow_inside_the_network_is_a_divergence():
    """A ReLU net does not saturate: the weights overflow and a layer sees inf before the loss."""
    X, y = _regression()
    X = X * 1e3
    model = Sequential(Dense(2, 64, rng=0), ReLU(), Dense(64, 64, rng=1), ReLU(),
                       Dense(64, 1, rng=2))
    with pytest.raises(TrainingDivergedError, match=r"fit: training diverged at epoch 1/3, step "
                                                    r"2/4 \(iteration 2\): non-finite values "
                                                    r"inside the network \(ReLU\.forward"):
        fit(model, X, y, "mse", SGD(model, lr=1e20), epochs=3, batch_size=16, rng=0,
            verbose=False)
    assert all(np.isfinite(v).all() for v in model.params.values())


def test_non_finite_data_is_not_a_divergence():
    X, y = _regression()
    X[5, 1] = np.nan
    model = Sequential(Dense(2, 1, rng=0))
    with pytest.raises(ValueError, match=r"fit: X has non-finite values \(first at index "
                                         r"\(5, 1\): nan\)") as info:
        fit(model, X, y, "mse", SGD(model, lr=0.1), epochs=1, batch_size=16, verbose=False)
    assert not isinstance(info.value, TrainingDivergedError)
    with pytest.raises(ValueError, match=r"predict: X has non-finite values"):
        predict(model, X)


def test_nan_loss_at_step_k_keeps_last_good_epoch_and_checkpoint(tmp_path):
    X, y = _regression()  # 64 samples, batch 16: 4 steps per epoch
    calls = []

    def flaky_mse(pred, target):
        calls.append(1)
        if len(calls) == 11:  # iteration 11 = epoch 3, step 3
            return float("nan"), np.zeros_like(pred)
        return mse(pred, target)

    model = Sequential(Dense(2, 8, rng=0), Tanh(), Dense(8, 1, rng=1))
    ckpt = tmp_path / "model.npz"
    seen = {}

    def remember(info):
        seen[info["epoch"]] = (_weights(info["model"]), ckpt.read_bytes())

    with pytest.raises(TrainingDivergedError,
                       match=r"epoch 3/6, step 3/4 \(iteration 11\): loss nan; weights restored "
                             r"to the end of epoch 2; checkpoint .*model\.npz holds the last good"):
        fit(model, X, y, flaky_mse, Adam(model, lr=1e-2), epochs=6, batch_size=16, rng=0,
            checkpoint=ckpt, callbacks=[remember], verbose=False)
    good, good_bytes = seen[2]
    for k, v in _weights(model).items():
        np.testing.assert_array_equal(v, good[k])
    assert ckpt.read_bytes() == good_bytes
    saved, extra = io.load(ckpt, with_extra=True)
    assert extra["epoch"] == 2 and extra["iteration"] == 8
    for k, v in saved.params.items():
        np.testing.assert_array_equal(v, model.params[k])
    assert list(tmp_path.iterdir()) == [ckpt]  # no temporary files left behind


def test_divergence_with_keep_best_restores_best(tmp_path):
    X, y = _regression()
    calls = []

    def flaky_mse(pred, target):
        calls.append(1)
        return (float("inf"), np.zeros_like(pred)) if len(calls) == 14 else mse(pred, target)

    model = Sequential(Dense(2, 8, rng=0), Tanh(), Dense(8, 1, rng=1))
    snaps = {}
    with pytest.raises(TrainingDivergedError, match=r"loss inf; weights restored to the best "
                                                    r"epoch \((\d)\)"):
        fit(model, X, y, flaky_mse, SGD(model, lr=0.05), epochs=5, batch_size=16, rng=0,
            validation=(X, y), keep="best", verbose=False,
            callbacks=[lambda info: snaps.__setitem__(info["epoch"], _weights(info["model"]))])
    best = min(snaps, key=lambda e: evaluate_on(snaps[e], X, y))
    for k, v in _weights(model).items():
        np.testing.assert_array_equal(v, snaps[best][k])


def evaluate_on(weights, X, y):
    model = Sequential(Dense(2, 8, rng=0), Tanh(), Dense(8, 1, rng=1))
    for k, v in weights.items():
        model.params[k][...] = v
    return evaluate(model, X, y, "mse")[0]


# -- keep="best", checkpoints, schedules, eval_every -----------------------------------------------
def test_keep_best_restores_the_best_validation_epoch(tmp_path):
    X, y = _xor(256)
    Xv, yv = _xor(64, seed=5)
    model = _net(1)
    snaps = []
    hist = fit(model, X, y, "softmax_cross_entropy", SGD(model, lr=0.3, momentum=0.9), epochs=6,
               batch_size=16, validation=(Xv, yv), rng=0, metric="accuracy", keep="best",
               checkpoint=tmp_path / "best.npz", verbose=False,
               callbacks=[lambda info: snaps.append(_weights(info["model"]))])
    best = int(np.argmax(hist.val_metric))  # the first of equal maxima
    assert hist.best_epoch == best + 1
    for k, v in _weights(model).items():
        np.testing.assert_array_equal(v, snaps[best][k])
    _, extra = io.load(tmp_path / "best.npz", with_extra=True)
    assert extra["epoch"] == best + 1
    assert extra["optimizer"]["type"] == "SGD" and extra["optimizer"]["t"] == 16 * (best + 1)


def test_schedules_per_iteration_and_per_epoch():
    X, y = _regression()  # 4 steps per epoch
    model = Sequential(Dense(2, 1, rng=0))
    hist = fit(model, X, y, "mse", SGD(model, lr=0.1), epochs=3, batch_size=16, rng=0,
               schedule=StepSchedule([(0, 0.1), (6, 0.01), (8, 0.001)]), verbose=False)
    # the lr of an epoch's last step: iterations 3, 7 and 11 (counted from 0)
    assert hist.lr == [0.1, 0.01, 0.001]
    model = Sequential(Dense(2, 1, rng=0))
    opt = Adam(model, lr=1e-2, groups=[{"match": lambda k, p: k.endswith("b"), "lr": 5e-2}])
    hist = fit(model, X, y, "mse", opt, epochs=3, batch_size=16, rng=0, verbose=False,
               schedule=StepSchedule([(0, 1e-2), (2, 1e-3)], unit="epoch"))
    assert hist.lr == [1e-2, 1e-2, 1e-3]
    assert opt.groups[0]["lr"] * opt.lr_scale == pytest.approx(5e-3)


def test_eval_every_records_iterations():
    X, y = _xor(128)
    model = _net(0)
    hist = fit(model, X, y, "softmax_cross_entropy", Adam(model, lr=1e-2), epochs=2,
               batch_size=32, validation=(X, y), metric="accuracy", eval_every=3, rng=0,
               verbose=False)
    assert [i for i, _ in hist.evals] == [3, 6]
    assert all(0 <= a <= 1 for _, a in hist.evals)
    assert hist.iterations == 8


def test_callback_stops_early():
    X, y = _regression()
    model = Sequential(Dense(2, 1, rng=0))
    hist = fit(model, X, y, "mse", SGD(model, lr=0.1), epochs=10, batch_size=16, rng=0,
               verbose=False, callbacks=[lambda info: info["epoch"] == 2])
    assert len(hist.train_loss) == 2


# -- evaluation, prediction and metrics ------------------------------------------------------------
def test_evaluate_and_predict_in_batches_equal_full_batch():
    X, y = _xor(100)
    model = _net(0)
    model.forward(X, training=True)  # move the running statistics off their initial values
    full = model.forward(X, training=False)
    np.testing.assert_array_equal(predict(model, X, batch_size=7), full)
    loss7, acc7 = evaluate(model, X, y, "softmax_cross_entropy", metric="accuracy", batch_size=7)
    loss, acc = evaluate(model, X, y, "softmax_cross_entropy", metric="accuracy", batch_size=1000)
    assert loss7 == pytest.approx(loss, rel=1e-6) and acc7 == acc
    assert acc == accuracy(full, y)


def test_metrics():
    logits = np.array([[2.0, 1.0, 0.0], [0.0, 1.0, 3.0], [1.0, 0.0, 0.0], [0.0, 2.0, 1.0]])
    assert accuracy(logits, np.array([0, 2, 1, 1])) == 0.75
    assert accuracy(logits, np.eye(3)[[0, 2, 1, 1]]) == 0.75  # one-hot targets
    binary = np.array([[0.5], [-1.0], [2.0], [-0.1]])
    assert accuracy(binary, np.array([1, 0, 0, 0])) == 0.75  # logit > 0 means class 1
    assert rmse(np.array([[1.0], [3.0]]), np.array([0.0, 0.0])) == pytest.approx(np.sqrt(5))
    with pytest.raises(ValueError, match=r"accuracy: logits have shape \(4, 3\), targets \(3,\)"):
        accuracy(logits, np.array([0, 1, 2]))


def test_callable_metric_and_rmse_aggregate_over_batches():
    X, y = _regression(50)
    model = Sequential(Dense(2, 1, rng=0))
    model_out = model.forward(X)
    _, r = evaluate(model, X, y, "mse", metric="rmse", batch_size=7)
    assert r == pytest.approx(rmse(model_out, y), rel=1e-6)  # not a mean of batch RMSEs

    def mae(pred, target):
        return float(np.mean(np.abs(pred - target)))

    _, m = evaluate(model, X, y, "mse", metric=mae, batch_size=7)
    assert m == pytest.approx(mae(model_out, y), rel=1e-6)


def test_dtypes_are_cast_to_the_model():
    X, y = _regression()
    model64 = Sequential(Dense(2, 1, rng=0, dtype=np.float64))
    fit(model64, X, y, "mse", SGD(model64, lr=0.1), epochs=1, batch_size=16, rng=0,
        verbose=False)
    assert predict(model64, X).dtype == np.float64
    model32 = Sequential(Dense(2, 1, rng=0))
    fit(model32, X.astype(np.float64), y.astype(np.float64), "mse", SGD(model32, lr=0.1),
        epochs=1, batch_size=16, rng=0, verbose=False)
    assert model32.params["0.W"].dtype == np.float32


# -- history and output ----------------------------------------------------------------------------
def test_history_to_dict_is_json():
    X, y = _xor(64)
    model = _net(0)
    hist = fit(model, X, y, "softmax_cross_entropy", Adam(model), epochs=2, batch_size=32,
               validation=(X, y), metric="accuracy", eval_every=1, rng=0, verbose=False)
    d = json.loads(json.dumps(hist.to_dict()))
    assert set(d) >= {"train_loss", "train_metric", "val_loss", "val_metric", "seconds", "lr",
                      "evals"}
    assert len(d["train_loss"]) == len(d["seconds"]) == 2 and d["metric"] == "accuracy"
    assert isinstance(hist, History)


def test_one_progress_line_per_epoch(capsys):
    X, y = _xor(64)
    model = _net(0)
    fit(model, X, y, "softmax_cross_entropy", Adam(model), epochs=3, batch_size=32,
        validation=(X, y), metric="accuracy", rng=0)
    out = capsys.readouterr().out
    lines = out.strip().splitlines()
    assert len(lines) == 3 and "\r" not in out  # no live bar: stdout is not a terminal
    assert lines[0].startswith("epoch 1/3  loss ")
    for word in ("accuracy", "val_loss", "val_accuracy", "lr 0.001", "s"):
        assert word in lines[2]


# -- argument errors -------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, pattern", [
    ({"keep": "best"}, r"fit: keep='best' / eval_every=None need validation data"),
    ({"keep": "first"}, r"fit: keep must be 'last', 'best' or None, got 'first'"),
    ({"epochs": 0}, r"fit: epochs must be an integer >= 1, got 0"),
    ({"batch_size": 2.5}, r"fit: batch_size must be an integer >= 1, got 2\.5"),
    ({"metric": "auc"}, r"metric must be 'accuracy', 'rmse', a callable"),
    ({"loss": "hinge"}, r"unknown loss 'hinge'"),
])
def test_fit_argument_errors(kwargs, pattern):
    X, y = _regression()
    model = Sequential(Dense(2, 1, rng=0))
    args = {"loss": "mse", "epochs": 1, "batch_size": 16, **kwargs}
    with pytest.raises(ValueError, match=pattern):
        fit(model, X, y, args.pop("loss"), SGD(model, lr=0.1), verbose=False, **args)


def test_fit_sample_mismatch():
    model = Sequential(Dense(2, 1, rng=0))
    with pytest.raises(ValueError, match=r"fit: X has 4 samples, y has \(3,\) \(shapes \(4, 2\) "
                                         r"and \(3,\)\)"):
        fit(model, np.zeros((4, 2)), np.zeros(3), "mse", SGD(model, lr=0.1), epochs=1,
            batch_size=2, verbose=False)


# -- drop_last and the gradient hook (penalty) -------------------------------------------------
def _manual_epochs(model, opt, X, y, epochs, batch_size, rng, drop_last, penalty):
    """fit's epoch written out: shuffle, full batches only with drop_last, penalty before step."""
    n = len(X)
    stop = n - n % batch_size if drop_last else n
    losses = []
    for _ in range(epochs):
        perm = rng.permutation(n)
        total = 0.0
        for a in range(0, stop, batch_size):
            idx = perm[a:min(a + batch_size, stop)]
            opt.zero_grad()
            value, dout = mse(model.forward(X[idx], training=True), y[idx])
            model.backward(dout)
            if penalty is not None:
                penalty(model)
            opt.step()
            total += value * len(idx)
        losses.append(total / stop)
    return losses


@pytest.mark.parametrize("drop_last", [False, True])
def test_drop_last_and_penalty_equal_the_written_out_loop(drop_last):
    from slaf_np.train.optim import CoupledPenalty

    rng = np.random.default_rng(4)
    X, y = rng.standard_normal((10, 3)), rng.standard_normal((10, 1))

    def make():
        r = np.random.default_rng(1)
        m = Sequential(Dense(3, 5, rng=r, dtype=np.float64), Tanh(),
                       Dense(5, 1, rng=r, dtype=np.float64))
        return m, Adam(m, lr=1e-2)

    pen = CoupledPenalty({"0.W": (0.01, 0.1), "2.W": (0.05, 0.0)})
    a, opt_a = make()
    hist = fit(a, X, y, "mse", opt_a, epochs=3, batch_size=4, rng=7, verbose=False, keep=None,
               drop_last=drop_last, penalty=pen)
    b, opt_b = make()
    losses = _manual_epochs(b, opt_b, X, y, 3, 4, np.random.default_rng(7), drop_last, pen)
    assert opt_a.t == 3 * (2 if drop_last else 3)  # 10 rows, batch 4: the 2 left are skipped
    assert hist.iterations == opt_a.t
    np.testing.assert_array_equal(hist.train_loss, losses)
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])


def test_penalty_changes_the_step_and_must_be_callable():
    from slaf_np.train.optim import CoupledPenalty

    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((8, 2)), rng.standard_normal((8, 1))
    models = [Dense(2, 1, rng=3, dtype=np.float64) for _ in range(2)]
    W0 = models[0].params["W"].copy()
    for m, pen in zip(models, (None, CoupledPenalty({"W": (0.0, 1.0)})), strict=True):
        fit(m, X, y, "mse", SGD(m, lr=0.1), epochs=1, batch_size=8, rng=0, verbose=False,
            penalty=pen)
    # one full-batch SGD step: the penalty adds lr * 2 l2 W0 to the plain step
    np.testing.assert_allclose(models[1].params["W"], models[0].params["W"] - 0.1 * 2 * W0,
                               rtol=1e-12)
    with pytest.raises(TypeError, match="penalty must be callable"):
        fit(models[0], X, y, "mse", SGD(models[0], lr=0.1), epochs=1, batch_size=8,
            verbose=False, penalty=0.1)


def test_drop_last_with_fewer_rows_than_a_batch_uses_them_all():
    X, y = np.random.default_rng(0).standard_normal((3, 2)), np.zeros((3, 1))
    m = Dense(2, 1, rng=0, dtype=np.float64)
    opt = SGD(m, lr=0.1)
    fit(m, X, y, "mse", opt, epochs=2, batch_size=8, rng=0, verbose=False, drop_last=True)
    assert opt.t == 2


# -- the divergence guard for a non-finite weight or running statistic under a finite loss ---------
class _Poison(Callback):
    """Writes inf into ``key`` (a parameter or a buffer) after ``iteration``: the running
    statistics are not used by training forwards and the write comes after the step, so every
    batch loss stays finite."""

    def __init__(self, kind, key, iteration):
        self.kind, self.key, self.iteration = kind, key, iteration

    def on_batch_end(self, run):
        if run.iteration == self.iteration:
            getattr(run.model, self.kind)[self.key][0] = np.inf


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize("kind,key", [("buffers", "1.running_var"), ("params", "3.W")])
@pytest.mark.parametrize("checkpoint", [False, True])
def test_a_non_finite_weight_or_statistic_stops_training(tmp_path, kind, key, checkpoint):
    """inf written at the last step of epoch 2: fit raises at the end of that epoch, restores the
    weights of epoch 1 and never writes the inf to the checkpoint. Catches an end-of-epoch check
    left out, or one (fit's or the checkpoint's) that looks at the parameters only."""
    X, y = _regression()  # 64 samples, batch 16: 4 steps per epoch
    model = Sequential(Dense(2, 8, rng=0), BatchNorm(8), Tanh(), Dense(8, 1, rng=1))
    seen = {}

    def remember(info):
        seen[info["epoch"]] = _weights(info["model"])

    path = tmp_path / "run.npz" if checkpoint else None
    with pytest.raises(TrainingDivergedError,
                       match=r"epoch 2/4, step 4/4 \(iteration 8\): a weight or running statistic "
                             r"became non-finite; weights restored to the end of epoch 1"):
        fit(model, X, y, "mse", Adam(model, lr=1e-2), epochs=4, batch_size=16, rng=0,
            checkpoint=path, verbose=False, calibrate=False,
            callbacks=[_Poison(kind, key, 8), remember])
    for k, v in _weights(model).items():
        np.testing.assert_array_equal(v, seen[1][k], err_msg=k)
    if checkpoint:
        saved, extra = io.load(path, with_extra=True)
        assert extra["iteration"] == 4
        for d in (saved.params, saved.buffers):
            assert all(np.isfinite(v).all() for v in d.values())


def test_non_finite_gradients_under_clipping_stop_training_as_a_divergence():
    """With clip_norm, NaN gradients under a finite loss make the optimiser refuse the step
    (FloatingPointError); fit reports it as a divergence, naming the epoch, with the weights
    restored, not as a bare FloatingPointError."""
    from slaf_np.nn import Dense, Sequential
    from slaf_np.train.optim import Adam

    rng = np.random.default_rng(0)
    model = Sequential(Dense(3, 4, rng=rng), Dense(4, 1, rng=rng))
    X, y = rng.standard_normal((16, 3)), rng.standard_normal(16)
    before = {k: v.copy() for k, v in model.params.items()}

    def poison(m):
        m.grads["0.W"][0, 0] = np.nan

    with pytest.raises(TrainingDivergedError, match="epoch 1"):
        fit(model, X, y, "mse", Adam(model, lr=1e-2, clip_norm=1.0), epochs=1, batch_size=8,
            rng=rng, verbose=False, penalty=poison)
    for k, v in model.params.items():
        np.testing.assert_array_equal(v, before[k])
