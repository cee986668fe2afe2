"""The Module protocol every layer follows, and the checks that give bad input a clear error.

A module maps an input ``x`` to an output ``y`` in :meth:`Module.forward` and, after a forward with
the same input, maps the gradient ``dy = dL/dy`` to ``dx = dL/dx`` in :meth:`Module.backward`,
*adding* the gradients of its parameters to ``grads`` (so two backward passes accumulate, as in
micrograd and PyTorch). ``params`` and ``grads`` are dicts with the same keys whose arrays are
updated in place by the optimisers. ``buffers`` holds state that is not trained by gradients
(running statistics); it is saved and loaded with the parameters.

Calibration. A layer with running statistics also has ``calibrate(batches)``: given an iterable
of the inputs the layer receives in evaluation mode, batch by batch, it sets every running
statistic to its exact value over all of them (what one training forward of the whole data as a
single batch would measure; biased variances). :func:`slaf_np.recalibrate` calls it layer by
layer, taking each layer's inputs from :meth:`slaf_np.nn.Sequential.input_of`; :class:`Moments`
is the exact batch-by-batch accumulator the layers share.
"""

from __future__ import annotations

from typing import Any

import numpy as np

FLOAT_DTYPES = (np.float32, np.float64)


class NonFiniteError(ValueError):
    """A layer's input holds NaN or infinity (a ``ValueError``; :func:`slaf_np.train.loop.fit` turns
    one raised inside the network into a ``TrainingDivergedError``)."""


class Module:
    """Base class: no parameters, identity shapes, a readable ``repr``.

    Subclasses set ``self.params`` / ``self.grads`` / ``self.buffers`` and implement
    :meth:`forward` and :meth:`backward`. :meth:`config` returns the constructor arguments needed
    to rebuild the module (used by :mod:`slaf_np.nn.io`).
    """

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.buffers: dict[str, np.ndarray] = {}
        self._cache: Any = None

    # -- the protocol -------------------------------------------------------------------------
    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dy: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """``forward`` after casting ``x`` to the module's dtype: the dtype policy of every
        data-level call (``model(x)``, fit, predict, evaluate, recalibrate, plot_activations), so
        NumPy's default float64 works on a float32 model. ``forward`` itself, the layer protocol
        that ``backward`` pairs with, takes only the layer's dtype and says how to cast."""
        want = self.dtype
        if want is not None:
            x = np.asarray(x)
            if x.dtype != want and x.dtype.kind in "biuf":
                x = x.astype(want)
        return self.forward(x, training=training)

    def zero_grad(self) -> None:
        """Set every parameter gradient to zero (in place, so optimisers keep their references)."""
        for g in self.grads.values():
            g[...] = 0

    # -- description --------------------------------------------------------------------------
    def config(self) -> dict:
        """Constructor keyword arguments that rebuild this module (without its values)."""
        return {}

    @property
    def dtype(self) -> np.dtype | None:
        for p in self.params.values():
            return p.dtype
        return getattr(self, "_dtype", None)

    def astype(self, dtype) -> Module:
        """Cast parameters, gradients and buffers to ``dtype`` in place; returns ``self``."""
        dtype = check_float_dtype(dtype, f"{type(self).__name__}.astype")
        for d in (self.params, self.grads, self.buffers):
            for key in d:
                d[key] = d[key].astype(dtype)
        self._dtype = dtype
        return self

    def n_params(self) -> int:
        return int(sum(p.size for p in self.params.values()))

    def output_shape(self, input_shape: tuple) -> tuple:
        """Shape of the output for an input of ``input_shape`` (batch axis included)."""
        return tuple(input_shape)

    @property
    def name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"


class Moments:
    r"""Exact per-feature count, mean and M2 (= count * biased variance), merged batch by batch.

    Each batch brings its own two-pass float64 moments; Chan, Golub and LeVeque's pairwise update
    merges them::

        delta = mean_b - mean_a,   n = n_a + n_b
        mean  = mean_a + delta n_b / n
        M2    = M2_a + M2_b + delta^2 n_a n_b / n
    """

    def __init__(self) -> None:
        self.n = 0
        self.mean: np.ndarray | None = None
        self.m2: np.ndarray | None = None

    def add(self, n: int, mean: np.ndarray, var: np.ndarray) -> None:
        """Merge a batch of ``n`` values per feature with moments ``mean``, ``var`` (biased)."""
        if n == 0:
            return
        mean, var = np.asarray(mean, np.float64), np.asarray(var, np.float64)
        if self.mean is None:
            self.n, self.mean, self.m2 = n, mean.copy(), var * n
            return
        total = self.n + n
        delta = mean - self.mean
        self.mean = self.mean + delta * (n / total)
        self.m2 = self.m2 + var * n + delta * delta * (self.n * n / total)
        self.n = total

    def add_values(self, x: np.ndarray, axes: tuple[int, ...]) -> None:
        """Merge the values of ``x`` (features on the axes not in ``axes``)."""
        x = np.asarray(x, np.float64)
        self.add(int(np.prod([x.shape[a] for a in axes])), x.mean(axis=axes), x.var(axis=axes))

    @property
    def var(self) -> np.ndarray:
        return self.m2 / self.n

    def write(self, buffers: dict, mean_key: str, var_key: str) -> None:
        """Copy the mean and variance into ``buffers`` (in place, in the buffers' dtype)."""
        if self.mean is None:
            raise ValueError("Moments.write: no values were added")
        buffers[mean_key][...] = self.mean.astype(buffers[mean_key].dtype)
        buffers[var_key][...] = self.var.astype(buffers[var_key].dtype)


