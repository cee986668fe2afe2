"""The kernels' decorator: compiled on first call, kernels that call each other, and a cache that
works from a read-only install (checked for real, also when the tests run as root)."""

import os
import shutil
import stat
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from slaf_np.kernels import _jit

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_lazy_kernel_compiles_on_first_call_only():
    @_jit.njit
    def twice(x):
        return 2 * x

    assert isinstance(twice, _jit.LazyKernel) and twice._dispatcher is None
    assert np.allclose(twice(np.arange(3.0)), [0.0, 2.0, 4.0])
    assert twice._dispatcher is not None


def test_options_reach_numba():
    @_jit.njit(nogil=True, cache=False)
    def one():
        return 1

    assert one() == 1
    assert one.dispatcher().targetoptions["nogil"] is True


def test_importing_the_kernels_imports_no_numba():
    code = ("import sys, slaf_np, slaf_np.nn.slaf, slaf_np.kernels.slaf, slaf_np.bases; "
            "print('numba' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300, env=dict(os.environ, PYTHONPATH=ROOT))
    assert out.stdout.strip() == "False", out.stderr


_PROBE = '''
from ._jit import njit


@njit
def _square(x):
    return x * x


@njit
def sum_of_squares(x):
    """Calls another kernel by its module-level name (a LazyKernel until compiled)."""
    t = 0.0
    for v in x:
        t += _square(v)
    return t
'''

_RUN_PROBE = """
import os, sys
sys.meta_path = [f for f in sys.meta_path if "__editable__" not in getattr(f, "__module__", "")]
sys.path.insert(0, os.environ["INSTALL"])          # the copy, not an (editable) install
import numpy as np, numba
import slaf_np
assert slaf_np.__file__.startswith(os.environ["INSTALL"]), slaf_np.__file__
from slaf_np.kernels import _probe
try:                           # the situation is real: numba alone finds nowhere to cache
    numba.njit(cache=True)(_probe._square.func)
    print("numba-can-cache")
except RuntimeError:
    print("numba-cannot-cache")
assert _probe.sum_of_squares(np.arange(4.0)) == 14.0
stats = _probe.sum_of_squares.dispatcher().stats
print(numba.config.CACHE_DIR, sum(stats.cache_hits.values()))
"""


@pytest.fixture
def read_only_install(tmp_path):
    """The package copied where numba can write neither next to the sources nor in the user's
    home: every ``__pycache__`` is a plain file (so no cache folder can be made there, even by
    root, for whom a chmod'ed folder stays writable) and HOME lies under a plain file. The copy
    is also made read-only, for a non-root run."""
    dst = tmp_path / "install"
    shutil.copytree(os.path.join(ROOT, "slaf_np"), dst / "slaf_np",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (dst / "slaf_np" / "kernels" / "_probe.py").write_text(_PROBE)
    for folder, _dirs, _files in os.walk(dst):
        with open(os.path.join(folder, "__pycache__"), "w"):
            pass
    for folder, _dirs, files in os.walk(dst):
        for name in files:
            os.chmod(os.path.join(folder, name), 0o444)
        os.chmod(folder, 0o555)
    (tmp_path / "plain-file").write_text("")
    (tmp_path / "tmp").mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "XDG_CACHE_HOME")}
    env.update(INSTALL=str(dst), HOME=str(tmp_path / "plain-file" / "home"),
               TMPDIR=str(tmp_path / "tmp"), PYTHONDONTWRITEBYTECODE="1")
    yield env
    for folder, _dirs, _files in os.walk(dst):
        os.chmod(folder, 0o755)


def test_read_only_install_caches_in_a_private_temporary_folder(read_only_install, tmp_path):
    runs = [subprocess.run([sys.executable, "-c", _RUN_PROBE], capture_output=True, text=True,
                           env=read_only_install, timeout=300) for _ in range(2)]
    for out in runs:
        assert out.returncode == 0, out.stderr
    first, second = (out.stdout.split() for out in runs)
    assert first[0] == "numba-cannot-cache"
    folder = str(tmp_path / "tmp" / f"slaf_np-numba-{os.getuid()}")
    assert first[1] == second[1] == folder
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    assert first[2] == "0" and int(second[2]) >= 1        # the second process loads the cache


