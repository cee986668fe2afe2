"""The SLAF layer: gradients in three tiers (float64), a hand-worked SGD step, properties, the
initialisations, the polynomial form, and the error messages.

The option matrix is basis (5) x coefficients (shared / per feature) x layout (dense (N, D) / conv
(N, C, H, W)) x normalize x scaling x gate x mode (training / evaluation). The tiny-shape Jacobian
and the realistic-shape directional checks loop over the whole matrix inside one test per
(basis, layout), so the suite stays small; hypothesis then draws random configurations, shapes
and values on top.
"""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import POLY_BASES, SLAF_BASES, seeds, slaf_configs, slaf_inputs

from slaf_np.gradcheck import (
    GradcheckError,
    check_directional,
    check_jacobian,
    check_model,
)
from slaf_np.nn import LAYERS, Dense, Sequential
from slaf_np.nn.slaf import SLAF, TARGETS
from slaf_np.train.calibration import recalibrate
from slaf_np.train.losses import mse

LAYOUTS = {"dense": ((5, 2), (64, 32)), "conv": ((3, 2, 2, 2), (16, 8, 4, 4))}


def _scalings(basis):
    # None is the basis's default: "none" for polynomials, "sample_max" (EMFN) for fourier
    return (None, "max", "batchnorm", "sample_max") if basis != "fourier" else \
        (None, "none", "max", "batchnorm")


def _matrix(basis):
    return itertools.product((False, True), (True, False), _scalings(basis), (False, True))


def _moved(layer, shape, rng):
    """Run two training forwards on shifted data so that running statistics are not at init."""
    for _ in range(2):
        layer.forward(0.3 + 1.2 * rng.standard_normal(shape), training=True)
    layer.zero_grad()
    return layer


# -- tier 1 and 2: every option combination ---------------------------------------------------
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("basis", SLAF_BASES)
def test_jacobian_whole_matrix(basis, layout):
    """Full central-difference Jacobian (input and every parameter) on tiny shapes."""
    rng = np.random.default_rng(0)
    shape = LAYOUTS[layout][0]
    for shared, normalize, scaling, gate in _matrix(basis):
        for training in (True, False):
            layer = SLAF(shape[1], 3, basis=basis, shared=shared, normalize=normalize,
                         scaling=scaling, gate=gate, rng=1, dtype=np.float64)
            _moved(layer, shape, rng)
            x = 0.2 + rng.standard_normal(shape)
            check_jacobian(layer, x, training=training)


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("basis", SLAF_BASES)
def test_directional_whole_matrix(basis, layout):
    """<u, J v> against central differences along random directions on realistic shapes."""
    rng = np.random.default_rng(1)
    shape = LAYOUTS[layout][1]
    for shared, normalize, scaling, gate in _matrix(basis):
        for training in (True, False):
            layer = SLAF(shape[1], 4, basis=basis, shared=shared, normalize=normalize,
                         scaling=scaling, gate=gate, rng=2, dtype=np.float64)
            _moved(layer, shape, rng)
            check_directional(layer, rng.standard_normal(shape), rng, training=training,
                              n_directions=2)


@given(config=slaf_configs(), x=slaf_inputs(), training=st.booleans())
def test_jacobian_random_configurations(config, x, training):
    layer = SLAF(x.shape[1], **config)
    _moved(layer, x.shape, np.random.default_rng(0))
    check_jacobian(layer, x, training=training, rtol=1e-4)


# -- tier 3: a whole model over the packed parameters -----------------------------------------
@pytest.mark.parametrize("basis", ["power", "hermite", "fourier"])
@pytest.mark.parametrize("training", [True, False])
def test_model_gradient(basis, training):
    """Dense -> SLAF -> Dense, MSE; the gradient w.r.t. every packed parameter (W, b, c, b, alpha,
    m, n, W, b)."""
    rng = np.random.default_rng(3)
    model = Sequential(Dense(3, 6, rng=0, init="glorot", dtype=np.float64),
                       SLAF(6, 3, basis=basis, gate=True, rng=1, dtype=np.float64),
                       Dense(6, 2, rng=2, init="glorot", dtype=np.float64))
    X, Y = rng.standard_normal((20, 3)), rng.standard_normal((20, 2))
    model.forward(X, training=True)
    check_model(model, X, Y, mse, training=training)


