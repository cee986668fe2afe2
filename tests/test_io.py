"""Saving and loading models: bit-identical round trips, the errors damaged or foreign files get,
and atomic writes."""

import json
import zipfile

import numpy as np
import pytest

from slaf_np import utils
from slaf_np.nn import (
    ELU,
    AvgPool2D,
    BatchNorm,
    Dense,
    Dropout,
    Flatten,
    LeakyReLU,
    MaxPool2D,
    ReLU,
    Reshape,
    Residual,
    Sequential,
    Sigmoid,
    Tanh,
    io,
)
from slaf_np.train import predict
from slaf_np.train.optim import Adam


def _model(dtype, seed=0):
    """Most layers at once: dense, normalisation, pooling, shape layers, a nested residual block."""
    rng = np.random.default_rng(seed)
    return Sequential(
        Reshape((1, 8, 8)), BatchNorm(1, dtype=dtype), MaxPool2D(2), AvgPool2D(2), Flatten(),
        Dense(4, 6, rng=rng, dtype=dtype), LeakyReLU(0.2),
        Residual(Dense(6, 6, rng=rng, init="glorot", dtype=dtype), ELU(0.5),
                 BatchNorm(6, decay=0.9, affine=False, dtype=dtype)),
        Dropout(0.3, rng=rng), Dense(6, 3, rng=rng, dtype=dtype), Sigmoid(),
    )


def _trained(dtype):
    model = _model(dtype)
    x = np.random.default_rng(1).standard_normal((16, 64)).astype(dtype)
    for _ in range(3):  # move the running statistics away from 0 and 1
        model.forward(x, training=True)
    for p in model.params.values():
        p += np.random.default_rng(2).standard_normal(p.shape).astype(dtype) * 0.1
    return model, x


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_round_trip_is_bit_identical(tmp_path, dtype):
    model, x = _trained(dtype)
    path = io.save(model, tmp_path / "m.npz")
    loaded = io.load(path)
    assert repr(loaded) == repr(model)
    for kind in ("params", "buffers"):
        a, b = getattr(model, kind), getattr(loaded, kind)
        assert list(a) == list(b)
        for k in a:
            assert b[k].dtype == dtype
            np.testing.assert_array_equal(a[k], b[k])
    np.testing.assert_array_equal(predict(loaded, x), predict(model, x))
    assert predict(loaded, x).dtype == dtype


def test_round_trip_of_a_single_layer(tmp_path):
    layer = Dense(3, 2, rng=0, init="glorot", dtype=np.float64)
    loaded = io.load(io.save(layer, tmp_path / "d.npz"))
    assert isinstance(loaded, Dense) and loaded.init == "glorot"
    np.testing.assert_array_equal(loaded.params["W"], layer.params["W"])


def test_round_trip_with_slaf(tmp_path):
    """SLAF registers itself and follows the same protocol (config + params + buffers)."""
    SLAF = pytest.importorskip("slaf_np.nn.slaf").SLAF
    rng = np.random.default_rng(0)
    model = Sequential(Dense(3, 4, rng=rng, dtype=np.float64),
                       SLAF(4, 3, rng=rng, dtype=np.float64), Dense(4, 1, rng=rng,
                                                                    dtype=np.float64))
    x = rng.standard_normal((10, 3))
    model.forward(x, training=True)
    loaded = io.load(io.save(model, tmp_path / "s.npz"))
    np.testing.assert_array_equal(predict(loaded, x), predict(model, x))


def test_extra_round_trip_with_optimizer_state(tmp_path):
    model = Sequential(Dense(3, 2, rng=0), Tanh())
    opt = Adam(model)
    model.forward(np.ones((2, 3), np.float32))
    model.backward(np.ones((2, 2), np.float32))
    opt.step()
    extra = {"epoch": 3, "note": "hello", "curve": [0.5, 0.25], "optimizer": opt.state_dict()}
    io.save(model, tmp_path / "c.npz", extra=extra)
    loaded, got = io.load(tmp_path / "c.npz", with_extra=True)
    assert got["epoch"] == 3 and got["note"] == "hello" and got["curve"] == [0.5, 0.25]
    np.testing.assert_array_equal(got["optimizer"]["state"]["0.W"]["m"], opt.state["0.W"]["m"])
    fresh = Adam(loaded)
    fresh.load_state_dict(got["optimizer"])
    assert fresh.t == 1


