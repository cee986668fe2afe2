"""The fused SLAF kernels against their NumPy twins, numpy.polynomial, and exact statistics; the
shared batch-norm backward against finite differences.

STYLE.md rule 6: every kernel has a twin with the same signature and they agree in values and
gradients, in float64 and float32; a small subset also runs with ``NUMBA_DISABLE_JIT=1``
(:func:`test_kernels_without_jit`, a subprocess).
"""

import os
import subprocess
import sys
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.polynomial import chebyshev, hermite_e, legendre, polynomial
from strategies import kernel_problems, seeds

from slaf_np import bases
from slaf_np.gradcheck import numerical_jacobian
from slaf_np.kernels import parallel
from slaf_np.kernels import slaf as kernels
from slaf_np.kernels import slaf_numpy as twins
from slaf_np.kernels.batchnorm import batchnorm_backward

EPS = 1e-8
NAMES = ("power", "chebyshev", "legendre", "hermite", "fourier")   # the bases with a kernel
VANDER = {"power": polynomial.polyvander, "chebyshev": chebyshev.chebvander,
          "legendre": legendre.legvander, "hermite": hermite_e.hermevander}
KERNELS = ("forward_train", "forward_eval", "backward_train", "backward_eval", "term_stats")


def _twin_pairs():
    return [(getattr(kernels, name), getattr(twins, name)) for name in KERNELS]


def test_twins_have_the_same_signatures():
    import inspect

    for kern, twin in _twin_pairs():
        assert inspect.signature(kern).parameters.keys() == \
            inspect.signature(twin).parameters.keys(), kern.__name__


def _all_outputs(mod, x, basis, a, b, dy):
    """Every kernel output for one problem: training forward, eval forward, both backwards."""
    f = {n: getattr(kernels if mod == "numba" else twins, n) for n in KERNELS}
    y, mean, var = f["forward_train"](x, basis, a, b, EPS)
    std = np.sqrt(var + EPS)
    out = {"y_train": y, "mean": mean, "var": var,
           "y_eval": f["forward_eval"](x, basis, a, b, mean, std)}
    out["stats_mean"], out["stats_var"] = f["term_stats"](x, basis, a.shape[1])
    for mode in ("train", "eval"):
        dx, G, dsum = f["backward_" + mode](dy, x, basis, a, mean, std)
        out.update({f"dx_{mode}": dx, f"G_{mode}": G, f"dsum_{mode}": dsum})
    return out


@given(problem=kernel_problems(), seed=seeds)
def test_kernels_agree_with_twins_float64(problem, seed):
    x, basis, a, b = problem
    dy = np.random.default_rng(seed).standard_normal(x.shape)
    fast = _all_outputs("numba", x, basis, a, b, dy)
    slow = _all_outputs("numpy", x, basis, a, b, dy)
    for key in fast:
        np.testing.assert_allclose(fast[key], slow[key], rtol=1e-9, atol=1e-9, err_msg=key)
    assert fast["y_train"].dtype == np.float64


@settings(max_examples=10)
@given(problem=kernel_problems(dtype=np.float32), seed=seeds)
def test_kernels_agree_with_twins_float32(problem, seed):
    """float32 arrays in and out; terms and sums in float64 inside both, so they agree to the
    float32 rounding of the outputs (statistics, returned in float64, agree to 1e-9)."""
    x, basis, a, b = problem
    dy = np.random.default_rng(seed).standard_normal(x.shape).astype(np.float32)
    fast = _all_outputs("numba", x, basis, a, b, dy)
    slow = _all_outputs("numpy", x, basis, a, b, dy)
    for key in fast:
        if key.startswith(("y_", "dx_")):
            assert fast[key].dtype == np.float32, key
            scale = np.abs(slow[key]).max(initial=1.0)
            np.testing.assert_allclose(fast[key], slow[key], rtol=1e-5, atol=1e-6 * scale,
                                       err_msg=key)
        else:
            np.testing.assert_allclose(fast[key], slow[key], rtol=1e-9, atol=1e-9, err_msg=key)


