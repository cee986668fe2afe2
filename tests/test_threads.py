"""Threads: single_thread (numba and BLAS counts, restored), no side effects at import, and the
thread defaults the slaf-np command sets."""

import os
import subprocess
import sys

import numba
import numpy as np
import pytest
from threadpoolctl import threadpool_info

from slaf_np.cli import THREAD_DEFAULTS
from slaf_np.threads import single_thread


def _blas_threads():
    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


def test_single_thread_limits_and_restores_numba_threads():
    before = numba.get_num_threads()
    with single_thread():
        assert numba.get_num_threads() == 1
    assert numba.get_num_threads() == before


def test_single_thread_limits_and_restores_blas_threads():
    before = _blas_threads()
    if not before:
        pytest.skip("threadpoolctl finds no BLAS in this process")
    with single_thread():
        assert _blas_threads() == [1] * len(before)
        a = np.ones((64, 64))
        assert (a @ a)[0, 0] == 64.0
    assert _blas_threads() == before


def test_single_thread_restores_after_an_exception():
    before, blas_before = numba.get_num_threads(), _blas_threads()
    with pytest.raises(RuntimeError), single_thread():
        raise RuntimeError("inside")
    assert numba.get_num_threads() == before
    assert _blas_threads() == blas_before


def _run(code: str, **env) -> str:
    full = {k: v for k, v in os.environ.items() if k not in THREAD_DEFAULTS}
    full.update(env)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_import_changes_no_environment_variable_and_starts_no_thread():
    code = ("import os, threading; before = dict(os.environ); import slaf_np; "
            "import slaf_np.nn.slaf, slaf_np.kernels.slaf, slaf_np.threads; "
            "print(dict(os.environ) == before, threading.active_count(), "
            "len(os.listdir('/proc/self/task')) if os.path.isdir('/proc/self/task') else -1)")
    same, python_threads, os_threads = _run(code).split()
    assert same == "True" and python_threads == "1"
    before = _run("import os; import numpy; print(len(os.listdir('/proc/self/task')) "
                  "if os.path.isdir('/proc/self/task') else -1)")
    assert int(os_threads) == int(before)            # only the threads NumPy's BLAS starts


def test_the_command_sets_its_thread_defaults_but_user_values_win():
    code = "import os, slaf_np.cli; print(os.environ['OPENBLAS_THREAD_TIMEOUT'])"
    assert _run(code) == THREAD_DEFAULTS["OPENBLAS_THREAD_TIMEOUT"]
    assert _run(code, OPENBLAS_THREAD_TIMEOUT="20") == "20"


_TIMEOUT_IN_FORCE = """
import sys
import slaf_np
if "numpy" in sys.modules:
    print("numpy-first")
    raise SystemExit
import slaf_np.cli
import numpy
from threadpoolctl import ThreadpoolController
lib = ThreadpoolController().select(internal_api="openblas").lib_controllers
print(lib[0].dynlib.openblas_thread_timeout() if lib else "no-openblas")
"""


def test_the_command_default_reaches_openblas():
    """OpenBLAS reads its settings once, when NumPy loads it: the command's default works only if
    nothing loaded NumPy before slaf_np.cli ran (the value read through OpenBLAS's own
    openblas_thread_timeout)."""
    out = _run(_TIMEOUT_IN_FORCE)
    if out in ("numpy-first", "no-openblas"):
        pytest.skip({"numpy-first": "import slaf_np loads NumPy before slaf_np.cli runs",
                     "no-openblas": "NumPy without OpenBLAS"}[out])
    assert out == THREAD_DEFAULTS["OPENBLAS_THREAD_TIMEOUT"]
