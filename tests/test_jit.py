"""numba set-up: a writable cache even from a read-only install, and lazy kernels."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from slaf_np.kernels import _jit


def test_cache_dir_kept_when_user_set(monkeypatch):
    monkeypatch.setenv("NUMBA_CACHE_DIR", "/somewhere/else")
    _jit.configure_cache()
    assert os.environ["NUMBA_CACHE_DIR"] == "/somewhere/else"


def test_cache_dir_moved_when_package_unwritable(monkeypatch, tmp_path):
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    here = os.path.join(os.path.dirname(_jit.__file__), "__pycache__")
    monkeypatch.setattr(_jit, "_writable", lambda p: p != here and os.makedirs(p, exist_ok=True)
                        is None)
    _jit.configure_cache()
    assert os.environ["NUMBA_CACHE_DIR"] == str(tmp_path / ".cache" / "slaf_np" / "numba")


def test_read_only_package_imports_and_runs_a_kernel(tmp_path):
    """Copy the package to a read-only folder: import and a cached kernel must still work."""
    import shutil

    src = os.path.dirname(os.path.dirname(os.path.dirname(_jit.__file__)))
    dst = tmp_path / "ro"
    shutil.copytree(os.path.join(src, "slaf_np"), dst / "slaf_np",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for root, dirs, files in os.walk(dst):
        for name in dirs + files:
            os.chmod(os.path.join(root, name), 0o555 if name in dirs else 0o444)
        os.chmod(root, 0o555)
    code = textwrap.dedent("""
        import os, numpy as np
        import slaf_np.polynomial.features as f
        x = f.polynomial_features(np.arange(6.0).reshape(3, 2), 2)
        print(x.shape, os.environ.get("NUMBA_CACHE_DIR", ""))
    """)
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env.update(PYTHONPATH=str(dst), HOME=str(tmp_path / "home"), PYTHONDONTWRITEBYTECODE="1")
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env=env, timeout=300)
    finally:
        for root, _dirs, _ in os.walk(dst):
            os.chmod(root, 0o755)
    assert out.returncode == 0, out.stderr
    shape, cache = out.stdout.split(")")[0] + ")", out.stdout.split(")")[1].strip()
    assert shape == "(3, 6)"
    if os.geteuid() != 0:  # root can write anywhere, so the package folder counts as writable
        assert cache.startswith(str(tmp_path / "home"))


def test_lazy_kernel_compiles_on_first_call_only():
    @_jit.njit
    def twice(x):
        return 2 * x

    assert isinstance(twice, _jit.LazyKernel) and twice._dispatcher is None
    assert np.allclose(twice(np.arange(3.0)), [0.0, 2.0, 4.0])


def _no_openblas():
    from slaf_np.threads import blas_thread_timeout

    return blas_thread_timeout() is None


@pytest.mark.skipif(_no_openblas(), reason="NumPy without its bundled OpenBLAS")
def test_thread_defaults_are_set_but_user_values_win():
    names = list(_jit.THREAD_DEFAULTS)
    code = ("import os, slaf_np; from slaf_np.threads import blas_thread_timeout; "
            f"print([os.environ[n] for n in {names!r}], blas_thread_timeout())")
    env = {k: v for k, v in os.environ.items() if k not in names}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.stdout.strip() == f"{list(_jit.THREAD_DEFAULTS.values())!r} 16", out.stderr
    env["OPENBLAS_THREAD_TIMEOUT"] = "20"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.stdout.strip() == "['20'] 20", out.stderr


@pytest.mark.skipif(_no_openblas(), reason="NumPy without its bundled OpenBLAS")
def test_blas_timeout_default_only_applies_when_slaf_np_comes_first():
    # OpenBLAS reads its variable when NumPy loads it: importing NumPy first keeps its default
    code = "import numpy, slaf_np; from slaf_np.threads import blas_thread_timeout as t; print(t())"
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.stdout.strip() == "28", out.stderr
