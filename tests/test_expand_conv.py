"""expand on image networks: Conv2D, AvgPool2D, GlobalAvgPool2D, BatchNorm and SLAF per channel.

The variables of an image input are its pixels flattened in ``(C, H, W)`` C order (as Flatten
does), so ``expand(model, input_shape=(C, H, W))(X.reshape(N, -1))`` must equal
``model.forward(X)``.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given
from strategies import avgpool_geometries, conv_geometries, seeds

import slaf_np as sn
from slaf_np.nn import SLAF, AvgPool2D, Conv2D, MaxPool2D, basic_block
from slaf_np.polynomial import Polynomial, PolynomialVector, degree_bound, expand

F64 = np.float64


def _slaf(channels: int, k: int, rng) -> SLAF:
    """A per-channel power SLAF in evaluation state (random coefficients and statistics)."""
    layer = SLAF(channels, k, rng=rng, dtype=F64)
    layer.params["c"][...] = rng.standard_normal(layer.params["c"].shape)
    layer.params["b"][...] = rng.standard_normal(layer.params["b"].shape)
    layer.buffers["running_mean"][...] = 0.5 * rng.standard_normal(
        layer.buffers["running_mean"].shape)
    layer.buffers["running_var"][...] = rng.uniform(0.3, 3.0, layer.buffers["running_var"].shape)
    return layer


def _conv(rng, *args, **kwargs) -> Conv2D:
    """A float64 Conv2D with a random non-zero bias (the default bias is 0 and would hide one)."""
    layer = Conv2D(*args, rng=rng, dtype=F64, **kwargs)
    if "b" in layer.params:
        layer.params["b"][...] = rng.standard_normal(layer.params["b"].shape)
    return layer


def _batchnorm(channels: int, rng) -> sn.BatchNorm:
    bn = sn.BatchNorm(channels, dtype=F64)
    bn.buffers["running_mean"][...] = rng.standard_normal(channels)
    bn.buffers["running_var"][...] = rng.uniform(0.3, 3.0, channels)
    bn.params["gamma"][...] = rng.uniform(0.5, 1.5, channels) * rng.choice([-1, 1], channels)
    bn.params["beta"][...] = rng.standard_normal(channels)
    return bn


def _abs(p):
    """|p|: the same monomials with |c|; |p|(|x|) bounds every partial sum of p(x)."""
    if isinstance(p, PolynomialVector):
        return PolynomialVector._make(p.exponents, np.abs(p.coefs), p.shape)
    return Polynomial._make(p.exponents, np.abs(p.coefs))


def _assert_matches(p, model, X: np.ndarray) -> None:
    """p(X flattened) == model.forward(X) to 1e-10 of the sum of the absolute terms (the
    rounding of both sides is a few eps of that sum)."""
    y = model.forward(X)
    if isinstance(p, Polynomial):
        y = y[:, 0]
    flat = X.reshape(len(X), -1)
    got = p(flat)
    assert got.shape == y.shape
    scale = _abs(p)(np.abs(flat)) + np.abs(y)
    assert (np.abs(got - y) <= 1e-10 * scale).all(), (np.abs(got - y) / scale).max()


def test_conv_slaf_avgpool_dense_on_a_6x6_image_equals_the_network():
    rng = np.random.default_rng(0)
    model = sn.Sequential(_conv(rng, 1, 2, 3, padding=1), _slaf(2, 2, rng), AvgPool2D(2),
                          sn.Flatten(), sn.Dense(18, 1, rng=rng, dtype=F64))
    p = expand(model, input_shape=(1, 6, 6))
    assert isinstance(p, Polynomial) and p.n_vars == 36
    assert p.degree == degree_bound(model) == 2
    _assert_matches(p, model, rng.standard_normal((20, 1, 6, 6)))


def test_two_conv_stages_with_batchnorm_and_global_pooling_equal_the_network():
    """A convolution after a SLAF acts on degree-2 pixels; the degree is the product 2 x 2."""
    rng = np.random.default_rng(1)
    model = sn.Sequential(_conv(rng, 1, 2, 3, padding=1), _batchnorm(2, rng), _slaf(2, 2, rng),
                          AvgPool2D(2), _conv(rng, 2, 2, 2, stride=1), _slaf(2, 2, rng),
                          sn.GlobalAvgPool2D(), sn.Dense(2, 1, rng=rng, dtype=F64))
    p = expand(model, input_shape=(1, 6, 6))
    assert p.degree == degree_bound(model) == 4
    _assert_matches(p, model, rng.standard_normal((10, 1, 6, 6)))


def test_a_slaf_resnet_block_with_a_strided_convolution_shortcut_equals_the_network():
    """basic_block(1, 2, stride=2): body conv3x3/2 - BN - SLAF - conv3x3 - BN, shortcut conv1x1/2
    - BN, then a SLAF after the sum; degree max(2, 1) x 2 = 4."""
    rng = np.random.default_rng(6)
    block = basic_block(1, 2, stride=2, activation=lambda c: _slaf(c, 2, rng), rng=rng, dtype=F64)
    model = sn.Sequential(block, sn.GlobalAvgPool2D(), sn.Dense(2, 1, rng=rng, dtype=F64))
    for layer in model.modules():
        if isinstance(layer, sn.BatchNorm):
            fresh = _batchnorm(2, rng)
            layer.params.update(fresh.params)
            layer.buffers.update(fresh.buffers)
    assert "Conv2D" in repr(block.layers[0].layers[1])            # the 1x1 shortcut is there
    p = expand(model, input_shape=(1, 4, 4))
    assert p.degree == degree_bound(model) == 4
    _assert_matches(p, model, rng.standard_normal((10, 1, 4, 4)))


@given(conv_geometries(max_c=2, max_o=2, max_k=3, max_side=5), seeds)
def test_conv_after_a_slaf_equals_the_network(geometry, seed):
    """Stride 1 and 2, int / "same" / "valid" padding, 1x1 and even kernels, no bias: the
    convolution applied to degree-2 pixels, output kept as an image."""
    kwargs, (_, C, H, W) = geometry
    rng = np.random.default_rng(seed)
    model = sn.Sequential(_slaf(C, 2, rng), _conv(rng, **kwargs))
    p = expand(model, input_shape=(C, H, W), as_vector=True)
    assert p.shape == model.output_shape((1, C, H, W))[1:] and p.degree <= 2
    _assert_matches(p, model, rng.standard_normal((4, C, H, W)))


@given(avgpool_geometries(), seeds)
@example(({"size": 2, "stride": 1, "padding": "same"}, (1, 3, 4)), 0)
@example(({"size": 3, "stride": 2, "padding": 1}, (2, 5, 3)), 1)
def test_average_pooling_after_a_slaf_equals_the_network(geometry, seed):
    """Windows overlapping (stride < size), apart (stride > size), int padding (padded cells not
    counted in a mean), "valid" (rows cut) and "same" (an odd total padding: its smaller half
    goes before the first row)."""
    kwargs, (C, H, W) = geometry
    rng = np.random.default_rng(seed)
    model = sn.Sequential(_slaf(C, 2, rng), AvgPool2D(**kwargs))
    p = expand(model, input_shape=(C, H, W), as_vector=True)
    assert p.shape == model.output_shape((1, C, H, W))[1:]
    _assert_matches(p, model, rng.standard_normal((4, C, H, W)))


def test_variables_are_the_pixels_in_flatten_order():
    """Output (o, y, x) of a 3x3 convolution (padding 1) of a (2, 5, 4) image has exactly the
    terms W[o, c, i, j] x_v with v = c H W + h W + w, h = y + i - 1, w = x + j - 1 inside the
    image (H != W and C > 1 catch a swapped or channel-last order), read exactly from a float32
    layer's weights."""
    rng = np.random.default_rng(2)
    C, H, W = 2, 5, 4
    conv = Conv2D(C, 3, 3, padding=1, rng=rng)                   # float32
    conv.params["b"][...] = rng.standard_normal(3)
    p = expand(sn.Sequential(conv, sn.Flatten()), input_shape=(C, H, W))
    assert isinstance(p, PolynomialVector) and p.n_vars == C * H * W and p.shape == (3 * H * W,)
    Wt, b = conv.params["W"].astype(F64), conv.params["b"].astype(F64)
    for o, y, x in np.ndindex(3, H, W):
        want = {(): b[o]}
        for c, i, j in np.ndindex(C, 3, 3):
            h, w = y + i - 1, x + j - 1
            if 0 <= h < H and 0 <= w < W:
                want[(c * H * W + h * W + w,)] = Wt[o, c, i, j]
        got = {tuple(np.flatnonzero(e)): v for e, v in p[(o * H + y) * W + x].to_dict().items()}
        assert got == want, (o, y, x)


