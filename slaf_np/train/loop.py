"""The training loop: :func:`fit` (and, re-exported, :func:`evaluate` and :func:`predict`).

``fit`` is a short loop over a :class:`Run` (what is trained and where the run is) that calls
callbacks (:mod:`slaf_np.train.callbacks`) for everything else: schedules, periodic evaluation,
keeping the last good or best weights, checkpoints (:mod:`slaf_np.train.checkpoint`), progress.
One epoch::

    perm = rng.permutation(N)                                   # once per epoch
    for each slice idx = perm[a:b] of batch_size indices:
        xb, yb = X[idx], y[idx]                                 # one contiguous gather
        optimizer.zero_grad()
        loss, dout = loss_fn(model.forward(xb, training=True), yb)
        model.backward(dout); penalty(model)                     # penalty optional
        optimizer.step()

(gathering per batch copies the same bytes as one shuffled copy of the data set, but needs no
data-set-sized temporary, whose first touch costs page faults every epoch), then validation in
evaluation mode and the epoch's records. A non-finite batch loss (or non-finite weights at the end
of an epoch or at a checkpoint) stops training with :class:`TrainingDivergedError`, after
restoring the last good weights; the checkpoint file on disk is only ever written with finite
weights (atomically), so it stays the last good one.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable

import numpy as np

from ..nn.base import NonFiniteError, as_rng, check_positive_int, check_range
from .calibration import recalibrate, statistic_layers
from .callbacks import (
    Callback,
    Diverged,
    EpochEndFunction,
    EvalEvery,
    KeepBest,
    KeepLast,
    Progress,
    Schedule,
    all_finite,
)
from .checkpoint import Checkpoint
from .evaluation import _batches, _check_targets, _prepare, evaluate, predict
from .history import History
from .losses import get_loss
from .metrics import METRICS, Metric, accuracy, rmse

__all__ = ["fit", "run_loop", "Run", "TrainingDivergedError", "evaluate", "predict", "History",
           "accuracy", "rmse", "METRICS"]


class TrainingDivergedError(ValueError):
    """The training loss became NaN or infinite; the message names the epoch and step."""


# -- the run -----------------------------------------------------------------------------------
class Run:
    """A call of :func:`fit` in progress: what it trains, where it is and what it recorded.

    Callbacks read it (and set ``stop``); a checkpoint saves it. The position: ``epoch`` is the
    epoch in progress (1-based) or, between epochs, the last finished one; ``step`` the batches
    done in it; ``iteration`` the batches done in the run; ``perm`` the epoch's sample order
    while it is in progress (else ``None``); ``totals`` the epoch's loss sum, metric sum and
    metric count so far.
    """

    def __init__(self, model, optimizer, X, y, loss, metric, validation, rng, epochs: int,
                 batch_size: int, drop_last: bool, penalty, callbacks: list[Callback],
                 calibrate: bool = False) -> None:
        self.model, self.optimizer, self.X, self.y = model, optimizer, X, y
        self.loss, self.loss_fn, self.penalty = loss, get_loss(loss), penalty
        self.metric = metric if metric is None or isinstance(metric, Metric) else Metric(metric)
        self.validation, self.rng, self.epochs = validation, rng, epochs
        self.batch_size, self.drop_last = batch_size, drop_last
        n = len(X)
        self.n_used = n - n % batch_size if drop_last and n >= batch_size else n
        self.batches = list(_batches(self.n_used, batch_size, merge_single=True))
        self.n_steps = len(self.batches)
        self.history = History(metric=None if self.metric is None else self.metric.name)
        self.callbacks = callbacks
        self.keep = next((cb for cb in callbacks if isinstance(cb, KeepLast)), None)
        self.epoch = self.step = self.iteration = 0
        self.perm: np.ndarray | None = None
        self.totals = [0.0, 0.0, 0]
        self.stop = False
        # calibrate: re-estimate the running statistics before each validation and at the end
        # (only when the model has some); calibrated: they are exact for the current weights
        self.calibrate = bool(calibrate) and bool(statistic_layers(model))
        self.calibrated = False
        self.restart_clock(0.0)

    def restart_clock(self, seconds: float) -> None:
        """The epoch has taken ``seconds`` so far (not 0 when resuming mid-epoch)."""
        self._t0 = time.perf_counter() - seconds

    def epoch_seconds(self) -> float:
        return time.perf_counter() - self._t0

    def begin_epoch(self) -> None:
        self.epoch, self.step = self.epoch + 1, 0
        self.perm = self.rng.permutation(len(self.X))
        self.totals = [0.0, 0.0, 0]
        self.restart_clock(0.0)

    def train_step(self) -> None:
        """One optimiser step on the next batch of the epoch."""
        a, b = self.batches[self.step]
        self.step += 1
        self.iteration += 1
        self.calibrated = False
        self.optimizer.zero_grad()
        idx = self.perm[a:b]
        xb, yb = self.X.take(idx, axis=0), self.y.take(idx, axis=0)
        try:
            out = self.model.forward(xb, training=True)
        except NonFiniteError as e:  # the data are finite, so the weights overflowed
            raise Diverged(f"non-finite values inside the network ({e})") from e
        value, dout = self.loss_fn(out, yb)
        value = float(value)
        if not math.isfinite(value):
            raise Diverged(f"loss {value}")
        self.model.backward(dout)
        if self.penalty is not None:
            self.penalty(self.model)
        try:
            self.optimizer.step()
        except FloatingPointError as e:  # clipping refuses non-finite gradients (finite loss)
            raise Diverged(str(e)) from e
        self.totals[0] += value * (b - a)
        if self.metric is not None:
            s, c = self.metric.batch(out, yb)
            self.totals[1] += s
            self.totals[2] += c

    def calibrate_statistics(self) -> None:
        """With ``calibrate``: set the running statistics to their exact values over the training
        inputs for the current weights (:func:`~slaf_np.train.calibration.recalibrate`), once
        per change of the weights. Parameters are not touched, and training-mode forwards use
        batch statistics, so the weights' trajectory is the same as without it."""
        if not self.calibrate or self.calibrated:
            return
        try:
            recalibrate(self.model, self.X)
        except NonFiniteError as e:
            raise Diverged(f"recalibration: non-finite values inside the network ({e})") from e
        self.calibrated = True

    def validate(self) -> tuple[float, float | None]:
        """Loss and metric on the validation data, in evaluation mode (after
        :meth:`calibrate_statistics`)."""
        Xv, yv = self.validation
        self.calibrate_statistics()
        try:
            return evaluate(self.model, Xv, yv, self.loss_fn, self.metric,
                            batch_size=max(self.batch_size, 1024))
        except NonFiniteError as e:
            raise Diverged(f"validation: non-finite values inside the network ({e})") from e

    def end_epoch(self) -> None:
        """Check the weights and record the epoch: training sums, validation, lr, seconds."""
        if not all_finite(self.model):
            raise Diverged("a weight or running statistic became non-finite")
        h, (total, ms, mn) = self.history, self.totals
        h.train_loss.append(total / self.n_used)
        h.train_metric.append(None if self.metric is None else self.metric.finish(ms / mn))
        vl, vm = (None, None) if self.validation is None else self.validate()
        h.val_loss.append(vl)
        h.val_metric.append(vm)
        h.lr.append(self.optimizer.current_lr)
        h.iterations = self.iteration
        h.seconds.append(self.epoch_seconds())
        self.perm = None

    def divergence_message(self, what: str) -> str:
        """Let every callback react (restore weights), then say where and what happened."""
        done = [p for cb in self.callbacks if (p := cb.on_divergence(self))]
        if self.keep is None:
            done.insert(0, "weights not restored (keep=None)")
        return (f"fit: training diverged at epoch {self.epoch}/{self.epochs}, step "
                f"{self.step}/{self.n_steps} (iteration {self.iteration}): {what}; "
                f"{'; '.join(done)}. Lower the learning rate or clip gradients (clip_norm)")