def test_load_weights_fills_the_model_in_place(tmp_path):
    """What resuming needs: the same model object (an optimiser stays attached), new values."""
    model, x = _trained(np.float64)
    path = io.save(model, tmp_path / "m.npz", extra={"epoch": 2})
    other = _model(np.float64, seed=1)
    W = other.params["5.W"]
    assert io.load_weights(other, path, with_extra=True) == {"epoch": 2}
    assert other.params["5.W"] is W
    np.testing.assert_array_equal(predict(other, x), predict(model, x))
    for k, v in model.buffers.items():
        np.testing.assert_array_equal(other.buffers[k], v)


def test_load_weights_refuses_another_architecture_and_changes_nothing(tmp_path):
    path = io.save(Sequential(Dense(3, 4, rng=0), Tanh(), Dense(4, 1, rng=1)), tmp_path / "m.npz")
    model = Sequential(Dense(3, 4, rng=2), ReLU(), Dense(4, 1, rng=3))
    before = {k: v.copy() for k, v in model.params.items()}
    with pytest.raises(ValueError, match=r"load_weights: .*m\.npz holds another architecture than "
                                         r"the model \(file vs model, first difference at "
                                         r"model\.layers\[1\]\.class: 'Tanh' vs 'ReLU'\); load "
                                         r"it with slaf_np\.nn\.io\.load\(path\)"):
        io.load_weights(model, path)
    for k, v in model.params.items():
        np.testing.assert_array_equal(v, before[k])
    with pytest.raises(ValueError, match=r"first difference at model\.layers\[0\]\.config"
                                         r"\.out_features: 4 vs 5"):
        io.load_weights(Sequential(Dense(3, 5), Tanh(), Dense(5, 1)), path)


def test_save_other_weights_and_read_without_building(tmp_path):
    """A checkpoint with keep="best" writes the best weights while the model holds the current."""
    model = Sequential(Dense(3, 2, rng=0), BatchNorm(2))
    best = {"params": {k: v + 1 for k, v in model.params.items()},
            "buffers": {k: v + 2 for k, v in model.buffers.items()}}
    io.save(model, tmp_path / "m.npz", weights=best)
    saved = io.read(tmp_path / "m.npz")
    assert saved.architecture == io.describe(model)
    for kind in ("params", "buffers"):
        for k, v in best[kind].items():
            np.testing.assert_array_equal(getattr(saved, kind)[k], v)
    best["params"]["0.W"] = best["params"]["0.W"].astype(np.float64)
    with pytest.raises(ValueError, match=r"save: weights\['params'\] must have the model's keys, "
                                         r"shapes and dtypes"):
        io.save(model, tmp_path / "n.npz", weights=best)
    assert not (tmp_path / "n.npz").exists()


# -- errors ----------------------------------------------------------------------------------------
def test_truncated_file(tmp_path):
    path = io.save(_model(np.float32), tmp_path / "m.npz")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"load: .*m\.npz is not a readable slaf_np model file "
                                         r"\(truncated, or not an \.npz archive\)"):
        io.load(path)


def test_damaged_member(tmp_path):
    path = io.save(Sequential(Dense(200, 100, rng=0)), tmp_path / "m.npz")
    data = bytearray(path.read_bytes())
    data[len(data) // 2: len(data) // 2 + 64] = b"\0" * 64  # garbage in the middle of 0.W
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"load: .*m\.npz"):
        io.load(path)


def test_foreign_npz_and_npy(tmp_path):
    np.savez(tmp_path / "foreign.npz", weights=np.zeros(3), bias=np.ones(2))
    with pytest.raises(ValueError, match=r"load: .*foreign\.npz is an \.npz without a slaf_np "
                                         r"header \(arrays \['bias', 'weights'\]\)"):
        io.load(tmp_path / "foreign.npz")
    np.save(tmp_path / "array.npy", np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"load: .*array\.npy holds a single \.npy array of "
                                         r"shape \(2, 3\), not a slaf_np model"):
        io.load(tmp_path / "array.npy")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(ValueError, match=r"not a readable slaf_np model file"):
        io.load(tmp_path / "text.npz")
    with pytest.raises(FileNotFoundError):
        io.load(tmp_path / "missing.npz")


