"""``slaf-np bench``: the speed and memory measurements the issues ask for, in one run.

Each benchmark is a function returning a dict with a ``"table"`` (text) and its numbers (medians of
repeated timings after a warm-up). Benchmarks are never timed tests: the machines are noisy, so the
figures quoted in the README come from one run of this command, ratios measured side by side.
"""

from __future__ import annotations

import importlib
import platform
import time

BENCHMARKS: dict[str, tuple[str, str]] = {
    "slaf": ("slaf_np.benchmarks.slaf:bench_slaf",
             "SLAF forward+backward: the layer, its kernels, their NumPy twins, a Dense layer"),
    "mlp": ("slaf_np.benchmarks.engine:bench_mlp_epoch",
            "one epoch of a 784-256-256-10 ReLU MLP vs its raw matmuls"),
    "expand": ("slaf_np.benchmarks.expand:bench_expand",
               "polynomial expansion of the paper's Boston SLNN (degree 8, 203,490 terms)"),
    "conv": ("slaf_np.benchmarks.conv:bench_conv",
             "Conv2D forward+backward on the paper's four shapes vs the same-size matrix product"),
    "networks": ("slaf_np.benchmarks.conv:bench_networks",
                 "a training iteration of the MNIST SLNN, its ReLU baseline and ResNet-20; "
                 "compile time"),
}


def _load(spec: str):
    module, _, func = spec.partition(":")
    return getattr(importlib.import_module(module), func)


def run(only: list[str] | None = None, quick: bool = False, verbose: bool = True) -> dict:
    """Run the benchmarks (all, or those named in ``only``) and return their results."""
    names = only or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        raise ValueError(f"unknown benchmark(s) {unknown}; known: {list(BENCHMARKS)}")
    out = {"machine": {"python": platform.python_version(), "processor": platform.machine(),
                       "cpus": _cpus()},
           "started": time.strftime("%Y-%m-%d %H:%M:%S"), "results": {}}
    for name in names:
        spec, what = BENCHMARKS[name]
        if verbose:
            print(f"[bench {name}] {what}", flush=True)
        t0 = time.perf_counter()
        func = _load(spec)
        res = func(quick=quick)
        res["seconds"] = round(time.perf_counter() - t0, 2)
        out["results"][name] = res
        if verbose and "table" in res:
            print(res["table"], flush=True)
    return out


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
