"""Where numba keeps its cache, and the one decorator every kernel uses.

numba's ``cache=True`` writes compiled kernels next to the source file. When the package folder is
not writable (a system-wide install, a read-only container), importing a cached kernel fails unless
``NUMBA_CACHE_DIR`` points somewhere writable. :func:`configure_cache` runs before numba is first
imported (from ``slaf_np/__init__``) and sets ``NUMBA_CACHE_DIR`` to ``~/.cache/slaf_np/numba``
(or a temporary folder) in that case only; a value the user set is always kept.

Cross-module calls between jitted functions are avoided on purpose: numba's cache does not notice
when only the callee (in another file) changes, and would keep running stale machine code. Every
kernel calls only jitted helpers defined in its own module.
"""

from __future__ import annotations

import os
import tempfile


def _writable(path: str) -> bool:
    try:
        os.makedirs(path, exist_ok=True)
    except OSError:
        return False
    return os.access(path, os.W_OK)


THREAD_DEFAULTS = {
    "NUMBA_THREADING_LAYER_PRIORITY": "omp workqueue tbb",
    "OMP_WAIT_POLICY": "passive",
    "OPENBLAS_THREAD_TIMEOUT": "16",
}
"""The environment defaults :func:`configure_threading` sets (a value the user set is kept)."""


def configure_threading() -> None:
    """Set the thread-pool defaults in :data:`THREAD_DEFAULTS`, before numba, OpenMP or OpenBLAS
    read them; a variable the user set is kept.

    In a network a SLAF kernel runs right after a Dense layer's BLAS products, on a machine whose
    cores both thread pools want. Measured on 2 cores (N = 256, D = 1024, k = 4, one training
    step of the SLAF layer, interleaved with a Dense(1024) step as in a network):

    * numba's ``workqueue`` layer costs about 90 us per parallel region even on one thread, and
      ran the SLAF step no faster on 2 threads than on 1 (2.9 ms);
    * ``omp`` with its default active waiting made the *Dense* step twice as slow (18 ms against
      9 ms): OpenMP threads spin on the core BLAS needs. With ``OMP_WAIT_POLICY=passive`` they
      sleep after each region (about 35 us to wake) and the Dense step is unaffected;
    * OpenBLAS's own threads spin for ``2**28`` cycles (about 0.1 s) after every product, on the
      core numba's second thread needs: the SLAF step took 2.9 ms. ``OPENBLAS_THREAD_TIMEOUT=16``
      (about 20 us of spinning, then sleep) brought it to 1.9 ms, with the Dense step unchanged
      (9.4 ms) and a Dense-SLAF-Dense network step from 21.2-21.7 ms to 21.0 ms.

    ``NUMBA_THREADING_LAYER_PRIORITY`` puts ``omp`` first and falls back to ``workqueue`` where
    libgomp is missing. OpenBLAS reads its variable when it is loaded, that is when NumPy is first
    imported: it takes effect only if ``slaf_np`` is imported before NumPy (as in the ``slaf-np``
    command); :func:`slaf_np.threads.blas_thread_timeout` tells the value in force. GNU OpenMP is
    not fork-safe: do not use ``multiprocessing``'s fork start method after running kernels in
    parallel (set ``NUMBA_THREADING_LAYER=workqueue`` if you must).
    """
    for name, value in THREAD_DEFAULTS.items():
        os.environ.setdefault(name, value)


def configure_cache() -> None:
    """Point ``NUMBA_CACHE_DIR`` at a writable folder when the package folder is read-only."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return
    here = os.path.dirname(os.path.abspath(__file__))
    pycache = os.path.join(here, "__pycache__")
    if _writable(pycache):
        return
    for candidate in (
        os.path.join(os.path.expanduser("~"), ".cache", "slaf_np", "numba"),
        os.path.join(tempfile.gettempdir(), "slaf_np-numba-cache"),
    ):
        if _writable(candidate):
            os.environ["NUMBA_CACHE_DIR"] = candidate
            return


class _Prange:
    """Placeholder for ``numba.prange`` until numba is imported (it behaves as ``range``).

    A kernel module does ``from ._jit import prange``; when its first kernel is compiled, the
    module's global ``prange`` is replaced by ``numba.prange`` so numba parallelises the loop.
    """

    def __call__(self, *args):
        return range(*args)


prange = _Prange()


class LazyKernel:
    """A function that becomes ``numba.njit(**options)(func)`` on its first call.

    numba is imported only then, so importing :mod:`slaf_np` (and any module of kernels) neither
    imports numba nor compiles anything. At that first call every other ``LazyKernel`` and the
    ``prange`` placeholder in the same module's globals are swapped for the real numba objects,
    which is what lets kernels call each other (numba resolves globals when it compiles).
    """

    def __init__(self, func, options: dict):
        self.func = func
        self.options = options
        self._dispatcher = None
        self.__name__ = func.__name__
        self.__qualname__ = func.__qualname__
        self.__doc__ = func.__doc__
        self.__module__ = func.__module__
        self.__wrapped__ = func

    def dispatcher(self):
        """The numba dispatcher (created, not compiled, on first use)."""
        if self._dispatcher is None:
            _materialise(self.func.__globals__)
        if self._dispatcher is None:  # not a module-level name (e.g. defined in a function)
            import numba

            self._dispatcher = numba.njit(**self.options)(self.func)
        return self._dispatcher

    def __call__(self, *args):
        return self.dispatcher()(*args)

    def __repr__(self) -> str:
        state = "pending" if self._dispatcher is None else "ready"
        return f"<LazyKernel {self.__qualname__} ({state})>"


def _materialise(namespace: dict) -> None:
    import numba

    for name, value in list(namespace.items()):
        if isinstance(value, _Prange):
            namespace[name] = numba.prange
    for name, value in list(namespace.items()):
        if isinstance(value, LazyKernel) and value.func.__globals__ is namespace:
            if value._dispatcher is None:
                value._dispatcher = numba.njit(**value.options)(value.func)
            namespace[name] = value._dispatcher


def njit(*args, **kwargs):
    """``numba.njit`` with ``cache=True`` by default, created lazily (see :class:`LazyKernel`).

    Use as ``@njit`` or ``@njit(parallel=True)``; never ``fastmath`` in gradient-checked kernels.
    """
    kwargs.setdefault("cache", True)
    if len(args) == 1 and callable(args[0]) and not kwargs.keys() - {"cache"}:
        return LazyKernel(args[0], kwargs)

    def deco(func):
        return LazyKernel(func, kwargs)

    return deco
