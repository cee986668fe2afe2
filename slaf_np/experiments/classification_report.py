"""``slaf-np report NAME``: merge a grid's finished units into ``NAME.json``, ``NAME.md``,
``NAME.png`` (and ``NAME_activations_<model>.png``).

The JSON holds every finished unit (its curve, metrics, times), a summary per model (mean and
standard deviation over seeds of each metric of
:data:`slaf_np.experiments.classification.METRIC_LABELS`), the missing units with the command
that runs each, and the grid's notes (budgets and why). The figures are drawn from that data only:
test accuracy against iteration for every unit, the final and the best-on-test numbers in the
legend; and, for the grid's ``activations`` models, the learned SLAFs of the saved model of the
lowest finished seed over a sample of test images (:func:`slaf_np.plotting.plot_activations`).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from .classification import (
    DEFAULT_UNITS,
    METRIC_LABELS,
    QUICK_UNITS,
    Grid,
    command,
    run_grid,
    unit_dir,
)


def run_and_report(grid: Grid, ctx) -> dict:
    """What ``slaf-np run NAME`` does for a grid experiment: run every unfinished unit under
    ``ctx.out / "units"``, then return the report of the finished ones (the runner writes the
    JSON)."""
    units = ctx.out / "units"
    run_grid(grid, units=units, quick=ctx.quick, data_dir=ctx.data_dir, verbose=ctx.verbose)
    return report(grid, units, ctx.out, ctx.quick, ctx.data_dir, write=False,
                  verbose=ctx.verbose)


ACTIVATION_SAMPLE = 1000  # test images whose SLAF inputs the activation figure histograms


def collect(grid: Grid, units: Path, quick: bool) -> tuple[list[dict], list[dict]]:
    """The finished units' records and the missing units (model, seed, command), grid order."""
    done, missing = [], []
    pairs = grid.units()
    for model in grid.models:  # extra seeds (and models outside the default grid) run by hand
        found = Path(units) / grid.name
        pairs += sorted((model, int(p.parent.name.rsplit("_seed", 1)[1]))
                        for p in found.glob(f"{model}_seed*/unit.json")
                        if (model, int(p.parent.name.rsplit("_seed", 1)[1])) not in pairs)
    for model, seed in pairs:
        path = unit_dir(units, grid.name, model, seed) / "unit.json"
        if path.exists():
            done.append(json.loads(path.read_text()))
        else:
            started = path.with_name("checkpoint.npz").exists()
            diverged = path.with_name("diverged.txt")
            lock = path.with_name("running.lock")
            missing.append({"model": model, "seed": seed, "started": started,
                            "running": lock.read_text().strip() if lock.exists() else None,
                            "diverged": diverged.read_text().strip() if diverged.exists()
                            else None,
                            "command": command(grid, model, seed, units, quick)})
    return done, missing


def _mean_std(values: list[float]) -> dict:
    a = np.asarray(values, dtype=np.float64)
    return {"mean": float(a.mean()), "std": float(a.std(ddof=1)) if len(a) > 1 else None,
            "n": len(a), "values": [float(v) for v in a]}


def summarize(grid: Grid, records: list[dict]) -> dict:
    """Per model: seeds, each metric's mean / std / values, mean seconds and it/s, peak MB."""
    out = {}
    for name, spec in grid.models.items():
        rs = [r for r in records if r["model"] == name]
        if not rs:
            continue
        out[name] = {"description": spec.description, "paper": spec.paper,
                     "seeds": [r["seed"] for r in rs],
                     "parameters": rs[0]["config"]["parameters"],
                     **{k: _mean_std([r["metrics"][k] for r in rs]) for k in METRIC_LABELS},
                     "seconds": _mean_std([r["seconds"] for r in rs]),
                     "iterations_per_second": _mean_std([r["iterations_per_second"] for r in rs]),
                     "peak_memory_mb": max(r["peak_memory_mb"] for r in rs)}
    return out


def student_t_quantile(p: float, df: float) -> float:
    """The ``p``-quantile (``0.5 < p < 1``) of Student's t distribution with ``df`` degrees of
    freedom.

    The CDF is 1/2 plus the integral of the density from 0 (Simpson's rule on 4,001 points), and
    the quantile is found by bisection. Accurate to about 1e-9 for ``df >= 1``; no scipy needed.
    """
    if not 0.5 < p < 1 or df <= 0:
        raise ValueError(f"student_t_quantile: expected 0.5 < p < 1 and df > 0, got p={p}, "
                         f"df={df}")
    log_c = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)

    def cdf(t: float) -> float:
        x = np.linspace(0.0, t, 4001)
        f = np.exp(log_c - (df + 1) / 2 * np.log1p(x * x / df))
        h = t / 4000
        return 0.5 + h / 3 * (f[0] + f[-1] + 4 * f[1:-1:2].sum() + 2 * f[2:-1:2].sum())

    lo, hi = 0.0, 1.0
    while cdf(hi) < p:
        lo, hi = hi, 2 * hi
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if cdf(mid) < p else (lo, mid)
    return (lo + hi) / 2


