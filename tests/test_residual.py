"""Residual blocks: ``Residual(*body, shortcut=...)`` and the CIFAR ResNet ``basic_block``.

The three gradient tiers in float64: full Jacobians of a block on hypothesis-drawn geometries (odd
sides, stride 2, 1x1 shortcuts, BatchNorm in training mode and a batch of one in evaluation
mode), random directions on a realistic block, and a small ResNet over its packed parameters
(BatchNorm in training mode; ReLU, and SLAF per channel). Plus a negative control, BatchNorm's
statistics over (N, H, W), save/load, recalibration and expansion through the shortcut, and the
errors.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from slaf_np.gradcheck import GradcheckError, check_directional, check_jacobian, check_model
from slaf_np.nn import (
    SLAF,
    BatchNorm,
    Conv2D,
    Dense,
    GlobalAvgPool2D,
    ReLU,
    Residual,
    Sequential,
    Tanh,
    basic_block,
    io,
)
from slaf_np.polynomial import degree_bound, expand
from slaf_np.train.calibration import recalibrate
from slaf_np.train.losses import softmax_cross_entropy
from tests.strategies import seeds

F64 = np.float64


def _randomize(model, rng, training=True):
    """Non-trivial BatchNorm affine parameters (and, for evaluation, running statistics) in
    every BatchNorm of ``model``."""
    for m in model.modules():
        if isinstance(m, BatchNorm):
            c = m.num_features
            m.params["gamma"][...] = rng.uniform(0.5, 1.5, c)
            m.params["beta"][...] = rng.standard_normal(c)
            if not training:
                m.buffers["running_mean"][...] = rng.standard_normal(c)
                m.buffers["running_var"][...] = rng.uniform(0.5, 2.0, c)
    return model


@st.composite
def blocks(draw):
    """(in_channels, out_channels, stride, input shape (N, C, H, W)) with odd and even sides
    from 1 to 5, stride 1 or 2 and channel counts that sometimes agree (identity shortcut)."""
    c_in, c_out = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    stride = draw(st.sampled_from([1, 2]))
    shape = (draw(st.integers(2, 3)), c_in, draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    return c_in, c_out, stride, shape


# -- structure ---------------------------------------------------------------------------------
def test_basic_block_structure_and_keys():
    down = basic_block(4, 8, stride=2, rng=0)
    res, act = down.layers
    assert isinstance(res, Residual) and isinstance(act, ReLU)
    assert [type(m).__name__ for m in res.body] == ["Conv2D", "BatchNorm", "ReLU", "Conv2D",
                                                    "BatchNorm"]
    conv1x1, bn = res.shortcut.layers
    assert conv1x1.kernel_size == (1, 1) and conv1x1.stride == 2 and not conv1x1.bias
    assert isinstance(bn, BatchNorm)
    assert "0.1.0.W" in down.params and "0.0.0.W" in down.params
    assert down.output_shape((None, 4, 7, 7)) == (None, 8, 4, 4)
    same = basic_block(8, 8, stride=1, rng=0)
    assert same.layers[0].shortcut is None
    assert not any(k.startswith("0.1.") for k in same.params)


def test_activation_is_made_per_use_with_the_channel_count():
    made = []

    def make(c):
        made.append(c)
        return SLAF(c, 2)

    block = basic_block(3, 5, stride=2, activation=make, rng=0)
    assert made == [5, 5]
    inner, after = block.layers[0].body.layers[2], block.layers[1]
    assert inner is not after and after.params["c"].shape[0] == 5


# -- tier 1: full Jacobians --------------------------------------------------------------------
@given(blocks(), seeds)
def test_basic_block_jacobian_training(geometry, seed):
    c_in, c_out, stride, shape = geometry
    rng = np.random.default_rng(seed)
    block = _randomize(basic_block(c_in, c_out, stride, activation=lambda c: Tanh(), rng=rng,
                                   dtype=F64), rng)
    check_jacobian(block, rng.standard_normal(shape), training=True)


@given(blocks(), seeds)
def test_basic_block_jacobian_evaluation_batch_of_one(geometry, seed):
    c_in, c_out, stride, shape = geometry
    rng = np.random.default_rng(seed)
    block = _randomize(basic_block(c_in, c_out, stride, activation=lambda c: Tanh(), rng=rng,
                                   dtype=F64), rng, training=False)
    check_jacobian(block, rng.standard_normal((1, *shape[1:])), training=False)


@given(st.integers(1, 4), st.integers(1, 4), seeds)
def test_residual_with_dense_shortcut_jacobian(d_in, d_out, seed):
    rng = np.random.default_rng(seed)
    block = Residual(Dense(d_in, 3, rng=rng, dtype=F64), Tanh(),
                     Dense(3, d_out, rng=rng, dtype=F64),
                     shortcut=Dense(d_in, d_out, rng=rng, dtype=F64))
    check_jacobian(block, rng.standard_normal((3, d_in)))


# -- tier 2: random directions on a realistic block --------------------------------------------
@pytest.mark.parametrize("training, n", [(True, 8), (False, 1)], ids=["training", "eval-one"])
def test_basic_block_directional(training, n):
    rng = np.random.default_rng(0)
    block = _randomize(basic_block(16, 32, 2, rng=rng, dtype=F64), rng, training)
    check_directional(block, rng.standard_normal((n, 16, 16, 16)), np.random.default_rng(1),
                      training=training)


# -- tier 3: a small ResNet over its packed parameters -----------------------------------------
@pytest.mark.parametrize("activation", [None, lambda c: SLAF(c, 2, dtype=F64)],
                         ids=["relu", "slaf"])
def test_resnet_whole_model(activation):
    """conv - BN - act, an identity block, a downsampling block (1x1 shortcut), global average
    pooling and a dense layer; BatchNorm (and SLAF) in training mode: every packed coordinate."""
    rng = np.random.default_rng(0)
    act = activation or (lambda c: ReLU())
    model = _randomize(Sequential(
        Conv2D(2, 3, 3, padding=1, rng=rng, dtype=F64), BatchNorm(3, dtype=F64), act(3),
        basic_block(3, 3, 1, activation=activation, rng=rng, dtype=F64),
        basic_block(3, 4, 2, activation=activation, rng=rng, dtype=F64),
        GlobalAvgPool2D(), Dense(4, 3, rng=rng, dtype=F64)), rng)
    X, labels = rng.standard_normal((3, 2, 5, 5)), rng.integers(0, 3, 3)
    check_model(model, X, labels, softmax_cross_entropy, training=True)


# -- negative control --------------------------------------------------------------------------
class _ShortcutGradientDropped(Residual):
    """A plausible bug: the backward forgets the shortcut's share of dx."""

    def backward(self, dy):
        self.shortcut.backward(dy)
        return self.body.backward(dy)


