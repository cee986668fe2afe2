"""Checkpoints of a training run, and resuming from one bit for bit.

A checkpoint is an ordinary model file (:func:`slaf_np.nn.io.save`, written atomically, only ever
with finite weights) whose model is the weights ``fit`` would return if it ended now: the best so
far with ``keep="best"``, else the current ones. :func:`slaf_np.nn.io.load` reads it as a model.
Its ``extra`` holds::

    epoch        finished epochs            iteration   optimizer steps taken
    history      History.to_dict()          optimizer   optimizer.state_dict()
    resume       what continuing needs:
        config     the run's settings and data checksums (a checkpoint of another run is refused)
        epoch, step, perm, totals, seconds
                   the position inside the epoch in progress (perm: its sample order, None
                   between epochs) and the epoch's sums so far
        rngs       bit-generator states of fit's rng and of every Generator a layer holds
                   (e.g. Dropout.rng), keyed "fit" and "<layer key>.<attribute>"
        callbacks  each stateful callback's state_dict(), keyed by class name
        weights    the current params and buffers, when the file's model is other weights
                   (the best so far, with keep="best")

Resuming (``fit(..., checkpoint=path, resume=True)``, or :meth:`Checkpoint.restore`) puts all of
it back into the model, optimiser, rngs, history and callbacks, so the run continues exactly as if
it had not stopped: same History, weights, buffers and optimiser state, bit for bit. Everything a
layer changes while training must therefore live in its ``params``, ``buffers`` or a
``numpy.random.Generator`` attribute.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np

from ..nn import io
from ..nn.base import check_positive_int, check_range
from .callbacks import Callback, Diverged, Schedule, all_finite, restore, snapshot
from .history import History

__all__ = ["Checkpoint", "run_config", "layer_generators"]

FORMAT = 1  # of extra["resume"]


def layer_generators(model, prefix: str = "") -> dict[str, np.random.Generator]:
    """Every ``numpy.random.Generator`` held as an attribute of a leaf module, keyed like the
    module's parameters (``"3.rng"`` for ``Sequential(...)[3].rng``)."""
    layers = getattr(model, "layers", None)
    if isinstance(layers, list):
        out = {}
        for i, m in enumerate(layers):
            out.update(layer_generators(m, f"{prefix}{i}."))
        return out
    return {prefix + name: g for name, g in vars(model).items()
            if isinstance(g, np.random.Generator)}


def _name(obj) -> str | None:
    """A description of a setting that is the same in every process (no memory addresses)."""
    if obj is None or isinstance(obj, str):
        return obj
    name = getattr(obj, "__qualname__", None)
    if name is not None:
        return f"{getattr(obj, '__module__', '?')}.{name}"
    return re.sub(r" at 0x[0-9a-fA-F]+", "", repr(obj))


def _data(X: np.ndarray, y: np.ndarray) -> dict:
    y = np.ascontiguousarray(y)
    return {"shapes": [list(X.shape), list(y.shape)], "dtypes": [X.dtype.str, y.dtype.str],
            "crc32": [zlib.crc32(X), zlib.crc32(y)]}


def run_config(run) -> dict:
    """The settings a checkpoint must share with the run that resumes from it: the data (shapes,
    dtypes, CRC-32 checksums), batching, loss, metric, optimiser, penalty, schedules, the rngs
    and the stateful callbacks. (The architecture is compared separately; ``epochs`` may grow, to
    extend a finished run.)"""
    config = {"data": _data(run.X, run.y),
            "validation": None if run.validation is None else _data(*run.validation),
            "batch_size": run.batch_size, "drop_last": run.drop_last,
            "loss": _name(run.loss), "metric": None if run.metric is None else run.metric.name,
            "optimizer": _name(run.optimizer), "penalty": _name(run.penalty),
            "schedules": [_name(cb.schedule) for cb in run.callbacks if isinstance(cb, Schedule)],
            "rngs": sorted(_generators(run)), "callbacks": sorted(_stateful(run))}
    if run.calibrate:  # absent in files written before the option (which did not calibrate)
        config["calibrate"] = True
    return config


