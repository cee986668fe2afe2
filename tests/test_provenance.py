"""slaf_np.provenance: every result file says which code, libraries, threads and machine made it."""

import json
import shutil
import socket
import subprocess
import sys

import pytest

from slaf_np import __version__, provenance
from slaf_np.experiments import Experiment
from slaf_np.utils import to_json


def test_collect_names_code_libraries_threads_and_machine():
    prov = provenance.collect()
    assert prov["package"] == {"name": "slaf_np", "version": __version__}
    assert set(prov["git"]) == {"commit", "dirty"}
    import numba
    import numpy
    assert prov["versions"]["numpy"] == numpy.__version__
    assert prov["versions"]["numba"] == numba.__version__
    assert prov["versions"]["python"] == ".".join(map(str, sys.version_info[:3]))
    for pool in prov["threads"]["blas"]:
        assert {"internal_api", "version", "num_threads"} <= set(pool)
    assert set(prov["threads"]["env"]) == set(provenance.THREAD_ENV)
    assert prov["threads"]["numba"]["max"] == numba.config.NUMBA_NUM_THREADS
    assert prov["machine"]["cpu_count"] >= 1
    assert prov["started_utc"].endswith("+00:00") and prov["finished_utc"] is None
    finished = provenance.finish(prov)["finished_utc"]
    assert finished >= prov["started_utc"]
    json.loads(to_json(prov))  # strict JSON


def test_no_hostname_and_no_program_path(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["/home/someone/bin/slaf-np", "run", "degree"])
    prov = provenance.collect()
    assert prov["command"] == ["slaf-np", "run", "degree"]
    host = socket.gethostname()
    if len(host) >= 4:  # a very short name could occur by chance in a version string
        assert host not in to_json(prov)


def test_thread_env_is_recorded(monkeypatch):
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "3")
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    env = provenance.collect()["threads"]["env"]
    assert env["OPENBLAS_NUM_THREADS"] == "3" and env["OMP_NUM_THREADS"] is None


def test_collect_starts_no_numba_threads():
    """Recording must change nothing: numba's threading layer stays down, nothing compiles."""
    code = ("import slaf_np.provenance as p; from numba.np.ufunc import parallel as q; "
            "r = p.collect(); print(q._is_initialized, r['threads']['numba']['in_use'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "None"]


def test_git_not_asked_outside_a_work_tree(tmp_path, monkeypatch):
    """An installed copy (no .git beside it): both None, and git is never run."""
    pkg = tmp_path / "site-packages" / "slaf_np"
    pkg.mkdir(parents=True)

    def no_git(*args, **kwargs):
        raise AssertionError(f"git was run: {args}")

    monkeypatch.setattr(provenance.subprocess, "run", no_git)
    assert provenance.git_state(pkg) == {"commit": None, "dirty": None}


def test_git_missing_is_no_error(tmp_path, monkeypatch):
    (tmp_path / ".git").mkdir()
    (tmp_path / "slaf_np").mkdir()
    monkeypatch.setattr(provenance.shutil, "which", lambda name: None)
    assert provenance.git_state(tmp_path / "slaf_np") == {"commit": None, "dirty": None}


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_commit_and_dirty_flag(tmp_path):
    def git(*args):
        return subprocess.run(["git", "-C", str(tmp_path), *args], capture_output=True,
                              text=True, check=True).stdout.strip()

    git("init", "-q")
    (tmp_path / "slaf_np").mkdir()
    (tmp_path / "slaf_np" / "a.py").write_text("x = 1\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "one")
    state = provenance.git_state(tmp_path / "slaf_np")
    assert state == {"commit": git("rev-parse", "HEAD"), "dirty": False}
    (tmp_path / "slaf_np" / "a.py").write_text("x = 2\n")
    assert provenance.git_state(tmp_path / "slaf_np")["dirty"] is True


def test_experiment_json_carries_provenance(tmp_path):
    exp = Experiment("fake", "a fake experiment", lambda ctx: {"value": 1})
    record = exp.run(out=tmp_path, verbose=False)
    saved = json.loads((tmp_path / "fake.json").read_text())
    assert saved["provenance"]["package"]["version"] == __version__
    assert saved["provenance"]["finished_utc"] >= saved["provenance"]["started_utc"]
    assert record["provenance"] == saved["provenance"]


def test_bench_json_carries_provenance(tmp_path, monkeypatch):
    from slaf_np import benchmarks
    from slaf_np.cli import main

    monkeypatch.setattr(benchmarks, "run", lambda only=None, quick=False: {"results": {}})
    path = tmp_path / "bench.json"
    assert main(["bench", "--json", str(path)]) == 0
    saved = json.loads(path.read_text())
    assert saved["results"] == {} and saved["provenance"]["finished_utc"] is not None
