"""Every layer: hand-derived gradients against finite differences (tiers 1 and 2 of STYLE.md rule
7, in float64), forward values of the shape layers, and the errors bad input gets.

Tier 1 (:func:`check_jacobian`): the full Jacobian, input and parameters, on hypothesis-drawn tiny
shapes. Tier 2 (:func:`check_directional`): ``<u, J v>`` along random directions on realistic
shapes (N = 64, D = 128; images 8 x 16 x 16 x 16). The whole-model tier and the negative control
live in ``tests/test_gradcheck.py``.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from slaf_np.gradcheck import check_directional, check_jacobian
from slaf_np.nn import (
    ELU,
    AvgPool2D,
    BatchNorm,
    Dense,
    Dropout,
    Flatten,
    Identity,
    LeakyReLU,
    MaxPool2D,
    ReLU,
    Reshape,
    Residual,
    Sequential,
    Sigmoid,
    SiLU,
    Tanh,
)
from tests.strategies import (
    away_from_zero,
    dense_shapes,
    float64_arrays,
    image_shapes,
    seeds,
    small_width,
)

ACTIVATIONS = [ReLU, lambda: LeakyReLU(0.1), Tanh, Sigmoid, SiLU, lambda: ELU(0.7), Identity]
ACT_IDS = ["ReLU", "LeakyReLU", "Tanh", "Sigmoid", "SiLU", "ELU", "Identity"]


def _bn(num_features, seed, training):
    """A float64 BatchNorm with non-trivial gamma, beta and (for evaluation) running statistics."""
    rng = np.random.default_rng(seed)
    bn = BatchNorm(num_features, dtype=np.float64)
    bn.params["gamma"][...] = rng.uniform(0.5, 1.5, num_features)
    bn.params["beta"][...] = rng.standard_normal(num_features)
    if not training:
        bn.buffers["running_mean"][...] = rng.standard_normal(num_features)
        bn.buffers["running_var"][...] = rng.uniform(0.5, 2.0, num_features)
    return bn


def _dropout(shape, seed, p=0.4):
    drop = Dropout(p, rng=seed)
    keep = np.random.default_rng(seed).random(shape) >= p
    drop.fixed_mask = keep / (1 - p)
    return drop


# -- tier 1: full Jacobians on tiny shapes -----------------------------------------------------
@given(dense_shapes(), small_width, seeds, seeds)
def test_dense_jacobian(shape, out, seed, xseed):
    n, d = shape
    layer = Dense(d, out, rng=seed, dtype=np.float64)
    layer.params["b"][...] = np.random.default_rng(seed).standard_normal(out)
    x = np.random.default_rng(xseed).standard_normal((n, d))
    check_jacobian(layer, x)


@pytest.mark.parametrize("make", ACTIVATIONS, ids=ACT_IDS)
@given(data=st.data())
def test_activation_jacobian(make, data):
    shape = data.draw(dense_shapes())
    check_jacobian(make(), data.draw(away_from_zero(shape)))


@pytest.mark.parametrize("training", [True, False], ids=["training", "evaluation"])
@given(shape=dense_shapes(), seed=seeds, data=st.data())
def test_batchnorm_dense_jacobian(training, shape, seed, data):
    n, d = shape
    x = data.draw(float64_arrays((max(n, 2), d), scale=2.0))
    check_jacobian(_bn(d, seed, training), x, training=training)


@pytest.mark.parametrize("training", [True, False], ids=["training", "evaluation"])
@given(shape=image_shapes(size=1, max_blocks=3), seed=seeds, data=st.data())
def test_batchnorm_image_jacobian(training, shape, seed, data):
    n, c, h, w = shape
    if n * h * w < 2:
        n = 2
    x = data.draw(float64_arrays((n, c, h, w), scale=2.0)) + 1.0
    check_jacobian(_bn(c, seed, training), x, training=training)


@given(shape=dense_shapes(), seed=seeds, data=st.data())
def test_dropout_jacobian_with_fixed_mask(shape, seed, data):
    x = data.draw(float64_arrays(shape))
    check_jacobian(_dropout(shape, seed), x, training=True)
    check_jacobian(_dropout(shape, seed), x, training=False)


@given(shape=image_shapes(size=1, max_blocks=3), data=st.data())
def test_flatten_and_reshape_jacobian(shape, data):
    x = data.draw(float64_arrays(shape))
    check_jacobian(Flatten(), x)
    n, c, h, w = shape
    check_jacobian(Reshape((h, -1)), x)
    check_jacobian(Reshape((c * h * w,)), x)


@given(shape=dense_shapes(), hidden=small_width, seed=seeds, data=st.data())
def test_sequential_and_residual_jacobian(shape, hidden, seed, data):
    n, d = shape
    x = data.draw(float64_arrays(shape))
    rng = np.random.default_rng(seed)
    seq = Sequential(Dense(d, hidden, rng=rng, dtype=np.float64), Tanh(),
                     Dense(hidden, 2, rng=rng, dtype=np.float64))
    check_jacobian(seq, x)
    res = Residual(Dense(d, hidden, rng=rng, dtype=np.float64), Sigmoid(),
                   Dense(hidden, d, rng=rng, dtype=np.float64))
    check_jacobian(res, x)


# -- tier 2: random directions on realistic shapes --------------------------------------------
N, D = 64, 128
IMG = (8, 16, 16, 16)


def _x(shape, seed=0, margin=0.0):
    z = np.random.default_rng(seed).standard_normal(shape)
    return z + margin * np.where(z >= 0, 1.0, -1.0)


@pytest.mark.parametrize("make", ACTIVATIONS, ids=ACT_IDS)
def test_activation_directional(make):
    check_directional(make(), _x((N, D), margin=0.01), np.random.default_rng(1))


def test_dense_directional():
    layer = Dense(D, 96, rng=0, dtype=np.float64)
    check_directional(layer, _x((N, D)), np.random.default_rng(1))


@pytest.mark.parametrize("training", [True, False], ids=["training", "evaluation"])
@pytest.mark.parametrize("shape", [(N, D), IMG], ids=["dense", "image"])
def test_batchnorm_directional(training, shape):
    bn = _bn(shape[1], 3, training)
    check_directional(bn, 2 * _x(shape) + 0.5, np.random.default_rng(1), training=training)


def test_dropout_directional():
    check_directional(_dropout((N, D), 4, p=0.3), _x((N, D)), np.random.default_rng(1))


@pytest.mark.parametrize("make", [lambda: AvgPool2D(2), lambda: MaxPool2D(2),
                                  lambda: MaxPool2D(4), Flatten,
                                  lambda: Reshape((16, 256))],
                         ids=["avg2", "max2", "max4", "flatten", "reshape"])
def test_shape_layers_directional(make):
    x = np.random.default_rng(0).permutation(np.prod(IMG)).reshape(IMG) * 1e-3
    check_directional(make(), x, np.random.default_rng(1))


def test_mlp_and_residual_directional():
    rng = np.random.default_rng(0)
    mlp = Sequential(Dense(D, 96, rng=rng, dtype=np.float64), BatchNorm(96, dtype=np.float64),
                     Tanh(), Dense(96, 10, rng=rng, dtype=np.float64))
    check_directional(mlp, _x((N, D)), np.random.default_rng(1))
    res = Sequential(Dense(D, 32, rng=rng, dtype=np.float64),
                     Residual(Dense(32, 32, rng=rng, dtype=np.float64), SiLU(),
                              Dense(32, 32, rng=rng, dtype=np.float64)),
                     Dense(32, 3, rng=rng, dtype=np.float64))
    check_directional(res, _x((N, D)), np.random.default_rng(1))


# -- forward values and shapes of the shape layers (pooling: tests/test_pool.py) ----------------
@pytest.mark.parametrize("layer, shape, out", [
    (AvgPool2D(2), (None, 3, 8, 6), (None, 3, 4, 3)),
    (MaxPool2D(4), (5, 1, 28, 28), (5, 1, 7, 7)),
    (Reshape((1, 28, 28)), (None, 784), (None, 1, 28, 28)),
    (Reshape((-1, 4)), (2, 3, 8), (2, 6, 4)),
], ids=["avg", "max", "reshape", "reshape-1"])
def test_output_shape_and_config(layer, shape, out):
    assert layer.output_shape(shape) == out
    clone = type(layer)(**layer.config())
    assert clone.config() == layer.config()
    if shape[0] is not None:
        x = np.zeros(shape, np.float32)
        y = layer.forward(x)
        assert y.shape == out and y.dtype == np.float32
        assert layer.backward(y).shape == shape


def test_sequential_summary_with_pooling():
    model = Sequential(Reshape((1, 8, 8)), MaxPool2D(2), AvgPool2D(2), Flatten(), Dense(4, 2))
    assert model.output_shape((None, 64)) == (None, 2)
    assert "MaxPool2D(size=2)" in model.summary((64,))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layers_keep_dtype(dtype):
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 4)).astype(dtype)
    for layer in (AvgPool2D(2), MaxPool2D(2), Reshape((3, 16)), Flatten()):
        y = layer.forward(x)
        assert y.dtype == dtype
        assert layer.backward(np.ones_like(y)).dtype == dtype


# -- errors: they name the layer and show expected and received ---------------------------------
def test_dense_wrong_width():
    with pytest.raises(ValueError, match=r"Dense\.forward: expected 3 features on axis 1, "
                                         r"got input of shape \(4, 2\)"):
        Dense(3, 2).forward(np.zeros((4, 2), np.float32))


def test_dense_wrong_rank():
    with pytest.raises(ValueError, match=r"Dense\.forward: expected an input with 2 dimensions, "
                                         r"got shape \(4,\)"):
        Dense(3, 2).forward(np.zeros(4, np.float32))


def test_non_finite_input():
    x = np.zeros((2, 3), np.float32)
    x[1, 2] = np.nan
    with pytest.raises(ValueError, match=r"Tanh\.forward: input has non-finite values "
                                         r"\(first at index \(1, 2\): nan\)"):
        Tanh().forward(x)
    x[1, 2] = np.inf
    with pytest.raises(ValueError, match=r"Dense\.forward: input has non-finite .* inf"):
        Dense(3, 1).forward(x)


def test_wrong_dtypes():
    with pytest.raises(TypeError, match=r"Dense\.forward: input dtype float32 does not match "
                                        r"the layer's dtype float64"):
        Dense(3, 2, dtype=np.float64).forward(np.zeros((1, 3), np.float32))
    with pytest.raises(TypeError, match=r"ReLU\.forward: expected a float32 or float64 array, "
                                        r"got dtype int64"):
        ReLU().forward(np.zeros((1, 3), np.int64))
    with pytest.raises(TypeError, match=r"MaxPool2D\.forward: expected a numpy\.ndarray, got list"):
        MaxPool2D(2).forward([[1.0]])
    with pytest.raises(TypeError, match=r"Dense: dtype must be float32 or float64, got float16"):
        Dense(2, 2, dtype=np.float16)


def test_bad_hyperparameters():
    with pytest.raises(ValueError, match=r"Dropout: p must be in \[0\.0, 1\.0\), got 1\.0"):
        Dropout(1.0)
    with pytest.raises(ValueError, match=r"Dropout: p must be in \[0\.0, 1\.0\), got -0\.1"):
        Dropout(-0.1)
    with pytest.raises(ValueError, match=r"BatchNorm: decay must be in \[0\.0, 1\.0\), got 1\.5"):
        BatchNorm(4, decay=1.5)
    with pytest.raises(ValueError, match=r"BatchNorm: eps must be in \(0\.0, inf\), got 0"):
        BatchNorm(4, eps=0)
    with pytest.raises(ValueError, match=r"Dense: in_features must be an integer >= 1, got 0"):
        Dense(0, 3)
    with pytest.raises(ValueError, match=r"MaxPool2D: size must be an integer >= 1, got 0"):
        MaxPool2D(0)
    with pytest.raises(ValueError, match=r"Reshape: shape must hold positive sizes .* "
                                         r"got \(-1, -1\)"):
        Reshape((-1, -1))


def test_reshape_shape_errors():
    with pytest.raises(ValueError, match=r"Reshape: cannot reshape samples of shape \(8,\) "
                                         r"\(8 values\) to \(3, 3\)"):
        Reshape((3, 3)).forward(np.zeros((2, 8), np.float32))


def test_backward_errors():
    pool = MaxPool2D(2)
    with pytest.raises(RuntimeError, match=r"MaxPool2D\.backward called before forward"):
        pool.backward(np.zeros((1, 1, 1, 1)))
    pool.forward(np.zeros((1, 1, 2, 2)))
    with pytest.raises(ValueError, match=r"MaxPool2D\.backward: expected dy of shape "
                                         r"\(1, 1, 1, 1\), got \(1, 1, 2, 2\)"):
        pool.backward(np.zeros((1, 1, 2, 2)))
    dense = Dense(3, 2)
    dense.forward(np.zeros((4, 3), np.float32))
    with pytest.raises(ValueError, match=r"Dense\.backward: expected dy of shape \(4, 2\), "
                                         r"got \(4, 3\)"):
        dense.backward(np.zeros((4, 3), np.float32))


def test_container_errors():
    with pytest.raises(TypeError, match=r"Sequential: layer 1 is '.*' \(a str\), not a Module"):
        Sequential(Dense(2, 2), "relu")
    with pytest.raises(ValueError, match=r"Residual: the branch maps shape \(3, 2\) to \(3, 4\)"):
        Residual(Dense(2, 4)).forward(np.zeros((3, 2), np.float32))


def test_container_state_is_a_read_only_view():
    """A container's params / grads / buffers are built from its children: their arrays are the
    children's own, and assigning the dict is an error (it used to be silently ignored)."""
    model = Sequential(Dense(2, 3, rng=0), Residual(Dense(3, 3, rng=1), BatchNorm(3)))
    assert model.params["0.W"] is model.layers[0].params["W"]
    assert model.buffers["1.0.1.running_var"] is model.layers[1].body.layers[1].buffers[
        "running_var"]
    for kind in ("params", "grads", "buffers"):
        with pytest.raises(AttributeError):
            setattr(model, kind, {})
    new = np.full((2, 3), 5.0, np.float32)
    model.set_state("0.W", new)
    assert model.layers[0].params["W"] is new


