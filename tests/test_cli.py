"""The ``slaf-np`` command: list, run, bench argument handling, version; import stays light."""

import json
import subprocess
import sys

import pytest

from slaf_np import __version__
from slaf_np.cli import main


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert __version__ in capsys.readouterr().out


def test_list_names_spirals(capsys):
    assert main(["list"]) == 0
    assert "spirals" in capsys.readouterr().out


def test_unknown_experiment(capsys):
    assert main(["run", "no-such-thing"]) == 2
    assert "no experiment named 'no-such-thing'" in capsys.readouterr().err


def test_unknown_benchmark(capsys):
    with pytest.raises(SystemExit) as e:
        main(["bench", "--only", "nope"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'nope'" in err and "slaf" in err


def test_run_spirals_quick(tmp_path, capsys):
    """The README's first command: the GC demo prints its measured accuracy, the network as a
    polynomial, and the figure's path; the JSON holds the same numbers."""
    assert main(["run", "spirals", "--quick", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    record = json.loads((tmp_path / "spirals.json").read_text())
    assert record["quick"] is True and record["seconds"] > 0
    demo = record["demo"]
    assert f"validation accuracy: {demo['val_acc']:.2f} % on 2,000 points (this run" in out
    assert demo["val_acc"] >= 95.0
    poly = demo["polynomial"]
    diff = f"{poly['max_abs_diff_val']:.1e}"
    assert "quick_note" not in record and "smoke" not in out and "toy sizes" not in out
    assert (f"a polynomial in (x, y): degree {poly['degree']}, {poly['n_terms']} terms; max "
            f"|polynomial - network| on the validation points {diff}") in out
    assert f"figure: {tmp_path / 'spirals_demo.png'}" in out
    assert (tmp_path / "spirals_demo.png").stat().st_size > 10_000
    assert record["figures"] == ["spirals_demo.png"]


def test_import_is_light():
    """``import slaf_np`` must not import numba (nothing compiled, nothing slow at import)."""
    code = "import sys, slaf_np; print('numba' in sys.modules, 'matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_quick_runs_default_to_runs_quick(tmp_path, monkeypatch):
    """A quick run without --out must not overwrite the committed full results in figures/."""
    monkeypatch.chdir(tmp_path)
    assert main(["run", "polyfeatures", "--quick", "-q"]) == 0
    assert (tmp_path / "runs" / "quick" / "polyfeatures.json").exists()
    assert not (tmp_path / "figures").exists()


def test_a_quick_run_says_it_is_a_smoke_test(tmp_path, capsys):
    """Issue: `run boston --quick` printed an SLNN test RMSE of 23 as if it were a result. Every
    quick run but the spirals demo says, in the log and the JSON, that it is not one."""
    assert main(["run", "polyfeatures", "--quick", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "--quick runs polyfeatures at toy sizes to test the pipeline" in out
    record = json.loads((tmp_path / "polyfeatures.json").read_text())
    assert "not results" in record["quick_note"]
    from slaf_np import experiments
    assert experiments.get("spirals").quick_is_result
    assert not any(e.quick_is_result for n, e in experiments.available().items() if n != "spirals")


# -- bad invocations: a one-line error and a non-zero status, never a traceback -------------------
def test_no_command_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    err = capsys.readouterr().err
    assert "usage: slaf-np" in err and "COMMAND" in err


@pytest.mark.parametrize("seed", ["-1", "x", "1.5"])
def test_bad_seed_is_a_usage_error(seed, capsys):
    with pytest.raises(SystemExit) as e:
        main(["run", "spirals", "--quick", "--seed", seed])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "--seed" in err and "a non-negative integer" in err and "Traceback" not in err


def test_data_error_during_a_run_is_one_line(tmp_path, capsys):
    # a garbage cache file: the loader raises a DataError, which used to print a traceback
    (tmp_path / "boston.npz").write_bytes(b"not an npz")
    assert main(["run", "boston", "--quick", "-q", "--data", str(tmp_path),
                 "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("slaf-np run boston: ") and "slaf-np data fetch boston --force" in err
    assert len(err.splitlines()) == 1


def test_unknown_experiment_suggests_close_names(capsys):
    assert main(["run", "spiral"]) == 2
    assert "did you mean 'spirals'?" in capsys.readouterr().err


def test_bench_help_lists_the_names_only_takes(capsys):
    from slaf_np.benchmarks import BENCHMARKS

    with pytest.raises(SystemExit):
        main(["bench", "--help"])
    out = capsys.readouterr().out
    assert all(name in out for name in BENCHMARKS)
