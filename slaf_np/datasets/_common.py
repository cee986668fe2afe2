"""The names every part of :mod:`slaf_np.datasets` shares: the error it raises and the pair of
arrays it returns."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class DataError(RuntimeError):
    """A data set cannot be obtained, or a file holding one is missing, truncated or corrupt."""


class DataUnavailable(DataError):
    """The data cannot be had here: not cached (and no download asked for), the package client
    (pip, apt-get, npm) missing, or its download failing or timing out.

    A subclass of :class:`DataError`, so ``except DataError`` still catches it. The distinction
    is for callers that may skip when data is out of reach (the tests do) but must not hide a
    broken reader: a package that arrives but does not parse, or a cache whose checksum is
    wrong, raises a plain :class:`DataError`.
    """


class XY(NamedTuple):
    """Inputs ``x`` and targets ``y`` of one split."""

    x: np.ndarray
    y: np.ndarray
