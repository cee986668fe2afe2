"""Recalibration: exact population statistics, layer by layer, through the layers' public
``calibrate`` hook and the containers' ``input_of``."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import SCALINGS, scale_layer, seeds

from slaf_np.nn import BatchNorm, Dense, MaxScale, Residual, Sequential
from slaf_np.nn.slaf import SLAF
from slaf_np.train.calibration import recalibrate, statistic_layers
from slaf_np.train.losses import mse

F64 = np.float64


def _buffers(model):
    return {k: v.copy() for k, v in model.buffers.items()}


@settings(max_examples=15)
@given(scaling=st.sampled_from(SCALINGS), basis=st.sampled_from(["power", "fourier"]),
       conv=st.booleans(), batch_size=st.integers(1, 200), seed=seeds)
def test_single_slaf_eval_equals_full_batch_training(scaling, basis, conv, batch_size, seed):
    """After recalibrate, evaluation on X equals training on X as one batch, for any batch size:
    a SLAF alone or behind a routine's scaling layer (whose statistics are recalibrated first)."""
    rng = np.random.default_rng(seed)
    X = 1.0 + 2.0 * rng.standard_normal((150, 3, 2, 2) if conv else (150, 3))
    layer = SLAF(3, 4, basis=basis, gate=True, rng=seed, dtype=F64)
    front = scale_layer(scaling, 3, seed)
    model = layer if front is None else Sequential(front, layer)
    model.forward(rng.standard_normal(X.shape), training=True)        # stale statistics
    recalibrate(model, X, batch_size=batch_size)
    y_eval = model.forward(X)
    y_train = model.forward(X, training=True)
    np.testing.assert_allclose(y_eval, y_train, rtol=1e-9, atol=1e-9)


