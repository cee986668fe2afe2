"""The gradient checker itself: tier 3 (whole model over the packed parameter vector), the negative
controls that must fail (a backward off by 1e-3 relative is caught by every tier), and its tools."""

import numpy as np
import pytest
from hypothesis import given

from slaf_np.gradcheck import (
    GradcheckError,
    check_directional,
    check_jacobian,
    check_model,
    numerical_jacobian,
    pack,
    unpack,
)
from slaf_np.nn import BatchNorm, Dense, Dropout, ReLU, Sequential, Tanh
from slaf_np.train.losses import mse, sigmoid_binary_cross_entropy, softmax_cross_entropy
from tests.strategies import seeds


class PerturbedDense(Dense):
    """A Dense layer whose backward is wrong by a relative 1e-3 (in dx, or in dW)."""

    def __init__(self, *args, where="dx", **kwargs):
        super().__init__(*args, **kwargs)
        self.where = where

    def backward(self, dy):
        before = self.grads["W"].copy()
        dx = super().backward(dy)
        if self.where == "dW":
            self.grads["W"] += 1e-3 * (self.grads["W"] - before)
            return dx
        return dx * (1 + 1e-3)


def _mlp(seed, width=5, d=3, out=3, dense=Dense, **kw):
    rng = np.random.default_rng(seed)
    return Sequential(dense(d, width, rng=rng, dtype=np.float64, **kw),
                      BatchNorm(width, dtype=np.float64), Tanh(),
                      Dense(width, out, rng=rng, dtype=np.float64))


def _data(seed, n=8, d=3, k=3):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)), rng.integers(0, k, n)


# -- tier 3: the whole model --------------------------------------------------------------------
@given(seeds)
def test_mlp_with_batchnorm_full(seed):
    model = _mlp(seed)
    X, y = _data(seed)
    before = {k: p.copy() for k, p in model.params.items()}
    res = check_model(model, X, y, softmax_cross_entropy)
    assert res.n_checked == model.n_params() == 3 * 5 + 5 + 2 * 5 + 5 * 3 + 3
    for k, p in model.params.items():  # the check leaves the parameters as it found them
        np.testing.assert_array_equal(p, before[k])


@pytest.mark.parametrize("training", [True, False], ids=["training", "evaluation"])
def test_mlp_regression_and_binary_full(training):
    X, _ = _data(1)
    y = np.random.default_rng(2).standard_normal((8, 1))
    check_model(_mlp(3, out=1), X, y, mse, training=training)
    check_model(_mlp(4, out=1), X, (y > 0).astype(float), sigmoid_binary_cross_entropy,
                training=training)


def test_larger_model_random_directions():
    rng = np.random.default_rng(0)
    model = Sequential(Dense(20, 64, rng=rng, dtype=np.float64), BatchNorm(64, dtype=np.float64),
                       ReLU(), Dense(64, 32, rng=rng, dtype=np.float64), Tanh(),
                       Dense(32, 10, rng=rng, dtype=np.float64))
    X = rng.standard_normal((64, 20))
    y = rng.integers(0, 10, 64)
    res = check_model(model, X, y, softmax_cross_entropy, rng=rng, n_directions=5)
    assert res.n_checked == 5


def test_check_model_restores_running_statistics():
    model = _mlp(0)
    X, y = _data(0)
    stats = {k: b.copy() for k, b in model.buffers.items()}
    check_model(model, X, y, softmax_cross_entropy)
    for k, b in model.buffers.items():
        np.testing.assert_array_equal(b, stats[k])


# -- negative controls: a backward off by 1e-3 relative must fail every tier --------------------
@pytest.mark.parametrize("where", ["dx", "dW"])
def test_negative_control_jacobian(where):
    layer = PerturbedDense(3, 2, rng=0, dtype=np.float64, where=where)
    x = np.random.default_rng(1).standard_normal((4, 3))
    label = "d y / d x" if where == "dx" else "d y / d W"
    with pytest.raises(GradcheckError, match=rf"PerturbedDense: {label}: gradient mismatch at "
                                             r"index \(\d+, \d+\): analytic .*, numeric"):
        check_jacobian(layer, x)


@pytest.mark.parametrize("where", ["dx", "dW"])
def test_negative_control_directional(where):
    layer = PerturbedDense(128, 64, rng=0, dtype=np.float64, where=where)
    x = np.random.default_rng(1).standard_normal((64, 128))
    with pytest.raises(GradcheckError, match=r"PerturbedDense: direction 0: gradient mismatch"):
        check_directional(layer, x, np.random.default_rng(2))


@pytest.mark.parametrize("n_directions", [None, 3], ids=["full", "directions"])
def test_negative_control_model(n_directions):
    # dW of the first layer is off: only the parameter gradient is wrong, dx is not even used
    model = _mlp(0, dense=PerturbedDense, where="dW")
    X, y = _data(0)
    with pytest.raises(GradcheckError, match=r"model: .*gradient mismatch"):
        check_model(model, X, y, softmax_cross_entropy, n_directions=n_directions,
                    rng=np.random.default_rng(0))
    # dx of the second Dense is off: caught through the first layer's parameters
    rng = np.random.default_rng(1)
    model = Sequential(Dense(3, 4, rng=rng, dtype=np.float64), Tanh(),
                       PerturbedDense(4, 3, rng=rng, dtype=np.float64))
    with pytest.raises(GradcheckError):
        check_model(model, X, y, softmax_cross_entropy, n_directions=n_directions,
                    rng=np.random.default_rng(0))


def test_unperturbed_control_passes():
    """The same set-up as the negative controls, with the correct backward, passes."""
    layer = PerturbedDense(3, 2, rng=0, dtype=np.float64)
    layer.backward = lambda dy: Dense.backward(layer, dy)
    check_jacobian(layer, np.random.default_rng(1).standard_normal((4, 3)))


# -- tools ----------------------------------------------------------------------------------------
def test_float32_is_refused():
    with pytest.raises(TypeError, match=r"gradcheck needs float64 arrays, got float32"):
        check_jacobian(Dense(2, 2), np.zeros((1, 2)))
    with pytest.raises(TypeError, match=r"gradcheck needs float64 arrays, got float32"):
        check_model(Sequential(Dense(2, 1)), np.zeros((1, 2), np.float32), np.zeros((1, 1)), mse)


def test_numerical_jacobian_of_known_function():
    x = np.array([1.0, -2.0, 3.0])
    J = numerical_jacobian(lambda: np.array([x[0] * x[1], x[2] ** 2]), x)
    np.testing.assert_allclose(J, [[-2.0, 1.0, 0.0], [0.0, 0.0, 6.0]], atol=1e-8)
    np.testing.assert_array_equal(x, [1.0, -2.0, 3.0])  # restored after the perturbations


def test_pack_unpack_round_trip():
    model = _mlp(0)
    theta = pack(model.params)
    assert theta.shape == (model.n_params(),)
    unpack(2 * theta, model.params)
    np.testing.assert_array_equal(pack(model.params), 2 * theta)
    with pytest.raises(ValueError, match=r"unpack: theta has 3 entries, the parameters"):
        unpack(theta[:3], model.params)


def test_dropout_with_fixed_mask_in_a_model():
    rng = np.random.default_rng(0)
    drop = Dropout(0.5, rng=0)
    drop.fixed_mask = (rng.random((8, 4)) < 0.5) * 2.0
    model = Sequential(Dense(3, 4, rng=rng, dtype=np.float64), Tanh(), drop,
                       Dense(4, 3, rng=rng, dtype=np.float64))
    X, y = _data(0)
    check_model(model, X, y, softmax_cross_entropy)