def test_a_pixel_reaches_exactly_the_outputs_whose_windows_hold_it():
    """Perturbing input pixel (c, h, w) of a stride-2 convolution moves only the outputs
    (o, y, x) with 2 y <= h < 2 y + 2 and 2 x <= w < 2 x + 2 (a 2x2 kernel, no padding)."""
    rng = np.random.default_rng(3)
    C, H, W = 2, 4, 6
    model = sn.Sequential(_slaf(C, 2, rng), _conv(rng, C, 2, 2, stride=2))
    p = expand(model, input_shape=(C, H, W), as_vector=True)
    x0 = rng.standard_normal(C * H * W)
    for c, h, w in np.ndindex(C, H, W):
        x1 = x0.copy()
        x1[(c * H + h) * W + w] += 1.0
        moved = np.abs(p(x1) - p(x0)) > 1e-12                     # (2, 2, 3)
        want = np.zeros((2, H // 2, W // 2), bool)
        want[:, h // 2, w // 2] = True
        np.testing.assert_array_equal(moved, want, err_msg=str((c, h, w)))


def test_max_pooling_is_refused_by_name():
    rng = np.random.default_rng(4)
    model = sn.Sequential(_conv(rng, 1, 2, 3, padding=1), _slaf(2, 2, rng), MaxPool2D(2),
                          sn.Flatten(), sn.Dense(18, 1, rng=rng, dtype=F64))
    for f in (lambda m: expand(m, input_shape=(1, 6, 6)), degree_bound):
        with pytest.raises(ValueError, match=r"layer 2 \(MaxPool2D\) is not polynomial: a "
                                             r"maximum is not a polynomial"):
            f(model)


@pytest.mark.parametrize("model, input_shape, match", [
    (lambda: sn.Sequential(Conv2D(1, 2, 3)), None,
     r"first layer is a Conv2D with in_channels=1.*input_shape=\(1, H, W\)"),
    (lambda: sn.Sequential(Conv2D(3, 2, 3)), (2, 4, 4), r"layer 0 \(Conv2D\) needs \(3, H, W\)"),
    (lambda: sn.Sequential(sn.Dense(4, 4), Conv2D(1, 2, 1)), (4,),
     r"layer 1 \(Conv2D\) needs \(1, H, W\) features, got per-sample shape \(4,\)"),
    (lambda: sn.Sequential(Conv2D(1, 1, 5)), (1, 3, 3), r"layer 0 \(Conv2D\).*does not fit"),
    (lambda: sn.Sequential(sn.Identity(), sn.GlobalAvgPool2D()), (4,),
     r"layer 1 \(GlobalAvgPool2D\) needs \(C, H, W\)"),
])
def test_shape_errors_name_the_layer(model, input_shape, match):
    with pytest.raises(ValueError, match=match):
        expand(model(), input_shape=input_shape)


def test_a_float32_network_expands_to_the_polynomial_of_its_float64_copy():
    """The weights are read in float64, so a float32 model and its float64 copy expand to the same
    coefficients, bit for bit (a map read off a float32 forward, ``(w + b) - b``, would not)."""
    rng = np.random.default_rng(5)
    models = [sn.Sequential(Conv2D(2, 2, 3, stride=2, padding=1, rng=rng, dtype=dtype),
                            AvgPool2D(2)) for dtype in (np.float32, F64)]
    models[0][0].params["b"][...] = rng.standard_normal(2)
    for key in ("W", "b"):
        models[1][0].params[key][...] = models[0][0].params[key]
    p32, p64 = (expand(m, input_shape=(2, 4, 4)) for m in models)
    np.testing.assert_array_equal(p32.exponents, p64.exponents)
    np.testing.assert_array_equal(p32.coefs, p64.coefs)
