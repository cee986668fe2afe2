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


THREAD_DEFAULTS = {"OPENBLAS_THREAD_TIMEOUT": "16"}
"""The environment defaults :func:`configure_threading` sets (a value the user set is kept)."""


def configure_threading() -> None:
    """Set the thread defaults in :data:`THREAD_DEFAULTS` before OpenBLAS reads them; a variable
    the user set is kept.

    In a network a SLAF kernel runs right after a Dense layer's BLAS products, on a machine whose
    cores both want. OpenBLAS's threads spin for ``2**28`` cycles (about 0.1 s) after every
    product before they sleep, on the core the kernels' second thread needs. Measured on 2
    cores (N = 256, D = 1024, k = 4, one SLAF training step interleaved with a Dense(1024) step,
    as in a network; two runs each): the SLAF step took 2.66-2.71 ms with OpenBLAS's default and
    1.78-2.15 ms with ``OPENBLAS_THREAD_TIMEOUT=16`` (about 20 us of spinning, then sleep); the
    Dense step did not change beyond the machine's noise (9.3-11.4 ms either way), nor did an
    epoch of the 784-256-256-10 ReLU MLP of ``slaf-np bench`` (0.85-0.96 s either way).

    OpenBLAS reads the variable when it is loaded, that is when NumPy is first imported: it takes
    effect only if ``slaf_np`` is imported before NumPy (as in the ``slaf-np`` command), or when
    set in the environment. :func:`slaf_np.threads.blas_thread_timeout` tells the value in force.
    (The kernels' own threads are plain threads, see :func:`slaf_np.kernels.slaf._run`: numba's
    threading layers are not used.)
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


class LazyKernel:
    """A function that becomes ``numba.njit(**options)(func)`` on its first call.

    numba is imported only then, so importing :mod:`slaf_np` (and any module of kernels) neither
    imports numba nor compiles anything. At that first call every other ``LazyKernel`` in the
    same module's globals is swapped for its numba dispatcher, which is what lets kernels call
    each other (numba resolves globals when it compiles).
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
        if isinstance(value, LazyKernel) and value.func.__globals__ is namespace:
            if value._dispatcher is None:
                value._dispatcher = numba.njit(**value.options)(value.func)
            namespace[name] = value._dispatcher


def njit(*args, **kwargs):
    """``numba.njit`` with ``cache=True`` by default, created lazily (see :class:`LazyKernel`).

    Use as ``@njit`` or ``@njit(nogil=True)``; never ``fastmath`` in gradient-checked kernels.
    """
    kwargs.setdefault("cache", True)
    if len(args) == 1 and callable(args[0]) and not kwargs.keys() - {"cache"}:
        return LazyKernel(args[0], kwargs)

    def deco(func):
        return LazyKernel(func, kwargs)

    return deco
