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


def njit(*args, **kwargs):
    """``numba.njit`` with ``cache=True`` by default; imported lazily by the kernel modules."""
    import numba

    kwargs.setdefault("cache", True)
    return numba.njit(*args, **kwargs)