def run_loop(run: Run, resume_from: Checkpoint | None = None,
             verbose: bool = False) -> History:
    """The loop: epochs of steps, each hook called on every callback in order; first, with
    ``resume_from``, the run continues from that checkpoint if its file exists."""
    hooks = run.callbacks
    for cb in hooks:
        cb.on_train_begin(run)
    if resume_from is not None and resume_from.restore(run) and verbose:
        where = (f"the end of epoch {run.epoch}" if run.perm is None else
                 f"epoch {run.epoch}, step {run.step}/{run.n_steps}")
        print(f"fit: resumed from {resume_from.path} at {where} (iteration {run.iteration})",
              flush=True)
    try:
        while not run.stop:
            if run.perm is None:  # between epochs
                if run.epoch >= run.epochs:
                    break
                run.begin_epoch()
                for cb in hooks:
                    cb.on_epoch_begin(run)
            while run.step < run.n_steps:
                for cb in hooks:
                    cb.on_batch_begin(run)
                run.train_step()
                for cb in hooks:
                    cb.on_batch_end(run)
            run.end_epoch()
            for cb in hooks:
                cb.on_epoch_end(run)
        run.calibrate_statistics()  # the returned model's statistics are exact
    except Diverged as e:
        raise TrainingDivergedError(run.divergence_message(str(e))) from e.__cause__
    for cb in hooks:
        cb.on_train_end(run)
    return run.history


