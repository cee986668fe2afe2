"""Monomial order and parent table, polynomial features (numba == NumPy twin == brute force),
Standardizer."""

import itertools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import monomial_dims, seeds

from slaf_np.kernels import features as fk
from slaf_np.kernels.features import fill_features, fill_features_numpy
from slaf_np.polynomial.features import (
    Standardizer,
    _polynomial_features_numpy,
    count_monomials,
    monomial_exponents,
    monomial_parents,
    polynomial_features,
)


def brute_exponents(d, K):
    """Graded order, each degree in combinations_with_replacement order (sklearn's order)."""
    rows = []
    for g in range(K + 1):
        for combo in itertools.combinations_with_replacement(range(d), g):
            e = np.zeros(d, dtype=np.int64)
            for i in combo:
                e[i] += 1
            rows.append(e)
    return np.array(rows).reshape(-1, d)


def brute_features(X, K):
    E = brute_exponents(X.shape[1], K)
    return np.prod(X[:, None, :] ** E[None, :, :], axis=2)


# -- monomials ----------------------------------------------------------------------------------
def test_count_monomials_boston_size():
    assert count_monomials(13, 8) == 203_490 == math.comb(21, 8)
    assert monomial_exponents(13, 8).shape == (203_490, 13)


def test_hand_worked_order_d2_K2():
    # 1, x1, x2, x1^2, x1 x2, x2^2  (PolynomialFeatures(2) on two columns)
    assert monomial_exponents(2, 2).tolist() == [[0, 0], [1, 0], [0, 1], [2, 0], [1, 1], [0, 2]]
    parent, var = monomial_parents(2, 2)
    assert parent.tolist() == [-1, 0, 0, 1, 1, 2]
    assert var.tolist() == [-1, 0, 1, 0, 1, 1]


@given(monomial_dims(max_d=5, max_K=5))
def test_exponents_match_combinations_with_replacement(dK):
    d, K = dK
    E = monomial_exponents(d, K)
    assert E.shape == (count_monomials(d, K), d)
    np.testing.assert_array_equal(E, brute_exponents(d, K))


@given(monomial_dims(max_d=6, max_K=6))
def test_parent_times_variable_is_the_monomial(dK):
    d, K = dK
    E = monomial_exponents(d, K)
    parent, var = monomial_parents(d, K)
    m = np.arange(1, E.shape[0])
    assert np.all(parent[m] < m)
    expect = E[parent[m]].copy()
    expect[np.arange(m.size), var[m]] += 1
    np.testing.assert_array_equal(E[m], expect)
    deg = E.sum(axis=1)
    assert np.all(np.diff(deg) >= 0)  # graded


def test_one_source_for_the_count_and_the_order():
    """features, algebra and expansion read the count and the parent table from monomials."""
    from slaf_np.polynomial import algebra, features, monomials

    assert features.count_monomials is algebra.count_monomials is monomials.count_monomials
    E, parent, var = monomials.graded_basis(4, 3)
    np.testing.assert_array_equal(monomial_exponents(4, 3), E)
    for a, b in zip(monomial_parents(4, 3), (parent, var), strict=True):
        np.testing.assert_array_equal(a, b)
    assert not E.flags.writeable and monomial_exponents(4, 3).flags.writeable


def test_returned_tables_are_copies():
    E = monomial_exponents(3, 2)
    E[0, 0] = 99
    assert monomial_exponents(3, 2)[0, 0] == 0


@pytest.mark.parametrize("d, K", [(0, 2), (2, -1), (2.5, 2)])
def test_bad_dimensions_raise(d, K):
    with pytest.raises(ValueError, match="monomials"):
        count_monomials(d, K)


# -- polynomial features ------------------------------------------------------------------------
@given(monomial_dims(max_d=4, max_K=4), seeds, st.booleans(), st.sampled_from("CF"))
def test_features_equal_brute_force_and_numpy_twin(dK, seed, bias, order):
    d, K = dK
    X = np.random.default_rng(seed).standard_normal((5, d))
    ref = brute_features(X, K)
    if not bias:
        ref = ref[:, 1:]
    P = polynomial_features(X, K, include_bias=bias, order=order)
    Q = _polynomial_features_numpy(X, K, include_bias=bias, order=order)
    assert P.shape == ref.shape and P.dtype == np.float64
    assert P.flags[f"{order}_CONTIGUOUS"]
    np.testing.assert_array_equal(P, Q)  # the same products in the same order
    np.testing.assert_allclose(P, ref, rtol=1e-12, atol=1e-300)


def test_hand_worked_features():
    X = np.array([[2.0, 3.0], [-1.0, 0.5]])
    P = polynomial_features(X, 2)
    np.testing.assert_array_equal(P, [[1, 2, 3, 4, 6, 9], [1, -1, 0.5, 1, -0.5, 0.25]])


