"""fit's validation numbers are the returned model's, and a call of fit or evaluate that fails on
bad input changes nothing (every input is checked before the first forward)."""

import numpy as np
import pytest

import slaf_np as sn
from slaf_np.train import evaluate, fit
from slaf_np.train.optim import Adam


def _data(n=96, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, (n, 1)).astype(np.float32)
    return X, (np.sin(2 * X) + 0.1 * X ** 2).astype(np.float32)


def _slnn(seed=0, bn=False):
    rng = np.random.default_rng(seed)
    layers = [sn.Dense(1, 8, rng=rng, init="glorot"), sn.SLAF(8, degree=3, rng=rng)]
    if bn:
        layers.append(sn.BatchNorm(8))
    return sn.Sequential(*layers, sn.Dense(8, 1, rng=rng, init="glorot"))


def _state(model):
    return {f"{kind}:{k}": a.copy() for kind in ("params", "buffers")
            for k, a in getattr(model, kind).items()}


def _assert_unchanged(model, before):
    after = _state(model)
    assert after.keys() == before.keys()
    for k, a in before.items():
        np.testing.assert_array_equal(after[k], a, err_msg=k)


# -- the numbers fit records are the returned model's ----------------------------------------------
@pytest.mark.parametrize("keep", ["last", "best"])
def test_logged_validation_equals_evaluate_on_the_returned_model(keep):
    X, y = _data()
    Xv, yv = _data(48, seed=1)
    model = _slnn(bn=True)
    h = fit(model, X, y, "mse", Adam(model, lr=1e-2), epochs=6, batch_size=16, rng=0,
            validation=(Xv, yv), metric="rmse", keep=keep, verbose=False)
    i = -1 if keep == "last" else h.best_epoch - 1
    assert evaluate(model, Xv, yv, "mse", metric="rmse") == (h.val_loss[i], h.val_metric[i])
    # the statistics are the exact ones: recalibrating again changes nothing
    before = _state(model)
    sn.recalibrate(model, X)
    _assert_unchanged(model, before)


def test_calibrate_changes_buffers_only_never_the_weights():
    X, y = _data()
    Xv, yv = _data(48, seed=1)
    runs = {}
    for cal in (False, True):
        model = _slnn(bn=True)
        h = fit(model, X, y, "mse", Adam(model, lr=1e-2), epochs=5, batch_size=16, rng=0,
                validation=(Xv, yv), metric="rmse", eval_every=3, verbose=False, calibrate=cal)
        runs[cal] = (model, h)
    (old, h_old), (new, h_new) = runs[False], runs[True]
    for k, a in old.params.items():
        np.testing.assert_array_equal(new.params[k], a, err_msg=k)
    assert h_old.train_loss == h_new.train_loss
    # without calibration the running statistics lag: logged numbers differ from the exact ones
    assert h_old.val_metric != h_new.val_metric
    assert not np.array_equal(old.buffers["1.running_var"], new.buffers["1.running_var"])
    sn.recalibrate(old, X)
    for k, a in new.buffers.items():
        np.testing.assert_allclose(old.buffers[k], a, rtol=1e-6, err_msg=k)


def test_calibration_at_the_end_without_validation():
    X, y = _data()
    model = _slnn()
    fit(model, X, y, "mse", Adam(model, lr=1e-2), epochs=3, batch_size=16, rng=0, verbose=False)
    before = _state(model)
    sn.recalibrate(model, X)
    _assert_unchanged(model, before)


def test_resume_refuses_the_other_calibrate_setting(tmp_path):
    X, y = _data()
    ckpt = tmp_path / "run.npz"
    model = _slnn()
    fit(model, X, y, "mse", Adam(model), epochs=1, batch_size=16, rng=0, checkpoint=ckpt,
        verbose=False, calibrate=False)
    model = _slnn()
    with pytest.raises(ValueError, match=r"calibrate: None in the file, True now"):
        fit(model, X, y, "mse", Adam(model), epochs=2, batch_size=16, rng=0, checkpoint=ckpt,
            resume=True, verbose=False)


