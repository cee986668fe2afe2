"""The classification grids (slaf_np.experiments.classification*, mnist, fashion_mnist, cifar10)
and the augmentation (slaf_np.datasets.augment).

The units run at --quick sizes (a few hundred images, a few dozen iterations): these tests check
the pipeline (records, resuming, the report, the CLI), never accuracies.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from slaf_np.datasets import augment as aug
from slaf_np.train.callbacks import Callback


# -- augmentation ------------------------------------------------------------------------------
def _shift_reference(x, offsets):
    """The definition, pixel by pixel: out[n, :, i, j] = x[n, :, i + dy, j + dx] or 0."""
    N, C, H, W = x.shape
    out = np.zeros_like(x)
    for n, (dy, dx) in enumerate(offsets):
        for i in range(H):
            for j in range(W):
                if 0 <= i + dy < H and 0 <= j + dx < W:
                    out[n, :, i, j] = x[n, :, i + dy, j + dx]
    return out


def test_crop_is_the_image_shifted_by_its_offset_with_zeros_outside():
    rng = np.random.default_rng(0)
    x = rng.random((9, 2, 6, 5), dtype=np.float32) + 1  # no zero pixel inside the image
    offsets = np.array([[-4, -4], [-4, 4], [4, -4], [4, 4], [0, 0], [1, -2], [-3, 2], [2, 3],
                        [1, -2]])
    out = aug.crop(x, offsets, pad=4)
    np.testing.assert_array_equal(out, _shift_reference(x, offsets))
    np.testing.assert_array_equal(out[4], x[4])          # offset (0, 0) is the image itself
    assert out[0, :, :4].sum() == 0 and out[0, :, :, :4].sum() == 0   # shifted in by (-4, -4)


def test_crop_rejects_offsets_beyond_the_padding():
    x = np.zeros((2, 1, 4, 4), np.float32)
    with pytest.raises(ValueError, match="offsets must lie in"):
        aug.crop(x, np.array([[0, 0], [0, 5]]), pad=4)
    with pytest.raises(ValueError, match="shape"):
        aug.crop(x, np.array([0, 0]), pad=4)


def test_flip_mirrors_the_chosen_images_only_and_leaves_the_input_alone():
    x = np.random.default_rng(1).random((4, 3, 5, 6), dtype=np.float32)
    before = x.copy()
    mask = np.array([True, False, True, False])
    out = aug.flip(x, mask)
    np.testing.assert_array_equal(out[0, :, 2, 0], x[0, :, 2, 5])       # left <-> right
    np.testing.assert_array_equal(out[mask], x[mask][..., ::-1])
    np.testing.assert_array_equal(out[~mask], x[~mask])
    np.testing.assert_array_equal(aug.flip(out, mask), x)                 # an involution
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8])
def test_augment_keeps_shape_and_dtype_and_is_reproducible(dtype):
    x = (np.random.default_rng(2).random((16, 3, 8, 8)) * 200).astype(dtype)
    a = aug.augment(x, np.random.default_rng(7))
    assert a.shape == x.shape and a.dtype == x.dtype
    np.testing.assert_array_equal(a, aug.augment(x, np.random.default_rng(7)))
    assert not np.array_equal(a, aug.augment(x, np.random.default_rng(8)))
    # every output pixel is a zero of the padding or a pixel of its own image
    for n in range(len(x)):
        assert np.isin(a[n], np.append(x[n], 0)).all()


def test_random_crop_draws_every_offset_in_the_padding():
    x = np.ones((2000, 1, 12, 12), np.float32)
    out = aug.random_crop(x, np.random.default_rng(3), pad=2)
    # the zero rows / columns of each image give its |dy| and |dx|: all of 0, 1, 2 occur
    zero_rows = (out.sum(axis=(1, 3)) == 0).sum(axis=1)
    assert set(zero_rows.tolist()) == {0, 1, 2}


# -- the units ---------------------------------------------------------------------------------
def _grid(name):
    from slaf_np import experiments

    grid = experiments.get(name).grid
    from slaf_np.datasets import DataUnavailable

    try:
        grid.load(None, True)
    except DataUnavailable as e:  # out of reach here; a loader that fails on data it has fails
        pytest.skip(f"{name} cannot be had here: {e}")
    return grid


class Kill(Callback):
    """Stop the process (an exception) after ``at`` iterations, as a kill would."""

    def __init__(self, at: int) -> None:
        self.at = at

    def on_batch_end(self, run) -> None:
        if run.iteration == self.at:
            raise KeyboardInterrupt(f"killed at iteration {self.at}")


def _weights(folder: Path) -> dict:
    from slaf_np.nn import io

    model = io.load(folder / "model.npz")
    return {**model.params, **{f"buffer:{k}": v for k, v in model.buffers.items()}}


def test_metrics_of_a_hand_made_curve():
    from slaf_np.experiments.classification import metrics

    rows = [[100, 90.0, 91.0, 0.5], [200, 95.0, 93.0, 0.4], [300, 95.0, 96.0, 0.3],
            [400, 94.0, 92.0, 0.2]]
    m = metrics(rows)
    assert m["best_test_selects_on_test"] == 96.0 and m["best_test_iteration"] == 300
    assert m["test_at_best_val"] == 93.0 and m["best_val_iteration"] == 200  # tie: earliest
    assert m["final_test"] == 92.0
    assert m["mean_last10_test"] == pytest.approx(93.0)   # fewer than 10: all of them
    late = metrics(rows, best_from=350)                     # the paper's "from 5k" rule
    assert late["best_test_selects_on_test"] == 92.0 and late["best_test_iteration"] == 400
    assert metrics(rows, best_from=10**6)["best_test_selects_on_test"] == 96.0  # none: all


@pytest.mark.data
def test_a_quick_unit_records_everything_the_report_needs(tmp_path):
    from slaf_np.experiments.classification import run_unit

    grid = _grid("fashion-mnist")
    rec = run_unit(grid, "resnet", 0, tmp_path, quick=True, verbose=False)
    folder = tmp_path / "fashion-mnist" / "resnet_seed0"
    assert json.loads((folder / "unit.json").read_text()) == json.loads(json.dumps(rec))
    assert (folder / "model.npz").exists() and (folder / "checkpoint.npz").exists()
    assert rec["experiment"] == "fashion-mnist" and rec["model"] == "resnet" and rec["seed"] == 0
    cfg = rec["config"]
    assert cfg["iterations"] == grid.quick.iterations and cfg["batch"] == grid.quick.batch
    assert cfg["schedule"][0] == [0, 1e-3] and cfg["parameters"] > 0
    assert rec["curve_columns"] == ["iteration", "val_accuracy", "test_accuracy", "train_loss"]
    its = [r[0] for r in rec["curve"]]
    assert its == list(range(grid.quick.eval_every, grid.quick.iterations + 1,
                             grid.quick.eval_every))
    assert all(0 <= r[1] <= 100 and 0 <= r[2] <= 100 and r[3] > 0 for r in rec["curve"])
    assert set(rec["metrics"]) >= {"best_test_selects_on_test", "test_at_best_val",
                                   "final_test", "mean_last10_test"}
    assert rec["metrics"]["final_test"] == rec["curve"][-1][2]
    assert rec["seconds"] > rec["eval_seconds"] > 0 and rec["iterations_per_second"] > 0
    assert rec["peak_memory_mb"] > 0
    assert rec["provenance"]["finished_utc"] is not None
    # a finished unit is read back, not run again
    assert run_unit(grid, "resnet", 0, tmp_path, quick=True, verbose=False) == rec


@pytest.mark.data
@pytest.mark.parametrize("name, model, kill_at", [
    ("mnist", "slaf", 25),      # dropout rng, SLAF statistics; resumes from iteration 20
    ("cifar10", "hybrid", 22),  # augmentation: resumes mid-epoch (checkpoint 20, epochs of 12)
    ("cifar10", "relu", 26),    # augmentation: resumes between epochs (checkpoint at 24)
])
def test_a_killed_unit_resumes_to_the_same_weights_and_curve(tmp_path, name, model, kill_at):
    from slaf_np.experiments.classification import run_unit

    grid = _grid(name)
    data = grid.load(None, True)
    whole = run_unit(grid, model, 0, tmp_path / "a", quick=True, verbose=False, data=data)
    with pytest.raises(KeyboardInterrupt):
        run_unit(grid, model, 0, tmp_path / "b", quick=True, verbose=False, data=data,
                 callbacks=[Kill(kill_at)])
    folder = tmp_path / "b" / name / f"{model}_seed0"
    assert not (folder / "unit.json").exists() and (folder / "checkpoint.npz").exists()
    resumed = run_unit(grid, model, 0, tmp_path / "b", quick=True, verbose=False, data=data)
    assert resumed["curve"] == whole["curve"]
    a, b = _weights(tmp_path / "a" / name / f"{model}_seed0"), _weights(folder)
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


@pytest.mark.data
def test_report_lists_missing_units_with_their_commands(tmp_path, capsys):
    from slaf_np.experiments.classification import run_unit
    from slaf_np.experiments.classification_report import report

    grid = _grid("cifar10")
    run_unit(grid, "relu", 1, tmp_path / "units", quick=True, verbose=False)
    res = report(grid, tmp_path / "units", tmp_path, quick=True)
    assert not res["complete"] and "not results" in res["quick_note"]
    expected = {(m, s) for m in ("relu", "hybrid") for s in (0, 1, 2)} - {("relu", 1)}
    assert {(m["model"], m["seed"]) for m in res["missing"]} == expected
    cmd = f"slaf-np run cifar10 --model hybrid --seed 2 --quick --units {tmp_path / 'units'}"
    assert cmd in [m["command"] for m in res["missing"]]
    assert cmd in (tmp_path / "cifar10.md").read_text() and cmd in capsys.readouterr().out
    saved = json.loads((tmp_path / "cifar10.json").read_text())
    assert saved["models"]["relu"]["seeds"] == [1] and saved["paired"]["seeds"] == []
    assert "cifar10.png" in saved["figures"] and (tmp_path / "cifar10.png").exists()


@pytest.mark.data
def test_cli_runs_one_unit_then_reports_it(tmp_path, capsys):
    from slaf_np.cli import main

    units, out = str(tmp_path / "u"), str(tmp_path / "o")
    _grid("mnist")
    assert main(["run", "mnist", "--quick", "--model", "relu", "--seed", "1", "--units", units,
                 "--out", out, "-q"]) == 0
    assert (Path(units) / "mnist" / "relu_seed1" / "unit.json").exists()
    assert not (Path(units) / "mnist" / "relu_seed0").exists()
    assert main(["report", "mnist", "--quick", "--units", units, "--out", out]) == 0
    text = capsys.readouterr().out
    assert f"slaf-np run mnist --model slaf --seed 0 --quick --units {units}" in text
    assert "pipeline" in text
    record = json.loads((Path(out) / "mnist.json").read_text())
    assert [u["model"] for u in record["units"]] == ["relu"]


def test_cli_refuses_grid_options_elsewhere_and_unknown_models(capsys):
    from slaf_np.cli import main

    assert main(["run", "polyfeatures", "--model", "slaf"]) == 2
    assert "--model and --units apply to the grids of units" in capsys.readouterr().err
    assert main(["run", "mnist", "--model", "nope"]) == 2
    assert "known: slaf, relu, emfn, ms, gc" in capsys.readouterr().err
    assert main(["report", "spirals"]) == 2
    assert "not a grid of units" in capsys.readouterr().err


@pytest.mark.data
def test_a_diverged_unit_is_reported_and_the_next_units_still_run(tmp_path, monkeypatch):
    from slaf_np.experiments import classification
    from slaf_np.experiments.classification_report import report
    from slaf_np.train.loop import TrainingDivergedError

    grid = _grid("fashion-mnist")
    ran = []

    def fake(grid, model, seed, units, *args, **kwargs):
        ran.append(model)
        if model == "slnn":
            raise TrainingDivergedError("fit: training diverged at epoch 1 (test)")
        return {}

    monkeypatch.setattr(classification, "run_unit", fake)
    classification.run_grid(grid, units=tmp_path, quick=True, verbose=False)
    assert ran == ["slnn", "hybrid", "resnet"]
    res = report(grid, tmp_path, tmp_path / "out", quick=True, verbose=False)
    slnn = next(m for m in res["missing"] if m["model"] == "slnn")
    assert "diverged at epoch 1 (test)" in slnn["diverged"]
    assert "diverged: fit: training diverged" in (tmp_path / "out" / "fashion-mnist.md").read_text()


def _lock(folder, pid):
    import socket

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "running.lock").write_text(f"{socket.gethostname()} {pid}")


def test_a_unit_another_process_runs_is_skipped_and_listed_as_running(tmp_path, capsys):
    """Two ``slaf-np run GRID`` share a grid: a unit whose lock a live process holds is skipped
    (not trained a second time) and the report says it is running."""
    import subprocess
    import sys

    from slaf_np.experiments import classification
    from slaf_np.experiments.classification_report import report

    grid = _grid("fashion-mnist")
    folder = classification.unit_dir(tmp_path, grid.name, "slnn", 0)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _lock(folder, other.pid)
        with pytest.raises(classification.UnitBusy, match=f"process {other.pid} on"):
            classification.run_unit(grid, "slnn", 0, tmp_path, quick=True, verbose=False)
        assert sorted(p.name for p in folder.iterdir()) == ["running.lock"]   # nothing trained
        classification.run_grid(grid, "slnn", 0, units=tmp_path, quick=True, verbose=False)
        assert "slnn seed 0: skipped" in capsys.readouterr().err
        assert not (folder / "checkpoint.npz").exists()
        res = report(grid, tmp_path, tmp_path / "out", quick=True, verbose=False)
        slnn = next(m for m in res["missing"] if m["model"] == "slnn")
        assert slnn["running"].endswith(str(other.pid))
        assert "(running now:" in (tmp_path / "out" / "fashion-mnist.md").read_text()
    finally:
        other.kill()
        other.wait()


def test_a_lock_left_by_a_dead_process_is_taken_over_and_released(tmp_path):
    import subprocess
    import sys

    from slaf_np.experiments.classification import claim

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    _lock(tmp_path, dead.pid)
    with claim(tmp_path):
        assert (tmp_path / "running.lock").read_text().endswith(f" {os.getpid()}")
    assert not (tmp_path / "running.lock").exists()
    with pytest.raises(RuntimeError, match="boom"), claim(tmp_path):   # released on errors too
        raise RuntimeError("boom")
    assert not (tmp_path / "running.lock").exists()


def test_curve_training_loss_keeps_small_losses_after_a_huge_one():
    """After a huge early loss (raw powers: 1e15) fit's epoch sum is about 1e15, and adding the
    later small losses to it changes nothing in float64: the curve sums the loss itself, window
    by window, so the mean after the next evaluation is that of the small losses."""
    from slaf_np.experiments.classification import Curve

    curve = Curve(10, None, None, None)
    y = np.array([0, 1])
    huge = np.array([[0.0, 1e15], [0.0, 0.0]])      # row 0: loss 1e15; row 1: log 2
    small = np.array([[5.0, 0.0], [0.0, 5.0]])      # both right: log(1 + e^-5) each
    v1, _ = curve.loss(huge, y)
    assert v1 > 1e14 and curve.take_loss() == pytest.approx(v1)
    v2, _ = curve.loss(small, y)
    v3, _ = curve.loss(small, y)
    assert 0 < v2 == v3 < 0.01
    assert curve.take_loss() == pytest.approx(v2, rel=1e-12)
    assert curve.take_loss() == 0.0                 # nothing since


@pytest.mark.parametrize("p", [0.6, 0.9, 0.975, 0.995])
def test_student_t_quantile_matches_closed_forms(p):
    """df = 1 is Cauchy (tan), df = 2 has F(t) = 1/2 + t / (2 sqrt(2 + t^2)), a huge df is
    the normal: a wrong constant or a wrong integration rule breaks at least one."""
    from statistics import NormalDist

    from slaf_np.experiments.classification_report import student_t_quantile

    q = 2 * p - 1
    assert student_t_quantile(p, 1) == pytest.approx(np.tan(np.pi * (p - 0.5)), rel=1e-7)
    assert student_t_quantile(p, 2) == pytest.approx(np.sqrt(2 * q * q / (1 - q * q)), rel=1e-7)
    assert student_t_quantile(p, 1e7) == pytest.approx(NormalDist().inv_cdf(p), rel=1e-6)
    with pytest.raises(ValueError, match="0.5 < p < 1"):
        student_t_quantile(0.4, 3)


def test_paired_difference_uses_the_t_interval_and_only_seeds_both_finished():
    """Differences 0.1, 0.5, 0.3 (mean 0.3, std 0.2): a normal interval (2 std / sqrt 3 = 0.23)
    would call the gain real; Student's t with 2 degrees of freedom (4.30 std / sqrt 3 = 0.50)
    does not. Differences 0.3, 0.5, 0.4 exceed it (0.25 < 0.4). A seed only one model finished
    is left out."""
    from slaf_np.experiments.classification import METRIC_LABELS
    from slaf_np.experiments.classification_report import paired

    def rec(model, seed, acc):
        return {"model": model, "seed": seed, "metrics": {k: acc for k in METRIC_LABELS}}

    def records(gains):
        rs = [rec("relu", s, 80.0 + s) for s in range(3)]
        rs += [rec("hybrid", s, 80.0 + s + g) for s, g in enumerate(gains)]
        return rs + [rec("relu", 7, 50.0)]

    noisy = paired(records([0.1, 0.5, 0.3]), "relu", "hybrid")
    assert noisy["seeds"] == [0, 1, 2] and noisy["pair"] == "hybrid - relu"
    d = noisy["final_test"]
    assert d["mean"] == pytest.approx(0.3) and d["std"] == pytest.approx(0.2)
    assert d["t_critical"] == pytest.approx(4.303, abs=1e-3) and d["exceeds_noise"] is False
    clear = paired(records([0.3, 0.5, 0.4]), "relu", "hybrid")["final_test"]
    assert clear["exceeds_noise"] is True
    one = paired(records([0.3]), "relu", "hybrid")["final_test"]
    assert one["n"] == 1 and one["exceeds_noise"] is None
