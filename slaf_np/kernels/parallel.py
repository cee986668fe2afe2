"""How the kernels use several threads: one mechanism for every parallel kernel.

A kernel that can run in parallel is a numba function compiled with ``nogil=True`` whose last
three arguments are ``d0, d1, bs``: it does the work of items (features, channels or samples)
``d0 <= d < d1``, ``bs`` at a time. :func:`run_ranges` splits the items into ranges of whole
blocks and runs them on the calling thread and on a small pool of plain threads, which take the
ranges in turn as each finishes its last (a thread slowed down by another process hands its
share over). Each range is computed once with the same arithmetic whatever the thread count, so
results do not depend on it.

The pool is made on the first parallel call, made again in a forked child (whose copy of it has
no threads) and shut down at interpreter exit. The thread count is ``numba.get_num_threads()``,
so ``numba.set_num_threads``, ``NUMBA_NUM_THREADS`` and :func:`slaf_np.threads.single_thread`
govern it; small work runs on the calling thread alone (:data:`PARALLEL_MIN_WORK`).

Why a pool of plain threads and not numba's ``prange``. Measured on the 2 cores this project
runs on, a full training step (Dense(1024) + SLAF(k=4) + Dense(1024 -> 10), N = 256, forward,
backward and Adam; one process per configuration, configurations in rotation; medians of the
per-round medians, 5 rounds then 6; "SLAF" is the layer's share of the step):

===========================================  ==============  ==============
configuration                                step (ms)       SLAF (ms)
===========================================  ==============  ==============
pool, OpenBLAS's default spin                8.94 / 9.68     1.78 / 1.76
pool, OPENBLAS_THREAD_TIMEOUT=16             8.43 / 9.33     1.07 / 1.24
prange, workqueue layer, timeout 16          9.25 / 10.02    1.87 / 1.96
prange, omp layer, OMP_WAIT_POLICY=passive   8.63 / 9.34     1.14 / 1.19
  the same with OpenBLAS's default spin      9.01 / 9.13     1.70 / 1.70
prange, omp, OpenMP's waiting, timeout 16    16.04 / -       1.15 / -
one kernel thread, timeout 16                8.99 / 9.02     1.55 / 1.50
===========================================  ==============  ==============

The workqueue layer is slower than one thread (an earlier measurement put its cost at about
90 us per parallel region). The omp layer matches the pool only when its threads are told to
wait passively, an environment variable that must be set before OpenMP loads and that a library
cannot set: with OpenMP's default its spinning threads take the cores OpenBLAS needs and the
whole step takes 1.8 times as long. GNU OpenMP is not fork-safe either, and kernels compiled
with ``parallel=True`` compile more slowly (a first training step took 27 s against 19 s in
an earlier measurement). The pool needs no setting to be right, is as fast as the best
``prange`` layer and forks cleanly. On this step the second thread saves about a third of the
SLAF layer's time, which is within the machine's noise on the whole step (one kernel thread:
9.0 ms); convolutions, with S values per feature, give it more to do. With either mechanism,
OpenBLAS's threads spinning after a product (2**28 cycles by default) hold the core the
kernels' second thread needs: the ``slaf-np`` command shortens the spin
(:data:`slaf_np.cli.THREAD_DEFAULTS`); a program that imports slaf_np can export
``OPENBLAS_THREAD_TIMEOUT=16`` before it starts.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

__all__ = ["PARALLEL_MIN_WORK", "threads_for", "run_ranges", "shutdown"]

PARALLEL_MIN_WORK = 1 << 16
"""Below this much work (for SLAF: term evaluations N * D * S * k) a kernel runs on one thread:
waking a thread costs more than the work (and much more on a busy machine)."""

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_hooks_registered = False


def _executor(workers: int) -> ThreadPoolExecutor:
    """The pool, with at least ``workers`` threads: made on first use (and when more threads are
    asked for), with the hooks that shut it down at exit and forget it in a forked child."""
    global _pool, _pool_size, _hooks_registered
    with _lock:
        if _pool is None or _pool_size < workers:
            if _pool is not None:
                _pool.shutdown(wait=False)
            _pool = ThreadPoolExecutor(workers, thread_name_prefix="slaf_np-kernel")
            _pool_size = workers
        if not _hooks_registered:
            import atexit

            atexit.register(shutdown)
            if hasattr(os, "register_at_fork"):
                os.register_at_fork(after_in_child=_forget_after_fork)
            _hooks_registered = True
        return _pool


def shutdown() -> None:
    """Stop the pool's threads (run at interpreter exit; a later parallel call makes a new
    pool)."""
    global _pool, _pool_size
    with _lock:
        pool, _pool, _pool_size = _pool, None, 0
    if pool is not None:
        pool.shutdown(wait=True)


def _forget_after_fork() -> None:
    """In a forked child the parent's pool object survives without its threads: drop it (and the
    lock, which a parent's thread may have held at the fork)."""
    global _pool, _pool_size, _lock
    _pool, _pool_size, _lock = None, 0, threading.Lock()


def threads_for(work: int) -> int:
    """Threads for a kernel call: ``numba.get_num_threads()``, or 1 for small ``work``."""
    if work < PARALLEL_MIN_WORK:
        return 1
    import numba

    return numba.get_num_threads()


def run_ranges(kernel, n_items: int, bs: int, threads: int, *args) -> None:
    """Run ``kernel(*args, d0, d1, bs)`` over items ``0 <= d < n_items``, split into ranges of
    whole blocks of ``bs`` items, on ``threads`` threads (the caller's included): two ranges per
    thread, taken in turn. A worker's exception is raised here."""
    nblocks = -(-n_items // bs)
    parts = min(nblocks, 2 * threads)
    if parts <= 1 or threads <= 1:
        kernel(*args, 0, n_items, bs)
        return
    edges = [bs * ((nblocks * i) // parts) for i in range(parts)] + [n_items]
    ranges = iter(range(parts))                   # next() on it is atomic under the GIL

    def work():
        for i in ranges:
            kernel(*args, edges[i], edges[i + 1], bs)

    pool = _executor(threads - 1)
    futures = [pool.submit(work) for _ in range(threads - 1)]
    try:
        work()
    finally:
        for f in futures:
            f.result()                            # waits, and re-raises a worker's error