# -- a call that fails changes nothing -------------------------------------------------------------
def _classifier(seed=0):
    rng = np.random.default_rng(seed)
    return sn.Sequential(sn.Dense(2, 8, rng=rng), sn.BatchNorm(8), sn.SLAF(8, degree=2, rng=rng),
                         sn.Dense(8, 3, rng=rng))


def _blobs(n=60):
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, 2)).astype(np.float32), rng.integers(0, 3, n)


BAD_CLASSIFICATION = {
    "float labels": (lambda y: y.astype(np.float32), TypeError,
                     r"fit: y \(shape \(60,\), dtype float32\) does not suit "
                     r"loss='softmax_cross_entropy'.*labels must be integers.*y.astype"),
    "label out of range": (lambda y: np.where(np.arange(len(y)) == 7, 3, y), ValueError,
                           r"fit: y .*labels must be in \[0, 3\), got \[0, 3\]"),
    "negative label": (lambda y: np.where(np.arange(len(y)) == 7, -1, y), ValueError,
                       r"labels must be in \[0, 3\), got \[-1, 2\]"),
    "one-hot for labels": (lambda y: np.eye(3)[y], ValueError,
                           r"expected logits \(N, K\) and labels \(N,\)"),
    "too few labels": (lambda y: y[:-1], ValueError, r"fit: X has 60 samples, y has \(59,\)"),
    "strings": (lambda y: y.astype(str), TypeError, r"fit: y must hold numbers, got dtype <U"),
}


@pytest.mark.parametrize("case", sorted(BAD_CLASSIFICATION))
def test_bad_classification_targets_change_nothing(case):
    bad, error, match = BAD_CLASSIFICATION[case]
    X, y = _blobs()
    model = _classifier()
    before = _state(model)
    with pytest.raises(error, match=match):
        fit(model, X, bad(y), "softmax_cross_entropy", Adam(model), epochs=1, batch_size=16,
            rng=0, verbose=False)
    _assert_unchanged(model, before)


BAD_REGRESSION = {
    "NaN in y": (dict(y=lambda y: np.where(np.arange(len(y))[:, None] == 5, np.nan, y)),
                 ValueError, r"fit: y has non-finite values \(first at index \(5, 0\): nan\).*"
                             r"drop or fill"),
    "inf in validation y": (dict(yv=lambda y: np.where(np.arange(len(y))[:, None] == 2, np.inf,
                                                       y)),
                            ValueError, r"fit \(validation\): y has non-finite values"),
    "y of the wrong width": (dict(y=lambda y: np.repeat(y, 3, axis=1)), ValueError,
                             r"fit: y \(shape \(96, 3\).*outputs of shape \(N, 1\).*"
                             r"predictions have shape \(96, 1\), targets \(96, 3\)"),
    "accuracy on a continuous target": (dict(metric="accuracy"), ValueError,
                                        r"fit: metric='accuracy' needs class labels.*"
                                        r"use metric='rmse'"),
    "validation lengths differ": (dict(yv=lambda y: y[:-2]), ValueError,
                                  r"fit \(validation\): X has 48 samples, y has \(46,\)"),
    "bce target outside [0, 1]": (dict(loss="sigmoid_binary_cross_entropy"), ValueError,
                                  r"targets must be in \[0, 1\].*pass targets in \[0, 1\]"),
}


@pytest.mark.parametrize("case", sorted(BAD_REGRESSION))
def test_bad_regression_inputs_change_nothing(case):
    how, error, match = BAD_REGRESSION[case]
    X, y = _data()
    Xv, yv = _data(48, seed=1)
    model = _slnn(bn=True)
    before = _state(model)
    with pytest.raises(error, match=match):
        fit(model, X, how.get("y", lambda a: a)(y), how.get("loss", "mse"), Adam(model),
            epochs=1, batch_size=16, rng=0, metric=how.get("metric"),
            validation=(Xv, how.get("yv", lambda a: a)(yv)), verbose=False)
    _assert_unchanged(model, before)