@pytest.mark.parametrize("scaling, shared, normalize", [("max", False, False),
                                                        ("batchnorm", False, False),
                                                        ("max", True, True),
                                                        (None, True, True)])
@pytest.mark.parametrize("training", [True, False])
def test_model_gradient_scalings_and_sharing(scaling, shared, normalize, training):
    """The whole-model check for the MS and GC routines' scalings and for shared coefficients,
    two SLAF layers deep (so the second layer's input depends on the first's parameters)."""
    rng = np.random.default_rng(4)
    model = Sequential(Dense(3, 5, rng=0, init="glorot", dtype=np.float64),
                       SLAF(5, 3, scaling=scaling, shared=shared, normalize=normalize, rng=1,
                            dtype=np.float64),
                       Dense(5, 4, rng=2, init="glorot", dtype=np.float64),
                       SLAF(4, 2, basis="chebyshev", scaling=scaling, shared=shared,
                            normalize=normalize, rng=3, dtype=np.float64),
                       Dense(4, 1, rng=4, init="glorot", dtype=np.float64))
    X, Y = rng.standard_normal((16, 3)), rng.standard_normal((16, 1))
    model.forward(X, training=True)
    check_model(model, X, Y, mse, training=training)


# -- negative controls ------------------------------------------------------------------------
class _DropsBatchNormTerm(SLAF):
    """A wrong backward: treats the batch statistics as constants in training (dx only)."""

    def backward(self, dy):
        xh, mean, std, training, scache, shape = self._cache
        self._cache = (xh, mean, std, False, scache, shape)
        try:
            return super().backward(dy)
        finally:
            self._cache = (xh, mean, std, training, scache, shape)


class _WrongCoefficientGradient(SLAF):
    def backward(self, dy):
        dx = super().backward(dy)
        self.grads["c"] *= 1.001
        return dx


@pytest.mark.parametrize("wrong", [_DropsBatchNormTerm, _WrongCoefficientGradient])
def test_negative_control(wrong):
    """A perturbed backward must be caught, and the message names the array and the index."""
    x = np.random.default_rng(0).standard_normal((5, 2))
    check_jacobian(SLAF(2, 3, rng=0, dtype=np.float64), x)              # the right one passes
    with pytest.raises(GradcheckError, match=r"d y / d (x|c).*index"):
        check_jacobian(wrong(2, 3, rng=0, dtype=np.float64), x)
    with pytest.raises(GradcheckError):
        check_directional(wrong(2, 3, rng=0, dtype=np.float64),
                          np.random.default_rng(1).standard_normal((64, 2)),
                          np.random.default_rng(2))


