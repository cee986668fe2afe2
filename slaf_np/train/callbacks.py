"""Callbacks: everything :func:`slaf_np.train.fit` does besides the training step.

The loop calls each callback's hooks in list order (the shape of Keras' and Lightning's)::

    on_train_begin(run)
    for each epoch:
        on_epoch_begin(run)
        for each batch:  on_batch_begin(run); <one training step>; on_batch_end(run)
        <the epoch's records: training loss and metric, validation, lr, seconds>
        on_epoch_end(run)
    on_train_end(run)

and, when training diverges, ``on_divergence(run)``, which undoes what it can and returns a phrase
for the error message (or ``None``). ``run`` is the :class:`slaf_np.train.loop.Run` in progress:
the model, optimiser, history and position (``epoch``, ``step``, ``iteration``); a callback stops
training at the end of the epoch by setting ``run.stop = True``, and reports a divergence it finds
by raising :class:`Diverged`. A callback whose state must survive a checkpoint returns it from
``state_dict()`` (JSON-able values and NumPy arrays) and takes it back in ``load_state_dict``.

:func:`~slaf_np.train.fit`'s keywords build the built-in ones, in this order: :class:`Schedule`
(``schedule=``), :class:`EvalEvery` (``eval_every=``), :class:`KeepLast` / :class:`KeepBest`
(``keep=``), :class:`~slaf_np.train.checkpoint.Checkpoint` (``checkpoint=``), :class:`Progress`
(``verbose=``), then the user's, a plain function ``f(info) -> stop`` wrapped in
:class:`EpochEndFunction`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import numpy as np

from .metrics import LOWER_IS_BETTER

__all__ = ["Callback", "Diverged", "Schedule", "EvalEvery", "KeepLast", "KeepBest", "Progress",
           "EpochEndFunction", "snapshot", "restore", "all_finite"]


class Diverged(Exception):
    """Raised inside the loop (by the step or a callback) when training diverges; the loop turns
    it into a :class:`~slaf_np.train.loop.TrainingDivergedError` after ``on_divergence``."""


class Callback:
    """Base class: every hook does nothing; override the ones you need."""

    def on_train_begin(self, run) -> None: ...
    def on_epoch_begin(self, run) -> None: ...
    def on_batch_begin(self, run) -> None: ...
    def on_batch_end(self, run) -> None: ...
    def on_epoch_end(self, run) -> None: ...
    def on_train_end(self, run) -> None: ...

    def on_divergence(self, run) -> str | None:
        return None

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


# -- model state -------------------------------------------------------------------------------
def snapshot(model) -> dict[str, dict[str, np.ndarray]]:
    """Copies of every parameter and buffer: ``{"params": {...}, "buffers": {...}}``."""
    return {"params": {k: a.copy() for k, a in model.params.items()},
            "buffers": {k: a.copy() for k, a in model.buffers.items()}}


def restore(model, snap) -> None:
    """Copy a :func:`snapshot` back into the model's arrays, in place."""
    for kind in ("params", "buffers"):
        target = getattr(model, kind)
        for k, a in snap[kind].items():
            target[k][...] = a


def all_finite(model) -> bool:
    return all(np.isfinite(a).all() for d in (model.params, model.buffers) for a in d.values())


# -- the built-in callbacks --------------------------------------------------------------------
class Schedule(Callback):
    """``optimizer.set_lr(schedule(t))`` before each iteration (``schedule.unit == "iteration"``,
    the default; ``t`` counts iterations from 0) or each epoch (``unit == "epoch"``, ``t`` counts
    epochs from 0), e.g. a :class:`slaf_np.train.optim.StepSchedule`."""

    def __init__(self, schedule: Callable[[int], float]) -> None:
        self.unit = getattr(schedule, "unit", "iteration")
        if self.unit not in ("iteration", "epoch"):
            raise ValueError(f"fit: schedule.unit must be 'iteration' or 'epoch', got "
                             f"{self.unit!r}")
        if not callable(schedule):
            raise TypeError(f"fit: schedule must be callable as schedule(t) -> rate (e.g. "
                            f"StepSchedule([(0, 1e-2), (3000, 1e-3)]) or a function), got "
                            f"{type(schedule).__name__} {schedule!r}")
        self.schedule = schedule

    def on_epoch_begin(self, run) -> None:
        if self.unit == "epoch":
            run.optimizer.set_lr(self.schedule(run.epoch - 1))

    def on_batch_begin(self, run) -> None:
        if self.unit == "iteration":
            run.optimizer.set_lr(self.schedule(run.iteration))

    def __repr__(self) -> str:
        return f"Schedule({self.schedule!r})"