def _generators(run) -> dict[str, np.random.Generator]:
    return {"fit": run.rng, **layer_generators(run.model)}


def _stateful(run) -> dict[str, Callback]:
    """The callbacks with a state to save, keyed by class name (``"Name#2"`` for a second one)."""
    out, seen = {}, {}
    for cb in run.callbacks:
        if cb.state_dict():
            name = type(cb).__name__
            seen[name] = seen.get(name, 0) + 1
            out[name if seen[name] == 1 else f"{name}#{seen[name]}"] = cb
    return out


class Checkpoint(Callback):
    """Write the run to ``path`` (see the module docstring) so that it can be resumed.

    Written at the end of each epoch whose kept weights changed (every epoch with ``keep="last"``
    or ``None``; each improvement with ``keep="best"``), and also every ``every`` iterations (at
    iterations that are multiples of it) and/or when ``seconds`` have passed since the last
    write; a periodic write that falls on an epoch's last step waits for the end of the epoch.
    A write first checks that every weight and running statistic is finite (else the run has
    diverged), so the file always holds the last good state.

    Parameters
    ----------
    path : str or Path
    every : int, optional
        Also write every this many iterations, mid-epoch included.
    seconds : float, optional
        Also write when this many seconds have passed since the last write (checked after each
        iteration).
    """

    def __init__(self, path: str | os.PathLike, every: int | None = None,
                 seconds: float | None = None) -> None:
        self.path = Path(path)
        self.every = None if every is None else check_positive_int(every, "every", "Checkpoint")
        self.seconds = (None if seconds is None else
                        check_range(seconds, "seconds", "Checkpoint", 0.0, np.inf))

    def check_writable(self) -> None:
        """Raise a ValueError naming ``checkpoint`` if no file can be written at the path (a
        directory, a missing or read-only folder), by creating and removing a scratch file
        beside it: fit calls this before training, not after the first epoch."""
        where = f"fit: checkpoint={str(self.path)!r} cannot be written"
        if self.path.is_dir():
            raise ValueError(f"{where}: it is a directory; pass a file path such as "
                             f"{str(self.path / 'run.npz')!r}")
        folder = self.path.parent
        if not folder.is_dir():
            raise ValueError(f"{where}: its folder {str(folder)!r} does not exist; create it "
                             f"(os.makedirs) or pass a path in an existing folder")
        try:
            fd, scratch = tempfile.mkstemp(dir=folder, prefix=f".{self.path.name}.", suffix=".chk")
        except OSError as e:
            raise ValueError(f"{where}: no file can be created in {str(folder)!r} ({e}); pass a "
                             f"path in a writable folder") from None
        os.close(fd)
        os.unlink(scratch)

    def on_train_begin(self, run) -> None:
        self.keep = run.keep
        self.config = run_config(run)
        self.last_iteration, self.last_time = run.iteration, time.monotonic()

    def _due(self, run) -> bool:
        return bool((self.every and run.iteration // self.every > self.last_iteration // self.every)
                    or (self.seconds is not None
                        and time.monotonic() - self.last_time >= self.seconds))

    def on_batch_end(self, run) -> None:
        if run.step < run.n_steps and self._due(run):
            self.write(run)

    def on_epoch_end(self, run) -> None:
        if self.keep is None or self.keep.updated or self._due(run):
            self.write(run)

    def on_divergence(self, run) -> str:
        return f"checkpoint {self.path} holds the last good weights"

    # -- writing -------------------------------------------------------------------------------
    def write(self, run) -> Path:
        """Save the run now (atomically); raises :class:`Diverged` on a non-finite value."""
        if not all_finite(run.model):
            raise Diverged("a weight or running statistic became non-finite")
        resume = {"format": FORMAT, "config": self.config, "epoch": run.epoch, "step": run.step,
                  "perm": run.perm, "totals": list(run.totals), "seconds": run.epoch_seconds(),
                  "rngs": {k: g.bit_generator.state for k, g in _generators(run).items()},
                  "callbacks": {k: cb.state_dict() for k, cb in _stateful(run).items()}}
        kept = self.keep.kept() if self.keep is not None else None
        if kept is not None:  # the file's model is the kept weights; the current go beside them
            current = snapshot(run.model)
            if _same(kept, current):
                kept = None
            else:
                resume["weights"] = current
        extra = {"epoch": run.epoch - (run.perm is not None), "iteration": run.iteration,
                 "history": run.history.to_dict(), "optimizer": run.optimizer.state_dict(),
                 "resume": resume}
        io.save(run.model, self.path, extra=extra, weights=kept)
        if self.keep is not None:
            where = (f"the end of epoch {run.epoch}" if run.perm is None else
                     f"the checkpoint of iteration {run.iteration}")
            self.keep.mark_good(run, where)
        self.last_iteration, self.last_time = run.iteration, time.monotonic()
        return self.path

    # -- resuming ------------------------------------------------------------------------------
    def restore(self, run) -> bool:
        """Continue ``run`` from the file, if it exists (returns whether it did).

        Call after every callback's ``on_train_begin``. Checks the architecture and
        :func:`run_config` before changing anything.
        """
        if not self.path.exists():
            return False
        where = f"fit: cannot resume from {self.path}"
        saved = io.read(self.path)
        resume = saved.extra.get("resume")
        if not isinstance(resume, dict) or resume.get("format") != FORMAT:
            raise ValueError(f"{where}: it holds no resume state of format {FORMAT} (a model saved "
                             f"by slaf_np.nn.io.save, or a checkpoint of another slaf_np "
                             f"version); pass another checkpoint path, or delete the file")
        diff = io.first_difference(saved.architecture, io.describe(run.model))
        if diff:
            raise ValueError(f"{where}: it holds another architecture than the model (file vs "
                             f"model, first difference at {diff}); build the model it was "
                             f"written for, or start afresh with resume=False or another "
                             f"checkpoint path")
        keys = [*self.config, *(k for k in resume["config"] if k not in self.config)]
        diffs = [f"{k}: {resume['config'].get(k)!r} in the file, {self.config.get(k)!r} now"
                 for k in keys if resume["config"].get(k) != self.config.get(k)]
        if diffs:
            raise ValueError(f"{where}: it was written by another run ({'; '.join(diffs)}). "
                             f"Resume with the settings that wrote it, or start afresh with "
                             f"resume=False or another checkpoint path")
        finished = resume["epoch"] - (resume["perm"] is not None)
        if finished > run.epochs:
            raise ValueError(f"{where}: it has finished {finished} epochs, more than epochs="
                             f"{run.epochs}; pass epochs >= {finished}")
        io.load_weights(run.model, saved)
        kept = None
        if "weights" in resume:
            kept = snapshot(run.model)
            restore(run.model, resume["weights"])
        run.optimizer.load_state_dict(saved.extra["optimizer"])
        run.epoch, run.step, run.perm = resume["epoch"], resume["step"], resume["perm"]
        run.iteration, run.totals = saved.extra["iteration"], list(resume["totals"])
        run.history = History.from_dict(saved.extra["history"])
        run.restart_clock(resume["seconds"])
        for key, g in _generators(run).items():
            g.bit_generator.state = resume["rngs"][key]
        for key, cb in _stateful(run).items():
            cb.load_state_dict(resume["callbacks"][key])
        if self.keep is not None:
            self.keep.resumed(run, kept)
        self.last_iteration, self.last_time = run.iteration, time.monotonic()
        return True


def _same(a: dict, b: dict) -> bool:
    return all(np.array_equal(a[kind][k], b[kind][k]) for kind in ("params", "buffers")
               for k in a[kind])
