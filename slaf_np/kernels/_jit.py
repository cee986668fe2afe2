"""The one decorator every kernel uses: ``numba.njit``, made on a kernel's first call, with a cache
wherever one can be written.

Laziness. :func:`njit` returns a :class:`LazyKernel`. numba is imported, and the kernel's
dispatcher made, only at its first call, so importing :mod:`slaf_np` or a module of kernels
neither imports numba nor compiles anything. Kernels call each other by their module-level
names: numba is told (once, at the first call of any kernel) that a :class:`LazyKernel` has the
type of its dispatcher, so a kernel compiled later resolves the others as ordinary numba
functions.

Cache. ``cache=True`` by default. numba writes the compiled code next to the source file or,
when the package folder is read-only (a system-wide install), in its user-wide folder
(``~/.cache/numba``); ``NUMBA_CACHE_DIR`` overrides both. Where none of these can be written
(a read-only install and a home folder that is not writable either, as for a service account),
the first kernel made points ``numba.config.CACHE_DIR`` at a private folder in the temporary
directory (``slaf_np-numba-<uid>``, created with mode 0700 and used only if this user owns it);
failing that, the kernels compile without a cache. Nothing of this happens at import.

Notice. Compiling the kernels takes tens of seconds on a fresh machine, once: numba caches them.
So that this first wait is not silent, the first kernel numba compiles in a process (rather than
loading from the cache) prints one line to stderr, ``slaf_np: compiling numba kernels (first use
only; cached for later runs) ...``, and nothing more for the rest of the process. Nothing is
printed at import nor when every kernel comes from the cache: the line is printed by a listener
on numba's ``"numba:compile"`` event (:mod:`numba.core.event`), which a dispatcher broadcasts
only after its cache lookup has failed, and the listener ignores functions that are not
:func:`njit` kernels (a user's own numba code). ``SLAF_NP_QUIET=1`` in the environment, read when
the line is due (so setting ``os.environ`` in a notebook works too), silences it.

Cross-module calls between jitted functions are avoided on purpose: numba's cache does not
notice when only the callee (in another file) changes, and would keep running stale machine
code. Every kernel calls only jitted helpers defined in its own module.
"""

from __future__ import annotations

import os
import stat
import sys
import tempfile
import threading

__all__ = ["njit", "LazyKernel", "fallback_cache_dir", "COMPILE_NOTICE"]

COMPILE_NOTICE = "slaf_np: compiling numba kernels (first use only; cached for later runs) ..."


class LazyKernel:
    """A function that becomes ``numba.njit(**options)(func)`` on its first call."""

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
        """The numba dispatcher (made, not compiled, on first use)."""
        if self._dispatcher is None:
            _teach_numba_the_type()
            _listen_for_compiles()
            _KERNEL_FUNCTIONS.add(self.func)
            self._dispatcher = _make_dispatcher(self.func, self.options)
        return self._dispatcher

    def __call__(self, *args):
        return self.dispatcher()(*args)

    def __repr__(self) -> str:
        state = "pending" if self._dispatcher is None else "ready"
        return f"<LazyKernel {self.__qualname__} ({state})>"


_TYPE_KNOWN = []


def _teach_numba_the_type() -> None:
    """Tell numba, once, that a :class:`LazyKernel` found as a global while compiling another
    kernel has the type of its dispatcher."""
    if _TYPE_KNOWN:
        return
    import numba
    from numba.extending import typeof_impl

    @typeof_impl.register(LazyKernel)
    def _typeof_lazy_kernel(kernel, context):
        return numba.typeof(kernel.dispatcher())

    _TYPE_KNOWN.append(True)


_KERNEL_FUNCTIONS: set = set()   # the Python functions behind njit kernels made so far
_NOTICE = {"listening": False, "printed": False}
_NOTICE_LOCK = threading.Lock()


def _listen_for_compiles() -> None:
    """Register, once, the listener that prints :data:`COMPILE_NOTICE` (see the module
    docstring)."""
    if _NOTICE["listening"]:
        return
    from numba.core import event

    class _CompileNotice(event.Listener):
        def on_start(self, ev) -> None:
            dispatcher = ev.data.get("dispatcher") if isinstance(ev.data, dict) else None
            if getattr(dispatcher, "py_func", None) in _KERNEL_FUNCTIONS:
                _print_compile_notice()

        def on_end(self, ev) -> None:
            pass

    event.register("numba:compile", _CompileNotice())
    _NOTICE["listening"] = True


def _print_compile_notice() -> None:
    """Print :data:`COMPILE_NOTICE` to stderr the first time only, unless ``SLAF_NP_QUIET=1``."""
    with _NOTICE_LOCK:
        if _NOTICE["printed"] or os.environ.get("SLAF_NP_QUIET", "") not in ("", "0"):
            return
        _NOTICE["printed"] = True
    print(COMPILE_NOTICE, file=sys.stderr, flush=True)


def fallback_cache_dir() -> str | None:
    """A private cache folder in the temporary directory, made if needed: ``None`` when it cannot
    be made or is not this user's alone (a folder in a shared directory that another user made
    must not be trusted with code)."""
    uid = os.getuid() if hasattr(os, "getuid") else None
    path = os.path.join(tempfile.gettempdir(), f"slaf_np-numba-{uid if uid is not None else 0}")
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        info = os.stat(path)
    except OSError:
        return None
    if uid is not None and (info.st_uid != uid or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)):
        return None
    return path if os.access(path, os.W_OK) else None


def _make_dispatcher(func, options: dict):
    """``numba.njit(**options)(func)``, moving the cache as the module docstring says when numba
    finds nowhere to write it."""
    import numba

    try:
        return numba.njit(**options)(func)
    except RuntimeError as error:                 # "cannot cache function ...: no locator"
        if not options.get("cache") or "cannot cache" not in str(error):
            raise
    if not numba.config.CACHE_DIR:
        folder = fallback_cache_dir()
        if folder is not None:
            numba.config.CACHE_DIR = folder
            try:
                return numba.njit(**options)(func)
            except RuntimeError:
                pass
    return numba.njit(**{**options, "cache": False})(func)


def njit(func=None, **options):
    """``numba.njit`` with ``cache=True`` by default, made lazily (see :class:`LazyKernel`).

    Use as ``@njit`` or ``@njit(nogil=True)``; never ``fastmath`` in gradient-checked kernels.
    """
    options.setdefault("cache", True)
    if func is None:
        return lambda f: LazyKernel(f, options)
    return LazyKernel(func, options)