def test_kernel_twins_agree_on_both_loop_orders():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((7, 3))
    parent, var = monomial_parents(3, 5)
    for skip in (0, 1):
        for by_column, order in ((True, "F"), (False, "C")):
            a = np.empty((7, parent.size - skip), order=order)
            b = np.empty((7, parent.size - skip), order=order)
            Xw = np.asfortranarray(X) if by_column else np.ascontiguousarray(X)
            fill_features(Xw, parent, var, skip, by_column, a)
            fill_features_numpy(Xw, parent, var, skip, by_column, b)
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("chunk", [fk.CHUNK_ELEMENTS, 14, 2])
def test_numpy_twin_blocks_respect_parents(monkeypatch, chunk):
    # blocks of 7 or 1 columns for N = 2 (fewer than one degree holds): each block must still
    # wait for the parents computed by the block before it
    monkeypatch.setattr(fk, "CHUNK_ELEMENTS", chunk)
    rng = np.random.default_rng(4)
    X = rng.standard_normal((2, 6))
    for bias in (True, False):
        np.testing.assert_array_equal(polynomial_features(X, 6, include_bias=bias),
                                      _polynomial_features_numpy(X, 6, include_bias=bias))


def test_dtypes():
    X = np.arange(6, dtype=np.int64).reshape(3, 2)
    assert polynomial_features(X, 2).dtype == np.float64
    X32 = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    P32 = polynomial_features(X32, 3)
    assert P32.dtype == np.float32
    P64 = polynomial_features(X32, 3, dtype=np.float64)
    np.testing.assert_allclose(P32, P64, rtol=1e-5)
    assert polynomial_features(X, 0).shape == (3, 1)
    assert polynomial_features(X, 0, include_bias=False).shape == (3, 0)


@pytest.mark.parametrize("bad, match", [
    (dict(X=np.ones(3)), "2-D"),
    (dict(X=np.array([[np.nan, 1.0]])), "NaN"),
    (dict(X=np.ones((2, 2)), dtype=np.int32), "float32 or float64"),
    (dict(X=np.ones((2, 2)), order="A"), "order"),
])
def test_feature_errors(bad, match):
    X = bad.pop("X")
    with pytest.raises(ValueError, match=match):
        polynomial_features(X, 2, **bad)


# -- Standardizer -------------------------------------------------------------------------------
def test_standardizer_moments_and_constant_columns():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 5)) * [1, 2, 3, 4, 5] + [0, 1, -1, 10, 100]
    X[:, 0] = 1.0  # the bias column
    X[:, 3] = 0.0  # a column that never varies
    s = Standardizer().fit(X)
    Z = s.transform(X)
    np.testing.assert_array_equal(s.constant_, [True, False, False, True, False])
    np.testing.assert_array_equal(Z[:, [0, 3]], X[:, [0, 3]])  # untouched, no NaN
    np.testing.assert_allclose(Z[:, [1, 2, 4]].mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(Z[:, [1, 2, 4]].std(axis=0), 1, rtol=1e-12)
    np.testing.assert_allclose(s.inverse_transform(Z), X, rtol=1e-12, atol=1e-12)


def test_standardizer_uses_train_statistics_on_test_data():
    rng = np.random.default_rng(1)
    train, test = rng.standard_normal((20, 3)), rng.standard_normal((7, 3))
    s = Standardizer().fit(train)
    expect = (test - train.mean(axis=0)) / train.std(axis=0)
    np.testing.assert_allclose(s.transform(test), expect, rtol=1e-12)


@pytest.mark.parametrize("dtype, order", [(np.float64, "F"), (np.float32, "C")])
def test_standardizer_inplace(dtype, order):
    rng = np.random.default_rng(2)
    X = np.asarray(rng.standard_normal((30, 4)) * 3 + 1, dtype=dtype, order=order)
    expect = Standardizer().fit_transform(X)  # a copy, same layout
    assert expect.dtype == dtype and not np.shares_memory(expect, X)
    assert expect.flags[f"{order}_CONTIGUOUS"]
    out = Standardizer().fit_transform(X, inplace=True)
    assert out is X
    np.testing.assert_array_equal(out, expect)


def test_standardizer_errors():
    s = Standardizer()
    with pytest.raises(RuntimeError, match="fit first"):
        s.transform(np.ones((2, 2)))
    s.fit(np.random.default_rng(0).standard_normal((5, 3)))
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        s.transform(np.ones((2, 4)))
    with pytest.raises(ValueError, match="inplace"):
        s.transform(np.ones((2, 3), dtype=np.int64), inplace=True)
    with pytest.raises(ValueError, match="column 1"):
        Standardizer().fit(np.array([[1.0, np.inf], [2.0, 3.0]]))


def test_features_then_standardize_pipeline_small():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((40, 3))
    P = polynomial_features(X, 3)
    Z = Standardizer().fit_transform(P, inplace=True)
    assert Z is P and Z.flags.f_contiguous
    np.testing.assert_array_equal(Z[:, 0], 1.0)
    np.testing.assert_allclose(Z[:, 1:].std(axis=0), 1, rtol=1e-10)
