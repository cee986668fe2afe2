"""The training routines' scaling layers (MaxScale: MS, SampleMaxScale: EMFN, Affine: GC on
MNIST): forward formulas, gradients in float64 (tier 1 on hypothesis shapes, tier 2 on realistic
shapes; tier 3, two SLAF layers deep, is in tests/test_slaf.py), a negative control,
recalibration, save/load, expand, and errors."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import distinct_abs_inputs, scale_layer

from slaf_np.gradcheck import GradcheckError, check_directional, check_jacobian
from slaf_np.nn import (
    LAYERS,
    Affine,
    BatchNorm,
    Dense,
    MaxScale,
    SampleMaxScale,
    Sequential,
)
from slaf_np.nn.io import load, save
from slaf_np.nn.slaf import SLAF
from slaf_np.polynomial import expand
from slaf_np.train.calibration import recalibrate, statistic_layers

F64 = np.float64
NAMES = ("max", "sample_max", "affine")


def _axes(x):
    return (0,) if x.ndim == 2 else (0, 2, 3)


def _per_feature(v, x):
    return v.reshape((1, -1) if x.ndim == 2 else (1, -1, 1, 1))


# -- forward formulas --------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(40, 3), (6, 3, 2, 2)])
def test_max_scale_formula(shape):
    """Training: z / (m max_batch |z| + 1e-8) per feature, running_max <- 0.99 r + 0.01 M;
    evaluation: z / (m running_max + 1e-8)."""
    z = np.random.default_rng(0).standard_normal(shape)
    layer = MaxScale(3, dtype=F64)
    M = np.abs(z).max(axis=_axes(z))
    np.testing.assert_allclose(layer.forward(z, training=True),
                               z / _per_feature(2 * M + 1e-8, z), rtol=1e-15)
    np.testing.assert_allclose(layer.buffers["running_max"], 0.99 + 0.01 * M, rtol=1e-15)
    np.testing.assert_allclose(layer.forward(z),
                               z / _per_feature(2 * layer.buffers["running_max"] + 1e-8, z),
                               rtol=1e-15)
    np.testing.assert_allclose(layer.buffers["running_max"], 0.99 + 0.01 * M)  # eval: unchanged


@pytest.mark.parametrize("training", [True, False])
def test_sample_max_scale_formula(training):
    """Both modes: z / (2 max_sample |z| + 1), so |x^| < 1/2 at init; nothing is recorded."""
    z = np.random.default_rng(0).standard_normal((10, 3, 2, 2))
    layer = SampleMaxScale(dtype=F64)
    expected = z / (2 * np.abs(z).reshape(10, -1).max(axis=1)[:, None, None, None] + 1)
    np.testing.assert_allclose(layer.forward(z, training=training), expected, rtol=1e-15)
    assert np.abs(expected).max() < 0.5 and layer.buffers == {}


def test_affine_is_keras_batchnorm_with_initial_statistics():
    """Affine(C, eps=1e-3) computes what a batch norm computes in inference mode while its running
    statistics are still mean 0, variance 1 (the authors' MNIST GC input), in both modes."""
    rng = np.random.default_rng(1)
    z = rng.standard_normal((4, 3, 2, 2))
    affine, bn = Affine(3, eps=1e-3, dtype=F64), BatchNorm(3, dtype=F64)
    for p in ("gamma", "beta"):
        affine.params[p][...] = bn.params[p][...] = rng.standard_normal(3)
    for training in (True, False):
        np.testing.assert_allclose(affine.forward(z, training=training), bn.forward(z),
                                   rtol=1e-14, atol=1e-15)
    plain = Affine(3, dtype=F64)
    plain.params["gamma"][...] = [1.0, -2.0, 0.5]
    np.testing.assert_array_equal(plain.forward(z), z * _per_feature(plain.params["gamma"], z))


def test_contract_parameters_and_dtypes():
    assert set(MaxScale(3).params) == {"m"}
    assert set(MaxScale(3).buffers) == {"running_max", "batch_rows"}
    assert MaxScale(3).params["m"][0] == 2 and np.all(MaxScale(3).buffers["running_max"] == 1)
    sm = SampleMaxScale()
    assert sm.params["m"][0] == 2 and sm.params["n"][0] == 1 and set(sm.params) == {"m", "n"}
    assert set(Affine(4).params) == {"gamma", "beta"} and Affine(4).params["gamma"].shape == (4,)
    for layer in (MaxScale(3), SampleMaxScale(), Affine(3)):
        assert layer.forward(np.ones((2, 3), np.float32)).dtype == np.float32
        assert all(p.dtype == np.float32 for p in layer.params.values())
        assert set(layer.grads) == set(layer.params)


# -- gradients ---------------------------------------------------------------------------------
@given(name=st.sampled_from(NAMES), x=distinct_abs_inputs(), training=st.booleans(),
       seed=st.integers(0, 2**16))
def test_jacobian(name, x, training, seed):
    """Tier 1: the full Jacobian (input and parameters), dense and conv, both modes. The
    inputs' |values| are pairwise apart, so a finite difference never moves an argmax."""
    check_jacobian(scale_layer(name, x.shape[1], seed), x, training=training)


@pytest.mark.parametrize("shape", [(64, 32), (16, 8, 4, 4)])
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("training", [True, False])
def test_directional(name, shape, training):
    """Tier 2: <u, J v> along random directions on realistic shapes."""
    rng = np.random.default_rng(2)
    check_directional(scale_layer(name, shape[1], 3), rng.standard_normal(shape), rng,
                      training=training, n_directions=2)


class _MaxScaleWithoutArgmaxTerm(MaxScale):
    """A wrong backward: treats the batch max as a constant (drops dz[argmax] += m dq sign z)."""

    def backward(self, dy):
        cache = self._cache
        self._cache = cache._replace(argmax=None)
        try:
            return super().backward(dy)
        finally:
            self._cache = cache


class _SampleMaxScaleWrongN(SampleMaxScale):
    def backward(self, dy):
        dz = super().backward(dy)
        self.grads["n"] *= 1.001
        return dz


def test_negative_controls():
    """The gradient through the max, and dn, are needed: perturbed backwards are caught."""
    x = np.random.default_rng(0).standard_normal((5, 3))
    check_jacobian(MaxScale(3, dtype=F64), x)                            # the right one passes
    with pytest.raises(GradcheckError, match=r"d y / d x.*index"):
        check_jacobian(_MaxScaleWithoutArgmaxTerm(3, dtype=F64), x)
    check_jacobian(_MaxScaleWithoutArgmaxTerm(3, dtype=F64), x, training=False)  # M constant
    with pytest.raises(GradcheckError, match=r"d y / d n.*index"):
        check_jacobian(_SampleMaxScaleWrongN(dtype=F64), x)


# -- statistics, save / load, expand ------------------------------------------------------------
@pytest.mark.parametrize("shape", [(150, 3), (40, 3, 2, 2)])
def test_max_scale_recalibration(shape):
    """After recalibrate, running_max is max |z| over the data and evaluation equals the
    training-mode forward of the whole data as one batch, for any batch size."""
    rng = np.random.default_rng(3)
    X = 1.0 + 2.0 * rng.standard_normal(shape)
    layer = MaxScale(3, dtype=F64)
    layer.forward(rng.standard_normal(shape), training=True)            # stale statistics
    assert statistic_layers(Sequential(layer, SLAF(3, 2, dtype=F64)))[0] is layer
    recalibrate(layer, X, batch_size=7)
    np.testing.assert_array_equal(layer.buffers["running_max"], np.abs(X).max(axis=_axes(X)))
    np.testing.assert_allclose(layer.forward(X), layer.forward(X, training=True), rtol=1e-15)


def test_save_load_round_trip(tmp_path):
    rng = np.random.default_rng(4)
    model = Sequential(Dense(3, 4, rng=0, dtype=F64), scale_layer("max", 4, 1),
                       SLAF(4, 3, normalize=False, rng=1, dtype=F64),
                       Dense(4, 4, rng=2, dtype=F64), scale_layer("affine", 4, 2),
                       SLAF(4, 2, rng=3, dtype=F64), scale_layer("sample_max", 4, 3),
                       SLAF(4, 4, basis="fourier", shared=True, rng=4, dtype=F64))
    X = rng.standard_normal((20, 3))
    model.forward(X, training=True)
    loaded = load(save(model, tmp_path / "m.npz"))
    assert [type(m).__name__ for m in loaded.layers] == [type(m).__name__ for m in model.layers]
    for kind in ("params", "buffers"):
        for key, value in getattr(model, kind).items():
            np.testing.assert_array_equal(getattr(loaded, kind)[key], value)
    np.testing.assert_array_equal(loaded.forward(X), model.forward(X))
    for cls in (MaxScale, SampleMaxScale, Affine):
        assert LAYERS[cls.__name__] is cls


def test_expand_passes_through_max_scale_and_affine():
    """In evaluation mode MaxScale and Affine are affine maps of each feature: expand equals the
    network, per channel too; SampleMaxScale is refused by name."""
    rng = np.random.default_rng(5)
    model = Sequential(Dense(2, 3, rng=0, dtype=F64), scale_layer("max", 3, 1),
                       SLAF(3, 3, normalize=False, rng=1, dtype=F64),
                       scale_layer("affine", 3, 2), SLAF(3, 2, rng=2, dtype=F64),
                       Dense(3, 1, rng=3, dtype=F64))
    X = rng.standard_normal((30, 2))
    recalibrate(model, X)
    np.testing.assert_allclose(expand(model)(X), model.forward(X)[:, 0], rtol=1e-10, atol=1e-12)
    images = Sequential(scale_layer("max", 2, 3), SLAF(2, 2, rng=4, dtype=F64),
                        scale_layer("affine", 2, 4))
    Xi = rng.standard_normal((5, 2, 2, 2))
    np.testing.assert_allclose(expand(images, input_shape=(2, 2, 2))(Xi.reshape(5, -1)),
                               images.forward(Xi), rtol=1e-10, atol=1e-12)
    emfn = Sequential(Dense(2, 3, dtype=F64), SampleMaxScale(dtype=F64),
                      SLAF(3, 2, dtype=F64))
    with pytest.raises(ValueError, match=r"layer 1 \(SampleMaxScale\) is not polynomial"):
        expand(emfn)


# -- errors ------------------------------------------------------------------------------------
def test_errors():
    with pytest.raises(ValueError, match="MaxScale: num_features must be an integer >= 1"):
        MaxScale(0)
    with pytest.raises(ValueError, match=r"MaxScale: decay must be in \[0.0, 1.0\)"):
        MaxScale(3, decay=1.0)
    with pytest.raises(ValueError, match=r"Affine: eps must be in \[0.0, inf\)"):
        Affine(3, eps=-1.0)
    with pytest.raises(ValueError, match=r"MaxScale.forward: expected 3 features on axis 1"):
        MaxScale(3).forward(np.zeros((4, 2), np.float32))
    with pytest.raises(ValueError, match="MaxScale.forward: training needs a non-empty batch"):
        MaxScale(3).forward(np.zeros((0, 3), np.float32), training=True)
    with pytest.raises(ValueError, match=r"SampleMaxScale.forward: expected an input with 2 or 4"):
        SampleMaxScale().forward(np.zeros((4, 3, 2), np.float32))
    with pytest.raises(TypeError, match="does not match the layer's dtype float32"):
        Affine(3).forward(np.zeros((4, 3)))
    for layer in (MaxScale(3), SampleMaxScale(), Affine(3)):
        with pytest.raises(RuntimeError, match=f"{type(layer).__name__}.backward called before"):
            layer.backward(np.zeros((4, 3), np.float32))
        layer.forward(np.ones((4, 3), np.float32))
        with pytest.raises(ValueError, match=r"backward: expected dy of shape \(4, 3\)"):
            layer.backward(np.zeros((5, 3), np.float32))
