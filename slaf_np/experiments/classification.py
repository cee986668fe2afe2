"""Classification experiments as grids of resumable **units**: one (experiment, model, seed) each.

A full classification experiment is hours of CPU time, so it is split into units that run, stop
and resume independently (and can be spread over machines)::

    slaf-np run mnist --model slaf --seed 1     one unit; run it again after a kill to resume it
    slaf-np run mnist                           every unit not yet finished, in order
    slaf-np report mnist                        finished units -> figures/mnist.{json,md,png}

A unit lives in ``<units>/<experiment>/<model>_seed<k>/`` (``<units>`` is ``runs/units`` by
default): ``running.lock`` while a process runs it (:func:`claim`: a second ``slaf-np run`` of
the same grid skips it and takes the next unit, so two processes share a grid),
``checkpoint.npz`` (:mod:`slaf_np.train.checkpoint`, written every :data:`CHECKPOINT_SECONDS`
and at each epoch's end, so a killed process loses at most that much), and when it has
finished ``model.npz`` (the final model, :func:`slaf_np.nn.io.save`) and
``unit.json`` (written atomically, last: a unit is finished exactly when it exists). The unit
records its configuration, seed, the curve (per evaluation: iteration, validation accuracy, test
accuracy, mean training loss since the previous evaluation), wall time, iterations per second,
peak memory and provenance, and the metrics of :func:`metrics`.

Evaluation. Every ``eval_every`` iterations the running statistics (SLAF, BatchNorm, MaxScale)
are re-estimated exactly over a fixed sample of ``cal_size`` training images
(:func:`slaf_np.recalibrate`; the sample, not the whole training set, because a pass over 50k
images per evaluation would cost more than the training: see each experiment's docstring), then
the validation and test sets are scored in evaluation mode. Training-mode forwards use batch
statistics, so the evaluations do not change the trajectory of the weights.

Seeds: unit seed ``k`` gives ``numpy.random.SeedSequence(k).spawn(3)``: the first child draws the
initial weights (and the dropout masks), the second the batch order, the third the augmentation
(:class:`Augment`: a fresh random crop and flip of the whole training set each epoch, 2.3 s for
CIFAR's 45,000 images); ``default_rng(k)`` picks the calibration sample.

Budgets: a unit trains a fixed number of iterations (:class:`StopAt` ends the last epoch there),
the learning rate following a :class:`slaf_np.train.optim.StepSchedule` over iterations; the
experiments' docstrings give the measured times the budgets come from.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import resource
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..train.callbacks import Callback

DEFAULT_UNITS = Path("runs/units")
QUICK_UNITS = Path("runs/quick/units")
CHECKPOINT_SECONDS = 180.0  # a killed unit loses at most about 3 minutes
LAST_K = 10                 # "mean of the last 10 evaluations"
SEED_RULE = ("unit seed k: numpy.random.SeedSequence(k).spawn(3) -> initial weights and dropout, "
             "batch order, augmentation; the calibration sample: the first cal_size indices of "
             "numpy.random.default_rng(k).permutation(n_train), sorted")
METRIC_LABELS = {
    "best_test_selects_on_test": "best test accuracy over evaluations (from best_test_from_"
                                 "iteration; the paper's metric: it selects on the test set)",
    "test_at_best_val": "test accuracy of the evaluation with the best validation accuracy",
    "final_test": "test accuracy at the end of training",
    "mean_last10_test": f"mean test accuracy of the last {LAST_K} evaluations",
}


@dataclass(frozen=True)
class ModelSpec:
    """One model of a grid: how to build and train it, and which seeds the grid runs."""

    build: Callable[[np.random.Generator, bool], object]   # (rng, quick) -> model
    optimizer: Callable[[object], object]                  # model -> Optimizer
    milestones: Callable[[int], list]                      # total iterations -> [(start, rate)]
    seeds: tuple[int, ...]
    description: str
    penalty: Callable[[object], object] | None = None      # model -> fit's penalty
    paper: float | None = None                             # the paper's reported accuracy, %
    full: Budget | None = None                             # instead of the grid's full budget


@dataclass(frozen=True)
class Budget:
    """How long a unit trains and how it is evaluated."""

    iterations: int
    batch: int
    eval_every: int
    cal_size: int


@dataclass(frozen=True)
class Grid:
    """A classification experiment: data, models, budgets and what its report adds."""

    name: str
    models: dict[str, ModelSpec]
    load: Callable[[Path | None, bool], tuple]   # (data_dir, quick) -> ((X, y), (Xv, yv), (Xt, yt))
    full: Budget
    quick: Budget
    augment: bool = False
    activations: tuple[str, ...] = ()            # models whose learned SLAFs report draws
    best_from: int = 0                           # the best-on-test metric from this iteration
    notes: dict = field(default_factory=dict)
    extra_report: Callable[[dict], dict] | None = None

    def budget(self, quick: bool, model: str | None = None) -> Budget:
        """The quick budget, else the model's own full budget if it has one, else the grid's."""
        if quick:
            return self.quick
        own = None if model is None else self.models[model].full
        return own if own is not None else self.full

    def units(self, model: str | None = None, seed: int | None = None) -> list[tuple[str, int]]:
        """The (model, seed) pairs of the grid, in order; ``model`` / ``seed`` select.
        An explicit ``seed`` outside the grid's seeds is a unit too (an extra seed)."""
        if model is not None and model not in self.models:
            raise KeyError(f"{self.name}: no model {model!r}; known: {', '.join(self.models)}")
        names = [model] if model is not None else list(self.models)
        if seed is not None:
            return [(m, seed) for m in names]
        return [(m, s) for m in names for s in self.models[m].seeds]