def test_gradients_accumulate_and_reset():
    layer = Dense(3, 2, rng=0, dtype=np.float64)
    x = np.ones((4, 3))
    layer.forward(x)
    layer.backward(np.ones((4, 2)))
    once = layer.grads["W"].copy()
    layer.forward(x)
    layer.backward(np.ones((4, 2)))
    np.testing.assert_array_equal(layer.grads["W"], 2 * once)
    grad_array = layer.grads["W"]
    layer.zero_grad()
    assert layer.grads["W"] is grad_array and not grad_array.any()


# -- values the gradient checks cannot see (each test names the wrong line it catches) -------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dense_backward_adds_to_every_gradient_without_zero_grad(dtype):
    """Both paths of Dense.backward: right after zero_grad (written in place) and accumulating
    (``+=``): catches a bias (or weight) gradient overwritten or dropped on the second."""
    rng = np.random.default_rng(0)
    layer = Dense(3, 2, rng=rng, dtype=dtype)
    x, dy = (rng.standard_normal(s).astype(dtype) for s in ((5, 3), (5, 2)))
    layer.zero_grad()
    layer.forward(x)
    layer.backward(dy)
    np.testing.assert_allclose(layer.grads["b"], dy.sum(axis=0), rtol=1e-6)
    np.testing.assert_allclose(layer.grads["W"], x.T @ dy, rtol=1e-6)
    old = {k: rng.standard_normal(g.shape).astype(dtype) for k, g in layer.grads.items()}
    for k, g in layer.grads.items():
        g[...] = old[k]
    layer.forward(x)
    layer.backward(dy)  # no zero_grad: accumulate
    np.testing.assert_allclose(layer.grads["b"], old["b"] + dy.sum(axis=0), rtol=1e-6)
    np.testing.assert_allclose(layer.grads["W"], old["W"] + x.T @ dy, rtol=1e-6)


