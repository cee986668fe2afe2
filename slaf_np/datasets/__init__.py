"""Data sets: the real ones of the paper (MNIST, Fashion-MNIST, CIFAR-10, Boston Housing) and
synthetic ones (two spirals, sparse polynomials, a smooth regression).

One concept per module; every public name is re-exported here, so ``from slaf_np.datasets import
load_mnist`` (and the rest of ``__all__``) is the way to use them:

* :mod:`~slaf_np.datasets.formats`: the file formats (IDX, PNG batches, JSON labels, Boston CSV).
* :mod:`~slaf_np.datasets.layouts`: a directory of a data set's standard files -> arrays.
* :mod:`~slaf_np.datasets.fetching`: :func:`fetch` with the package clients, checksums and
  reference statistics, the data directory and its cache.
* :mod:`~slaf_np.datasets.loaders`: ``load_mnist`` ... -> train / validation / test splits.
* :mod:`~slaf_np.datasets.synthetic`: two spirals, sparse polynomials, a smooth regression, and
  a shuffled train/validation split.

Importing this package imports neither numba nor matplotlib (the PNG reader loads matplotlib
when it is called).
"""

from __future__ import annotations

from ._common import XY, DataError, DataUnavailable
from .fetching import CLIENT_TIMEOUT, DATASETS, cache_path, fetch, resolve_data_dir, statistics
from .formats import (
    parse_idx,
    read_boston_csv,
    read_idx,
    read_labels_json,
    read_png_batch,
    write_idx,
    write_labels_json,
    write_png_batch,
)
from .layouts import BOSTON_CSV
from .loaders import BOSTON_FIRST_TRAIN_TARGETS as BOSTON_FIRST_TRAIN_TARGETS
from .loaders import (
    MNIST_VAL_SIZE,
    Splits,
    boston_split,
    load_boston,
    load_cifar10,
    load_fashion_mnist,
    load_mnist,
    to_nchw,
)
from .synthetic import (
    PolynomialData,
    smooth_regression,
    sparse_polynomial,
    train_val_split,
    two_spirals,
)

__all__ = ["DATASETS", "DataError", "DataUnavailable", "XY", "Splits", "PolynomialData", "fetch",
           "resolve_data_dir",
           "cache_path", "statistics", "load_mnist", "load_fashion_mnist", "load_cifar10",
           "load_boston", "to_nchw", "read_idx", "parse_idx", "write_idx", "read_png_batch",
           "write_png_batch", "read_labels_json", "write_labels_json", "read_boston_csv",
           "boston_split", "two_spirals", "train_val_split", "sparse_polynomial",
           "smooth_regression", "BOSTON_CSV", "MNIST_VAL_SIZE", "CLIENT_TIMEOUT"]
