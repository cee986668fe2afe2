"""slaf_np.approx: activation targets, least-squares fits, Jackson's bound, the SLAF parameters
that realise a fit (and the layers SLAF.fit_to / SLAF.from_fit build from them)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import POLY_BASES, fit_intervals, polynomial_targets, seeds

from slaf_np import bases
from slaf_np.approx import (
    ACTIVATIONS,
    BERNSTEIN_CONSTANT,
    fit_activation,
    fit_standard_normal,
    jackson_bound,
    layer_coefficients,
    sigmoid,
    slaf_parameters,
)
from slaf_np.nn import activations as nn_activations
from slaf_np.nn import slaf as nn_slaf
from slaf_np.nn.slaf import SLAF

P = np.polynomial.polynomial
SMOOTH = [n for n, a in ACTIVATIONS.items() if a.smooth]


# ------------------------------------------------------------------------------ targets

def test_activation_values_match_textbook_formulas():
    x = np.linspace(-8, 8, 1601)
    erf = np.vectorize(math.erf)
    ref = {"relu": np.maximum(x, 0), "leaky_relu": np.where(x > 0, x, 0.01 * x),
           "sigmoid": 1 / (1 + np.exp(-x)), "tanh": np.tanh(x), "silu": x / (1 + np.exp(-x)),
           "elu": np.where(x > 0, x, np.exp(x) - 1), "gelu": 0.5 * x * (1 + erf(x / math.sqrt(2))),
           "softplus": np.log(1 + np.exp(x))}
    assert set(ref) == set(ACTIVATIONS)
    for name, want in ref.items():
        np.testing.assert_allclose(ACTIVATIONS[name](x), want, rtol=1e-13, atol=1e-15,
                                   err_msg=name)


def test_activations_are_overflow_free_and_accurate_in_the_tails():
    x = np.array([-1000.0, -745.0, -40.0, 40.0, 745.0, 1000.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):   # underflow to 0 is fine
        out = {n: a(x) for n, a in ACTIVATIONS.items()}
    assert all(np.isfinite(v).all() for v in out.values())
    assert out["sigmoid"][2] == pytest.approx(math.exp(-40), rel=1e-14)   # no 1 - 1 cancellation
    assert out["softplus"][2] == pytest.approx(math.exp(-40), rel=1e-14)
    assert out["gelu"][2] == pytest.approx(-40 * 0.5 * math.erfc(40 / math.sqrt(2)), rel=1e-14)
    np.testing.assert_array_equal(out["softplus"][3:], x[3:])


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_lipschitz_constant_is_the_max_slope(name):
    x = np.linspace(-20, 20, 400_001)        # softplus: sup of sigmoid, 1 - 2e-9 at 20
    slopes = np.abs(np.diff(ACTIVATIONS[name](x)) / np.diff(x))
    assert slopes.max() == pytest.approx(ACTIVATIONS[name].lipschitz, abs=1e-6)


# ------------------------------------------------------------------------------ Jackson

def test_jackson_bound_values():
    assert jackson_bound(1.0, 1.0, 0) == pytest.approx(math.pi / 2)
    assert jackson_bound(2.0, 3.0, 5) == pytest.approx(math.pi / 2)          # pi/2 * 6 / 6
    assert jackson_bound(0.25, 4.0, 9) == pytest.approx(math.pi / 20)
    np.testing.assert_allclose(jackson_bound(1.0, 2.0, np.arange(3)), np.pi * np.array([1, 1 / 2,
                                                                                         1 / 3]))
    for bad in ((1.0, 0.0, 3), (1.0, 1.0, -1), (-1.0, 1.0, 2)):
        with pytest.raises(ValueError):
            jackson_bound(*bad)


@pytest.mark.parametrize("a", [1.0, 3.0])
def test_every_lipschitz_fit_is_below_jacksons_bound(a):
    for name, act in ACTIVATIONS.items():
        for k in range(1, 13):
            fit = fit_activation(name, k, interval=(-a, a))
            assert fit.sup_error <= jackson_bound(act.lipschitz, a, k), (name, k)


def test_relu_error_rate_between_bernstein_and_jackson():
    """E_k(max(x, 0)) = E_k(|x|) / 2 ~ 0.1401 / k (Bernstein); the Chebyshev least-squares fit is
    within a constant of that (it tends to 1 / (pi k)), and below Jackson's pi / (2 (k + 1))."""
    for k in range(2, 33, 3):
        err = fit_activation("relu", k, interval=(-1, 1)).sup_error
        assert 0.1 / k < err < jackson_bound(1.0, 1.0, k), k
        assert err >= BERNSTEIN_CONSTANT / 2 / k * 0.85, k     # never better than the best
    k = 32
    assert k * fit_activation("relu", k, interval=(-1, 1)).sup_error == pytest.approx(
        1 / math.pi, rel=0.05)


