"""The SLAF layer: gradients in three tiers (float64), a hand-worked SGD step, properties, the
initialisations, the polynomial form, and the error messages.

The option matrix is basis (5) x coefficients (shared / per feature) x layout (dense (N, D) / conv
(N, C, H, W)) x normalize x gate x mode (training / evaluation) x the scaling layer in front of
the SLAF (nothing, MaxScale, SampleMaxScale, Affine, BatchNorm: the training routines, checked
as ``Sequential(scaling, SLAF)``). The tiny-shape Jacobian and the realistic-shape directional
checks loop over the whole matrix inside one test per (basis, layout), so the suite stays small;
hypothesis then draws random configurations, shapes and values on top. The scaling layers' own
checks are in tests/test_scaling.py.
"""

import itertools
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import (
    POLY_BASES,
    SCALINGS,
    SLAF_BASES,
    scale_layer,
    seeds,
    slaf_configs,
    slaf_inputs,
)

from slaf_np import bases
from slaf_np.approx import ACTIVATIONS
from slaf_np.gradcheck import (
    GradcheckError,
    check_directional,
    check_jacobian,
    check_model,
)
from slaf_np.nn import LAYERS, Dense, SampleMaxScale, Sequential
from slaf_np.nn.slaf import SLAF, SLAFCache
from slaf_np.train.calibration import recalibrate
from slaf_np.train.losses import mse

LAYOUTS = {"dense": ((5, 2), (64, 32)), "conv": ((3, 2, 2, 2), (16, 8, 4, 4))}


def _matrix():
    """(shared, normalize, scaling in front, gate)."""
    return itertools.product((False, True), (True, False), SCALINGS, (False, True))


def _with_front(scaling, layer):
    """``layer`` alone, or ``Sequential(scaling layer, layer)``."""
    front = scale_layer(scaling, layer.num_features, seed=5)
    return layer if front is None else Sequential(front, layer)


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
    for shared, normalize, scaling, gate in _matrix():
        for training in (True, False):
            layer = _with_front(scaling, SLAF(shape[1], 3, basis=basis, shared=shared,
                                              normalize=normalize, gate=gate, rng=1,
                                              dtype=np.float64))
            _moved(layer, shape, rng)
            x = 0.2 + rng.standard_normal(shape)
            check_jacobian(layer, x, training=training)


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("basis", SLAF_BASES)
def test_directional_whole_matrix(basis, layout):
    """<u, J v> against central differences along random directions on realistic shapes."""
    rng = np.random.default_rng(1)
    shape = LAYOUTS[layout][1]
    for shared, normalize, scaling, gate in _matrix():
        for training in (True, False):
            layer = _with_front(scaling, SLAF(shape[1], 4, basis=basis, shared=shared,
                                              normalize=normalize, gate=gate, rng=2,
                                              dtype=np.float64))
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


@pytest.mark.parametrize("scaling, basis, shared, normalize", [
    ("max", "chebyshev", False, False),          # MS
    ("sample_max", "fourier", True, False),      # EMFN
    (None, "power", True, False),                # GC on two spirals: raw powers, nothing before
    ("affine", "chebyshev", False, False),       # GC on MNIST: a fixed-statistics batch norm
    ("batchnorm", "chebyshev", False, False),    # this project's earlier GC
    ("max", "chebyshev", True, True),
    (None, "chebyshev", True, True)])
@pytest.mark.parametrize("training", [True, False])
def test_model_gradient_routines_and_sharing(scaling, basis, shared, normalize, training):
    """The whole-model check for the training routines (a scaling layer before each SLAF) and for
    shared coefficients, two SLAF layers deep (so the second layer's input depends on the first's
    parameters, the scaling layers' included)."""
    rng = np.random.default_rng(4)
    k = 4 if basis == "fourier" else 2
    model = Sequential(Dense(3, 5, rng=0, init="glorot", dtype=np.float64),
                       _with_front(scaling, SLAF(5, 3, shared=shared, normalize=normalize,
                                                 rng=1, dtype=np.float64)),
                       Dense(5, 4, rng=2, init="glorot", dtype=np.float64),
                       _with_front(scaling, SLAF(4, k, basis=basis, shared=shared,
                                                 normalize=normalize, rng=3, dtype=np.float64)),
                       Dense(4, 1, rng=4, init="glorot", dtype=np.float64))
    X, Y = rng.standard_normal((16, 3)), rng.standard_normal((16, 1))
    model.forward(X, training=True)
    check_model(model, X, Y, mse, training=training)