def unit_dir(units: Path, grid: str, model: str, seed: int) -> Path:
    return Path(units) / grid / f"{model}_seed{seed}"


def command(grid: Grid, model: str, seed: int, units: Path, quick: bool) -> str:
    """The command that runs (or resumes) one unit."""
    default = QUICK_UNITS if quick else DEFAULT_UNITS
    where = "" if Path(units) == default else f" --units {units}"
    flag = " --quick" if quick else ""
    return f"slaf-np run {grid.name} --model {model} --seed {seed}{flag}{where}"


# -- callbacks ---------------------------------------------------------------------------------
class Curve(Callback):
    """Every ``every`` iterations (and at the end): recalibrate on ``cal``, score ``val`` and
    ``test``, append ``[iteration, val %, test %, mean training loss since the last one]``.
    Its state (the rows, the loss sums, the seconds spent) goes into the checkpoint."""

    def __init__(self, every: int, val, test, cal: np.ndarray, verbose: bool = False) -> None:
        self.every, self.val, self.test, self.cal, self.verbose = every, val, test, cal, verbose
        self.rows: list[list[float]] = []
        self.loss_sum, self.loss_n = 0.0, 0
        self.seconds_before, self.eval_seconds = 0.0, 0.0
        self.t0 = time.perf_counter()

    def seconds(self) -> float:
        return self.seconds_before + time.perf_counter() - self.t0

    def loss(self, out: np.ndarray, y: np.ndarray):
        """The training loss given to ``fit``: softmax cross-entropy, its batch means summed
        here. (Differencing fit's epoch sums would lose the small losses that follow a huge
        one, as raw powers give early on: 1e17 + 1 == 1e17 in float64.)"""
        from ..train.losses import get_loss

        value, dout = get_loss("softmax_cross_entropy")(out, y)
        self.loss_sum += float(value) * len(y)
        self.loss_n += len(y)
        return value, dout

    def take_loss(self) -> float:
        """The mean training loss since the last call (0 if no batch ran), and reset."""
        mean = self.loss_sum / max(self.loss_n, 1)
        self.loss_sum, self.loss_n = 0.0, 0
        return mean

    def on_train_begin(self, run) -> None:
        self.t0 = time.perf_counter()
        self.loss_sum, self.loss_n = 0.0, 0   # not fit's check of the targets

    def on_batch_end(self, run) -> None:
        if run.iteration % self.every == 0:
            self.evaluate(run)

    def on_train_end(self, run) -> None:
        if not self.rows or self.rows[-1][0] != run.iteration:
            self.evaluate(run)

    def evaluate(self, run) -> None:
        from ..train import evaluate
        from ..train.calibration import recalibrate, statistic_layers

        t = time.perf_counter()
        if statistic_layers(run.model):
            recalibrate(run.model, self.cal)
        accs = [100 * evaluate(run.model, X, y, "softmax_cross_entropy", "accuracy",
                               batch_size=1000)[1] for X, y in (self.val, self.test)]
        loss = self.take_loss()
        self.rows.append([run.iteration, accs[0], accs[1], loss])
        self.eval_seconds += time.perf_counter() - t
        if self.verbose:
            print(f"  iteration {run.iteration}: val {accs[0]:.2f} %  test {accs[1]:.2f} %  "
                  f"train loss {loss:.4f}  ({self.seconds():.0f} s)", flush=True)

    def state_dict(self) -> dict:
        return {"rows": [list(r) for r in self.rows], "loss_sum": self.loss_sum,
                "loss_n": self.loss_n, "seconds": self.seconds(),
                "eval_seconds": self.eval_seconds}

    def load_state_dict(self, state: dict) -> None:
        self.rows = [list(r) for r in state["rows"]]
        self.loss_sum, self.loss_n = state["loss_sum"], state["loss_n"]
        self.seconds_before, self.eval_seconds = state["seconds"], state["eval_seconds"]
        self.t0 = time.perf_counter()