# ------------------------------------------------------------------------------ the fit

@pytest.mark.parametrize("name", SMOOTH)
def test_errors_decrease_with_degree_for_smooth_targets(name):
    sup = [fit_activation(name, k, interval=(-3, 3)).sup_error for k in range(1, 15)]
    l2 = [fit_activation(name, k, interval=(-3, 3)).l2_error for k in range(1, 15)]
    for e in (sup, l2):
        assert all(e[i + 2] < e[i] for i in range(len(e) - 2)), e   # parity may stall one step
        assert e[-1] < 1e-2 * e[1]                                     # geometric convergence


@given(polynomial_targets(), fit_intervals(), st.sampled_from(POLY_BASES))
def test_exact_recovery_of_polynomials(target, interval, basis):
    coef, k = target
    fit = fit_activation(lambda x: P.polyval(x, coef), k, basis=basis, interval=interval)
    x = np.linspace(*interval, 501)
    scale = np.abs(P.polyval(x, coef)).max() + 1e-300
    assert fit.sup_error <= 1e-10 * scale + 1e-14
    assert fit.l2_error <= 1e-10 * scale + 1e-14
    np.testing.assert_allclose(P.polyval(x, fit.monomial), P.polyval(x, coef),
                               atol=1e-8 * scale + 1e-13)


@given(fit_intervals(), st.integers(1, 14), st.sampled_from(sorted(ACTIVATIONS)))
def test_bases_give_the_same_fitted_function(interval, k, name):
    fits = {b: fit_activation(name, k, basis=b, interval=interval) for b in POLY_BASES}
    x = np.linspace(*interval, 1001)
    ref = fits["chebyshev"](x)
    np.testing.assert_allclose(fits["legendre"](x), ref, atol=1e-12)
    for b in ("power", "hermite"):      # worse conditioned (1e5 .. 1e6 at k = 14), same function
        np.testing.assert_allclose(fits[b](x), ref, atol=1e-9)
    assert fits["chebyshev"].cond < 1.5 and fits["legendre"].cond < 10


def test_fit_result_forms_agree():
    fit = fit_activation("silu", 9, basis="legendre", interval=(-2.0, 5.0))
    x = np.linspace(-2, 5, 301)
    np.testing.assert_allclose(P.polyval(x, fit.monomial), fit(x), atol=1e-12)
    np.testing.assert_allclose(fit.evaluate(x, np.float32), fit(x), atol=1e-5)
    assert fit.evaluate(x, np.float32).dtype == np.float32
    assert fit.sup_error == pytest.approx(np.abs(ACTIVATIONS["silu"](x) - fit(x)).max(), rel=0.05)
    assert fit.l2_error <= fit.sup_error
    assert -2 <= fit.argmax <= 5 and fit.n_points == 20 * 9 + 200
    d = fit.to_dict()
    assert d["degree"] == 9 and len(d["coef"]) == len(d["monomial"]) == 10


