"""Ridge (closed form: primal == dual == augmented least squares) and lasso by coordinate descent
(KKT conditions, limits, closed forms, numba kernels == NumPy twins, the duality-gap rule)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import regression_problems, seeds

from slaf_np.kernels import linear as lk
from slaf_np.polynomial import linear
from slaf_np.polynomial.lasso import alpha_max, lasso_cd, lasso_working_set
from slaf_np.polynomial.linear import predict_linear
from slaf_np.polynomial.ridge import gram, ridge, ridge_cv


# -- oracles ------------------------------------------------------------------------------------
def ridge_oracle(X, y, alpha, fit_intercept=True):
    """lstsq on the augmented system [X 1; sqrt(alpha) I 0] [w; w0] = [y; 0]."""
    n, d = X.shape
    top = np.hstack([X, np.ones((n, 1))]) if fit_intercept else X
    bottom = np.hstack([np.sqrt(alpha) * np.eye(d), np.zeros((d, top.shape[1] - d))])
    sol = np.linalg.lstsq(np.vstack([top, bottom]), np.concatenate([y, np.zeros(d)]), rcond=None)[0]
    return sol[:d], (sol[d] if fit_intercept else 0.0)


def ols(X, y):
    sol = np.linalg.lstsq(np.hstack([X, np.ones((X.shape[0], 1))]), y, rcond=None)[0]
    return sol[:-1], sol[-1]


def objective(X, y, w, w0, alpha):
    r = y - X @ w - w0
    return 0.5 * r @ r / X.shape[0] + alpha * np.abs(w).sum()


def kkt_violation(X, y, res, alpha):
    """max over j of the distance of X_j^T r / n from the lasso subdifferential condition."""
    r = y - X @ res.coef - res.intercept
    g = X.T @ r / X.shape[0]  # r sums to 0 at the optimal intercept, so X or centred X alike
    nz = res.coef != 0
    v_nz = np.abs(g[nz] - alpha * np.sign(res.coef[nz]))
    v_z = np.maximum(np.abs(g[~nz]) - alpha, 0.0)
    return max(np.max(v_nz, initial=0.0), np.max(v_z, initial=0.0))


def fixed_problem(n=40, d=8, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) + 2.0
    y = X @ rng.standard_normal(d) - 1.0 + 0.1 * rng.standard_normal(n)
    return X, y


# -- ridge --------------------------------------------------------------------------------------
@given(regression_problems(max_n=25, max_d=25), st.sampled_from([1e-2, 1.0, 30.0]), st.booleans())
def test_ridge_primal_and_dual_equal_augmented_lstsq(problem, alpha, fit_intercept):
    X, y = problem
    w_ref, b_ref = ridge_oracle(X, y, alpha, fit_intercept)
    scale = 1 + np.abs(w_ref).max()
    for solver in ("auto", "primal", "dual"):
        w, w0 = ridge(X, y, alpha, fit_intercept=fit_intercept, solver=solver)
        np.testing.assert_allclose(w, w_ref, atol=1e-8 * scale, err_msg=solver)
        assert abs(w0 - b_ref) <= 1e-7 * (1 + abs(b_ref)), solver


def test_ridge_blockwise_dual_and_float32(monkeypatch):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((10, 37)) + 1.0
    y = rng.standard_normal(10)
    w_ref, b_ref = ridge_oracle(X, y, 0.5)
    monkeypatch.setattr(linear, "CHUNK_ELEMENTS", 25)  # blocks of 2 columns
    X_before = X.copy()
    w, w0 = ridge(X, y, 0.5, solver="dual")
    np.testing.assert_array_equal(X, X_before)  # float64 blocks are views: centred in copies
    np.testing.assert_allclose(w, w_ref, atol=1e-10)
    w32, b32 = ridge(X.astype(np.float32), y, 0.5)
    np.testing.assert_allclose(w32, w_ref, atol=1e-5)
    assert w32.dtype == np.float64 and abs(b32 - b_ref) < 1e-5


def test_ridge_alpha_zero_is_least_squares():
    X, y = fixed_problem()
    w_ref, b_ref = ols(X, y)
    w, w0 = ridge(X, y, 0.0)
    np.testing.assert_allclose(w, w_ref, rtol=1e-10)
    assert w0 == pytest.approx(b_ref, rel=1e-10)


def test_ridge_errors():
    X, y = fixed_problem()
    with pytest.raises(ValueError, match="solver"):
        ridge(X, y, 1.0, solver="qr")
    with pytest.raises(ValueError, match="alpha"):
        ridge(X, y, -1.0)
    with pytest.raises(ValueError, match=r"y must have shape \(40,\)"):
        ridge(X, y[:-1], 1.0)


# -- lasso: optimality --------------------------------------------------------------------------
@given(regression_problems(max_n=25, max_d=25), st.sampled_from([0.05, 0.3, 0.8]))
def test_lasso_kkt_conditions(problem, frac):
    X, y = problem
    alpha = frac * alpha_max(X, y)
    res = lasso_cd(X, y, alpha, max_sweeps=20_000, tol=1e-14)
    assert res.converged, (res.n_sweeps, res.duality_gap, res.gap_tol)
    assert kkt_violation(X, y, res, alpha) <= 1e-5 * (1 + np.abs(y).max())
    assert res.intercept == pytest.approx(y.mean() - X.mean(axis=0) @ res.coef, abs=1e-9)


def test_lasso_without_intercept_kkt():
    X, y = fixed_problem(seed=3)
    a = 0.2 * np.abs(X.T @ y).max() / X.shape[0]
    res = lasso_cd(X, y, a, fit_intercept=False, tol=1e-14, max_sweeps=20_000)
    assert res.converged and res.intercept == 0.0
    r = y - X @ res.coef
    g = X.T @ r / X.shape[0]
    nz = res.coef != 0
    assert nz.any() and not nz.all()
    np.testing.assert_allclose(g[nz], a * np.sign(res.coef[nz]), atol=1e-7)
    assert np.all(np.abs(g[~nz]) <= a + 1e-7)


@pytest.mark.parametrize("chunk", [linear.CHUNK_ELEMENTS, 30])
def test_lasso_alpha_max_gives_exact_zero(monkeypatch, chunk):
    X, y = fixed_problem()
    monkeypatch.setattr(linear, "CHUNK_ELEMENTS", chunk)  # 30: one column per block
    X_before = X.copy()
    am = alpha_max(X, y)
    np.testing.assert_array_equal(X, X_before)
    Xc = X - X.mean(axis=0)
    assert am == pytest.approx(np.abs(Xc.T @ (y - y.mean())).max() / len(y), rel=1e-12)
    for a in (am, 2 * am):
        res = lasso_cd(X, y, a)
        assert np.all(res.coef == 0.0) and res.n_sweeps == 1 and res.converged
        assert res.duality_gap == pytest.approx(0.0, abs=1e-12) and res.intercept == y.mean()
    assert np.count_nonzero(lasso_cd(X, y, 0.99 * am).coef) >= 1


def test_lasso_orthonormal_design_is_soft_threshold():
    rng = np.random.default_rng(7)
    n, d = 30, 6
    A = rng.standard_normal((n, d))
    Q, _ = np.linalg.qr(A - A.mean(axis=0))  # centred orthonormal columns
    X = np.sqrt(n) * Q + rng.uniform(-3, 3, size=d)  # Xc^T Xc = n I
    y = Q @ [5, -4, 3, 0.5, -0.2, 0.05] + 2.0
    alpha = 0.3
    z = (X - X.mean(axis=0)).T @ (y - y.mean()) / n
    expect = np.sign(z) * np.maximum(np.abs(z) - alpha, 0.0)
    res = lasso_cd(X, y, alpha, tol=1e-12)
    assert res.n_sweeps <= 2 and res.converged
    np.testing.assert_allclose(res.coef, expect, atol=1e-12)
    assert np.count_nonzero(res.coef) == np.count_nonzero(expect) == 3


def test_lasso_small_alpha_tends_to_least_squares_and_agrees_with_ridge():
    X, y = fixed_problem()
    w_ref, b_ref = ols(X, y)
    res = lasso_cd(X, y, 1e-9, tol=1e-16, max_sweeps=50_000)
    w_r, b_r = ridge(X, y, 1e-9)
    np.testing.assert_allclose(res.coef, w_ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(w_r, w_ref, rtol=1e-8)
    np.testing.assert_allclose(res.coef, w_r, rtol=1e-5, atol=1e-6)
    assert res.intercept == pytest.approx(b_r, abs=1e-5)


def test_constant_columns_are_skipped():
    X, y = fixed_problem(seed=2)
    Xb = np.hstack([np.ones((X.shape[0], 1)), X, np.full((X.shape[0], 1), 3.7)])
    a = 0.05
    res = lasso_cd(X, y, a, tol=1e-12)
    res_b = lasso_cd(Xb, y, a, tol=1e-12, coef_init=np.ones(Xb.shape[1]))
    assert res_b.coef[0] == 0.0 and res_b.coef[-1] == 0.0
    np.testing.assert_allclose(res_b.coef[1:-1], res.coef, atol=1e-9)
    assert res_b.intercept == pytest.approx(res.intercept, abs=1e-8)


# -- lasso: the stopping rule ------------------------------------------------------------------
def test_duality_gap_nonnegative_bounds_suboptimality_and_decreases():
    rng = np.random.default_rng(11)
    X = rng.standard_normal((30, 60))
    X[:, 1:] += 0.8 * X[:, :-1]  # correlated columns: many sweeps
    y = X[:, :5].sum(axis=1) + 0.1 * rng.standard_normal(30)
    alpha = 0.02
    best = lasso_cd(X, y, alpha, tol=1e-15, max_sweeps=100_000)
    p_star = objective(X, y, best.coef, best.intercept, alpha)
    res = lasso_cd(X, y, alpha, tol=0.0, max_sweeps=200, history=True)
    h = res.history
    assert len(h["gap"]) == 200 and h["sweep"].tolist() == list(range(1, 201))
    scale = y.var()
    assert np.all(h["gap"] >= -1e-12 * scale)
    assert np.all(np.diff(h["objective"]) <= 1e-12 * scale)  # CD never increases P
    assert h["gap"][-1] < 1e-2 * h["gap"][0]
    # the gap bounds the suboptimality at every recorded sweep
    assert np.all(h["objective"] - p_star <= h["gap"] + 1e-12 * scale)
    assert res.duality_gap == h["gap"][-1] and not res.converged


def test_max_sweeps_cap_is_reported_as_not_converged():
    rng = np.random.default_rng(12)
    X = rng.standard_normal((20, 50))
    X[:, 1:] += 0.9 * X[:, :-1]
    y = rng.standard_normal(20)
    res = lasso_cd(X, y, 1e-3, max_sweeps=3, tol=1e-12, history=True)
    assert res.n_sweeps == 3 and not res.converged
    assert res.duality_gap > res.gap_tol
    assert res.gap_tol == pytest.approx(1e-12 * np.sum((y - y.mean()) ** 2) / 20)
    assert len(res.history["gap"]) == 3
    res = lasso_cd(X, y, 1e-3, max_sweeps=7, check_every=5, history=True)
    assert res.history["sweep"].tolist() == [5, 7]  # every 5 sweeps and after the last
    res0 = lasso_cd(X, y, 1e-3, max_sweeps=0)
    assert res0.n_sweeps == 0 and np.all(res0.coef == 0) and res0.duality_gap > 0


def test_warm_start_from_the_solution_converges_at_once():
    X, y = fixed_problem(seed=4)
    res = lasso_cd(X, y, 0.05, tol=1e-10)
    again = lasso_cd(X, y, 0.05, tol=1e-10, coef_init=res.coef)
    assert again.n_sweeps == 1 and again.converged
    np.testing.assert_allclose(again.coef, res.coef, atol=1e-9)


# -- layouts, dtypes, backends -----------------------------------------------------------------
def test_layouts_dtypes_and_backends_agree():
    X, y = fixed_problem(n=30, d=12, seed=5)
    X = np.asfortranarray(X)
    X_before = X.copy()
    kw = dict(tol=1e-12, max_sweeps=5000)
    ref = lasso_cd(X, y, 0.05, **kw)
    np.testing.assert_array_equal(X, X_before)  # X is read, never centred in place
    c = lasso_cd(np.ascontiguousarray(X), y, 0.05, **kw)
    np.testing.assert_array_equal(c.coef, ref.coef)
    npy = lasso_cd(X, y, 0.05, backend="numpy", **kw)
    np.testing.assert_allclose(npy.coef, ref.coef, atol=1e-9)
    assert npy.n_sweeps == pytest.approx(ref.n_sweeps, abs=1)
    f32 = lasso_cd(X.astype(np.float32), y, 0.05, **kw)
    assert f32.coef.dtype == np.float64
    np.testing.assert_allclose(f32.coef, ref.coef, atol=1e-4)
    assert f32.converged


def twin_state(seed, n, d, dtype):
    rng = np.random.default_rng(seed)
    X = np.asfortranarray((rng.standard_normal((n, d)) + 1.0).astype(dtype))
    X[:, 0] = 2.5  # a constant column: skipped
    y = rng.standard_normal(n)
    w = rng.standard_normal(d) * (rng.random(d) < 0.5)
    w[0] = 0.0
    return X, y - y.mean(), w


@given(seeds, st.integers(1, 9), st.integers(1, 12), st.sampled_from([np.float64, np.float32]),
       st.sampled_from([0.0, 0.01, 0.3]))
def test_twin_kernels_agree(seed, n, d, dtype, alpha):
    X, y, w = twin_state(seed, n, d, dtype)
    stats = [(np.empty(d), np.empty(d)) for _ in range(2)]
    lk.column_moments(X, True, *stats[0])
    lk.column_moments_numpy(X, True, *stats[1])
    np.testing.assert_allclose(stats[0][0], stats[1][0], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(stats[0][1], stats[1][1], rtol=1e-10, atol=1e-12)
    assert stats[0][1][0] == 0.0 and stats[1][1][0] == 0.0
    xmean, col_sq = stats[0]
    r1, r2 = np.empty(n), np.empty(n)
    lk.residual(X, xmean, w, y, r1)
    lk.residual_numpy(X, xmean, w, y, r2)
    np.testing.assert_allclose(r1, r2, rtol=1e-12, atol=1e-12)
    w1, w2 = w.copy(), w.copy()
    out1 = lk.cd_sweep(X, xmean, col_sq, w1, r1, n * alpha)
    out2 = lk.cd_sweep_numpy(X, xmean, col_sq, w2, r2, n * alpha)
    np.testing.assert_allclose(w1, w2, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(r1, r2, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(out1, out2, rtol=1e-9, atol=1e-9)
    g1 = lk.dual_gap(X, xmean, w1, r1, y, alpha)
    g2 = lk.dual_gap_numpy(X, xmean, w1, r1, y, alpha)
    np.testing.assert_allclose(g1, g2, rtol=1e-9, atol=1e-12)


def test_twin_sweep_hand_worked():
    # two orthogonal centred columns, n = 4: each update is the soft threshold of X_j^T y
    X = np.asfortranarray([[1.0, 1.0], [-1.0, 1.0], [1.0, -1.0], [-1.0, -1.0]])
    y = np.array([3.0, -1.0, 1.0, -3.0])  # X^T y = (8, 4); q = (4, 4); threshold N alpha = 4
    for sweep in (lk.cd_sweep, lk.cd_sweep_numpy):
        w, r = np.zeros(2), y.copy()
        dw_max, w_max = sweep(X, np.zeros(2), np.full(2, 4.0), w, r, 4 * 1.0)  # alpha = 1
        # w_1 = S(8, 4) / 4 = 1; then r = y - X_1 = (2, 0, 0, -2), so rho_2 = X_2^T r = 4
        # sits exactly on the threshold and w_2 = S(4, 4) / 4 = 0
        np.testing.assert_array_equal(w, [1.0, 0.0])
        np.testing.assert_array_equal(r, [2.0, 0.0, 0.0, -2.0])
        assert (dw_max, w_max) == (1.0, 1.0)


# -- prediction and errors ---------------------------------------------------------------------
def test_predict_linear(monkeypatch):
    rng = np.random.default_rng(6)
    X = rng.standard_normal((9, 11))
    w = rng.standard_normal(11) * (rng.random(11) < 0.6)
    monkeypatch.setattr(linear, "CHUNK_ELEMENTS", 20)
    np.testing.assert_allclose(predict_linear(X, w, 1.5), X @ w + 1.5, rtol=1e-12)
    np.testing.assert_allclose(predict_linear(X.astype(np.float32), w, 1.5),
                               X.astype(np.float32).astype(np.float64) @ w + 1.5, rtol=1e-12)
    with pytest.raises(ValueError, match="predict_linear"):
        predict_linear(X, w[:-1])


@pytest.mark.parametrize("kwargs, match", [
    (dict(alpha=-0.1), "alpha"),
    (dict(max_sweeps=-1), "max_sweeps"),
    (dict(check_every=0), "check_every"),
    (dict(tol=-1.0), "tol"),
    (dict(backend="cuda"), "backend"),
    (dict(coef_init=np.zeros(3)), "coef_init"),
])
def test_lasso_errors(kwargs, match):
    X, y = fixed_problem()
    kwargs = {"alpha": 0.1, **kwargs}
    with pytest.raises(ValueError, match=match):
        lasso_cd(X, y, **kwargs)


def test_lasso_rejects_non_finite_columns():
    X, y = fixed_problem()
    X[3, 5] = np.nan
    with pytest.raises(ValueError, match="column 5"):
        lasso_cd(X, y, 0.1)


# -- lasso on a working set; ridge alpha by cross-validation ----------------------------------
def test_ridge_cv_equals_ridge_fold_by_fold():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((23, 40)) + 0.5
    y = X[:, :3].sum(axis=1) + 0.1 * rng.standard_normal(23)
    alphas = [0.1, 3.0, 100.0]
    got = ridge_cv(X @ X.T, y, alphas, 4, np.random.default_rng(7), precomputed=True)
    # from X itself (the Gram matrix by column blocks): the same numbers
    np.testing.assert_allclose(ridge_cv(X, y, alphas, 4, np.random.default_rng(7)), got,
                               rtol=1e-12)
    folds = np.array_split(np.random.default_rng(7).permutation(23), 4)
    for a, g in zip(alphas, got, strict=True):
        sq = 0.0
        for V in folds:
            S = np.setdiff1d(np.arange(23), V)
            w, w0 = ridge(X[S], y[S], a)
            sq += np.sum((X[V] @ w + w0 - y[V]) ** 2)
        assert g == pytest.approx(sq / 23, rel=1e-8)


def test_lasso_working_set_reaches_the_lasso_optimum():
    rng = np.random.default_rng(2)
    base = rng.standard_normal((30, 5))
    X = np.asfortranarray(np.hstack([base, base @ rng.standard_normal((5, 195))
                                     + 0.05 * rng.standard_normal((30, 195))]))
    y = X[:, 0] - 2 * X[:, 3] + 0.1 * rng.standard_normal(30)
    alpha = 0.02
    res, rounds = lasso_working_set(X, y, alpha, np.zeros(200), tol=1e-8)
    assert res.converged and rounds and res.duality_gap <= res.gap_tol
    ref = lasso_cd(X, y, alpha, max_sweeps=200_000, tol=1e-10)

    def objective(r):
        resid = y - predict_linear(X, r.coef, r.intercept)
        return 0.5 * np.mean(resid**2) + alpha * np.abs(r.coef).sum()

    # both within their gap of the optimum
    assert objective(res) == pytest.approx(objective(ref), abs=res.gap_tol + ref.gap_tol)
    # starting from the optimum, no round is needed
    again, rounds = lasso_working_set(X, y, alpha, ref.coef, tol=1e-8)
    assert again.converged and rounds == []


def test_gram_by_blocks_equals_x_xt():
    X = np.random.default_rng(1).standard_normal((5, 9000)).astype(np.float32)
    X64 = X.astype(np.float64)
    np.testing.assert_allclose(gram(X), X64 @ X64.T, rtol=1e-12)


def test_ridge_cv_rejects_a_non_square_gram():
    with pytest.raises(ValueError, match="square Gram"):
        ridge_cv(np.ones((4, 3)), np.ones(4), [1.0], 2, np.random.default_rng(0),
                 precomputed=True)