class StopAt(Callback):
    """End training after ``iterations`` steps, mid-epoch if need be (the epoch is closed there:
    its History entry averages over the rows it used, divided by the epoch's size)."""

    def __init__(self, iterations: int) -> None:
        self.iterations = iterations

    def on_batch_end(self, run) -> None:
        if run.iteration >= self.iterations:
            run.stop, run.step = True, run.n_steps


class Augment(Callback):
    """Replace the training images by a fresh :func:`slaf_np.datasets.augment.augment` of the
    clean ones at the start of each epoch. Its state (the generator's state at the start of the
    epoch and now) lets a resumed run rebuild the epoch's images bit for bit."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.clean = None
        self.epoch_state = self.rng.bit_generator.state
        self.pending: dict | None = None

    def on_train_begin(self, run) -> None:
        self.clean = run.X

    def _draw(self, run) -> None:
        from ..datasets.augment import augment

        self.epoch_state = self.rng.bit_generator.state
        run.X = augment(self.clean, self.rng)

    def on_epoch_begin(self, run) -> None:
        if self.pending is not None:  # resumed between epochs
            self.rng.bit_generator.state, self.pending = self.pending["now"], None
        self._draw(run)

    def on_batch_begin(self, run) -> None:
        if self.pending is not None:  # resumed mid-epoch: the epoch's images again
            self.rng.bit_generator.state, self.pending = self.pending["epoch"], None
            self._draw(run)

    def state_dict(self) -> dict:
        return {"epoch": self.epoch_state, "now": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        self.pending = state


# -- metrics -----------------------------------------------------------------------------------
def metrics(rows: list[list[float]], best_from: int = 0) -> dict:
    """The four accuracies (%) of a curve, keys of :data:`METRIC_LABELS`. Ties in validation
    accuracy go to the earliest evaluation. The best test accuracy is taken over the
    evaluations at iterations >= ``best_from`` (the paper's MNIST number: 5k-25k), or over all
    when none is that late (a --quick run)."""
    it, val, test = (np.array([r[i] for r in rows]) for i in range(3))
    late = it >= best_from if (it >= best_from).any() else np.ones(len(it), bool)
    best = int(np.flatnonzero(late)[test[late].argmax()])
    return {"best_test_selects_on_test": float(test[best]),
            "best_test_iteration": int(it[best]),
            "best_test_from_iteration": int(it[late][0]),
            "test_at_best_val": float(test[val.argmax()]),
            "best_val_iteration": int(it[val.argmax()]),
            "final_test": float(test[-1]),
            "mean_last10_test": float(test[-LAST_K:].mean())}


# -- one unit ----------------------------------------------------------------------------------
class UnitBusy(RuntimeError):
    """Another process holds the unit's ``running.lock`` (:func:`claim`)."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:          # someone else's process: alive
        return True
    return True


@contextlib.contextmanager
def claim(folder: Path):
    """Hold ``folder/running.lock`` (this host's name and process id) while running a unit.

    The file is created exclusively, so of two processes that start the same unit (two
    ``slaf-np run GRID`` on one grid, or machines sharing the units folder) one gets
    :class:`UnitBusy` and the unit is never trained twice at once. A lock left by a process of
    this host that no longer runs (killed with ``kill -9``, or the machine restarted) is taken
    over; a lock from another host is not (delete the file if that process is gone). Two
    processes that find the same stale lock at the same instant can both take it over: a race
    the grids' scale does not justify a heavier protocol for.
    """
    path = Path(folder) / "running.lock"
    me = f"{socket.gethostname()} {os.getpid()}"
    for attempt in (1, 2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            holder = path.read_text().strip() if path.exists() else ""
            host, _, pid = holder.partition(" ")
            stale = host == socket.gethostname() and pid.isdigit() and not _alive(int(pid))
            if stale and attempt == 1:
                path.unlink(missing_ok=True)
                continue
            raise UnitBusy(f"{folder} is being run by process {pid or '?'} on {host or '?'} "
                           f"({path}); if that process is gone, delete the file") from None
        with os.fdopen(fd, "w") as f:
            f.write(me)
        break
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


def run_unit(grid: Grid, model_name: str, seed: int, units: Path = DEFAULT_UNITS,
             quick: bool = False, data_dir: Path | None = None, verbose: bool = True,
             callbacks: list[Callback] = (), data=None) -> dict:
    """Run (or resume, or, when finished, just read) one unit; returns its ``unit.json`` record.

    ``callbacks`` are added after the unit's own (the tests stop a unit with one); ``data``
    replaces ``grid.load`` (already loaded splits, to load them once for a whole grid). Raises
    :class:`UnitBusy` when another process is running the unit (:func:`claim`).
    """
    spec = grid.models[model_name]
    folder = unit_dir(units, grid.name, model_name, seed)
    done = folder / "unit.json"
    if done.exists():
        if verbose:
            print(f"[{grid.name}] {model_name} seed {seed}: finished ({done})", flush=True)
        return json.loads(done.read_text())
    folder.mkdir(parents=True, exist_ok=True)
    with claim(folder):
        if done.exists():                  # finished by another process meanwhile
            return json.loads(done.read_text())
        return _train_unit(grid, spec, model_name, seed, folder, quick, data_dir, verbose,
                           callbacks, data)


def _train_unit(grid, spec, model_name, seed, folder, quick, data_dir, verbose, callbacks,
                data) -> dict:
    """:func:`run_unit`'s work, inside the unit's claim."""
    from ..nn import io
    from ..provenance import collect, finish
    from ..train import fit
    from ..train.checkpoint import Checkpoint
    from ..train.optim import StepSchedule
    from ..utils import atomic_write_json

    done = folder / "unit.json"
    provenance = collect()
    budget = grid.budget(quick, model_name)
    (X, y), val, test = data if data is not None else grid.load(data_dir, quick)
    init, order, aug = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3))
    cal = X[np.sort(np.random.default_rng(seed).permutation(len(X))[:budget.cal_size])]
    model = spec.build(init, quick)
    if not (folder / "checkpoint.npz").exists():
        # a fresh deep SLNN's statistics (0, 1) overflow in evaluation mode (slaf_np.models), and
        # fit checks the targets with one evaluation-mode forward: start from exact statistics
        from ..train.calibration import recalibrate

        recalibrate(model, cal)
    schedule = StepSchedule(spec.milestones(budget.iterations))
    steps = math.ceil(len(X) / budget.batch)
    epochs = math.ceil(budget.iterations / steps)
    curve = Curve(budget.eval_every, val, test, cal, verbose)
    hooks = [Augment(aug)] if grid.augment else []
    hooks += [curve, StopAt(budget.iterations),
              Checkpoint(folder / "checkpoint.npz", every=10 if quick else None,
                         seconds=CHECKPOINT_SECONDS), *callbacks]
    if verbose:
        print(f"[{grid.name}] {model_name} seed {seed}: {budget.iterations} iterations of "
              f"{budget.batch} ({epochs} epochs of {steps}) -> {folder}", flush=True)
    opt = spec.optimizer(model)
    penalty = None if spec.penalty is None else spec.penalty(model)
    history = fit(model, X, y, curve.loss, opt, epochs=epochs,
                  batch_size=budget.batch, rng=order, metric="accuracy", schedule=schedule,
                  penalty=penalty, keep="last",
                  verbose=verbose, callbacks=hooks, resume=True, calibrate=False)
    seconds, eval_seconds = curve.seconds(), curve.eval_seconds
    io.save(model, folder / "model.npz")
    record = {
        "experiment": grid.name, "model": model_name, "seed": seed, "quick": quick,
        "description": spec.description, "seed_rule": SEED_RULE,
        "config": {"iterations": history.iterations, "batch": budget.batch, "epochs": epochs,
                   "eval_every": budget.eval_every, "cal_size": budget.cal_size,
                   "augment": grid.augment, "schedule": schedule.milestones,
                   "optimizer": type(opt).__name__, "penalty": repr(penalty),
                   "n_train": len(X), "n_val": len(val[0]), "n_test": len(test[0]),
                   "parameters": int(sum(p.size for p in model.params.values()))},
        "curve_columns": ["iteration", "val_accuracy", "test_accuracy", "train_loss"],
        "curve": curve.rows,
        "metrics": metrics(curve.rows, 0 if quick else grid.best_from),
        "seconds": round(seconds, 2), "eval_seconds": round(eval_seconds, 2),
        "iterations_per_second": round(history.iterations / max(seconds - eval_seconds, 1e-9), 3),
        "peak_memory_mb": round(_maxrss_mb(), 1),
        "peak_memory_scope": "ru_maxrss of the process that finished the unit (one that ran "
                             "several units reports the largest so far)",
        "sessions_note": "seconds add up every session's training and evaluation time up to its "
                         "last checkpoint; provenance is the finishing session's",
        "provenance": finish(provenance),
    }
    atomic_write_json(done, record)
    record = json.loads(done.read_text())  # what a finished unit returns: the file's contents
    if verbose:
        m = record["metrics"]
        print(f"[{grid.name}] {model_name} seed {seed}: final test {m['final_test']:.2f} %, "
              f"{seconds:.0f} s ({record['iterations_per_second']:.2f} it/s) -> {done}",
              flush=True)
    return record