def test_raw_basis_gives_the_same_fit_with_a_worse_condition_number():
    scaled = fit_activation("tanh", 10, basis="chebyshev", interval=(-3, 3))
    raw = fit_activation("tanh", 10, basis="chebyshev", interval=(-3, 3), raw=True)
    assert (raw.center, raw.halfwidth, raw.scale) == (0.0, 1.0, 1.0)
    assert raw.sup_error == pytest.approx(scaled.sup_error, rel=1e-6)
    assert raw.cond > 1e3 * scaled.cond


def test_l2_method_minimises_the_rms_error():
    for name in ("relu", "tanh", "elu"):
        a = fit_activation(name, 6, interval=(-2, 3), method="lstsq")
        b = fit_activation(name, 6, interval=(-2, 3), method="l2")
        assert b.l2_error <= a.l2_error * (1 + 1e-9)


def test_l2_error_of_a_known_case():
    """x^2 on [-1, 1] by a line: the L2 projection is the constant 1/3 (the mean of x^2), the
    residual x^2 - 1/3 has RMS sqrt(1/5 - 1/9) = sqrt(4/45) and sup 2/3 (at x = +-1)."""
    fit = fit_activation(lambda x: x * x, 1, interval=(-1, 1), method="l2")
    np.testing.assert_allclose(fit.monomial, [1 / 3, 0], atol=1e-13)
    assert fit.l2_error == pytest.approx(math.sqrt(4 / 45), rel=1e-12)
    assert fit.sup_error == pytest.approx(2 / 3, rel=1e-12)


def test_fit_rejects_bad_arguments():
    with pytest.raises(ValueError, match="interval"):
        fit_activation("relu", 3, interval=(1.0, 1.0))
    with pytest.raises(ValueError, match="method"):
        fit_activation("relu", 3, method="remez")
    with pytest.raises(ValueError, match="polynomial"):
        fit_activation("relu", 3, basis="fourier")
    with pytest.raises(ValueError, match="unknown activation"):
        fit_activation("swish2", 3)
    with pytest.raises(ValueError, match="degree"):
        fit_activation("relu", 0)
    with pytest.raises(TypeError):
        fit_activation(3.0, 2)


# ------------------------------------------------------------------------------ SLAF layers

@given(st.sampled_from(POLY_BASES), st.integers(1, 8), seeds)
def test_layer_coefficients_round_trip(basis, k, seed):
    rng = np.random.default_rng(seed)
    c, b = rng.standard_normal((3, k)), rng.standard_normal(3)
    mono = c @ bases.monomial_matrix(basis, k)
    mono[:, 0] += b
    c2, b2 = layer_coefficients(mono, basis)
    np.testing.assert_allclose(c2, c, atol=1e-9)
    np.testing.assert_allclose(b2, b, atol=1e-9)


@pytest.mark.parametrize("basis", POLY_BASES)
@pytest.mark.parametrize("normalize", [False, True])
def test_slaf_fit_to_realises_the_fits(basis, normalize):
    intervals = np.array([[-1.0, 1.0], [-3.0, 3.0], [0.3, 4.2], [-5.0, 2.0], [-0.1, 0.05]])
    layer, fits = SLAF.fit_to("tanh", 5, 8, intervals, basis=basis, normalize=normalize,
                              return_fits=True)
    assert layer.normalize == normalize and layer.params["c"].shape == (5, 8)
    z = np.stack([np.linspace(lo, hi, 401) for lo, hi in intervals], axis=1)
    y = layer.forward(z)
    want = np.stack([f(z[:, d]) for d, f in enumerate(fits)], axis=1)
    np.testing.assert_allclose(y, want, atol=1e-10)
    err = np.abs(y - np.tanh(z)).max(axis=0)              # 401 points vs the fits' 20,001
    sup = np.array([f.sup_error for f in fits])
    assert np.all(err <= sup * (1 + 1e-6) + 1e-12) and np.all(err >= 0.99 * sup)
    p = slaf_parameters(np.stack([f.monomial for f in fits]), intervals, basis, normalize)
    np.testing.assert_array_equal(layer.params["c"], p.c)       # the layer holds the numbers
    np.testing.assert_array_equal(layer.buffers["running_mean"], p.mean)


