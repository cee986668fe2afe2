"""The theory experiments (``activations``: RQ1, ``polyfeatures``: RQ5) in quick mode, and the
parameter counts they rest on; what the activations and universality (claim 2) figures say, and
the seeds their JSON records."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from slaf_np import experiments
from slaf_np.experiments import activations as A
from slaf_np.experiments import universality as U
from slaf_np.experiments.polyfeatures import (
    MNIST_RELU,
    dense_slnn_params,
    mnist_cnn_params,
)


@pytest.fixture(scope="module")
def activations_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("activations")
    return out, experiments.get("activations").run(quick=True, out=out, verbose=False)


@pytest.fixture(scope="module")
def polyfeatures_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("polyfeatures")
    return out, experiments.get("polyfeatures").run(quick=True, out=out, verbose=False)


def test_activations_quick_writes_its_files(activations_run):
    out, rec = activations_run
    for name in ("activations.json", "activations.md", "activations.png",
                 "activations_bases.png", "activations_fits.png"):
        assert (out / name).stat().st_size > 0, name
    saved = json.loads((out / "activations.json").read_text())
    assert saved["quick"] is True and saved["seconds"] < 30
    assert "no numbers survive" in saved["paper"].lower()
    assert "| sigmoid | 5 |" in (out / "activations.md").read_text()


def test_activations_quick_results(activations_run):
    _, rec = activations_run
    cfg = rec["config"]
    assert cfg["degrees"] == list(range(1, 9)) and cfg["half_widths"] == [3]
    first = rec["first_degree_below_tol"]
    assert first["chebyshev"]["3"] == {"relu": None, "tanh": None, "sigmoid": 5, "silu": 6}
    assert first["power"]["3"] == first["chebyshev"]["3"]
    cheb, power = rec["errors"]["chebyshev"]["3"], rec["errors"]["power"]["3"]
    for act in cfg["activations"]:
        assert cheb[act]["sup"] == pytest.approx(power[act]["sup"], rel=1e-8)
        assert all(c <= 1.0 + 1e-9 for c in cheb[act]["cond"])     # orthogonal at Chebyshev nodes
    assert rec["errors"]["chebyshev_raw"]["3"]["tanh"]["cond"][-1] > 100
    assert len(rec["coef_chebyshev"]["3"]["relu"]["8"]) == 9


def test_activations_records_that_no_case_draws_a_seed(activations_run):
    out, _ = activations_run
    saved = json.loads((out / "activations.json").read_text())
    assert saved["seeds"] == {} and "no case uses a seed" in saved["seed_rule"]


def _two_kinks(degrees=(1, 2, 3, 4)):
    """Results holding ReLU and LeakyReLU(0.01), whose errors are in the ratio 0.99."""
    relu = [0.3 / k for k in degrees]
    sup = {"relu": relu, "leaky_relu": [0.99 * e for e in relu]}
    return {"config": {"activations": list(sup), "degrees": list(degrees), "half_widths": [1]},
            "errors": {"chebyshev": {"1": {act: {"sup": v} for act, v in sup.items()}}}}


def test_activations_figure_tells_relu_from_leaky_relu(tmp_path):
    fig = A._figure_errors(_two_kinks(), tmp_path / "e.png")
    lines = {line.get_label(): line for line in fig.axes[0].lines}
    relu, leaky = lines["relu"], lines["leaky_relu"]
    assert (relu.get_linestyle(), relu.get_marker()) != (leaky.get_linestyle(), leaky.get_marker())
    assert "coincide" in fig.get_suptitle() and "0.99 times" in fig.get_suptitle()


def test_activations_figure_labels_the_tolerance_line(tmp_path):
    fig = A._figure_errors(_two_kinks(), tmp_path / "e.png")
    tol = [line for line in fig.axes[0].lines if "tolerance" in line.get_label()]
    assert len(tol) == 1 and list(tol[0].get_ydata()) == [A.TOL, A.TOL]
    assert any("tolerance" in t.get_text() for t in fig.legends[0].get_texts())


def test_activations_bases_figure_says_where_the_bases_overlap(activations_run, tmp_path):
    _, rec = activations_run
    fig = A._figure_bases(rec, tmp_path / "b.png")
    notes = [[t.get_text() for t in ax.texts] for ax in fig.axes]
    # rows: float64 error, float32 error, condition number (one column, a = 3, in --quick)
    assert "the same polynomial" in notes[0][0]           # power and Chebyshev: one polynomial
    assert notes[2] == []                                 # their conditioning differs
    assert "same polynomials" in fig.get_suptitle()


def test_polyfeatures_quick_writes_its_files(polyfeatures_run):
    out, rec = polyfeatures_run
    for name in ("polyfeatures.json", "polyfeatures.md", "polyfeatures.png"):
        assert (out / name).stat().st_size > 0, name
    saved = json.loads((out / "polyfeatures.json").read_text())
    assert saved["paper"]["boston_features_C(21,8)"] == 203_490
    md = (out / "polyfeatures.md").read_text()
    assert "| boston_slnn | 13 | 4x2 | 8 | 10,945 | 203,490 |" in md


def test_polyfeatures_counts(polyfeatures_run):
    _, rec = polyfeatures_run
    rows = {r["network"]: r for r in rec["rows"]}
    assert rows["boston_slnn"]["poly_features"] == "203490"
    assert (rows["spirals_2-10-10-1_k4"]["K"], rows["spirals_2-20-20-1_k7"]["K"]) == (16, 49)
    for r in rows.values():
        assert int(r["poly_features"]) == math.comb(r["d"] + r["K"], r["K"])
        if "expanded" in r:        # generic weights: the full degree and every monomial
            assert r["expanded"]["degree"] == r["K"]
            assert r["expanded"]["n_terms"] == int(r["poly_features"])
            assert r["expanded"]["max_rel_diff_vs_forward"] < 1e-9
    mnist = rows["mnist_slnn_cnn"]
    assert (mnist["K"], mnist["slnn_params"], mnist["params_shared_fc_slaf"]) == (80, 1_636_538,
                                                                                   1_630_400)
    assert mnist["log10_poly_features"] == pytest.approx(math.log10(math.comb(864, 80)))
    assert mnist["relu_baseline_params"] == 3_274_634                # the paper's 3.27M


def test_parameter_closed_forms():
    assert dense_slnn_params((13, 128, 64, 1), (4, 2)) == 1792 + 128 * 5 + 8256 + 64 * 3 + 65
    assert dense_slnn_params((2, 10, 10, 1), (4, 4)) == 251
    assert dense_slnn_params((2, 10, 10, 1), (4, 4), shared=True) == 30 + 5 + 110 + 5 + 11
    total, layers = mnist_cnn_params()
    assert total == sum(n for _, n in layers) == 1_636_538
    assert mnist_cnn_params(MNIST_RELU)[0] == 832 + 51_264 + 3136 * 1024 + 1024 + 10_250


# ------------------------------------------------------------------------------ universality
def _universality_row(in_range, sup_error, bound):
    n = len(in_range)
    return {"act": "tanh", "depth": 2, "width": 8, "kind": "random",
            "degrees": list(range(1, n + 1)), "in_range": in_range, "sup_error": sup_error,
            "bound": bound, "max_abs_t": [[1.2]] * n, "distilled": []}


def test_out_of_range_lists_each_case_and_whether_the_bound_held():
    row = _universality_row([True, False, False], [0.1, 0.2, 0.3], [1.0, 1.0, 0.25])
    left = U.out_of_range([row])
    assert [(p["degree"], p["bound_held"]) for p in left] == [(2, True), (3, False)]


@pytest.mark.parametrize("bound, says", [([1.0, 1.0], "1 network/degree case; bound still held"),
                                         ([1.0, 0.1], "1 network/degree case; bound not "
                                                      "guaranteed, exceeded in 1")])
def test_universality_figure_rings_the_cases_that_left_the_fitted_range(tmp_path, bound, says):
    row = _universality_row([True, False], [0.1, 0.2], bound)
    fig = U.figure({"networks": [row]}, tmp_path / "u.png")
    rings = [line for line in fig.axes[0].lines if line.get_label() == "left the fitted range"]
    assert len(rings) == 1 and list(rings[0].get_xdata()) == [2]
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert f"left the fitted range ({says})" in legend


def test_universality_records_every_seed_and_the_cases_out_of_range(tmp_path, monkeypatch):
    monkeypatch.setattr(U, "QUICK", {"archs": ((1, 4), (2, 4)), "degrees": (1, 2),
                                     "train_epochs": 1, "distill_degrees": (2,),
                                     "distill_epochs": 1, "distill_n": 64})
    experiments.get("universality").run(quick=True, seed=3, out=tmp_path, verbose=False)
    saved = json.loads((tmp_path / "universality.json").read_text())
    assert "init [seed, act index, arch index]" in saved["seed_rule"]
    for r in saved["networks"]:
        a, d = U.ACTS.index(r["act"]), [(1, 4), (2, 4)].index((r["depth"], r["width"]))
        kk = U.KINDS.index(r["kind"])
        assert r["seeds"]["init"] == [3, a, d]
        assert r["seeds"]["train"] == ([3, a, d, kk] if r["kind"] == "trained" else None)
        assert r["seeds"]["distill"] == ({"2": [3, a, d, kk, 2]} if r["depth"] == 2 else {})
        if r["kind"] == "random":     # the recorded seed rebuilds the measured network
            net = U.make_network(r["act"], r["depth"], r["width"],
                                 np.random.default_rng(r["seeds"]["init"]))
            assert [U.inf_norm(W) for W in U.dense_weights(net)] == r["norms"]
    assert saved["out_of_range"] == U.out_of_range(saved["networks"])
    assert saved["n_out_of_range"] == sum(not ok for r in saved["networks"] for ok in r["in_range"])
