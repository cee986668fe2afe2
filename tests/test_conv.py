"""Conv2D: values against a direct loop, the three gradient tiers in float64 on hypothesis-drawn
geometries (odd sides, stride 2, padding, 1x1 kernels, a batch of one), a negative control, the
numba kernels against their NumPy twin, save/load, and the errors bad arguments get."""

import contextlib
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from slaf_np.gradcheck import GradcheckError, check_directional, check_jacobian, check_model
from slaf_np.kernels import conv, conv_numpy
from slaf_np.nn import Conv2D, Dense, Flatten, Sequential, Tanh
from slaf_np.train.losses import mse
from tests.strategies import conv_geometries, seeds


def direct_conv(x, W, b, stride, ph, pw):
    """The definition, one output entry at a time: y[n,o,p,q] = b[o] + sum W[o] * window."""
    n, c, h, w = x.shape
    o, _, kh, kw = W.shape
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    ho, wo = (h + 2 * ph - kh) // stride + 1, (w + 2 * pw - kw) // stride + 1
    y = np.zeros((n, o, ho, wo))
    for p in range(ho):
        for q in range(wo):
            window = xp[:, :, stride * p:stride * p + kh, stride * q:stride * q + kw]
            y[:, :, p, q] = np.einsum("ncij,ocij->no", window, W)
    return y + (0 if b is None else b[:, None, None])


def make(kwargs, seed, dtype=np.float64):
    """A Conv2D with a non-zero bias (so db is exercised by the forward, too)."""
    layer = Conv2D(**kwargs, rng=seed, dtype=dtype)
    if layer.bias:
        layer.params["b"][...] = np.random.default_rng(seed + 1).standard_normal(layer.out_channels)
    return layer


# -- values ------------------------------------------------------------------------------------
@given(conv_geometries(), seeds)
def test_forward_matches_direct_loop(geometry, seed):
    kwargs, shape = geometry
    layer = make(kwargs, seed)
    x = np.random.default_rng(seed).standard_normal(shape)
    y = layer.forward(x)
    assert y.shape == layer.output_shape(shape)
    want = direct_conv(x, layer.params["W"], layer.params.get("b"), layer.stride, *layer.pad)
    np.testing.assert_allclose(y, want, rtol=1e-12, atol=1e-12)


def test_same_padding_keeps_the_size_and_the_centre_tap_is_the_identity():
    layer = Conv2D(2, 2, 5, padding="same", bias=False, dtype=np.float64)
    layer.params["W"][...] = 0
    layer.params["W"][[0, 1], [0, 1], 2, 2] = 1          # y = x through the centre of the kernel
    x = np.random.default_rng(0).standard_normal((3, 2, 7, 6))
    np.testing.assert_array_equal(layer.forward(x), x)


def test_he_initialisation():
    layer = Conv2D(16, 64, 3, rng=0)
    std = np.sqrt(2 / (16 * 9))
    assert abs(layer.params["W"].std() / std - 1) < 0.05
    np.testing.assert_array_equal(layer.params["b"], 0)
    assert layer.params["W"].dtype == np.float32


# -- tier 1: full Jacobians on tiny shapes ------------------------------------------------------
@given(conv_geometries(max_n=2, max_c=2, max_o=2, max_side=5), seeds)
def test_jacobian(geometry, seed):
    kwargs, shape = geometry
    check_jacobian(make(kwargs, seed), np.random.default_rng(seed).standard_normal(shape))


# -- tier 2: random directions on realistic shapes ---------------------------------------------
@pytest.mark.parametrize("kwargs, shape", [
    ({"kernel_size": 5, "padding": "same"}, (8, 3, 14, 14)),
    ({"kernel_size": 3, "stride": 2, "padding": 1}, (7, 4, 15, 16)),
    ({"kernel_size": 1, "stride": 2, "bias": False}, (1, 4, 9, 9)),
    ({"kernel_size": (3, 2), "padding": 2}, (5, 3, 11, 6)),
], ids=["5x5-same", "3x3-stride2", "1x1-stride2-batch1", "3x2-pad2"])
def test_directional(kwargs, shape):
    layer = make({"in_channels": shape[1], "out_channels": 6, **kwargs}, 0)
    x = np.random.default_rng(1).standard_normal(shape)
    check_directional(layer, x, np.random.default_rng(2), n_directions=4)


# -- tier 3: a whole model over its packed parameters ------------------------------------------
def test_whole_model():
    rng = np.random.default_rng(0)
    model = Sequential(Conv2D(2, 3, 3, stride=2, padding=1, rng=1, dtype=np.float64), Tanh(),
                       Conv2D(3, 2, 1, rng=2, dtype=np.float64), Flatten(),
                       Dense(2 * 4 * 3, 2, rng=3, dtype=np.float64))
    X, Y = rng.standard_normal((3, 2, 7, 6)), rng.standard_normal((3, 2))
    check_model(model, X, Y, mse)


