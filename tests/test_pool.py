"""Pooling: MaxPool2D, AvgPool2D (numba kernels, general size / stride / padding) and
GlobalAvgPool2D.

Values against a direct loop over the windows, the numba kernels against their NumPy twins, the
three gradient tiers in float64 (hypothesis geometries with odd sides, stride 2, overlapping and
padded windows; realistic shapes; a Conv2D -> SLAF -> MaxPool2D model over its packed
parameters), the tie rule, thread-count independence, a negative control, and the errors.
Max pooling is checked on inputs whose entries are pairwise apart (no ties, so the function is
differentiable there).
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from slaf_np.gradcheck import GradcheckError, check_directional, check_jacobian, check_model
from slaf_np.kernels import pool as kernels
from slaf_np.nn import (
    SLAF,
    AvgPool2D,
    Conv2D,
    Dense,
    Flatten,
    GlobalAvgPool2D,
    MaxPool2D,
    Sequential,
    io,
)
from slaf_np.threads import single_thread
from slaf_np.train.losses import softmax_cross_entropy
from tests.strategies import avgpool_geometries, distinct_arrays, image_shapes, seeds

POOLS = [MaxPool2D, AvgPool2D]


def loop_pool(x, size, stride, pt, pl, ho, wo, reduce):
    """The definition, one window at a time: ``reduce`` over the cells of the window inside the
    plane (padded cells ignored)."""
    n, c, h, w = x.shape
    y = np.zeros((n, c, ho, wo))
    for i in range(ho):
        for j in range(wo):
            r0, c0 = i * stride - pt, j * stride - pl
            win = x[:, :, max(r0, 0):min(r0 + size, h), max(c0, 0):min(c0 + size, w)]
            y[:, :, i, j] = reduce(win, axis=(2, 3))
    return y


@st.composite
def pool_problems(draw):
    """(kwargs, x): a pooling geometry and a tie-free float64 input (N, C, H, W) it fits."""
    kwargs, (c, h, w) = draw(avgpool_geometries(max_side=7))
    x = draw(distinct_arrays((draw(st.integers(1, 2)), c, h, w)))
    return kwargs, x


# -- values ------------------------------------------------------------------------------------
@given(pool_problems())
def test_forward_matches_direct_loop(problem):
    kwargs, x = problem
    for cls, reduce in ((MaxPool2D, np.max), (AvgPool2D, np.mean)):
        layer = cls(**kwargs)
        pt, pl, ho, wo = layer.geometry(x.shape)
        want = loop_pool(x, layer.size, layer.stride, pt, pl, ho, wo, reduce)
        np.testing.assert_allclose(layer.forward(x), want, rtol=1e-14, atol=1e-15)


@given(data=st.data(), size=st.integers(1, 3))
def test_max_gradient_goes_to_the_argmax_only(data, size):
    """Non-overlapping windows: dx is 1 exactly where x equals its window's maximum."""
    x = data.draw(distinct_arrays(data.draw(image_shapes(size=size))))
    pool = MaxPool2D(size)
    mx = pool.forward(x)
    dx = pool.backward(np.ones_like(mx))
    at_max = x == np.repeat(np.repeat(mx, size, axis=2), size, axis=3)
    np.testing.assert_array_equal(dx, at_max.astype(float))


def test_max_pool_tie_goes_to_first_in_row_major_order():
    pool = MaxPool2D(2)
    pool.forward(np.array([[[[0.0, 1.0], [1.0, 1.0]]]], np.float32))
    dx = pool.backward(np.ones((1, 1, 1, 1), np.float32))
    np.testing.assert_array_equal(dx[0, 0], [[0, 1], [0, 0]])


def test_overlapping_max_windows_add_their_gradients():
    """3x3 windows, stride 1, one shared maximum: it receives the sum of every window's dy."""
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, 1, 2] = 5.0                          # inside all four 3x3 windows
    pool = MaxPool2D(3, stride=1)
    pool.forward(x)
    dx = pool.backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]))
    assert dx[0, 0, 1, 2] == 10.0 and dx.sum() == 10.0


