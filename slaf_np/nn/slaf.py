r"""The Self-Learnable Activation Function layer (PAPER.md sections 2 and 3).

For a pre-activation ``z`` (dense (N, D): per feature; conv (N, C, H, W): per channel, statistics
over N, H, W), with ``k = degree`` basis functions g_1..g_k::

    x^   = scale(z)                                       (identity unless ``scaling`` says)
    P_i  = g_i(x^)                                        i = 1..k
    P^_i = (P_i - mu_i) / sqrt(var_i + eps)               per feature and term (normalize=True)
    y    = sum_i a_i P^_i + b,      a_i = c_i * sigmoid(alpha_i)  (gate)  or  c_i

``mu, var``: batch statistics (biased variance) in training, running averages
``r <- decay r + (1 - decay) batch`` (initialised 0 and 1) in evaluation. ``normalize=False`` uses
the raw terms (``mu = 0``, ``sqrt(var + eps) = 1``).

Backward (sums over the M = N (or N H W) values of each feature; ``s_i = sqrt(var_i + eps)``)::

    dc_i     = sum dy * P^_i * gate_i        dalpha_i = sum dy * c_i * P^_i * sigma'(alpha_i)
    db       = sum dy                        dP^_i    = a_i dy
    dP_i     = (dP^_i - mean(dP^_i) - P^_i mean(dP^_i P^_i)) / s_i     (training)
             =  dP^_i / s_i                                            (evaluation, raw terms)
    dx^      = sum_i dP_i g_i'(x^)

(the two mean terms are batch norm's gradient through mu_i and var_i; see nn/norm.py), then
through the scaling:

* ``"max"`` (MS): ``x^ = z / q``, ``q = m M + n`` per feature, ``M = max |z|`` over the batch (and
  space) in training, the running average ``running_max`` in evaluation; ``n = 1e-8`` fixed::

      dz = dx^ / q      dq = -sum(dx^ * x^) / q      dm = sum_d dq_d M_d
      dz[argmax] += m dq sign(z[argmax])             (training only: M depends on z there)

* ``"sample_max"`` (EMFN): the same with ``M`` the max of ``|z|`` over the features (and space) of
  each sample, ``q`` per sample, ``m`` and ``n`` learnable (``dn = sum_n dq_n``), in both modes.
* ``"batchnorm"`` (GC): ``x^ = gamma (z - mu) / s + beta`` (batch norm with its own affine
  parameters and ``bn_running_*`` buffers, eps 1e-3); its backward is nn/norm.py's.

The k terms are evaluated by the fused kernels of :mod:`slaf_np.kernels.slaf` (polynomial bases) or by
their NumPy twins (``backend="numpy"``, and always for ``fourier``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from .. import bases
from .activations import sigmoid
from .base import (
    Module,
    as_rng,
    check_float_dtype,
    check_grad,
    check_input,
    check_positive_int,
    check_range,
)

SCALINGS = ("none", "max", "batchnorm", "sample_max")
BN_EPS = 1e-3          # eps of the "batchnorm" scaling (Keras's, as slaf_np.BatchNorm)
MAX_EPS = 1e-8         # the fixed n of the "max" scaling


def _gelu(z):
    erf = np.frompyfunc(math.erf, 1, 1)
    return 0.5 * z * (1.0 + erf(z / math.sqrt(2.0)).astype(np.float64))


TARGETS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "relu": lambda z: np.maximum(z, 0.0),
    "leaky_relu": lambda z: np.where(z > 0, z, 0.01 * z),
    "tanh": np.tanh,
    "sigmoid": sigmoid,
    "silu": lambda z: z * sigmoid(z),
    "elu": lambda z: np.where(z > 0, z, np.expm1(np.minimum(z, 0.0))),
    "gelu": _gelu,
    "softplus": lambda z: np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z))),
}
INITS = ("paper", "identity", *TARGETS)


def _kernels():
    """:mod:`slaf_np.kernels.slaf`, imported on first use so that importing the layers does not import
    numba (``import slaf_np`` stays fast)."""
    from ..kernels import slaf as kernels

    return kernels


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
        ``"paper"``: ``c ~ N(0, 1)`` plus 1 on the linear term, ``b = 0.1``. ``"identity"``: the
        layer outputs its (standardised, scaled) input, ``a = e_1``, ``b = 0``. An activation name
        (``relu``, ``leaky_relu``, ``tanh``, ``sigmoid``, ``silu``, ``elu``, ``gelu``, ``softplus``)
        or a callable ``f(z) -> array``: ``a`` and ``b`` are the weighted least-squares fit of
        ``f`` on ``z ~ N(0, 1)`` by the layer in evaluation mode (scaling at its initial values),
        on a 2401-point grid over [-6, 6] weighted by the normal density (Monte Carlo samples of
        N(0, 1) rows for ``sample_max``, whose scale depends on the whole sample). With
        ``normalize=True`` the running statistics are first set to the terms' moments under that
        same distribution, so evaluation mode, training mode on standard-normal batches and
        :func:`slaf_np.recalibrate` on standard-normal data all realise the fit. So a trained
        network with, say, ReLU activations can be converted by swapping each ReLU for
        ``SLAF(..., init="relu")`` on roughly standardised pre-activations.
        With a gate, ``c = a / sigmoid(alpha)`` so that the effective coefficients are ``a``.
    gate : bool
        Multiply ``c_i`` by a learnable ``sigmoid(alpha_i)``, ``alpha`` (k,) ~ N(0, 1), shared by
        the layer.
    rng : numpy.random.Generator, int or None
        Draws ``c`` (``init="paper"``) and ``alpha``.
    scaling : {None, "none", "max", "batchnorm", "sample_max"}
        The input scaling ``x^ = scale(z)`` (see the module docstring). ``None`` means the basis's
        default: ``"sample_max"`` for ``fourier`` (the paper's EMFN routine, so that
        ``|x^| < 1/m``; the paper's EMFN also used ``shared=True`` and ``normalize=False``),
        ``"none"`` for the polynomial bases. ``"none"`` is always the identity; every scaling
        works with every basis.
    dtype : float32 or float64
    backend : {"numba", "numpy"}
        The fused kernels or their NumPy twins (an attribute; may be changed at any time).

    Attributes
    ----------
    params : ``c``, ``b``; ``alpha`` (gate); ``m`` (max, sample_max) and ``n`` (sample_max) of
        shape (1,); ``gamma``, ``beta`` (D,) (batchnorm).
    buffers : ``running_mean``, ``running_var`` (D, k) (unused when ``normalize=False``);
        ``running_max`` (D,) (max, initialised 1); ``bn_running_mean``, ``bn_running_var`` (D,)
        (batchnorm); ``input_min``, ``input_max`` (D,): the range of ``z`` seen by training
        forwards (and set by :func:`slaf_np.recalibrate`), used by
        :func:`slaf_np.plotting.plot_activations`; ``input_min > input_max`` (the initial 1, -1)
        means nothing was recorded yet.
    """

    def __init__(self, num_features: int, degree: int, basis: str = "power", shared: bool = False,
                 normalize: bool = True, decay: float = 0.99, eps: float = 1e-8,
                 init: str | Callable = "paper", gate: bool = False, rng=None,
                 scaling: str | None = None, dtype=np.float32, backend: str = "numba") -> None:
        super().__init__()
        D = self.num_features = check_positive_int(num_features, "num_features", "SLAF")
        k = self.degree = check_positive_int(degree, "degree", "SLAF")
        if basis not in bases.BASES:
            raise ValueError(f"SLAF: unknown basis {basis!r}; valid: {', '.join(bases.BASES)}")
        self.basis = basis
        self.code = _kernels().CODES.get(basis, -1)
        if scaling is None:
            scaling = "none" if bases.BASES[basis].polynomial else "sample_max"
        if scaling not in SCALINGS:
            raise ValueError(f"SLAF: unknown scaling {scaling!r}; valid: None, "
                             f"{', '.join(map(repr, SCALINGS))}")
        self.scaling = scaling
        if not (callable(init) or init in INITS):
            raise ValueError(f"SLAF: unknown init {init!r}; valid: {', '.join(INITS)} or a "
                             f"callable f(z)")
        self.init = init
        self.shared, self.normalize, self.gate = bool(shared), bool(normalize), bool(gate)
        self.decay = check_range(decay, "decay", "SLAF", 0.0, 1.0)
        self.eps = check_range(eps, "eps", "SLAF", 0.0, np.inf, lo_open=True)
        if backend not in _kernels().BACKENDS:
            raise ValueError(f"SLAF: unknown backend {backend!r}; valid: "
                             f"{', '.join(_kernels().BACKENDS)}")
        self.backend = backend
        dtype = check_float_dtype(dtype, "SLAF")
        self._dtype = dtype
        rng = as_rng(rng)

        rows = 1 if self.shared else D
        p = {"c": np.zeros((rows, k)), "b": np.zeros(rows)}
        if self.gate:
            p["alpha"] = rng.standard_normal(k)
        if scaling in ("max", "sample_max"):
            p["m"] = np.full(1, 2.0)
        if scaling == "sample_max":
            p["n"] = np.ones(1)
        if scaling == "batchnorm":
            p["gamma"], p["beta"] = np.ones(D), np.zeros(D)
        buf = {"running_mean": np.zeros((D, k)), "running_var": np.ones((D, k))}
        if scaling == "max":
            buf["running_max"] = np.ones(D)
        if scaling == "batchnorm":
            buf["bn_running_mean"], buf["bn_running_var"] = np.zeros(D), np.ones(D)
        buf["input_min"], buf["input_max"] = np.ones(D), -np.ones(D)
        if init == "paper":
            p["c"][...] = rng.standard_normal((rows, k))
            p["c"][:, 0] += 1.0
            p["b"][...] = 0.1
        self.params = {key: v.astype(dtype) for key, v in p.items()}
        self.grads = {key: np.zeros_like(v) for key, v in self.params.items()}
        self.buffers = {key: v.astype(dtype) for key, v in buf.items()}
        if init != "paper":
            self._init_fit(init)

    # -- initialisation -----------------------------------------------------------------------
    def _init_fit(self, init) -> None:
        """Set ``a = c * gate`` and ``b`` for ``init`` (identity, a name or a callable).

        At initialisation every feature has the same evaluation-mode map (equal running
        statistics and scaling parameters), so one weighted least-squares problem in float64 on
        the terms of feature 0 serves all of them.
        """
        k = self.degree
        if init == "identity":
            a, b0 = np.eye(1, k)[0], 0.0
        else:
            f = TARGETS[init] if isinstance(init, str) else init
            if self.scaling == "sample_max":                   # the scale couples the features
                D = self.num_features
                z = np.random.default_rng(0).standard_normal((max(64, 16384 // D), D))
                xh, _ = self._scale(z[:, :, None], training=False, record=False)
                z, xh = z.reshape(-1), xh.reshape(-1)
                w = np.full(z.size, 1.0 / z.size)
            else:                                              # affine in evaluation mode
                z = np.linspace(-6.0, 6.0, 2401)
                w = np.exp(-0.5 * z * z)
                w /= w.sum()
                lin, off = self._affine_scale()
                xh = lin[0] * z + off[0]
            G, _ = bases.evaluate(self.basis, xh, k)
            if self.normalize:  # the terms' moments under the fitting distribution
                mu = w @ G
                self.buffers["running_mean"][...] = mu
                self.buffers["running_var"][...] = w @ (G - mu) ** 2
            mean, std = self._fixed_stats()
            A = np.hstack([(G - mean[0]) / std[0], np.ones((z.size, 1))]) * np.sqrt(w)[:, None]
            target = np.asarray(f(z), dtype=np.float64) * np.sqrt(w)
            sol = np.linalg.lstsq(A, target, rcond=None)[0]
            a, b0 = sol[:k], sol[k]
        gate = sigmoid(self.params["alpha"].astype(np.float64)) if self.gate else 1.0
        self.params["c"][...] = a / gate
        self.params["b"][...] = b0

    # -- helpers ------------------------------------------------------------------------------
    def _effective(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(a (D, k), c broadcast (D, k), gate (k,)) in float64."""
        c = np.broadcast_to(self.params["c"].astype(np.float64), (self.num_features, self.degree))
        gate = (sigmoid(self.params["alpha"].astype(np.float64)) if self.gate
                else np.ones(self.degree))
        return np.ascontiguousarray(c * gate), c, gate

    def _fixed_stats(self) -> tuple[np.ndarray, np.ndarray]:
        """(mean, std) (D, k) float64 used outside training: running values, or 0 and 1."""
        if not self.normalize:
            return np.zeros((self.num_features, self.degree)), np.ones((self.num_features,
                                                                        self.degree))
        return (self.buffers["running_mean"].astype(np.float64),
                np.sqrt(self.buffers["running_var"].astype(np.float64) + self.eps))

    def _update(self, key: str, batch: np.ndarray) -> None:
        r = self.buffers[key]
        r *= self.decay
        r += ((1.0 - self.decay) * batch).astype(r.dtype)

    def to3d(self, x: np.ndarray) -> np.ndarray:
        """The input as a C-contiguous (N, D, S) array (S = 1 dense, H * W conv)."""
        return np.ascontiguousarray(x).reshape(x.shape[0], self.num_features, -1)

    # -- scaling ------------------------------------------------------------------------------
    def _scale(self, z3: np.ndarray, training: bool, record: bool = True):
        """x^ = scale(z) for z (N, D, S); returns (x^, cache for :meth:`_scale_backward`)."""
        kind = self.scaling
        if kind == "none":
            return z3, None
        p, N, D = self.params, z3.shape[0], self.num_features
        if kind == "batchnorm":
            if training:
                mu, var = z3.mean(axis=(0, 2)), z3.var(axis=(0, 2))
                if record:
                    self._update("bn_running_mean", mu)
                    self._update("bn_running_var", var)
            else:
                mu, var = self.buffers["bn_running_mean"], self.buffers["bn_running_var"]
            s = np.sqrt(var + BN_EPS).astype(z3.dtype)[:, None]
            zh = (z3 - mu.astype(z3.dtype)[:, None]) / s
            return p["gamma"][:, None] * zh + p["beta"][:, None], (zh, s)
        absz = np.abs(z3)
        if kind == "max":
            idx = None
            if training:
                flat = absz.transpose(1, 0, 2).reshape(D, -1)
                idx = flat.argmax(axis=1)                      # per feature, into (N, S)
                M = flat[np.arange(D), idx]
                if record:
                    self._update("running_max", M)
            else:
                M = self.buffers["running_max"]
            q = (p["m"] * M + z3.dtype.type(MAX_EPS)).astype(z3.dtype)
            xh = z3 / q[:, None]
            return xh, (xh, q, M, idx)
        flat = absz.reshape(N, -1)                             # sample_max
        idx = flat.argmax(axis=1)
        M = flat[np.arange(N), idx]
        q = (p["m"] * M + p["n"]).astype(z3.dtype)
        xh = z3 / q[:, None, None]
        return xh, (xh, q, M, idx)

    def _scale_backward(self, dxh: np.ndarray, cache, training: bool) -> np.ndarray:
        kind, p, g = self.scaling, self.params, self.grads
        if kind == "none":
            return dxh
        if kind == "batchnorm":
            zh, s = cache
            g["gamma"] += (dxh * zh).sum(axis=(0, 2))
            g["beta"] += dxh.sum(axis=(0, 2))
            t = dxh * p["gamma"][:, None]
            if training:
                t = (t - t.mean(axis=(0, 2), keepdims=True)
                     - zh * (t * zh).mean(axis=(0, 2), keepdims=True))
            return t / s
        xh, q, M, idx = cache
        N, D, S = xh.shape
        if kind == "max":
            dz = dxh / q[:, None]
            dq = -(dxh * xh).sum(axis=(0, 2)) / q              # (D,)
            g["m"] += np.sum(dq * M)
            if training:
                n_i, s_i = np.divmod(idx, S)
                d_i = np.arange(D)
                dz[n_i, d_i, s_i] += p["m"][0] * dq * np.sign(xh[n_i, d_i, s_i])
            return dz
        dz = dxh / q[:, None, None]                            # sample_max
        dq = -(dxh * xh).sum(axis=(1, 2)) / q                  # (N,)
        g["m"] += np.sum(dq * M)
        g["n"] += np.sum(dq)
        flat, rows = dz.reshape(N, -1), np.arange(N)
        flat[rows, idx] += p["m"][0] * dq * np.sign(xh.reshape(N, -1)[rows, idx])
        return dz

    # -- the protocol -------------------------------------------------------------------------
    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        check_input(self, x, ndim=(2, 4), features=self.num_features)
        if x.size == 0:
            if training:
                raise ValueError(f"SLAF.forward: training needs a non-empty batch, got input of "
                                 f"shape {x.shape}")
            self._cache = (None, None, None, False, None, x.shape)
            return np.zeros_like(x)
        if training and (self.normalize or self.scaling == "batchnorm") \
                and x.size // self.num_features == 1:
            raise ValueError(f"SLAF.forward: batch statistics need more than one value per "
                             f"feature; got input of shape {x.shape} in training mode (use a "
                             f"larger batch, or training=False)")
        z3 = self.to3d(x)
        if training:
            self._record_range(z3.min(axis=(0, 2)), z3.max(axis=(0, 2)))
        xh, scache = self._scale(z3, training)
        xh = np.ascontiguousarray(xh)
        a, _, _ = self._effective()
        b = np.broadcast_to(self.params["b"].astype(np.float64), (self.num_features,))
        kern = _kernels().get_backend(self.backend, self.code)
        code = self.code if self.code >= 0 else self.basis
        if self.normalize and training:
            y, mean, var = kern.forward_train(xh, code, a, b, self.eps)
            self._update("running_mean", mean)
            self._update("running_var", var)
            std = np.sqrt(var + self.eps)
        else:
            mean, std = self._fixed_stats()
            y = kern.forward_eval(xh, code, a, b, mean, std)
        self._cache = (xh, mean, std, training, scache, x.shape)
        return y.reshape(x.shape)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        check_grad(self, dy, self._cache[5] if self._cache else ())
        xh, mean, std, training, scache, shape = self._cache
        if xh is None:                                         # an empty batch
            return np.zeros(shape, dy.dtype)
        a, c, gate = self._effective()
        kern = _kernels().get_backend(self.backend, self.code)
        code = self.code if self.code >= 0 else self.basis
        step = kern.backward_train if (self.normalize and training) else kern.backward_eval
        dxh, G, dsum = step(dy.reshape(xh.shape), xh, code, a, mean, std)  # G = sum dy P^_i
        dt = self._dtype
        dc = G * gate
        self.grads["c"] += (dc.sum(axis=0, keepdims=True) if self.shared else dc).astype(dt)
        self.grads["b"] += (dsum.sum(keepdims=True) if self.shared else dsum).astype(dt)
        if self.gate:
            self.grads["alpha"] += ((G * c).sum(axis=0) * gate * (1.0 - gate)).astype(dt)
        return self._scale_backward(dxh, scache, training).reshape(shape)

    # -- description --------------------------------------------------------------------------
    def _record_range(self, lo: np.ndarray, hi: np.ndarray) -> None:
        b = self.buffers
        empty = b["input_min"] > b["input_max"]
        b["input_min"][...] = np.where(empty, lo, np.minimum(b["input_min"], lo))
        b["input_max"][...] = np.where(empty, hi, np.maximum(b["input_max"], hi))

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
            For a non-polynomial basis (``fourier``) or the ``sample_max`` scaling (not a function
            of ``z[:, d]`` alone).
        """
        if not bases.BASES[self.basis].polynomial or self.scaling == "sample_max":
            raise ValueError(f"SLAF.polynomial: the activation is not a polynomial of its input "
                             f"(basis={self.basis!r}, scaling={self.scaling!r}); needs a "
                             f"polynomial basis and scaling 'none', 'max' or 'batchnorm'")
        a, _, _ = self._effective()
        mean, std = self._fixed_stats()
        w = a / std
        coef = w @ bases.monomial_matrix(self.basis, self.degree)        # in x^ (D, k + 1)
        coef[:, 0] += np.broadcast_to(self.params["b"].astype(np.float64), (self.num_features,))
        coef[:, 0] -= (w * mean).sum(axis=1)
        lin, off = self._affine_scale()
        out = np.zeros_like(coef)                           # Horner in x^ = lin z + off
        for j in range(self.degree, -1, -1):
            out[:, 1:] = out[:, 1:] * off[:, None] + out[:, :-1] * lin[:, None]
            out[:, 0] = out[:, 0] * off + coef[:, j]
        return out

    def _affine_scale(self) -> tuple[np.ndarray, np.ndarray]:
        """(lin, off) (D,) with x^ = lin * z + off in evaluation mode."""
        D, p = self.num_features, {k: v.astype(np.float64) for k, v in self.params.items()}
        if self.scaling == "max":
            return 1.0 / (p["m"] * self.buffers["running_max"].astype(np.float64) + MAX_EPS), \
                np.zeros(D)
        if self.scaling == "batchnorm":
            s = np.sqrt(self.buffers["bn_running_var"].astype(np.float64) + BN_EPS)
            return p["gamma"] / s, p["beta"] - p["gamma"] * self.buffers["bn_running_mean"] / s
        return np.ones(D), np.zeros(D)

    def activation(self, z: np.ndarray, sample_scale: float | None = None) -> np.ndarray:
        """Evaluation-mode activation of every feature on a grid ``z`` (P,): array (P, D), float64.

        For ``scaling="sample_max"`` the per-sample max is taken to be ``sample_scale`` (default:
        the largest |z| recorded in ``input_min``/``input_max``, or max |z| of the grid).
        Touches no buffer and no forward cache.
        """
        z = np.asarray(z, dtype=np.float64).reshape(-1)
        z3 = np.repeat(z[:, None], self.num_features, axis=1)[:, :, None]
        p = {k: v.astype(np.float64) for k, v in self.params.items()}
        if self.scaling == "sample_max":
            if sample_scale is None:
                lo, hi = self.buffers["input_min"], self.buffers["input_max"]
                rec = np.abs(np.concatenate([lo, hi])).max() if (lo <= hi).any() else 0.0
                sample_scale = max(float(rec), float(np.abs(z).max(initial=0.0)))
            xh = z3 / (p["m"][0] * sample_scale + p["n"][0])
        else:
            lin, off = self._affine_scale()
            xh = z3 * lin[:, None] + off[:, None]
        a = np.broadcast_to(p["c"], (self.num_features, self.degree)) * (
            sigmoid(p["alpha"]) if self.gate else 1.0)
        b = np.broadcast_to(p["b"], (self.num_features,))
        mean, std = self._fixed_stats()
        kern = _kernels().get_backend(self.backend, self.code)
        code = self.code if self.code >= 0 else self.basis
        return kern.forward_eval(np.ascontiguousarray(xh), code, a, b, mean, std)[:, :, 0]

    def output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape)

    def config(self) -> dict:
        """Constructor arguments that rebuild the layer (a callable ``init`` is recorded as
        ``"identity"``: the loaded values replace whatever the init produced)."""
        return {"num_features": self.num_features, "degree": self.degree, "basis": self.basis,
                "shared": self.shared, "normalize": self.normalize, "decay": self.decay,
                "eps": self.eps, "init": self.init if isinstance(self.init, str) else "identity",
                "gate": self.gate, "scaling": self.scaling}

    def __repr__(self) -> str:
        defaults = {"basis": "power", "shared": False, "normalize": True, "decay": 0.99,
                    "eps": 1e-8, "init": "paper", "gate": False}
        cfg = self.config()
        args = [str(cfg.pop("num_features")), f"degree={cfg.pop('degree')}"]
        default_scaling = "none" if bases.BASES[self.basis].polynomial else "sample_max"
        if cfg["scaling"] == default_scaling:
            cfg.pop("scaling")
        args += [f"{key}={v!r}" for key, v in cfg.items() if defaults.get(key, object()) != v]
        return f"SLAF({', '.join(args)})"