# -- negative control --------------------------------------------------------------------------
class _ShiftedKernelGradient(Conv2D):
    """A plausible bug: dW flipped in space (convolution instead of correlation in backward)."""

    def backward(self, dy):
        before = self.grads["W"].copy()
        dx = super().backward(dy)
        self.grads["W"][...] = before + (self.grads["W"] - before)[:, :, ::-1, ::-1]
        return dx


class _DxOffByOne(Conv2D):
    """Another: the input gradient scattered one column off (a wrong col2im offset)."""

    def backward(self, dy):
        return np.roll(super().backward(dy), 1, axis=3)


@pytest.mark.parametrize("wrong", [_ShiftedKernelGradient, _DxOffByOne])
def test_negative_control(wrong):
    kwargs = {"in_channels": 2, "out_channels": 2, "kernel_size": 3, "padding": 1}
    x = np.random.default_rng(0).standard_normal((2, 2, 5, 4))
    check_jacobian(Conv2D(**kwargs, rng=0, dtype=np.float64), x)          # the right one passes
    with pytest.raises(GradcheckError, match=r"d y / d (x|W).*index"):
        check_jacobian(wrong(**kwargs, rng=0, dtype=np.float64), x)
    with pytest.raises(GradcheckError):
        check_directional(wrong(**kwargs, rng=0, dtype=np.float64),
                          np.random.default_rng(1).standard_normal((6, 2, 9, 9)),
                          np.random.default_rng(2))


def test_backward_accumulates():
    layer = make({"in_channels": 2, "out_channels": 3, "kernel_size": 3}, 0)
    x = np.random.default_rng(0).standard_normal((2, 2, 5, 5))
    dy = np.random.default_rng(1).standard_normal(layer.output_shape(x.shape))
    layer.forward(x)
    layer.backward(dy)
    once = {k: g.copy() for k, g in layer.grads.items()}
    layer.forward(x)
    layer.backward(dy)
    for k, g in layer.grads.items():
        np.testing.assert_allclose(g, 2 * once[k], rtol=1e-14)


# -- save and load -----------------------------------------------------------------------------
def test_save_load_round_trip(tmp_path):
    from slaf_np.nn.io import load, save

    model = Sequential(Conv2D(1, 4, (3, 5), stride=2, padding=1, rng=0),
                       Conv2D(4, 2, 3, padding="same", bias=False, rng=1))
    x = np.random.default_rng(0).standard_normal((2, 1, 9, 8)).astype(np.float32)
    save(model, tmp_path / "m.npz")
    loaded = load(tmp_path / "m.npz")
    assert repr(loaded) == repr(model)
    np.testing.assert_array_equal(loaded(x), model(x))


# -- errors ------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, match", [
    ({"kernel_size": 3, "stride": 2, "padding": "same"}, r"'same' needs stride 1.*padding=1"),
    ({"kernel_size": 4, "padding": "same"}, r"odd kernel sides.*\(4, 4\)"),
    ({"kernel_size": 3, "padding": "full"}, r"padding must be an int >= 0 or one of"),
    ({"kernel_size": 3, "padding": -1}, r"padding must be an integer >= 0, got -1"),
    ({"kernel_size": 0}, r"kernel_size must be an integer >= 1, got 0"),
    ({"kernel_size": (3, 3, 3)}, r"kernel_size must be an int or a pair"),
    ({"kernel_size": 3, "stride": 0}, r"stride must be an integer >= 1"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=f"Conv2D: .*{match}"):
        Conv2D(2, 3, **kwargs)


def test_bad_inputs_are_refused_naming_the_layer():
    layer = Conv2D(2, 3, 5)
    with pytest.raises(ValueError, match=r"Conv2D.forward: expected 2 features on axis 1"):
        layer.forward(np.zeros((1, 3, 8, 8), np.float32))
    with pytest.raises(ValueError, match=r"Conv2D.forward: expected an input with 4 dimensions"):
        layer.forward(np.zeros((1, 2, 8), np.float32))
    with pytest.raises(TypeError, match=r"Conv2D.forward: input dtype float64 does not match"):
        layer.forward(np.zeros((1, 2, 8, 8)))
    with pytest.raises(ValueError, match=r"Conv2D: the 5x5 kernel does not fit.*\(1, 2, 4, 8\)"):
        layer.forward(np.zeros((1, 2, 4, 8), np.float32))
    with pytest.raises(RuntimeError, match="Conv2D.backward called before forward"):
        layer.backward(np.zeros((1, 3, 4, 4), np.float32))
    layer.forward(np.zeros((1, 2, 8, 8), np.float32))
    with pytest.raises(ValueError, match=r"Conv2D.backward: expected dy of shape \(1, 3, 4, 4\)"):
        layer.backward(np.zeros((1, 3, 8, 8), np.float32))


