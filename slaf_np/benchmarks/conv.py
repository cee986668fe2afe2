"""Benchmarks of issue 12: each convolution against a matrix product, and whole training steps.

``conv`` (:func:`bench_conv`). For each shape of :func:`slaf_np.kernels.conv.conv_shapes` (the
two MNIST SLNN convolutions and two CIFAR ResNet ones, float32): the :class:`slaf_np.nn.Conv2D`
layer's forward + backward in training mode, and a plain ``a @ b`` with the shape's forward
product ``(M, K) @ (K, N)`` (``M = O``, ``K = C kh kw``, ``N = batch Ho Wo``), timed in
interleaved rounds (one of each per round, two warm-up rounds, medians)::

    conv GFLOP/s = 6 M N K / t(forward + backward)       (three products of that size)
    GEMM GFLOP/s = 2 M N K / t(a @ b)                     share = conv / GEMM

Target: share >= 50 %. Memory: the peak of NumPy's allocations (``tracemalloc``: NumPy reports
its data buffers to it; the benchmark checks that on a test array and says so) during one
forward + backward beyond what was allocated before, over the bytes of the whole batch's lowered
input (``K N`` values, which the layer never builds). Target: at most 4x. The per-thread chunk
buffers the kernels allocate are NumPy arrays and are counted.

``networks`` (:func:`bench_networks`). One training iteration (forward, softmax cross-entropy,
backward, Adam's step) of the paper's MNIST SLNN and ReLU baseline (batch 50) and of the CIFAR
ResNet-20 (batch 128), on random data of the right shapes, built by :mod:`slaf_np.models`:

* ``fit_ms``: :func:`slaf_np.train.fit` over ``iterations`` batches (one epoch of
  ``iterations x batch`` samples, no validation, ``calibrate=False``), wall time / iterations
  (the clock starts after a warm-up iteration has compiled or loaded every kernel);
* ``loop_ms``: the median of a hand loop of ``opt.zero_grad(); model.forward; loss;
  model.backward; opt.step()`` (what ``fit``'s step does, minus its bookkeeping);
* ``loop_blas1_ms``: the same hand loop with BLAS limited to one thread (threadpoolctl), in
  rounds alternating with ``loop_ms``'s. On a busy 2-core machine a two-thread OpenBLAS product
  waits for its second thread to be scheduled: the MNIST SLNN's Dense(1568, 1024) took 35-47 ms
  per forward against 1.6 ms with one thread (measured while other work ran); the column shows
  how much of an iteration that is;
* ``implied_25k_min``: 25,000 iterations (the paper's MNIST run) at ``fit_ms``.

Target: the MNIST SLNN at most 25 ms per iteration on 2 cores. For the MNIST SLNN a per-layer
breakdown (median forward and backward of each layer, the loss, Adam's step) says where the time
goes. First use: a fresh Python process with an empty ``NUMBA_CACHE_DIR`` builds the MNIST SLNN
and times its first training iteration and the median of the next few: ``compile_s = first -
warm`` (target: under a minute); a second process on the now-filled cache gives the first-use
time with the cache (``cache=True``). With ``quick=True`` only the cached process runs (on the
caller's cache), with a few iterations at the same shapes: a smoke test, not a measurement.

The thread settings in force (numba's threads, BLAS's, ``OPENBLAS_CORETYPE`` and the core type
OpenBLAS chose, how long its idle threads spin) head both tables.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc

import numpy as np

from .slaf import _interleaved_ms, _openblas_spin

__all__ = ["bench_conv", "bench_networks"]

NETWORKS = {  # name -> (builder in slaf_np.models, input shape per sample, batch)
    "mnist_slnn": ("mnist_slnn", (1, 28, 28), 50),
    "mnist_relu_cnn": ("mnist_relu_cnn", (1, 28, 28), 50),
    "cifar_resnet20": ("cifar_resnet", (3, 32, 32), 128),
}
PAPER_ITERATIONS = 25_000


def thread_settings() -> dict:
    """numba's and BLAS's thread counts, OPENBLAS_CORETYPE (set or not) and the core type
    OpenBLAS runs with, and how long its idle threads spin."""
    import numba
    from threadpoolctl import threadpool_info

    blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    return {"numba_threads": numba.get_num_threads(),
            "blas_threads": blas[0]["num_threads"] if blas else None,
            "blas": blas[0].get("internal_api") if blas else None,
            "openblas_coretype_env": os.environ.get("OPENBLAS_CORETYPE", "unset"),
            "openblas_coretype": blas[0].get("architecture") if blas else None,
            "openblas_num_threads_env": os.environ.get("OPENBLAS_NUM_THREADS", "unset"),
            "openblas_spin": _openblas_spin()}


def _settings_line(s: dict) -> str:
    return (f"threads: numba {s['numba_threads']}, BLAS {s['blas_threads']} ({s['blas']}); "
            f"OPENBLAS_CORETYPE={s['openblas_coretype_env']} (core type in use: "
            f"{s['openblas_coretype']}); OPENBLAS_NUM_THREADS={s['openblas_num_threads_env']}; "
            f"OpenBLAS threads spin {s['openblas_spin']} after each call")


def numpy_reports_to_tracemalloc() -> bool:
    """Whether a NumPy allocation shows in tracemalloc (it does from NumPy 1.13 on)."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        a = np.empty(1 << 20, np.uint8)
        seen = tracemalloc.get_traced_memory()[0] - before >= a.nbytes
    finally:
        tracemalloc.stop()
    return seen