NOISE_RULE = ("gain exceeds noise when the 95 % Student-t interval of the mean paired "
              "difference excludes 0: |mean| > t(0.975, n - 1) std / sqrt(n)")


def paired(records: list[dict], a: str, b: str) -> dict:
    """``b - a`` per seed both finished, for each metric: mean, std, and whether the mean gain
    exceeds its noise (:data:`NOISE_RULE`; with 3 seeds, t(0.975, 2) = 4.30, not the 2 of a
    normal interval)."""
    by = {(r["model"], r["seed"]): r for r in records}
    seeds = sorted(s for m, s in by if m == a and (b, s) in by)
    out = {"pair": f"{b} - {a}", "seeds": seeds, "rule": NOISE_RULE}
    for k in METRIC_LABELS:
        d = [by[(b, s)]["metrics"][k] - by[(a, s)]["metrics"][k] for s in seeds]
        if not d:
            continue
        st = _mean_std(d)
        if st["std"] is None:
            st["exceeds_noise"] = None
        else:
            st["t_critical"] = student_t_quantile(0.975, st["n"] - 1)
            st["exceeds_noise"] = bool(
                abs(st["mean"]) > st["t_critical"] * st["std"] / np.sqrt(st["n"]))
        out[k] = st
    return out


def _fmt(st: dict) -> str:
    if st["std"] is None:
        return f"{st['mean']:.2f}"
    return f"{st['mean']:.2f} ± {st['std']:.2f}"


def markdown(result: dict) -> str:
    """The table of ``result["models"]`` (and the missing units)."""
    cols = ["model", "seeds", "params", "paper", *(k for k in METRIC_LABELS),
            "min / unit", "it/s", "peak MB"]
    lines = [f"# {result['experiment']}", ""]
    if result.get("quick_note"):
        lines += [f"**Pipeline check, not a result**: {result['quick_note']}", ""]
    lines += ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for name, s in result["models"].items():
        paper = "-" if s["paper"] is None else f"{s['paper']:.2f}"
        lines.append("| " + " | ".join([
            name, ",".join(map(str, s["seeds"])), f"{s['parameters']:,}", paper,
            *(_fmt(s[k]) for k in METRIC_LABELS), f"{s['seconds']['mean'] / 60:.1f}",
            f"{s['iterations_per_second']['mean']:.2f}", f"{s['peak_memory_mb']:.0f}"]) + " |")
    lines += ["", "Accuracies in % (mean ± standard deviation over seeds):", ""]
    lines += [f"* `{k}`: {v}" for k, v in METRIC_LABELS.items()]
    if result.get("paired"):
        p = result["paired"]
        lines += ["", f"Paired difference {p['pair']} over seeds {p['seeds']} ({p['rule']}):", ""]
        lines += [f"* `{k}`: {_fmt(p[k])} (exceeds noise: {p[k]['exceeds_noise']})"
                  for k in METRIC_LABELS if k in p]
    if result["missing"]:
        lines += ["", "Missing units (run each, in the background if long):", ""]
        lines += [f"* `{m['command']}`{' (started: resumes)' if m['started'] else ''}"
                  f"{' (running now: ' + m['running'] + ')' if m.get('running') else ''}"
                  f"{' (diverged: ' + m['diverged'] + ')' if m['diverged'] else ''}"
                  for m in result["missing"]]
    return "\n".join(lines) + "\n"