def test_numpy_twin_lowering_is_a_transpose_pair():
    """<im2col(x), c> == <x, col2im(c)>: col2im is the adjoint of the lowering."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 7, 6))
    cols = conv_numpy.im2col(x, 3, 2, 2, 1, 2)
    c = rng.standard_normal(cols.shape)
    back = conv_numpy.col2im(c, x.shape, 3, 2, 2, 1, 2)
    np.testing.assert_allclose(np.sum(cols * c), np.sum(x * back), rtol=1e-12)


# -- the numba kernels against their NumPy twin ------------------------------------------------
def _pads(layer):
    return layer.stride, *layer.pad


@contextlib.contextmanager
def _chunks_of(samples, x, W, itemsize):
    """Make the kernels' chunks hold ``samples`` lowered samples (None: the default size), so
    that small test shapes also run as several chunks and groups."""
    previous = conv.CHUNK_BYTES
    if samples is not None:
        n, c, h, w = x.shape
        conv.CHUNK_BYTES = samples * c * W.shape[2] * W.shape[3] * h * w * itemsize
    try:
        yield
    finally:
        conv.CHUNK_BYTES = previous


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 2e-5)])
@given(geometry=conv_geometries(max_n=5, max_c=4, max_o=4, max_k=4, max_side=9), seed=seeds,
       need_dx=st.booleans(), per_chunk=st.sampled_from([1, 2, None]))
def test_kernels_match_numpy_twin(dtype, tol, geometry, seed, need_dx, per_chunk):
    """Every geometry, with one or two samples per chunk (so several chunks and groups, their
    ``dW`` and ``db`` sums and the chunk edges are exercised) or the default chunk size."""
    kwargs, shape = geometry
    layer = make(kwargs, seed)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    W, b = layer.params["W"].astype(dtype), layer.params.get("b")
    b = None if b is None else b.astype(dtype)
    with _chunks_of(per_chunk, x, W, np.dtype(dtype).itemsize):
        y = conv.forward(x, W, b, *_pads(layer))
        dy = rng.standard_normal(y.shape).astype(dtype)
        got = conv.backward(dy, x, W, *_pads(layer), need_dx=need_dx)
    np.testing.assert_allclose(y, conv_numpy.forward(x, W, b, *_pads(layer)), rtol=tol, atol=tol)
    assert y.dtype == dtype
    want = conv_numpy.backward(dy, x, W, *_pads(layer), need_dx=need_dx)
    for name, g, w in zip(("dx", "dW", "db"), got, want, strict=True):
        if w is None:
            assert g is None
            continue
        assert g.dtype == dtype and g.shape == w.shape, name
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol * 10, err_msg=name)


def test_threaded_kernels_equal_one_thread():
    """Samples go to threads in fixed groups and dW is summed group by group in order, so any
    thread count gives bit-identical results."""
    import numba

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("one thread only: nothing to compare")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 4, 12, 12)).astype(np.float32)
    assert conv.threads_for(64 * 36 * 36) > 1                         # work above the threshold
    W = rng.standard_normal((5, 4, 3, 3)).astype(np.float32)
    b = rng.standard_normal(5).astype(np.float32)
    dy = rng.standard_normal((64, 5, 6, 6)).astype(np.float32)
    results = []
    previous = numba.get_num_threads()
    try:
        with _chunks_of(3, x[:, :, :6, :6], W, 4):      # lowered samples of 36 x 36 (stride 2)
            _, _, groups, B, _ = conv._plan(x, W, 2, 1, 1)
            assert (groups, B) == (conv.GROUPS, 3)         # 16 groups of 4: chunks of 3 and 1
            for threads in (1, 2):
                numba.set_num_threads(threads)
                results.append((conv.forward(x, W, b, 2, 1, 1),
                                *conv.backward(dy, x, W, 2, 1, 1)))
    finally:
        numba.set_num_threads(previous)
    for one, two in zip(*results, strict=True):
        np.testing.assert_array_equal(one, two)


_NO_JIT_SCRIPT = r"""
import numpy as np
import numba
assert numba.config.DISABLE_JIT
from slaf_np.kernels import conv, conv_numpy
from slaf_np.nn import Conv2D
from slaf_np.gradcheck import check_jacobian
rng = np.random.default_rng(0)
for stride, ph, pw in ((1, 1, 0), (2, 0, 2)):
    x, W, b = rng.standard_normal((3, 2, 6, 5)), rng.standard_normal((3, 2, 3, 2)), np.ones(3)
    y = conv.forward(x, W, b, stride, ph, pw)
    assert np.allclose(y, conv_numpy.forward(x, W, b, stride, ph, pw))
    dy = rng.standard_normal(y.shape)
    for u, w in zip(conv.backward(dy, x, W, stride, ph, pw),
                    conv_numpy.backward(dy, x, W, stride, ph, pw)):
        assert np.allclose(u, w)
