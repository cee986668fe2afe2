r"""Finite-difference checks of hand-derived gradients, in three tiers.

1. :func:`check_jacobian` - the full Jacobian of a layer (input and every parameter) by central
   differences, entry by entry, on tiny shapes.
2. :func:`check_directional` - one scalar per random direction on realistic shapes:
   :math:`\langle u, J v\rangle` from the backward pass (``<J^T u, v>``) against
   :math:`(u \cdot f(x + h v) - u \cdot f(x - h v)) / 2h`.
3. :func:`check_model` - the gradient of a loss with respect to one packed vector of all of a
   model's parameters (:func:`pack` / :func:`unpack`), full or along random directions.

Every check runs in float64 (it raises ``TypeError`` otherwise: float32 differences are
meaningless at these step sizes), restores the layer's buffers (training-mode forwards update
running statistics) and raises :class:`GradcheckError` naming the worst entry, the analytic and the
numeric value. Tolerance: ``|a - n| <= atol + rtol * max(|a|, |n|)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["GradcheckError", "CheckResult", "numerical_jacobian", "check_jacobian",
           "check_directional", "check_model", "pack", "unpack"]


class GradcheckError(AssertionError):
    """A gradient check failed; the message names the worst entry."""


@dataclass
class CheckResult:
    """Worst relative error of a passing check, and where it was."""
    max_error: float
    where: str
    n_checked: int


def _require_f64(*arrays) -> None:
    for a in arrays:
        if np.asarray(a).dtype != np.float64:
            raise TypeError(f"gradcheck needs float64 arrays, got {np.asarray(a).dtype}; "
                            f"use model.astype(np.float64)")


def _check_settings(where: str, eps: float, atol: float, rtol: float,
                    n_directions: int | None = None) -> None:
    """Refuse settings under which a check would pass without checking (``eps = 0`` gives 0/0,
    no directions compare nothing)."""
    for name, value, positive in (("eps", eps, True), ("atol", atol, False),
                                  ("rtol", rtol, False)):
        ok = isinstance(value, (int, float, np.floating, np.integer)) and np.isfinite(value) and (
            value > 0 if positive else value >= 0)
        if not ok:
            raise ValueError(f"{where}: {name} must be a finite number "
                             f"{'> 0' if positive else '>= 0'}, got {value!r}")
    if n_directions is not None and (isinstance(n_directions, bool) or not isinstance(
            n_directions, (int, np.integer)) or n_directions < 1):
        raise ValueError(f"{where}: n_directions must be an integer >= 1, got {n_directions!r}")


def _compare(analytic, numeric, label: str, atol: float, rtol: float) -> tuple[float, str]:
    analytic = np.asarray(analytic, np.float64)
    numeric = np.asarray(numeric, np.float64)
    finite = np.isfinite(analytic) & np.isfinite(numeric)
    if not finite.all():  # NaN compares false with every tolerance: it would pass silently
        i = int(np.argmin(finite.reshape(-1)))
        idx = np.unravel_index(i, analytic.shape) if analytic.ndim else ()
        raise GradcheckError(
            f"{label}: non-finite gradient at index {tuple(int(j) for j in idx)}: "
            f"analytic {analytic.flat[i]!r}, numeric {numeric.flat[i]!r}"
        )
    err = np.abs(analytic - numeric)
    scale = np.maximum(np.abs(analytic), np.abs(numeric))
    excess = err - (atol + rtol * scale)
    i = int(np.argmax(excess)) if excess.size else 0
    rel = float(np.max(err / np.maximum(scale, atol))) if err.size else 0.0
    if excess.size and excess.flat[i] > 0:
        idx = np.unravel_index(i, analytic.shape) if analytic.ndim else ()
        raise GradcheckError(
            f"{label}: gradient mismatch at index {tuple(int(j) for j in idx)}: "
            f"analytic {analytic.flat[i]:.10g}, numeric {numeric.flat[i]:.10g} "
            f"(|diff| {err.flat[i]:.3g} > atol {atol:g} + rtol {rtol:g} * {scale.flat[i]:.3g})"
        )
    return rel, label


def numerical_jacobian(f: Callable[[], np.ndarray], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central-difference Jacobian of ``f()`` with respect to the array ``x``, perturbed in place.

    Returns an array of shape ``f().shape + x.shape``.
    """
    y0 = np.asarray(f())
    J = np.zeros(y0.shape + x.shape)
    flat = x.reshape(-1)
    if not np.shares_memory(flat, x):
        raise ValueError("numerical_jacobian: x must be contiguous (perturbed in place)")
    for j in range(flat.size):
        old = flat[j]
        flat[j] = old + eps
        yp = np.array(f(), dtype=np.float64)
        flat[j] = old - eps
        ym = np.array(f(), dtype=np.float64)
        flat[j] = old
        J.reshape(y0.size, -1)[:, j] = ((yp - ym) / (2 * eps)).reshape(-1)
    return J