def _peak_bytes(step) -> int:
    """Peak traced bytes of one ``step()`` beyond what was allocated before it."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        out = step()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    del out
    return peak - base


def bench_conv(repeats: int = 15, quick: bool = False) -> dict:
    """Time each :func:`~slaf_np.kernels.conv.conv_shapes` convolution against its GEMM.

    Parameters
    ----------
    repeats : int
        Timed rounds (medians reported).
    quick : bool
        Two rounds only (a smoke test).

    Returns
    -------
    dict
        ``rows`` (per shape: ``ms``, ``gflops``, ``gemm_ms``, ``gemm_gflops``, ``share``,
        ``peak_mem_x_lowered``), ``targets``, ``settings`` (:func:`thread_settings`),
        ``numpy_traced`` and ``table``.
    """
    from ..kernels.conv import conv_shapes
    from ..nn.conv import Conv2D

    if quick:
        repeats = min(repeats, 2)
    rng = np.random.default_rng(0)
    rows = []
    cases = []
    for case in conv_shapes():
        cases.append(case)
        if case["layer"]["in_channels"] == 1:   # a network's first layer: also as used there
            cases.append({**case, "name": case["name"] + " (first layer: no dx)",
                          "layer": {**case["layer"], "input_gradient": False},
                          "flops": case["flops"] * 2 // 3})   # forward + dW: 4 M N K
    for case in cases:
        layer = Conv2D(**case["layer"], rng=0)
        with_dx, first_layer = layer.input_gradient, layer.in_channels == 1
        x = rng.standard_normal(case["input_shape"], dtype=np.float32)
        dy = rng.standard_normal(layer.output_shape(x.shape), dtype=np.float32)
        m, n, k = case["gemm"]
        a = rng.standard_normal((m, k), dtype=np.float32)
        b = rng.standard_normal((k, n), dtype=np.float32)

        def conv_step(layer=layer, x=x, dy=dy):
            layer.forward(x, training=True)
            return layer.backward(dy)

        def gemm_step(a=a, b=b):
            return a @ b

        ms, gemm_ms = _interleaved_ms([conv_step, gemm_step], repeats)
        gflops = case["flops"] / ms / 1e6
        gemm_gflops = 2 * m * n * k / gemm_ms / 1e6
        peak = _peak_bytes(conv_step)
        rows.append({"name": case["name"], "input_shape": case["input_shape"],
                     "gemm": case["gemm"], "ms": round(ms, 3), "gflops": round(gflops, 2),
                     "gemm_ms": round(gemm_ms, 3), "gemm_gflops": round(gemm_gflops, 2),
                     "share": round(gflops / gemm_gflops, 3),
                     "input_gradient": with_dx,
                     # how the paper's networks run it: a first layer (1 channel) without dx
                     "as_in_network": with_dx if not first_layer else not with_dx,
                     "peak_mem_x_lowered": round(peak / (case["lowered"] * 4), 3)})
    traced = numpy_reports_to_tracemalloc()
    settings = thread_settings()
    targets = {"share_at_least_half": all(r["share"] >= 0.5 for r in rows if r["as_in_network"]),
               "share_at_least_half_all_with_dx": all(r["share"] >= 0.5 for r in rows
                                                      if r["input_gradient"]),
               "peak_memory_within_4x_lowered": traced and all(
                   r["peak_mem_x_lowered"] <= 4 for r in rows)}
    head = (f"{'shape':<34} {'ms':>8} {'GFLOP/s':>8} {'GEMM ms':>8} {'GEMM GF/s':>9} "
            f"{'share':>6} {'peak mem':>9}")
    lines = [f"Conv2D forward+backward (training), float32, vs a @ b of the same M, N, K; "
             f"median of {repeats} interleaved rounds", _settings_line(settings), head,
             "-" * len(head)]
    for r in rows:
        lines.append(f"{r['name']:<34} {r['ms']:>8.2f} {r['gflops']:>8.1f} {r['gemm_ms']:>8.3f} "
                     f"{r['gemm_gflops']:>9.1f} {100 * r['share']:>5.0f}% "
                     f"{r['peak_mem_x_lowered']:>8.2f}x")
    lines.append("GFLOP/s: 6 M N K / t (conv; 4 M N K without dx), 2 M N K / t (GEMM); peak "
                 "mem: NumPy's peak during one forward + backward / bytes of the whole lowered "
                 "input (K N float32)"
                 + ("" if traced else " -- NOT MEASURED: NumPy does not report to tracemalloc"))
    lines.append("targets: " + ", ".join(f"{k}={'yes' if v else 'NO'}" for k, v in targets.items()))
    return {"rows": rows, "targets": targets, "repeats": repeats, "settings": settings,
            "numpy_traced": traced, "table": "\n".join(lines)}


# ------------------------------------------------------------------------------- networks
def _network(name: str, rng_seed: int = 0):
    from .. import models

    builder, shape, batch = NETWORKS[name]
    return getattr(models, builder)(rng=rng_seed), shape, batch


def _data(shape, n: int, rng) -> tuple[np.ndarray, np.ndarray]:
    return rng.random((n, *shape), dtype=np.float32), rng.integers(0, 10, n)


def _loop_ms(model, opt, X, y, batch: int, iterations: int) -> list[float]:
    """Per-iteration ms of the hand loop zero_grad - forward - loss - backward - step."""
    from ..train.losses import softmax_cross_entropy

    times = []
    for i in range(iterations):
        a = (i * batch) % (len(X) - batch + 1)
        xb, yb = X[a:a + batch], y[a:a + batch]
        t0 = time.perf_counter()
        opt.zero_grad()
        _, dout = softmax_cross_entropy(model.forward(xb, training=True), yb)
        model.backward(dout)
        opt.step()
        times.append(1e3 * (time.perf_counter() - t0))
    return times


def _loop_ab_ms(model, opt, X, y, batch: int, iterations: int) -> tuple[float, float]:
    """Median ms of the hand loop with BLAS's threads as they are and limited to one
    (threadpoolctl), in three alternating rounds of ``iterations / 3`` (at least 1) each."""
    from threadpoolctl import threadpool_limits

    times: tuple[list, list] = ([], [])
    per = max(iterations // 3, 1)
    for _ in range(3):
        times[0].extend(_loop_ms(model, opt, X, y, batch, per))
        with threadpool_limits(limits=1, user_api="blas"):
            times[1].extend(_loop_ms(model, opt, X, y, batch, per))
    return float(np.median(times[0])), float(np.median(times[1]))


def _fit_ms(model, opt, X, y, batch: int) -> float:
    from ..train.loop import fit

    t0 = time.perf_counter()
    fit(model, X, y, "softmax_cross_entropy", opt, epochs=1, batch_size=batch, rng=0, keep=None,
        verbose=False, calibrate=False)
    return 1e3 * (time.perf_counter() - t0) / (len(X) // batch)


def breakdown(model, opt, X, y, batch: int, repeats: int) -> list[dict]:
    """Median ms of each top-level layer's forward and backward, the loss and Adam's step, over
    ``repeats`` iterations of the hand loop (after one warm-up)."""
    from ..train.losses import softmax_cross_entropy

    names = [f"{i}:{type(m).__name__}" for i, m in enumerate(model.layers)]
    fwd = [[] for _ in names]
    bwd = [[] for _ in names]
    other = {"loss": [], "zero_grad": [], "adam_step": []}
    for r in range(repeats + 1):
        a = (r * batch) % (len(X) - batch + 1)
        h, yb = X[a:a + batch], y[a:a + batch]
        t0 = time.perf_counter()
        opt.zero_grad()
        t1 = time.perf_counter()
        for i, m in enumerate(model.layers):
            s = time.perf_counter()
            h = m.forward(h, training=True)
            fwd[i].append(time.perf_counter() - s)
        s = time.perf_counter()
        _, g = softmax_cross_entropy(h, yb)
        t2 = time.perf_counter()
        for i in reversed(range(len(names))):
            s2 = time.perf_counter()
            g = model.layers[i].backward(g)
            bwd[i].append(time.perf_counter() - s2)
        s3 = time.perf_counter()
        opt.step()
        t4 = time.perf_counter()
        other["zero_grad"].append(t1 - t0)
        other["loss"].append(t2 - s)
        other["adam_step"].append(t4 - s3)
    med = lambda v: round(1e3 * float(np.median(v[1:])), 3)  # noqa: E731  (drop the warm-up)
    rows = [{"part": n, "forward_ms": med(f), "backward_ms": med(b)}
            for n, f, b in zip(names, fwd, bwd, strict=True)]
    rows += [{"part": k, "forward_ms": med(v), "backward_ms": 0.0} for k, v in other.items()]
    return rows


_FIRST_USE = """
import json, sys, time
import numpy as np
from slaf_np import models
from slaf_np.train.losses import softmax_cross_entropy
from slaf_np.train.optim import Adam
t_import = time.perf_counter()
model = models.mnist_slnn(rng=0)
opt = Adam(model, lr=1e-3)
rng = np.random.default_rng(0)
X, y = rng.random((50, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, 50)
times = []
for _ in range(int(sys.argv[1])):
    t0 = time.perf_counter()
    opt.zero_grad()
    _, d = softmax_cross_entropy(model.forward(X, training=True), y)
    model.backward(d)
    opt.step()
    times.append(time.perf_counter() - t0)
print(json.dumps({"first_s": times[0], "warm_s": float(np.median(times[1:]))}))
"""


def first_use(cache_dir: str | None, iterations: int = 4) -> dict:
    """Time the MNIST SLNN's first training iteration in a fresh process (``cache_dir`` as its
    NUMBA_CACHE_DIR; None keeps the caller's): ``first_s``, ``warm_s`` (median of the next
    ``iterations - 1``) and ``compile_s = first_s - warm_s``."""
    env = dict(os.environ)
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = cache_dir
    out = subprocess.run([sys.executable, "-c", _FIRST_USE, str(iterations)], env=env,
                         capture_output=True, text=True, check=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res["compile_s"] = res["first_s"] - res["warm_s"]
    return {k: round(v, 3) for k, v in res.items()}


def bench_networks(iterations: int = 300, resnet_iterations: int = 20,
                   quick: bool = False) -> dict:
    """Training-iteration times of the paper's networks, a per-layer breakdown of the MNIST
    SLNN's, and its first-use compile time (see the module docstring).

    Parameters
    ----------
    iterations : int
        Iterations of ``fit`` and of the hand loop for the MNIST networks (batch 50).
    resnet_iterations : int
        The same for the CIFAR ResNet-20 (batch 128).
    quick : bool
        Three iterations each and no cold compile (a smoke test).

    Returns
    -------
    dict
        ``rows`` (per network: ``batch``, ``params``, ``fit_ms``, ``loop_ms``,
        ``loop_blas1_ms``, ``implied_25k_min``), ``breakdown`` (the MNIST SLNN's),
        ``first_use`` (``cold`` and ``cached``, each with ``first_s``, ``warm_s``,
        ``compile_s``; ``cold`` is absent in quick mode), ``targets``, ``settings`` and
        ``table``.
    """
    from ..train.optim import Adam

    if quick:
        iterations = resnet_iterations = 3
    rng = np.random.default_rng(0)
    rows, parts = [], None
    for name in NETWORKS:
        model, shape, batch = _network(name)
        its = resnet_iterations if name.startswith("cifar") else iterations
        X, y = _data(shape, its * batch, rng)
        opt = Adam(model, lr=1e-3)
        _loop_ms(model, opt, X, y, batch, 1)                     # compile / load the kernels
        fit_ms = _fit_ms(model, opt, X, y, batch)
        loop_ms, loop1_ms = _loop_ab_ms(model, opt, X, y, batch, its)
        rows.append({"name": name, "batch": batch,
                     "params": int(sum(p.size for p in model.params.values())),
                     "fit_ms": round(fit_ms, 2), "loop_ms": round(loop_ms, 2),
                     "loop_blas1_ms": round(loop1_ms, 2),
                     "implied_25k_min": round(fit_ms * PAPER_ITERATIONS / 6e4, 1)})
        if name == "mnist_slnn":
            parts = breakdown(model, opt, X, y, batch, min(its, 50))
    first = {}
    if not quick:
        with tempfile.TemporaryDirectory(prefix="slaf_np_cold_cache_") as d:
            first["cold"] = first_use(d)
            first["cached"] = first_use(d)
    else:
        first["cached"] = first_use(None)
    settings = thread_settings()
    mnist = rows[0]
    targets = {"mnist_slnn_at_most_25ms": mnist["fit_ms"] <= 25}
    if "cold" in first:
        targets["compile_under_a_minute"] = first["cold"]["compile_s"] < 60
    head = f"{'network':<16} {'batch':>5} {'params':>10} {'fit ms':>8} {'loop ms':>8} " \
           f"{'1 BLAS':>7} {'25k iters':>10}"
    lines = [f"One training iteration (forward, softmax cross-entropy, backward, Adam), float32, "
             f"random data; fit: wall / iterations ({iterations} MNIST, {resnet_iterations} "
             f"ResNet), loop: median of a hand loop; 1 BLAS: the same with BLAS limited to one "
             f"thread", _settings_line(settings), head,
             "-" * len(head)]
    for r in rows:
        lines.append(f"{r['name']:<16} {r['batch']:>5} {r['params']:>10,} {r['fit_ms']:>8.2f} "
                     f"{r['loop_ms']:>8.2f} {r['loop_blas1_ms']:>7.2f} "
                     f"{r['implied_25k_min']:>6.1f} min")
    lines.append("MNIST SLNN per layer (median ms): " + "; ".join(
        f"{p['part']} {p['forward_ms']:.2f}/{p['backward_ms']:.2f}" for p in parts)
        + " (forward/backward)")
    for kind, res in first.items():
        lines.append(f"first use, {kind} numba cache: first iteration {res['first_s']:.2f} s, "
                     f"warm {1e3 * res['warm_s']:.1f} ms, compile/load {res['compile_s']:.2f} s")
    lines.append("targets: " + ", ".join(f"{k}={'yes' if v else 'NO'}" for k, v in targets.items()))
    return {"rows": rows, "breakdown": parts, "first_use": first, "targets": targets,
            "settings": settings, "table": "\n".join(lines)}