def results_table(results: dict[str, dict]) -> list[str]:
    """README's results table: one row per (experiment, model) of the reports in ``results``
    (experiment name -> the contents of its ``figures/NAME.json``), the paper's number beside
    ours, and the wall time of each finished unit."""
    cols = ["experiment", "model", "seeds", "paper", "best on test (selects on test)",
            "test at best validation", "final test", "mean of last 10", "minutes per unit"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for experiment, result in results.items():
        for name, s in result["models"].items():
            paper = "-" if s["paper"] is None else f"{s['paper']:.2f}"
            minutes = ", ".join(f"{v / 60:.0f}" for v in s["seconds"]["values"])
            lines.append("| " + " | ".join([
                experiment, f"`{name}`: {s['description']}", ",".join(map(str, s["seeds"])),
                paper, *(_fmt(s[k]) for k in METRIC_LABELS), minutes]) + " |")
    return lines


def plot_curves(result: dict, path: Path) -> Path:
    """Test accuracy against iteration, one line per unit (colour per model, style per seed).

    Two panels: the whole run, and its second half with the accuracy axis zoomed to where the
    models differ (a few tenths of a point on MNIST would be invisible on the whole run's scale).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..utils import save_figure

    fig, (whole, zoom) = plt.subplots(1, 2, figsize=(12, 5))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    models = list(result["models"])
    for u in result["units"]:
        it = [r[0] for r in u["curve"]]
        test = [r[2] for r in u["curve"]]
        m = u["metrics"]
        style = dict(color=colors[models.index(u["model"]) % len(colors)],
                     linestyle=("-", "--", ":", "-.")[u["seed"] % 4])
        whole.plot(it, test, **style)
        zoom.plot(it, test, **style,
                  label=f"{u['model']} seed {u['seed']}: final {m['final_test']:.2f} %, "
                        f"best on test {m['best_test_selects_on_test']:.2f} %")
    second_half = [r for u in result["units"] for r in u["curve"][len(u["curve"]) // 2:]]
    if second_half:
        accuracies = [r[2] for r in second_half]
        zoom.set_xlim(min(r[0] for r in second_half), max(r[0] for r in second_half))
        zoom.set_ylim(max(0.0, min(accuracies) - 0.5), min(100.0, max(accuracies) + 0.5))
    whole.set_title("the whole run")
    zoom.set_title("the second half, zoomed")
    for ax in (whole, zoom):
        ax.set_xlabel("iteration")
        ax.set_ylabel("test accuracy (%)")
        ax.grid(alpha=0.3)
    zoom.legend(fontsize=7)
    title = f"{result['experiment']}: test accuracy (evaluation mode)"
    if result.get("quick_note"):
        title += "; pipeline check (--quick), not a result"
    fig.suptitle(title)
    save_figure(fig, path)
    plt.close(fig)
    return path


def plot_learned(grid: Grid, result: dict, units: Path, out: Path, data_dir, quick: bool) -> list:
    """The learned-activation figure of each ``grid.activations`` model (lowest finished seed)."""
    from ..nn import io
    from ..plotting import plot_activations

    paths = []
    X = None
    for name in grid.activations:
        seeds = sorted(u["seed"] for u in result["units"] if u["model"] == name)
        if not seeds:
            continue
        if X is None:
            X = grid.load(data_dir, quick)[2][0][:ACTIVATION_SAMPLE]
        model = io.load(unit_dir(units, grid.name, name, seeds[0]) / "model.npz")
        path = out / f"{grid.name}_activations_{name}.png"
        plot_activations(model, X, path=path)
        paths.append(path.name)
    return paths


def report(grid: Grid, units: Path | None = None, out: Path = Path("figures"),
           quick: bool = False, data_dir: Path | None = None, write: bool = True,
           verbose: bool = True) -> dict:
    """Merge the finished units of ``grid`` into ``out/NAME.json`` (with ``write``), ``.md``
    and ``.png``; returns the merged record. Missing units are listed with their commands."""
    from ..experiments import QUICK_NOTE
    from ..provenance import collect as provenance
    from ..provenance import finish
    from ..utils import atomic_write_bytes, atomic_write_json

    prov = provenance()
    units = Path(units) if units is not None else (QUICK_UNITS if quick else DEFAULT_UNITS)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    records, missing = collect(grid, units, quick)
    result = {"experiment": grid.name, "quick": quick}
    if quick:
        result["quick_note"] = QUICK_NOTE.format(name=grid.name)
    result.update({"units_dir": str(units), "metric_labels": METRIC_LABELS,
                   "budget": vars(grid.budget(quick)), "notes": grid.notes,
                   "models": summarize(grid, records), "missing": missing,
                   "complete": not missing, "units": records})
    if grid.extra_report is not None:
        result.update(grid.extra_report(result))
    figures = []
    if records:
        figures.append(plot_curves(result, out / f"{grid.name}.png").name)
        figures += plot_learned(grid, result, units, out, data_dir, quick)
    result["figures"] = figures
    atomic_write_bytes(out / f"{grid.name}.md", markdown(result).encode())
    if write:
        atomic_write_json(out / f"{grid.name}.json", {**result, "provenance": finish(prov)})
    if verbose:
        print(f"[{grid.name}] report: {len(records)} finished, {len(missing)} missing -> "
              f"{out / grid.name}.json / .md / .png", flush=True)
        for m in missing:
            print(f"  missing: {m['command']}", flush=True)
        if quick:
            print(f"[{grid.name}] {result['quick_note']}", flush=True)
    return result
