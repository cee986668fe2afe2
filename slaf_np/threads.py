"""Thread limits for tiny workloads: :func:`single_thread` runs a block with one kernel thread
(``numba.set_num_threads``; the SLAF kernels use ``numba.get_num_threads()`` threads, see
:mod:`slaf_np.kernels.parallel`) and one BLAS thread (threadpoolctl, which finds the BLAS that
NumPy loaded, whichever it is).

A 256 x 128 matrix product takes microseconds; waking a thread pool costs more, and on a busy
machine ten times more (measured: 18 ms vs 0.7 ms per step of a small network on 2 cores). The
previous counts are restored on exit, also after an exception.

Process-wide settings that must be made before NumPy loads (such as how long OpenBLAS's threads
spin) are the application's to make: the ``slaf-np`` command makes them, see
:data:`slaf_np.cli.THREAD_DEFAULTS`.
"""

from __future__ import annotations

import contextlib

__all__ = ["single_thread"]


@contextlib.contextmanager
def single_thread():
    """Run the block with one numba thread and one BLAS thread; restore both counts on exit."""
    import numba
    from threadpoolctl import threadpool_limits

    previous = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        with threadpool_limits(limits=1, user_api="blas"):
            yield
    finally:
        numba.set_num_threads(previous)
