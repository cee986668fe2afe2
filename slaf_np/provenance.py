"""Where a result came from: the code, the libraries, the thread settings and the machine.

Every result file (``slaf-np run NAME`` writes ``NAME.json``, ``slaf-np bench --json FILE``) carries
the record of :func:`collect` under ``"provenance"``, so a number can be traced to the code and the
settings that produced it::

    prov = collect()            # before the run: the git state of the code that runs
    ...                         # the run
    finish(prov)                # stamps the end time

The record is cheap: it imports NumPy, numba and threadpoolctl but compiles nothing, and it starts
numba's threads only if they are already running. The hostname is not recorded (privacy), nor any
full path: the command line keeps only the file name of the program.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

__all__ = ["collect", "finish", "git_state"]

THREAD_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS",
              "NUMBA_THREADING_LAYER", "NUMBA_DISABLE_JIT", "OPENBLAS_CORETYPE",
              "OPENBLAS_THREAD_TIMEOUT")
"""Environment variables that change thread counts, the BLAS kernels or the numba kernels."""

_PACKAGE_DIR = Path(__file__).resolve().parent


def _utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def git_state(package_dir: str | os.PathLike = _PACKAGE_DIR) -> dict:
    """The git commit of the source checkout the package runs from, and whether it was dirty.

    Git is asked only when ``package_dir``'s parent is a git work tree (holds ``.git``), i.e. the
    package runs from a source checkout, not from an installed copy; otherwise, and when git is
    missing or fails, both values are None.

    Parameters
    ----------
    package_dir : path-like
        The package's folder (default: this package's).

    Returns
    -------
    dict
        ``commit`` (40 hex digits or None) and ``dirty`` (True when ``git status --porcelain``
        lists a modified, staged or untracked file, so the commit alone does not say what ran;
        None when unknown).
    """
    root = Path(package_dir).resolve().parent
    state = {"commit": None, "dirty": None}
    git = shutil.which("git")
    if git is None or not (root / ".git").exists():
        return state
    try:
        commit = subprocess.run([git, "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        status = subprocess.run([git, "-C", str(root), "status", "--porcelain"],
                                capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return state
    return {"commit": commit or None, "dirty": bool(status.strip())}


def _blas() -> list[dict]:
    """threadpoolctl's view of the thread pools NumPy loaded (BLAS, OpenMP), summarised."""
    import numpy  # noqa: F401  (loads the BLAS that threadpoolctl reports)
    from threadpoolctl import threadpool_info

    keys = ("user_api", "internal_api", "version", "num_threads", "threading_layer",
            "architecture")
    return [{k: pool.get(k) for k in keys} for pool in threadpool_info()]


def _numba_threads() -> dict:
    """numba's maximum thread count and, if its threads already run, the count in use.

    ``numba.get_num_threads()`` would start the threading layer; a record must change nothing,
    so the count in use is read only when the layer is already up (None otherwise: the kernels
    have not run in this process, and they will use the maximum unless told otherwise).
    """
    import numba
    from numba.np.ufunc import parallel

    in_use = numba.get_num_threads() if getattr(parallel, "_is_initialized", False) else None
    return {"max": numba.config.NUMBA_NUM_THREADS, "in_use": in_use}


def collect() -> dict:
    """A JSON-able record of what is running now; call it before the run, :func:`finish` after.

    Returns
    -------
    dict
        ``package`` (slaf_np's version), ``git`` (:func:`git_state`), ``versions`` (Python,
        NumPy, numba, matplotlib, threadpoolctl), ``threads`` (the BLAS and OpenMP pools from
        threadpoolctl: internal_api, version, num_threads, ...; numba's thread counts; the
        environment variables of :data:`THREAD_ENV`, None when unset), ``machine`` (platform,
        architecture, processor, CPU count and the CPUs this process may use; no hostname),
        ``command`` (``sys.argv`` with the program reduced to its file name), ``started_utc``
        (now, ISO 8601) and ``finished_utc`` (None until :func:`finish`).
    """
    from . import __version__

    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on every platform
        usable = None
    argv = list(sys.argv)
    if argv:
        argv[0] = Path(argv[0]).name
    return {
        "package": {"name": "slaf_np", "version": __version__},
        "git": git_state(),
        "versions": {"python": platform.python_version(),
                     "implementation": platform.python_implementation(),
                     "numpy": _version("numpy"), "numba": _version("numba"),
                     "matplotlib": _version("matplotlib"),
                     "threadpoolctl": _version("threadpoolctl")},
        "threads": {"blas": _blas(), "numba": _numba_threads(),
                    "env": {k: os.environ.get(k) for k in THREAD_ENV}},
        "machine": {"platform": platform.platform(), "architecture": platform.machine(),
                    "processor": platform.processor() or None, "cpu_count": os.cpu_count(),
                    "cpus_usable": usable},
        "command": argv,
        "started_utc": _utc_now(),
        "finished_utc": None,
    }


def finish(prov: dict) -> dict:
    """Stamp ``prov["finished_utc"]`` with the time now (UTC) and read numba's thread counts
    again (after a run that used the kernels the count in use is known); returns ``prov``."""
    prov["finished_utc"] = _utc_now()
    prov["threads"]["numba"] = _numba_threads()
    return prov