def test_batchnorm_is_recalibrated():
    rng = np.random.default_rng(0)
    X = 3 + rng.standard_normal((100, 4, 3, 3))
    bn = BatchNorm(4, dtype=F64)
    recalibrate(bn, X, batch_size=7)
    np.testing.assert_allclose(bn.buffers["running_mean"], X.mean(axis=(0, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(bn.buffers["running_var"], X.var(axis=(0, 2, 3)), rtol=1e-12)


def _network(rng_seed=0):
    return Sequential(
        Dense(2, 8, rng=rng_seed, init="glorot", dtype=F64),
        BatchNorm(8, dtype=F64),
        SLAF(8, 4, rng=rng_seed + 1, dtype=F64),
        Residual(Dense(8, 8, rng=rng_seed + 2, init="glorot", dtype=F64),
                 MaxScale(8, dtype=F64), SLAF(8, 2, rng=rng_seed + 3, dtype=F64)),
        BatchNorm(8, dtype=F64),
        SLAF(8, 3, normalize=False, rng=rng_seed + 4, dtype=F64),
        Dense(8, 1, rng=rng_seed + 5, init="glorot", dtype=F64))


def test_statistic_layers_in_forward_order():
    model = _network()
    names = [type(m).__name__ for m in statistic_layers(model)]
    assert names == ["BatchNorm", "SLAF", "MaxScale", "SLAF", "BatchNorm", "SLAF"]
    assert statistic_layers(model)[3] is model.layers[3].body.layers[2]


def test_input_of_runs_the_prefix_only():
    """Sequential.input_of gives the evaluation-mode input of a nested layer; the layers after it
    do not run (their caches stay empty); a layer outside the model is an error."""
    rng = np.random.default_rng(0)
    model, X = _network(), rng.standard_normal((10, 2))
    inner = model.layers[3].body.layers[2]                     # the SLAF inside the Residual
    h = model.layers[2].forward(model.layers[1].forward(model.layers[0].forward(X)))
    expected = model.layers[3].body.layers[1].forward(model.layers[3].body.layers[0].forward(h))
    np.testing.assert_array_equal(model.input_of(inner, X), expected)
    assert model.layers[4]._cache is None and model.layers[5]._cache is None
    with pytest.raises(ValueError, match="Sequential.input_of: .*is not a layer of this model"):
        model.input_of(SLAF(8, 2), X)


def test_network_eval_equals_full_batch_training():
    """Layer by layer: each layer is measured on the input the recalibrated earlier layers give,
    so the whole network in evaluation equals its training-mode forward on X as one batch."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((300, 2))
    model = _network()
    for _ in range(3):  # stale statistics; batches of len(X) rows, so MaxScale's expected batch
        model.forward(rng.standard_normal((300, 2)), training=True)  # max is X's max
    recalibrate(model, X, batch_size=64)
    np.testing.assert_allclose(model.forward(X), model.forward(X, training=True), rtol=1e-9,
                               atol=1e-9)
    for m in statistic_layers(model):                     # the forwards are restored
        assert "forward" not in vars(m)


def test_recalibration_helps_a_trained_network():
    """A few hundred SGD steps with decay 0.99: the running statistics lag behind the weights.
    Recalibrating makes the evaluation-mode loss match the full-batch training-mode loss (here
    the evaluation MSE drops from 0.064 to 0.0228)."""
    rng = np.random.default_rng(2)
    X = rng.uniform(-2, 2, (512, 2))
    Y = np.sin(X[:, :1]) * X[:, 1:] + 0.1 * rng.standard_normal((512, 1))
    model = Sequential(Dense(2, 16, rng=0, init="glorot", dtype=F64),
                       SLAF(16, 4, rng=1, dtype=F64),
                       Dense(16, 1, rng=2, init="glorot", dtype=F64))
    for _ in range(300):
        idx = rng.integers(0, 512, 32)
        _, dy = mse(model.forward(X[idx], training=True), Y[idx])
        model.zero_grad()
        model.backward(dy)
        for key, p in model.params.items():
            p -= 0.02 * model.grads[key]
    before = mse(model.forward(X), Y)[0]
    recalibrate(model, X)
    after = mse(model.forward(X), Y)[0]
    full_batch = mse(model.forward(X, training=True), Y)[0]
    assert after <= before + 1e-12
    assert after == pytest.approx(full_batch, rel=1e-9)


def test_errors_and_restoration():
    layer = SLAF(3, 2, dtype=F64)
    with pytest.raises(ValueError, match="X is empty"):
        recalibrate(layer, np.zeros((0, 3)))
    with pytest.raises(ValueError, match="batch_size"):
        recalibrate(layer, np.zeros((4, 3)), batch_size=0)
    with pytest.raises(ValueError, match="expected 3 features"):
        recalibrate(Sequential(Dense(2, 4, dtype=F64), layer), np.zeros((4, 2)))
    assert "forward" not in vars(layer)                  # nothing patched, even on an error


def test_maxscale_calibrates_to_the_expected_batch_max():
    """MaxScale divides by the max over a training batch, so its evaluation statistic is the
    expected max over a random batch of that size, not the max over all the data. Oracle: the
    mean over every subset of that size (exhaustive enumeration on a small set)."""
    from itertools import combinations

    rng = np.random.default_rng(3)
    X = rng.standard_normal((9, 2, 2, 2))          # 9 samples, 2 channels, 2 x 2 pixels
    layer = MaxScale(2, dtype=F64)
    layer.forward(rng.standard_normal((4, 2, 2, 2)), training=True)   # batch_rows = 4
    assert layer.buffers["batch_rows"][0] == 4
    recalibrate(layer, X, batch_size=2)
    per_sample = np.abs(X).max(axis=(2, 3))        # (9, 2): the max over space first
    brute = np.mean([per_sample[list(c)].max(axis=0) for c in combinations(range(9), 4)], axis=0)
    np.testing.assert_allclose(layer.buffers["running_max"], brute, rtol=1e-12)
    assert np.all(brute < per_sample.max(axis=0))  # and it is not the global max here
    untrained = MaxScale(2, dtype=F64)             # never trained: the max over all the data
    recalibrate(untrained, X)
    np.testing.assert_allclose(untrained.buffers["running_max"], per_sample.max(axis=0))


def test_maxscale_records_the_largest_training_batch():
    layer = MaxScale(3, dtype=F64)
    rng = np.random.default_rng(4)
    for rows in (10, 10, 3):                       # the short last batch of an epoch
        layer.forward(rng.standard_normal((rows, 3)), training=True)
    layer.forward(rng.standard_normal((50, 3)))    # evaluation does not count
    assert layer.buffers["batch_rows"][0] == 10
