"""Evaluation-mode passes over a data set: :func:`predict` and :func:`evaluate`, batched, and the
input checks they share with :func:`slaf_np.train.fit`."""

from __future__ import annotations

import numpy as np

from ..nn.base import NonFiniteError, check_positive_int
from .losses import LOSSES, get_loss
from .metrics import Metric

__all__ = ["predict", "evaluate"]


# -- inputs --------------------------------------------------------------------------------------
def _model_dtype(model, X: np.ndarray) -> np.dtype:
    dtype = getattr(model, "dtype", None)
    if dtype is not None:
        return np.dtype(dtype)
    return X.dtype if X.dtype in (np.float32, np.float64) else np.dtype(np.float32)


def _prepare(model, X, y=None, where="fit"):
    if not callable(getattr(model, "forward", None)):
        raise TypeError(f"{where}: model must be a slaf_np Module (e.g. a Sequential of layers), "
                        f"got {type(model).__name__}")
    given = X
    X = np.asarray(X)
    if X.dtype.kind not in "biuf":  # None, strings, objects: np.asarray gives no number array
        raise TypeError(f"{where}: X must be a numeric array, got {type(given).__name__} of "
                        f"dtype {X.dtype}; pass a float array (N, ...)")
    X = np.ascontiguousarray(X, dtype=_model_dtype(model, X))
    if not np.isfinite(X).all():
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(X))[0])
        raise ValueError(f"{where}: X has non-finite values (first at index {bad}: {X[bad]})")
    if y is None:
        return X, None
    y = np.asarray(y)
    if y.shape[:1] != X.shape[:1]:
        raise ValueError(f"{where}: X has {X.shape[0]} samples, y has {y.shape[:1] or 'no'} "
                         f"(shapes {X.shape} and {y.shape})")
    if y.dtype.kind == "f":
        y = np.ascontiguousarray(y, dtype=X.dtype)
    return X, y


_LABEL_FIX = {
    "softmax_cross_entropy": "pass integer class labels 0..K-1 of shape (N,), e.g. "
                             "y.astype(np.int64), with K the model's outputs",
    "sigmoid_binary_cross_entropy": "pass targets in [0, 1] of the outputs' shape, one column "
                                    "per output",
    "mse": "pass targets of the outputs' shape ((N,) is taken as (N, 1))",
}


def _check_targets(model, X: np.ndarray, y: np.ndarray, loss, metric, where: str) -> None:
    """Check ``y`` against the loss, the metric and the model's outputs before any training
    forward, so that a call that fails changes nothing.

    The output shape comes from one evaluation-mode forward of ``X[:1]`` (which changes no
    parameter, buffer or rng; from the layers' ``output_shape`` if that forward overflows); the
    loss and the metric are then run on zero predictions of the
    full shape ``(N, ...)``, which checks every target (shape, dtype, label range) at the cost
    of one output-sized array (the built-in losses and metrics only: a user's callable is first
    called in training). ``y`` must also be finite, and ``metric="accuracy"`` needs labels:
    integers (or one-hot rows) for several outputs, 0 or 1 for one.
    """
    if y.dtype.kind not in "biuf":
        raise TypeError(f"{where}: y must hold numbers, got dtype {y.dtype}; pass a numeric "
                        f"array")
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(y))[0])
        raise ValueError(f"{where}: y has non-finite values (first at index {bad}: {y[bad]}); "
                         f"targets must be finite: drop or fill those rows")
    try:
        out_shape = model.forward(X[:1], training=False).shape
    except NonFiniteError:
        # an untrained model may overflow on raw inputs (its running statistics are still the
        # initial 0 and 1; training uses batch statistics): take the shape from the layers
        out_shape = model.output_shape(X[:1].shape)
    except (TypeError, ValueError) as e:  # a layer refuses the input: say which call and array
        raise type(e)(f"{where}: X (shape {X.shape}) does not suit the model: {e}") from None
    zeros = np.zeros((len(X), *out_shape[1:]), dtype=X.dtype)
    loss_fn = get_loss(loss)
    name = getattr(loss_fn, "__name__", "loss")
    try:
        if any(loss_fn is f for f in LOSSES.values()):  # a user's callable is not called here
            loss_fn(zeros, y)
    except (TypeError, ValueError) as e:
        fix = _LABEL_FIX.get(name, "pass targets the loss accepts")
        raise type(e)(f"{where}: y (shape {y.shape}, dtype {y.dtype}) does not suit "
                      f"loss={loss!r} for the model's outputs of shape (N, "
                      f"{', '.join(map(str, out_shape[1:]))}): {e}; {fix}") from None
    if metric is None:
        return
    m = metric if isinstance(metric, Metric) else Metric(metric)
    if not m.builtin:  # a user's callable is not called here
        return
    if m.name == "accuracy":
        several = len(out_shape) == 2 and out_shape[1] > 1
        ok = (y.dtype.kind in "biu" or np.array_equal(y, np.round(y))) if several and y.ndim == 1 \
            else np.isin(y, (0, 1)).all()
        if not ok:
            raise ValueError(f"{where}: metric='accuracy' needs class labels, but y holds other "
                             f"values (e.g. {y.flat[np.flatnonzero(~np.isin(y, (0, 1)))[0]]!r}, "
                             f"dtype {y.dtype}): integer labels (N,) or one-hot rows for "
                             f"several outputs, 0 or 1 for one output. For a continuous target "
                             f"use metric='rmse'")
    try:
        m.batch(zeros, y)
    except (TypeError, ValueError) as e:
        raise type(e)(f"{where}: y (shape {y.shape}) does not suit metric={m.name!r} for the "
                      f"model's outputs of shape (N, {', '.join(map(str, out_shape[1:]))}): "
                      f"{e}") from None