# -- checks ------------------------------------------------------------------------------------
def check_float_dtype(dtype, where: str) -> np.dtype:
    dt = np.dtype(dtype)
    if dt not in FLOAT_DTYPES:
        raise TypeError(f"{where}: dtype must be float32 or float64, got {dt}")
    return dt


def check_input(layer: Module, x, ndim: tuple[int, ...] | None = None,
                features: int | None = None, feature_axis: int = 1) -> np.ndarray:
    """Validate a forward input: an ndarray of the layer's float dtype, right rank and width.

    Raises ``TypeError`` for a non-array, a non-float dtype or a dtype other than the layer's, and
    ``ValueError`` for a wrong rank, a wrong number of features or non-finite values. Each message
    names the layer and gives the expected and the received value.
    """
    name = layer.name
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name}.forward: expected a numpy.ndarray, got {type(x).__name__}")
    if x.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name}.forward: expected a float32 or float64 array, got dtype {x.dtype}")
    want = layer.dtype
    if want is not None and x.dtype != want:
        raise TypeError(
            f"{name}.forward: input dtype {x.dtype} does not match the layer's dtype {want}; "
            f"cast the input (x.astype(np.{want})) or the model (model.astype(np.{x.dtype}))"
        )
    if ndim is not None and x.ndim not in ndim:
        raise ValueError(
            f"{name}.forward: expected an input with {' or '.join(map(str, ndim))} dimensions, "
            f"got shape {x.shape}"
        )
    if features is not None and x.shape[feature_axis] != features:
        raise ValueError(
            f"{name}.forward: expected {features} features on axis {feature_axis}, "
            f"got input of shape {x.shape}"
        )
    if x.size and not np.isfinite(x).all():
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(x))[0])
        raise NonFiniteError(
            f"{name}.forward: input has non-finite values (first at index {bad}: {x[bad]})"
        )
    return x


def check_grad(layer: Module, dy, shape: tuple) -> np.ndarray:
    """Validate a backward input: the shape of the last forward's output."""
    if layer._cache is None:
        raise RuntimeError(f"{layer.name}.backward called before forward")
    if not isinstance(dy, np.ndarray) or dy.shape != tuple(shape):
        got = dy.shape if isinstance(dy, np.ndarray) else type(dy).__name__
        raise ValueError(f"{layer.name}.backward: expected dy of shape {tuple(shape)}, got {got}")
    return dy


def require_forward(layer: Module, dy) -> None:
    """Raise if ``layer.backward`` comes before any forward (for layers whose backward checks
    ``dy``'s shape later, against what the forward cached)."""
    if layer._cache is None:
        check_grad(layer, dy, ())  # raises: backward called before forward


def check_positive_int(value, name: str, where: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{where}: {name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_bool(value, name: str, where: str) -> bool:
    """``value`` if it is a bool (or NumPy bool); anything else, e.g. the string ``"no"`` that
    ``bool()`` would turn into True, is refused."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{where}: {name} must be True or False, got {value!r}")
    return bool(value)


def check_range(value, name: str, where: str, lo: float, hi: float,
                lo_open: bool = False, hi_open: bool = True) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{where}: {name} must be a number, got {value!r}") from None
    ok_lo = v > lo if lo_open else v >= lo
    ok_hi = v < hi if hi_open else v <= hi
    if not (ok_lo and ok_hi and np.isfinite(v)):
        interval = f"{'(' if lo_open else '['}{lo}, {hi}{')' if hi_open else ']'}"
        raise ValueError(f"{where}: {name} must be in {interval}, got {value!r}")
    return v


def as_rng(rng) -> np.random.Generator:
    """``rng`` as a Generator: ``None`` gives a fresh unseeded one, an int seeds one."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (int, np.integer)):
        return np.random.default_rng(rng)
    raise TypeError(f"rng must be a numpy.random.Generator, an int seed or None, "
                    f"got {rng!r} ({type(rng).__name__})")