def test_gradient_check_catches_a_dropped_shortcut_gradient():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3))
    good = Residual(Dense(3, 2, rng=1, dtype=F64), Tanh(), shortcut=Dense(3, 2, rng=2, dtype=F64))
    check_jacobian(good, x)
    bad = _ShortcutGradientDropped(Dense(3, 2, rng=1, dtype=F64), Tanh(),
                                   shortcut=Dense(3, 2, rng=2, dtype=F64))
    with pytest.raises(GradcheckError):
        check_jacobian(bad, x)


# -- BatchNorm on images -----------------------------------------------------------------------
def test_batchnorm_statistics_over_batch_height_and_width():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3, 5, 6)) * [[[2.0]], [[0.5]], [[1.0]]] + [[[1.0]], [[-2.0]],
                                                                          [[0.0]]]
    bn = BatchNorm(3, dtype=F64)
    y = bn.forward(x, training=True)
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    var = x.var(axis=(0, 2, 3))
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), var / (var + bn.eps), rtol=1e-10)
    np.testing.assert_allclose(bn.buffers["running_mean"], 0.01 * x.mean(axis=(0, 2, 3)),
                               rtol=1e-10)


# -- save / load, recalibration, expansion -----------------------------------------------------
def test_save_load_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    model = _randomize(Sequential(basic_block(2, 3, 2, rng=rng), basic_block(3, 3, rng=rng),
                                  GlobalAvgPool2D(), Dense(3, 2, rng=rng)), rng, training=False)
    X = rng.standard_normal((2, 2, 6, 6)).astype(np.float32)
    io.save(model, tmp_path / "resnet.npz")
    loaded = io.load(tmp_path / "resnet.npz")
    node = io.describe(model)["layers"][0]["layers"][0]
    assert node["class"] == "Residual" and [n["class"] for n in node["shortcut"]] == [
        "Conv2D", "BatchNorm"]
    assert "shortcut" not in io.describe(model)["layers"][1]["layers"][0]
    assert list(loaded.params) == list(model.params)
    np.testing.assert_array_equal(loaded.forward(X), model.forward(X))


