r"""Losses: each returns ``(value, dvalue/dprediction)``, averaged over the batch.

:func:`mse`
    value ``mean over n and outputs of (p - y)^2``; gradient ``2 (p - y) / (N K)``.
:func:`softmax_cross_entropy`
    value ``mean_n [logsumexp(z_n) - z_{n, y_n}]``; gradient ``(softmax(z) - onehot(y)) / N``.
:func:`sigmoid_binary_cross_entropy`
    value ``mean [max(z, 0) - z y + log(1 + e^{-|z|})]``; gradient ``(sigmoid(z) - y) / size``.

Numerical care: ``logsumexp`` subtracts the row maximum before exponentiating, and the binary cross
entropy uses the form above, which never exponentiates a positive number.
"""

from __future__ import annotations

import numpy as np

from ..nn.activations import sigmoid

__all__ = ["mse", "softmax_cross_entropy", "sigmoid_binary_cross_entropy", "LOSSES", "get_loss",
           "logsumexp", "softmax"]


def _check(name: str, pred: np.ndarray, target, same_shape: bool = True) -> np.ndarray:
    """``target`` as an array after checking ``pred`` is a float array and, with
    ``same_shape``, that the shapes agree (targets (N,) are taken as (N, 1) for predictions
    (N, 1))."""
    if not isinstance(pred, np.ndarray) or pred.dtype.kind != "f":
        raise TypeError(f"{name}: predictions must be a float array, got "
                        f"{getattr(pred, 'dtype', type(pred).__name__)}")
    target = np.asarray(target)
    if same_shape:
        if target.ndim == pred.ndim - 1 and pred.ndim == 2 and pred.shape[1] == 1:
            target = target[:, None]
        if target.shape != pred.shape:
            raise ValueError(f"{name}: predictions have shape {pred.shape}, targets "
                             f"{target.shape}")
    return target


def mse(pred: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean squared error over every entry.

    Parameters
    ----------
    pred, target : ndarray, same shape (N, K) or (N,)
    """
    target = _check("mse", pred, target)
    diff = pred - target.astype(pred.dtype, copy=False)
    return float(np.mean(diff * diff)), (2.0 / diff.size) * diff


def logsumexp(z: np.ndarray, axis: int = -1) -> np.ndarray:
    """``log(sum(exp(z)))`` along ``axis``, computed as ``m + log(sum(exp(z - m)))``."""
    m = np.max(z, axis=axis, keepdims=True)
    return np.squeeze(m, axis) + np.log(np.sum(np.exp(z - m), axis=axis))


def softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(z - np.max(z, axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Cross entropy of integer ``labels`` (N,) under ``softmax(logits)`` (N, K)."""
    labels = _check("softmax_cross_entropy", logits, labels, same_shape=False)
    if logits.ndim != 2 or labels.shape != (logits.shape[0],):
        raise ValueError(f"softmax_cross_entropy: expected logits (N, K) and labels (N,), got "
                         f"{logits.shape} and {labels.shape}")
    if labels.dtype.kind not in "iu":
        raise TypeError(f"softmax_cross_entropy: labels must be integers, got {labels.dtype}")
    K = logits.shape[1]
    if labels.size and (labels.min() < 0 or labels.max() >= K):
        raise ValueError(f"softmax_cross_entropy: labels must be in [0, {K}), got "
                         f"[{labels.min()}, {labels.max()}]")
    n = logits.shape[0]
    rows = np.arange(n)
    # One exponential serves both: with s = z - max(z), logsumexp(z) - z_y = log(sum e^s) - s_y
    # and softmax(z) = e^s / sum e^s.
    shifted = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    total = e.sum(axis=1, keepdims=True)
    value = float(np.mean(np.log(total[:, 0]) - shifted[rows, labels]))
    grad = np.divide(e, total, out=e)
    grad[rows, labels] -= 1
    grad *= grad.dtype.type(1.0 / n)
    return value, grad


def sigmoid_binary_cross_entropy(logits: np.ndarray,
                                 targets: np.ndarray) -> tuple[float, np.ndarray]:
    """Binary cross entropy of targets in [0, 1] under ``sigmoid(logits)``, same shape."""
    targets = _check("sigmoid_binary_cross_entropy", logits, targets)
    if targets.size and (targets.min() < 0 or targets.max() > 1):
        raise ValueError(f"sigmoid_binary_cross_entropy: targets must be in [0, 1], got "
                         f"[{targets.min()}, {targets.max()}]")
    t = targets.astype(logits.dtype, copy=False)
    value = np.maximum(logits, 0) - logits * t + np.log1p(np.exp(-np.abs(logits)))
    return float(np.mean(value)), (sigmoid(logits) - t) / logits.size


LOSSES = {
    "mse": mse,
    "softmax_cross_entropy": softmax_cross_entropy,
    "cross_entropy": softmax_cross_entropy,
    "sigmoid_binary_cross_entropy": sigmoid_binary_cross_entropy,
    "bce": sigmoid_binary_cross_entropy,
}


def get_loss(loss):
    """A loss function from its name or itself."""
    if callable(loss):
        return loss
    try:
        return LOSSES[loss]
    except KeyError:
        raise ValueError(f"unknown loss {loss!r}; known: {sorted(LOSSES)}") from None