@pytest.mark.parametrize("shape", [(5, 1030, 1), (3, 2, 700), (4, 7, 33)])
def test_block_edges(shape):
    """Feature counts that are not a multiple of the block, runs longer than a block."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape)
    a, b, dy = rng.standard_normal((shape[1], 3)), rng.standard_normal(shape[1]), \
        rng.standard_normal(shape)
    fast = _all_outputs("numba", x, "power", a, b, dy)
    slow = _all_outputs("numpy", x, "power", a, b, dy)
    for key in fast:
        np.testing.assert_allclose(fast[key], slow[key], rtol=1e-9, atol=1e-9, err_msg=key)


@pytest.mark.parametrize("k", [3, 4, 5, 8, 9, 12])
@pytest.mark.parametrize("basis", NAMES)
def test_chunk_boundaries(basis, k):
    """The kernels evaluate kernels.CHUNK terms per sweep: k on both sides of one, two and three
    chunks, every basis, features split over several blocks, S > 1, and odd N (the kernels
    take two samples per sweep) down to one sample."""
    rng = np.random.default_rng(NAMES.index(basis) * 100 + k)
    for shape in [(6, 300, 1), (5, 4, 9), (1, 7, 2)]:
        x = 0.6 * rng.standard_normal(shape)
        a, b = rng.standard_normal((shape[1], k)), rng.standard_normal(shape[1])
        dy = rng.standard_normal(shape)
        fast = _all_outputs("numba", x, basis, a, b, dy)
        slow = _all_outputs("numpy", x, basis, a, b, dy)
        for key in fast:
            np.testing.assert_allclose(fast[key], slow[key], rtol=1e-9, atol=1e-9,
                                       err_msg=f"{key}, {basis}, k {k}, shape {shape}")


@given(basis=st.sampled_from(tuple(VANDER)), k=st.integers(1, 9), seed=seeds)
def test_recurrence_matches_numpy_polynomial(basis, k, seed):
    """forward_eval with a = e_i, mean 0, std 1 gives g_i(x); backward_eval with dy = 1 gives
    sum_i g_i'(x); both equal numpy.polynomial's Vandermonde matrices (and their derivatives)."""
    x = np.random.default_rng(seed).uniform(-1.2, 1.2, size=(17, 1, 1))
    V = VANDER[basis](x[:, 0, 0], k)[:, 1:]                         # drop the constant column
    zeros, ones = np.zeros((1, k)), np.ones((1, k))
    for i in range(k):
        a = np.eye(1, k, i)
        y = kernels.forward_eval(x, basis, a, np.zeros(1), zeros, ones)
        np.testing.assert_allclose(y[:, 0, 0], V[:, i], rtol=1e-12, atol=1e-12)
    coef = np.eye(k + 1)[1:]                                        # c_i on g_i
    der, val = {"power": (polynomial.polyder, polynomial.polyval),
                "chebyshev": (chebyshev.chebder, chebyshev.chebval),
                "legendre": (legendre.legder, legendre.legval),
                "hermite": (hermite_e.hermeder, hermite_e.hermeval)}[basis]
    expected = sum(val(x[:, 0, 0], der(coef[i])) for i in range(k))
    dx, _, _ = kernels.backward_eval(np.ones_like(x), x, basis, ones, zeros, ones)
    np.testing.assert_allclose(dx[:, 0, 0], expected, rtol=1e-11, atol=1e-11)


def test_float32_statistics_with_a_large_mean():
    """Terms of x ~ 100 + 0.05 N(0, 1) in float32: p = x^4 ~ 1e8 with a spread of ~2e5. The
    kernels widen each value to float64 and use Welford's variance, so they match a float64
    two-pass reference to 1e-9; E[p^2] - E[p]^2 in float32 (what the kernels must not do) is off
    by up to 7x the variance itself."""
    rng = np.random.default_rng(0)
    x = (100 + 0.05 * rng.standard_normal((4000, 3, 1))).astype(np.float32)
    x64 = x.astype(np.float64)
    P = np.stack([x64 ** i for i in range(1, 5)], axis=-1)         # (N, D, 1, k), float64
    ref_mean = P.mean(axis=(0, 2))
    ref_var = ((P - ref_mean[:, None, :]) ** 2).mean(axis=(0, 2))
    for f in (kernels.term_stats, twins.term_stats):
        mean, var = f(x, "power", 4)
        np.testing.assert_allclose(mean, ref_mean, rtol=1e-12)
        np.testing.assert_allclose(var, ref_var, rtol=1e-9)
    P32 = P.astype(np.float32)
    naive = (P32 * P32).mean(axis=(0, 2)) - P32.mean(axis=(0, 2)) ** 2
    assert np.max(np.abs(naive - ref_var) / ref_var) > 1.0
    y, mean, var = kernels.forward_train(x, "power", np.ones((3, 4)), np.zeros(3), EPS)
    np.testing.assert_allclose(var, ref_var, rtol=1e-9)
    # standardised terms have mean 0 and variance 1, so y = sum of 4 unit terms has mean 0
    assert abs(float(y.astype(np.float64).mean())) < 1e-3


def test_bad_layouts_and_unknown_bases_are_refused():
    with pytest.raises(ValueError, match=r"term_stats: expected x of shape \(N, D, S\)"):
        kernels.term_stats(np.zeros((2, 3)), "power", 2)
    with pytest.raises(ValueError, match="unknown basis 'taylor'.*power, chebyshev"):
        kernels.forward_train(np.zeros((2, 3, 1)), "taylor", np.ones((3, 2)), np.zeros(3), EPS)


def _refuse(*args):
    raise AssertionError("the NumPy twin was called")


def _one_of_each_kernel(mod, basis, k=4, shape=(6, 3, 2)):
    rng = np.random.default_rng(5)
    x = rng.uniform(-0.5, 0.5, shape)
    a, b, dy = rng.standard_normal((shape[1], k)), rng.standard_normal(shape[1]), \
        rng.standard_normal(shape)
    return _all_outputs(mod, x, basis, a, b, dy)


def test_fourier_runs_on_the_kernels_through_its_substitution(monkeypatch):
    """``fourier`` is a recurrence in t = sin(pi x / 2): the kernels run it (the twins, which
    evaluate sines and cosines by angle addition, are not called) and give the sum of the
    explicit sines and cosines, with the input gradient through u'(x)."""
    x = np.random.default_rng(0).uniform(-0.7, 0.7, (6, 2, 3))
    for name in KERNELS:
        monkeypatch.setattr(twins, name, _refuse)
    ones, zeros = np.ones((2, 4)), np.zeros((2, 4))
    y = kernels.forward_eval(x, "fourier", ones, np.zeros(2), zeros, ones)
    theta = np.pi / 2 * x
    np.testing.assert_allclose(y, np.sin(theta) + np.cos(2 * theta) + np.sin(3 * theta)
                               + np.cos(4 * theta), atol=1e-13)
    dx, _, _ = kernels.backward_eval(np.ones_like(x), x, "fourier", ones, zeros, ones)
    h = np.pi / 2
    np.testing.assert_allclose(dx, h * (np.cos(theta) - 2 * np.sin(2 * theta)
                                        + 3 * np.cos(3 * theta) - 4 * np.sin(4 * theta)),
                               atol=1e-12)


