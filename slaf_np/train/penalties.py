r"""Coupled penalties: loss terms whose gradients go through the optimiser.

:class:`CoupledPenalty` is Keras's ``kernel_regularizer`` convention: the penalty
``l1 ||p||_1 + l2 ||p||^2`` is part of the loss, so its gradient ``l1 sign(p) + 2 l2 p`` is added
to ``g`` *before* the optimiser's update and goes through the optimiser (Adam normalises it with
the data gradient by its second moment). The decoupled ``l1`` / ``l2`` group options of
:mod:`slaf_np.train.optim` act *after* the update and are not normalised. Pass it as
``fit(..., penalty=CoupledPenalty({...}))`` or call it between ``backward`` and ``step()``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["CoupledPenalty"]


class CoupledPenalty:
    r"""Keras-style regularisers: loss terms whose gradients go through the optimiser.

    For each parameter key with ``(l1, l2)``::

        R = sum_p l1 sum |p| + l2 sum p^2        dR/dp = l1 sign(p) + 2 l2 p

    :meth:`add_gradients` (or calling the object) adds ``dR/dp`` to ``model.grads``: call it after
    ``backward`` and before ``optimizer.step()``, as :func:`slaf_np.train.loop.fit` does with
    ``penalty=``.

    Parameters
    ----------
    terms : dict
        ``{key: (l1, l2)}`` with keys of ``model.params`` (e.g. ``"0.W"``).
    """

    def __init__(self, terms: dict[str, tuple[float, float]]) -> None:
        self.terms = {k: (float(a), float(b)) for k, (a, b) in terms.items()}

    def _check(self, model) -> None:
        missing = [k for k in self.terms if k not in model.params]
        if missing:
            raise KeyError(f"CoupledPenalty: model has no parameters {missing}; it has "
                           f"{list(model.params)}")

    def value(self, model) -> float:
        """``R`` at the current parameters (float64)."""
        self._check(model)
        total = 0.0
        for k, (l1, l2) in self.terms.items():
            p = model.params[k].astype(np.float64)
            total += l1 * np.abs(p).sum() + l2 * (p * p).sum()
        return float(total)

    def add_gradients(self, model) -> None:
        """``grads[k] += l1 sign(p) + 2 l2 p`` for every penalised key."""
        self._check(model)
        for k, (l1, l2) in self.terms.items():
            p, g = model.params[k], model.grads[k]
            f = p.dtype.type
            if l1:
                g += f(l1) * np.sign(p)
            if l2:
                g += f(2.0 * l2) * p

    __call__ = add_gradients

    def __repr__(self) -> str:
        return f"CoupledPenalty({self.terms})"
