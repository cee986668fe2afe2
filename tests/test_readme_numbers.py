"""README's numbers are the committed results' numbers, rounded as printed.

Each table README draws from a result in ``figures/`` sits between ``<!-- table:NAME -->`` and
``<!-- /table -->``; the test renders the same rows from the JSON and compares them verbatim. Each
number README quotes in its prose is rendered from the JSON into the sentence around it, and the
sentence must appear in README (whitespace and line breaks aside). Nothing here is a hard-coded
result: rerun an experiment, and the test names every README line that no longer says what its
JSON says.
"""

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from slaf_np.experiments.classification_report import student_t_quantile
from slaf_np.experiments.polyfeatures import _fmt_int

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
FLAT = " ".join(README.split())


def result(name: str) -> dict:
    return json.loads((ROOT / "figures" / f"{name}.json").read_text())


def readme_table(name: str) -> list[str]:
    """The rows (``|``-lines, stripped) between README's markers for table ``name``."""
    m = re.search(rf"<!-- table:{re.escape(name)} -->\n(.*?)<!-- /table -->", README, re.S)
    assert m, f"README has no <!-- table:{name} --> ... <!-- /table --> block"
    return [line.strip() for line in m.group(1).splitlines() if line.strip().startswith("|")]


def assert_table(name: str, expected: list[str]) -> None:
    got = readme_table(name)
    wrong = [f"README: {g}\nJSON:   {e}" for g, e in zip(got, expected, strict=False) if g != e]
    assert len(got) == len(expected) and not wrong, (
        f"README table {name!r} differs from figures/ ({len(got)} rows, {len(expected)} "
        f"expected):\n" + "\n".join(wrong or expected))


def assert_says(*fragments: str) -> None:
    missing = [f for f in fragments if f not in FLAT]
    assert not missing, "README should say (from figures/*.json):\n" + "\n".join(missing)


def sci(x: float, digits: int = 1) -> str:
    """``3.14e-13`` as README prints it: ``sci(3.14e-13, 1) == "3.1e-13"``."""
    mantissa, exponent = f"{x:.{digits}e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def pm(mean: float, std: float, fmt: str = ".1f") -> str:
    return f"{mean:{fmt}} ± {std:{fmt}}"


# ------------------------------------------------------------------------------ the formatter

@pytest.mark.parametrize("n, text", [
    (math.comb(800, 16), "1.16e33"),           # 1.1568e33: rounded, not cut to 1.15e33
    (1_155 * 10**30, "1.16e33"),               # a tie goes to the even digit ...
    (1_245 * 10**30, "1.24e33"),               # ... both ways
    (1_245 * 10**30 + 1, "1.25e33"),           # exact: one above the tie rounds up
    (99_950 * 10**9, "1.00e14"),               # the carry moves the exponent
    (10**12 - 1, "999,999,999,999"),           # below 10**12: every digit
])
def test_polyfeatures_counts_are_rounded_half_to_even(n, text):
    assert _fmt_int(n) == text
    assert _fmt_int(str(n)) == text


def test_polyfeatures_table_says_per_output():
    from slaf_np.experiments.polyfeatures import _table_markdown

    row = {"network": "n", "d": 2, "slaf_degrees": [4, 4], "K": 16, "slnn_params": 251,
           "poly_features": "153", "features_per_param_log10": -0.2}
    assert "C(d+K, K) per output" in _table_markdown([row]).splitlines()[0]


# ------------------------------------------------------------------------------ run times

def test_run_times_are_the_recorded_ones():
    rows = readme_table("runtimes")[2:]
    assert rows, "the run-time table is empty"
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        name = cells[0].strip("`")
        assert cells[-1] == f"{result(name)['seconds']:.0f} s", (name, cells[-1])


# ------------------------------------------------------------------------------ two spirals

SPIRAL_LABELS = {"relu": "ReLU", "bn": "BN (final SLAF)", "gc": "GC", "ms": "MS", "emfn": "EMFN",
                 "gc_bn": "GC with batch norm"}


def _paper(x) -> str:
    return "-" if x is None else f"{x:.1f}"