def test_padded_cells_are_ignored():
    """'same' on 3x3 -> 2x2 (stride 2, size 2: one padded row and column at the end): a
    negative plane keeps its own maximum, and the corner mean divides by the one real cell."""
    x = -np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    np.testing.assert_array_equal(MaxPool2D(2, padding="same").forward(x)[0, 0],
                                  [[-1, -3], [-7, -9]])
    np.testing.assert_array_equal(AvgPool2D(2, padding="same").forward(x)[0, 0],
                                  [[-3, -4.5], [-7.5, -9]])


@pytest.mark.parametrize("shape, kwargs, out", [
    ((2, 3, 28, 28), {"size": 2}, (2, 3, 14, 14)),
    ((2, 3, 14, 14), {"size": 2}, (2, 3, 7, 7)),
    ((2, 3, 7, 7), {"size": 2, "padding": "valid"}, (2, 3, 3, 3)),
    ((2, 3, 7, 7), {"size": 2, "padding": "same"}, (2, 3, 4, 4)),
    ((2, 3, 32, 32), {"size": 3, "stride": 2, "padding": "same"}, (2, 3, 16, 16)),
    ((2, 3, 7, 5), {"size": 3, "stride": 2, "padding": 1}, (2, 3, 4, 3)),
], ids=["mnist1", "mnist2", "valid", "same", "same-3s2", "int-padding"])
@pytest.mark.parametrize("cls", POOLS)
def test_output_shape_config_and_save_load(cls, shape, kwargs, out, tmp_path):
    layer = cls(**kwargs)
    assert layer.output_shape(shape) == out
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    y = layer.forward(x)
    assert y.shape == out and y.dtype == np.float32
    assert layer.backward(y).shape == shape and layer.backward(y).dtype == np.float32
    model = Sequential(layer)
    io.save(model, tmp_path / "m.npz")
    loaded = io.load(tmp_path / "m.npz")
    assert loaded.layers[0].config() == layer.config()
    np.testing.assert_array_equal(loaded.forward(x), y)


def test_config_names_only_what_differs_from_the_defaults():
    assert MaxPool2D(2).config() == {"size": 2}
    assert repr(MaxPool2D(2)) == "MaxPool2D(size=2)"
    assert AvgPool2D(3, 2, "same").config() == {"size": 3, "stride": 2, "padding": "same"}


# -- the kernels against their NumPy twins -----------------------------------------------------
def _compare_with_twins(x, k, s, pt, pl, ho, wo):
    """Every kernel against its twin on ``x`` (N, C, H, W): equal bit for bit (same arithmetic in
    the same order, kernels/pool.py), dtypes kept."""
    n, c, h, w = x.shape
    planes = x.reshape(n * c, h, w)
    dy = np.random.default_rng(0).standard_normal((n * c, ho, wo)).astype(x.dtype)
    y, arg = kernels.max_forward(planes, k, s, pt, pl, ho, wo)
    y2, arg2 = kernels.max_forward_numpy(planes, k, s, pt, pl, ho, wo)
    np.testing.assert_array_equal(y, y2)
    np.testing.assert_array_equal(arg, arg2)
    outputs = [(kernels.max_backward(dy, arg, h, w), kernels.max_backward_numpy(dy, arg, h, w)),
               (kernels.avg_forward(planes, k, s, pt, pl, ho, wo),
                kernels.avg_forward_numpy(planes, k, s, pt, pl, ho, wo)),
               (kernels.avg_backward(dy, k, s, pt, pl, h, w),
                kernels.avg_backward_numpy(dy, k, s, pt, pl, h, w))]
    for got, want in [(y, y2), *outputs]:
        assert got.dtype == want.dtype == x.dtype
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(problem=pool_problems())
def test_kernels_match_numpy_twins(dtype, problem):
    kwargs, x = problem
    pt, pl, ho, wo = MaxPool2D(**kwargs).geometry(x.shape)
    _compare_with_twins(x.astype(dtype), kwargs["size"], kwargs["stride"], pt, pl, ho, wo)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(2, 3, 8, 6), (1, 2, 7, 5), (3, 1, 2, 3)],
                         ids=["even", "odd", "one-window"])