def test_batchnorm_running_statistics_follow_the_documented_rule():
    """``running = decay * running + (1 - decay) * batch`` with the biased batch variance (as
    TensorFlow/Keras, unlike PyTorch's unbiased running_var), so that recalibration's exact
    (biased) moments and the training-mode output of one batch agree. Catches the decay applied
    the wrong way round and the unbiased (ddof=1) variance."""
    rng = np.random.default_rng(0)
    bn = BatchNorm(3, decay=0.9, dtype=np.float64)
    mean, var = np.zeros(3), np.ones(3)
    for _ in range(3):
        x = rng.standard_normal((6, 3)) * [1.0, 2.0, 0.5] + [0.3, -1.0, 2.0]
        bn.forward(x, training=True)
        mean = 0.9 * mean + 0.1 * x.mean(axis=0)
        var = 0.9 * var + 0.1 * x.var(axis=0)  # ddof=0
        np.testing.assert_allclose(bn.buffers["running_mean"], mean, rtol=1e-12)
        np.testing.assert_allclose(bn.buffers["running_var"], var, rtol=1e-12)


def test_glorot_uniform_limit():
    """``W ~ U(-a, a)``, ``a = sqrt(6 / (in + out))``: the largest |W| reaches a but never passes
    it, and the variance is a**2 / 3 = 2 / (in + out). Catches a wrong limit (fan-in only,
    in * out, a missing 6 or square root)."""
    n_in, n_out = 300, 200
    W = Dense(n_in, n_out, rng=0, init="glorot", dtype=np.float64).params["W"]
    a = np.sqrt(6.0 / (n_in + n_out))
    assert np.abs(W).max() <= a
    assert np.abs(W).max() > 0.999 * a
    assert abs(W.var() / (2.0 / (n_in + n_out)) - 1) < 0.02
    assert abs(W.mean()) < 0.01 * a
