r"""Plain-NumPy twins of the SLAF kernels (:mod:`slaf_np.kernels.slaf`): the same functions,
signatures and results, written as the mathematics reads, for tests and for reading.

They materialise the (N, D, S, k) terms with :func:`slaf_np.bases.evaluate` in float64 (the
kernels never store them), and they serve every basis, including one with neither a three-term
recurrence nor a substitution, which the kernels hand to them. For ``fourier`` they evaluate
sines and cosines by angle addition (:func:`slaf_np.bases.fourier`), independently of the
kernels' Chebyshev recurrence in :math:`\sin(\pi x / 2)`. Per feature d and term i, with
``a = c * gate``, ``s = sqrt(var + eps)`` and sums over the M = N * S values of the feature:

* forward: :math:`\hat P_i = (g_i(x) - \mu_i) / s_i`, :math:`y = \sum_i a_i \hat P_i + b`
  (training: :math:`\mu, \sigma^2` of the batch; evaluation: the given mean and std);
* backward: :math:`G_i = \sum dy\,\hat P_i`, :math:`\partial L/\partial \hat P_i = a_i\,dy`, and
  :math:`dx = \sum_i g_i'(x)\,\partial L/\partial P_i`, where :math:`\partial L/\partial P_i`
  is the batch-norm backward of :math:`\partial L/\partial \hat P_i`
  (:func:`slaf_np.kernels.batchnorm.batchnorm_backward`) in training and
  :math:`a_i\,dy / s_i` with fixed statistics.
"""

from __future__ import annotations

import numpy as np

from .. import bases
from .batchnorm import batchnorm_backward

__all__ = ["forward_train", "forward_eval", "backward_train", "backward_eval", "term_stats"]

AXES = (0, 2)
"""The axes of the M = N * S values of a feature in the (N, D, S, k) terms."""


def _f64(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


def _terms(x: np.ndarray, basis: str, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(G, dG) of shape (N, D, S, k), float64."""
    if np.ndim(x) != 3:
        raise ValueError(f"kernels.slaf_numpy: expected x of shape (N, D, S), got "
                         f"{np.shape(x)}")
    return bases.evaluate(basis, _f64(x), k)


def term_stats(x: np.ndarray, basis: str, k: int):
    """Mean and biased variance (D, k), float64, of g_1..g_k over the N * S values of each
    feature (see :func:`slaf_np.kernels.slaf.term_stats`)."""
    G, _ = _terms(x, basis, k)
    mean = G.mean(axis=AXES)
    return mean, ((G - mean[:, None, :]) ** 2).mean(axis=AXES)


def forward_eval(x, basis, a, b, mean, std):
    """``y = sum_i a_i (g_i(x) - mean_i) / std_i + b`` in x's dtype (see
    :func:`slaf_np.kernels.slaf.forward_eval`)."""
    a = _f64(a)
    G, _ = _terms(x, basis, a.shape[1])
    Ph = (G - _f64(mean)[:, None, :]) / _f64(std)[:, None, :]
    y = (Ph * a[:, None, :]).sum(axis=-1) + _f64(b)[:, None]
    return y.astype(x.dtype)


def forward_train(x, basis, a, b, eps):
    """The forward with the batch's statistics: ``(y, mean, var)`` (see
    :func:`slaf_np.kernels.slaf.forward_train`)."""
    mean, var = term_stats(x, basis, _f64(a).shape[1])
    return forward_eval(x, basis, a, b, mean, np.sqrt(var + eps)), mean, var


def _backward(dy, x, basis, a, mean, std, training: bool):
    a, mean, std = _f64(a)[:, None, :], _f64(mean)[:, None, :], _f64(std)[:, None, :]
    G, dG = _terms(x, basis, a.shape[-1])
    dy = _f64(dy)
    Ph = (G - mean) / std
    dPh = dy[..., None] * a                                     # dL/dP^_i = a_i dy
    if training:
        dP = batchnorm_backward(dPh, Ph, std, AXES)             # through mean_i and var_i
    else:
        dP = dPh / std
    dx = (dP * dG).sum(axis=-1)                                 # dL/dx = sum_i dL/dP_i g_i'
    return dx.astype(x.dtype), (dy[..., None] * Ph).sum(axis=AXES), dy.sum(axis=AXES)


def backward_train(dy, x, basis, a, mean, std):
    """``(dx, G, dy_sum)`` through the batch statistics (see
    :func:`slaf_np.kernels.slaf.backward_train`)."""
    return _backward(dy, x, basis, a, mean, std, True)


def backward_eval(dy, x, basis, a, mean, std):
    """``(dx, G, dy_sum)`` with fixed statistics (see
    :func:`slaf_np.kernels.slaf.backward_eval`)."""
    return _backward(dy, x, basis, a, mean, std, False)
