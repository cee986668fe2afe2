r"""The Self-Learnable Activation Function layer: basis -> per-term standardisation -> coefficients.

For a pre-activation ``z`` (dense (N, D): per feature; conv (N, C, H, W): per channel, statistics
over the M = N (or N H W) values of each channel), with ``k = degree`` basis functions g_1..g_k::

    P_i  = g_i(z)                                         i = 1..k
    P^_i = (P_i - mu_i) / s_i,   s_i = sqrt(var_i + eps)  per feature and term (normalize=True)
    y    = sum_i a_i P^_i + b,   a_i = c_i sigmoid(alpha_i) (gate)  or  c_i

``mu, var``: batch statistics (biased variance) in training, running averages
``r <- decay r + (1 - decay) batch`` (initialised 0 and 1) in evaluation. ``normalize=False`` uses
the raw terms (``mu = 0``, ``s = 1``).

The training routines' input scalings (MS, EMFN, GC's fixed batch norm) are layers of their own,
placed before the SLAF in a :class:`~slaf_np.nn.containers.Sequential`: see
:mod:`slaf_np.nn.scaling`. The k terms are evaluated by the fused kernels of
:mod:`slaf_np.kernels.slaf` (``fourier`` among them, as a recurrence in :math:`\sin(\pi x/2)`;
their NumPy twins serve a registered basis with no recurrence).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from .. import approx, bases
from .activations import sigmoid
from .base import (
    Module,
    Moments,
    as_rng,
    check_bool,
    check_float_dtype,
    check_grad,
    check_input,
    check_positive_int,
    check_range,
)

INITS = ("paper", "normal", "identity", *approx.ACTIVATIONS)


def _kernels():
    """:mod:`slaf_np.kernels.slaf`, imported on first use so that importing the layers does not
    import numba (``import slaf_np`` stays fast)."""
    from ..kernels import slaf as kernels

    return kernels


class SLAFCache(NamedTuple):
    """What :meth:`SLAF.forward` keeps for :meth:`SLAF.backward`."""

    z: np.ndarray | None       # the input as (N, D, S); None for an empty batch
    mean: np.ndarray | None    # (D, k) float64: the statistics the forward used
    std: np.ndarray | None     # (D, k) float64: sqrt(var + eps), or 1 for raw terms
    batch_stats: bool          # True when mean and std are the batch's (training, normalize)
    shape: tuple               # the input's shape


class SLAF(Module):
    r"""Self-Learnable Activation Function: a learned weighted sum of basis functions.

    Parameters
    ----------
    num_features : int
        D for (N, D) inputs, C for (N, C, H, W) inputs.
    degree : int >= 1
        k, the number of basis terms g_1..g_k (the polynomial degree for polynomial bases; for
        ``fourier`` the number of interleaved sines and cosines).
    basis : {"power", "chebyshev", "legendre", "hermite", "fourier"}
        A name in :data:`slaf_np.bases.BASES`. ``power`` is the paper's.
    shared : bool
        One coefficient vector ``c`` (1, k) and one bias ``b`` (1,) for the whole layer, instead of
        one per feature/channel ((D, k) and (D,)). Statistics stay per feature and term.
    normalize : bool
        Standardise each term with batch / running statistics (the paper's final SLAF).
    decay : float in [0, 1)
        Running averages: ``running = decay * running + (1 - decay) * batch``.
    eps : float > 0
        Added to each term's variance.
    init : str or callable
        ``"paper"``: ``c ~ N(0, 1)`` plus 1 on the linear term, ``b = 0.1``. ``"normal"``:
        ``c ~ N(0, 1)`` without the offset, ``b = 0.1`` (the authors' two-spirals GC script).
        ``"identity"``: ``a = e_1``, ``b = 0`` (the layer outputs its standardised input). A name
        of :data:`slaf_np.approx.ACTIVATIONS` (``relu``, ``tanh``, ``gelu``, ...) or a callable
        ``f(z) -> array``: ``a``, ``b`` and (``normalize=True``) the running statistics from
        :func:`slaf_np.approx.fit_standard_normal`, the fit of ``f`` of the layer's own input on
        z ~ N(0, 1); it holds in evaluation mode, in training mode on standard-normal batches
        and after :func:`slaf_np.recalibrate` on standard-normal data. So a trained ReLU
        network can be converted by swapping each ReLU for ``SLAF(..., init="relu")`` on roughly
        standardised pre-activations. With a gate, ``c = a / sigmoid(alpha)``.
    gate : bool
        Multiply ``c_i`` by a learnable ``sigmoid(alpha_i)``, ``alpha`` (k,) ~ N(0, 1), shared by
        the layer.
    rng : numpy.random.Generator, int or None
        Draws ``c`` (``init="paper"``, ``"normal"``) and ``alpha``.
    dtype : float32 or float64

    Attributes
    ----------
    params : ``c``, ``b``; ``alpha`` with a gate.
    buffers : ``running_mean``, ``running_var`` (D, k) (unused when ``normalize=False``).

    Warns
    -----
    RuntimeWarning
        Once per layer, when an evaluation-mode output holds inf or NaN on a finite input: a
        high-degree polynomial outgrowing its dtype (|z|^k > 3.4e38 in float32), or a non-finite
        parameter. The text gives the largest |input| and term, and the fix. (Training mode is
        left to fit's divergence guard; the check is one ``isfinite`` pass over the output.)
    """

    _overflow_warned = False
    """Set on the instance by the first non-finite evaluation output (one warning per layer)."""

    def __init__(self, num_features: int, degree: int, basis: str = "power", shared: bool = False,
                 normalize: bool = True, decay: float = 0.99, eps: float = 1e-8,
                 init: str | Callable = "paper", gate: bool = False, rng=None,
                 dtype=np.float32) -> None:
        super().__init__()
        D = self.num_features = check_positive_int(num_features, "num_features", "SLAF")
        k = self.degree = check_positive_int(degree, "degree", "SLAF")
        if basis not in bases.BASES:
            raise ValueError(f"SLAF: unknown basis {basis!r}; valid: {', '.join(bases.BASES)}")
        if not (callable(init) or init in INITS):
            raise ValueError(f"SLAF: unknown init {init!r}; valid: {', '.join(INITS)} or a "
                             f"callable f(z)")
        self.basis, self.init = basis, init
        self.shared, self.normalize, self.gate = (check_bool(v, n, "SLAF") for v, n in (
            (shared, "shared"), (normalize, "normalize"), (gate, "gate")))
        self.decay = check_range(decay, "decay", "SLAF", 0.0, 1.0)
        self.eps = check_range(eps, "eps", "SLAF", 0.0, np.inf, lo_open=True)
        dtype = self._dtype = check_float_dtype(dtype, "SLAF")
        rng = as_rng(rng)

        rows = 1 if self.shared else D
        p = {"c": np.zeros((rows, k)), "b": np.zeros(rows)}
        if self.gate:
            p["alpha"] = rng.standard_normal(k)
        if init in ("paper", "normal"):
            p["c"][...] = rng.standard_normal((rows, k))
            if init == "paper":
                p["c"][:, 0] += 1.0
            p["b"][...] = 0.1
        self.params = {key: v.astype(dtype) for key, v in p.items()}
        self.grads = {key: np.zeros_like(v) for key, v in self.params.items()}
        self.buffers = {"running_mean": np.zeros((D, k), dtype),
                        "running_var": np.ones((D, k), dtype)}
        if init not in ("paper", "normal"):
            self._init_fit(init)

    def _init_fit(self, init) -> None:
        """Set ``a = c * gate``, ``b`` (and the running statistics) for ``init``."""
        if init == "identity":
            a, b = np.eye(1, self.degree)[0], 0.0
        else:
            fit = approx.fit_standard_normal(init, self.degree, self.basis, self.normalize,
                                             self.eps, self._dtype)
            if self.normalize:
                self.buffers["running_mean"][...] = fit.mean
                self.buffers["running_var"][...] = fit.var
            a, b = fit.a, fit.b
        gate = sigmoid(self.params["alpha"].astype(np.float64)) if self.gate else 1.0
        self.params["c"][...] = a / gate
        self.params["b"][...] = b

    # -- helpers ------------------------------------------------------------------------------
    def _effective(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(a (D, k), c broadcast (D, k), gate (k,)) in float64."""
        c = np.broadcast_to(self.params["c"].astype(np.float64), (self.num_features, self.degree))
        gate = (sigmoid(self.params["alpha"].astype(np.float64)) if self.gate
                else np.ones(self.degree))
        return np.ascontiguousarray(c * gate), c, gate

    def _bias(self) -> np.ndarray:
        return np.broadcast_to(self.params["b"].astype(np.float64), (self.num_features,))

    def _fixed_stats(self) -> tuple[np.ndarray, np.ndarray]:
        """(mean, std) (D, k) float64 used outside training: running values, or 0 and 1."""
        shape = (self.num_features, self.degree)
        if not self.normalize:
            return np.zeros(shape), np.ones(shape)
        return (self.buffers["running_mean"].astype(np.float64),
                np.sqrt(self.buffers["running_var"].astype(np.float64) + self.eps))

    def _update(self, key: str, batch: np.ndarray) -> None:
        r = self.buffers[key]
        r *= self.decay
        r += ((1.0 - self.decay) * batch).astype(r.dtype)

    def to3d(self, x: np.ndarray) -> np.ndarray:
        """The input as a C-contiguous (N, D, S) array (S = 1 dense, H * W conv)."""
        return np.ascontiguousarray(x).reshape(x.shape[0], self.num_features,
                                               math.prod(x.shape[2:]))

    # -- the protocol -------------------------------------------------------------------------
    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        check_input(self, x, ndim=(2, 4), features=self.num_features)
        if x.size == 0:
            if training:
                raise ValueError(f"SLAF.forward: training needs a non-empty batch, got input of "
                                 f"shape {x.shape}")
            self._cache = SLAFCache(None, None, None, False, x.shape)
            return np.zeros_like(x)
        if training and self.normalize and x.size // self.num_features == 1:
            raise ValueError(f"SLAF.forward: batch statistics need more than one value per "
                             f"feature; got input of shape {x.shape} in training mode (use a "
                             f"larger batch, or training=False)")
        z, kern = self.to3d(x), _kernels()
        a, _, _ = self._effective()
        batch_stats = training and self.normalize
        if batch_stats:
            y, mean, var = kern.forward_train(z, self.basis, a, self._bias(), self.eps)
            self._update("running_mean", mean)
            self._update("running_var", var)
            std = np.sqrt(var + self.eps)
        else:
            mean, std = self._fixed_stats()
            y = kern.forward_eval(z, self.basis, a, self._bias(), mean, std)
            if not (training or self._overflow_warned or np.isfinite(y).all()):  # one pass
                self._overflow_warned = True
                warnings.warn(_overflow_message(self, z), RuntimeWarning, stacklevel=2)
        self._cache = SLAFCache(z, mean, std, batch_stats, x.shape)
        return y.reshape(x.shape)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        r"""Gradients of ``c``, ``b``, ``alpha`` (accumulated) and ``dx``.

        With sums over the M values of each feature::

            dc_i     = sum dy P^_i gate_i        dalpha_i = sum_d c_i (sum dy P^_i) sigma'(alpha_i)
            db       = sum dy                    dP^_i    = a_i dy
            dP_i     = (dP^_i - mean(dP^_i) - P^_i mean(dP^_i P^_i)) / s_i     (batch statistics)
                     =  dP^_i / s_i                                            (fixed statistics)
            dz       = sum_i dP_i g_i'(z)

        The two mean terms are batch norm's gradient through ``mu_i`` and ``var_i`` (see
        :mod:`slaf_np.nn.norm`); a shared layer sums ``dc`` and ``db`` over the features. The
        kernel returns ``dz``, ``G_i = sum dy P^_i`` (D, k) and ``sum dy`` (D,).
        """
        cache: SLAFCache = self._cache
        check_grad(self, dy, cache.shape if cache else ())
        if cache.z is None:                                    # an empty batch
            return np.zeros(cache.shape, dy.dtype)
        a, c, gate = self._effective()
        kern = _kernels()
        step = kern.backward_train if cache.batch_stats else kern.backward_eval
        dz, G, dsum = step(dy.reshape(cache.z.shape), cache.z, self.basis, a, cache.mean,
                           cache.std)
        dt = self._dtype
        dc = G * gate
        self.grads["c"] += (dc.sum(axis=0, keepdims=True) if self.shared else dc).astype(dt)
        self.grads["b"] += (dsum.sum(keepdims=True) if self.shared else dsum).astype(dt)
        if self.gate:
            self.grads["alpha"] += ((G * c).sum(axis=0) * gate * (1.0 - gate)).astype(dt)
        return dz.reshape(cache.shape)

    def calibrate(self, batches) -> None:
        """Set ``running_mean`` / ``running_var`` to the exact (biased) moments of every term
        over all of ``batches`` (the layer's evaluation-mode inputs, see
        :func:`slaf_np.recalibrate`). Nothing to do when ``normalize=False``."""
        if not self.normalize:
            return
        moments = Moments()
        for x in batches:
            check_input(self, x, ndim=(2, 4), features=self.num_features)
            z = self.to3d(x)
            moments.add(z.shape[0] * z.shape[2], *_kernels().term_stats(z, self.basis,
                                                                        self.degree))
        moments.write(self.buffers, "running_mean", "running_var")

    # -- description --------------------------------------------------------------------------
    def polynomial(self) -> np.ndarray:
        """The evaluation-mode activation of each feature as a polynomial of its input ``z``.

        Returns
        -------
        coef : ndarray (D, k + 1), float64
            Ascending monomial coefficients: ``y[:, d] = sum_j coef[d, j] z[:, d]**j`` (up to
            rounding) in evaluation mode.

        Raises
        ------
        ValueError
            For a non-polynomial basis (``fourier``).
        """
        if not bases.BASES[self.basis].polynomial:
            raise ValueError(f"SLAF.polynomial: the activation is not a polynomial of its input "
                             f"(basis={self.basis!r}); needs a polynomial basis")
        a, _, _ = self._effective()
        mean, std = self._fixed_stats()
        w = a / std
        coef = w @ bases.monomial_matrix(self.basis, self.degree)
        coef[:, 0] += self._bias()
        coef[:, 0] -= (w * mean).sum(axis=1)
        return coef

    def activation(self, z: np.ndarray) -> np.ndarray:
        """Evaluation-mode activation of every feature on a grid ``z`` (P,): array (P, D), float64.

        Touches no buffer and no forward cache.
        """
        z = np.asarray(z, dtype=np.float64).reshape(-1)
        grid = np.ascontiguousarray(np.repeat(z[:, None, None], self.num_features, axis=1))
        a, _, _ = self._effective()
        mean, std = self._fixed_stats()
        return _kernels().forward_eval(grid, self.basis, a, self._bias(), mean, std)[:, :, 0]

    def output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape)

    def config(self) -> dict:
        """Constructor arguments that rebuild the layer (a callable ``init`` is recorded as
        ``"identity"``: the loaded values replace whatever the init produced)."""
        return {"num_features": self.num_features, "degree": self.degree, "basis": self.basis,
                "shared": self.shared, "normalize": self.normalize, "decay": self.decay,
                "eps": self.eps, "init": self.init if isinstance(self.init, str) else "identity",
                "gate": self.gate}

    def __repr__(self) -> str:
        defaults = {"basis": "power", "shared": False, "normalize": True, "decay": 0.99,
                    "eps": 1e-8, "init": "paper", "gate": False}
        cfg = self.config()
        args = [str(cfg.pop("num_features")), f"degree={cfg.pop('degree')}"]
        if callable(self.init):                 # config() records it as "identity" (the loaded
            cfg["init"] = self.init               # values replace it); show what was given
        args += [f"{key}={v!r}" if key != "init" or isinstance(v, str)
                 else f"init={getattr(v, '__name__', type(v).__name__)}"
                 for key, v in cfg.items() if defaults.get(key, object()) != v]
        return f"SLAF({', '.join(args)})"

    # -- layers that realise given fits -------------------------------------------------------
    @classmethod
    def fit_to(cls, f, num_features: int, degree: int, intervals, basis: str = "power",
               normalize: bool = False, fit_basis: str = "chebyshev", method: str = "lstsq",
               dtype=np.float64, return_fits: bool = False):
        """An evaluation-mode SLAF whose feature ``d`` computes the degree-k least-squares fit of
        ``f`` on ``intervals[d]`` (array (D, 2), or one (lo, hi) pair for every feature).

        The fits are :func:`slaf_np.approx.fit_features` in the well-conditioned ``fit_basis``
        (with ``method``); the layer holds :func:`slaf_np.approx.slaf_parameters` for its own
        ``basis`` in the raw z (``normalize``: running statistics of z uniform on each interval).
        Returns the layer, and the D :class:`~slaf_np.approx.FitResult` with ``return_fits``.
        """
        fits = approx.fit_features(f, degree, intervals, num_features, fit_basis, method)
        layer = cls._realising(np.stack([ft.monomial for ft in fits]),
                               np.array([ft.interval for ft in fits]), basis, normalize, dtype)
        return (layer, fits) if return_fits else layer

    @classmethod
    def from_fit(cls, fit: approx.FitResult, num_features: int = 1, basis: str | None = None,
                 normalize: bool = False, dtype=np.float64) -> SLAF:
        """An evaluation-mode SLAF with every feature computing ``fit`` (see :meth:`fit_to`);
        ``basis`` defaults to the fit's, evaluated at the raw z (so ``c`` is not ``fit.coef``
        unless the fit was raw)."""
        D = int(num_features)
        mono = np.broadcast_to(fit.monomial, (D, fit.degree + 1))
        iv = np.broadcast_to(np.asarray(fit.interval, dtype=np.float64), (D, 2))
        return cls._realising(mono, iv, basis or fit.basis, normalize, dtype)

    @classmethod
    def _realising(cls, monomial, intervals, basis, normalize, dtype) -> SLAF:
        D, k = monomial.shape[0], monomial.shape[1] - 1
        layer = cls(D, k, basis=basis, normalize=normalize, rng=0, dtype=dtype)
        p = approx.slaf_parameters(monomial, intervals, basis, normalize, layer.eps)
        if normalize:
            layer.buffers["running_mean"][...] = p.mean
            layer.buffers["running_var"][...] = p.var
        layer.params["c"][...] = p.c
        layer.params["b"][...] = p.b
        return layer


def _overflow_message(layer: SLAF, z: np.ndarray) -> str:
    """Why the evaluation-mode output of ``layer`` on the finite input ``z`` (N, D, S) holds a
    non-finite value, and the fix (the text of the warning :meth:`SLAF.forward` gives once).

    Only called once the output has failed its check, so the extra passes cost nothing in the
    usual case. Either a parameter or running statistic is itself non-finite, or the polynomial
    outgrew the dtype: the terms g_i of the largest |z| are evaluated in float64 (as the kernels
    do), and the largest finite one is set against the largest value of the layer's dtype
    (typically |z|^k for the power basis).
    """
    dtype = layer.dtype
    top = float(np.abs(z).max())
    head = (f"{layer!r}.forward: the evaluation-mode output has non-finite values although the "
            f"input is finite (degree {layer.degree}, dtype {dtype}, largest |input| {top:.3g}")
    used = {**layer.params, **(layer.buffers if layer.normalize else {})}
    bad = [key for key, v in used.items() if not np.isfinite(v).all()]
    if bad:
        return (f"{head}): its {', '.join(bad)} hold non-finite values. Restore the weights "
                f"(load a checkpoint) or, for running statistics, re-estimate them with "
                f"slaf_np.recalibrate. Warned once per layer.")
    with np.errstate(over="ignore", invalid="ignore"):      # the overflow is the diagnosis
        terms = np.abs(bases.evaluate(layer.basis, np.array([top]), layer.degree)[0][0])
    finite = np.flatnonzero(np.isfinite(terms))
    big = (f"|g_{finite[terms[finite].argmax()] + 1}({top:.3g})| = {terms[finite].max():.3g}"
           if finite.size else "none, every term overflows float64")
    wider = "use float64 (model.astype(np.float64)), " if dtype != np.float64 else ""
    return (f"{head}; largest finite term in float64 {big}, while {dtype} holds at most "
            f"{np.finfo(dtype).max:.3g}). A high-degree polynomial outgrows the dtype on large "
            f"inputs: {wider}lower the degree, or put a normalisation or scaling layer "
            f"(BatchNorm, MaxScale, SampleMaxScale) before the SLAF. Warned once per layer.")
