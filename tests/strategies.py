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
    """(X, y): X (n, d) standard normal with shifted column means, y = X w* + 3 + noise, w* sparse."""
    rng = np.random.default_rng(draw(seeds))
    n = draw(st.integers(min_n, max_n))
    d = draw(st.integers(min_d, max_d))
    X = rng.standard_normal((n, d)) + rng.uniform(-2, 2, size=d)
    w = rng.standard_normal(d) * (rng.random(d) < 0.3)
    y = X @ w + 3.0 + 0.1 * rng.standard_normal(n)
    return X, y
