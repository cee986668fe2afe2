"""Benchmark: one SLAF training step (forward + backward) through the layer, the same kernel calls
alone with the fused numba kernels and with their NumPy twins, and a Dense layer of the same width
as a yardstick, in one run.

Setting: N = 256 rows, D in {256, 1024} features, k in {2, 4, 8} terms, float32, power basis,
per-feature coefficients, ``normalize=True``, training mode. Four steps are timed in interleaved
rounds (one run of each per round, two warm-up rounds, ``repeats`` timed ones; medians), so each
meets what it meets in a network, BLAS threads still busy from the Dense product before it:

* ``dense``: ``y = x W + b`` and its backward (``dW = x^T dy``, ``dx = dy W^T``), three D x D
  matmuls;
* ``layer``: ``SLAF.forward`` + ``SLAF.backward``, which call the fused kernels;
* ``kernels`` and ``twin``: the two calls the layer makes, ``forward_train`` then
  ``backward_train`` on (N, D, 1) arrays, with :mod:`slaf_np.kernels.slaf` and with
  :mod:`slaf_np.kernels.slaf_numpy`. The layer has no backend switch, so the twin is timed where
  it plugs in, and ``speedup`` compares like with like (twin / kernels).

Each row also times the Dense layer and the SLAF layer alone, back to back
(``slaf_over_dense_alone``), the yardstick as the issue states it. On 2 cores the two ratios
differ most when OpenBLAS's threads keep spinning after a product, on the core the kernels'
second thread needs; the header gives the thread settings in force (see
:mod:`slaf_np.kernels.parallel`).

Memory: the peak of NumPy allocations (``tracemalloc``; every array the kernels return is allocated
by NumPy on the Python side) during one forward + backward of the layer, beyond what was
allocated before, relative to the input's size. The kernels' per-block scratch (at most 4 k + 14
float64 runs of length L <= 512 per running block, one block per thread) lives in numba's own
allocator and is not counted; its bound is reported as ``scratch_kib``.

Targets: kernels at least 4x faster than the twin; SLAF (k = 4, D = 1024) at most 1/4 of the
Dense layer's time; peak extra memory at most 3x the input.
"""

from __future__ import annotations

import os
import time
import tracemalloc

import numpy as np

from ..kernels import slaf as kernels
from ..kernels import slaf_numpy as twins
from ..nn.dense import Dense
from ..nn.slaf import SLAF

__all__ = ["bench_slaf"]

N_ROWS = 256
WIDTHS = (256, 1024)
DEGREES = (2, 4, 8)
EPS = 1e-8


def _interleaved_ms(steps: list, repeats: int) -> list[float]:
    """Median ms of each step, timed in rounds (one run of each step per round, after two
    warm-up rounds), so that every step meets the same conditions: in particular the BLAS
    threads still spinning after a Dense product, as in a real network where a SLAF follows
    a Dense layer."""
    times = [[] for _ in steps]
    for r in range(repeats + 2):
        for i, step in enumerate(steps):
            t0 = time.perf_counter()
            step()
            if r >= 2:
                times[i].append(time.perf_counter() - t0)
    return [1e3 * float(np.median(t)) for t in times]


def _layer_step(layer, x: np.ndarray, dy: np.ndarray):
    def step():
        layer.forward(x, training=True)
        return layer.backward(dy)
    return step


def _kernel_step(module, layer: SLAF, x: np.ndarray, dy: np.ndarray):
    """The layer's two kernel calls, made directly with ``module`` (kernels or twins)."""
    x3, dy3 = x[:, :, None], dy[:, :, None]
    a = np.ascontiguousarray(layer.params["c"], dtype=np.float64)
    b = np.ascontiguousarray(layer.params["b"], dtype=np.float64)

    def step():
        _, mean, var = module.forward_train(x3, layer.basis, a, b, EPS)
        return module.backward_train(dy3, x3, layer.basis, a, mean, np.sqrt(var + EPS))
    return step


def _peak_ratio(layer: SLAF, x: np.ndarray, dy: np.ndarray) -> float:
    layer.forward(x, training=True)
    layer.backward(dy)                                         # warm
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        y = layer.forward(x, training=True)
        dx = layer.backward(dy)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    del y, dx
    return (peak - base) / x.nbytes


def _openblas_spin() -> str:
    """How long OpenBLAS's idle threads spin, as read from OpenBLAS itself (through the handle
    threadpoolctl holds), or what the environment says when that cannot be read."""
    try:
        from threadpoolctl import ThreadpoolController

        libs = ThreadpoolController().select(internal_api="openblas").lib_controllers
        value = int(libs[0].dynlib.openblas_thread_timeout())
        return f"2**{min(max(value, 4), 30) if value > 0 else 28} cycles"
    except (ImportError, IndexError, AttributeError, OSError):
        return f"OPENBLAS_THREAD_TIMEOUT={os.environ.get('OPENBLAS_THREAD_TIMEOUT', 'unset')}"