# -- negative controls ------------------------------------------------------------------------
class _DropsBatchNormTerm(SLAF):
    """A wrong backward: treats the batch statistics as constants in training (dx only)."""

    def backward(self, dy):
        cache = self._cache
        self._cache = cache._replace(batch_stats=False)
        try:
            return super().backward(dy)
        finally:
            self._cache = cache


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


# -- the layer against its formulas ----------------------------------------------------------
def _reference(layer, x, dy, training):
    """(y, dx, dc, db, batch mean, batch var) of a SLAF from the module docstring's formulas,
    in float64 with numpy only (bases.evaluate for g_i and g_i')."""
    z = np.moveaxis(np.asarray(x, np.float64), 1, -1)                  # (..., D)
    g = np.moveaxis(np.asarray(dy, np.float64), 1, -1)[..., None]      # (..., D, 1)
    G, dG = bases.evaluate(layer.basis, z, layer.degree)                # (..., D, k)
    red = tuple(range(G.ndim - 2))
    if training:
        mean, var = G.mean(axis=red), G.var(axis=red)
    else:
        mean = layer.buffers["running_mean"].astype(np.float64)
        var = layer.buffers["running_var"].astype(np.float64)
    s = np.sqrt(var + layer.eps)
    Ph = (G - mean) / s
    gate = 1 / (1 + np.exp(-layer.params["alpha"].astype(np.float64))) if layer.gate else 1.0
    a = layer.params["c"].astype(np.float64) * gate
    y = (Ph * a).sum(axis=-1) + layer.params["b"].astype(np.float64)
    dPh = g * a
    if training:
        dPh = dPh - dPh.mean(axis=red) - Ph * (dPh * Ph).mean(axis=red)
    dz = (dPh / s * dG).sum(axis=-1)
    dc = (g * Ph).sum(axis=red) * gate
    db = g[..., 0].sum(axis=red)
    return (np.moveaxis(y, -1, 1), np.moveaxis(dz, -1, 1), dc, db, mean, var)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(32, 20), (6, 5, 3, 3)])
@pytest.mark.parametrize("basis", ["legendre", "fourier"])
def test_layer_follows_its_formulas(dtype, shape, basis):
    """Forward, backward, gradients and running statistics in both modes against a NumPy
    reference of the formulas (the kernels, whatever they are, through the layer)."""
    rng = np.random.default_rng(4)
    x = (0.2 + 0.5 * rng.standard_normal(shape)).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    tol = 1e-10 if dtype == np.float64 else 2e-4
    layer = SLAF(shape[1], 5, basis=basis, gate=True, decay=0.9, rng=0, dtype=dtype)
    for training in (True, False):
        y_ref, dx_ref, dc_ref, db_ref, mean, var = _reference(layer, x, dy, training)
        before = {k: v.astype(np.float64) for k, v in layer.buffers.items()}
        layer.zero_grad()
        y = layer.forward(x, training=training)
        dx = layer.backward(dy)
        for got, want in ((y, y_ref), (dx, dx_ref), (layer.grads["c"], dc_ref),
                          (layer.grads["b"], db_ref)):
            assert got.dtype == dtype
            np.testing.assert_allclose(got, want, rtol=tol, atol=tol * np.abs(want).max())
        if training:                                    # r <- 0.9 r + 0.1 batch
            want = {"running_mean": 0.9 * before["running_mean"] + 0.1 * mean,
                    "running_var": 0.9 * before["running_var"] + 0.1 * var}
        else:
            want = before
        for key, value in want.items():
            np.testing.assert_allclose(layer.buffers[key], value, rtol=tol, atol=tol)


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
    for basis in SLAF_BASES:          # no scaling inside: the routines' scalings are layers
        layer = SLAF(3, 8, basis=basis, shared=True, normalize=False)
        assert set(layer.params) == {"c", "b"}
        assert set(layer.buffers) == {"running_mean", "running_var"}