# -- the hand-worked example ------------------------------------------------------------------
def test_one_sgd_step_by_hand():
    """Dense(1, 1) -> SLAF(1, degree 2, normalize=False) -> MSE, one SGD step with lr 0.02.

    Input x = [1, 2], targets t = [1, 2]. Dense: W = 0.5, b_d = 0.1. SLAF: c = [1, 0.5], b = 0.2,
    so f(z) = z + 0.5 z^2 + 0.2.

    forward::

        z = 0.5 x + 0.1              = [0.6, 1.1]
        y = z + 0.5 z^2 + 0.2        = [0.6 + 0.18 + 0.2, 1.1 + 0.605 + 0.2] = [0.98, 1.905]
        r = y - t                    = [-0.02, -0.095]
        L = mean(r^2)                = (0.0004 + 0.009025) / 2 = 0.0047125

    backward::

        dy  = 2 r / N = r            = [-0.02, -0.095]
        dc1 = sum dy z               = -0.012 - 0.1045   = -0.1165
        dc2 = sum dy z^2             = -0.0072 - 0.11495 = -0.12215
        db  = sum dy                 = -0.115
        dz  = dy (c1 + 2 c2 z) = dy (1 + z) = [-0.02 * 1.6, -0.095 * 2.1] = [-0.032, -0.1995]
        dW  = sum x dz               = -0.032 - 0.399    = -0.431
        db_d = sum dz                = -0.2315

    SGD, p <- p - 0.02 dp::

        W = 0.5 + 0.00862 = 0.50862,  b_d = 0.1 + 0.00463 = 0.10463,
        c = [1 + 0.00233, 0.5 + 0.002443] = [1.00233, 0.502443],  b = 0.2 + 0.0023 = 0.2023

    and the loss drops to 0.00085178 (lr 0.1 would overshoot to 0.0233).
    """
    dense = Dense(1, 1, dtype=np.float64)
    dense.params["W"][...] = 0.5
    dense.params["b"][...] = 0.1
    slaf = SLAF(1, 2, normalize=False, init="identity", dtype=np.float64)
    slaf.params["c"][...] = [[1.0, 0.5]]
    slaf.params["b"][...] = 0.2
    model = Sequential(dense, slaf)
    x, t = np.array([[1.0], [2.0]]), np.array([[1.0], [2.0]])

    y = model.forward(x, training=True)
    np.testing.assert_allclose(y[:, 0], [0.98, 1.905], rtol=1e-14)
    loss, dy = mse(y, t)
    assert loss == pytest.approx(0.0047125, rel=1e-12)
    np.testing.assert_allclose(dy[:, 0], [-0.02, -0.095], rtol=1e-12)
    model.zero_grad()
    model.backward(dy)
    np.testing.assert_allclose(slaf.grads["c"], [[-0.1165, -0.12215]], rtol=1e-12)
    np.testing.assert_allclose(slaf.grads["b"], [-0.115], rtol=1e-12)
    np.testing.assert_allclose(dense.grads["W"], [[-0.431]], rtol=1e-12)
    np.testing.assert_allclose(dense.grads["b"], [-0.2315], rtol=1e-12)
    for key, p in model.params.items():                                  # plain SGD
        p -= 0.02 * model.grads[key]
    np.testing.assert_allclose(dense.params["W"], [[0.50862]], rtol=1e-12)
    np.testing.assert_allclose(dense.params["b"], [0.10463], rtol=1e-12)
    np.testing.assert_allclose(slaf.params["c"], [[1.00233, 0.502443]], rtol=1e-12)
    np.testing.assert_allclose(slaf.params["b"], [0.2023], rtol=1e-12)
    assert mse(model.forward(x, training=True), t)[0] == pytest.approx(0.00085178, rel=1e-4)


# -- kernels vs twins through the layer -------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(32, 20), (6, 5, 3, 3)])
def test_backends_agree_through_the_layer(dtype, shape):
    rng = np.random.default_rng(4)
    x = (0.5 + rng.standard_normal(shape)).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    outs = {}
    for backend in ("numba", "numpy"):
        layer = SLAF(shape[1], 5, basis="legendre", scaling="max", gate=True, rng=0, dtype=dtype,
                     backend=backend)
        y_train = layer.forward(x, training=True)
        dx_train = layer.backward(dy)
        y_eval = layer.forward(x)
        dx_eval = layer.backward(dy)
        outs[backend] = [y_train, dx_train, y_eval, dx_eval, *layer.grads.values(),
                         *layer.buffers.values()]
    tol = 1e-10 if dtype == np.float64 else 2e-5
    for a, b in zip(outs["numba"], outs["numpy"], strict=True):
        assert a.dtype == dtype
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol * np.abs(b).max(initial=1.0))


