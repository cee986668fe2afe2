"""How much the layer engine costs on top of BLAS: one MLP epoch against its raw matmuls.

The network is the classic 784-256-256-10 ReLU MLP on MNIST-shaped random float32 data (60,000
samples, batch 128, so 469 steps, Adam, softmax cross-entropy). The baseline is the same epoch's
matrix products alone, on preallocated arrays of the same shapes::

    forward   x @ W          (3 layers)
    backward  x.T @ dy       (3 layers, the weight gradients)
              dy @ W.T       (3 layers, the input gradients)

Everything else the engine does (bias adds, ReLU, the loss, input checks, shuffling, Adam's
update, bookkeeping) is overhead: ``overhead = epoch / matmuls - 1``. Timings are medians of
``repeats`` runs after one warm-up; called by ``slaf-np bench`` (never a timed test).

The engine's own work is single-threaded while BLAS may use several threads, so the ratio depends
on the machine and its load: on a busy machine multi-threaded BLAS stalls between the small
products of a training step (its threads get descheduled), which inflates the epoch but not the
back-to-back products. ``OPENBLAS_NUM_THREADS=1`` (or ``OMP_NUM_THREADS=1``) isolates the engine's
overhead; the result records the thread setting and the load average.
"""

from __future__ import annotations

import os
import time

import numpy as np

__all__ = ["bench_mlp_epoch"]

WIDTHS = (784, 256, 256, 10)


def _mlp(rng):
    from ..nn import Dense, ReLU, Sequential

    d = WIDTHS
    return Sequential(Dense(d[0], d[1], rng=rng), ReLU(), Dense(d[1], d[2], rng=rng), ReLU(),
                      Dense(d[2], d[3], rng=rng))


def _matmul_epoch(n: int, batch: int, rng) -> float:
    """Seconds for the 9 products per batch of one epoch (the last batch is smaller, as in fit)."""
    Ws = [rng.standard_normal((a, b)).astype(np.float32) for a, b in zip(WIDTHS, WIDTHS[1:],
                                                                          strict=False)]
    X = rng.standard_normal((n, WIDTHS[0])).astype(np.float32)
    acts = [np.ones((batch, w), np.float32) for w in WIDTHS]
    t0 = time.perf_counter()
    for a in range(0, n, batch):
        b = min(a + batch, n)
        h = X[a:b]
        inputs = []
        for W in Ws:
            inputs.append(h)
            h = h @ W
        dy = acts[-1][: b - a]
        for x, W in zip(reversed(inputs), reversed(Ws), strict=True):
            _ = x.T @ dy
            dy = dy @ W.T
    return time.perf_counter() - t0


def _fit_epoch(n: int, batch: int, rng) -> float:
    from ..train import fit
    from ..train.optim import Adam

    X = rng.random((n, WIDTHS[0]), dtype=np.float32)
    y = rng.integers(0, WIDTHS[-1], n)
    model = _mlp(rng)
    opt = Adam(model, lr=1e-3)
    t0 = time.perf_counter()  # data and model are made before the clock starts
    fit(model, X, y, "softmax_cross_entropy", opt, epochs=1, batch_size=batch, rng=rng,
        keep=None, verbose=False)
    return time.perf_counter() - t0


def bench_mlp_epoch(repeats: int = 5, quick: bool = False, n: int = 60_000,
                    batch: int = 128) -> dict:
    """Median seconds of one :func:`slaf_np.train.loop.fit` epoch and of its raw matmuls.

    Parameters
    ----------
    repeats : int
        Timed runs of each (after one warm-up run).
    quick : bool
        6,000 samples and one timed run (a smoke test of the benchmark itself).
    n, batch : int
        Samples per epoch and batch size.

    Returns
    -------
    dict
        ``epoch_s``, ``matmul_s`` (medians), ``overhead_pct`` = 100 (epoch / matmul - 1) (the
        median over the interleaved pairs of runs), the
        same from the fastest runs (``overhead_fastest_pct``), the raw timings, the
        configuration, the BLAS thread setting, the load average and a text ``table``.
    """
    if quick:
        n, repeats = 6_000, 1
    rng = np.random.default_rng(0)
    _fit_epoch(min(n, 2_000), batch, rng)
    _matmul_epoch(min(n, 2_000), batch, rng)
    fits, mms = [], []
    for _ in range(repeats):  # interleaved, so drifting machine load hits both alike
        fits.append(_fit_epoch(n, batch, rng))
        mms.append(_matmul_epoch(n, batch, rng))
    epoch_s, matmul_s = float(np.median(fits)), float(np.median(mms))
    # the median of the paired ratios: each fit epoch against the matmul epoch run right after it
    overhead = 100.0 * (float(np.median(np.array(fits) / np.array(mms))) - 1.0)
    overhead_min = 100.0 * (min(fits) / min(mms) - 1.0)  # the fastest runs: least disturbed
    steps = -(-n // batch)
    threads = {k: os.environ[k] for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")
               if k in os.environ}
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    table = "\n".join([
        f"MLP {'-'.join(map(str, WIDTHS))} ReLU, float32, {n:,} samples, batch {batch} "
        f"({steps} steps), Adam; median of {repeats} interleaved pairs",
        f"  fit, one epoch      {epoch_s:8.3f} s   ({1e3 * epoch_s / steps:.2f} ms/step)",
        f"  raw matmuls alone   {matmul_s:8.3f} s   ({1e3 * matmul_s / steps:.2f} ms/step)",
        f"  engine overhead     {overhead:7.1f} %   (fastest runs: {overhead_min:.1f} %)",
        f"  BLAS threads: {threads or 'default'}; load average "
        f"{load if load is None else round(load, 1)}",
    ])
    return {"epoch_s": epoch_s, "matmul_s": matmul_s, "overhead_pct": overhead,
            "overhead_fastest_pct": overhead_min,
            "epoch_runs": fits, "matmul_runs": mms, "n": n, "batch": batch, "steps": steps,
            "widths": list(WIDTHS), "repeats": repeats, "blas_threads_env": threads,
            "load_average": load, "table": table}


if __name__ == "__main__":
    print(bench_mlp_epoch()["table"])
