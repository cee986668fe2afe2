"""The tutorials run top to bottom in quick mode and print what they claim to show.

Each tutorial runs in a subprocess (``sys.executable``, working directory a temporary folder), so
it is tested as a user runs it: a standalone script that finds its output folder from
``--out`` or ``SLAF_TUTORIAL_OUT`` and its quick mode from ``--quick`` or
``SLAF_TUTORIAL_QUICK``. About 12 s in all with a warm numba cache.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

TUTORIALS = Path(__file__).resolve().parents[1] / "tutorials"
TIMEOUT = 300  # seconds; generous for a cold numba cache


def run(script: str, tmp_path: Path, use_env: bool = False) -> str:
    """Run ``tutorials/<script>`` in quick mode; return its stdout (fails on a non-zero exit)."""
    out = tmp_path / "out"
    env = dict(os.environ)
    cmd = [sys.executable, str(TUTORIALS / script)]
    if use_env:
        env.update(SLAF_TUTORIAL_QUICK="1", SLAF_TUTORIAL_OUT=str(out))
    else:
        env.pop("SLAF_TUTORIAL_QUICK", None)
        env.pop("SLAF_TUTORIAL_OUT", None)
        cmd += ["--quick", "--out", str(out)]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=TIMEOUT)
    assert proc.returncode == 0, f"{script} exited with {proc.returncode}:\n{proc.stderr[-3000:]}"
    return proc.stdout


def number_after(text: str, prefix: str) -> float:
    """The first number printed after ``prefix``."""
    m = re.search(re.escape(prefix) + r"\s*([-+0-9.eE]+)", text)
    assert m, f"no line with {prefix!r} in the output"
    return float(m.group(1))


def test_01_slaf_by_hand(tmp_path):
    text = run("01_slaf_by_hand.py", tmp_path, use_env=True)   # the environment-variable route
    for name in ("dc", "db", "dz"):
        assert number_after(text, f"backward: {name} max |by hand - layer| =") < 1e-12
    assert number_after(text, "forward: max |by hand - layer| =") < 1e-12
    assert "check_jacobian (training mode): passed" in text
    assert "check_jacobian (evaluation mode): passed" in text
    assert "negative control: GradcheckError caught" in text
    assert "NOT caught" not in text
    assert (tmp_path / "out" / "01_term_scales.png").stat().st_size > 0


def test_02_an_slnn_is_a_polynomial(tmp_path):
    text = run("02_an_slnn_is_a_polynomial.py", tmp_path)
    assert "degree 6 = product of the SLAF degrees 2 x 3 = 6" in text
    assert number_after(text, "max |expand(model)(X) - model.forward(X)|:") < 1e-10
    assert "expand(hybrid) raised ValueError: expand: layer 3 (ReLU)" in text
    assert (tmp_path / "out" / "02_slnn_polynomial.png").stat().st_size > 0


def test_03_fitting_activations(tmp_path):
    text = run("03_fitting_activations.py", tmp_path)
    rows = re.findall(r"^\s+(relu|tanh|sigmoid)\s+\d+\s+\S+\s+\S+\s+\S+\s+(\S+)$", text, re.M)
    assert len(rows) == 12 and all(float(ratio) < 1 for _, ratio in rows), "fit above Jackson"
    table = re.findall(r"^\s+(\d+)\s+\S+\s+\S+\s+(\S+)\s+\S+\s+\S+\s+(True|False)\s+\S+$",
                       text, re.M)
    errors = {int(k): float(err) for k, err, _ in table}
    assert sorted(errors) == [2, 4, 8, 16]
    assert errors[16] < errors[2], f"conversion error does not fall with the degree: {errors}"
    for name in ("03_fits.png", "03_converted_slafs.png"):
        assert (tmp_path / "out" / name).stat().st_size > 0


@pytest.mark.parametrize("script", sorted(p.name for p in TUTORIALS.glob("[0-9]*.py")))
def test_every_tutorial_is_tested(script):
    assert f"test_{script[:-3]}" in globals(), f"tutorials/{script} has no test here"