def test_slaf_fit_to_normalised_statistics_are_the_uniform_moments():
    layer = SLAF.fit_to("relu", 2, 3, [[-1.0, 3.0], [0.0, 2.0]], basis="power", normalize=True)
    # z ~ U(-1, 3): E z = 1, Var z = 16/12; E z^2 = 7/3
    assert layer.buffers["running_mean"][0, :2] == pytest.approx([1.0, 7 / 3])
    assert layer.buffers["running_var"][0, 0] == pytest.approx(16 / 12)
    z = np.random.default_rng(0).uniform(0, 2, 10**6)
    assert layer.buffers["running_var"][1, 2] == pytest.approx(np.var(z**3), rel=1e-2)


def test_slaf_from_fit_and_float32_layers():
    fit = fit_activation("gelu", 6, basis="chebyshev", interval=(-3, 3))
    z = np.linspace(-3, 3, 201)[:, None].repeat(4, axis=1)
    for basis in POLY_BASES:
        layer = SLAF.from_fit(fit, 4, basis=basis, normalize=basis != "power")
        np.testing.assert_allclose(layer.forward(z), fit(z), atol=1e-11)
    layer32 = SLAF.from_fit(fit, 4, normalize=True, dtype=np.float32)
    y32 = layer32.forward(z.astype(np.float32))
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32, fit(z), atol=1e-4)


def test_slaf_fit_to_rejects_empty_intervals():
    with pytest.raises(ValueError, match=r"interval of feature 1 is \(2.0, 2.0\), need lo < hi"):
        SLAF.fit_to("relu", 3, 4, [[-1.0, 1.0], [2.0, 2.0], [0.0, 1.0]])


# ------------------------------------------------------------------------------ one source of truth

def test_one_table_of_activations_and_one_sigmoid():
    """SLAF's named inits are the names of ACTIVATIONS and the layers use approx's sigmoid: there
    is no second table of formulas (the old nn/slaf.py TARGETS had a second GELU)."""
    assert nn_slaf.INITS == ("paper", "normal", "identity", *ACTIVATIONS)
    assert not hasattr(nn_slaf, "TARGETS")
    assert nn_activations.sigmoid is sigmoid
    z = np.array([-800.0, -1.0, 0.0, 2.0, 800.0], dtype=np.float32)
    assert sigmoid(z).dtype == np.float32 and np.isfinite(sigmoid(z)).all()


def test_approx_builds_no_layer():
    """Imports point one way (nn -> approx -> bases): approx imports nothing of the package but
    bases, not even inside a function (as slaf_from_fit once imported SLAF)."""
    import ast
    import inspect

    import slaf_np.approx as approx

    tree = ast.parse(inspect.getsource(approx))
    imported = {(node.level, node.module) for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom)}
    assert {m for level, m in imported if level > 0} <= {None}          # "from . import bases"
    assert not any(isinstance(node, ast.Import) and any("slaf_np" in a.name for a in node.names)
                   for node in ast.walk(tree))
    assert not any(m and m.startswith("slaf_np") for _, m in imported)


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("basis", ["power", "hermite", "fourier"])
def test_fit_standard_normal_is_the_weighted_least_squares_fit(basis, normalize):
    """The residual of the fit is orthogonal (under the normal weights on the grid) to the
    constant and to every standardised term: the normal equations of a least-squares fit."""
    fit = fit_standard_normal("gelu", 5, basis, normalize)
    z = np.linspace(-6.0, 6.0, 2401)
    w = np.exp(-0.5 * z * z)
    w /= w.sum()
    G, _ = bases.evaluate(basis, z, 5)
    if normalize:
        np.testing.assert_allclose(fit.mean, w @ G, rtol=1e-12, atol=1e-15)
    Ph = (G - fit.mean) / np.sqrt(fit.var + 1e-8) if normalize else G
    resid = Ph @ fit.a + fit.b - ACTIVATIONS["gelu"](z)
    np.testing.assert_allclose(np.hstack([np.ones((z.size, 1)), Ph]).T @ (w * resid), 0,
                               atol=1e-12)