# -- properties -------------------------------------------------------------------------------
@given(config=slaf_configs(), x=slaf_inputs(max_n=8, max_d=4), t=st.floats(-3, 3),
       training=st.booleans(), seed=seeds)
def test_linear_in_c(config, x, t, training, seed):
    """With b = 0: y(c1 + t c2) = y(c1) + t y(c2), in both modes (statistics do not depend on c)."""
    layer = SLAF(x.shape[1], **config)
    rng = np.random.default_rng(seed)
    c1, c2 = rng.standard_normal((2, *layer.params["c"].shape))
    layer.params["b"][...] = 0.0
    buffers = {k: v.copy() for k, v in layer.buffers.items()}

    def y(c):
        layer.params["c"][...] = c
        for k, v in buffers.items():
            layer.buffers[k][...] = v
        return layer.forward(x, training=training)

    np.testing.assert_allclose(y(c1 + t * c2), y(c1) + t * y(c2), rtol=1e-8, atol=1e-8)


@settings(max_examples=15)
@given(config=slaf_configs(), x=slaf_inputs(max_n=8, max_d=4), scale=st.floats(1.0, 30.0),
       training=st.booleans())
def test_outputs_are_finite(config, x, scale, training):
    layer = SLAF(x.shape[1], **config)
    y = layer.forward(x * scale, training=training)
    dx = layer.backward(np.ones_like(y))
    assert y.shape == x.shape and np.isfinite(y).all() and np.isfinite(dx).all()


def test_contract_shapes_and_buffers():
    for shared, rows in ((False, 7), (True, 1)):
        layer = SLAF(7, 4, shared=shared, gate=True, rng=0)
        assert layer.params["c"].shape == (rows, 4) and layer.params["b"].shape == (rows,)
        assert layer.params["alpha"].shape == (4,)
        assert layer.buffers["running_mean"].shape == (7, 4)
        assert layer.buffers["running_var"].shape == (7, 4)
        assert set(layer.grads) == set(layer.params)
        assert all(p.dtype == np.float32 for p in layer.params.values())
    assert set(SLAF(3, 2, scaling="max").params) == {"c", "b", "m"}
    assert set(SLAF(3, 2, scaling="batchnorm").params) == {"c", "b", "gamma", "beta"}
    emfn = SLAF(3, 8, basis="fourier", shared=True)
    assert emfn.scaling == "sample_max"
    assert emfn.params["m"][0] == 2 and emfn.params["n"][0] == 1
    assert "running_max" in SLAF(3, 2, scaling="max").buffers


def test_paper_initialisation():
    layer = SLAF(5, 3, rng=0)
    expected = np.random.default_rng(0).standard_normal((5, 3))
    expected[:, 0] += 1
    np.testing.assert_allclose(layer.params["c"], expected.astype(np.float32))
    np.testing.assert_allclose(layer.params["b"], 0.1)


def test_running_statistics_follow_batch_norm():
    rng = np.random.default_rng(0)
    x = 1 + rng.standard_normal((50, 3, 2, 2))
    layer = SLAF(3, 3, decay=0.9, dtype=np.float64)
    layer.forward(x, training=True)
    P = np.stack([x ** i for i in (1, 2, 3)], axis=-1)
    mean, var = P.mean(axis=(0, 2, 3)), P.var(axis=(0, 2, 3))
    np.testing.assert_allclose(layer.buffers["running_mean"], 0.1 * mean, rtol=1e-12)
    np.testing.assert_allclose(layer.buffers["running_var"], 0.9 + 0.1 * var, rtol=1e-12)
    lo, hi = x.min(axis=(0, 2, 3)), x.max(axis=(0, 2, 3))
    np.testing.assert_array_equal(layer.buffers["input_min"], lo)
    np.testing.assert_array_equal(layer.buffers["input_max"], hi)
    layer.forward(5 * x)                                   # evaluation: nothing recorded
    np.testing.assert_array_equal(layer.buffers["input_max"], hi)


