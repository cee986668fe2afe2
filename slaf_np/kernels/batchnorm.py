r"""The batch-normalisation backward, in NumPy: one statement of the formula, used by
:class:`slaf_np.nn.norm.BatchNorm` and by the SLAF twins (:mod:`slaf_np.kernels.slaf_numpy`),
which standardise each basis term exactly as batch norm standardises a feature. The numba SLAF
kernels fuse the same formula into their ``dx`` pass (:mod:`slaf_np.kernels.slaf`).

With :math:`\hat z = (z - \mu) / s`, :math:`\mu` and :math:`s = \sqrt{\sigma^2 + \epsilon}` the
batch mean and (biased) standard deviation over the M values of each feature, and
:math:`g = \partial L / \partial \hat z`:

.. math::

    \frac{\partial L}{\partial z} = \frac{1}{s}\Big(g - \overline{g} - \hat z\,
    \overline{g \hat z}\Big)

(bars are means over the M values). The two mean terms are the gradient through :math:`\mu` and
:math:`\sigma^2`: shifting or scaling a feature's batch does not change :math:`\hat z`, so the
gradient is orthogonal to the constant and to :math:`\hat z`. With fixed statistics
(evaluation) the map is affine and :math:`\partial L / \partial z = g / s`.
"""

from __future__ import annotations

import numpy as np

__all__ = ["batchnorm_backward"]


def batchnorm_backward(g: np.ndarray, zh: np.ndarray, s: np.ndarray,
                       axes: tuple[int, ...]) -> np.ndarray:
    """Gradient with respect to ``z`` of a batch standardisation ``zh = (z - mean) / s`` whose
    statistics were taken over ``axes`` (training mode).

    Parameters
    ----------
    g : ndarray
        dL/dzh, the shape of ``zh``.
    zh : ndarray
        The standardised values, e.g. (N, D), (N, C, H, W), or (N, D, S, k) for SLAF terms.
    s : ndarray
        ``sqrt(var + eps)``, broadcastable against ``zh`` (size 1 along ``axes``).
    axes : tuple of int
        The axes the mean and variance ran over (the M values of each feature).

    Returns
    -------
    dz : ndarray, the shape of ``zh``
        ``(g - mean(g) - zh * mean(g * zh)) / s``, means over ``axes``.
    """
    g = g - g.mean(axis=axes, keepdims=True) - zh * (g * zh).mean(axis=axes, keepdims=True)
    return g / s
