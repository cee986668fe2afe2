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