def test_a_basis_without_a_recurrence_is_served_by_the_twins_inside_the_same_call(monkeypatch):
    """A basis with its own NumPy function only needs no backend switch: the kernels hand it to
    the twins (here ``fourier``'s function registered without its substitution)."""
    bases.register_basis("fourier_only", bases.fourier, "[-1, 1]", False, "test")
    try:
        fast = _one_of_each_kernel("numba", "fourier_only")
        slow = _one_of_each_kernel("numpy", "fourier_only")
        for key in fast:
            np.testing.assert_array_equal(fast[key], slow[key], err_msg=key)
        x = np.random.default_rng(0).uniform(-0.5, 0.5, (6, 2, 1))
        monkeypatch.setattr(kernels.slaf_numpy, "forward_eval", _refuse)
        with pytest.raises(AssertionError, match="twin was called"):
            kernels.forward_eval(x, "fourier_only", np.ones((2, 4)), np.zeros(2),
                                 np.zeros((2, 4)), np.ones((2, 4)))
    finally:
        del bases.BASES["fourier_only"]


@pytest.fixture
def chebyshev_u():
    """Chebyshev polynomials of the second kind, registered with their recurrence alone."""
    bases.register_basis("chebyshev_u", None, "[-1, 1]", True, "Chebyshev U",
                         recurrence=lambda n: (2, 0 if n == 0 else 1))
    yield "chebyshev_u"
    del bases.BASES["chebyshev_u"]


