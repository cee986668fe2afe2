r"""Optimisers: :class:`SGD` (plain, momentum, Nesterov) and :class:`Adam`, with parameter groups,
global-norm gradient clipping, decoupled L1/L2 steps and step schedules.

An optimiser is built from a model (anything with ``params`` and ``grads`` dicts of arrays, keys
such as ``"0.W"`` or ``"3.c"``) and updates ``model.params`` **in place** in :meth:`Optimizer.step`
(the model holds the arrays; they are never rebound). One step, for every parameter ``p`` of a
group with learning rate ``lr_g`` and gradient ``g``:

1. **Clipping** (optional, ``clip_norm = C``): with the global norm
   :math:`\|g\| = \sqrt{\sum_p \sum g_p^2}` over *all* parameters, every gradient is used as
   :math:`g \cdot C / \max(\|g\|, C)` (the stored gradients are not modified). A non-finite
   norm raises :class:`FloatingPointError` naming the parameters, before anything changes.
2. **The optimiser's update** of ``p`` from ``g`` (formulas in :class:`SGD` and :class:`Adam`).
3. **Decoupled penalties** (docs/paper.md s. 3: weight decay applied as a separate plain gradient
   step), on the updated ``p``::

       p -= lr_g * l2 * p            # gradient step on (l2 / 2) ||p||^2
       p -= lr_g * l1 * sign(p)      # subgradient step on l1 ||p||_1 (sign(0) = 0)

   The L1 step is a subgradient step: it does not stop at zero, so a coefficient near zero
   oscillates around it with amplitude ``lr_g * l1`` instead of becoming exactly zero.

**Parameter groups.** ``groups`` is a list of dicts, each selecting parameters (by ``"match"`` or
``"keys"``) and overriding hyperparameters (``lr``, ``l1``, ``l2`` and the optimiser's own)::

    Adam(model, lr=1e-3, groups=[{"match": "slaf", "lr": 5e-3, "l1": 0.01}])

The selection rules are those of :func:`slaf_np.train.groups.param_groups`.

**Learning-rate schedules.** :class:`StepSchedule` gives the rate of the default group at an
iteration or epoch; :meth:`Optimizer.set_lr` applies it as a *multiplier* ``rate / lr`` of every
group's base rate, so groups keep their ratio to the default rate (a SLAF group at ``5 lr`` stays at
five times the scheduled rate). :func:`slaf_np.train.loop.fit` calls it for you.

**Coupled penalties.** :class:`slaf_np.train.penalties.CoupledPenalty` (also importable from
here) is the other convention, Keras's ``kernel_regularizer``: the penalty is part of the loss and
its gradient goes *through* the optimiser, added to ``g`` before step 2.
"""

from __future__ import annotations

import math

import numpy as np

from ..kernels.optim import adam_step, adam_step_numpy
from ..nn.base import check_range
from .groups import named_leaves, param_groups
from .penalties import CoupledPenalty

__all__ = ["Optimizer", "SGD", "Adam", "StepSchedule", "CoupledPenalty", "param_groups",
           "named_leaves", "global_norm", "FUSED_MIN_SIZE"]

_COMMON = ("lr", "l1", "l2")


def global_norm(grads) -> float:
    """``sqrt(sum of squares)`` over every array of the iterable ``grads``, summed in float64."""
    total = 0.0
    for g in grads:
        flat = g.reshape(-1)
        total += float(np.dot(flat, flat))
    return math.sqrt(total)


