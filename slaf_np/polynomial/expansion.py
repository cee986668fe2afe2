r"""The exact polynomial an evaluation-mode SLNN computes: :func:`expand` and :func:`degree_bound`.

Claim 3 of docs/paper.md. :func:`expand` pushes the network's input through the layers as a
matrix of dense graded vectors (one row per feature, per-sample tensors flattened in C order, so an
image's variables are its pixels in ``(C, H, W)`` order, as Flatten lays them out). Every layer but
the activations is linear (or affine) in its input, so it acts on each coefficient of the rows:

- Dense: a matrix product of the rows;
- Conv2D: the convolution's own formula with polynomial pixels, one product per kernel offset;
- BatchNorm, MaxScale, Affine (per feature, or per channel on images): a scale and a shift;
- AvgPool2D (any size, stride, padding) and GlobalAvgPool2D: means of rows;
- Flatten, Reshape, Identity, Dropout: the rows unchanged;
- Sequential: its layers in turn; Residual: the sum of its body's rows and its shortcut's (the
  input's rows, or those of its 1x1-convolution path).

A SLAF (per feature, or per channel on images) applies its univariate polynomial to each row by
Horner's scheme with batched row products; it alone raises the degree. MaxPool2D, ReLU and the
other non-polynomial layers are refused by name. New layers are taught to it with
:func:`register_expansion`. Both names are re-exported by :mod:`slaf_np.polynomial` (the contract).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ..kernels.polynomial import binomial_table
from .algebra import Polynomial, PolynomialVector
from .arithmetic import DENSE_PLAN, rowmul_graded
from .monomials import count_monomials, exponents_of, graded_basis


class ExpansionState:
    """The network's features as polynomials of its input, for :func:`expand` and its handlers.

    Attributes
    ----------
    rows : (F, C(d + K, K)) float64
        Row f is feature f (per-sample tensors flattened in C order) as a dense graded vector.
    degree : int
        K, a bound on the degree of every row.
    shape : tuple
        Per-sample shape of the features, ``prod(shape) = F``.
    n_vars : int
        d, the number of network inputs.
    """

    def __init__(self, rows: np.ndarray, degree: int, shape: tuple, n_vars: int) -> None:
        self.rows, self.degree, self.shape, self.n_vars = rows, degree, tuple(shape), n_vars

    def padded(self, K: int) -> np.ndarray:
        """Rows as dense vectors of degree ``K >= degree`` (graded order: zero padding)."""
        out = np.zeros((self.rows.shape[0], count_monomials(self.n_vars, K)))
        out[:, : self.rows.shape[1]] = self.rows
        return out

    def channels(self, n_channels: int, where: str) -> np.ndarray:
        """Channel (or feature) of each row for a per-feature / per-channel layer."""
        F = self.rows.shape[0]
        if len(self.shape) == 1 and n_channels == F:
            return np.arange(F)
        if len(self.shape) == 3 and n_channels == self.shape[0]:
            return np.arange(F) // (self.shape[1] * self.shape[2])
        raise ValueError(f"expand: {where} has {n_channels} features/channels but its input has "
                         f"per-sample shape {self.shape}")


MAX_BYTES = 4 * 2**30  # expand refuses a SLAF whose output rows (twice, for Horner) need more

_NOT_POLYNOMIAL = {
    "ReLU": "max(z, 0) is piecewise linear", "LeakyReLU": "it is piecewise linear",
    "Tanh": "tanh is not a polynomial", "Sigmoid": "the logistic function is not a polynomial",
    "SiLU": "z sigmoid(z) is not a polynomial", "ELU": "it is exponential for z < 0",
    "MaxPool2D": "a maximum is not a polynomial",
    "SampleMaxScale": "it divides by the maximum of |z| over each sample's features",
}
_EXPANDERS: dict[str, Callable] = {}
_DEGREES: dict[str, Callable] = {}


def register_expansion(name: str, expand_fn: Callable, degree_fn: Callable | None = None) -> None:
    """Teach :func:`expand` a layer class (by class name).

    ``expand_fn(layer, state: ExpansionState, path: str) -> ExpansionState`` maps the features;
    ``degree_fn(layer, path) -> int`` is the factor by which it multiplies the degree (default 1).
    """
    _EXPANDERS[name] = expand_fn
    _DEGREES[name] = degree_fn or (lambda layer, path: 1)


def _where(layer, path: str) -> str:
    return f"layer {path} ({type(layer).__name__})"


def _handler(table: dict, layer, path: str) -> Callable:
    name = type(layer).__name__
    if name in table:
        return table[name]
    reason = _NOT_POLYNOMIAL.get(name, "expand has no rule for this layer (see "
                                       "slaf_np.polynomial.register_expansion)")
    raise ValueError(f"expand: {_where(layer, path)} is not polynomial: {reason}")


def _children(model) -> list:
    return list(model.layers) if type(model).__name__ == "Sequential" else [model]


def _run(layers: list, state: ExpansionState, prefix: str) -> ExpansionState:
    for i, layer in enumerate(layers):
        path = f"{prefix}{i}"
        state = _handler(_EXPANDERS, layer, path)(layer, state, path)
        if not np.isfinite(state.rows).all():
            raise ValueError(f"expand: {_where(layer, path)} gives non-finite coefficients (a "
                             f"weight or statistic is inf/NaN, or the expansion overflows "
                             f"float64); expected finite ones. Check the layer's parameters and "
                             f"buffers with np.isfinite, or reload a checkpoint")
    return state


def _slaf_polynomial(layer, path: str) -> np.ndarray:
    try:
        return np.asarray(layer.polynomial(), dtype=np.float64)
    except ValueError as err:
        raise ValueError(f"expand: {_where(layer, path)} is not polynomial: {err}") from None


def _dense(layer, s: ExpansionState, path: str) -> ExpansionState:
    W = layer.params["W"].astype(np.float64)
    if s.shape != (W.shape[0],):
        raise ValueError(f"expand: {_where(layer, path)} expects {W.shape[0]} input features, "
                         f"got per-sample shape {s.shape}")
    rows = W.T @ s.rows
    rows[:, 0] += layer.params["b"].astype(np.float64)
    return ExpansionState(rows, s.degree, (W.shape[1],), s.n_vars)


def _batchnorm(layer, s: ExpansionState, path: str) -> ExpansionState:
    ch = s.channels(layer.num_features, _where(layer, path))
    b = {k: v.astype(np.float64) for k, v in layer.buffers.items()}
    for name, ok in (("running_mean", np.isfinite(b["running_mean"])),
                     ("running_var", np.isfinite(b["running_var"]) & (b["running_var"] >= 0))):
        if not ok.all():
            i = int(np.flatnonzero(~ok)[0])
            raise ValueError(f"expand: {_where(layer, path)} has {name}[{i}] = {b[name][i]}; "
                             f"expected a finite{' non-negative' if name == 'running_var' else ''}"
                             f" value. Recompute the running statistics from data with "
                             f"slaf_np.train.recalibrate(model, X) before expanding")
    scale = 1.0 / np.sqrt(b["running_var"] + layer.eps)
    shift = -b["running_mean"] * scale
    if getattr(layer, "affine", False):
        gamma, beta = (layer.params[k].astype(np.float64) for k in ("gamma", "beta"))
        scale, shift = gamma * scale, gamma * shift + beta
    rows = s.rows * scale[ch][:, None]
    rows[:, 0] += shift[ch]
    return ExpansionState(rows, s.degree, s.shape, s.n_vars)


def _feature_affine(layer, s: ExpansionState, path: str) -> ExpansionState:
    """A per-feature affine map ``scale * z + shift`` (``layer.evaluation_map()``): MaxScale in
    evaluation mode, Affine."""
    ch = s.channels(layer.num_features, _where(layer, path))
    scale, shift = layer.evaluation_map()
    rows = s.rows * scale[ch][:, None]
    rows[:, 0] += shift[ch]
    return ExpansionState(rows, s.degree, s.shape, s.n_vars)


def _slaf(layer, s: ExpansionState, path: str) -> ExpansionState:
    P = _slaf_polynomial(layer, path)
    P = P[s.channels(P.shape[0], _where(layer, path))]          # (F, k + 1)
    k, K, d = P.shape[1] - 1, s.degree, s.n_vars
    need = 2 * 8 * len(P) * count_monomials(d, k * K)
    if need > MAX_BYTES:
        raise MemoryError(f"expand: {_where(layer, path)} raises the degree to {k * K}: {len(P)} "
                          f"features x C({d} + {k * K}, {k * K}) = {count_monomials(d, k * K):,} "
                          f"coefficients each need {need / 2**30:.3g} GiB (limit "
                          f"slaf_np.polynomial.expansion.MAX_BYTES = {MAX_BYTES / 2**30:.3g} GiB)")
    if K == 0:                                                   # constant rows stay constant
        rows = np.polynomial.polynomial.polyval(s.rows[:, 0], P.T, tensor=False)[:, None]
        return ExpansionState(rows, 0, s.shape, d)
    R, KR = np.ascontiguousarray(P[:, k:]), 0                    # Horner, degree 0 first
    for j in range(k - 1, -1, -1):
        R = rowmul_graded(R, KR, s.rows, K, d)
        R[:, 0] += P[:, j]
        KR += K
    return ExpansionState(R, KR, s.shape, d)


def _same(layer, s: ExpansionState, path: str) -> ExpansionState:
    return s


def _reshape(layer, s: ExpansionState, path: str) -> ExpansionState:
    try:
        shape = tuple(layer.output_shape((1, *s.shape))[1:])
    except ValueError as err:
        raise ValueError(f"expand: {_where(layer, path)}: {err}") from None
    return ExpansionState(s.rows, s.degree, shape, s.n_vars)


def _image(layer, s: ExpansionState, path: str, channels: int | None = None) -> tuple:
    """``(C, H, W)`` of image-shaped features, or a ``ValueError`` naming the layer."""
    if len(s.shape) != 3 or (channels is not None and s.shape[0] != channels):
        want = "(C, H, W)" if channels is None else f"({channels}, H, W)"
        raise ValueError(f"expand: {_where(layer, path)} needs {want} features, got per-sample "
                         f"shape {s.shape}")
    return s.shape


def _windows(x: np.ndarray, kernel: tuple, stride: int, before: tuple, out: tuple):
    """The window offsets of a convolution or pooling over ``x`` (C, H, W, T), zero-padded.

    Yields ``((i, j), xp[:, s p + i, s q + j])`` for the ``kh x kw`` offsets, each slice
    (C, Ho, Wo, T), with ``xp`` the input placed ``before = (pt, pl)`` rows and columns down and
    right in a zero array large enough for every window (cells past the last window are cut).
    """
    (kh, kw), (pt, pl), (Ho, Wo) = kernel, before, out
    C, H, W, T = x.shape
    xp = np.zeros((C, max((Ho - 1) * stride + kh, pt + H), max((Wo - 1) * stride + kw, pl + W),
                   T))
    xp[:, pt:pt + H, pl:pl + W] = x
    for i in range(kh):
        for j in range(kw):
            yield (i, j), xp[:, i:i + (Ho - 1) * stride + 1:stride,
                             j:j + (Wo - 1) * stride + 1:stride]


def _conv2d(layer, s: ExpansionState, path: str) -> ExpansionState:
    r"""Conv2D on polynomial pixels: the formula of :mod:`slaf_np.nn.conv` with ``T`` graded
    coefficients per pixel, ``y[o, p, q] = b[o] + sum_{c, i, j} W[o, c, i, j] xp[c, s p + i,
    s q + j]``, one ``(O, C) x (C, Ho Wo T)`` product per kernel offset ``(i, j)``.

    A convolution is linear, so it acts on each coefficient separately. It is applied from its
    weights rather than by running the layer on the identity basis (``forward(I)`` minus the bias
    gives the same map): the weights are read in float64 whatever the layer's dtype, the bias is
    added, not subtracted after rounding, and only the ``kh kw`` nonzero bands of the
    ``(C H W, O Ho Wo)`` map are touched.
    """
    C, H, W = _image(layer, s, path, layer.in_channels)
    O, Ho, Wo = _reshape(layer, s, path).shape
    Wt = layer.params["W"].astype(np.float64)                    # (O, C, kh, kw)
    y = np.zeros((O, Ho, Wo, s.rows.shape[1]))
    for (i, j), win in _windows(s.rows.reshape(C, H, W, -1), layer.kernel_size, layer.stride,
                                layer.pad, (Ho, Wo)):
        y += np.tensordot(Wt[:, :, i, j], win, axes=1)
    if "b" in layer.params:
        y[..., 0] += layer.params["b"].astype(np.float64)[:, None, None]
    return ExpansionState(y.reshape(O * Ho * Wo, -1), s.degree, (O, Ho, Wo), s.n_vars)


def _pool_before(layer, H: int, W: int, Ho: int, Wo: int) -> tuple[int, int]:
    """Padding ``(pt, pl)`` before the first row and column of a pooling layer: ``padding``
    rows for an int, none for ``"valid"``, the smaller half of ``(Ho - 1) stride + size - H`` for
    ``"same"`` (:mod:`slaf_np.nn.pool`)."""
    k, st, p = layer.size, layer.stride, layer.padding
    if p == "same":
        return (max((Ho - 1) * st + k - H, 0) // 2, max((Wo - 1) * st + k - W, 0) // 2)
    return (0, 0) if p == "valid" else (p, p)


def _avgpool(layer, s: ExpansionState, path: str) -> ExpansionState:
    r"""AvgPool2D: ``y[c, p, q] = (1 / |R|) sum_{(h, w) in R} x[c, h, w]`` over the window
    ``R`` of output ``(p, q)``, padded cells not counted (:mod:`slaf_np.nn.pool`); ``|R|`` is the
    same sum over an image of ones."""
    C, H, W = _image(layer, s, path)
    shape = _reshape(layer, s, path).shape
    Ho, Wo = shape[1:]
    geometry = ((layer.size, layer.size), layer.stride, _pool_before(layer, H, W, Ho, Wo),
                (Ho, Wo))
    total, count = np.zeros((C, Ho, Wo, s.rows.shape[1])), np.zeros((1, Ho, Wo, 1))
    for _, win in _windows(s.rows.reshape(C, H, W, -1), *geometry):
        total += win
    for _, win in _windows(np.ones((1, H, W, 1)), *geometry):
        count += win
    return ExpansionState((total / count).reshape(C * Ho * Wo, -1), s.degree, shape, s.n_vars)


def _global_avgpool(layer, s: ExpansionState, path: str) -> ExpansionState:
    """GlobalAvgPool2D: ``y[c] = (1 / (H W)) sum_{h, w} x[c, h, w]``."""
    C, H, W = _image(layer, s, path)
    rows = s.rows.reshape(C, H * W, -1).mean(axis=1)
    return ExpansionState(rows, s.degree, _reshape(layer, s, path).shape, s.n_vars)


def _sequential(layer, s: ExpansionState, path: str) -> ExpansionState:
    return _run(list(layer.layers), s, f"{path}.")


def _residual(layer, s: ExpansionState, path: str) -> ExpansionState:
    """``body(x) + shortcut(x)``; the shortcut is ``layers[1]`` when there is one, else x."""
    body = _run([layer.layers[0]], s, f"{path}.")
    short = _sequential(layer.layers[1], s, f"{path}.1") if len(layer.layers) > 1 else s
    if body.shape != short.shape:
        raise ValueError(f"expand: {_where(layer, path)} maps shape {s.shape} to {body.shape} "
                         f"and {short.shape}")
    K = max(short.degree, body.degree)
    return ExpansionState(short.padded(K) + body.padded(K), K, body.shape, s.n_vars)


def _body_degree(layer, path: str) -> int:
    """The larger degree bound of the two paths (the identity shortcut has degree 1)."""
    return max(1, *(_degree(list(p.layers), f"{path}.{i}.") for i, p in enumerate(layer.layers)))


for _name, _fn in (("Dense", _dense), ("BatchNorm", _batchnorm), ("Identity", _same),
                   ("Dropout", _same), ("Flatten", _reshape), ("Reshape", _reshape),
                   ("AvgPool2D", _avgpool), ("GlobalAvgPool2D", _global_avgpool),
                   ("Conv2D", _conv2d), ("MaxScale", _feature_affine),
                   ("Affine", _feature_affine)):
    register_expansion(_name, _fn)
register_expansion("SLAF", _slaf,
                   lambda layer, path: _slaf_polynomial(layer, path).shape[1] - 1)
register_expansion("Sequential", _sequential,
                   lambda layer, path: _degree(list(layer.layers), f"{path}."))
register_expansion("Residual", _residual, _body_degree)


def _degree(layers: list, prefix: str) -> int:
    K = 1
    for i, layer in enumerate(layers):
        K *= _handler(_DEGREES, layer, f"{prefix}{i}")(layer, f"{prefix}{i}")
    return K


def degree_bound(model) -> int:
    """Product of the SLAF degrees along the network (docs/paper.md claim 3).

    A :class:`~slaf_np.nn.Residual` contributes the larger of its paths' bounds, at least 1:
    ``F(x) + S(x)`` has the larger degree of the two, and the identity shortcut ``S(x) = x`` has
    degree 1. Convolutions and poolings contribute 1 (they are linear). Raises ``ValueError``
    naming the first non-polynomial layer. Equal to ``expand(model).degree`` for generic weights.
    """
    return _degree(_children(model), "")


def _input_shape(model) -> tuple:
    leaves = model.modules() if hasattr(model, "modules") else iter([model])
    for layer in leaves:
        name = type(layer).__name__
        if name == "Dense":
            return (layer.params["W"].shape[0],)
        if name in ("BatchNorm", "SLAF", "MaxScale", "Affine"):
            return (layer.num_features,)
        if name == "Conv2D":
            raise ValueError(f"expand: the first layer is a Conv2D with in_channels="
                             f"{layer.in_channels}, which does not tell the image size; pass "
                             f"input_shape=({layer.in_channels}, H, W)")
        if name not in ("Identity", "Dropout"):
            break
    raise ValueError("expand: cannot tell the input shape from the first layer; pass n_inputs "
                     "or input_shape (per sample, e.g. (1, 4, 4))")


def expand(model, n_inputs: int | None = None, *, input_shape: tuple | None = None,
           as_vector: bool = False) -> Polynomial | PolynomialVector:
    r"""The polynomial that an evaluation-mode network computes (docs/paper.md claim 3).

    Parameters
    ----------
    model : Module
        A :class:`~slaf_np.nn.Sequential` (or a single layer) made of Dense, SLAF with a
        polynomial basis (normalised or not, shared or not, dense or per channel), Conv2D,
        BatchNorm (running statistics), MaxScale (running max), Affine, Identity, Dropout,
        Flatten, Reshape, AvgPool2D, GlobalAvgPool2D, Residual and nested Sequential. Other
        layers: see :func:`register_expansion`.
    n_inputs : int, optional
        d, for flat inputs. Default: the input width of the first Dense (or BatchNorm / SLAF).
    input_shape : tuple, optional
        Per-sample input shape, e.g. ``(C, H, W)`` (needed when the first layer is a Conv2D);
        the variables are the inputs flattened in C order, as :class:`~slaf_np.nn.Flatten` does.
    as_vector : bool
        Return a :class:`PolynomialVector` even for a single output.

    Returns
    -------
    Polynomial
        When the network has one output: ``expand(model)(X)`` (N,) equals
        ``model.forward(X)[:, 0]`` up to rounding.
    PolynomialVector
        Otherwise: ``expand(model)(X)`` has the shape of ``model.forward(X)``.

    Raises
    ------
    ValueError
        For a non-polynomial layer (ReLU, MaxPool2D, SampleMaxScale, a fourier SLAF, ...), naming
        it by its index path as in the model's parameter keys, e.g. ``layer 3 (ReLU)`` or
        ``layer 2.0.1 (Tanh)`` (inside the body of the Residual at index 2). For a BatchNorm whose
        running mean is not finite or running variance is not finite and non-negative (fix:
        ``recalibrate``), and for any layer after which a coefficient is inf or NaN.

    Notes
    -----
    The features are kept as dense graded vectors of degree K, an (F, C(d + K, K)) matrix.
    The paper's Boston SLNN (13 inputs, 128 and 64 hidden units, degrees 4 and 2) gives a
    degree-8 polynomial with C(21, 8) = 203,490 terms; its largest step is 64 row products of
    2,380-term vectors.
    """
    from ..nn.base import Module

    if not isinstance(model, Module):
        raise TypeError(f"expand: expected a Module (e.g. a Sequential of layers), got "
                        f"{type(model).__name__}")

    def whole(v) -> bool:
        return isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1

    if n_inputs is not None and input_shape is not None:
        raise ValueError(f"expand: pass n_inputs or input_shape, not both (got n_inputs="
                         f"{n_inputs!r}, input_shape={input_shape!r})")
    if n_inputs is not None and not whole(n_inputs):
        raise ValueError(f"expand: n_inputs must be an integer >= 1, got {n_inputs!r}")
    if input_shape is not None and not (isinstance(input_shape, (tuple, list)) and input_shape
                                        and all(whole(s) for s in input_shape)):
        raise ValueError(f"expand: input_shape must be a tuple of integers >= 1 (per sample, "
                         f"e.g. (1, 4, 4)), got {input_shape!r}")
    if input_shape is None:
        input_shape = (int(n_inputs),) if n_inputs is not None else _input_shape(model)
    shape = tuple(int(s) for s in input_shape)
    d = math.prod(shape)
    rows = np.zeros((d, d + 1))
    rows[np.arange(d), np.arange(1, d + 1)] = 1.0               # x_1 .. x_d
    state = _run(_children(model), ExpansionState(rows, 1, shape, d), "")
    if state.rows.shape[0] == 1 and not as_vector:
        return Polynomial.from_dense(state.rows[0], d)
    K = state.degree
    E = graded_basis(d, K)[0] if state.rows.shape[1] * d <= DENSE_PLAN else \
        exponents_of(np.arange(state.rows.shape[1]), d, binomial_table(d, K))
    return PolynomialVector._make(E, state.rows, state.shape)