@pytest.mark.parametrize("k", [3, 6])
def test_a_registered_recurrence_runs_on_the_kernels(chebyshev_u, monkeypatch, k):
    """The kernels read the basis record: a basis added by one registration runs on them (the
    twins are not called) and agrees with the twins."""
    fast = _one_of_each_kernel("numba", chebyshev_u, k)
    slow = _one_of_each_kernel("numpy", chebyshev_u, k)
    for key in fast:
        np.testing.assert_allclose(fast[key], slow[key], rtol=1e-9, atol=1e-9, err_msg=key)
    for name in KERNELS:
        monkeypatch.setattr(kernels.slaf_numpy, name, _refuse)
    again = _one_of_each_kernel("numba", chebyshev_u, k)
    for key in fast:
        np.testing.assert_array_equal(again[key], fast[key], err_msg=key)


@pytest.mark.parametrize("axes, shape", [((0,), (5, 3)), ((0, 2, 3), (3, 2, 2, 2)),
                                         ((0, 2), (4, 2, 3, 2))])
def test_batchnorm_backward_matches_finite_differences(axes, shape):
    """The one statement of the batch-norm backward (BatchNorm and the SLAF twins call it): the
    full Jacobian of z -> (z - mean) / sqrt(var + eps) against central differences, float64."""
    rng = np.random.default_rng(0)
    z, eps = 1.5 + rng.standard_normal(shape), 1e-3

    def standardise():
        return (z - z.mean(axis=axes, keepdims=True)) / np.sqrt(
            z.var(axis=axes, keepdims=True) + eps)

    zh, s = standardise(), np.sqrt(z.var(axis=axes, keepdims=True) + eps)
    J = numerical_jacobian(standardise, z).reshape(zh.size, z.size)
    analytic = np.stack([batchnorm_backward(g.reshape(shape), zh, s, axes).ravel()
                         for g in np.eye(zh.size)])
    np.testing.assert_allclose(analytic, J, rtol=1e-6, atol=1e-8)
    wrong = np.stack([(g.reshape(shape) / s).ravel() for g in np.eye(zh.size)])  # no batch terms
    assert np.abs(wrong - J).max() > 0.1


