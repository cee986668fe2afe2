"""Expanding the paper's Boston SLNN into its polynomial: time, peak memory, agreement.

The network of docs/paper.md section 4 (13 inputs, Dense128, SLAF k=4, Dense64, SLAF k=2, Dense1) in
float64 with random Glorot weights and normalised SLAFs whose running statistics are set from a
training-mode pass over standard-normal inputs (so the standardisation is not trivial). Its
polynomial has degree 8 and C(21, 8) = 203,490 terms. Target (issue 4): under 60 s and 4 GB, and
agreement with the network to 1e-8 relative in float64.
"""

from __future__ import annotations

import resource
import time

import numpy as np

__all__ = ["bench_expand"]


def _boston_slnn(rng):
    from ..nn import Dense, Sequential
    from ..nn.slaf import SLAF
    from ..train.calibration import recalibrate

    model = Sequential(Dense(13, 128, rng=rng, init="glorot", dtype=np.float64),
                       SLAF(128, 4, rng=rng, dtype=np.float64),
                       Dense(128, 64, rng=rng, init="glorot", dtype=np.float64),
                       SLAF(64, 2, rng=rng, dtype=np.float64),
                       Dense(64, 1, rng=rng, init="glorot", dtype=np.float64))
    recalibrate(model, rng.standard_normal((404, 13)))
    return model


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def bench_expand(repeats: int = 3, quick: bool = False) -> dict:
    """Median seconds of ``expand`` on the Boston SLNN, the process's peak RSS, max rel. error."""
    from ..polynomial import count_monomials, expand

    rng = np.random.default_rng(0)
    model = _boston_slnn(rng)
    X = rng.standard_normal((102, 13))
    rss_before = _peak_rss_mb()
    poly = expand(model)  # warm-up: compiles the kernels
    times = []
    for _ in range(1 if quick else repeats):
        t0 = time.perf_counter()
        poly = expand(model)
        times.append(time.perf_counter() - t0)
    net = model.forward(X)[:, 0]
    rel = float(np.max(np.abs(poly(X) - net)) / np.max(np.abs(net)))
    res = {"seconds_median": float(np.median(times)), "degree": poly.degree,
           "n_terms": poly.n_terms, "expected_terms": count_monomials(13, 8),
           "peak_rss_mb": _peak_rss_mb(), "peak_rss_mb_before": rss_before,
           "max_rel_error": rel, "targets": {"seconds": 60, "rss_mb": 4096, "rel_error": 1e-8}}
    res["table"] = (f"expand(Boston SLNN): {res['seconds_median']:.2f} s (median), degree "
                    f"{poly.degree}, {poly.n_terms:,} terms (C(21,8) = {res['expected_terms']:,}), "
                    f"peak RSS {res['peak_rss_mb']:.0f} MB, max rel. error vs network {rel:.1e}")
    return res