def test_scalings_follow_their_formulas():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((40, 3))
    mx = SLAF(3, 2, scaling="max", normalize=False, init="identity", dtype=np.float64)
    y = mx.forward(z, training=True)                       # identity init: y = x^
    np.testing.assert_allclose(y, z / (2 * np.abs(z).max(axis=0) + 1e-8), rtol=1e-12)
    np.testing.assert_allclose(mx.buffers["running_max"], 0.99 + 0.01 * np.abs(z).max(axis=0))
    np.testing.assert_allclose(mx.forward(z), z / (2 * mx.buffers["running_max"] + 1e-8))
    sm = SLAF(3, 2, scaling="sample_max", normalize=False, init="identity", dtype=np.float64)
    expected = z / (2 * np.abs(z).max(axis=1, keepdims=True) + 1)
    np.testing.assert_allclose(sm.forward(z, training=True), expected, rtol=1e-12)
    assert np.abs(expected).max() < 0.5
    bn = SLAF(3, 2, scaling="batchnorm", normalize=False, init="identity", dtype=np.float64)
    expected = (z - z.mean(axis=0)) / np.sqrt(z.var(axis=0) + 1e-3)
    np.testing.assert_allclose(bn.forward(z, training=True), expected, rtol=1e-12)


def test_emfn_matches_its_formula():
    """fourier (EMFN): x^ = z / (2 max_sample |z| + 1), y = sum_j c_j g_j(x^) + b."""
    rng = np.random.default_rng(0)
    z = rng.standard_normal((10, 4, 2, 2))
    layer = SLAF(4, 4, basis="fourier", shared=True, normalize=False, rng=0, dtype=np.float64)
    c, b = layer.params["c"][0], layer.params["b"][0]
    x = z / (2 * np.abs(z).reshape(10, -1).max(axis=1)[:, None, None, None] + 1)
    th = np.pi / 2 * x
    expected = (c[0] * np.sin(th) + c[1] * np.cos(2 * th) + c[2] * np.sin(3 * th)
                + c[3] * np.cos(4 * th) + b)
    np.testing.assert_allclose(layer.forward(z), expected, rtol=1e-12)


# -- initialisations --------------------------------------------------------------------------
@pytest.mark.parametrize("gate", [False, True])
@pytest.mark.parametrize("shape", [(30, 4), (5, 4, 3, 3)])
def test_identity_init(shape, gate):
    """Evaluation at init: x / sqrt(1 + eps); training: the standardised input."""
    x = 2 + 3 * np.random.default_rng(0).standard_normal(shape)
    layer = SLAF(4, 5, init="identity", gate=gate, rng=0, dtype=np.float64)
    np.testing.assert_allclose(layer.forward(x), x / np.sqrt(1 + 1e-8), rtol=1e-12)
    axes = (0,) if x.ndim == 2 else (0, 2, 3)
    standard = (x - x.mean(axis=axes, keepdims=True)) / np.sqrt(x.var(axis=axes, keepdims=True)
                                                                + 1e-8)
    np.testing.assert_allclose(layer.forward(x, training=True), standard, rtol=1e-9, atol=1e-12)


def _best_relu_error(k: int) -> float:
    """The smallest possible RMS error under N(0, 1) of a degree-k polynomial approximating ReLU:
    least squares on Gauss-Hermite nodes (numpy.polynomial.hermite_e), independent of the layer."""
    from numpy.polynomial import hermite_e

    z, w = hermite_e.hermegauss(150)
    w = w / w.sum()
    V = hermite_e.hermevander(z, k) * np.sqrt(w)[:, None]
    target = np.maximum(z, 0) * np.sqrt(w)
    resid = target - V @ np.linalg.lstsq(V, target, rcond=None)[0]
    return float(np.sqrt(resid @ resid))