# -- fit ---------------------------------------------------------------------------------------
def fit(model, X: np.ndarray, y: np.ndarray, loss, optimizer, epochs: int, batch_size: int,
        validation: tuple[np.ndarray, np.ndarray] | None = None,
        rng: np.random.Generator | int | None = None, metric=None, eval_every: int | None = None,
        schedule=None, keep: str | None = "last", checkpoint: str | os.PathLike | None = None,
        verbose: bool = True, callbacks: list[Callback | Callable] | None = None,
        drop_last: bool = False, penalty: Callable | None = None,
        checkpoint_every: int | None = None, checkpoint_seconds: float | None = None,
        resume: bool = False, calibrate: bool = True) -> History:
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
        A model file (:func:`slaf_np.nn.io.load` reads it) holding the weights ``fit`` would
        return if it ended now (the best so far with ``keep="best"``), and in its ``extra`` the
        epoch, iteration, history, ``optimizer.state_dict()`` and everything ``resume`` needs
        (:mod:`slaf_np.train.checkpoint`). Written atomically and only with finite weights, at the
        end of every epoch (with ``keep="best"``: whenever the validation result improves), and
        as ``checkpoint_every`` / ``checkpoint_seconds`` say.
    verbose : bool
        One line per epoch (with the run's ETA); a live progress bar too when stdout is a
        terminal or in a notebook (:class:`~slaf_np.train.callbacks.Progress`).
    callbacks : list of Callback or callables, optional
        :class:`slaf_np.train.callbacks.Callback` objects, called after the built-in ones (see
        that module for the hooks). A plain function is called at the end of each epoch with a
        dict (``epoch``, ``iteration``, ``history``, ``model``, ``optimizer``); one that
        returns ``True`` stops training.
    drop_last : bool
        Skip the incomplete last batch of each epoch (its rows still take part in the shuffle, so
        different rows are left out each epoch); the training loss and metric are over the rows
        used. Ignored when ``N < batch_size``.
    penalty : callable, optional
        ``penalty(model)`` after ``model.backward`` and before ``optimizer.step()``, to add terms
        to ``model.grads``, e.g. a :class:`slaf_np.train.optim.CoupledPenalty` (Keras-style
        regularisers whose gradients go through the optimiser).
    checkpoint_every : int, optional
        Also write the checkpoint every this many iterations, mid-epoch included.
    checkpoint_seconds : float, optional
        Also write the checkpoint when this many seconds have passed since the last write.
    calibrate : bool
        Re-estimate the running statistics exactly before each validation and at the end (see
        Notes). A checkpoint records it; resuming with the other setting is refused.
    resume : bool
        If the ``checkpoint`` file exists, continue the run it holds: the model's parameters and
        buffers, the optimiser state, the position inside the epoch, the rngs (``rng`` and every
        Generator a layer holds, e.g. ``Dropout.rng``), the history and the callbacks' state are
        put back, and the result is bit for bit that of a run never stopped (a killed process
        loses only the iterations since the last write). Build the model, optimiser and rng as
        for the first call: their values are replaced, their settings are checked. A
        checkpoint of another architecture, data set or setting is refused with a ValueError
        naming the difference; ``epochs`` may be larger, to extend a finished run. Without the
        file, training starts afresh.

    Returns
    -------
    History
        Of the whole run, the part before a resume included.

    Notes
    -----
    **Running statistics** (``calibrate``). The evaluation-mode network uses running statistics
    (SLAF, BatchNorm, MaxScale), exponential averages over about ``1 / (1 - decay)`` batches of
    statistics taken under weights that kept moving; for the high powers a SLAF standardises they
    lag the weights, so an evaluation with them is not the trained network's (a regression
    logged ``val_rmse 1.152`` that was 0.302 with exact statistics). With ``calibrate=True``
    (default) ``fit`` calls :func:`slaf_np.train.calibration.recalibrate` on the training inputs
    ``X`` before each validation (end of epoch, ``eval_every``) and once at the end if the
    weights moved since, so every validation number recorded and printed equals
    ``evaluate(model, X_val, y_val, ...)`` of the weights it scores, ``keep="best"`` keeps and
    checkpoints hold those exact statistics, and the model returned is the one to deploy (no
    ``recalibrate`` needed after ``fit``). It changes only buffers, never parameters, and
    training-mode forwards use batch statistics, so the weights are bit for bit those of
    ``calibrate=False``. Cost: each calibration runs the evaluation-mode prefix of the model
    before each statistic layer over ``X`` (``L`` statistic layers: about ``L**2 / 2`` layer
    passes over the training set, no backward, no stored activations); with validation each
    epoch that is well under one extra epoch for the usual 1-3 such layers, and nothing when the
    model has none. ``calibrate=False`` keeps the running averages (the behaviour before this
    option, e.g. to measure their lag).

    Raises
    ------
    ValueError, TypeError
        Bad input, found before the first forward (a call that fails changes nothing): the
        arguments above; ``X`` and ``y`` lengths; non-finite ``X`` or ``y``; targets the loss
        rejects for the model's output shape (labels not integers or out of range for
        ``softmax_cross_entropy``, targets outside [0, 1] for the binary cross entropy, another
        shape for ``mse``; checked on every row, the validation data's too);
        ``metric="accuracy"`` on targets that are not class labels; a ``checkpoint`` path where
        no file can be written.
    TrainingDivergedError
        A batch loss, a value inside the network (training or validation forward) or, at the end
        of an epoch or a checkpoint, a weight is NaN or infinite. The weights are first restored
        to the last good ones (the end of the last finite epoch or the last checkpoint, or the
        best with ``keep="best"``).

    Examples
    --------
    An hours-long run that survives being killed: call the same line again to continue it::

        fit(model, X, y, "softmax_cross_entropy", Adam(model), epochs=100, batch_size=128,
            rng=0, checkpoint="run.npz", checkpoint_every=500, resume=True)
    """
    epochs = check_positive_int(epochs, "epochs", "fit")
    batch_size = check_positive_int(batch_size, "batch_size", "fit")
    if eval_every is not None:
        eval_every = check_positive_int(eval_every, "eval_every", "fit")
    if checkpoint_every is not None:
        checkpoint_every = check_positive_int(checkpoint_every, "checkpoint_every", "fit")
    if keep not in ("last", "best", None):
        raise ValueError(f"fit: keep must be 'last', 'best' or None, got {keep!r}")
    if (keep == "best" or eval_every) and validation is None:
        raise ValueError(f"fit: keep={keep!r} / eval_every={eval_every!r} need validation data")
    if checkpoint_seconds is not None:
        checkpoint_seconds = check_range(checkpoint_seconds, "checkpoint_seconds", "fit", 0.0,
                                         np.inf)
    if checkpoint is None and (checkpoint_every or checkpoint_seconds is not None):
        raise ValueError("fit: checkpoint_every / checkpoint_seconds need checkpoint=PATH")
    if not (callable(getattr(optimizer, "step", None)) and hasattr(optimizer, "model")):
        raise TypeError(f"fit: optimizer must be a slaf_np.train.optim optimiser (e.g. "
                        f"Adam(model)), got {type(optimizer).__name__}")
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
    if penalty is not None and not callable(penalty):
        raise TypeError(f"fit: penalty must be callable as penalty(model), got "
                        f"{type(penalty).__name__}")
    rng = as_rng(rng)
    X, y = _prepare(model, X, y)
    if len(X) == 0:
        raise ValueError("fit: X has no samples")
    metric = None if metric is None else Metric(metric)
    get_loss(loss)
    # every input is checked before the first forward: a call that fails changes nothing
    _check_targets(model, X, y, loss, metric, "fit")
    if validation is not None:
        validation = _prepare(model, *validation, where="fit (validation)")
        if len(validation[0]) == 0:
            raise ValueError("fit: validation X has no samples; pass validation=None or data")
        _check_targets(model, *validation, loss, metric, "fit (validation)")
    hooks = _callbacks(schedule, eval_every, keep, checkpoint, checkpoint_every,
                       checkpoint_seconds, verbose, callbacks)
    ckpts = [cb for cb in hooks if isinstance(cb, Checkpoint)]
    for cb in ckpts:
        cb.check_writable()
    if resume and not ckpts:
        raise ValueError("fit: resume=True needs checkpoint=PATH (the file to continue from)")
    run = Run(model, optimizer, X, y, loss, metric, validation, rng, epochs, batch_size,
              drop_last, penalty, hooks, calibrate=calibrate)
    return run_loop(run, ckpts[0] if resume else None, verbose=verbose)


def _callbacks(schedule, eval_every, keep, checkpoint, checkpoint_every, checkpoint_seconds,
               verbose, user) -> list[Callback]:
    """fit's keywords as callbacks, in the order they are called, then the user's."""
    hooks: list[Callback] = []
    if schedule is not None:
        hooks.append(Schedule(schedule))
    if eval_every:
        hooks.append(EvalEvery(eval_every))
    if keep is not None:
        hooks.append(KeepBest() if keep == "best" else KeepLast())
    if checkpoint is not None:
        hooks.append(Checkpoint(checkpoint, every=checkpoint_every, seconds=checkpoint_seconds))
    if verbose:
        hooks.append(Progress())
    for cb in user or ():
        if not isinstance(cb, Callback) and not callable(cb):
            raise TypeError(f"fit: callbacks must hold Callback objects or functions f(info), "
                            f"got {type(cb).__name__}")
        hooks.append(cb if isinstance(cb, Callback) else EpochEndFunction(cb))
    for kind, what in ((KeepLast, "keep="), (Checkpoint, "checkpoint=")):
        if sum(isinstance(cb, kind) for cb in hooks) > 1:
            raise ValueError(f"fit: more than one {kind.__name__} (from {what} and callbacks); "
                             f"pass {what}None when callbacks holds one")
    return hooks