def test_a_cache_dir_the_user_sets_is_kept(read_only_install, tmp_path):
    env = dict(read_only_install, NUMBA_CACHE_DIR=str(tmp_path / "mine"))
    out = subprocess.run([sys.executable, "-c", _RUN_PROBE], capture_output=True, text=True,
                         env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[:2] == ["numba-can-cache", str(tmp_path / "mine")]


def test_a_shared_temporary_folder_is_not_trusted(monkeypatch, tmp_path):
    monkeypatch.setattr(_jit.tempfile, "gettempdir", lambda: str(tmp_path))
    folder = tmp_path / f"slaf_np-numba-{os.getuid()}"
    assert _jit.fallback_cache_dir() == str(folder)
    folder.chmod(0o777)                                   # writable by anyone: refused
    assert _jit.fallback_cache_dir() is None


def test_without_any_writable_folder_the_kernels_still_run(monkeypatch):
    """numba refuses cache=True when nowhere can be written; the kernel then compiles without
    a cache instead of failing."""
    import numba

    def no_cache(*args, **options):
        if options.get("cache"):
            raise RuntimeError("cannot cache function 'f': no locator available for file 'x'")
        return real(*args, **options)

    real = numba.njit
    monkeypatch.setattr(numba, "njit", no_cache)
    monkeypatch.setattr(_jit, "fallback_cache_dir", lambda: None)
    source = textwrap.dedent("""
        def f(x):
            return x + 1
    """)
    namespace = {}
    exec(source, namespace)
    kernel = _jit.njit(namespace["f"])
    assert kernel(1) == 2 and kernel.dispatcher()._cache.__class__.__name__ == "NullCache"


# -- the one-line notice while numba compiles ------------------------------------------------------
_NOTICE_PROBE = '''
from slaf_np.kernels._jit import njit


@njit
def _double(x):
    return 2 * x


@njit
def doubled_sum(x):
    t = 0.0
    for v in x:
        t += _double(v)
    return t


@njit
def halve(x):
    return x / 2
'''

_RUN_NOTICE_PROBE = """
import sys
import numba
import numpy as np
import notice_probe
sys.stderr.write("imported\\n")
assert notice_probe.doubled_sum(np.arange(3.0)) == 6.0       # compiles two kernels
assert notice_probe.halve(3.0) == 1.5                        # and a third
assert notice_probe.halve(np.arange(2.0))[1] == 0.5          # and a second signature
hits = sum(sum(k.dispatcher().stats.cache_hits.values())
           for k in (notice_probe.doubled_sum, notice_probe.halve))    # 3 signatures
print(hits)
"""


def _run_notice_probe(tmp_path, cache: str, **env):
    (tmp_path / "notice_probe.py").write_text(_NOTICE_PROBE)
    env = {**{k: v for k, v in os.environ.items() if k != "SLAF_NP_QUIET"}, **env,
           "PYTHONPATH": os.pathsep.join([ROOT, str(tmp_path)]),
           "NUMBA_CACHE_DIR": str(tmp_path / cache)}
    out = subprocess.run([sys.executable, "-c", _RUN_NOTICE_PROBE], capture_output=True,
                         text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stderr.splitlines(), int(out.stdout)


def test_a_cold_compile_prints_the_notice_once_after_import_and_a_warm_run_nothing(tmp_path):
    cold, cold_hits = _run_notice_probe(tmp_path, "cache")
    assert cold == ["imported", _jit.COMPILE_NOTICE] and cold_hits == 0
    warm, warm_hits = _run_notice_probe(tmp_path, "cache")        # same cache: loaded from it
    assert warm == ["imported"] and warm_hits == 3


def test_a_users_own_numba_function_prints_no_notice(tmp_path):
    """The listener is in place (a kernel's dispatcher is made) when the user's function
    compiles: it must tell that function from the kernels."""
    (tmp_path / "notice_probe.py").write_text(_NOTICE_PROBE)
    (tmp_path / "users.py").write_text("import numba\n\n\n@numba.njit\ndef inc(x):\n"
                                       "    return x + 1\n")
    code = ("import notice_probe, users; notice_probe.halve.dispatcher(); "
            "assert users.inc(1) == 2")
    env = {**{k: v for k, v in os.environ.items() if k != "SLAF_NP_QUIET"},
           "PYTHONPATH": os.pathsep.join([ROOT, str(tmp_path)]),
           "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=300)
    assert out.returncode == 0 and out.stderr == "", out.stderr


def test_slaf_np_quiet_silences_the_notice(tmp_path):
    cold, cold_hits = _run_notice_probe(tmp_path, "cache", SLAF_NP_QUIET="1")
    assert cold == ["imported"] and cold_hits == 0                 # compiled, silently
