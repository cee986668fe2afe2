"""Metrics: :func:`accuracy`, :func:`rmse`, and :class:`Metric`, which sums them over batches.

A metric over a data set is accumulated batch by batch as a sum and a count (correct predictions,
squared errors), so batched evaluation gives the full-batch value exactly, not a mean of batch
values.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["accuracy", "rmse", "METRICS", "Metric", "LOWER_IS_BETTER"]


def _as_column(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    target = np.asarray(target)
    if pred.ndim == 2 and pred.shape[1] == 1 and target.ndim == 1:
        target = target[:, None]
    if target.shape != pred.shape:
        raise ValueError(f"metric: predictions have shape {pred.shape}, targets {target.shape}")
    return target


def _accuracy_sum(pred: np.ndarray, target: np.ndarray) -> tuple[float, int]:
    target = np.asarray(target)
    if pred.ndim == 2 and pred.shape[1] > 1:
        labels = target.argmax(axis=1) if target.ndim == 2 else target
        if labels.shape != (pred.shape[0],):
            raise ValueError(f"accuracy: logits have shape {pred.shape}, targets {target.shape}; "
                             f"expected labels (N,) or one-hot (N, K)")
        return float(np.count_nonzero(pred.argmax(axis=1) == labels)), pred.shape[0]
    target = _as_column(pred, target)
    return float(np.count_nonzero((pred > 0) == (target > 0.5))), pred.size


def _squared_error_sum(pred: np.ndarray, target: np.ndarray) -> tuple[float, int]:
    diff = pred.astype(np.float64) - _as_column(pred, target)
    return float(np.sum(diff * diff)), diff.size


def accuracy(pred: np.ndarray, target: np.ndarray) -> float:
    """Fraction of correct predictions.

    Multi-class logits (N, K), K > 1: ``argmax(pred) == target`` with integer labels (N,) or
    one-hot targets (N, K). A single column (N, 1) or (N,) of binary logits:
    ``(pred > 0) == (target > 0.5)``.
    """
    s, n = _accuracy_sum(pred, target)
    return s / n


def rmse(pred: np.ndarray, target: np.ndarray) -> float:
    """Root mean squared error over every entry (targets (N,) match predictions (N, 1))."""
    s, n = _squared_error_sum(pred, target)
    return math.sqrt(s / n)


METRICS = {"accuracy": accuracy, "rmse": rmse}


class Metric:
    """A metric accumulated over batches: ``batch(pred, target) -> (sum, count)`` for each batch,
    then ``finish(total sum / total count)``.

    Parameters
    ----------
    metric : {"accuracy", "rmse"} or callable
        A callable ``(pred, target) -> float`` is averaged over batches weighted by batch size;
        it counts as higher-is-better unless it has ``greater_is_better = False``.
    """

    def __init__(self, metric):
        if metric == "accuracy" or metric is accuracy:
            self.name, self.batch, self.finish = "accuracy", _accuracy_sum, float
            self.higher = self.builtin = True
        elif metric == "rmse" or metric is rmse:
            self.name, self.batch, self.finish = "rmse", _squared_error_sum, math.sqrt
            self.higher, self.builtin = False, True
        elif callable(metric):
            self.name = getattr(metric, "__name__", "metric")
            self.batch = lambda p, t: (float(metric(p, t)) * len(p), len(p))
            self.finish = float
            self.higher = bool(getattr(metric, "greater_is_better", True))
            self.builtin = False
        else:
            raise ValueError(f"metric must be 'accuracy', 'rmse', a callable (pred, target) -> "
                             f"float or None, got {metric!r}")

    def better(self, a: float, b: float | None) -> bool:
        """Whether score ``a`` beats ``b`` (a finite score beats ``None`` and non-finite ones)."""
        if b is None or not math.isfinite(b):
            return math.isfinite(a)
        return a > b if self.higher else a < b


class _LowerIsBetter:
    """The comparison of losses: lower is better; a finite value beats ``None`` and NaN."""

    @staticmethod
    def better(a: float, b: float | None) -> bool:
        return math.isfinite(a) and (b is None or not math.isfinite(b) or a < b)


LOWER_IS_BETTER = _LowerIsBetter()
