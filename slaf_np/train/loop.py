"""The training loop: :func:`fit`, :func:`evaluate`, :func:`predict`, metrics and :class:`History`.

One epoch of :func:`fit`::

    perm = rng.permutation(N)                                   # once per epoch
    for each slice idx = perm[a:b] of batch_size indices:
        xb, yb = X[idx], y[idx]                                 # one contiguous gather
        optimizer.zero_grad()
        loss, dout = loss_fn(model.forward(xb, training=True), yb)
        model.backward(dout); penalty(model)                     # penalty optional
        optimizer.step()

(gathering per batch copies the same bytes as one shuffled copy of the data set, but needs no
data-set-sized temporary, whose first touch costs page faults every epoch), then validation in
evaluation mode, one progress line, the checkpoint. A non-finite batch loss (or
non-finite weights at the end of an epoch) stops training with :class:`TrainingDivergedError`, after
restoring the last good weights; the checkpoint file on disk is only ever written with finite
weights (atomically), so it stays the last good one.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from ..nn.base import NonFiniteError, as_rng, check_positive_int
from .losses import get_loss

__all__ = ["fit", "evaluate", "predict", "History", "TrainingDivergedError", "accuracy", "rmse",
           "METRICS"]


class TrainingDivergedError(ValueError):
    """The training loss became NaN or infinite; the message names the epoch and step."""


# -- metrics -----------------------------------------------------------------------------------
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


class _Metric:
    """A metric accumulated over batches: a sum and a count, then ``finish(sum / count)``."""

    def __init__(self, metric):
        if metric == "accuracy" or metric is accuracy:
            self.name, self.batch, self.finish = "accuracy", _accuracy_sum, float
            self.higher = True
        elif metric == "rmse" or metric is rmse:
            self.name, self.batch, self.finish = "rmse", _squared_error_sum, math.sqrt
            self.higher = False
        elif callable(metric):
            self.name = getattr(metric, "__name__", "metric")
            self.batch = lambda p, t: (float(metric(p, t)) * len(p), len(p))
            self.finish = float
            self.higher = bool(getattr(metric, "greater_is_better", True))
        else:
            raise ValueError(f"metric must be 'accuracy', 'rmse', a callable (pred, target) -> "
                             f"float or None, got {metric!r}")

    def better(self, a: float, b: float | None) -> bool:
        if b is None or not math.isfinite(b):
            return math.isfinite(a)
        return a > b if self.higher else a < b


class _LowerIsBetter:
    @staticmethod
    def better(a: float, b: float | None) -> bool:
        return math.isfinite(a) and (b is None or not math.isfinite(b) or a < b)


_LOWER = _LowerIsBetter()


# -- history -----------------------------------------------------------------------------------
@dataclass
class History:
    """Per-epoch records of :func:`fit` (lists of equal length, one entry per finished epoch).

    ``val_*`` hold ``None`` without validation and ``*_metric`` ``None`` without a metric; ``lr``
    is the default group's rate at the epoch's last step; ``seconds`` include validation.
    ``evals`` holds ``(iteration, value)`` pairs of the validation metric (or the validation loss
    without a metric) every ``eval_every`` iterations.
    """

    train_loss: list[float] = field(default_factory=list)
    train_metric: list[float | None] = field(default_factory=list)
    val_loss: list[float | None] = field(default_factory=list)
    val_metric: list[float | None] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    evals: list[tuple[int, float]] = field(default_factory=list)
    metric: str | None = None
    best_epoch: int | None = None
    iterations: int = 0

    def to_dict(self) -> dict:
        """A JSON-able dict (lists of floats; ``evals`` as lists of two numbers)."""
        d = asdict(self)
        d["evals"] = [list(e) for e in self.evals]
        return d


# -- helpers -----------------------------------------------------------------------------------
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


def _snapshot(model) -> dict[str, dict[str, np.ndarray]]:
    return {"params": {k: a.copy() for k, a in model.params.items()},
            "buffers": {k: a.copy() for k, a in model.buffers.items()}}


def _restore(model, snap) -> None:
    for kind in ("params", "buffers"):
        target = getattr(model, kind)
        for k, a in snap[kind].items():
            target[k][...] = a


def _all_finite(model) -> bool:
    return all(np.isfinite(a).all() for d in (model.params, model.buffers) for a in d.values())


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
    metric : {"accuracy", "rmse"}, callable or None
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
    m = None if metric is None else _Metric(metric)
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


# -- training ----------------------------------------------------------------------------------
def _fmt(v) -> str:
    return "-" if v is None else f"{v:.4g}"


def fit(model, X: np.ndarray, y: np.ndarray, loss, optimizer, epochs: int, batch_size: int,
        validation: tuple[np.ndarray, np.ndarray] | None = None,
        rng: np.random.Generator | int | None = None, metric=None, eval_every: int | None = None,
        schedule=None, keep: str | None = "last", checkpoint: str | os.PathLike | None = None,
        verbose: bool = True, callbacks: list[Callable] | None = None,
        drop_last: bool = False, penalty: Callable | None = None) -> History:
    """Train ``model`` with mini-batches; returns the :class:`History`.

    Parameters
    ----------
    model : Module
    X : ndarray, shape (N, ...)
        Inputs; cast once to the model's dtype (the dtype of its first parameter).
    y : ndarray, shape (N,) or (N, K)
        Targets (float targets are cast like ``X``; integer labels are kept).
    loss : str or callable
        See :func:`evaluate`.
    optimizer : slaf_np.train.optim.Optimizer
    epochs, batch_size : int
        The last batch of an epoch may be smaller (see ``drop_last``).
    validation : (X_val, y_val), optional
        Evaluated (evaluation mode) at the end of each epoch and every ``eval_every`` iterations.
    rng : numpy.random.Generator or int
        Shuffles the samples each epoch. The same seed gives a bit-identical History and weights.
    metric : {"accuracy", "rmse"}, callable or None
        Training values come from the training-mode batch outputs of the epoch.
    eval_every : int, optional
        Also evaluate the validation metric every this many iterations (into ``History.evals``).
    schedule : slaf_np.train.optim.StepSchedule or callable with a ``unit``, optional
        ``optimizer.set_lr(schedule(t))`` before each iteration (``unit="iteration"``, t counting
        iterations from 0) or each epoch (``unit="epoch"``).
    keep : {"last", "best", None}
        ``"last"``: keep the final weights. ``"best"``: at the end restore the weights of the epoch
        with the best validation metric (the lowest validation loss without a metric); needs
        ``validation``. Both keep a copy of the last good weights for the divergence guard;
        ``None`` keeps no copy (a divergence leaves the weights as they were at the failing step).
    checkpoint : path, optional
        Saved (:func:`slaf_np.nn.io.save`, atomic) at the end of every epoch with finite weights, or
        with ``keep="best"`` whenever the validation result improves. ``extra`` holds the epoch,
        iteration, history and ``optimizer.state_dict()``.
    verbose : bool
        One line per epoch; a live in-place progress bar too when stdout is a terminal.
    callbacks : list of callables, optional
        Called at the end of each epoch with a dict (``epoch``, ``iteration``, ``history``,
        ``model``, ``optimizer``); one that returns ``True`` stops training.
    drop_last : bool
        Skip the incomplete last batch of each epoch (its rows still take part in the shuffle, so
        different rows are left out each epoch); the training loss and metric are over the rows
        used. Ignored when ``N < batch_size``.
    penalty : callable, optional
        ``penalty(model)`` after ``model.backward`` and before ``optimizer.step()``, to add terms
        to ``model.grads``, e.g. a :class:`slaf_np.train.optim.CoupledPenalty` (Keras-style regularisers
        whose gradients go through the optimiser).

    Raises
    ------
    TrainingDivergedError
        A batch loss, a value inside the network (training or validation forward) or, at the end
        of an epoch, a weight is NaN or infinite. The weights are first restored to the last
        good ones (the end of the last finite epoch, or the best with ``keep="best"``).
    """
    epochs = check_positive_int(epochs, "epochs", "fit")
    batch_size = check_positive_int(batch_size, "batch_size", "fit")
    if eval_every is not None:
        eval_every = check_positive_int(eval_every, "eval_every", "fit")
    if keep not in ("last", "best", None):
        raise ValueError(f"fit: keep must be 'last', 'best' or None, got {keep!r}")
    if (keep == "best" or eval_every) and validation is None:
        raise ValueError(f"fit: keep={keep!r} / eval_every={eval_every!r} need validation data")
    unit = getattr(schedule, "unit", "iteration") if schedule is not None else None
    if unit not in (None, "iteration", "epoch"):
        raise ValueError(f"fit: schedule.unit must be 'iteration' or 'epoch', got {unit!r}")
    if not (callable(getattr(optimizer, "step", None)) and hasattr(optimizer, "model")):
        raise TypeError(f"fit: optimizer must be a slaf_np.train.optim optimiser (e.g. Adam(model)), "
                        f"got {type(optimizer).__name__}")
    if optimizer.model is not model:
        raise ValueError("fit: the optimizer was built for another model; build it from the "
                         "model being trained, e.g. Adam(model, lr=...)")
    if y is None:
        raise ValueError("fit: y (the targets) is required, got None")
    if validation is not None and (not isinstance(validation, (tuple, list))
                                   or len(validation) != 2):
        raise ValueError(f"fit: validation must be a pair (X_val, y_val), got "
                         f"{type(validation).__name__} of length "
                         f"{len(validation) if hasattr(validation, '__len__') else '?'}")
    loss_fn = get_loss(loss)
    m = None if metric is None else _Metric(metric)
    rng = as_rng(rng)
    X, y = _prepare(model, X, y)
    n = len(X)
    if n == 0:
        raise ValueError("fit: X has no samples")
    if penalty is not None and not callable(penalty):
        raise TypeError(f"fit: penalty must be callable as penalty(model), got "
                        f"{type(penalty).__name__}")
    n_used = n - n % batch_size if drop_last and n >= batch_size else n
    if validation is not None:
        Xv, yv = _prepare(model, *validation, where="fit (validation)")
    hist = History(metric=None if m is None else m.name)
    good = _snapshot(model) if keep is not None else None
    good_epoch = 0
    best = best_score = None
    n_steps = len(list(_batches(n_used, batch_size, merge_single=True)))
    bar = verbose and sys.stdout.isatty()
    it = 0

    def validate(epoch, step):
        try:
            return evaluate(model, Xv, yv, loss_fn, metric, batch_size=max(batch_size, 1024))
        except NonFiniteError as e:
            diverged(epoch, step, f"validation: non-finite values inside the network ({e})")

    def diverged(epoch, step, what):
        restored = "not restored (keep=None)"
        if best is not None:
            _restore(model, best)
            restored = f"restored to the best epoch ({hist.best_epoch})"
        elif good is not None:
            _restore(model, good)
            restored = (f"restored to the end of epoch {good_epoch}" if good_epoch
                        else "restored to their initial values")
        kept = f"; checkpoint {checkpoint} holds the last good weights" if checkpoint else ""
        raise TrainingDivergedError(
            f"fit: training diverged at epoch {epoch}/{epochs}, step {step}/{n_steps} "
            f"(iteration {it}): {what}; weights {restored}{kept}. Lower the learning rate or "
            f"clip gradients (clip_norm)")

    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        if unit == "epoch":
            optimizer.set_lr(schedule(epoch - 1))
        perm = rng.permutation(n)
        total, ms, mn = 0.0, 0.0, 0
        last_draw = 0.0
        for step, (a, b) in enumerate(_batches(n_used, batch_size, merge_single=True), start=1):
            if unit == "iteration":
                optimizer.set_lr(schedule(it))
            it += 1
            optimizer.zero_grad()
            idx = perm[a:b]
            xb, yb = X.take(idx, axis=0), y.take(idx, axis=0)
            try:
                out = model.forward(xb, training=True)
            except NonFiniteError as e:  # the data are finite, so the weights overflowed
                diverged(epoch, step, f"non-finite values inside the network ({e})")
            value, dout = loss_fn(out, yb)
            if not math.isfinite(value):
                diverged(epoch, step, f"loss {value}")
            model.backward(dout)
            if penalty is not None:
                penalty(model)
            optimizer.step()
            total += value * (b - a)
            if m is not None:
                s, c = m.batch(out, yb)
                ms, mn = ms + s, mn + c
            if eval_every and it % eval_every == 0:
                vl, vm = validate(epoch, step)
                hist.evals.append((it, vl if vm is None else vm))
            if bar and (time.perf_counter() - last_draw > 0.1 or step == n_steps):
                last_draw = time.perf_counter()
                done = int(30 * step / n_steps)
                sys.stdout.write(f"\repoch {epoch}/{epochs} [{'=' * done}{' ' * (30 - done)}] "
                                 f"{step}/{n_steps} loss {total / b:.4g}")
                sys.stdout.flush()
        if not _all_finite(model):
            diverged(epoch, n_steps, "a weight or running statistic became non-finite")
        hist.train_loss.append(total / n_used)
        hist.train_metric.append(None if m is None else m.finish(ms / mn))
        vl = vm = None
        if validation is not None:
            vl, vm = validate(epoch, n_steps)
        hist.val_loss.append(vl)
        hist.val_metric.append(vm)
        hist.lr.append(optimizer.current_lr)
        hist.iterations = it
        improved = False
        if keep == "best":
            score = vl if vm is None else vm
            if (m if m is not None else _LOWER).better(score, best_score):
                best_score, best, improved = score, _snapshot(model), True
                hist.best_epoch = epoch
        elif keep == "last":
            good, good_epoch = _snapshot(model), epoch
        if checkpoint is not None and (keep != "best" or improved):
            from ..nn.io import save

            save(model, checkpoint, extra={"epoch": epoch, "iteration": it,
                                           "history": hist.to_dict(),
                                           "optimizer": optimizer.state_dict()})
        hist.seconds.append(time.perf_counter() - t0)
        if verbose:
            line = f"epoch {epoch}/{epochs}  loss {_fmt(hist.train_loss[-1])}"
            if m is not None:
                line += f"  {m.name} {_fmt(hist.train_metric[-1])}"
            if validation is not None:
                line += f"  val_loss {_fmt(vl)}"
                if m is not None:
                    line += f"  val_{m.name} {_fmt(vm)}"
            line += f"  lr {optimizer.current_lr:.3g}  {hist.seconds[-1]:.1f}s"
            print(("\r" + " " * 79 + "\r" if bar else "") + line, flush=True)
        stop = False
        for cb in callbacks or ():
            stop |= bool(cb({"epoch": epoch, "iteration": it, "history": hist, "model": model,
                             "optimizer": optimizer}))
        if stop:
            break
    if keep == "best" and best_score is not None:
        _restore(model, best)
    return hist