def test_paper_initialisation():
    layer = SLAF(5, 3, rng=0)
    expected = np.random.default_rng(0).standard_normal((5, 3))
    expected[:, 0] += 1
    np.testing.assert_allclose(layer.params["c"], expected.astype(np.float32))
    np.testing.assert_allclose(layer.params["b"], 0.1)


def test_normal_initialisation_is_the_gc_scripts():
    """init="normal" (the authors' two-spirals GC): c ~ N(0, 1) with no +1 on the linear term,
    one shared vector, b = 0.1; the same draws as "paper" (gate first, then c)."""
    layer = SLAF(5, 4, shared=True, normalize=False, init="normal", gate=True, rng=3,
                 dtype=np.float64)
    rng = np.random.default_rng(3)
    alpha = rng.standard_normal(4)
    np.testing.assert_array_equal(layer.params["alpha"], alpha)
    np.testing.assert_array_equal(layer.params["c"], rng.standard_normal((1, 4)))
    np.testing.assert_array_equal(layer.params["b"], [0.1])
    paper = SLAF(5, 4, shared=True, normalize=False, gate=True, rng=3, dtype=np.float64)
    np.testing.assert_array_equal(paper.params["c"][:, 1:], layer.params["c"][:, 1:])
    np.testing.assert_allclose(paper.params["c"][:, 0] - 1, layer.params["c"][:, 0], rtol=1e-15)


def test_running_statistics_follow_batch_norm():
    rng = np.random.default_rng(0)
    x = 1 + rng.standard_normal((50, 3, 2, 2))
    layer = SLAF(3, 3, decay=0.9, dtype=np.float64)
    layer.forward(x, training=True)
    P = np.stack([x ** i for i in (1, 2, 3)], axis=-1)
    mean, var = P.mean(axis=(0, 2, 3)), P.var(axis=(0, 2, 3))
    np.testing.assert_allclose(layer.buffers["running_mean"], 0.1 * mean, rtol=1e-12)
    np.testing.assert_allclose(layer.buffers["running_var"], 0.9 + 0.1 * var, rtol=1e-12)
    saved = {k: v.copy() for k, v in layer.buffers.items()}
    layer.forward(5 * x)                                   # evaluation: nothing recorded
    for key, value in saved.items():
        np.testing.assert_array_equal(layer.buffers[key], value)


def test_emfn_matches_its_formula():
    """EMFN = SampleMaxScale then a fourier SLAF: x^ = z / (2 max_sample |z| + 1),
    y = sum_j c_j g_j(x^) + b."""
    rng = np.random.default_rng(0)
    z = rng.standard_normal((10, 4, 2, 2))
    layer = SLAF(4, 4, basis="fourier", shared=True, normalize=False, rng=0, dtype=np.float64)
    emfn = Sequential(SampleMaxScale(dtype=np.float64), layer)
    c, b = layer.params["c"][0], layer.params["b"][0]
    x = z / (2 * np.abs(z).reshape(10, -1).max(axis=1)[:, None, None, None] + 1)
    th = np.pi / 2 * x
    expected = (c[0] * np.sin(th) + c[1] * np.cos(2 * th) + c[2] * np.sin(3 * th)
                + c[3] * np.cos(4 * th) + b)
    np.testing.assert_allclose(emfn.forward(z), expected, rtol=1e-12)
    np.testing.assert_allclose(emfn.forward(z, training=True), expected, rtol=1e-12)


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


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_named_inits_approximate_their_activation(name):
    """Every name of the one activation table is an init, and fits its target of the layer's own
    input (normalised or raw, gated or not)."""
    z = np.random.default_rng(1).standard_normal((20_000, 3))
    for normalize, gate in itertools.product((True, False), (True, False)):
        layer = SLAF(3, 6, init=name, normalize=normalize, gate=gate, rng=0, dtype=np.float64)
        err = np.sqrt(np.mean((layer.forward(z) - ACTIVATIONS[name](z)) ** 2))
        assert err < 0.06, (name, normalize, gate, err)