def _rewrite(path, change):
    """Load the raw archive, let ``change(header, arrays)`` edit it, write it back."""
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    header = json.loads(arrays["__slaf_np__"].tobytes())
    change(header, arrays)
    arrays["__slaf_np__"] = np.frombuffer(json.dumps(header).encode(), np.uint8)
    np.savez(path, **arrays)


def test_arrays_that_do_not_match_the_architecture(tmp_path):
    path = io.save(Sequential(Dense(3, 2, rng=0), BatchNorm(2)), tmp_path / "m.npz")

    def wrong_shape(header, arrays):
        arrays["params/0.W"] = np.zeros((4, 2), np.float32)

    _rewrite(path, wrong_shape)
    with pytest.raises(ValueError, match=r"params '0\.W' is float32\[4, 2\] in the file, the "
                                         r"architecture expects float32\[3, 2\]"):
        io.load(path)

    def wrong_dtype(header, arrays):
        arrays["params/0.W"] = np.zeros((3, 2), np.float64)

    _rewrite(path, wrong_dtype)
    with pytest.raises(ValueError, match=r"params '0\.W' is float64\[3, 2\] in the file, the "
                                         r"architecture expects float32\[3, 2\]"):
        io.load(path)

    def missing(header, arrays):
        arrays["params/0.W"] = np.zeros((3, 2), np.float32)
        arrays.pop("buffers/1.running_var")
        arrays["buffers/1.spare"] = np.zeros(2, np.float32)

    _rewrite(path, missing)
    with pytest.raises(ValueError, match=r"the buffers in the file do not match the architecture "
                                         r"\(missing \['1\.running_var'\], unexpected "
                                         r"\['1\.spare'\]\)"):
        io.load(path)


def test_header_errors(tmp_path):
    path = io.save(Sequential(Dense(3, 2, rng=0)), tmp_path / "m.npz")
    _rewrite(path, lambda h, a: h.update(version=99))
    with pytest.raises(ValueError, match=r"has format version 99; this slaf_np reads version 1"):
        io.load(path)
    _rewrite(path, lambda h, a: h.update(version=1, format="keras"))
    with pytest.raises(ValueError, match=r"has format 'keras', expected 'slaf_np\.model'"):
        io.load(path)
    _rewrite(path, lambda h, a: h.update(format="slaf_np.model",
                                         architecture={"class": "Conv9D", "config": {}}))
    with pytest.raises(ValueError, match=r"load: unknown layer class 'Conv9D'; known: \["):
        io.load(path)
    _rewrite(path, lambda h, a: h.update(architecture={"class": "Dense",
                                                       "config": {"in_features": -3}}))
    with pytest.raises(ValueError, match=r"load: cannot rebuild Dense from config "
                                         r"\{'in_features': -3\}"):
        io.load(path)


def test_unregistered_layer_cannot_be_saved(tmp_path):
    class Custom(Dense):
        pass

    with pytest.raises(ValueError, match=r"save: layer class Custom is not registered"):
        io.save(Sequential(Custom(2, 2)), tmp_path / "m.npz")
    assert not list(tmp_path.iterdir())