@pytest.mark.parametrize("degree", [1, 2, 3, 4, 6, 8])
@pytest.mark.parametrize("basis", ["power", "hermite"])
def test_relu_init_is_the_best_polynomial(basis, degree):
    """init="relu": on z ~ N(0, 1) the layer (evaluation mode, at init) is within 0.005 of the
    best possible RMS error of a degree-k polynomial, which is (about) 0.301, 0.107, 0.107,
    0.068, 0.051, 0.041 for k = 1, 2, 3, 4, 6, 8 (odd Hermite terms beyond He_1 vanish for ReLU,
    so k = 2 and 3 tie)."""
    z = np.random.default_rng(0).standard_normal((200_000, 1))
    layer = SLAF(1, degree, basis=basis, init="relu", dtype=np.float64)
    rms = float(np.sqrt(np.mean((layer.forward(z) - np.maximum(z, 0)) ** 2)))
    best = _best_relu_error(degree)
    assert rms <= best + 0.005, (rms, best)
    assert best <= {1: 0.31, 2: 0.11, 3: 0.11, 4: 0.07, 6: 0.052, 8: 0.042}[degree]


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_named_inits_approximate_their_activation(name):
    z = np.random.default_rng(1).standard_normal((20_000, 3))
    for scaling in (None, "max", "batchnorm"):
        layer = SLAF(3, 6, init=name, scaling=scaling, gate=True, rng=0, dtype=np.float64)
        err = np.sqrt(np.mean((layer.forward(z) - TARGETS[name](z)) ** 2))
        assert err < 0.06, (name, scaling, err)


def test_callable_and_fourier_inits():
    z = np.random.default_rng(2).standard_normal((5000, 8))
    layer = SLAF(8, 6, init=lambda u: np.abs(u), dtype=np.float64)
    assert np.sqrt(np.mean((layer.forward(z) - np.abs(z)) ** 2)) < 0.1
    # EMFN: x^ = z / (2 max_sample |z| + 1) depends on the whole sample, so no choice of c makes
    # the layer an exact function of z; the Monte Carlo fit leaves an RMS error of about 0.074
    emfn = SLAF(8, 8, basis="fourier", init="tanh", dtype=np.float64)
    err = np.sqrt(np.mean((emfn.forward(z) - np.tanh(z)) ** 2))
    assert err < 0.1
    assert err < 0.5 * np.sqrt(np.mean((SLAF(8, 8, basis="fourier", init="identity",
                                             dtype=np.float64).forward(z) - np.tanh(z)) ** 2))


# -- the polynomial form ----------------------------------------------------------------------
@given(config=slaf_configs(bases=POLY_BASES, scalings=(None, "none", "max", "batchnorm"),
                           max_degree=6),
       x=slaf_inputs(max_n=12, max_d=3))
def test_polynomial_equals_evaluation_output(config, x):
    layer = SLAF(x.shape[1], **config)
    _moved(layer, x.shape, np.random.default_rng(0))
    coef = layer.polynomial()
    assert coef.shape == (x.shape[1], config["degree"] + 1)
    y = layer.forward(x)
    z = np.moveaxis(x, 1, -1)                                  # (..., D)
    expected = np.stack([np.polynomial.polynomial.polyval(z[..., d], coef[d])
                         for d in range(x.shape[1])], axis=-1)
    np.testing.assert_allclose(np.moveaxis(expected, -1, 1), y, rtol=1e-9,
                               atol=1e-9 * np.abs(y).max(initial=1.0))


def test_polynomial_refuses_non_polynomials():
    with pytest.raises(ValueError, match="not a polynomial.*fourier"):
        SLAF(2, 4, basis="fourier").polynomial()
    with pytest.raises(ValueError, match="sample_max"):
        SLAF(2, 4, scaling="sample_max").polynomial()