def test_2x2_stride_2_kernels_match_numpy_twins(dtype, shape):
    """The paper's pooling has kernels of its own; odd sides ('valid') leave a last row and
    column that no window covers (zero gradient)."""
    x = np.random.default_rng(1).standard_normal(shape).astype(dtype)
    _compare_with_twins(x, 2, 2, 0, 0, shape[2] // 2, shape[3] // 2)
    dx = kernels.avg_backward(np.ones((shape[0] * shape[1], shape[2] // 2, shape[3] // 2), dtype),
                              2, 2, 0, 0, shape[2], shape[3])
    assert (dx[:, 2 * (shape[2] // 2):] == 0).all() and (dx[:, :, 2 * (shape[3] // 2):] == 0).all()


@pytest.mark.parametrize("cls", POOLS)
def test_result_does_not_depend_on_the_thread_count(cls):
    """Big enough for two threads (over PARALLEL_MIN_WORK values): each plane is one thread's."""
    x = np.random.default_rng(0).standard_normal((8, 16, 28, 28)).astype(np.float32)
    layer = cls(2)
    y = layer.forward(x)
    dx = layer.backward(y)
    with single_thread():
        np.testing.assert_array_equal(layer.forward(x), y)
        np.testing.assert_array_equal(layer.backward(y), dx)


# -- tier 1: full Jacobians on tiny shapes -----------------------------------------------------
@pytest.mark.parametrize("cls", POOLS)
@given(problem=pool_problems())
def test_jacobian(cls, problem):
    kwargs, x = problem
    check_jacobian(cls(**kwargs), x)


@given(shape=image_shapes(size=1, max_blocks=4), seed=seeds)
def test_global_avg_pool_jacobian(shape, seed):
    check_jacobian(GlobalAvgPool2D(), np.random.default_rng(seed).standard_normal(shape))


def test_global_avg_pool_values_and_shape():
    x = np.random.default_rng(0).standard_normal((3, 4, 5, 7)).astype(np.float32)
    layer = GlobalAvgPool2D()
    y = layer.forward(x)
    assert layer.output_shape((None, 4, 5, 7)) == (None, 4)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, x.mean(axis=(2, 3)), rtol=1e-6)
    dx = layer.backward(np.ones_like(y))
    np.testing.assert_allclose(dx, np.full(x.shape, 1 / 35), rtol=1e-6)


# -- tier 2: random directions on realistic shapes ---------------------------------------------
@pytest.mark.parametrize("make", [lambda: MaxPool2D(2), lambda: AvgPool2D(2),
                                  lambda: MaxPool2D(3, 2, padding="same"),
                                  lambda: AvgPool2D(3, 2, padding="same"), GlobalAvgPool2D],
                         ids=["max2", "avg2", "max3s2", "avg3s2", "global"])
def test_directional(make):
    shape = (8, 16, 16, 16)
    x = np.random.default_rng(0).permutation(np.prod(shape)).reshape(shape) * 1e-3
    check_directional(make(), x, np.random.default_rng(1))


# -- tier 3: a conv stack over its packed parameters -------------------------------------------
def test_conv_slaf_maxpool_model():
    """Conv2D -> SLAF (per channel, batch statistics over N, H, W) -> MaxPool2D -> Dense, the
    MNIST network's pattern on a 7x7 image, float64, training mode."""
    rng = np.random.default_rng(0)
    model = Sequential(Conv2D(1, 3, 3, padding=1, rng=1, dtype=np.float64),
                       SLAF(3, 3, rng=2, dtype=np.float64),
                       MaxPool2D(2, padding="same"), Flatten(),
                       Dense(3 * 4 * 4, 4, rng=3, dtype=np.float64))
    assert model.layers[1].params["c"].shape == (3, 3)        # one coefficient row per channel
    X, labels = rng.standard_normal((4, 1, 7, 7)), rng.integers(0, 4, 4)
    check_model(model, X, labels, softmax_cross_entropy, training=True)


# -- negative control --------------------------------------------------------------------------
def test_gradient_check_catches_a_mean_over_the_padded_window(monkeypatch):
    """A plausible bug: the backward divides by size^2 where padding shortened the window."""
    def wrong(dy, k, s, pt, pl, H, W):
        return kernels.avg_backward_numpy(dy, k, s, 0, 0, H + 2 * pt, W + 2 * pl)[
            :, pt:pt + H, pl:pl + W].copy()

    x = np.random.default_rng(0).standard_normal((1, 1, 5, 5))
    check_jacobian(AvgPool2D(3, 2, padding=1), x)
    monkeypatch.setattr(kernels, "avg_backward", wrong)
    with pytest.raises(GradcheckError):
        check_jacobian(AvgPool2D(3, 2, padding=1), x)


# -- errors ------------------------------------------------------------------------------------
def test_windows_that_do_not_tile_the_input_are_refused():
    with pytest.raises(ValueError, match=r"MaxPool2D: windows of size=3, stride=3, padding=0 do "
                                         r"not tile the input width 4 \(its last 1 columns would "
                                         r"be dropped\), got input of shape \(2, 1, 6, 4\); pass "
                                         r"padding='valid'"):
        MaxPool2D(3).forward(np.zeros((2, 1, 6, 4), np.float32))
    with pytest.raises(ValueError, match=r"AvgPool2D: input height 2 \(padding 0\) is smaller "
                                         r"than the window size=3"):
        AvgPool2D(3, padding="valid").output_shape((1, 1, 2, 5))
    with pytest.raises(ValueError, match=r"AvgPool2D\.forward: expected an input with 4 "
                                         r"dimensions, got shape \(2, 8\)"):
        AvgPool2D(2).forward(np.zeros((2, 8), np.float32))
    with pytest.raises(ValueError, match=r"GlobalAvgPool2D\.forward: expected an input with 4"):
        GlobalAvgPool2D().forward(np.zeros((2, 8), np.float32))


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"MaxPool2D: size must be an integer >= 1, got 0"):
        MaxPool2D(0)
    with pytest.raises(ValueError, match=r"AvgPool2D: stride must be an integer >= 1, got 0"):
        AvgPool2D(2, stride=0)
    with pytest.raises(ValueError, match=r"MaxPool2D: padding must be smaller than size=2 .*"
                                         r"got 2"):
        MaxPool2D(2, padding=2)
    with pytest.raises(ValueError, match=r"MaxPool2D: padding must be an integer or one of "
                                         r"'valid', 'same', got 'SAME'"):
        MaxPool2D(2, padding="SAME")


def test_backward_before_forward_and_wrong_dy():
    for layer, dy in ((MaxPool2D(2), np.zeros((1, 1, 1, 1))),
                      (AvgPool2D(2), np.zeros((1, 1, 1, 1))),
                      (GlobalAvgPool2D(), np.zeros((1, 1)))):
        with pytest.raises(RuntimeError, match=rf"{layer.name}\.backward called before forward"):
            layer.backward(dy)
        layer.forward(np.zeros((1, 1, 2, 2)))
        with pytest.raises(ValueError, match=rf"{layer.name}\.backward: expected dy of shape "
                                             rf"\({', '.join(map(str, dy.shape))},?\), got "
                                             rf"\(1, 1, 2, 2\)"):
            layer.backward(np.zeros((1, 1, 2, 2)))