def _lr(lr: float) -> str:
    mantissa, exponent = f"{lr:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def test_spirals_as_the_authors_ran_it():
    rows = result("spirals")["as_authors_ran"]["rows"]
    expected = ["| routine | data (train / validation) | ours | ours, recalibrated | paper |",
                "|---|---|---|---|---|"]
    for key, r in rows.items():
        data = ("inner half" if r["setting"]["inner_half"] else "full") + \
            f", {r['n_train']:,} / {r['n_val']:,}"
        expected.append(f"| {SPIRAL_LABELS[key]} | {data} | "
                        f"{pm(r['val_acc_mean'], r['val_acc_std'])} | "
                        f"{pm(r['val_acc_recalibrated_mean'], r['val_acc_recalibrated_std'])} | "
                        f"{_paper(r['paper'])} |")
    assert_table("spirals_authors", expected)


def test_spirals_common_protocol():
    common = result("spirals")["common_protocol"]
    lrs = common["config"]["lrs"]
    expected = ["| routine | " + " | ".join(f"ours, Adam {_lr(lr)}" for lr in lrs) + " | paper |",
                "|---" * (len(lrs) + 2) + "|"]
    for key, r in common["rows"].items():
        cells = " | ".join(pm(r["by_lr"][f"{lr:g}"]["val_acc_mean"],
                              r["by_lr"][f"{lr:g}"]["val_acc_std"]) for lr in lrs)
        expected.append(f"| {SPIRAL_LABELS[key]} | {cells} | {_paper(r['paper'])} |")
    assert_table("spirals_common", expected)


def test_spirals_prose():
    authors = result("spirals")["as_authors_ran"]["rows"]
    common = result("spirals")["common_protocol"]["rows"]
    gc = [r["val_acc_running_stats"] for r in authors["gc"]["runs"]]
    ms, emfn = authors["ms"], authors["emfn"]
    ms_fast = common["ms"]["by_lr"]["0.01"]
    assert_says(f"GC reproduces (three seeds {', '.join(f'{a:g}' for a in gc)})",
                f"EMFN is {emfn['paper'] - emfn['val_acc_mean']:.0f} points below and MS "
                f"{ms['val_acc_mean'] - ms['paper']:.0f} above",
                f"costs {ms['val_acc_mean'] - ms['val_acc_recalibrated_mean']:.0f} point",
                f"(MS at 1e-2: {ms_fast['val_acc_std']:.0f} points)")


# ------------------------------------------------------------------------------ Boston

def test_boston_table():
    res = result("boston")
    rows, cfg = res["rows"], res["config"]
    k1, k2 = cfg["slnn"]["degrees"]
    lls = rows["lls_converged"]
    labels = {"nn": "NN ReLU BN (2 hidden layers)",
              "slnn": f"SLNN, k1 = {k1}, k2 = {k2}",
              "lr_sgd": f"LR-SGD, degree-{cfg['features']['degree']} features",
              "lls_authors": f"LLS (lasso {cfg['lls']['alpha']:g}), stopped at "
                             f"{cfg['lls']['authors_sweeps']} sweeps as the authors' solver",
              "lls_converged": f"LLS, converged (duality gap {lls['duality_gap']:.3f} < "
                               f"tolerance {lls['gap_tol']:.3f})",
              "ridge": f"ridge on the same features (ours; alpha by {cfg['ridge']['folds']}-fold "
                       f"CV on train)"}
    expected = ["| model | ours: train | ours: test | paper: train / test |", "|---|---|---|---|"]
    for key, label in labels.items():
        r = rows[key]
        one = len(r["seeds"]) == 1

        def cell(what, r=r, one=one):
            m, s = r[f"{what}_rmse_mean"], r[f"{what}_rmse_std"]
            return f"{m:.2f}" if one else pm(m, s, ".2f")

        paper = ("-" if r["paper_train"] is None
                 else f"{r['paper_train']:.2f} / {r['paper_test']:.2f}")
        expected.append(f"| {label} | {cell('train')} | {cell('test')} | {paper} |")
    assert_table("boston", expected)