# -- schedules ---------------------------------------------------------------------------------
class StepSchedule:
    """Piecewise-constant learning rate: ``milestones = [(start, rate), ...]``.

    The rate at step ``t`` (0-based: the first update is iteration 0, the first epoch is epoch 0) is
    the rate of the last milestone with ``start <= t``. The first milestone must start at 0.

    Parameters
    ----------
    milestones : list of (int, float)
        Increasing starts, rates >= 0. The paper's MNIST SLNN:
        ``[(0, 1e-2), (3000, 1e-3), (5000, 5e-5)]`` with ``unit="iteration"``.
    unit : {"iteration", "epoch"}
        What ``t`` counts.

    Examples
    --------
    >>> s = StepSchedule([(0, 1e-2), (3000, 1e-3), (5000, 5e-5)])
    >>> s(0), s(2999), s(3000), s(10**6)
    (0.01, 0.01, 0.001, 5e-05)
    """

    def __init__(self, milestones, unit: str = "iteration") -> None:
        if unit not in ("iteration", "epoch"):
            raise ValueError(f"StepSchedule: unit must be 'iteration' or 'epoch', got {unit!r}")
        try:
            ms = [(int(t), float(r)) for t, r in milestones]
        except (TypeError, ValueError):
            hint = (f"; for a dict pass list(milestones.items()), e.g. "
                    f"{list(milestones.items())!r:.60}" if isinstance(milestones, dict) else
                    ", e.g. [(0, 1e-2), (3000, 1e-3)]")
            raise TypeError(f"StepSchedule: milestones must be (start, rate) pairs, got "
                            f"{milestones!r}{hint}") from None
        if not ms or ms[0][0] != 0:
            raise ValueError(f"StepSchedule: the first milestone must start at 0, got "
                             f"{milestones!r}")
        if any(b[0] <= a[0] for a, b in zip(ms[:-1], ms[1:], strict=True)):
            raise ValueError(f"StepSchedule: milestone starts must increase, got "
                             f"{[t for t, _ in ms]}")
        for t, r in ms:
            check_range(r, f"rate at {unit} {t}", "StepSchedule", 0.0, np.inf)
        self.milestones = ms
        self.unit = unit

    def __call__(self, t: int) -> float:
        rate = self.milestones[0][1]
        for start, r in self.milestones:
            if t < start:
                break
            rate = r
        return rate

    def __repr__(self) -> str:
        return f"StepSchedule({self.milestones}, unit={self.unit!r})"