def _maxrss_mb() -> float:
    """Peak resident memory of this process (ru_maxrss is KiB on Linux, bytes on macOS)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 1024


def run_grid(grid: Grid, model: str | None = None, seed: int | None = None,
             units: Path = DEFAULT_UNITS, quick: bool = False, data_dir: Path | None = None,
             verbose: bool = True) -> list[dict]:
    """Run every selected unit not yet finished, in order (the data loaded once); a unit another
    process is running (:func:`claim`) is skipped with a message.

    A unit whose training diverges does not stop the others: the error goes to
    ``diverged.txt`` in its folder (its checkpoint keeps the last good state), the report lists
    it, and the next unit starts."""
    from ..train.loop import TrainingDivergedError
    from ..utils import atomic_write_bytes

    todo = grid.units(model, seed)
    data = grid.load(data_dir, quick)
    done = []
    for m, s in todo:
        try:
            done.append(run_unit(grid, m, s, units, quick, data_dir, verbose, data=data))
        except UnitBusy as e:
            print(f"[{grid.name}] {m} seed {s}: skipped, {e}", file=sys.stderr, flush=True)
        except TrainingDivergedError as e:
            path = unit_dir(units, grid.name, m, s) / "diverged.txt"
            atomic_write_bytes(path, f"{e}\n".encode())
            print(f"[{grid.name}] {m} seed {s} diverged ({path}): {e}", file=sys.stderr,
                  flush=True)
    return done