_NO_JIT_SCRIPT = r"""
import numpy as np
import numba
assert numba.config.DISABLE_JIT
from slaf_np.kernels import slaf as kernels, slaf_numpy as twins
from slaf_np.nn.slaf import SLAF
from slaf_np.gradcheck import check_jacobian
rng = np.random.default_rng(0)
for basis in ("power", "chebyshev", "legendre", "hermite"):
    for k in (3, 6):
        x = rng.standard_normal((5, 3, 2))
        a, b, dy = rng.standard_normal((3, k)), rng.standard_normal(3), rng.standard_normal(x.shape)
        y, m, v = kernels.forward_train(x, basis, a, b, 1e-8)
        y2, m2, v2 = twins.forward_train(x, basis, a, b, 1e-8)
        assert np.allclose(y, y2) and np.allclose(m, m2) and np.allclose(v, v2)
        s = np.sqrt(v + 1e-8)
        for name in ("backward_train", "backward_eval"):
            for u, w in zip(getattr(kernels, name)(dy, x, basis, a, m, s),
                            getattr(twins, name)(dy, x, basis, a, m, s)):
                assert np.allclose(u, w), (basis, k, name)
layer = SLAF(2, 3, rng=0, dtype=np.float64)
check_jacobian(layer, rng.standard_normal((4, 2)), training=True)
print("ok")
"""


def test_kernels_without_jit():
    """The kernels run as plain Python under NUMBA_DISABLE_JIT=1 and still
    agree with the twins; a SLAF layer passes a Jacobian check that way."""
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, "-c", _NO_JIT_SCRIPT], env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().endswith("ok")


def _big_problem(seed=3):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((64, 700, 1)).astype(np.float32)         # work above the threshold
    a, b = rng.standard_normal((700, 5)), rng.standard_normal(700)
    return x, a, b, rng.standard_normal(x.shape).astype(np.float32)


def test_threaded_kernels_equal_one_thread():
    """Features are split into ranges run on threads: every range computed once, each with the
    same arithmetic as on one thread, so the results are bit-identical."""
    import numba

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("one thread only: nothing to compare")
    x, a, b, dy = _big_problem()
    assert x.size * a.shape[1] >= parallel.PARALLEL_MIN_WORK
    prev = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = _all_outputs("numba", x, "power", a, b, dy)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = _all_outputs("numba", x, "power", a, b, dy)
    finally:
        numba.set_num_threads(prev)
    for key in one:
        np.testing.assert_array_equal(one[key], many[key], err_msg=key)


def _child_runs_a_kernel(queue):
    x, a, b, _ = _big_problem()
    y, _, _ = kernels.forward_train(x, "power", a, b, EPS)
    queue.put(float(np.abs(y).sum()))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_kernels_run_in_a_forked_child():
    """The kernels' thread pool is made again in a forked child (whose copy has no threads):
    a child forked after the parent ran the kernels does not hang."""
    import multiprocessing as mp

    x, a, b, _ = _big_problem()
    expected = float(np.abs(kernels.forward_train(x, "power", a, b, EPS)[0]).sum())
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_child_runs_a_kernel, args=(queue,))
    child.start()
    child.join(timeout=120)
    if child.is_alive():
        child.kill()
        pytest.fail("the forked child hung running a kernel")
    assert child.exitcode == 0
    assert queue.get(timeout=5) == expected


def _kernel_threads():
    import threading

    return [t for t in threading.enumerate() if t.name.startswith("slaf_np-kernel")]


def test_the_pool_is_made_on_first_use_and_shut_down():
    """No kernel thread before a parallel call; shutdown() stops them; the next call makes a new
    pool."""
    parallel.shutdown()
    assert _kernel_threads() == []
    seen = []
    parallel.run_ranges(lambda d0, d1, bs: seen.append((d0, d1)), 64, 8, 2)
    assert sorted(seen) == [(0, 16), (16, 32), (32, 48), (48, 64)]   # every range, once
    assert len(_kernel_threads()) == 1
    parallel.shutdown()
    assert _kernel_threads() == []
    seen.clear()
    parallel.run_ranges(lambda d0, d1, bs: seen.append((d0, d1)), 64, 8, 2)
    assert len(seen) == 4


def test_a_workers_error_is_raised_in_the_caller():
    import threading

    def kernel(d0, d1, bs):
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError(f"range {d0}..{d1} failed")
        time.sleep(0.05)                                  # leave the other ranges to the worker

    with pytest.raises(RuntimeError, match="failed"):
        parallel.run_ranges(kernel, 64, 8, 2)