def test_boston_prose():
    res = result("boston")
    rows, curves, cfg = res["rows"], res["curves"], res["config"]
    nn, slnn, lr = rows["nn"], rows["slnn"], rows["lr_sgd"]
    authors, conv = rows["lls_authors"], rows["lls_converged"]
    late = curves["lr_sgd"]
    ends = [f"{r['test_rmse']:.1f}" for r in lr["runs"] if not r["diverged"]]
    e = res["expand"]
    assert_says(
        f"NN {nn['train_rmse_running_stats_mean']:.2f} / {nn['test_rmse_running_stats_mean']:.2f}"
        f", SLNN {slnn['train_rmse_running_stats_mean']:.2f} / "
        f"{slnn['test_rmse_running_stats_mean']:.2f}",
        f"Full run: {res['seconds']:.0f} s on 2 cores (with other work on the machine), "
        f"{lr['seconds']:.0f} s of it LR-SGD",
        f"differ from the paper's by {abs(nn['test_rmse_mean'] - nn['paper_test']):.2f} and "
        f"{abs(slnn['test_rmse_mean'] - slnn['paper_test']):.2f}, inside our spread over seeds "
        f"({nn['test_rmse_std']:.2f}, {slnn['test_rmse_std']:.2f})",
        f"stopped at its {cfg['lls']['authors_sweeps']}-sweep cap with a duality gap of "
        f"{authors['duality_gap']:.2f}, {authors['duality_gap'] / authors['gap_tol']:.0f} times "
        f"its tolerance",
        f"with {conv['nonzero_coefficients']} instead of {authors['nonzero_coefficients']} "
        f"non-zero coefficients",
        f"on {cfg['features']['columns_incl_bias'] - 1:,} standardised",
        f"ranges over {min(late['test_rmse_min'][100:]):.1f} to "
        f"{max(late['test_rmse_max'][100:]):,.0f}",
        f"our five seeds end at test RMSE {', '.join(ends[:-1])} and {ends[-1]}",
        f"degree {e['degree']} with all C(21, 8) = {e['n_terms']:,} terms",
        f"to a relative {sci(e['max_rel_diff_vs_float64_net'])} (to "
        f"{sci(e['max_rel_diff_vs_float32_net'])} against the float32 network")
    assert e["n_terms"] == e["C(d+K,K)"] == math.comb(21, 8)


# ------------------------------------------------------------------------------ the theory

ACT_LABELS = {"relu": "ReLU", "leaky_relu": "LeakyReLU", "sigmoid": "sigmoid", "tanh": "tanh",
              "silu": "SiLU", "elu": "ELU", "gelu": "GELU", "softplus": "softplus"}


def test_rq1_table():
    res = result("activations")
    first = res["first_degree_below_tol"]["chebyshev"]
    searched = res["chebyshev_degree_searched"]
    half_widths = [str(a) for a in res["config"]["half_widths"]]
    expected = ["| activation | " + " | ".join(f"a = {a}" for a in half_widths) + " |",
                "|---" * (len(half_widths) + 1) + "|"]
    for act in res["config"]["activations"]:
        cells = []
        for a in half_widths:
            k = first[a][act]
            if k is None:
                k = searched.get(a, {}).get(act)
            cells.append(f"> {res['config']['search_max']}" if k is None else str(k))
        expected.append(f"| {ACT_LABELS[act]} | " + " | ".join(cells) + " |")
    assert_table("activations", expected)


def test_rq1_prose():
    res = result("activations")
    rate = res["relu_rate"]
    measured = rate["k_times_sup_error"][-1]
    best = rate["best_possible_limit_bernstein_over_2"]
    cond = {b: res["errors"][b]["3"]["relu"]["cond"][-1] for b in ("chebyshev", "power")}
    k_max = res["config"]["degrees"][-1]
    assert_says(f"ReLU like `{measured:.2f} a / k` (at k = {rate['degrees'][-1]}, "
                f"{measured / best:.2f} times the best possible `{best:.3f} a / k`",
                f"(Chebyshev {cond['chebyshev']:.0f}, power {sci(cond['power'], 0)} at "
                f"k = {k_max} on the scaled variable)")