def test_activation_curve_matches_forward():
    rng = np.random.default_rng(0)
    layer = _moved(SLAF(3, 4, scaling="batchnorm", gate=True, rng=0, dtype=np.float64),
                   (20, 3), rng)
    z = np.linspace(-2, 2, 9)
    np.testing.assert_allclose(layer.activation(z), layer.forward(np.repeat(z[:, None], 3, 1)),
                               rtol=1e-12)


# -- description and errors -------------------------------------------------------------------
def test_config_rebuilds_and_repr():
    layer = SLAF(6, 4, basis="chebyshev", shared=True, scaling="max", gate=True, init="tanh")
    rebuilt = LAYERS["SLAF"](**layer.config())
    assert rebuilt.config() == layer.config()
    assert repr(layer) == ("SLAF(6, degree=4, basis='chebyshev', shared=True, init='tanh', "
                           "gate=True, scaling='max')")
    assert repr(SLAF(3, 8, basis="fourier")) == "SLAF(3, degree=8, basis='fourier')"
    assert SLAF(3, 2, init=np.sin).config()["init"] == "identity"
    assert layer.output_shape((None, 6)) == (None, 6)


@pytest.mark.parametrize("kwargs, match", [
    ({"degree": 0}, "degree must be an integer >= 1, got 0"),
    ({"degree": 2.5}, "degree must be an integer"),
    ({"degree": True}, "degree"),
    ({"basis": "laguerre"}, "unknown basis 'laguerre'; valid: power, chebyshev"),
    ({"init": "swish"}, "unknown init 'swish'; valid: paper, identity, relu"),
    ({"scaling": "minmax"}, "unknown scaling 'minmax'; valid: None, 'none', 'max'"),
    ({"decay": 1.0}, r"decay must be in \[0.0, 1.0\)"),
    ({"decay": -0.1}, "decay"),
    ({"eps": 0.0}, r"eps must be in \(0.0, inf\)"),
    ({"backend": "cuda"}, "unknown backend 'cuda'"),
])
def test_constructor_errors(kwargs, match):
    args = {"num_features": 3, "degree": 2, **kwargs}
    with pytest.raises(ValueError, match=match):
        SLAF(**args)


def test_input_errors():
    layer = SLAF(3, 2)
    with pytest.raises(ValueError, match=r"SLAF.forward: expected 3 features on axis 1, got "
                                         r"input of shape \(4, 5\)"):
        layer.forward(np.zeros((4, 5), np.float32))
    with pytest.raises(ValueError, match=r"SLAF.forward: expected an input with 2 or 4 "
                                         r"dimensions, got shape \(4, 3, 2\)"):
        layer.forward(np.zeros((4, 3, 2), np.float32))
    with pytest.raises(TypeError, match="does not match the layer's dtype float32"):
        layer.forward(np.zeros((4, 3)))
    with pytest.raises(RuntimeError, match="SLAF.backward called before forward"):
        SLAF(3, 2).backward(np.zeros((4, 3), np.float32))
    layer.forward(np.zeros((4, 3), np.float32), training=True)
    with pytest.raises(ValueError, match=r"SLAF.backward: expected dy of shape \(4, 3\)"):
        layer.backward(np.zeros((5, 3), np.float32))


@pytest.mark.parametrize("degree", [2, 4, 6])
def test_activation_init_agrees_in_every_mode(degree):
    """init="relu" sets the running statistics to the terms' N(0, 1) moments, so the fit holds in
    evaluation mode, in training mode on a standard-normal batch and after recalibrate."""
    z = np.random.default_rng(0).standard_normal((20000, 3))
    layer = SLAF(3, degree, init="relu", dtype=np.float64)

    def rms(y):
        return float(np.sqrt(np.mean((y - np.maximum(z, 0)) ** 2)))

    evaluation, training = rms(layer.forward(z)), rms(layer.forward(z, training=True))
    recalibrate(layer, z)
    after = rms(layer.forward(z))
    assert evaluation < 0.11
    assert abs(training - evaluation) < 0.1 * evaluation
    assert abs(after - evaluation) < 0.1 * evaluation