check_jacobian(Conv2D(2, 2, 3, stride=2, padding=1, rng=0, dtype=np.float64),
               rng.standard_normal((2, 2, 5, 4)))
print("ok")
"""


def test_kernels_without_jit():
    """The kernels run as plain Python under NUMBA_DISABLE_JIT=1 and still agree with the twins."""
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, "-c", _NO_JIT_SCRIPT], env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().endswith("ok")


@pytest.mark.parametrize("case", conv.conv_shapes(), ids=lambda c: c["name"])
def test_peak_memory_within_four_times_the_lowered_input(case):
    """Issue 12's bound: forward + backward allocate (outputs, gradients, the per-group dW sums
    and the threads' buffers together) at most 4x the lowered input, on the benchmark's shapes
    cut to 8 samples (where the fixed buffers are a larger share than at full size)."""
    import tracemalloc

    n, c, h, w = case["input_shape"]
    layer = Conv2D(**case["layer"], rng=0)
    x = np.random.default_rng(0).standard_normal((8, c, h, w)).astype(np.float32)
    dy = np.ones(layer.output_shape(x.shape), np.float32)
    layer.forward(x)
    layer.backward(dy)                                     # compiled, pool started
    tracemalloc.start()
    try:
        layer.forward(x)
        layer.backward(dy)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    lowered = case["lowered"] // n * 8 * x.itemsize
    assert peak <= 4 * lowered, (peak, lowered)


@pytest.mark.parametrize("kernels", [conv, conv_numpy], ids=["numba", "numpy"])
def test_empty_batch(kernels):
    """N = 0 gives empty outputs and zero parameter gradients (reshape(n, o, -1) failed)."""
    x, W = np.zeros((0, 2, 5, 5)), np.ones((3, 2, 3, 3))
    y = kernels.forward(x, W, np.ones(3), 1, 1, 1)
    assert y.shape == (0, 3, 5, 5)
    dx, dW, db = kernels.backward(y, x, W, 1, 1, 1)
    assert dx.shape == x.shape
    np.testing.assert_array_equal(dW, 0)
    np.testing.assert_array_equal(db, 0)


# -- input_gradient=False: a first layer skips col2im ---------------------------------------------
def test_no_input_gradient_keeps_the_parameter_gradients():
    """Same dW and db as the full backward, no dx (catches a flag that also drops dW or db, or
    one that is ignored)."""
    rng = np.random.default_rng(0)
    full = Conv2D(2, 3, 3, padding=1, rng=1, dtype=np.float64)
    first = Conv2D(2, 3, 3, padding=1, input_gradient=False, rng=1, dtype=np.float64)
    x, dy = rng.standard_normal((4, 2, 5, 5)), rng.standard_normal((4, 3, 5, 5))
    for layer in (full, first):
        layer.forward(x, training=True)
    assert isinstance(full.backward(dy), np.ndarray)
    assert first.backward(dy) is None
    for key in ("W", "b"):
        np.testing.assert_array_equal(first.grads[key], full.grads[key])


def test_no_input_gradient_only_first_and_saved(tmp_path):
    from slaf_np.nn import ReLU, Residual, Sequential
    from slaf_np.nn.io import load, save

    first = Conv2D(1, 2, 3, input_gradient=False, rng=0)
    model = Sequential(first, ReLU())
    assert "input_gradient=False" in repr(first) or first.config()["input_gradient"] is False
    save(model, tmp_path / "m.npz")
    assert load(tmp_path / "m.npz").layers[0].input_gradient is False
    with pytest.raises(ValueError, match="(?s)layer 1 .*only the first layer"):
        Sequential(ReLU(), Conv2D(1, 2, 3, input_gradient=False))
    with pytest.raises(ValueError, match="(?s)layer 1 .*only the first layer"):
        Sequential(ReLU(), Sequential(Conv2D(1, 2, 3, input_gradient=False)))
    with pytest.raises(ValueError, match="Residual: the body"):
        Residual(Conv2D(2, 2, 3, padding=1, input_gradient=False))
    with pytest.raises(TypeError, match="input_gradient must be True or False"):
        Conv2D(1, 2, 3, input_gradient="no")