# -- optimisers --------------------------------------------------------------------------------
class Optimizer:
    """Base class: groups, clipping, decoupled penalties, schedules and state.

    Subclasses pass their own hyperparameters to ``__init__`` as keywords, check them in
    ``_check_own(hp, where)``, create per-parameter state in ``_init_state(p)`` and implement
    ``_update(p, g, lr, hp, state)``, which changes ``p`` in place given the (clipped) gradient
    ``g``, the group's scheduled rate ``lr``, its hyperparameters ``hp`` and the state dict.

    Parameters
    ----------
    params_source : Module
        The model; ``params`` and ``grads`` are looked up by key at every step (so arrays that
        ``model.astype`` replaces are followed), and updated in place.
    lr : float >= 0
        Base learning rate of the default group.
    groups : list of dict, optional
        Parameter groups (see the module docstring and :func:`param_groups`).
    clip_norm : float > 0, optional
        Global-norm gradient clipping threshold.
    l1, l2 : float >= 0
        Decoupled penalties of the default group (0: none).
    """

    def __init__(self, params_source, lr: float, groups: list[dict] | None = None,
                 clip_norm: float | None = None, l1: float = 0.0, l2: float = 0.0,
                 **hyper) -> None:
        name = type(self).__name__
        if not (hasattr(params_source, "params") and hasattr(params_source, "grads")):
            raise TypeError(f"{name}: params_source must have 'params' and 'grads' dicts (a "
                            f"model), got {type(params_source).__name__}")
        self.model = params_source
        hp = {"lr": lr, "l1": l1, "l2": l2, **hyper}
        self.hyper = self._check_hyper(hp, name)
        self.lr = self.hyper["lr"]
        self.clip_norm = (None if clip_norm is None else
                          check_range(clip_norm, "clip_norm", name, 0.0, np.inf, lo_open=True))
        self.groups = []
        for i, spec in enumerate(param_groups(params_source, *(groups or []))):
            keys = spec.pop("keys")
            where = f"{name} group {i}" if i < len(groups or []) else f"{name}"
            unknown = set(spec) - set(self.hyper)
            if unknown:
                raise ValueError(f"{where}: unknown hyperparameters {sorted(unknown)}; known: "
                                 f"{sorted(self.hyper)}")
            self.groups.append({"keys": keys, **self._check_hyper({**self.hyper, **spec}, where)})
        self.lr_scale = 1.0
        self.t = 0
        self.state: dict[str, dict[str, np.ndarray]] = {}
        self.last_grad_norm: float | None = None

    def _check_hyper(self, hp: dict, where: str) -> dict:
        out = dict(hp)
        for k in _COMMON:
            out[k] = check_range(hp[k], k, where, 0.0, np.inf)
        return self._check_own(out, where)

    def _check_own(self, hp: dict, where: str) -> dict:
        return hp

    # -- learning rate ------------------------------------------------------------------------
    def set_lr(self, lr: float) -> None:
        """Set the default rate to ``lr``: every group's base rate times ``lr / self.lr``."""
        lr = check_range(lr, "lr", f"{type(self).__name__}.set_lr", 0.0, np.inf)
        if self.lr == 0 and lr > 0:
            raise ValueError(f"{type(self).__name__}.set_lr: the base lr is 0, so no multiple of "
                             f"it gives {lr}; build the optimiser with lr > 0")
        self.lr_scale = lr / self.lr if self.lr > 0 else 0.0

    @property
    def current_lr(self) -> float:
        """The default group's rate after scheduling."""
        return self.lr * self.lr_scale

    # -- the step -----------------------------------------------------------------------------
    def zero_grad(self) -> None:
        """Set every gradient to zero (through the model's own ``zero_grad`` when it has one)."""
        if hasattr(self.model, "zero_grad"):
            self.model.zero_grad()
        else:
            for g in self.model.grads.values():
                g[...] = 0

    def step(self) -> None:
        """One update of every parameter, in place: clip, update, decoupled L2 and L1."""
        params, grads = self.model.params, self.model.grads
        scale = 1.0
        if self.clip_norm is not None:
            norm = global_norm(grads.values())
            self.last_grad_norm = norm
            if not math.isfinite(norm):
                self._refuse_non_finite(norm)
            scale = self.clip_norm / max(norm, self.clip_norm)
        self.t += 1
        for group in self.groups:
            lr = group["lr"] * self.lr_scale
            for key in group["keys"]:
                p, g = params[key], grads[key]
                if scale != 1.0:
                    g = g * p.dtype.type(scale)
                state = self.state.get(key)
                if state is None:
                    state = self.state[key] = self._init_state(p)
                self._update(p, g, lr, group, state)
                if group["l2"]:
                    p *= p.dtype.type(1.0 - lr * group["l2"])  # p -= lr l2 p
                if group["l1"]:
                    p -= p.dtype.type(lr * group["l1"]) * np.sign(p)

    def _refuse_non_finite(self, norm: float) -> None:
        """Raise before any update: clipping by a non-finite norm would scale every gradient to
        NaN (norm NaN) or to 0 (norm inf), silently."""
        bad = [k for k, g in self.model.grads.items() if not np.isfinite(g).all()]
        what = (f"the gradients of {bad} are non-finite" if bad else
                "every gradient is finite but the sum of their squares overflows float64")
        raise FloatingPointError(
            f"{type(self).__name__}.step: global gradient norm is {norm}, expected a finite value "
            f"to clip to clip_norm={self.clip_norm}: {what}; no parameter was changed. Lower the "
            f"learning rate, check the inputs and the loss for inf/NaN, or reload a checkpoint")

    def _init_state(self, p: np.ndarray) -> dict[str, np.ndarray]:
        return {}

    def _update(self, p, g, lr, hp, state) -> None:
        raise NotImplementedError

    # -- state --------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Everything :meth:`load_state_dict` restores: step count, rate scale, per-key state.

        Arrays are copies; the dict is JSON-able apart from them and can be passed to
        :func:`slaf_np.nn.io.save` as ``extra``.
        """
        return {"type": type(self).__name__, "t": self.t, "lr_scale": self.lr_scale,
                "state": {k: {n: a.copy() for n, a in s.items()} for k, s in self.state.items()}}

    def load_state_dict(self, state: dict) -> None:
        """Restore a :meth:`state_dict`, checking the optimiser type, keys and array shapes."""
        name = type(self).__name__
        if state.get("type") != name:
            raise ValueError(f"{name}.load_state_dict: state is from a {state.get('type')!r} "
                             f"optimiser, expected {name!r}")
        params = self.model.params
        new = {}
        for key, s in state["state"].items():
            if key not in params:
                raise ValueError(f"{name}.load_state_dict: state for parameter {key!r}, which the "
                                 f"model does not have (it has {list(params)})")
            new[key] = {}
            for n, a in s.items():
                a = np.asarray(a)
                if a.shape != params[key].shape:
                    raise ValueError(f"{name}.load_state_dict: {key}.{n} has shape {a.shape}, "
                                     f"the parameter {params[key].shape}")
                new[key][n] = a.astype(params[key].dtype, copy=True)
        self.t = int(state["t"])
        self.lr_scale = float(state["lr_scale"])
        self.state = new

    def __repr__(self) -> str:
        sizes = ", ".join(str(len(g["keys"])) for g in self.groups)
        hp = ", ".join(f"{k}={v!r}" for k, v in self.hyper.items())
        return f"{type(self).__name__}({hp}, clip_norm={self.clip_norm}, group sizes [{sizes}])"


class SGD(Optimizer):
    r"""Stochastic gradient descent, optionally with (Nesterov) momentum, in the Keras/TF form.

    With velocity ``v`` (initially 0), momentum ``mu`` and the group's rate ``lr``::

        plain      p <- p - lr g
        momentum   v <- mu v - lr g;   p <- p + v
        Nesterov   v <- mu v - lr g;   p <- p + mu v - lr g

    The velocity carries the rate (as in ``tf.keras.optimizers.SGD``, which the paper's ResNet
    used), so after a rate drop the old velocity decays at its old scale.

    Parameters
    ----------
    params_source : Module
    lr : float >= 0
    momentum : float in [0, 1)
    nesterov : bool
    groups, clip_norm, l1, l2
        See :class:`Optimizer`.
    """

    def __init__(self, params_source, lr: float, momentum: float = 0.0, nesterov: bool = False,
                 groups: list[dict] | None = None, clip_norm: float | None = None,
                 l1: float = 0.0, l2: float = 0.0) -> None:
        super().__init__(params_source, lr, groups=groups, clip_norm=clip_norm, l1=l1, l2=l2,
                         momentum=momentum, nesterov=nesterov)

    def _check_own(self, hp: dict, where: str) -> dict:
        hp["momentum"] = check_range(hp["momentum"], "momentum", where, 0.0, 1.0)
        hp["nesterov"] = bool(hp["nesterov"])
        if hp["nesterov"] and hp["momentum"] == 0:
            raise ValueError(f"{where}: nesterov=True needs momentum > 0, got momentum=0")
        return hp

    def _init_state(self, p):
        return {"velocity": np.zeros_like(p)}

    def _update(self, p, g, lr, hp, state) -> None:
        lr = p.dtype.type(lr)
        mu = p.dtype.type(hp["momentum"])
        if not mu:
            p -= lr * g
            return
        v = state["velocity"]
        v *= mu
        v -= lr * g
        if hp["nesterov"]:
            p += mu * v - lr * g
        else:
            p += v


class Adam(Optimizer):
    r"""Adam (Kingma and Ba), in the form TensorFlow and Keras implement.

    With step count ``t`` (1 at the first step) and moments ``m``, ``v`` (initially 0)::

        m <- b1 m + (1 - b1) g
        v <- b2 v + (1 - b2) g^2
        lr_t = lr sqrt(1 - b2^t) / (1 - b1^t)
        p <- p - lr_t m / (sqrt(v) + eps)

    The bias corrections are folded into ``lr_t``, so ``eps`` is added to the *uncorrected*
    ``sqrt(v)`` (the "epsilon hat" of the Adam paper, section 2), as in ``tf.train.AdamOptimizer``
    and ``tf.keras.optimizers.Adam``. ``eps`` defaults to Keras's 1e-7 (the paper's experiments used
    Keras/TF; TF1's ``tf.train.AdamOptimizer`` default is 1e-8). The two only differ where
    ``sqrt(v)`` is as small as ``eps``.

    Parameters
    ----------
    params_source : Module
    lr : float >= 0
    beta1, beta2 : float in [0, 1)
    eps : float > 0
    groups, clip_norm, l1, l2
        See :class:`Optimizer`.
    """

    def __init__(self, params_source, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-7, groups: list[dict] | None = None,
                 clip_norm: float | None = None, l1: float = 0.0, l2: float = 0.0) -> None:
        super().__init__(params_source, lr, groups=groups, clip_norm=clip_norm, l1=l1, l2=l2,
                         beta1=beta1, beta2=beta2, eps=eps)

    def _check_own(self, hp: dict, where: str) -> dict:
        hp["beta1"] = check_range(hp["beta1"], "beta1", where, 0.0, 1.0)
        hp["beta2"] = check_range(hp["beta2"], "beta2", where, 0.0, 1.0)
        hp["eps"] = check_range(hp["eps"], "eps", where, 0.0, np.inf, lo_open=True)
        return hp

    def _init_state(self, p):
        return {"m": np.zeros_like(p), "v": np.zeros_like(p)}

    def _update(self, p, g, lr, hp, state) -> None:
        b1, b2, t = hp["beta1"], hp["beta2"], self.t
        lr_t = lr * math.sqrt(1.0 - b2**t) / (1.0 - b1**t)
        m, v = state["m"], state["v"]
        f = p.dtype.type
        consts = (f(b1), f(b2), f(1.0 - b1), f(1.0 - b2), f(hp["eps"]), f(lr_t))
        if (p.size >= FUSED_MIN_SIZE and g.dtype == p.dtype and p.flags.c_contiguous
                and g.flags.c_contiguous):
            adam_step(p.reshape(-1), g.reshape(-1), m.reshape(-1), v.reshape(-1), *consts)
        else:
            adam_step_numpy(p, g, m, v, *consts)


#: Parameters with at least this many entries are updated by the numba kernel
#: :func:`slaf_np.kernels.optim.adam_step` (one pass instead of twelve; about 4x faster on a
#: 784 x 256 matrix); smaller ones, and every parameter when this is set to ``math.inf``, by its
#: NumPy twin. Both give the same bits.
FUSED_MIN_SIZE = 8192