def test_unwritable_checkpoint_is_refused_before_training(tmp_path):
    X, y = _data()
    model = _slnn(bn=True)
    before = _state(model)
    for path, match in ((tmp_path / "missing" / "run.npz", r"its folder .*missing.* does not "
                                                           r"exist; create it"),
                        (tmp_path, r"it is a directory; pass a file path such as")):
        with pytest.raises(ValueError, match=r"fit: checkpoint=.* cannot be written: " + match):
            fit(model, X, y, "mse", Adam(model), epochs=1, batch_size=16, rng=0,
                checkpoint=path, verbose=False)
        _assert_unchanged(model, before)
    assert list(tmp_path.iterdir()) == []  # the scratch file is removed


def test_evaluate_checks_targets_like_fit():
    X, y = _blobs()
    model = _classifier()
    with pytest.raises(TypeError, match=r"evaluate: y .*labels must be integers"):
        evaluate(model, X, y.astype(np.float64), "softmax_cross_entropy")
    Xr, yr = _data()
    with pytest.raises(ValueError, match=r"evaluate: metric='accuracy' needs class labels"):
        evaluate(_slnn(), Xr, yr, "mse", metric="accuracy")
    # labels that are 0/1 floats are fine for a single output
    evaluate(_slnn(), Xr, (yr > 0).astype(np.float32), "mse", metric="accuracy")


# -- one dtype policy ------------------------------------------------------------------------------
def test_float64_input_works_in_every_data_level_call_on_a_float32_model(tmp_path):
    pytest.importorskip("matplotlib")
    from slaf_np.plotting import plot_activations

    X32, y32 = _data()
    X, y = X32.astype(np.float64), y32.astype(np.float64)
    model = _slnn(bn=True)
    fit(model, X, y, "mse", Adam(model), epochs=1, batch_size=16, rng=0,
        validation=(X, y), verbose=False)
    sn.recalibrate(model, X)
    out = sn.predict(model, X)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(model(X), out)          # model(x) casts like predict
    assert evaluate(model, X, y, "mse") == evaluate(model, X32, y32, "mse")
    plot_activations(model, X, path=tmp_path / "act.png")
    assert model.dtype == np.float32 and all(
        a.dtype == np.float32 for d in (model.params, model.buffers) for a in d.values())
    # the layer protocol stays strict, and says how to cast
    with pytest.raises(TypeError, match=r"input dtype float64 does not match the layer's dtype "
                                        r"float32; cast the input"):
        model.forward(X)


def test_expand_needs_no_cast_and_leaves_the_model_alone():
    X32, _ = _data()
    model = _slnn()
    before = _state(model)
    poly = sn.expand(model)
    _assert_unchanged(model, before)
    assert model.dtype == np.float32
    np.testing.assert_allclose(poly(X32.astype(np.float64)), sn.predict(model, X32)[:, 0],
                               rtol=1e-4, atol=1e-5)


def test_fit_accepts_a_model_whose_untrained_evaluation_forward_overflows():
    """The target check takes the output shape without refusing a valid model: an untrained
    SLAF k = 7 network on raw inputs of radius 13 overflows float32 in evaluation mode (its
    running statistics are still 0 and 1), yet trains with batch statistics."""
    from slaf_np.nn.base import NonFiniteError

    rng = np.random.default_rng(0)
    model = sn.Sequential(sn.Dense(2, 20, rng=rng, init="glorot"), sn.SLAF(20, 7, rng=rng),
                          sn.Dense(20, 20, rng=rng, init="glorot"), sn.SLAF(20, 7, rng=rng),
                          sn.Dense(20, 1, rng=rng, init="glorot"))
    X = rng.uniform(-13, 13, (512, 2)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.float32)
    with pytest.raises(NonFiniteError), pytest.warns(RuntimeWarning, match="SLAF.*float32"):
        model.forward(X[:1])              # the overflow warning says why, before the error
    hist = sn.fit(model, X, y, "sigmoid_binary_cross_entropy", sn.Adam(model, lr=1e-3),
                  epochs=1, batch_size=256, rng=rng, verbose=False, calibrate=False)
    assert np.isfinite(hist.train_loss[0])