class EvalEvery(Callback):
    """Evaluate on the validation data every ``every`` iterations, appending ``(iteration, value)``
    to ``history.evals`` (the metric, or the loss without one)."""

    def __init__(self, every: int) -> None:
        self.every = every

    def on_train_begin(self, run) -> None:
        if run.validation is None:
            raise ValueError(f"fit: eval_every={self.every} needs validation data; pass "
                             f"validation=(X_val, y_val)")

    def on_batch_end(self, run) -> None:
        if run.iteration % self.every == 0:
            vl, vm = run.validate()
            run.history.evals.append((run.iteration, vl if vm is None else vm))

    def __repr__(self) -> str:
        return f"EvalEvery({self.every})"


class KeepLast(Callback):
    """``fit`` returns the final weights; a copy of the last good ones (taken at the end of each
    finite epoch and at each checkpoint) is what a divergence restores.

    With a checkpoint, the file's model is the current weights (:meth:`kept` is ``None``), so after
    a divergence the model in memory and the one on disk are the same.
    """

    def on_train_begin(self, run) -> None:
        self.good, self.good_at = snapshot(run.model), "their initial values"
        self.updated = False  # did this epoch change the weights a checkpoint should hold?

    def mark_good(self, run, where: str) -> None:
        """The current weights are good (finite): a divergence will come back to them."""
        self.good, self.good_at = snapshot(run.model), where

    def on_epoch_end(self, run) -> None:
        self.mark_good(run, f"the end of epoch {run.epoch}")
        self.updated = True

    def kept(self) -> dict | None:
        """The weights a checkpoint stores as its model (``None``: the current ones)."""
        return None

    def resumed(self, run, kept: dict | None) -> None:
        """After a checkpoint was loaded: the model holds the checkpoint's current weights, which
        were good when written; ``kept`` is the file's model when it is not those."""
        self.good = snapshot(run.model)

    def on_divergence(self, run) -> str:
        restore(run.model, self.good)
        return f"weights restored to {self.good_at}"

    def state_dict(self) -> dict:
        return {"good_at": self.good_at}

    def load_state_dict(self, state: dict) -> None:
        self.good_at = state["good_at"]


class KeepBest(KeepLast):
    """At the end, restore the weights of the epoch with the best validation metric (the lowest
    validation loss without a metric; the first of equal ones); a divergence restores them too
    (or the last good weights before any epoch was scored). Needs validation data.

    With a checkpoint, the file's model is the best weights so far (the current ones go into the
    file's resume state), and the file is written whenever they improve.
    """

    def on_train_begin(self, run) -> None:
        if run.validation is None:
            raise ValueError("fit: keep='best' needs validation data; pass validation=(X_val, "
                             "y_val), or keep='last'")
        super().on_train_begin(run)
        self.rule = run.metric if run.metric is not None else LOWER_IS_BETTER
        self.best = self.best_score = None

    def on_epoch_end(self, run) -> None:
        self.mark_good(run, f"the end of epoch {run.epoch}")
        h = run.history
        score = h.val_loss[-1] if h.val_metric[-1] is None else h.val_metric[-1]
        self.updated = self.rule.better(score, self.best_score)
        if self.updated:
            self.best_score, self.best = score, snapshot(run.model)
            h.best_epoch = run.epoch

    def kept(self) -> dict | None:
        return self.best

    def resumed(self, run, kept: dict | None) -> None:
        super().resumed(run, kept)
        if self.best_score is not None:
            self.best = kept if kept is not None else snapshot(run.model)

    def on_divergence(self, run) -> str:
        if self.best is None:
            return super().on_divergence(run)
        restore(run.model, self.best)
        return f"weights restored to the best epoch ({run.history.best_epoch})"

    def on_train_end(self, run) -> None:
        if self.best is not None:
            restore(run.model, self.best)

    def state_dict(self) -> dict:
        return {**super().state_dict(), "best_score": self.best_score}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.best_score = state["best_score"]


