"""Tests of slaf_np.polynomial (algebra, kernels, expand) and slaf_np.kernels.polynomial."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import int_polynomials, seeds, slnn_configs

import slaf_np as sn
from slaf_np.kernels import polynomial as pk
from slaf_np.nn import SLAF, AvgPool2D, MaxPool2D, Reshape
from slaf_np.polynomial import (
    Polynomial,
    PolynomialVector,
    arithmetic,
    count_monomials,
    degree_bound,
    expand,
    monomials,
    register_expansion,
)
from slaf_np.polynomial.monomials import monomial_exponents, monomial_parents

F64 = np.float64


def naive_eval(p: Polynomial, X: np.ndarray) -> np.ndarray:
    """sum_m c_m prod_v x_v^{e_mv}, straight from the definition."""
    return np.prod(X[:, None, :] ** p.exponents[None], axis=2) @ p.coefs


def naive_product(p: Polynomial, q: Polynomial) -> dict:
    out: dict = {}
    for (e1, c1), (e2, c2) in itertools.product(p.to_dict().items(), q.to_dict().items()):
        e = tuple(a + b for a, b in zip(e1, e2, strict=True))
        out[e] = out.get(e, 0.0) + c1 * c2
    return {e: c for e, c in out.items() if c != 0}


def abs_poly(p):
    """|p|: the same monomials with |c|; |p|(|x|) bounds every partial sum of p(x)."""
    if isinstance(p, PolynomialVector):
        return PolynomialVector._make(p.exponents, np.abs(p.coefs), p.shape)
    return Polynomial._make(p.exponents, np.abs(p.coefs))


# ---------------------------------------------------------------------------------------------
# Graded order, ranks and the kernels' NumPy twins
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("d, K", [(1, 5), (2, 4), (3, 3), (5, 2), (4, 0)])
def test_graded_order_is_combinations_with_replacement_and_features_order(d, K):
    E, parent, var = monomials.graded_basis(d, K)
    ref = [np.bincount(c, minlength=d) for k in range(K + 1)
           for c in itertools.combinations_with_replacement(range(d), k)]
    np.testing.assert_array_equal(E, np.array(ref).reshape(-1, d))
    np.testing.assert_array_equal(E, monomial_exponents(d, K))
    for a, b in zip((parent, var), monomial_parents(d, K), strict=True):
        np.testing.assert_array_equal(a, b)
    G = pk.binomial_table(d, K)
    np.testing.assert_array_equal(monomials.ranks_of(E, G), np.arange(len(E)))
    np.testing.assert_array_equal(monomials.exponents_of(np.arange(len(E)), d, G), E)


def test_hand_worked_ranks_d2():
    # 1, x1, x2, x1^2, x1 x2, x2^2, x1^3, ...: rank(x1 x2) = C(3, 1) + C(1 + 0, 0) = 4
    G = pk.binomial_table(2, 3)
    E = np.array([[0, 0], [1, 0], [0, 1], [2, 0], [1, 1], [0, 2], [3, 0], [0, 3]])
    np.testing.assert_array_equal(monomials.ranks_of(E, G), [0, 1, 2, 3, 4, 5, 6, 9])


@st.composite
def exponent_rows(draw, max_d=5, max_K=6, max_rows=30):
    d, K = draw(st.integers(1, max_d)), draw(st.integers(0, max_K))
    rng = np.random.default_rng(draw(seeds))
    n = draw(st.integers(1, max_rows))
    E = np.array([rng.multinomial(k, np.ones(d) / d) for k in rng.integers(0, K + 1, n)])
    return E.astype(np.int64).reshape(n, d), K


@given(exponent_rows(), exponent_rows(), seeds)
def test_kernels_equal_their_numpy_twins(a, b, seed):
    (E1, K1), (E2, K2) = a, b
    d = E1.shape[1]
    E2 = np.resize(E2, (E2.shape[0], d)) % (K2 + 1)            # same d; degrees may grow
    K = max(K1, int(E2.sum(axis=1).max()))
    G = pk.binomial_table(d, K1 + K)
    for E in (E1, E2):
        r, r_np = np.empty(len(E), np.int64), np.empty(len(E), np.int64)
        pk.graded_rank(E, G, r)
        pk.graded_rank_numpy(E, G, r_np)
        np.testing.assert_array_equal(r, r_np)
        X, X_np = np.empty_like(E), np.empty_like(E)
        pk.graded_unrank(r, G, X)
        pk.graded_unrank_numpy(r, G, X_np)
        np.testing.assert_array_equal(X, E)
        np.testing.assert_array_equal(X_np, E)
    T, T_np = (np.empty((len(E1), len(E2)), np.int64) for _ in range(2))
    pk.pair_ranks(E1, E2, G, T)
    pk.pair_ranks_numpy(E1, E2, G, T_np)
    np.testing.assert_array_equal(T, T_np)
    rng = np.random.default_rng(seed)
    A = rng.integers(-3, 4, (2, len(E1))).astype(F64)           # integers: both sums exact
    B = rng.integers(-3, 4, (2, len(E2))).astype(F64)
    M = count_monomials(d, K1 + K)
    out, out_np = np.zeros((2, M)), np.zeros((2, M))
    pk.rowmul(A, B, T, out)
    pk.rowmul_numpy(A, B, T, out_np)
    np.testing.assert_array_equal(out, out_np)


@given(st.integers(1, 4), st.integers(0, 5), st.integers(1, 70), st.integers(1, 3), seeds)
def test_evaluate_kernel_equals_twin_and_definition(d, K, N, F, seed):
    rng = np.random.default_rng(seed)
    E, parent, var = monomials.graded_basis(d, K)
    C = rng.standard_normal((len(E), F))
    X = rng.uniform(-1.5, 1.5, (N, d))
    out, out_np = np.empty((N, F)), np.empty((N, F))
    pk.evaluate(X, parent, var, C, out)             # N up to 70: several blocks of 32 samples
    pk.evaluate_numpy(X, parent, var, C, out_np)
    ref = np.prod(X[:, None, :] ** E[None], axis=2) @ C
    scale = np.prod(np.abs(X)[:, None, :] ** E[None], axis=2) @ np.abs(C)
    tol = 1e-14 * len(E) * scale      # a sum of L rounded products: |error| <= L eps sum |terms|
    assert (np.abs(out - ref) <= tol).all()
    assert (np.abs(out_np - ref) <= tol).all()


def test_row_products_in_blocks_equal_the_whole_table(monkeypatch):
    rng = np.random.default_rng(0)
    d, Ka, Kb = 3, 3, 2
    A = rng.integers(-3, 4, (4, count_monomials(d, Ka))).astype(F64)
    B = rng.integers(-3, 4, (4, count_monomials(d, Kb))).astype(F64)
    whole = arithmetic.rowmul_graded(A, Ka, B, Kb, d)
    monkeypatch.setattr(arithmetic, "TABLE_LIMIT", 50)                   # blocks of 5 rows of A
    np.testing.assert_array_equal(arithmetic.rowmul_graded(A, Ka, B, Kb, d), whole)
    P = [Polynomial.from_dense(a, d) * Polynomial.from_dense(b, d)
         for a, b in zip(A, B, strict=True)]
    np.testing.assert_array_equal(np.stack([p.to_dense(Ka + Kb) for p in P]), whole)


def test_binomial_table_refuses_overflowing_ranks():
    with pytest.raises(OverflowError, match="int64"):
        pk.binomial_table(100, 40)


# ---------------------------------------------------------------------------------------------
# Algebra
# ---------------------------------------------------------------------------------------------
@given(int_polynomials(count=3))
def test_ring_laws_exactly_with_integer_coefficients(pqr):
    p, q, r = pqr
    assert p + q == q + p
    assert p * q == q * p
    assert (p + q) + r == p + (q + r)
    assert (p * q) * r == p * (q * r)
    assert p * (q + r) == p * q + p * r
    assert (p - p).n_terms == 0 and (p - p).degree == -1
    assert p * 1 == p and (p * 0).n_terms == 0 and 2 * p == p + p and (-p) * -1 == p
    assert (p * q).to_dict() == naive_product(p, q)
    if p.n_terms and q.n_terms:
        assert (p * q).degree == p.degree + q.degree            # integer ring: no zero divisors


@given(int_polynomials(count=1, max_degree=3, max_terms=4), st.integers(0, 5))
def test_power_by_squaring_equals_repeated_products(p, n):
    (p,) = p
    ref = Polynomial.constant(1.0, p.d)
    for _ in range(n):
        ref = ref * p
    assert p**n == ref


@given(int_polynomials(count=2, max_degree=5, max_terms=8), seeds)
def test_values_of_products_and_sums(pq, seed):
    p, q = pq
    X = np.random.default_rng(seed).uniform(-2, 2, (9, p.d))
    scale = abs_poly(p)(np.abs(X)) * abs_poly(q)(np.abs(X)) + 1.0
    np.testing.assert_allclose(p(X), naive_eval(p, X), rtol=0, atol=1e-12 * scale.max())
    assert (np.abs((p * q)(X) - p(X) * q(X)) <= 1e-12 * scale).all()
    assert (np.abs((p - q)(X) - (p(X) - q(X))) <= 1e-12 * scale).all()


@given(int_polynomials(count=1, max_degree=4), seeds, st.integers(1, 3))
def test_affine_substitution_is_composition(p, seed, n):
    (p,) = p
    rng = np.random.default_rng(seed)
    A, c = rng.standard_normal((n, p.d)), rng.standard_normal(p.d)
    X = rng.standard_normal((7, n))
    q = p.affine(A, c)
    assert q.d == n and q.degree <= max(p.degree, 0)
    Y = X @ A + c
    scale = abs_poly(p)(np.abs(Y)) + abs_poly(q)(np.abs(X)) + 1
    assert (np.abs(q(X) - p(Y)) <= 1e-11 * scale).all()


@given(int_polynomials(count=3, max_degree=3, max_terms=4), seeds)
def test_compose_substitutes_polynomials(pqr, seed):
    p, q, r = pqr
    E = p.exponents
    outer = Polynomial(E[:, :1], p.coefs, n_vars=1)                 # univariate
    two = Polynomial(np.c_[E[:, :1], E[:, -1:]], p.coefs, n_vars=2)  # bivariate
    X = np.random.default_rng(seed).uniform(-1, 1, (6, q.d))
    for outer_p, inner in ((outer, [q]), (two, [q, r])):
        got = outer_p.compose(inner)(X)
        want = outer_p(np.stack([s(X) for s in inner], axis=1))
        scale = abs_poly(outer_p)(np.stack([abs_poly(s)(np.abs(X)) for s in inner], axis=1))
        assert (np.abs(got - want) <= 1e-12 * (scale + 1)).all()


def test_apply_univariate_and_derivative():
    x, y = Polynomial.variable(0, 2), Polynomial.variable(1, 2)
    p = 1 + 2 * x - 3 * x * y**2
    assert p.apply([1.0, 0.0, 1.0]) == 1 + p * p                  # 1 + p^2
    assert p.derivative(1) == -6 * x * y
    assert p.derivative(0) == 2 - 3 * y**2
    assert Polynomial.constant(4.0, 2).derivative(0).n_terms == 0


def test_sparse_high_degree_products_and_evaluation():
    # d = 10, degree 20: C(30, 20) = 30 million monomials, so the product sorts ranks and
    # evaluation builds the parent closure instead of a dense basis.
    d = 10
    p = Polynomial.from_dict({(5,) + (0,) * 8 + (5,): 2.0, (0, 3) + (0,) * 8: -1.0, (0,) * 10: 1})
    q = Polynomial.from_dict({(1,) * 10: 3.0, (0,) * 9 + (2,): 0.5})
    pq = p * q
    assert pq.to_dict() == naive_product(p, q)
    X = np.random.default_rng(1).uniform(-1.2, 1.2, (5, d))
    np.testing.assert_allclose(pq(X), naive_eval(pq, X), rtol=1e-13)
    assert len(pq._get_plan().exponents) < 200


def test_products_beyond_int64_ranks_fall_back_to_sorting_rows():
    d = 70                                      # C(70 + 80, 80) > 2**62: no closed-form ranks
    e1, e2 = np.zeros(d, np.int64), np.zeros(d, np.int64)
    e1[[0, 69]], e2[[3, 69]] = 20, 5
    p = Polynomial([e1, e2, np.zeros(d)], [1.0, -2.0, 3.0])
    sq = p * p
    assert sq.to_dict() == naive_product(p, p) and sq.degree == 80
    X = np.random.default_rng(2).uniform(-1.05, 1.05, (4, d))
    np.testing.assert_allclose(sq(X), p(X) ** 2, rtol=1e-12)


def test_construction_canonicalises_and_exact_zeros_are_dropped():
    p = Polynomial([[0, 2], [1, 0], [0, 2], [0, 0], [2, 0]], [1.0, 2.0, -1.0, 0.0, 5.0])
    assert p.to_dict() == {(1, 0): 2.0, (2, 0): 5.0}
    assert p.n_terms == 2 and p.degree == 2 and p.d == 2 and p.n_vars == 2
    assert p.coef_of((2, 0)) == 5.0 and p.coef_of([0, 2]) == 0.0
    x = Polynomial.variable(0, 1)
    assert ((x + 1) * (x - 1)).to_dict() == {(0,): -1.0, (2,): 1.0}     # 0 x dropped
    assert Polynomial.from_dict(p.to_dict()) == p
    assert Polynomial.from_dense(p.to_dense(4), 2) == p
    np.testing.assert_array_equal(p.to_dense(), [0, 2, 0, 5, 0, 0])
    assert Polynomial.linear([1.0, -2.0], 0.5).to_dict() == {(0, 0): 0.5, (1, 0): 1.0,
                                                             (0, 1): -2.0}
    assert (p + 1e-20).prune(1e-15) == p
    assert p.allclose(p + 1e-14) and not p.allclose(p + 1e-6)
    with pytest.raises(ValueError, match="non-negative"):
        Polynomial([[-1]], [1.0])
    with pytest.raises(ValueError, match="2 and 3 variables"):
        p + Polynomial.variable(0, 3)
    with pytest.raises(ValueError, match="shape"):
        p(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="power"):
        p ** -1
    with pytest.raises(ValueError, match="read-only"):
        p.coefs[0] = 1.0                                             # immutable


def test_rendering_small_polynomials_exactly():
    p = Polynomial([[0, 0], [1, 0], [1, 2]], [1.5, 2.0, -0.3])
    assert str(p) == "1.5 + 2 x_1 - 0.3 x_1 x_2^2"
    assert p.to_latex() == "1.5 + 2 x_{1} - 0.3 x_{1} x_{2}^{2}"
    assert repr(p) == "Polynomial('1.5 + 2 x_1 - 0.3 x_1 x_2^2', d=2)"
    q = Polynomial.from_dict({(0, 0): -1.0, (0, 1): -1.0, (2, 0): 1.0, (0, 3): 1e-5})
    assert str(q) == "-1 - x_2 + x_1^2 + 1e-05 x_2^3"
    assert q.to_latex() == "-1 - x_{2} + x_{1}^{2} + 1 \\cdot 10^{-5} x_{2}^{3}"
    assert str(Polynomial.zero(3)) == "0" and repr(Polynomial.zero(2)) == "Polynomial('0', d=2)"
    big = (Polynomial.linear([1.0, 1.0], 1.0)) ** 6
    assert repr(big) == "Polynomial(d=2, degree=6, n_terms=28)"
    assert str(big).endswith(" + ... (8 more terms)") and big.to_string().count("x") > 40


def test_count_monomials():
    assert count_monomials(13, 8) == 203_490 == math.comb(21, 8)
    assert count_monomials(1, 7) == 8 and count_monomials(5, 0) == 1 and count_monomials(2, 2) == 6
    assert count_monomials(784, 2) == 308_505
    for bad in ((-1, 2), (2, -1), (1.5, 2), (True, 2)):
        with pytest.raises(ValueError, match="integer"):
            count_monomials(*bad)


# ---------------------------------------------------------------------------------------------
# expand: random small networks
# ---------------------------------------------------------------------------------------------
def _slaf(width, k, cfg, rng) -> list:
    """[the scaling layer of ``cfg["scale"]``, if any, then the SLAF], in evaluation state."""
    layer = SLAF(width, k, basis=cfg["basis"], shared=cfg["shared"], normalize=cfg["normalize"],
                 gate=cfg["gate"], rng=rng, dtype=F64)
    b = layer.buffers
    b["running_mean"][...] = 0.5 * rng.standard_normal(b["running_mean"].shape)
    b["running_var"][...] = rng.uniform(0.3, 3.0, b["running_var"].shape)
    if cfg["scale"] == "max":
        front = sn.MaxScale(width, dtype=F64)
        front.params["m"][...] = rng.uniform(1.5, 2.5)
        front.buffers["running_max"][...] = rng.uniform(0.5, 3.0, width)
        return [front, layer]
    if cfg["scale"] == "affine":
        front = sn.Affine(width, eps=1e-3, dtype=F64)
        front.params["gamma"][...] = rng.uniform(0.5, 1.5, width) * rng.choice([-1, 1], width)
        front.params["beta"][...] = rng.standard_normal(width)
        return [front, layer]
    return [layer]


def _batchnorm(width, rng):
    bn = sn.BatchNorm(width, dtype=F64)
    bn.buffers["running_mean"][...] = rng.standard_normal(width)
    bn.buffers["running_var"][...] = rng.uniform(0.3, 3.0, width)
    bn.params["gamma"][...] = rng.uniform(0.5, 1.5, width) * rng.choice([-1, 1], width)
    bn.params["beta"][...] = rng.standard_normal(width)
    return bn


def _dense(n_in, n_out, rng):
    layer = sn.Dense(n_in, n_out, rng=rng, init="glorot", dtype=F64)
    layer.params["b"][...] = 0.3 * rng.standard_normal(n_out)
    return layer


def build_slnn(cfg: dict) -> sn.Sequential:
    """The network an :func:`strategies.slnn_configs` draw describes (float64, eval state)."""
    rng = np.random.default_rng(cfg["seed"])
    layers, width = [], cfg["d"]
    n = len(cfg["degrees"])
    for i, (w, k) in enumerate(zip(cfg["widths"], cfg["degrees"], strict=True)):
        if cfg["residual"] and i == n - 1 and w == width:          # x + SLAF(Dense(x))
            layers.append(sn.Residual(_dense(width, w, rng), *_slaf(w, k, cfg, rng)))
        else:
            layers += [_dense(width, w, rng), *_slaf(w, k, cfg, rng)]
        if cfg["batchnorm"] and i == 0:
            layers += [_batchnorm(w, rng), sn.Dropout(0.5, rng=rng)]
        width = w
    layers.append(_dense(width, cfg["outputs"], rng))
    return sn.Sequential(*layers)


def _exact_forward(layers, x: list) -> list:
    """The network in exact rational arithmetic (its float parameters read as Fractions)."""
    for layer in layers:
        name = type(layer).__name__
        if name == "Dense":
            W, b = layer.params["W"], layer.params["b"]
            x = [sum((Fraction(W[i, j]) * x[i] for i in range(len(x))), Fraction(b[j]))
                 for j in range(W.shape[1])]
        elif name == "SLAF":
            P = [[Fraction(c) for c in row] for row in layer.polynomial()]
            out = []
            for z, row in zip(x, P, strict=True):
                acc = Fraction(0)
                for c in reversed(row):
                    acc = acc * z + c
                out.append(acc)
            x = out
        elif name == "BatchNorm":
            s = layer.params["gamma"] / np.sqrt(layer.buffers["running_var"] + layer.eps)
            t = layer.params["beta"] - layer.buffers["running_mean"] * s
            x = [Fraction(s[j]) * z + Fraction(t[j]) for j, z in enumerate(x)]
        elif name in ("MaxScale", "Affine"):                      # x^ = scale z + shift
            s, t = layer.evaluation_map()
            x = [Fraction(s[j]) * z + Fraction(t[j]) for j, z in enumerate(x)]
        elif name == "Residual":
            x = [a + b for a, b in zip(x, _exact_forward(layer.layers[0].layers, x), strict=True)]
        elif name != "Dropout":
            raise AssertionError(name)
    return x


@given(slnn_configs())
def test_expansion_equals_the_network(cfg):
    model = build_slnn(cfg)
    p = expand(model)
    X = np.random.default_rng(cfg["seed"] + 1).standard_normal((16, cfg["d"]))
    y = model.forward(X)
    got = p(X)
    if cfg["outputs"] == 1:
        assert isinstance(p, Polynomial)
        y = y[:, 0]
    else:
        assert isinstance(p, PolynomialVector) and got.shape == y.shape
    # Both sides are sums of rounded products: the error is a few eps times the sum of the
    # absolute terms, which |p|(|x|) bounds (up to the network's own rounding, hence 1e-10).
    scale = abs_poly(p)(np.abs(X)) + np.abs(y)
    assert (np.abs(got - y) <= 1e-10 * scale).all(), (np.abs(got - y) / scale).max()
    assert p.degree <= degree_bound(model)
    assert p.n_terms <= count_monomials(cfg["d"], degree_bound(model))


@given(slnn_configs())
def test_degree_is_exactly_the_product_of_degrees(cfg):
    """docs/paper.md claim 3, exactly: on a random line x0 + t v, the network output (computed in
    rational arithmetic) has a non-zero K-th and a zero (K+1)-th finite difference."""
    model = build_slnn(cfg)
    K = degree_bound(model)
    assert K == math.prod(cfg["degrees"])
    rng = np.random.default_rng(cfg["seed"] + 2)
    x0 = [Fraction(v) for v in rng.uniform(-1, 1, cfg["d"])]
    v = [Fraction(v) for v in rng.uniform(-1, 1, cfg["d"])]
    g = [_exact_forward(model.layers, [a + t * b for a, b in zip(x0, v, strict=True)])[0]
         for t in range(K + 2)]
    diffs = [g]
    for _ in range(K + 1):
        diffs.append([b - a for a, b in zip(diffs[-1], diffs[-1][1:], strict=False)])
    assert diffs[K + 1] == [0] and diffs[K][0] != 0
    p = expand(model, as_vector=True)
    assert p.degree == K and p[0].degree == K


def test_expand_per_channel_slaf_batchnorm_and_average_pooling():
    rng = np.random.default_rng(3)
    cfg = {"basis": "legendre", "shared": False, "normalize": True, "scale": "max",
           "gate": False}
    model = sn.Sequential(Reshape((2, 4, 2)), *_slaf(2, 3, cfg, rng), _batchnorm(2, rng),
                          AvgPool2D(2), sn.Flatten(), sn.Identity(), _dense(4, 3, rng))
    p = expand(model, 16)
    assert isinstance(p, PolynomialVector) and p.shape == (3,) and p.degree == 3
    assert degree_bound(model) == 3
    X = rng.standard_normal((11, 16))
    np.testing.assert_allclose(p(X), model.forward(X), rtol=1e-12, atol=1e-12)
    # ending on an image-shaped output: the result has that per-sample shape
    image = sn.Sequential(*_slaf(2, 2, {**cfg, "scale": "affine"}, rng), AvgPool2D(2))
    q = expand(image, input_shape=(2, 2, 4))
    X4 = rng.standard_normal((5, 2, 2, 4))
    assert q.shape == (2, 1, 2) and len(q) == 4
    np.testing.assert_allclose(q(X4.reshape(5, -1)), image.forward(X4), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(q[3](X4.reshape(5, -1)), image.forward(X4)[:, 1, 0, 1])


def test_single_output_as_vector_and_linear_networks():
    rng = np.random.default_rng(4)
    model = sn.Sequential(_dense(3, 2, rng), _dense(2, 1, rng))
    p = expand(model)
    W = model[0].params["W"] @ model[1].params["W"]
    b = model[0].params["b"] @ model[1].params["W"] + model[1].params["b"]
    assert p.allclose(Polynomial.linear(W[:, 0], b[0]))
    v = expand(model, as_vector=True)
    assert isinstance(v, PolynomialVector) and v.shape == (1,) and v.n_terms == 4
    X = rng.standard_normal((3, 3))
    np.testing.assert_allclose(v(X), model.forward(X))
    assert degree_bound(model) == 1


def test_degree_bound_values():
    def s(k):
        return SLAF(4, k, dtype=F64, rng=0)

    boston = sn.Sequential(sn.Dense(13, 128), SLAF(128, 4), sn.Dense(128, 64), SLAF(64, 2),
                           sn.Dense(64, 1))
    assert degree_bound(boston) == 8
    assert count_monomials(13, degree_bound(boston)) == 203_490
    assert degree_bound(sn.Sequential(s(3), sn.Residual(sn.Dense(4, 4), s(2)), s(2))) == 12
    assert degree_bound(sn.Sequential(s(3), sn.Residual(sn.Dense(4, 4)))) == 3
    assert degree_bound(sn.Sequential(sn.Sequential(s(2), s(3)), s(1))) == 6


def _custom():
    class Doubler(sn.Module):
        def forward(self, x, training=False):
            return 2 * x

    return Doubler()


@pytest.mark.parametrize("model, where", [
    (lambda: sn.Sequential(sn.Dense(2, 3), sn.ReLU(), sn.Dense(3, 1)), "layer 1 (ReLU)"),
    (lambda: sn.Sequential(sn.Dense(2, 2), SLAF(2, 2), sn.Residual(sn.Dense(2, 2), sn.Tanh())),
     "layer 2.0.1 (Tanh)"),
    (lambda: sn.Sequential(sn.Dense(2, 3), SLAF(3, 4, basis="fourier")), "layer 1 (SLAF)"),
    (lambda: sn.Sequential(sn.Dense(2, 3), sn.Sigmoid()), "layer 1 (Sigmoid)"),
    (lambda: sn.Sequential(sn.Dense(2, 3), _custom()), "layer 1 (Doubler)"),
])
def test_non_polynomial_layers_are_named(model, where):
    m = model()
    for f in (expand, degree_bound):
        with pytest.raises(ValueError, match=r"layer [\d.]+ \(\w+\)") as err:
            f(m)
        assert where in str(err.value) and "not polynomial" in str(err.value)
    if "SLAF" in where:
        assert "fourier" in str(err.value)


def test_max_pooling_and_shape_errors():
    with pytest.raises(ValueError, match=r"layer 1 \(MaxPool2D\)"):
        expand(sn.Sequential(SLAF(1, 2), MaxPool2D(2)), input_shape=(1, 2, 2))
    with pytest.raises(ValueError, match="input shape"):
        expand(sn.Sequential(sn.Flatten(), sn.Dense(4, 1)))
    with pytest.raises(ValueError, match=r"layer 0 \(Dense\) expects 4 input features"):
        expand(sn.Sequential(sn.Dense(4, 1)), 3)
    with pytest.raises(ValueError, match=r"layer 1 \(AvgPool2D\)"):
        expand(sn.Sequential(sn.Identity(), AvgPool2D(2)), 4)
    with pytest.raises(ValueError, match=r"layer 0 \(SLAF\) has 3 features/channels"):
        expand(sn.Sequential(SLAF(3, 2)), input_shape=(2, 2, 2))


def test_register_expansion_teaches_a_new_layer():
    from slaf_np import polynomial

    class Doubler(sn.Module):
        def forward(self, x, training=False):
            return 2 * x

    def double(layer, state, path):
        return polynomial.ExpansionState(2 * state.rows, state.degree, state.shape,
                                         state.n_vars)

    register_expansion("Doubler", double)
    try:
        model = sn.Sequential(sn.Dense(2, 2, dtype=F64, rng=0), Doubler(),
                              SLAF(2, 2, dtype=F64, rng=0), sn.Dense(2, 1, dtype=F64, rng=1))
        X = np.random.default_rng(0).standard_normal((4, 2))
        np.testing.assert_allclose(expand(model)(X), model.forward(X)[:, 0], rtol=1e-12)
        assert degree_bound(model) == 2
    finally:
        from slaf_np.polynomial import expansion

        expansion._EXPANDERS.pop("Doubler")
        expansion._DEGREES.pop("Doubler")


def test_polynomial_vector_of_polynomials():
    x, y = Polynomial.variable(0, 2), Polynomial.variable(1, 2)
    v = PolynomialVector([1 + x, 3 * x * y, Polynomial.zero(2), x * y - 1], shape=(2, 2))
    assert (v.n_terms, v.nnz, v.degree, len(v), v.d) == (3, 5, 2, 4, 2)
    assert repr(v) == ("PolynomialVector(['1 + x_1', '3 x_1 x_2', '0', '-1 + x_1 x_2'], "
                       "shape=(2, 2), d=2)")
    big = PolynomialVector([1 + x] * 5)
    assert repr(big) == "PolynomialVector(shape=(5,), d=2, degree=1, n_terms=2)"
    X = np.random.default_rng(5).standard_normal((6, 2))
    want = np.stack([(1 + x)(X), 3 * X[:, 0] * X[:, 1], 0 * X[:, 0], (x * y - 1)(X)], axis=1)
    np.testing.assert_allclose(v(X), want.reshape(6, 2, 2), rtol=1e-15)
    assert v[1] == 3 * x * y and list(v)[2].n_terms == 0 and v(X[0]).shape == (2, 2)
    assert isinstance((1 + x)([0.5, 0.0]), float)


def test_expand_refuses_a_state_that_does_not_fit(monkeypatch):
    from slaf_np.polynomial import expansion

    monkeypatch.setattr(expansion, "MAX_BYTES", 10**7)
    model = sn.Sequential(sn.Dense(13, 64), SLAF(64, 4), sn.Dense(64, 8), SLAF(8, 4))
    with pytest.raises(MemoryError, match=r"layer 3 \(SLAF\) raises the degree to 16"):
        expand(model)


@pytest.mark.slow
def test_boston_slnn_expands_to_203490_terms():
    """The paper's Boston SLNN (docs/paper.md): 13 -> 128 (k = 4) -> 64 (k = 2) -> 1, normalised
    SLAFs with running statistics of standardised-scale data: degree 8, C(21, 8) terms."""
    rng = np.random.default_rng(0)
    model = sn.Sequential(_dense(13, 128, rng), SLAF(128, 4, rng=rng, decay=0.0, dtype=F64),
                          _dense(128, 64, rng), SLAF(64, 2, rng=rng, decay=0.0, dtype=F64),
                          _dense(64, 1, rng))
    model.forward(rng.standard_normal((404, 13)), training=True)   # running stats = batch stats
    p = expand(model)
    assert p.degree == 8 and p.n_terms == 203_490
    X = rng.standard_normal((20, 13))
    y = model.forward(X)[:, 0]
    np.testing.assert_allclose(p(X), y, rtol=0, atol=1e-10 * np.abs(y).max())


@pytest.mark.parametrize("basis", ["power", "chebyshev", "legendre", "hermite"])
@pytest.mark.parametrize("shared, normalize, scale, gate", [
    (False, True, "none", False), (True, False, "max", True), (False, True, "affine", False)])
def test_every_basis_at_degree_27(basis, shared, normalize, scale, gate):
    cfg = {"seed": 7, "d": 3, "widths": [3, 2, 2], "degrees": [3, 3, 3], "basis": basis,
           "shared": shared, "normalize": normalize, "scale": scale, "gate": gate,
           "batchnorm": True, "residual": True, "outputs": 1}
    test_expansion_equals_the_network.hypothesis.inner_test(cfg)
    test_degree_is_exactly_the_product_of_degrees.hypothesis.inner_test(cfg)


@pytest.mark.parametrize("stat, bad, what", [
    ("running_var", np.nan, r"running_var\[1\] = nan"),
    ("running_var", np.inf, r"running_var\[1\] = inf"),
    ("running_var", -0.5, r"running_var\[1\] = -0\.5"),
    ("running_mean", np.nan, r"running_mean\[1\] = nan"),
])
def test_expand_refuses_bad_running_statistics(stat, bad, what):
    # 1 / sqrt(var + eps) of a NaN, inf or negative variance gave NaN (or silently 0) coefficients
    rng = np.random.default_rng(5)
    model = sn.Sequential(_dense(3, 2, rng), _batchnorm(2, rng), _dense(2, 1, rng))
    model.layers[1].buffers[stat][1] = bad
    with pytest.raises(ValueError, match=r"layer 1 \(BatchNorm\).*" + what + r".*recalibrate"):
        expand(model)


def test_expand_refuses_non_finite_coefficients_and_names_the_layer():
    rng = np.random.default_rng(6)
    model = sn.Sequential(_dense(3, 2, rng), SLAF(2, 2, dtype=F64), _dense(2, 1, rng))
    model.layers[2].params["W"][0, 0] = np.inf
    with pytest.raises(ValueError, match=r"layer 2 \(Dense\) gives non-finite coefficients"):
        expand(model)


def test_polynomial_vector_prints_its_outputs_like_polynomial():
    p0 = Polynomial.constant(1.5, 2) + 2.0 * Polynomial.variable(0, 2)
    p1 = -0.5 * Polynomial.variable(1, 2)
    vec = PolynomialVector([p0, p1])
    assert str(vec) == f"[0] {p0}\n[1] {p1}"
    assert repr(vec) == (f"PolynomialVector(['{p0.to_string()}', '{p1.to_string()}'], "
                         f"shape=(2,), d=2)")