# -- atomic writes ---------------------------------------------------------------------------------
def test_failed_write_leaves_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = io.save(Sequential(Dense(3, 2, rng=0)), tmp_path / "m.npz")
    before = path.read_bytes()

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(utils.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        io.save(Sequential(Dense(3, 2, rng=1)), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]


def test_interrupted_serialisation_writes_nothing(tmp_path, monkeypatch):
    def broken_savez(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(io.np, "savez", broken_savez)
    with pytest.raises(KeyboardInterrupt):
        io.save(Sequential(Dense(3, 2, rng=0)), tmp_path / "m.npz")
    assert not list(tmp_path.iterdir())


def test_file_is_a_plain_npz_without_pickles(tmp_path):
    path = io.save(Sequential(Dense(3, 2, rng=0), ReLU()), tmp_path / "m.npz")
    with zipfile.ZipFile(path) as z:
        assert sorted(z.namelist()) == ["__slaf_np__.npy", "params/0.W.npy", "params/0.b.npy"]
    with np.load(path, allow_pickle=False) as f:
        header = json.loads(f["__slaf_np__"].tobytes())
    assert header["format"] == "slaf_np.model" and header["version"] == 1
    assert header["architecture"] == {
        "class": "Sequential",
        "layers": [{"class": "Dense", "config": {"in_features": 3, "out_features": 2,
                                                 "init": "he"}, "dtype": "float32"},
                   {"class": "ReLU", "config": {}}]}


# -- malformed files and targets (each used to raise a raw TypeError/AttributeError/KeyError) ------
def _set_header(path, header):
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    arrays["__slaf_np__"] = np.frombuffer(json.dumps(header).encode(), np.uint8)
    np.savez(path, **arrays)


_GOOD = {"format": "slaf_np.model", "version": 1, "extra": {},
         "architecture": {"class": "Sequential", "layers": [
             {"class": "Dense", "config": {"in_features": 3, "out_features": 2},
              "dtype": "float32"}]}}


def _with_arch(**node):
    return {**_GOOD, "architecture": {"class": "Sequential", "layers": [
        {**_GOOD["architecture"]["layers"][0], **node}]}}


@pytest.mark.parametrize("header, what", [
    ([1, 2], r"the header is a list, expected a JSON object"),
    ({k: v for k, v in _GOOD.items() if k != "architecture"}, r"the header has no 'architecture'"),
    ({**_GOOD, "architecture": {"class": "Sequential", "layers": 5}},
     r"architecture\.layers is 5, expected a list of layer nodes"),
    ({**_GOOD, "architecture": ["Dense"]},
     r"architecture is \['Dense'\], expected a dict with a 'class' name"),
    (_with_arch(config=[3, 2]), r"architecture\.layers\[0\]\.config is \[3, 2\], expected a dict"),
    (_with_arch(dtype="float99"), r"architecture\.layers\[0\]\.dtype is 'float99', expected a "
                                  r"NumPy dtype name"),
    ({**_GOOD, "extra": {"opt": {"__array__": 7}}},
     r"extra\['opt'\] refers to array 7, which the file does not hold"),
    ({**_GOOD, "extra": [1]}, r"extra is \[1\], expected a dict"),
])
@pytest.mark.parametrize("reader", ["load", "read", "load_weights"])
def test_malformed_headers_are_named_with_the_file(tmp_path, header, what, reader):
    model = Sequential(Dense(3, 2, rng=0))
    path = io.save(model, tmp_path / "m.npz")
    _set_header(path, header)
    with pytest.raises(ValueError, match=r"m\.npz.*" + what):
        if reader == "load_weights":
            io.load_weights(model, path)
        else:
            getattr(io, reader)(path)


def test_unwritable_target_is_reported_under_its_own_name(tmp_path, monkeypatch):
    # running as root, a read-only folder is still writable: simulate the refusal of mkstemp
    def refuse(prefix, suffix, dir):
        raise PermissionError(13, "Permission denied", f"{dir}/{prefix}x1y2.tmp")

    monkeypatch.setattr(utils.tempfile, "mkstemp", refuse)
    with pytest.raises(PermissionError, match=r"save: cannot write .*m\.npz: Permission denied") \
            as info:
        io.save(Sequential(Dense(3, 2, rng=0)), tmp_path / "m.npz")
    assert ".tmp" not in str(info.value) and info.value.filename == str(tmp_path / "m.npz")


def test_save_names_the_extra_key_it_cannot_serialise(tmp_path):
    model = Sequential(Dense(3, 2, rng=0))
    with pytest.raises(TypeError, match=r"save: extra\['run'\]\['tags'\]\[1\] is a set"):
        io.save(model, tmp_path / "m.npz", extra={"run": {"tags": [1, {2}]}})
    with pytest.raises(TypeError, match=r"save: extra\['fn'\] is a function"):
        io.save(model, tmp_path / "m.npz", extra={"fn": len and (lambda: 0)})
    assert not list(tmp_path.iterdir())
