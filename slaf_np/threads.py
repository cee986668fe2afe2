"""Thread limits for tiny workloads: :func:`single_thread` runs a block on one numba thread (the
SLAF kernels use ``numba.get_num_threads()`` threads) and, when NumPy's bundled OpenBLAS exposes
its thread setter, one BLAS thread. :func:`blas_thread_timeout` reads how long OpenBLAS's threads
spin after each call (see :func:`slaf_np.kernels._jit.configure_threading`).

A 256 x 128 matrix product takes microseconds; waking a thread pool costs more, and on a busy
machine ten times more (measured: 18 ms vs 0.7 ms per step of a small network on 2 cores). The
previous counts are restored on exit, also after an exception.
"""

from __future__ import annotations

import contextlib

import numpy as np

__all__ = ["single_thread", "blas_thread_functions", "blas_thread_timeout"]


@contextlib.contextmanager
def single_thread():
    """Run the block with one numba thread and (if :func:`blas_thread_functions` finds them) one
    OpenBLAS thread; restore both counts on exit."""
    import numba

    prev = numba.get_num_threads()
    get, set_ = blas_thread_functions()
    blas_prev = get() if get else None
    numba.set_num_threads(1)
    if set_:
        set_(1)
    try:
        yield
    finally:
        numba.set_num_threads(prev)
        if set_ and blas_prev:
            set_(blas_prev)


def _openblas():
    """The OpenBLAS bundled with NumPy, loaded with ctypes, or None."""
    import ctypes
    import glob
    import os

    here = os.path.dirname(np.__file__)
    for path in glob.glob(os.path.join(here, "..", "numpy.libs", "*openblas*")) + \
            glob.glob(os.path.join(here, ".dylibs", "*openblas*")):
        try:
            return ctypes.CDLL(path)
        except OSError:
            continue
    return None


def blas_thread_timeout():
    """The spin time of NumPy's OpenBLAS threads after each call, as the exponent t of
    ``2**t`` cycles (OpenBLAS's ``OPENBLAS_THREAD_TIMEOUT``, read when NumPy was imported; 28 when
    unset), or None when it cannot be read. See :func:`slaf_np.kernels._jit.configure_threading`."""
    import ctypes

    lib = _openblas()
    fn = getattr(lib, "openblas_thread_timeout", None) if lib is not None else None
    if fn is None:
        return None
    fn.restype = ctypes.c_int
    value = int(fn())                           # 0: unset; OpenBLAS clamps to 4..30
    return min(max(value, 4), 30) if value > 0 else 28


def blas_thread_functions():
    """``(get, set)`` thread-count functions of the OpenBLAS bundled with NumPy (ctypes), or
    ``(None, None)`` when there is none (e.g. NumPy linked against another BLAS)."""
    import ctypes
    import glob
    import os

    here = os.path.dirname(np.__file__)
    for path in glob.glob(os.path.join(here, "..", "numpy.libs", "*openblas*")) + \
            glob.glob(os.path.join(here, ".dylibs", "*openblas*")):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for suffix in ("scipy_openblas_%s_num_threads64_", "openblas_%s_num_threads64_",
                       "openblas_%s_num_threads"):
            try:
                get, set_ = getattr(lib, suffix % "get"), getattr(lib, suffix % "set")
            except AttributeError:
                continue
            get.restype, set_.argtypes = ctypes.c_int, [ctypes.c_int]
            return get, set_
    return None, None