def test_universality_prose():
    res = result("universality")
    nets = res["networks"]
    k_last = res["config"]["degrees"][-1]
    tanh_random = {n["depth"]: n["sup_error"][-1] for n in nets
                   if n["act"] == "tanh" and n["kind"] == "random"}
    at_k = ", ".join(f"{sci(e)} at depth {d}" for d, e in sorted(tanh_random.items()))
    ratios = [b / s for n in nets for b, s in zip(n["bound"], n["sup_error"], strict=True)]
    cases = [ok for n in nets for ok in n["in_range"]]
    n_viol = res["n_violations_a_priori"] + res["n_violations_eff"]
    distilled = [n["distilled"] for n in nets if n["distilled"]]
    best = sorted({min(d, key=lambda r: r["sup_error"])["degree"] for d in distilled})
    worst = sorted({max(d, key=lambda r: r["sup_error"])["degree"] for d in distilled})
    lows = [min(r["sup_error"] for r in d) for d in distilled]
    assert_says(f"(at k = {k_last} with random weights: {at_k})",
                f"({n_viol} violations; the bound is {min(ratios):.1f} to {max(ratios):.0f} "
                f"times loose",
                f"in {cases.count(False)} of the {len(cases)} network/degree cases",
                f"lowest at k = {' or '.join(map(str, best))} (sup error {min(lows):.2g} to "
                f"{max(lows):.2g}) and highest at k = {' or '.join(map(str, worst))}")


def test_degree_prose():
    tasks = result("degree")["tasks"]
    sp, rg = tasks["spirals"], tasks["regression"]
    agg = rg["aggregate"]["normalized"]
    k_last = agg["degrees"][-1]
    assert all(f == 0 for t in tasks.values() for f in t["aggregate"]["normalized"]
               ["diverged_fraction"]), "README says no normalised run diverged"
    assert_says(
        f"test RMSE {agg['test_error_running_mean'][-1]:.2f} with the running statistics as "
        f"trained against {agg['test_error_mean'][-1]:.2f} recalibrated, at degree {k_last}",
        f"every two-spirals run diverged from k = "
        f"{sp['summary']['raw']['first_degree_all_diverged']} and every regression run from "
        f"k = {rg['summary']['raw']['first_degree_all_diverged']}",
        f"the best normalised degree was {sp['summary']['normalized']['best_degree']} (test error "
        f"{sp['summary']['normalized']['best_test_error']:.1f} %)",
        f"k = {rg['summary']['normalized']['best_degree']} (RMSE "
        f"{rg['summary']['normalized']['best_test_error']:.3f})")


def test_polyfeatures_prose():
    rows = {r["network"]: r for r in result("polyfeatures")["rows"]}
    boston, mlp = rows["boston_slnn"], rows["mlp_784-256-256-10_k4"]
    spirals = rows["spirals_2-10-10-1_k4"]
    assert_says(
        f"Boston SLNN has {boston['slnn_params']:,} parameters and is exactly a "
        f"degree-{boston['K']} polynomial with C(21, 8) = {_fmt_int(boston['poly_features'])} "
        f"coefficients",
        f"k = 4 has {mlp['slnn_params']:,} parameters against {_fmt_int(mlp['poly_features'])} "
        f"coefficients per output",
        f"SLNN ({spirals['slnn_params']:,} parameters) is a degree-{spirals['K']} polynomial "
        f"with only {_fmt_int(spirals['poly_features'])} coefficients")
    assert boston["poly_features"] == str(math.comb(21, 8))


# ------------------------------------------------------------------------------ performance

