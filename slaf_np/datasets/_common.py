"""The names every part of :mod:`slaf_np.datasets` shares: the error it raises and the pair of
arrays it returns."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class DataError(RuntimeError):
    """A data set cannot be obtained, or a file holding one is missing, truncated or corrupt."""


class XY(NamedTuple):
    """Inputs ``x`` and targets ``y`` of one split."""

    x: np.ndarray
    y: np.ndarray
