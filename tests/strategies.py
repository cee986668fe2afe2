"""Hypothesis strategies shared by the test modules (one place, as STYLE.md asks)."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

seeds = st.integers(min_value=0, max_value=2**31 - 1)
small_batch = st.integers(min_value=2, max_value=6)
small_width = st.integers(min_value=1, max_value=5)


@st.composite
def float64_arrays(draw, shape, scale: float = 1.0):
    """A standard-normal float64 array of ``shape`` times ``scale``, from a drawn seed."""
    rng = np.random.default_rng(draw(seeds))
    return rng.standard_normal(shape) * scale


@st.composite
def dense_shapes(draw):
    """(N, D) with N in [2, 6] and D in [1, 5]."""
    return draw(small_batch), draw(small_width)


# ---------------------------------------------------------------- bases (tests/test_bases.py)

degrees = st.integers(min_value=1, max_value=12)


@st.composite
def uniform_arrays(draw, shape, low: float, high: float, dtype=np.float64):
    """Uniform(low, high) array of ``shape`` from a drawn seed. With three or more entries the
    first are ``low``, ``high`` and 0, so the ends of the range and the origin are always hit."""
    rng = np.random.default_rng(draw(seeds))
    z = rng.uniform(low, high, size=shape)
    flat = z.reshape(-1)
    if flat.size >= 3:
        flat[:3] = low, high, 0.0
    return z.astype(dtype)


IDX_DTYPES = ("uint8", "int8", "int16", "int32", "float32", "float64")


@st.composite
def idx_arrays(draw, max_dims: int = 3, max_side: int = 5):
    """A small array of any IDX dtype with 1..max_dims dimensions (sides 0..max_side)."""
    dtype = np.dtype(draw(st.sampled_from(IDX_DTYPES)))
    shape = tuple(draw(st.lists(st.integers(0, max_side), min_size=1, max_size=max_dims)))
    rng = np.random.default_rng(draw(seeds))
    if dtype.kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)


# -- features and linear models (tests/test_features.py, tests/test_linear.py) -------------------
@st.composite
def monomial_dims(draw, max_d: int = 4, max_K: int = 4):
    """(d, K) with d in [1, max_d] and K in [0, max_K]."""
    return draw(st.integers(1, max_d)), draw(st.integers(0, max_K))


@st.composite
def regression_problems(draw, min_n: int = 3, max_n: int = 30, min_d: int = 1, max_d: int = 30):
    """(X, y): X (n, d) normal with shifted column means; y = X w* + 3 + noise with w* sparse."""
    rng = np.random.default_rng(draw(seeds))
    n = draw(st.integers(min_n, max_n))
    d = draw(st.integers(min_d, max_d))
    X = rng.standard_normal((n, d)) + rng.uniform(-2, 2, size=d)
    w = rng.standard_normal(d) * (rng.random(d) < 0.3)
    y = X @ w + 3.0 + 0.1 * rng.standard_normal(n)
    return X, y


# -- polynomial algebra and expand (tests/test_polynomial.py) -----------------------------------
@st.composite
def int_polynomials(draw, count: int = 1, max_d: int = 3, max_degree: int = 4,
                    max_terms: int = 6, d: int | None = None):
    """A tuple of ``count`` Polynomials sharing d, with integer coefficients in [-5, 5] (so sums
    and products are exact in float64) and total degree <= max_degree; the zero one included."""
    from slaf_np.polynomial import Polynomial

    d = draw(st.integers(1, max_d)) if d is None else d
    out = []
    for _ in range(count):
        rng = np.random.default_rng(draw(seeds))
        m = draw(st.integers(0, max_terms))
        deg = rng.integers(0, max_degree + 1, size=m)
        E = np.array([rng.multinomial(k, np.ones(d) / d) for k in deg], dtype=np.int64)
        out.append(Polynomial(E.reshape(m, d), rng.integers(-5, 6, size=m), n_vars=d))
    return tuple(out)


@st.composite
def slnn_configs(draw, max_d: int = 3, max_slaf: int = 3, max_degree: int = 3):
    """A small SLNN description for :func:`tests.test_polynomial.build_slnn`: inputs, widths,
    SLAF degrees, basis, shared / per feature, normalised or not, a polynomial scaling layer
    before each SLAF (``none``, MaxScale ``max`` or Affine ``affine``), gate, an
    evaluation-mode BatchNorm and a Residual block (each optional)."""
    n = draw(st.integers(1, max_slaf))
    return {
        "seed": draw(seeds),
        "d": draw(st.integers(1, max_d)),
        "widths": draw(st.lists(st.integers(1, 3), min_size=n, max_size=n)),
        "degrees": draw(st.lists(st.integers(1, max_degree), min_size=n, max_size=n)),
        "basis": draw(st.sampled_from(["power", "chebyshev", "legendre", "hermite"])),
        "shared": draw(st.booleans()),
        "normalize": draw(st.booleans()),
        "scale": draw(st.sampled_from(["none", "none", "max", "affine"])),
        "gate": draw(st.booleans()),
        "batchnorm": draw(st.booleans()),
        "residual": draw(st.booleans()),
        "outputs": draw(st.integers(1, 2)),
    }


# -- SLAF layer, kernels, recalibration (tests/test_slaf.py, test_kernels.py, test_calibration.py)
SLAF_BASES = ("power", "chebyshev", "legendre", "hermite", "fourier")
POLY_BASES = ("power", "chebyshev", "legendre", "hermite")
SCALINGS = (None, "max", "sample_max", "affine", "batchnorm")
"""What the training routines put before a SLAF: nothing, MaxScale (MS), SampleMaxScale (EMFN),
Affine (GC on MNIST) or a BatchNorm (this project's earlier GC); see :func:`scale_layer`."""


def scale_layer(name, num_features: int, seed: int = 0):
    """A float64 layer of :data:`SCALINGS` (None for ``None``) with parameters and statistics
    moved away from their initial values, so that a test sees every term of its formula."""
    from slaf_np.nn import Affine, BatchNorm, MaxScale, SampleMaxScale

    rng = np.random.default_rng(seed)
    D = num_features
    if name is None:
        return None
    if name == "max":
        layer = MaxScale(D, dtype=np.float64)
        layer.params["m"][...] = rng.uniform(1.5, 2.5)
        layer.buffers["running_max"][...] = rng.uniform(0.5, 3.0, D)
    elif name == "sample_max":
        layer = SampleMaxScale(dtype=np.float64)
        layer.params["m"][...] = rng.uniform(1.5, 2.5)
        layer.params["n"][...] = rng.uniform(0.5, 1.5)
    elif name in ("affine", "batchnorm"):
        layer = (Affine(D, eps=1e-3, dtype=np.float64) if name == "affine"
                 else BatchNorm(D, dtype=np.float64))
        layer.params["gamma"][...] = rng.uniform(0.5, 1.5, D) * rng.choice([-1, 1], D)
        layer.params["beta"][...] = 0.5 * rng.standard_normal(D)
        if name == "batchnorm":
            layer.buffers["running_mean"][...] = 0.3 * rng.standard_normal(D)
            layer.buffers["running_var"][...] = rng.uniform(0.5, 2.0, D)
    else:
        raise ValueError(f"unknown scaling {name!r}; known: {SCALINGS}")
    return layer


@st.composite
def slaf_configs(draw, bases=SLAF_BASES, max_degree: int = 5):
    """Keyword arguments (all but ``num_features``) of a float64 SLAF, from the option matrix."""
    return {"degree": draw(st.integers(1, max_degree)), "basis": draw(st.sampled_from(bases)),
            "shared": draw(st.booleans()), "normalize": draw(st.booleans()),
            "init": draw(st.sampled_from(["paper", "paper", "normal"])),
            "gate": draw(st.booleans()), "rng": draw(seeds), "dtype": np.float64}


@st.composite
def distinct_abs_inputs(draw, max_n: int = 5, max_d: int = 3, max_side: int = 2,
                        gap: float = 0.05):
    """A float64 input, dense (N, D) or conv (N, C, H, W), N >= 2, whose absolute values are
    pairwise at least ``gap`` apart (random signs), so the position of a max of ``|z|`` never
    changes under a finite-difference step."""
    rng = np.random.default_rng(draw(seeds))
    n, d = draw(st.integers(2, max_n)), draw(st.integers(1, max_d))
    shape = (n, d) if draw(st.booleans()) else (n, d, draw(st.integers(1, max_side)),
                                                   draw(st.integers(1, max_side)))
    size = int(np.prod(shape))
    mag = 0.1 + gap * rng.permutation(size) + rng.uniform(0, gap / 4, size)
    return (mag * rng.choice([-1.0, 1.0], size)).reshape(shape) * draw(st.floats(0.3, 3.0))


@st.composite
def slaf_inputs(draw, max_n: int = 6, max_d: int = 3, max_side: int = 2):
    """A float64 SLAF input, dense (N, D) or conv (N, C, H, W), N >= 3, values N(shift, scale^2)
    with a drawn shift in [-1, 1] and scale in [0.5, 2]."""
    rng = np.random.default_rng(draw(seeds))
    n, d = draw(st.integers(3, max_n)), draw(st.integers(1, max_d))
    shape = (n, d) if draw(st.booleans()) else (n, d, draw(st.integers(1, max_side)),
                                                   draw(st.integers(1, max_side)))
    shift = draw(st.floats(-1.0, 1.0))
    scale = draw(st.floats(0.5, 2.0))
    return shift + scale * rng.standard_normal(shape)


@st.composite
def kernel_problems(draw, dtype=np.float64):
    """(x (N, D, S), basis, a (D, k), b (D,)) for the SLAF kernels; S = 1 half of the time."""
    rng = np.random.default_rng(draw(seeds))
    n, d = draw(st.integers(2, 40)), draw(st.integers(1, 70))
    s = draw(st.sampled_from((1, 1, 3, 9)))
    k = draw(st.integers(1, 12))                 # up to three chunks of 4 terms
    basis = draw(st.sampled_from(("power", "chebyshev", "legendre", "hermite", "fourier")))
    x = (0.5 * rng.standard_normal((n, d, s)) + draw(st.floats(-0.5, 0.5))).astype(dtype)
    return x, basis, rng.standard_normal((d, k)), rng.standard_normal(d)


# -- fitting activations (tests/test_approx.py) --------------------------------------------------
@st.composite
def fit_intervals(draw, max_abs: float = 6.0):
    """(lo, hi) with -max_abs <= lo < hi <= max_abs and width >= 0.1 (off-centre ones included)."""
    lo = draw(st.floats(-max_abs, max_abs - 0.1))
    width = draw(st.floats(0.1, max_abs - lo))
    return lo, lo + width


@st.composite
def polynomial_targets(draw, max_degree: int = 8):
    """(coefficients (n + 1,) ascending in x, k) for a polynomial of degree n <= k <= max_degree,
    coefficients N(0, 1) scaled by 1 / (j + 1)! so that values stay moderate on |x| <= 6."""
    rng = np.random.default_rng(draw(seeds))
    k = draw(st.integers(1, max_degree))
    n = draw(st.integers(0, k))
    scale = 1.0 / np.cumprod(np.arange(1, n + 2, dtype=float))
    return rng.standard_normal(n + 1) * scale, k


# -- layers, losses, optimisers, training (tests/test_layers.py, test_losses.py, ...) ------------
@st.composite
def image_shapes(draw, size: int = 2, max_n: int = 3, max_c: int = 2, max_blocks: int = 2):
    """(N, C, H, W) with H and W multiples of ``size`` (1..max_blocks windows per side)."""
    return (draw(st.integers(1, max_n)), draw(st.integers(1, max_c)),
            size * draw(st.integers(1, max_blocks)), size * draw(st.integers(1, max_blocks)))


@st.composite
def distinct_arrays(draw, shape, gap: float = 0.05):
    """A float64 array of ``shape`` whose entries are pairwise at least ``gap`` apart (a shuffled
    grid plus jitter below gap / 4), so a max-pooling window never has a tie."""
    rng = np.random.default_rng(draw(seeds))
    n = int(np.prod(shape))
    grid = (np.arange(n) - n / 2) * gap
    return (rng.permutation(grid) + rng.uniform(-gap / 4, gap / 4, n)).reshape(shape)


@st.composite
def away_from_zero(draw, shape, margin: float = 0.05):
    """Standard-normal float64 values pushed at least ``margin`` away from 0 (the kink of ReLU,
    LeakyReLU and ELU), so a central difference never straddles it."""
    rng = np.random.default_rng(draw(seeds))
    z = rng.standard_normal(shape)
    return z + margin * np.where(z >= 0, 1.0, -1.0)


@st.composite
def classification_batches(draw, max_n: int = 6, max_k: int = 5, scale: float = 3.0):
    """(logits (N, K) float64, integer labels (N,)) with N in [1, max_n], K in [2, max_k]."""
    rng = np.random.default_rng(draw(seeds))
    n, k = draw(st.integers(1, max_n)), draw(st.integers(2, max_k))
    return rng.standard_normal((n, k)) * scale, rng.integers(0, k, n)


# -- convolution (tests/test_conv.py) -----------------------------------------------------------
@st.composite
def conv_geometries(draw, max_n: int = 3, max_c: int = 3, max_o: int = 3, max_k: int = 3,
                    max_side: int = 7):
    """Conv2D arguments and an input shape that fits: ``(kwargs, (N, C, H, W))`` with kernel sides
    1..max_k (odd and even, 1x1 included), stride 1 or 2, padding 0..2 or "same" (stride 1, odd
    sides) or "valid", and odd or even image sides down to the kernel's padded size."""
    kh, kw = draw(st.integers(1, max_k)), draw(st.integers(1, max_k))
    stride = draw(st.integers(1, 2))
    same_ok = stride == 1 and kh % 2 == 1 and kw % 2 == 1
    padding = draw(st.sampled_from((0, 1, 2, "valid", "same") if same_ok else (0, 1, 2, "valid")))
    if padding == "same":
        ph, pw = (kh - 1) // 2, (kw - 1) // 2
    else:
        ph = pw = 0 if padding == "valid" else padding
    h = draw(st.integers(max(1, kh - 2 * ph), max_side))
    w = draw(st.integers(max(1, kw - 2 * pw), max_side))
    c, o = draw(st.integers(1, max_c)), draw(st.integers(1, max_o))
    kwargs = {"in_channels": c, "out_channels": o, "kernel_size": (kh, kw), "stride": stride,
              "padding": padding, "bias": draw(st.booleans())}
    return kwargs, (draw(st.integers(1, max_n)), c, h, w)


# -- expand on images (tests/test_expand_conv.py) -----------------------------------------------
@st.composite
def avgpool_geometries(draw, max_c: int = 2, max_out: int = 3, max_side: int = 6):
    """AvgPool2D arguments and a per-sample image shape they fit: ``(kwargs, (C, H, W))`` with
    size 1..3, stride 1..3 (overlapping, touching or spaced windows), padding an int below the
    size (the image then drawn so that the windows tile it), "valid" or "same"."""
    size, stride = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    padding = draw(st.sampled_from([*range(size), "valid", "same"]))
    sides = []
    for _ in range(2):
        if isinstance(padding, int):     # (side + 2 p - size) = (out - 1) stride, side >= 1
            low = max(1, 1 - (size - 2 * padding - 1) // stride)
            out = draw(st.integers(low, max(low, max_out)))
            sides.append((out - 1) * stride + size - 2 * padding)
        else:
            sides.append(draw(st.integers(size if padding == "valid" else 1, max_side)))
    kwargs = {"size": size, "stride": stride, "padding": padding}
    return kwargs, (draw(st.integers(1, max_c)), *sides)
