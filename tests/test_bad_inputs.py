"""A table of bad inputs across the public surface, one case each (issue 10's fuzz, kept).

Each case is a call a user might make with one bad argument, the exception it must raise, and
fragments its message must contain: the argument or layer it names and the value it received.
For a call on a model, the model's parameters and buffers must be bit for bit what they were
(a call that fails changes nothing). ``CASES`` is importable: a script can print the table.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import slaf_np as sn
from slaf_np import approx, bases, gradcheck
from slaf_np.cli import main as cli_main
from slaf_np.datasets import (
    DataError,
    boston_split,
    fetch,
    load_mnist,
    smooth_regression,
    sparse_polynomial,
    to_nchw,
    train_val_split,
    two_spirals,
)
from slaf_np.nn.base import NonFiniteError
from slaf_np.nn.io import load_weights
from slaf_np.train.optim import SGD, Adam, StepSchedule


class CLIExit(Exception):
    """The command ended with a non-zero status; the message is ``exit N: <its error line>``
    and, below, all it printed."""


@dataclass(frozen=True)
class Case:
    id: str
    call: str                                   # the public call, as a user writes it
    bad: str                                    # the one bad thing about it
    run: Callable[[SimpleNamespace], object]    # gets .model (or None) and .tmp (a folder)
    error: type[BaseException]
    fragments: tuple[str, ...]                  # each must appear in the message
    model: Callable[[], sn.Module] | None = None  # stateful: built fresh, must stay unchanged
    known: str = ""                             # an open problem: the case is expected to fail


# -- tiny models and data ----------------------------------------------------------------------
def _classifier() -> sn.Module:
    rng = np.random.default_rng(0)
    return sn.Sequential(sn.Dense(2, 4, rng=rng), sn.BatchNorm(4), sn.SLAF(4, 2, rng=rng),
                         sn.Dense(4, 3, rng=rng))


def _regressor() -> sn.Module:
    rng = np.random.default_rng(1)
    return sn.Sequential(sn.Dense(2, 4, rng=rng), sn.SLAF(4, 2, rng=rng), sn.Dense(4, 1, rng=rng))


def _cnn() -> sn.Module:
    rng = np.random.default_rng(2)
    return sn.Sequential(sn.MaxPool2D(2), sn.Flatten(), sn.Dense(4, 1, rng=rng))


_rng = np.random.default_rng(0)
X = _rng.standard_normal((20, 2)).astype(np.float32)
Y_CLASS = _rng.integers(0, 3, 20)
Y_REG = _rng.standard_normal((20, 1)).astype(np.float32)


def _at(a: np.ndarray, index, value) -> np.ndarray:
    a = a.copy()
    a[index] = value
    return a


def _fit(c, X=X, y=None, loss=None, optimizer=None, **kw):
    """One epoch on 20 rows; classification unless the model has one output."""
    reg = c.model.params[next(reversed(c.model.params))].shape[-1] == 1
    y = (Y_REG if reg else Y_CLASS) if y is None else y
    loss = ("mse" if reg else "softmax_cross_entropy") if loss is None else loss
    opt = Adam(c.model) if optimizer is None else optimizer
    args = dict(epochs=1, batch_size=8, rng=0, verbose=False) | kw
    return sn.fit(c.model, X, y, loss, opt, **args)


def _forward(layer, x, training=False):
    return layer.forward(x, training=training)


def _backward_after_forward(layer, x, dy):
    layer.forward(x, training=True)
    return layer.backward(dy)


def _nan_step(model):
    opt = Adam(model, clip_norm=1.0)
    for g in model.grads.values():
        g[...] = np.nan
    return opt.step()


def _set_buffer(model, key, value):
    model.buffers[key][...] = value
    return model


def _file(path: Path) -> Path:
    path.write_text("")
    return path


def _npy(path: Path) -> Path:
    np.save(path, X)
    return path


def _truncated(tmp: Path) -> Path:
    path = sn.save(_regressor(), tmp / "m.npz")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _not_a_zip(tmp: Path) -> Path:
    path = tmp / "m.npz"
    path.write_text("hello")
    return path


def _tampered(tmp: Path, change: Callable[[dict], object] | None = None,
              drop: str | None = None) -> Path:
    """A saved model whose JSON header is replaced by ``change(header)``, or whose array
    ``drop`` is removed."""
    import json

    from slaf_np.nn.io import HEADER

    path = sn.save(_regressor(), tmp / "m.npz")
    with np.load(path) as f:
        data = {k: f[k] for k in f.files}
    if change is not None:
        header = change(json.loads(data[HEADER].tobytes().decode()))
        data[HEADER] = np.frombuffer(json.dumps(header).encode(), np.uint8)
    if drop is not None:
        del data[drop]
    np.savez(path, **data)
    return path


def _cli(*argv: str) -> int:
    """Run ``slaf-np argv``; a non-zero exit becomes :class:`CLIExit` with what it printed."""
    err, out = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            code = cli_main(list(argv))
    except SystemExit as e:
        code = e.code
    if code:
        text = err.getvalue().strip() or out.getvalue().strip()
        lines = text.splitlines() or [""]
        said = next((ln for ln in lines if ln.startswith("slaf-np")), lines[0])  # not the usage
        raise CLIExit(f"exit {code}: {said}\n{text}")
    return code


C, R, CNN = _classifier, _regressor, _cnn
F32_NAN = _at(X, (3, 1), np.nan)

CASES = [
    # -- layer constructors ----------------------------------------------------------------------
    Case("dense-in-zero", "sn.Dense(in_features, 3)", "in_features=0",
         lambda c: sn.Dense(0, 3), ValueError, ("in_features", "0")),
    Case("dense-out-negative", "sn.Dense(2, out_features)", "out_features=-1",
         lambda c: sn.Dense(2, -1), ValueError, ("out_features", "-1")),
    Case("dense-in-float", "sn.Dense(in_features, 3)", "in_features=2.5",
         lambda c: sn.Dense(2.5, 3), ValueError, ("in_features", "2.5")),
    Case("dense-init", "sn.Dense(2, 3, init=...)", "init='xavier'",
         lambda c: sn.Dense(2, 3, init="xavier"), ValueError, ("init", "'xavier'")),
    Case("dense-dtype", "sn.Dense(2, 3, dtype=...)", "dtype=np.int32",
         lambda c: sn.Dense(2, 3, dtype=np.int32), TypeError, ("dtype", "int32")),
    Case("dense-rng", "sn.Dense(2, 3, rng=...)", "rng='seed'",
         lambda c: sn.Dense(2, 3, rng="seed"), TypeError, ("rng", "'seed'")),
    Case("slaf-degree-zero", "sn.SLAF(4, degree)", "degree=0",
         lambda c: sn.SLAF(4, 0), ValueError, ("degree", "0")),
    Case("slaf-features-zero", "sn.SLAF(num_features, 2)", "num_features=0",
         lambda c: sn.SLAF(0, 2), ValueError, ("num_features", "0")),
    Case("slaf-basis", "sn.SLAF(4, 2, basis=...)", "basis='bogus'",
         lambda c: sn.SLAF(4, 2, basis="bogus"), ValueError, ("basis", "'bogus'")),
    Case("slaf-init", "sn.SLAF(4, 2, init=...)", "init='nope'",
         lambda c: sn.SLAF(4, 2, init="nope"), ValueError, ("init", "'nope'")),
    Case("slaf-shared-str", "sn.SLAF(4, 2, shared=...)", "shared='yes'",
         lambda c: sn.SLAF(4, 2, shared="yes"), TypeError, ("shared", "'yes'")),
    Case("slaf-normalize-str", "sn.SLAF(4, 2, normalize=...)", "normalize='no'",
         lambda c: sn.SLAF(4, 2, normalize="no"), TypeError, ("normalize", "'no'")),
    Case("slaf-gate-int", "sn.SLAF(4, 2, gate=...)", "gate=1",
         lambda c: sn.SLAF(4, 2, gate=1), TypeError, ("gate", "1")),
    Case("slaf-decay", "sn.SLAF(4, 2, decay=...)", "decay=1.5",
         lambda c: sn.SLAF(4, 2, decay=1.5), ValueError, ("decay", "1.5")),
    Case("slaf-eps", "sn.SLAF(4, 2, eps=...)", "eps=0",
         lambda c: sn.SLAF(4, 2, eps=0), ValueError, ("eps", "0")),
    Case("batchnorm-features", "sn.BatchNorm(num_features)", "num_features=0",
         lambda c: sn.BatchNorm(0), ValueError, ("num_features", "0")),
    Case("batchnorm-decay", "sn.BatchNorm(4, decay=...)", "decay=-0.1",
         lambda c: sn.BatchNorm(4, decay=-0.1), ValueError, ("decay", "-0.1")),
    Case("batchnorm-eps", "sn.BatchNorm(4, eps=...)", "eps=-1",
         lambda c: sn.BatchNorm(4, eps=-1), ValueError, ("eps", "-1")),
    Case("dropout-one", "sn.Dropout(p)", "p=1.0",
         lambda c: sn.Dropout(1.0), ValueError, ("p", "1.0")),
    Case("dropout-negative", "sn.Dropout(p)", "p=-0.1",
         lambda c: sn.Dropout(-0.1), ValueError, ("p", "-0.1")),
    Case("dropout-string", "sn.Dropout(p)", "p='half'",
         lambda c: sn.Dropout("half"), TypeError, ("p", "'half'")),
    Case("maxpool-size", "sn.MaxPool2D(size)", "size=0",
         lambda c: sn.MaxPool2D(0), ValueError, ("size", "0")),
    Case("avgpool-size", "sn.AvgPool2D(size)", "size=1.5",
         lambda c: sn.AvgPool2D(1.5), ValueError, ("size", "1.5")),
    Case("maxscale-features", "sn.MaxScale(num_features)", "num_features=0",
         lambda c: sn.MaxScale(0), ValueError, ("num_features", "0")),
    Case("maxscale-decay", "sn.MaxScale(4, decay=...)", "decay=2",
         lambda c: sn.MaxScale(4, decay=2), ValueError, ("decay", "2")),
    Case("affine-features", "sn.Affine(num_features)", "num_features=-3",
         lambda c: sn.Affine(-3), ValueError, ("num_features", "-3")),
    Case("affine-eps", "sn.Affine(4, eps=...)", "eps=-1",
         lambda c: sn.Affine(4, eps=-1), ValueError, ("eps", "-1")),
    Case("sequential-string", "sn.Sequential(*layers)", "a layer given as 'relu'",
         lambda c: sn.Sequential(sn.Dense(2, 3), "relu"), TypeError, ("Sequential", "'relu'")),
    Case("sequential-class", "sn.Sequential(*layers)", "the class sn.ReLU, not an instance",
         lambda c: sn.Sequential(sn.ReLU), TypeError, ("Sequential", "ReLU")),
    Case("reshape-string", "sn.Reshape(shape)", "shape='ab'",
         lambda c: sn.Reshape("ab"), TypeError, ("Reshape", "'ab'")),
    Case("reshape-negative", "sn.Reshape(shape)", "shape=(-2,)",
         lambda c: sn.Reshape((-2,)), ValueError, ("Reshape", "(-2,)")),
    Case("leakyrelu-alpha", "sn.LeakyReLU(alpha)", "alpha='x'",
         lambda c: sn.LeakyReLU("x"), TypeError, ("alpha", "'x'")),
    # -- forward / backward ----------------------------------------------------------------------
    Case("forward-list", "layer.forward(x)", "x a list",
         lambda c: _forward(sn.Dense(2, 3), [[1.0, 2.0]]), TypeError, ("Dense", "list")),
    Case("forward-int", "layer.forward(x)", "x of dtype int64",
         lambda c: _forward(sn.Dense(2, 3), np.ones((4, 2), np.int64)), TypeError,
         ("Dense", "int64")),
    Case("forward-float64", "layer.forward(x)", "float64 x on a float32 layer",
         lambda c: _forward(sn.Dense(2, 3), X.astype(np.float64)), TypeError,
         ("Dense", "float64", "astype")),
    Case("forward-width", "layer.forward(x)", "x of shape (20, 3) for Dense(2, 3)",
         lambda c: _forward(sn.Dense(2, 3), np.ones((20, 3), np.float32)), ValueError,
         ("Dense", "(20, 3)")),
    Case("forward-ndim", "layer.forward(x)", "x of shape (20,) for Dense",
         lambda c: _forward(sn.Dense(2, 3), np.ones(20, np.float32)), ValueError,
         ("Dense", "(20,)")),
    Case("forward-nan", "layer.forward(x)", "NaN in x",
         lambda c: _forward(sn.Dense(2, 3), F32_NAN), NonFiniteError, ("Dense", "nan", "(3, 1)")),
    Case("slaf-forward-width", "SLAF.forward(x)", "x of shape (20, 2) for SLAF(4, 2)",
         lambda c: _forward(sn.SLAF(4, 2), X), ValueError, ("SLAF", "(20, 2)")),
    Case("slaf-forward-inf", "SLAF.forward(x)", "inf in x",
         lambda c: _forward(sn.SLAF(2, 2), _at(X, (0, 0), np.inf)), NonFiniteError,
         ("SLAF", "inf")),
    Case("batchnorm-forward-width", "BatchNorm.forward(x)", "x of shape (20, 2) for BatchNorm(4)",
         lambda c: _forward(sn.BatchNorm(4), X), ValueError, ("BatchNorm", "(20, 2)")),
    Case("maxpool-forward-ndim", "MaxPool2D.forward(x)", "a flat (20, 2) input",
         lambda c: _forward(sn.MaxPool2D(2), X), ValueError, ("MaxPool2D", "(20, 2)")),
    Case("maxpool-forward-odd", "MaxPool2D.forward(x)", "a 3x3 image for size 2",
         lambda c: _forward(sn.MaxPool2D(2), np.ones((2, 1, 3, 3), np.float32)), ValueError,
         ("MaxPool2D", "3")),
    Case("backward-before-forward", "layer.backward(dy)", "no forward before",
         lambda c: sn.Dense(2, 3).backward(np.ones((20, 3), np.float32)), RuntimeError,
         ("Dense", "before forward")),
    Case("backward-shape", "layer.backward(dy)", "dy of shape (20, 4) after output (20, 3)",
         lambda c: _backward_after_forward(sn.Dense(2, 3), X, np.ones((20, 4), np.float32)),
         ValueError, ("Dense", "(20, 3)", "(20, 4)")),
    Case("slaf-backward-shape", "SLAF.backward(dy)", "dy of shape (20, 3) after output (20, 2)",
         lambda c: _backward_after_forward(sn.SLAF(2, 2), X, np.ones((20, 3), np.float32)),
         ValueError, ("SLAF", "(20, 3)")),
    Case("model-forward-width", "model.forward(x)", "x of shape (20, 3) for a 2-input model",
         lambda c: c.model.forward(np.ones((20, 3), np.float32), training=True), ValueError,
         ("Dense", "(20, 3)"), C),
    Case("residual-shape", "sn.Residual(*layers).forward(x)", "a branch that changes the width",
         lambda c: sn.Residual(sn.Dense(2, 3)).forward(X), ValueError,
         ("Residual", "(20, 2)", "(20, 3)")),
    Case("model-call-strings", "model(x)", "x an array of strings",
         lambda c: c.model(np.array([["a", "b"]])), TypeError, ("<U1",), C),
    # -- fit ---------------------------------------------------------------------------------------
    Case("fit-length", "sn.fit(model, X, y, ...)", "y one row short",
         lambda c: _fit(c, y=Y_CLASS[:-1]), ValueError, ("X has 20 samples", "(19,)"), C),
    Case("fit-x-nan", "sn.fit(model, X, y, ...)", "NaN in X",
         lambda c: _fit(c, X=F32_NAN), ValueError, ("X", "nan", "(3, 1)"), C),
    Case("fit-y-nan", "sn.fit(model, X, y, ...)", "NaN in y (regression)",
         lambda c: _fit(c, y=_at(Y_REG, (4, 0), np.nan)), ValueError, ("y", "nan", "(4, 0)"), R),
    Case("fit-x-none", "sn.fit(model, X, y, ...)", "X=None",
         lambda c: _fit(c, X=None), TypeError, ("fit", "X", "NoneType"), C),
    Case("fit-x-strings", "sn.fit(model, X, y, ...)", "X an array of strings",
         lambda c: _fit(c, X=np.full((20, 2), "a")), TypeError, ("fit", "X", "<U1"), C),
    Case("fit-x-1d", "sn.fit(model, X, y, ...)", "X of shape (20,)",
         lambda c: _fit(c, X=X[:, 0]), ValueError, ("fit", "(20,)", "2 dimensions"), C),
    Case("fit-empty", "sn.fit(model, X, y, ...)", "X and y with no rows",
         lambda c: _fit(c, X=X[:0], y=Y_CLASS[:0]), ValueError, ("fit", "no samples"), C),
    Case("fit-float-labels", "sn.fit(..., 'softmax_cross_entropy')", "float labels",
         lambda c: _fit(c, y=Y_CLASS.astype(np.float32)), TypeError, ("y", "float32", "integers"),
         C),
    Case("fit-label-range", "sn.fit(..., 'softmax_cross_entropy')", "label 3 with 3 outputs",
         lambda c: _fit(c, y=_at(Y_CLASS, 5, 3)), ValueError, ("labels must be in [0, 3)", "3]"),
         C),
    Case("fit-label-negative", "sn.fit(..., 'softmax_cross_entropy')", "label -1",
         lambda c: _fit(c, y=_at(Y_CLASS, 5, -1)), ValueError, ("[0, 3)", "-1"), C),
    Case("fit-metric-target", "sn.fit(..., metric='accuracy')", "accuracy on a continuous target",
         lambda c: _fit(c, metric="accuracy"), ValueError, ("metric='accuracy'", "rmse"), R),
    Case("fit-batch-zero", "sn.fit(..., batch_size)", "batch_size=0",
         lambda c: _fit(c, batch_size=0), ValueError, ("batch_size", "0"), C),
    Case("fit-batch-negative", "sn.fit(..., batch_size)", "batch_size=-4",
         lambda c: _fit(c, batch_size=-4), ValueError, ("batch_size", "-4"), C),
    Case("fit-batch-float", "sn.fit(..., batch_size)", "batch_size=4.5",
         lambda c: _fit(c, batch_size=4.5), ValueError, ("batch_size", "4.5"), C),
    Case("fit-epochs-negative", "sn.fit(..., epochs)", "epochs=-1",
         lambda c: _fit(c, epochs=-1), ValueError, ("epochs", "-1"), C),
    Case("fit-epochs-float", "sn.fit(..., epochs)", "epochs=1.5",
         lambda c: _fit(c, epochs=1.5), ValueError, ("epochs", "1.5"), C),
    Case("fit-epochs-zero", "sn.fit(..., epochs)", "epochs=0",
         lambda c: _fit(c, epochs=0), ValueError, ("epochs", "0"), C),
    Case("fit-loss-name", "sn.fit(..., loss)", "loss='mae'",
         lambda c: _fit(c, loss="mae"), ValueError, ("loss", "'mae'", "mse"), C),
    Case("fit-metric-name", "sn.fit(..., metric)", "metric='f1'",
         lambda c: _fit(c, metric="f1"), ValueError, ("metric", "'f1'", "accuracy"), C),
    Case("fit-optimizer-name", "sn.fit(..., optimizer)", "optimizer='adam' (a string)",
         lambda c: _fit(c, optimizer="adam"), TypeError, ("optimizer", "str"), C),
    Case("fit-optimizer-other", "sn.fit(..., optimizer)", "an optimiser of another model",
         lambda c: _fit(c, optimizer=Adam(_classifier())), ValueError,
         ("optimizer was built for another model",), C),
    Case("fit-validation-single", "sn.fit(..., validation)", "validation=(X_val,)",
         lambda c: _fit(c, validation=(X,)), ValueError, ("validation", "pair"), C),
    Case("fit-validation-dict", "sn.fit(..., validation)", "validation={'X': X_val}",
         lambda c: _fit(c, validation={"X": X}), ValueError, ("validation", "dict"), C),
    Case("fit-validation-length", "sn.fit(..., validation)", "y_val one row short",
         lambda c: _fit(c, validation=(X, Y_CLASS[:-1])), ValueError,
         ("validation", "(19,)"), C),
    Case("fit-validation-width", "sn.fit(..., validation)", "X_val of width 3",
         lambda c: _fit(c, validation=(np.ones((20, 3), np.float32), Y_CLASS)), ValueError,
         ("(20, 3)",), C),
    Case("fit-x-width", "sn.fit(model, X, ...)", "X of width 3 for a 2-input model",
         lambda c: _fit(c, X=np.ones((20, 3), np.float32)), ValueError, ("(20, 3)",), C),
    Case("fit-checkpoint-folder", "sn.fit(..., checkpoint)", "a path in a missing folder",
         lambda c: _fit(c, checkpoint=c.tmp / "missing" / "run.npz"), ValueError,
         ("checkpoint", "missing", "does not exist"), C),
    Case("fit-keep", "sn.fit(..., keep)", "keep='first'",
         lambda c: _fit(c, keep="first"), ValueError, ("keep", "'first'"), C),
    Case("fit-keep-best", "sn.fit(..., keep='best')", "no validation data",
         lambda c: _fit(c, keep="best"), ValueError, ("keep='best'", "validation"), C),
    Case("fit-schedule", "sn.fit(..., schedule)", "schedule='cosine'",
         lambda c: _fit(c, schedule="cosine"), TypeError, ("schedule", "'cosine'"), C),
    Case("fit-eval-every", "sn.fit(..., eval_every)", "eval_every=0",
         lambda c: _fit(c, eval_every=0, validation=(X, Y_CLASS)), ValueError,
         ("eval_every", "0"), C),
    Case("fit-callbacks", "sn.fit(..., callbacks)", "callbacks=[3]",
         lambda c: _fit(c, callbacks=[3]), TypeError, ("callbacks", "int"), C),
    Case("fit-penalty", "sn.fit(..., penalty)", "penalty=0.01 (a number)",
         lambda c: _fit(c, penalty=0.01), TypeError, ("penalty", "float"), C),
    Case("fit-checkpoint-every", "sn.fit(..., checkpoint_every)", "checkpoint_every=0",
         lambda c: _fit(c, checkpoint=c.tmp / "r.npz", checkpoint_every=0), ValueError,
         ("checkpoint_every", "0"), C),
    Case("fit-resume", "sn.fit(..., resume=True)", "no checkpoint path",
         lambda c: _fit(c, resume=True), ValueError, ("resume=True", "checkpoint"), C),
    Case("fit-rng", "sn.fit(..., rng)", "rng='abc'",
         lambda c: _fit(c, rng="abc"), TypeError, ("rng", "'abc'"), C),
    # -- evaluate / predict / recalibrate ----------------------------------------------------------
    Case("evaluate-length", "sn.evaluate(model, X, y, loss)", "y one row short",
         lambda c: sn.evaluate(c.model, X, Y_CLASS[:-1], "softmax_cross_entropy"), ValueError,
         ("evaluate", "(19,)"), C),
    Case("evaluate-loss", "sn.evaluate(model, X, y, loss)", "loss='hinge'",
         lambda c: sn.evaluate(c.model, X, Y_CLASS, "hinge"), ValueError, ("loss", "'hinge'"), C),
    Case("evaluate-labels", "sn.evaluate(..., 'softmax_cross_entropy')", "float labels",
         lambda c: sn.evaluate(c.model, X, Y_CLASS + 0.5, "softmax_cross_entropy"), TypeError,
         ("evaluate", "float32", "integers"), C),
    Case("predict-width", "sn.predict(model, X)", "X of width 3",
         lambda c: sn.predict(c.model, np.ones((20, 3), np.float32)), ValueError,
         ("(20, 3)",), C),
    Case("predict-3d", "sn.predict(model, X)", "X of shape (1, 20, 2)",
         lambda c: sn.predict(c.model, X[None]), ValueError, ("Dense", "(1, 20, 2)"), C),
    Case("predict-none", "sn.predict(model, X)", "model=None",
         lambda c: sn.predict(None, X), TypeError, ("predict", "Module", "NoneType")),
    Case("evaluate-model", "sn.evaluate(model, X, y, loss)", "model a function",
         lambda c: sn.evaluate(np.tanh, X, Y_REG, "mse"), TypeError,
         ("evaluate", "Module", "ufunc")),
    Case("predict-batch", "sn.predict(model, X, batch_size)", "batch_size=0",
         lambda c: sn.predict(c.model, X, batch_size=0), ValueError, ("batch_size", "0"), C),
    Case("predict-nan", "sn.predict(model, X)", "NaN in X",
         lambda c: sn.predict(c.model, F32_NAN), ValueError, ("nan", "(3, 1)"), C),
    Case("recalibrate-nan", "sn.recalibrate(model, X)", "NaN in X",
         lambda c: sn.recalibrate(c.model, F32_NAN), ValueError, ("nan",), C),
    Case("recalibrate-batch", "sn.recalibrate(model, X, batch_size)", "batch_size=0",
         lambda c: sn.recalibrate(c.model, X, batch_size=0), ValueError, ("batch_size", "0"), C),
    Case("recalibrate-width", "sn.recalibrate(model, X)", "X of width 3",
         lambda c: sn.recalibrate(c.model, np.ones((20, 3), np.float32)), ValueError,
         ("(20, 3)",), C),
    Case("recalibrate-one-row", "sn.recalibrate(model, X)", "a single row",
         lambda c: sn.recalibrate(c.model, X[:1]), ValueError,
         ("recalibrate", "1 row;", "at least 2"), C),
    Case("recalibrate-module", "sn.recalibrate(model, X)", "model a list of layers",
         lambda c: sn.recalibrate([sn.BatchNorm(2)], X), TypeError,
         ("recalibrate", "Module", "list")),
    # -- optimisers -------------------------------------------------------------------------------
    Case("adam-lr-nan", "sn.Adam(model, lr)", "lr=nan",
         lambda c: Adam(c.model, lr=float("nan")), ValueError, ("lr", "nan"), R),
    Case("adam-lr-negative", "sn.Adam(model, lr)", "lr=-1e-3",
         lambda c: Adam(c.model, lr=-1e-3), ValueError, ("lr", "-0.001"), R),
    Case("sgd-lr-string", "sn.SGD(model, lr)", "lr='fast'",
         lambda c: SGD(c.model, lr="fast"), TypeError, ("lr", "'fast'"), R),
    Case("adam-beta1", "sn.Adam(model, beta1)", "beta1=1.0",
         lambda c: Adam(c.model, beta1=1.0), ValueError, ("beta1", "1.0"), R),
    Case("adam-beta2", "sn.Adam(model, beta2)", "beta2=-0.1",
         lambda c: Adam(c.model, beta2=-0.1), ValueError, ("beta2", "-0.1"), R),
    Case("sgd-momentum", "sn.SGD(model, lr, momentum)", "momentum=-0.5",
         lambda c: SGD(c.model, lr=0.1, momentum=-0.5), ValueError, ("momentum", "-0.5"), R),
    Case("adam-eps", "sn.Adam(model, eps)", "eps=0",
         lambda c: Adam(c.model, eps=0), ValueError, ("eps", "0"), R),
    Case("adam-clip", "sn.Adam(model, clip_norm)", "clip_norm=0",
         lambda c: Adam(c.model, clip_norm=0), ValueError, ("clip_norm", "0"), R),
    Case("adam-l2", "sn.Adam(model, l2)", "l2=-1",
         lambda c: Adam(c.model, l2=-1), ValueError, ("l2", "-1"), R),
    Case("adam-group-key", "sn.Adam(model, groups)", "a group naming parameter 'nope'",
         lambda c: Adam(c.model, groups=[{"keys": ["nope"], "lr": 0.1}]), ValueError,
         ("'nope'", "0.W"), R),
    Case("adam-nan-gradient", "optimizer.step()", "NaN gradients with clip_norm=1",
         lambda c: _nan_step(c.model), FloatingPointError, ("nan", "clip_norm=1.0", "0.W"), R),
    Case("sgd-nesterov", "sn.SGD(model, lr, nesterov=True)", "no momentum",
         lambda c: SGD(c.model, lr=0.1, nesterov=True), ValueError, ("nesterov", "momentum"), R),
    Case("adam-source", "sn.Adam(params_source)", "a string",
         lambda c: Adam("model"), TypeError, ("params_source", "str")),
    Case("schedule-unit", "sn.StepSchedule(milestones, unit)", "unit='week'",
         lambda c: StepSchedule({10: 0.1}, unit="week"), ValueError, ("unit", "'week'")),
    Case("schedule-milestones", "sn.StepSchedule(milestones)", "milestones=[0.1, 0.01]",
         lambda c: StepSchedule([0.1, 0.01]), TypeError, ("milestones", "[0.1, 0.01]")),
    Case("schedule-dict", "sn.StepSchedule(milestones)", "milestones={0: 0.1, 100: 0.01}",
         lambda c: StepSchedule({0: 0.1, 100: 0.01}), TypeError,
         ("{0: 0.1, 100: 0.01}", "list(milestones.items())")),
    Case("schedule-rate", "sn.StepSchedule(milestones)", "a negative rate",
         lambda c: StepSchedule([(0, 0.1), (10, -0.1)]), ValueError, ("rate at iteration 10",
                                                                       "-0.1")),
    # -- expand ------------------------------------------------------------------------------------
    Case("expand-maxpool", "sn.expand(model, input_shape)", "a model with MaxPool2D",
         lambda c: sn.expand(c.model, input_shape=(1, 4, 4)), ValueError,
         ("layer 0 (MaxPool2D)", "not polynomial"), CNN),
    Case("expand-no-shape", "sn.expand(model)", "a model starting with pooling, no input_shape",
         lambda c: sn.expand(c.model), ValueError, ("input_shape", "(1, 4, 4)"), CNN),
    Case("expand-input-shape", "sn.expand(model, input_shape)", "input_shape=(1, -4, 4)",
         lambda c: sn.expand(c.model, input_shape=(1, -4, 4)), ValueError,
         ("input_shape", "(1, -4, 4)"), CNN),
    Case("expand-relu", "sn.expand(model)", "a model with ReLU",
         lambda c: sn.expand(sn.Sequential(sn.Dense(2, 3), sn.ReLU(), sn.Dense(3, 1))),
         ValueError, ("layer 1 (ReLU)", "not polynomial")),
    Case("expand-fourier", "sn.expand(model)", "SLAF with the Fourier basis",
         lambda c: sn.expand(sn.Sequential(sn.Dense(2, 3), sn.SLAF(3, 2, basis="fourier"))),
         ValueError, ("layer 1 (SLAF)", "'fourier'")),
    Case("expand-var-nan", "sn.expand(model)", "BatchNorm running_var with a NaN",
         lambda c: sn.expand(c.model), ValueError, ("running_var", "nan"),
         lambda: _set_buffer(_classifier(), "1.running_var", [1, np.nan, 1, 1])),
    Case("expand-var-negative", "sn.expand(model)", "BatchNorm running_var -1",
         lambda c: sn.expand(c.model), ValueError, ("running_var", "-1"),
         lambda: _set_buffer(_classifier(), "1.running_var", [1, -1, 1, 1])),
    Case("expand-list", "sn.expand(model)", "a list of layers",
         lambda c: sn.expand([sn.Dense(2, 1)]), TypeError, ("Module", "list")),
    Case("expand-n-inputs", "sn.expand(model, n_inputs)", "n_inputs=0",
         lambda c: sn.expand(c.model, n_inputs=0), ValueError, ("n_inputs", "0"), R),
    Case("polynomial-width", "sn.expand(model)(X)", "points of width 5 for 2 variables",
         lambda c: sn.expand(_regressor())(np.ones((3, 5))), ValueError, ("(N, 2)", "(3, 5)")),
    # -- save / load -------------------------------------------------------------------------------
    Case("save-under-a-file", "sn.save(model, path)", "a path whose folder is a file",
         lambda c: sn.save(c.model, _file(c.tmp / "nope") / "m.npz"), OSError,
         ("nope/m.npz",), R),
    Case("save-directory", "sn.save(model, path)", "path an existing folder",
         lambda c: sn.save(c.model, c.tmp), IsADirectoryError, ("directory",), R),
    Case("save-extra-object", "sn.save(model, path, extra)", "extra={'fn': print}",
         lambda c: sn.save(c.model, c.tmp / "m.npz", extra={"fn": print}), TypeError,
         ("fn", "builtin_function_or_method"), R),
    Case("save-extra-type", "sn.save(model, path, extra)", "extra=[1, 2] (not a dict)",
         lambda c: sn.save(c.model, c.tmp / "m.npz", extra=[1, 2]), TypeError,
         ("extra", "list"), R),
    Case("save-non-module", "sn.save(model, path)", "model a dict of arrays",
         lambda c: sn.save({"w": np.ones(2)}, c.tmp / "m.npz"), TypeError, ("Module", "dict")),
    Case("load-missing", "sn.load(path)", "a file that does not exist",
         lambda c: sn.load(c.tmp / "none.npz"), FileNotFoundError, ("none.npz",)),
    Case("load-truncated", "sn.load(path)", "a file cut in half",
         lambda c: sn.load(_truncated(c.tmp)), ValueError, ("m.npz",)),
    Case("load-not-zip", "sn.load(path)", "a text file",
         lambda c: sn.load(_not_a_zip(c.tmp)), ValueError, ("m.npz",)),
    Case("load-npy", "sn.load(path)", "a single .npy array",
         lambda c: sn.load(_npy(c.tmp / "a.npy")), ValueError, ("a.npy", "single .npy array")),
    Case("load-no-header", "sn.load(path)", "an .npz of plain arrays",
         lambda c: sn.load(_tampered(c.tmp, drop="__slaf_np__")), ValueError,
         ("m.npz", "without a slaf_np header")),
    Case("load-header-list", "sn.load(path)", "a header that is a JSON list",
         lambda c: sn.load(_tampered(c.tmp, lambda h: [h])), ValueError,
         ("m.npz", "header is a list")),
    Case("load-header-version", "sn.load(path)", "format version 99",
         lambda c: sn.load(_tampered(c.tmp, lambda h: h | {"version": 99})), ValueError,
         ("m.npz", "version 99")),
    Case("load-architecture-type", "sn.load(path)", "architecture a string",
         lambda c: sn.load(_tampered(c.tmp, lambda h: h | {"architecture": "Dense"})),
         ValueError, ("m.npz", "'Dense'")),
    Case("load-unknown-layer", "sn.load(path)", "a layer class 'Conv9D'",
         lambda c: sn.load(_tampered(c.tmp, lambda h: h | {"architecture": {
             "class": "Conv9D", "config": {}}})), ValueError, ("m.npz", "Conv9D")),
    Case("load-extra-string", "sn.load(path, with_extra=True)", "extra a string in the file",
         lambda c: sn.load(_tampered(c.tmp, lambda h: h | {"extra": "x"}), with_extra=True),
         ValueError, ("m.npz", "extra is 'x'")),
    Case("load-missing-array", "sn.load(path)", "a parameter array removed",
         lambda c: sn.load(_tampered(c.tmp, drop="params/0.W")), ValueError,
         ("m.npz", "0.W")),
    Case("load-weights-other", "load_weights(model, path)", "a file of another architecture",
         lambda c: load_weights(c.model, sn.save(_classifier(), c.tmp / "m.npz")), ValueError,
         ("m.npz", "another architecture", "4 entries vs 3"), R),
    # -- data sets ---------------------------------------------------------------------------------
    Case("fetch-name", "slaf_np.datasets.fetch(name)", "name='imagenet'",
         lambda c: fetch("imagenet", data_dir=c.tmp), ValueError, ("'imagenet'", "mnist")),
    Case("mnist-split", "load_mnist(split)", "split='bogus'",
         lambda c: load_mnist(data_dir=c.tmp, split="bogus"), ValueError, ("split", "'bogus'")),
    Case("mnist-missing", "load_mnist(data_dir)", "an empty data folder, download=False",
         lambda c: load_mnist(data_dir=c.tmp, download=False), DataError, ("mnist",)),
    Case("spirals-n", "two_spirals(n_per_class, rng)", "n_per_class=0",
         lambda c: two_spirals(0, np.random.default_rng(0)), ValueError, ("n_per_class", "0")),
    Case("spirals-noise", "two_spirals(n, rng, noise)", "noise=-1",
         lambda c: two_spirals(10, np.random.default_rng(0), noise=-1), ValueError,
         ("noise", "-1")),
    Case("split-frac", "train_val_split(x, y, frac_val)", "frac_val=1.5",
         lambda c: train_val_split(X, Y_CLASS, frac_val=1.5, rng=0), ValueError,
         ("frac_val", "1.5")),
    Case("split-length", "train_val_split(x, y)", "y one row short",
         lambda c: train_val_split(X, Y_CLASS[:-1], rng=0), ValueError, ("20", "19")),
    Case("polynomial-data-n", "sparse_polynomial(n, d, degree, n_terms, rng)", "n=0",
         lambda c: sparse_polynomial(0, 2, 3, 2, np.random.default_rng(0)), ValueError,
         ("sparse_polynomial", "n", "0")),
    Case("smooth-d", "smooth_regression(n, d, rng)", "d=0 (y would be NaN)",
         lambda c: smooth_regression(10, 0, np.random.default_rng(0)), ValueError,
         ("smooth_regression", "d", "0")),
    Case("smooth-noise", "smooth_regression(n, d, rng, noise)", "noise=-1",
         lambda c: smooth_regression(10, 2, np.random.default_rng(0), noise=-1), ValueError,
         ("noise", "-1")),
    Case("boston-split-columns", "boston_split(table)", "a table of 3 columns",
         lambda c: boston_split(np.ones((10, 3))), ValueError, ("(N, 14)", "(10, 3)")),
    Case("boston-split-test", "boston_split(table, test_split)", "test_split=1.5",
         lambda c: boston_split(np.ones((10, 14)), test_split=1.5), ValueError,
         ("test_split", "1.5")),
    Case("to-nchw", "to_nchw(x)", "a 2-D array",
         lambda c: to_nchw(np.ones((3, 3))), ValueError, ("to_nchw", "(3, 3)")),
    # -- bases / approx ----------------------------------------------------------------------------
    Case("basis-name", "bases.evaluate(name, z, k)", "name='bogus'",
         lambda c: bases.evaluate("bogus", np.zeros(3), 2), ValueError, ("'bogus'", "power")),
    Case("basis-degree", "bases.evaluate(name, z, k)", "k=-1",
         lambda c: bases.evaluate("power", np.zeros(3), -1), ValueError, ("k", "-1")),
    Case("basis-degree-float", "bases.evaluate(name, z, k)", "k=2.5",
         lambda c: bases.evaluate("power", np.zeros(3), 2.5), ValueError, ("k", "2.5")),
    Case("basis-z-strings", "bases.evaluate(name, z, k)", "z of strings",
         lambda c: bases.evaluate("power", np.array(["a"]), 2), TypeError, ("z", "<U1")),
    Case("jackson", "approx.jackson_bound(lipschitz, a, degree)", "lipschitz=-1",
         lambda c: approx.jackson_bound(-1, 1, 3), ValueError, ("L=-1",)),
    Case("approx-degree", "approx.fit_activation(f, degree)", "degree=0",
         lambda c: approx.fit_activation("relu", 0), ValueError, ("degree", "0")),
    Case("approx-interval", "approx.fit_activation(f, degree, interval)", "interval=(1, -1)",
         lambda c: approx.fit_activation("relu", 3, interval=(1, -1)), ValueError,
         ("interval", "(1, -1)")),
    Case("approx-interval-triple", "approx.fit_activation(f, degree, interval)",
         "interval=(0, 1, 2)",
         lambda c: approx.fit_activation("relu", 3, interval=(0, 1, 2)), ValueError,
         ("interval", "(0, 1, 2)")),
    Case("approx-basis", "approx.fit_activation(f, degree, basis)", "basis='bogus'",
         lambda c: approx.fit_activation("relu", 3, basis="bogus"), ValueError, ("'bogus'",)),
    Case("approx-activation", "approx.fit_activation(f, degree)", "f='swish2'",
         lambda c: approx.fit_activation("swish2", 3), ValueError, ("'swish2'", "relu")),
    Case("approx-method", "approx.fit_activation(..., method)", "method='qr'",
         lambda c: approx.fit_activation("relu", 3, method="qr"), ValueError,
         ("method", "'qr'")),
    # -- gradcheck ---------------------------------------------------------------------------------
    Case("gradcheck-float32", "gradcheck.check_jacobian(layer, x)", "a float32 layer and x",
         lambda c: gradcheck.check_jacobian(sn.Dense(2, 3), X[:2]), TypeError, ("float64",)),
    Case("gradcheck-eps", "gradcheck.check_jacobian(layer, x, eps)", "eps=0",
         lambda c: gradcheck.check_jacobian(sn.Dense(2, 3, dtype=np.float64),
                                            X[:2].astype(np.float64), eps=0), ValueError,
         ("eps", "0")),
    Case("gradcheck-directions", "gradcheck.check_directional(..., n_directions)",
         "n_directions=0",
         lambda c: gradcheck.check_directional(sn.Dense(2, 3, dtype=np.float64),
                                               X[:2].astype(np.float64),
                                               np.random.default_rng(0), n_directions=0),
         ValueError, ("n_directions", "0")),
    Case("gradcheck-loss", "gradcheck.check_model(model, X, y, loss)", "loss='hinge'",
         lambda c: gradcheck.check_model(sn.Dense(2, 1, dtype=np.float64),
                                         X[:2].astype(np.float64), np.zeros((2, 1)), "hinge"),
         ValueError, ("'hinge'",)),
    # -- the command -------------------------------------------------------------------------------
    Case("cli-no-command", "slaf-np", "no command",
         lambda c: _cli(), CLIExit, ("exit 2", "usage")),
    Case("cli-unknown-command", "slaf-np train", "an unknown command",
         lambda c: _cli("train"), CLIExit, ("exit 2", "'train'")),
    Case("cli-experiment", "slaf-np run NAME", "NAME='spiral' (a typo)",
         lambda c: _cli("run", "spiral"), CLIExit, ("exit 2", "'spiral'", "did you mean")),
    Case("cli-seed", "slaf-np run NAME --seed", "--seed -1",
         lambda c: _cli("run", "spirals", "--seed", "-1"), CLIExit, ("exit 2", "--seed", "-1")),
    Case("cli-seed-text", "slaf-np run NAME --seed", "--seed abc",
         lambda c: _cli("run", "spirals", "--seed", "abc"), CLIExit, ("exit 2", "'abc'")),
    Case("cli-run-no-name", "slaf-np run", "no experiment name",
         lambda c: _cli("run"), CLIExit, ("exit 2", "name")),
    Case("cli-bench", "slaf-np bench --only NAME", "NAME='bogus'",
         lambda c: _cli("bench", "--only", "bogus"), CLIExit, ("exit 2", "'bogus'")),
    Case("cli-fetch", "slaf-np data fetch NAME", "NAME='imagenet'",
         lambda c: _cli("data", "fetch", "imagenet", "--data", str(c.tmp)), CLIExit,
         ("exit 1", "'imagenet'")),
    Case("cli-data-no-action", "slaf-np data", "no action",
         lambda c: _cli("data"), CLIExit, ("exit 2", "fetch")),
]


def _state(model) -> dict[str, np.ndarray]:
    return {f"{kind}:{k}": a.copy() for kind in ("params", "buffers")
            for k, a in getattr(model, kind).items()}


def changes(model, before: dict[str, np.ndarray]) -> list[str]:
    """The keys of ``model``'s parameters and buffers that differ from ``before`` (NaN equals
    NaN)."""
    after = _state(model)
    return sorted(set(after) ^ set(before)) + [
        k for k, a in before.items() if k in after and not np.array_equal(
            after[k], a, equal_nan=a.dtype.kind in "fc")]


def attempt(case: Case, tmp: Path) -> tuple[BaseException | None, list[str]]:
    """Run ``case`` in the folder ``tmp``: the exception raised (or None) and the keys of the
    model's arrays that the call changed."""
    model = case.model() if case.model is not None else None
    before = _state(model) if model is not None else {}
    err = None
    try:
        case.run(SimpleNamespace(model=model, tmp=tmp))
    except Exception as e:  # noqa: BLE001  (the table records whatever comes out)
        err = e
    return err, (changes(model, before) if model is not None else [])


def test_the_table_is_large_and_its_ids_unique():
    assert len(CASES) >= 70
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", [
    pytest.param(c, id=c.id, marks=[pytest.mark.xfail(strict=True, reason=c.known)] * bool(c.known))
    for c in CASES])
def test_bad_input(case: Case, tmp_path):
    err, changed = attempt(case, tmp_path)
    assert err is not None, f"{case.call} with {case.bad}: no error"
    assert isinstance(err, case.error), f"{type(err).__name__}: {err}"
    for fragment in case.fragments:
        assert fragment in str(err), f"{fragment!r} not in {str(err)!r}"
    assert changed == [], f"the failed call changed {changed}"