def test_bench_table_and_prose():
    bench = result("bench")
    slaf, mlp, exp = (bench["results"][k] for k in ("slaf", "mlp", "expand"))
    expected = ["| D | k | SLAF layer (ms) | its kernel calls (ms) | NumPy twin (ms) | Dense D->D "
                "(ms) | kernels vs twin | SLAF / Dense | SLAF / Dense, alone | peak memory / "
                "input |", "|---" * 10 + "|"]
    for r in slaf["rows"]:
        expected.append(f"| {r['D']} | {r['k']} | {r['layer_ms']:.2f} | {r['kernels_ms']:.2f} | "
                        f"{r['numpy_ms']:.1f} | {r['dense_ms']:.2f} | {r['speedup']:.1f}x | "
                        f"{r['slaf_over_dense']:.2f} | {r['slaf_over_dense_alone']:.2f} | "
                        f"{r['peak_mem_x_input']:.2f}x |")
    assert_table("bench", expected)
    k4 = next(r for r in slaf["rows"] if r["D"] == 1024 and r["k"] == 4)
    speedups = [r["speedup"] for r in slaf["rows"]]
    blas = "default" if not mlp["blas_threads_env"] else str(mlp["blas_threads_env"])
    met = {True: "met", False: "not met"}
    t = slaf["targets"]
    assert_says(
        f"(N = 256, float32, power basis, per-feature, normalised, training mode, median of "
        f"{slaf['repeats']} interleaved rounds)",
        f"({bench['started']}; kernel threads {slaf['threads']}, OpenBLAS threads spinning "
        f"{slaf['openblas_spin']} after each call",
        f"Targets: kernels >= 4x faster than the twin: **{met[t['kernels_4x_faster_than_numpy']]}"
        f"**; peak memory <= 3x the input: **{met[t['peak_memory_under_3x_input']]}**",
        f"<= 1/4 of the Dense layer: **"
        f"{met[t['slaf_k4_d1024_under_quarter_dense_interleaved']]}** "
        f"({k4['slaf_over_dense']:.2f} interleaved, {k4['slaf_over_dense_alone']:.2f} alone)",
        f"{mlp['n']:,} samples, batch {mlp['batch']}, Adam, float32, against the same epoch's "
        f"{3 * (len(mlp['widths']) - 1)} raw matmuls per batch; median of {mlp['repeats']} "
        f"interleaved pairs): fit {mlp['epoch_s']:.3f} s, matmuls {mlp['matmul_s']:.3f} s, "
        f"overhead {mlp['overhead_pct']:.1f} % (fastest runs {mlp['overhead_fastest_pct']:.1f} %;"
        f" BLAS threads: {blas})",
        f"**Expansion** of the paper's Boston SLNN: {exp['seconds_median']:.2f} s, degree "
        f"{exp['degree']}, {exp['n_terms']:,} terms, peak RSS of the whole process "
        f"{exp['peak_rss_mb']:.0f} MB",
        f"max relative difference from the network {sci(exp['max_rel_error'])} (targets: "
        f"{exp['targets']['seconds']} s, {exp['targets']['rss_mb'] // 1024} GB, "
        f"{sci(exp['targets']['rel_error'], 0)})",
        f"The kernels beat their NumPy twin by {min(speedups):.0f}-{max(speedups):.0f}x")


def test_bench_conv_and_networks_tables():
    res = result("bench")["results"]
    conv = ["| convolution (float32) | input | M, N, K | ms | GFLOP/s | same-run GEMM GFLOP/s | "
            "share | peak memory / lowered input |", "|---" * 8 + "|"]
    for x in res["conv"]["rows"]:
        conv.append(f"| {x['name']} | {'x'.join(map(str, x['input_shape']))} | "
                    f"{', '.join(map(str, x['gemm']))} | {x['ms']:.2f} | {x['gflops']:.0f} | "
                    f"{x['gemm_gflops']:.0f} | {100 * x['share']:.0f} % | "
                    f"{x['peak_mem_x_lowered']:.2f}x |")
    assert_table("bench_conv", conv)
    nets = ["| network | batch | parameters | ms per iteration (fit) | hand loop | hand loop, "
            "1 BLAS thread | 25,000 iterations |", "|---" * 7 + "|"]
    for x in res["networks"]["rows"]:
        nets.append(f"| `{x['name']}` | {x['batch']} | {x['params']:,} | {x['fit_ms']:.1f} | "
                    f"{x['loop_ms']:.1f} | {x['loop_blas1_ms']:.1f} | "
                    f"{x['implied_25k_min']:.1f} min |")
    assert_table("bench_networks", nets)
    shares = {x["name"]: x["share"] for x in res["conv"]["rows"]}
    slnn = res["networks"]["rows"][0]
    assert_says(f"a share of {shares['MNIST conv1']:.2f}, and "
                f"{shares['MNIST conv1 (first layer: no dx)']:.2f} as the network runs it",
                f"The paper's MNIST SLNN takes {slnn['fit_ms']:.1f} ms per iteration",
                f"its 25,000 iterations take {slnn['implied_25k_min']:.1f} minutes")


def _numbers(obj):
    if isinstance(obj, dict):
        return [x for v in obj.values() for x in _numbers(v)]
    if isinstance(obj, list):
        return [x for v in obj for x in _numbers(v)]
    return [obj] if isinstance(obj, int | float) and not isinstance(obj, bool) else []