def test_callable_and_fourier_inits():
    z = np.random.default_rng(2).standard_normal((5000, 8))
    layer = SLAF(8, 6, init=lambda u: np.abs(u), dtype=np.float64)
    assert np.sqrt(np.mean((layer.forward(z) - np.abs(z)) ** 2)) < 0.1
    # fourier: sines and cosines of period 4 fitted to tanh of the layer's own input z ~ N(0, 1)
    # (a poor family for it: the routine puts SampleMaxScale in front, |x^| < 1/2); the init is
    # the best such sum, by least squares on the samples with the terms written out here
    fourier = SLAF(8, 8, basis="fourier", normalize=False, init="tanh", dtype=np.float64)
    err = np.sqrt(np.mean((fourier.forward(z) - np.tanh(z)) ** 2))
    th = np.pi / 2 * z[:, :1]
    V = np.hstack([np.ones_like(th)] + [f((j + 1) * th) for j in range(8)
                                        for f in ((np.sin,) if j % 2 == 0 else (np.cos,))])
    t = np.tanh(z[:, 0])
    best = np.sqrt(np.mean((V @ np.linalg.lstsq(V, t, rcond=None)[0] - t) ** 2))
    assert err <= best + 0.01, (err, best)


# -- the polynomial form ----------------------------------------------------------------------
@given(config=slaf_configs(bases=POLY_BASES, max_degree=6),
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


@pytest.mark.parametrize("basis", ["hermite", "fourier"])
def test_activation_curve_matches_forward(basis):
    rng = np.random.default_rng(0)
    layer = _moved(SLAF(3, 4, basis=basis, gate=True, rng=0, dtype=np.float64), (20, 3), rng)
    z = np.linspace(-2, 2, 9)
    np.testing.assert_allclose(layer.activation(z), layer.forward(np.repeat(z[:, None], 3, 1)),
                               rtol=1e-12)


# -- description and errors -------------------------------------------------------------------
def test_config_rebuilds_and_repr():
    layer = SLAF(6, 4, basis="chebyshev", shared=True, gate=True, init="tanh")
    rebuilt = LAYERS["SLAF"](**layer.config())
    assert rebuilt.config() == layer.config()
    assert repr(layer) == ("SLAF(6, degree=4, basis='chebyshev', shared=True, init='tanh', "
                           "gate=True)")
    assert repr(SLAF(3, 8, basis="fourier")) == "SLAF(3, degree=8, basis='fourier')"
    assert repr(SLAF(3, 2, init="normal")) == "SLAF(3, degree=2, init='normal')"
    assert SLAF(3, 2, init=np.sin).config()["init"] == "identity"
    assert layer.output_shape((None, 6)) == (None, 6)


@pytest.mark.parametrize("kwargs, match", [
    ({"degree": 0}, "degree must be an integer >= 1, got 0"),
    ({"degree": 2.5}, "degree must be an integer"),
    ({"degree": True}, "degree"),
    ({"basis": "laguerre"}, "unknown basis 'laguerre'; valid: power, chebyshev"),
    ({"init": "swish"}, "unknown init 'swish'; valid: paper, normal, identity, relu"),
    ({"decay": 1.0}, r"decay must be in \[0.0, 1.0\)"),
    ({"decay": -0.1}, "decay"),
    ({"eps": 0.0}, r"eps must be in \(0.0, inf\)"),
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
    assert isinstance(layer._cache, SLAFCache) and layer._cache.batch_stats


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


def test_repr_shows_a_callable_init_by_its_name():
    """config() records a callable init as "identity" (saved values replace it); the repr must
    not claim the layer was built with init='identity'."""
    def my_act(z):
        return np.maximum(z, 0.0)

    text = repr(SLAF(3, 4, init=my_act, dtype=np.float64))
    assert "init=my_act" in text and "identity" not in text
    assert repr(SLAF(3, 4, init="identity")) == "SLAF(3, degree=4, init='identity')"


# -- overflow in evaluation: a warning, not silent inf ------------------------------------------
def _big_input(dtype):
    """(4, 3), finite, largest |value| exactly 1e4: degree 12 reaches 1e48 > float32's 3.4e38."""
    return np.linspace(-1e4, 1e4, 12).reshape(4, 3).astype(dtype)


def test_float32_overflow_in_evaluation_warns_once_per_layer_with_the_numbers():
    """The kernels sum the terms in float64 and cast to float32: |z|^12 = 1e48 becomes inf. The
    warning names the layer, degree, dtype, largest |input|, largest term and the fixes, once
    per layer instance (a second call is silent, another layer warns again); training mode,
    where fit's divergence guard reports it, does not warn."""
    layer = SLAF(3, 12, normalize=False, rng=0, dtype=np.float32)
    x = _big_input(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        layer.forward(x, training=True)                             # training: no warning
    with pytest.warns(RuntimeWarning, match="evaluation-mode output has non-finite") as rec:
        y = layer.forward(x)
    assert not np.isfinite(y).all()                                 # the output is unchanged
    assert len(rec) == 1
    text = str(rec[0].message)
    for part in ("SLAF(3, degree=12, normalize=False).forward", "degree 12", "dtype float32",
                 f"largest |input| {1e4:.3g}", f"|g_12({1e4:.3g})| = {1e4 ** 12:.3g}",
                 f"float32 holds at most {np.finfo(np.float32).max:.3g}",
                 "use float64", "lower the degree", "normalisation or scaling layer"):
        assert part in text, part
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        layer.forward(x)                                            # once per layer
    with pytest.warns(RuntimeWarning, match="evaluation-mode output has non-finite"):
        SLAF(3, 12, normalize=False, rng=0, dtype=np.float32).forward(x)


def test_a_finite_evaluation_output_gives_no_warning_and_keeps_the_warning_armed():
    """The same degree and inputs in float64 (1e48 fits), and float32 inputs of order 1, stay
    silent; a silent call must not use up the layer's one warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = SLAF(3, 12, normalize=False, rng=0, dtype=np.float64).forward(_big_input(np.float64))
        assert np.isfinite(y).all()
        layer = SLAF(3, 12, normalize=False, rng=0, dtype=np.float32)
        layer.forward(_big_input(np.float32) / 1e4)
    with pytest.warns(RuntimeWarning, match="evaluation-mode output has non-finite"):
        layer.forward(_big_input(np.float32))


def test_a_non_finite_parameter_is_named_instead_of_blaming_the_dtype():
    layer = SLAF(3, 4, rng=0, dtype=np.float64)
    layer.buffers["running_var"][1, 2] = np.inf
    layer.params["b"][0] = np.nan
    with pytest.warns(RuntimeWarning, match=r"its b, running_var hold non-finite values") as rec:
        layer.forward(np.ones((2, 3)))
    assert "use float64" not in str(rec[0].message)                 # no dtype advice
    assert "lower the degree" not in str(rec[0].message)


@pytest.mark.filterwarnings("ignore:SLAF:RuntimeWarning")
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_fit_on_an_overflowing_float32_slaf_still_raises_divergence():
    """Training mode is the divergence guard's: the overflow stops fit with its error."""
    from slaf_np.train import TrainingDivergedError, fit
    from slaf_np.train.optim import SGD

    model = Sequential(SLAF(3, 12, normalize=False, rng=0, dtype=np.float32))
    X = np.tile(_big_input(np.float32), (2, 1))
    with pytest.raises(TrainingDivergedError, match="training diverged"):
        fit(model, X, np.zeros_like(X), "mse", SGD(model, lr=1e-3), epochs=1, batch_size=4,
            verbose=False)
