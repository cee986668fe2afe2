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


def configure_threading() -> None:
    """Default numba's threading layer to ``workqueue`` (a value the user set is kept).

    In a network, a SLAF kernel runs right after a Dense layer's BLAS products. With numba's
    OpenMP layer the two thread pools spin against each other on a small machine: measured on 2
    cores, a Dense(1024) -> SLAF(k=4) -> Dense(1024) training step took 43 ms against 20 ms with
    ReLU; with ``workqueue`` it took 23 ms. ``workqueue`` needs no library and is always there;
    its one limit is that parallel kernels must not be called from several Python threads at once.
    """
    os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")


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