def test_performance_prose_quotes_only_the_committed_run():
    """Every time or percentage in the Performance section's prose (aims such as "under 30 %"
    aside) is a number of the committed bench JSON, rounded as printed: one from an uncommitted
    run is caught here."""
    section = README.split("## Performance", 1)[1].split("\n## ", 1)[0]
    prose = "\n".join(line for line in section.splitlines() if not line.startswith("|"))
    values = _numbers(result("bench"))
    quoted = re.findall(r"(under |<= )?(\d+(?:\.(\d+))?)\s*(ms|%|s\b)", prose)
    assert quoted, "the Performance section quotes no timing at all"
    for target, value, decimals, unit in quoted:
        if target:  # "under 30 %": an aim, not a measurement
            continue
        assert any(f"{v:.{len(decimals)}f}" == value for v in values), (
            f"README's Performance section quotes {value} {unit}; figures/bench.json has no "
            f"such number")


def test_sci_rounds_as_printed():
    assert sci(3.4148e-13) == "3.4e-13" and sci(5.37e5, 0) == "5e5"


# ------------------------------------------------------------------------------ classification
def test_classification_prose():
    """Every number README's classification bullets quote is figures/mnist.json's or
    figures/fashion-mnist.json's, and the comparisons they state hold."""
    mnist = result("mnist")["models"]
    slaf, relu = mnist["slaf"], mnist["relu"]

    def pm_(model, metric):
        return f"{model[metric]['mean']:.2f} ± {model[metric]['std']:.2f} %"

    def one(model, metric):
        return f"{model[metric]['mean']:.2f} %"

    gap = slaf["paper"] - slaf["best_test_selects_on_test"]["mean"]
    seeds_apart = abs(np.diff(slaf["test_at_best_val"]["values"]))[0]
    assert_says(f"The SLNN CNN, seeds 0 and 1: test accuracy {pm_(slaf, 'test_at_best_val')} at "
                f"the best validation accuracy and {pm_(slaf, 'final_test')} at the end",
                f"is {pm_(slaf, 'best_test_selects_on_test')} (the paper: {slaf['paper']:.2f} %);"
                f" {slaf['seconds']['mean'] / 60:.1f} minutes a unit",
                f"The ReLU CNN, seeds 0 and 1: {pm_(relu, 'test_at_best_val')} at the best "
                f"validation accuracy, {pm_(relu, 'final_test')} at the end, "
                f"{pm_(relu, 'best_test_selects_on_test')} by the paper's metric (the paper: "
                f"{relu['paper']:.2f} %); {relu['seconds']['mean'] / 60:.1f} minutes a unit",
                f"our SLNN is {gap:.2f} points below the paper's",
                f"our two SLNN seeds differ by {seeds_apart:.2f} points")
    assert relu["seeds"] == slaf["seeds"] == [0, 1]
    assert relu["best_test_selects_on_test"]["mean"] >= relu["paper"]   # "reproduces"
    assert all(slaf[k]["mean"] < relu[k]["mean"] for k in
               ("best_test_selects_on_test", "test_at_best_val", "final_test",
                "mean_last10_test")), "README says the SLNN is below the ReLU CNN by every metric"
    emfn, ms, gc = mnist["emfn"], mnist["ms"], mnist["gc"]
    assert_says(f"EMFN {one(emfn, 'test_at_best_val')} at the best validation accuracy "
                f"({one(emfn, 'best_test_selects_on_test')} by the paper's metric, the paper: "
                f"{emfn['paper']:.2f} %), in {emfn['seconds']['mean'] / 60:.1f} minutes",
                f"MS {one(ms, 'test_at_best_val')} ({one(ms, 'best_test_selects_on_test')}, the "
                f"paper: {ms['paper']:.2f} %)",
                f"GC {one(gc, 'test_at_best_val')} ({one(gc, 'best_test_selects_on_test')}, the "
                f"paper: {gc['paper']:.2f} %)")
    gc_unit = next(u for u in result("mnist")["units"] if u["model"] == "gc")
    assert_says(f"averaged a training loss of {sci(gc_unit['curve'][0][3])}")

    fashion = result("fashion-mnist")
    slnn, hybrid, resnet = (fashion["models"][m] for m in ("slnn", "hybrid", "resnet"))
    assert_says(f"{fashion['budget']['iterations']:,} iterations of {fashion['budget']['batch']}",
                f"The BN + ReLU ResNet: {one(resnet, 'test_at_best_val')} at the best validation "
                f"accuracy, {one(resnet, 'final_test')} at the end, in "
                f"{resnet['seconds']['mean'] / 60:.1f} minutes",
                f"the residual SLNN: {one(slnn, 'test_at_best_val')} and "
                f"{one(slnn, 'final_test')}, in {slnn['seconds']['mean'] / 60:.1f} minutes",
                f"layers): {one(hybrid, 'test_at_best_val')} and {one(hybrid, 'final_test')}, in "
                f"{hybrid['seconds']['mean'] / 60:.1f} minutes",
                f"the {slnn['test_at_best_val']['mean'] - hybrid['test_at_best_val']['mean']:.1f}"
                f" points between the SLNN and the hybrid",
                f"the {resnet['test_at_best_val']['mean'] - slnn['test_at_best_val']['mean']:.1f}"
                f" points to the ResNet")
    assert resnet["test_at_best_val"]["mean"] > slnn["test_at_best_val"]["mean"] > \
        hybrid["test_at_best_val"]["mean"]
    cifar = result("cifar10")
    assert cifar["complete"] and not cifar["missing"], "README describes the whole CIFAR-10 grid"
    relu, hybrid = cifar["models"]["relu"], cifar["models"]["hybrid"]
    d = cifar["paired"]["final_test"]
    half = d["t_critical"] * d["std"] / np.sqrt(d["n"])
    paper_gain = hybrid["paper"] - relu["paper"]
    minutes = sorted(u["seconds"] / 60 for u in cifar["units"])
    pairs_needed = next(n for n in range(2, 10_000)
                        if student_t_quantile(0.975, n - 1) * d["std"] / np.sqrt(n) < paper_gain)
    assert_says(f"(all six units): the hybrid claim, one SLAF (k = 2, per channel, "
                f"{cifar['extra_parameters']} extra parameters)",
                f"seeds 0, 1 and 2: {pm_(relu, 'test_at_best_val')} at the best validation "
                f"accuracy, {pm_(relu, 'final_test')} at the end (the paper's ResNet-32 after 250 "
                f"epochs: {relu['paper']:.2f} %)",
                f"the hybrid, same seeds: {pm_(hybrid, 'test_at_best_val')} and "
                f"{pm_(hybrid, 'final_test')} (the paper: {hybrid['paper']:.2f} %)",
                f"at the end: {', '.join(f'{v:+.2f}' for v in d['values'][:-1])} and "
                f"{d['values'][-1]:+.2f} points, a mean of {d['mean']:+.2f} ± {d['std']:.2f}",
                f"interval of that mean is ± {half:.2f} (t = {d['t_critical']:.2f} with three",
                f"gain, +{paper_gain:.2f} points from one run of each",
                f"a {paper_gain:.2f}-point gain would need about {pairs_needed} pairs",
                f"Its six units took {minutes[0]:.1f} to {minutes[-1]:.1f} minutes each",
                f"{sum(minutes) / 60:.1f} hours of CPU in all",
                f"an estimated {cifar['paper_setting']['estimated_hours_per_unit']:.1f} hours a "
                f"unit here (`figures/cifar10.json`: the BN + ReLU units' "
                f"{relu['iterations_per_second']['mean']:.2f} iterations a second")
    assert d["n"] == 3 and d["exceeds_noise"] is False  # "does not exceed its noise"
    assert d["mean"] - half < paper_gain < d["mean"] + half  # "lies inside our interval"
    assert_says(f"{sum(minutes) / len(minutes):.0f} minutes a unit. The paired difference")


def test_classification_results_table():
    """README's results table is the committed reports' (figures/mnist.json, ...), every
    finished model of every experiment reported so far, with the paper's numbers beside."""
    from slaf_np.experiments.classification_report import results_table

    names = [n for n in ("mnist", "fashion-mnist", "cifar10")
             if (ROOT / "figures" / f"{n}.json").exists()]
    assert names, "no classification report is committed"
    assert_table("classification", results_table({n: result(n) for n in names}))