class _Saved:
    """Restore a module's buffers (and optionally params) after a check."""

    def __init__(self, module):
        self.module = module
        self.buffers = {k: v.copy() for k, v in module.buffers.items()}

    def restore(self):
        for k, v in self.buffers.items():
            self.module.buffers[k][...] = v


def check_jacobian(layer, x: np.ndarray, training: bool = True, eps: float = 1e-6,
                   atol: float = 1e-6, rtol: float = 1e-5) -> CheckResult:
    """Full Jacobian check of ``layer`` at input ``x``: with respect to ``x`` and every parameter.

    The analytic Jacobian is assembled row by row: for each output entry i, backward with
    ``dy = e_i`` gives row i of ``dy/dx`` and of each ``dy/dparam``.
    """
    _check_settings("check_jacobian", eps, atol, rtol)
    x = np.array(x, dtype=np.float64)
    _require_f64(x, *layer.params.values())
    saved = _Saved(layer)
    try:
        y = layer.forward(x, training=training)
        ny = y.size
        rows_x = np.zeros((ny, x.size))
        rows_p = {k: np.zeros((ny, p.size)) for k, p in layer.params.items()}
        for i in range(ny):
            layer.zero_grad()
            layer.forward(x, training=training)
            dy = np.zeros_like(y)
            dy.flat[i] = 1.0
            rows_x[i] = layer.backward(dy).reshape(-1)
            for k, g in layer.grads.items():
                rows_p[k][i] = g.reshape(-1)
        layer.zero_grad()

        def f():
            return layer.forward(x, training=training)

        worst = (0.0, "")
        name = getattr(layer, "name", type(layer).__name__)
        num = numerical_jacobian(f, x, eps).reshape(ny, -1)
        worst = max(worst, _compare(rows_x, num, f"{name}: d y / d x", atol, rtol))
        for k, p in layer.params.items():
            num = numerical_jacobian(f, p, eps).reshape(ny, -1)
            worst = max(worst, _compare(rows_p[k], num, f"{name}: d y / d {k}", atol, rtol))
        n = ny * (x.size + sum(p.size for p in layer.params.values()))
        return CheckResult(worst[0], worst[1], n)
    finally:
        saved.restore()


