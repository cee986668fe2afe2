"""The experiment registry that ``slaf-np list`` and ``slaf-np run NAME`` read.

An experiment is a module in this package that decorates one function with :func:`register`::

    @register("spirals", "two-spirals: SLNN routines vs a ReLU net (docs/paper.md section 4)")
    def run(ctx: RunContext) -> dict:
        ...
        return results          # JSON-able; the runner adds config, timing, provenance and
                                # writes NAME.json

Every seed an experiment uses must be recoverable from its results: the seed of each model or run
(and of each data set) is written beside it, or the results say the one rule that derives it from
``ctx.seed``.

Modules are discovered (and imported) only when the registry is first read, so importing
``slaf_np`` stays fast and adding an experiment needs no edit anywhere else.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..utils import atomic_write_json

_REGISTRY: dict[str, Experiment] = {}
_DISCOVERED = False


@dataclass
class RunContext:
    """What an experiment receives: the options of ``slaf-np run`` and a logger.

    Attributes
    ----------
    quick : bool
        Run the small version (well under a minute); the tests use it.
    seed : int
        The one seed; make one ``numpy.random.default_rng(seed)`` from it (or derive child seeds).
    out : Path
        Folder for ``NAME.json`` and ``NAME*.png``.
    data_dir : Path or None
        Where the data sets are cached (None: the default of :mod:`slaf_np.datasets`).
    verbose : bool
        Print progress lines.
    """

    name: str
    quick: bool = False
    seed: int = 0
    out: Path = Path("figures")
    data_dir: Path | None = None
    verbose: bool = True
    extra: dict = field(default_factory=dict)

    def log(self, *args) -> None:
        if self.verbose:
            print(*args, flush=True)

    def rng(self) -> np.random.Generator:
        return np.random.default_rng(self.seed)

    def path(self, suffix: str) -> Path:
        """``out / (name + suffix)``, e.g. ``ctx.path(".png")`` or ``ctx.path("_curves.png")``."""
        self.out.mkdir(parents=True, exist_ok=True)
        return self.out / f"{self.name}{suffix}"


QUICK_NOTE = ("--quick runs {name} at toy sizes to test the pipeline: its numbers are not results "
              "(`slaf-np run {name}` gives the ones README reports)")


@dataclass
class Experiment:
    name: str
    description: str
    func: Callable[[RunContext], dict]
    quick_is_result: bool = False   # the quick run is a result in its own right (a demo)
    grid: object = None             # a grid of units (slaf_np.experiments.classification.Grid)

    def run(self, quick: bool = False, seed: int = 0, out: str | Path = "figures",
            data_dir: str | Path | None = None, verbose: bool = True) -> dict:
        """Run, then write ``out/NAME.json`` (results, configuration, seconds and provenance,
        :func:`slaf_np.provenance.collect`) atomically."""
        from ..provenance import collect, finish

        ctx = RunContext(self.name, quick=quick, seed=seed, out=Path(out),
                         data_dir=Path(data_dir) if data_dir else None, verbose=verbose)
        provenance = collect()  # before the run: the git state is that of the code that runs
        t0 = time.perf_counter()
        results = self.func(ctx)
        seconds = time.perf_counter() - t0
        figures = sorted(p.name for p in ctx.out.glob(f"{self.name}*.png"))
        smoke = quick and not self.quick_is_result
        note = {"quick_note": QUICK_NOTE.format(name=self.name)} if smoke else {}
        record = {"experiment": self.name, "description": self.description, "quick": quick,
                  **note, "seed": seed, "seconds": round(seconds, 3), "figures": figures,
                  **results, "provenance": finish(provenance)}
        atomic_write_json(ctx.path(".json"), record)
        ctx.log(f"[{self.name}] done in {seconds:.1f} s -> {ctx.path('.json')}")
        if smoke:
            ctx.log(f"[{self.name}] {note['quick_note']}")
        return record


def register(name: str, description: str, quick_is_result: bool = False, grid=None):
    """Decorator: add ``func(ctx) -> dict`` to the registry under ``name``.

    A ``--quick`` run is a smoke test of the pipeline at toy sizes, and the runner says so (in
    the log and as ``quick_note`` in the JSON), unless ``quick_is_result``: the quick run is a
    result in its own right (the two-spirals demo). ``grid``: the experiment is a grid of
    resumable units (:class:`slaf_np.experiments.classification.Grid`), which ``slaf-np run
    NAME [--model M] [--seed S]`` and ``slaf-np report NAME`` drive unit by unit."""
    def deco(func):
        if name in _REGISTRY and _REGISTRY[name].func.__module__ != func.__module__:
            raise ValueError(f"experiment {name!r} registered twice")
        _REGISTRY[name] = Experiment(name, description, func, quick_is_result, grid)
        return func
    return deco


def _discover() -> None:
    global _DISCOVERED
    if _DISCOVERED:
        return
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")
    _DISCOVERED = True


def available() -> dict[str, Experiment]:
    """Every registered experiment, by name."""
    _discover()
    return dict(sorted(_REGISTRY.items()))


def get(name: str) -> Experiment:
    """The experiment ``name``; a :class:`KeyError` lists the known names and suggests the
    closest."""
    exps = available()
    if name not in exps:
        close = difflib.get_close_matches(name, list(exps), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise KeyError(f"no experiment named {name!r}{hint}; known: {', '.join(exps) or 'none'}")
    return exps[name]