def test_recalibration_feeds_the_shortcut_the_block_input():
    """After recalibrate, the evaluation forward equals the training forward on X as one batch;
    it would not if the shortcut's BatchNorm were calibrated on the body's output."""
    rng = np.random.default_rng(0)
    model = Sequential(basic_block(2, 3, 2, rng=rng, dtype=F64), GlobalAvgPool2D())
    X = rng.standard_normal((6, 2, 5, 5)) + 1.0
    res = model.layers[0].layers[0]
    shortcut_conv, shortcut_bn = res.shortcut.layers
    np.testing.assert_allclose(model.input_of(shortcut_bn, X), shortcut_conv.forward(X))
    recalibrate(model, X)
    np.testing.assert_allclose(model.forward(X, training=False), model.forward(X, training=True),
                               rtol=1e-9, atol=1e-12)


def test_expand_through_a_shortcut():
    rng = np.random.default_rng(0)
    slaf = SLAF(4, 2, rng=rng, dtype=F64)
    slaf.buffers["running_var"][...] = rng.uniform(0.5, 2.0, slaf.buffers["running_var"].shape)
    model = Sequential(Residual(Dense(3, 4, rng=rng, dtype=F64), slaf,
                                shortcut=Dense(3, 4, rng=rng, dtype=F64)),
                       Dense(4, 1, rng=rng, dtype=F64))
    X = rng.standard_normal((5, 3))
    poly = expand(model)
    assert poly.degree == degree_bound(model) == 2
    np.testing.assert_allclose(poly(X), model.forward(X)[:, 0], rtol=1e-10, atol=1e-10)


# -- errors ------------------------------------------------------------------------------------
def test_shapes_that_do_not_add_are_refused_before_any_layer_runs():
    bn = BatchNorm(4, dtype=F64)
    block = Residual(Dense(3, 4, rng=0, dtype=F64), bn, shortcut=Dense(3, 5, rng=1, dtype=F64))
    with pytest.raises(ValueError, match=r"Residual: the branch maps shape \(2, 3\) to \(2, 4\), "
                                         r"the shortcut maps it to \(2, 5\)"):
        block.forward(np.ones((2, 3)), training=True)
    np.testing.assert_array_equal(bn.buffers["running_mean"], 0)
    with pytest.raises(TypeError, match=r"Residual: shortcut must be a Module or a list of "
                                        r"Modules, got 'conv'"):
        Residual(Dense(2, 2), shortcut="conv")
    with pytest.raises(ValueError, match=r"basic_block: stride must be an integer >= 1, got 0"):
        basic_block(2, 2, stride=0)
    with pytest.raises(ValueError, match=r"Residual\.input_of: .* is not a layer of this model"):
        Residual(Dense(2, 2)).input_of(Dense(2, 2), np.zeros((1, 2), np.float32))