def check_directional(layer, x: np.ndarray, rng: np.random.Generator, training: bool = True,
                      n_directions: int = 3, eps: float = 1e-6, atol: float = 1e-7,
                      rtol: float = 1e-5) -> CheckResult:
    """Random-direction check ``<u, J v>`` for realistic shapes.

    For each of ``n_directions`` random unit-variance ``u`` (output-shaped) and ``v`` (one part per
    input and parameter), compares ``<J^T u, v>`` from one backward pass with the central difference
    of ``u . f`` along ``v``.
    """
    _check_settings("check_directional", eps, atol, rtol, n_directions)
    x = np.array(x, dtype=np.float64)
    _require_f64(x, *layer.params.values())
    saved = _Saved(layer)
    name = getattr(layer, "name", type(layer).__name__)
    worst = (0.0, "")
    try:
        for d in range(n_directions):
            y = layer.forward(x, training=training)
            u = rng.standard_normal(y.shape)
            vx = rng.standard_normal(x.shape)
            vp = {k: rng.standard_normal(p.shape) for k, p in layer.params.items()}
            layer.zero_grad()
            dx = layer.backward(u)
            analytic = float(np.sum(dx * vx) + sum(np.sum(layer.grads[k] * vp[k]) for k in vp))
            layer.zero_grad()
            originals = {k: p.copy() for k, p in layer.params.items()}

            def shifted(t, u=u, vx=vx, vp=vp, originals=originals):
                for k, p in layer.params.items():
                    p[...] = originals[k] + t * vp[k]
                return float(np.sum(u * layer.forward(x + t * vx, training=training)))

            numeric = (shifted(eps) - shifted(-eps)) / (2 * eps)
            for k, p in layer.params.items():
                p[...] = originals[k]
            worst = max(worst, _compare(analytic, numeric, f"{name}: direction {d}", atol, rtol))
        return CheckResult(worst[0], worst[1], n_directions)
    finally:
        saved.restore()


def pack(params: dict[str, np.ndarray]) -> np.ndarray:
    """Concatenate the parameters (in key order) into one float64 vector."""
    if not params:
        return np.zeros(0)
    return np.concatenate([np.asarray(p, np.float64).reshape(-1) for p in params.values()])


def unpack(theta: np.ndarray, params: dict[str, np.ndarray]) -> None:
    """Write the vector ``theta`` back into the parameter arrays (in place, key order)."""
    total = sum(p.size for p in params.values())
    if theta.size != total:  # checked first: a bad theta must not half-overwrite the parameters
        raise ValueError(f"unpack: theta has {theta.size} entries, the parameters {total}")
    offset = 0
    for p in params.values():
        p[...] = theta[offset:offset + p.size].reshape(p.shape)
        offset += p.size


def check_model(model, X: np.ndarray, y: np.ndarray, loss, training: bool = True,
                rng: np.random.Generator | None = None, n_directions: int | None = None,
                eps: float = 1e-6, atol: float = 1e-7, rtol: float = 1e-5) -> CheckResult:
    """Whole-model check: the gradient of ``loss(model(X), y)`` w.r.t. the packed parameters.

    ``loss`` is a callable returning ``(value, dlogits)`` (as in :mod:`slaf_np.train.losses`). With
    ``n_directions=None`` every packed coordinate is differenced (use on small models); otherwise
    that many random directions are checked. ``loss`` may also be the name of a built-in loss.
    """
    _check_settings("check_model", eps, atol, rtol, n_directions)
    if isinstance(loss, str):
        from .train.losses import get_loss

        loss = get_loss(loss)
    X = np.asarray(X)
    params = model.params
    _require_f64(X, *params.values())
    saved = _Saved(model)
    theta0 = pack(params)
    try:
        def value(theta):
            unpack(theta, params)
            saved.restore()
            return float(loss(model.forward(X, training=training), y)[0])

        unpack(theta0, params)
        model.zero_grad()
        out = model.forward(X, training=training)
        _, dout = loss(out, y)
        model.backward(dout)
        grad = pack(model.grads)
        model.zero_grad()
        if n_directions is None:
            num = np.empty_like(theta0)
            for j in range(theta0.size):
                e = np.zeros_like(theta0)
                e[j] = eps
                num[j] = (value(theta0 + e) - value(theta0 - e)) / (2 * eps)
            rel, where = _compare(grad, num, "model: d loss / d theta", atol, rtol)
            keys = list(params)
            return CheckResult(rel, where + f" ({len(keys)} arrays)", theta0.size)
        rng = rng if rng is not None else np.random.default_rng(0)
        worst = (0.0, "")
        for d in range(n_directions):
            v = rng.standard_normal(theta0.shape)
            numeric = (value(theta0 + eps * v) - value(theta0 - eps * v)) / (2 * eps)
            worst = max(worst, _compare(grad @ v, numeric, f"model: direction {d}", atol, rtol))
        return CheckResult(worst[0], worst[1], n_directions)
    finally:
        unpack(theta0, params)
        saved.restore()