def bench_slaf(repeats: int = 7, quick: bool = False) -> dict:
    """Time SLAF forward + backward (layer, kernels, NumPy twin) against a Dense layer.

    Parameters
    ----------
    repeats : int
        Timed runs per measurement (the median is reported).
    quick : bool
        Three repeats only (for smoke tests).

    Returns
    -------
    dict
        ``rows``: one dict per (D, k) with ``layer_ms``, ``kernels_ms``, ``numpy_ms`` (the
        twin), ``dense_ms``, ``speedup`` (twin / kernels), ``slaf_over_dense`` (layer / dense),
        the same alone and ``peak_mem_x_input``; ``targets``: the checks as booleans;
        ``table``: the same as text; ``note``: the load average.
    """
    import numba

    if quick:
        repeats = min(repeats, 3)
    rng = np.random.default_rng(0)
    rows = []
    for D in WIDTHS:
        x = rng.standard_normal((N_ROWS, D)).astype(np.float32)
        dy = rng.standard_normal((N_ROWS, D)).astype(np.float32)
        dense = Dense(D, D, rng=0)
        for k in DEGREES:
            layer = SLAF(D, k, rng=0)
            dense_ms, layer_ms, kernels_ms, numpy_ms = _interleaved_ms(
                [_layer_step(dense, x, dy), _layer_step(layer, x, dy),
                 _kernel_step(kernels, layer, x, dy), _kernel_step(twins, layer, x, dy)],
                repeats)
            # the same two layers timed alone, each back to back (the yardstick)
            dense_alone = _interleaved_ms([_layer_step(dense, x, dy)], repeats)[0]
            layer_alone = _interleaved_ms([_layer_step(layer, x, dy)], repeats)[0]
            rows.append({"D": D, "k": k, "layer_ms": round(layer_ms, 3),
                         "kernels_ms": round(kernels_ms, 3), "numpy_ms": round(numpy_ms, 3),
                         "dense_ms": round(dense_ms, 3),
                         "speedup": round(numpy_ms / kernels_ms, 2),
                         "slaf_over_dense": round(layer_ms / dense_ms, 3),
                         "layer_alone_ms": round(layer_alone, 3),
                         "dense_alone_ms": round(dense_alone, 3),
                         "slaf_over_dense_alone": round(layer_alone / dense_alone, 3),
                         "peak_mem_x_input": round(_peak_ratio(layer, x, dy), 2)})
    key = next(r for r in rows if r["D"] == 1024 and r["k"] == 4)
    targets = {"kernels_4x_faster_than_numpy": all(r["speedup"] >= 4 for r in rows),
               "slaf_k4_d1024_under_quarter_dense_alone": key["slaf_over_dense_alone"] <= 0.25,
               "slaf_k4_d1024_under_quarter_dense_interleaved": key["slaf_over_dense"] <= 0.25,
               "peak_memory_under_3x_input": all(r["peak_mem_x_input"] <= 3 for r in rows)}
    threads = numba.get_num_threads()
    spin = _openblas_spin()
    # the backward's per-block scratch: (4 k + 14) float64 runs of length L <= 512 (S = 1), one
    # block alive per thread
    scratch_kib = threads * (4 * max(DEGREES) + 14) * 512 * 8 / 1024
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    head = f"{'D':>5} {'k':>2} {'layer ms':>9} {'kernels':>8} {'twin ms':>9} {'dense ms':>9} " \
           f"{'speedup':>8} {'slaf/dense':>10} {'alone':>6} {'peak mem':>9}"
    lines = [f"SLAF forward+backward, N={N_ROWS}, float32, power basis, normalize=True, "
             f"training; median of {repeats} interleaved rounds; kernel threads {threads}; "
             f"OpenBLAS threads spin {spin} after each call", head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['D']:>5} {r['k']:>2} {r['layer_ms']:>9.3f} {r['kernels_ms']:>8.3f} "
                     f"{r['numpy_ms']:>9.3f} {r['dense_ms']:>9.3f} {r['speedup']:>7.1f}x "
                     f"{r['slaf_over_dense']:>10.3f} {r['slaf_over_dense_alone']:>6.3f} "
                     f"{r['peak_mem_x_input']:>8.2f}x")
    lines.append("layer: SLAF.forward + backward; kernels / twin: its two kernel calls alone; "
                 "speedup: twin / kernels")
    lines.append("slaf/dense: layer / Dense, interleaved as in a network; alone: each timed back "
                 "to back")
    lines.append(f"peak mem: extra NumPy memory of one forward + backward / input size; the "
                 f"kernels' scratch (numba's allocator, not traced) is <= {scratch_kib:.0f} KiB")
    lines.append("targets: " + ", ".join(f"{k}={'yes' if v else 'NO'}" for k, v in targets.items()))
    note = (f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the end of the run; "
            f"timings on a shared machine are noisy; thread settings: see "
            f"slaf_np.kernels.parallel and slaf-np --help")
    lines.append(note)
    return {"rows": rows, "targets": targets, "repeats": repeats, "threads": threads,
            "openblas_spin": spin, "scratch_kib": scratch_kib, "note": note,
            "table": "\n".join(lines)}


if __name__ == "__main__":  # pragma: no cover
    print(bench_slaf()["table"])