def _fmt(v) -> str:
    return "-" if v is None else f"{v:.4g}"


def _duration(seconds: float) -> str:
    """``45s``, ``1m20s``, ``2h05m``: a duration to the precision an estimate deserves."""
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def _in_notebook() -> bool:
    """Whether ``tqdm.auto`` draws its notebook widget here (a Jupyter kernel with ipywidgets)."""
    import tqdm.auto  # noqa: F401  (imported first: it silences autonotebook's warning)
    from tqdm import autonotebook, std

    return autonotebook.tqdm is not std.tqdm


class Progress(Callback):
    """One line per epoch on stdout and, when ``bar``, a live progress bar during the epoch.

    The line: ``epoch 3/10  loss 0.1234  [metric]  [val_loss ...  val_metric ...]  lr 0.001
    0.8s  eta 6s``, where ``eta`` (absent after the last epoch) is the run's time left, the
    median epoch time so far times the epochs left (the median, because the first epoch also
    pays for numba's compilation).

    The bar is ``tqdm.auto``'s: a widget in a Jupyter notebook, a text bar elsewhere, written to
    stdout with the batches done, the rate, the epoch's ETA and its running loss. It is removed
    at the end of each epoch (and when training diverges) before the epoch's line is printed, so
    the output keeps one clean line per epoch. ``bar=None`` (the default) draws it when stdout is
    a terminal or the code runs in a notebook, never when stdout goes to a file or a pipe;
    ``True`` or ``False`` decide.
    """

    def __init__(self, bar: bool | None = None) -> None:
        self.bar = bar
        self.pbar = None

    def on_train_begin(self, run) -> None:
        self.draw = self.bar if self.bar is not None else (sys.stdout.isatty() or _in_notebook())
        self.pbar = None

    def on_batch_begin(self, run) -> None:
        if self.draw and self.pbar is None:   # also the first batch after resuming mid-epoch
            from tqdm.auto import tqdm

            self.pbar = tqdm(total=run.n_steps, initial=run.step, file=sys.stdout, leave=False,
                             desc=f"epoch {run.epoch}/{run.epochs}", unit="batch")

    def on_batch_end(self, run) -> None:
        if self.pbar is not None:
            rows = run.batches[run.step - 1][1]
            self.pbar.set_postfix_str(f"loss {run.totals[0] / rows:.4g}", refresh=False)
            self.pbar.update(1)

    def close_bar(self) -> None:
        """Remove the bar (its line is cleared), if one is drawn."""
        if self.pbar is not None:
            self.pbar.close()
            self.pbar = None

    def on_epoch_end(self, run) -> None:
        self.close_bar()
        h, m = run.history, run.metric
        line = f"epoch {run.epoch}/{run.epochs}  loss {_fmt(h.train_loss[-1])}"
        if m is not None:
            line += f"  {m.name} {_fmt(h.train_metric[-1])}"
        if run.validation is not None:
            line += f"  val_loss {_fmt(h.val_loss[-1])}"
            if m is not None:
                line += f"  val_{m.name} {_fmt(h.val_metric[-1])}"
        line += f"  lr {run.optimizer.current_lr:.3g}  {h.seconds[-1]:.1f}s"
        if run.epoch < run.epochs:
            line += f"  eta {_duration(float(np.median(h.seconds)) * (run.epochs - run.epoch))}"
        print(line, flush=True)

    def on_train_end(self, run) -> None:
        self.close_bar()

    def on_divergence(self, run) -> None:
        self.close_bar()
        return None

    def __repr__(self) -> str:
        return f"Progress(bar={self.bar!r})"


class EpochEndFunction(Callback):
    """A plain function as a callback: ``f(info)`` at the end of each epoch, with ``info`` a dict
    of ``epoch``, ``iteration``, ``history``, ``model`` and ``optimizer``; returning ``True``
    stops training."""

    def __init__(self, f: Callable[[dict], bool | None]) -> None:
        self.f = f

    def on_epoch_end(self, run) -> None:
        info = {"epoch": run.epoch, "iteration": run.iteration, "history": run.history,
                "model": run.model, "optimizer": run.optimizer}
        if self.f(info):
            run.stop = True

    def __repr__(self) -> str:
        return f"EpochEndFunction({getattr(self.f, '__qualname__', self.f)!r})"
