"""Evaluation-mode passes over a data set: :func:`predict` and :func:`evaluate`, batched, and the
input checks they share with :func:`slaf_np.train.fit`."""

from __future__ import annotations

import numpy as np

from ..nn.base import check_positive_int
from .losses import get_loss
from .metrics import Metric

__all__ = ["predict", "evaluate"]


# -- inputs --------------------------------------------------------------------------------------
def _model_dtype(model, X: np.ndarray) -> np.dtype:
    dtype = getattr(model, "dtype", None)
    if dtype is not None:
        return np.dtype(dtype)
    return X.dtype if X.dtype in (np.float32, np.float64) else np.dtype(np.float32)


def _prepare(model, X, y=None, where="fit"):
    X = np.asarray(X)
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