def _batches(n: int, batch_size: int, merge_single: bool = False):
    """(start, end) of consecutive batches. With ``merge_single`` (training), a last batch of one
    sample joins the one before: batch statistics (BatchNorm, SLAF) need two or more values."""
    starts = list(range(0, n, batch_size))
    if merge_single and len(starts) > 1 and n - starts[-1] == 1:
        starts.pop()
    for i, start in enumerate(starts):
        yield start, (starts[i + 1] if i + 1 < len(starts) else n)


# -- evaluation --------------------------------------------------------------------------------
def predict(model, X: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """Evaluation-mode outputs of ``model`` on ``X``, computed ``batch_size`` rows at a time.

    ``X`` is cast to the model's dtype. Returns an array of shape ``(N, ...)``.
    """
    batch_size = check_positive_int(batch_size, "batch_size", "predict")
    X, _ = _prepare(model, X, where="predict")
    out = None
    for a, b in _batches(len(X), batch_size):
        yb = model.forward(X[a:b], training=False)
        if out is None:
            out = np.empty((len(X), *yb.shape[1:]), dtype=yb.dtype)
        out[a:b] = yb
    if out is None:
        raise ValueError("predict: X has no samples")
    return out


def evaluate(model, X: np.ndarray, y: np.ndarray, loss, metric=None,
             batch_size: int = 1024) -> tuple[float, float | None]:
    """Loss and metric of ``model`` on ``(X, y)`` in evaluation mode, batched.

    Parameters
    ----------
    loss : str or callable
        A name known to :func:`slaf_np.train.losses.get_loss`, or a callable
        ``(pred, y) -> (value, dpred)``.
    metric : {"accuracy", "rmse"}, callable, slaf_np.train.metrics.Metric or None
        Batch metrics are combined exactly (counts and squared errors are summed); a callable's
        batch values are averaged weighted by batch size.

    Returns
    -------
    (float, float or None)
        The mean loss (batch means weighted by batch size, equal to the full-batch loss for the
        losses of :mod:`slaf_np.train.losses`) and the metric.
    """
    batch_size = check_positive_int(batch_size, "batch_size", "evaluate")
    loss_fn = get_loss(loss)
    m = metric if metric is None or isinstance(metric, Metric) else Metric(metric)
    X, y = _prepare(model, X, y, where="evaluate")
    if len(X):
        _check_targets(model, X, y, loss, m, "evaluate")
    total, ms, mn = 0.0, 0.0, 0
    for a, b in _batches(len(X), batch_size):
        pred = model.forward(X[a:b], training=False)
        total += loss_fn(pred, y[a:b])[0] * (b - a)
        if m is not None:
            s, n = m.batch(pred, y[a:b])
            ms, mn = ms + s, mn + n
    if len(X) == 0:
        raise ValueError("evaluate: X has no samples")
    return total / len(X), (None if m is None else m.finish(ms / mn))
