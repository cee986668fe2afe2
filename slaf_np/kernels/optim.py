r"""Numba kernel of the Adam update (:class:`slaf_np.train.optim.Adam`) and its NumPy twin.

With the bias corrections folded into the rate ``lr_t`` (the optimiser computes it), one step of
every entry of a parameter ``p`` with gradient ``g`` and moments ``m``, ``v`` is::

    m = b1 m + c1 g;   v = b2 v + c2 g^2;   p = p - lr_t (m / (sqrt(v) + eps))

with ``c1 = 1 - b1`` and ``c2 = 1 - b2``. Every scalar is of the arrays' dtype and both functions
round each operation in that dtype in the same order, so they agree bit for bit. The kernel makes
one pass over the arrays instead of the twin's twelve (about 4x faster on a 784 x 256 matrix).
"""

from __future__ import annotations

import numpy as np

from ._jit import njit


@njit(error_model="numpy")
def adam_step(p, g, m, v, b1, b2, c1, c2, eps, lr_t):
    """One Adam update of the flat (1-D, contiguous, same dtype) ``p``, ``m``, ``v`` in place.

    ``error_model="numpy"`` drops the per-division zero check that would stop vectorisation;
    no ``fastmath``, so each operation is IEEE-rounded as in :func:`adam_step_numpy`.
    """
    for i in range(p.size):
        gi = g[i]
        mi = m[i] * b1 + c1 * gi
        vi = v[i] * b2 + c2 * (gi * gi)
        m[i] = mi
        v[i] = vi
        d = np.sqrt(vi) + eps
        p[i] = p[i] - (mi / d) * lr_t


def adam_step_numpy(p, g, m, v, b1, b2, c1, c2, eps, lr_t):
    """NumPy twin of :func:`adam_step` (arrays of any one shape), one temporary array."""
    tmp = np.multiply(g, c1)
    m *= b1
    m += tmp
    np.multiply(g, g, out=tmp)
    tmp *= c2
    v *= b2
    v += tmp
    np.sqrt(v, out=tmp)
    tmp += eps
    np.divide(m, tmp, out=tmp)
    tmp *= lr_t
    p -= tmp


#: name -> (numba kernel, NumPy twin), for the tests and ``NUMBA_DISABLE_JIT`` comparisons.
KERNELS = {"adam_step": (adam_step, adam_step_numpy)}
