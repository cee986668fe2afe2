"""Containers: :class:`Sequential` (a chain); :class:`~slaf_np.nn.residual.Residual` (two paths
summed) builds on the same base.

A container's ``params`` / ``grads`` / ``buffers`` are flat dicts built from its children, keyed
``"<index>.<name>"`` (nested containers nest the prefix): read-only views, rebuilt on each access.
The arrays are the children's own, so an optimiser that updates ``model.params[key]`` in place
updates the layer; :meth:`_Container.set_state` replaces an array in the child that owns it.
"""

from __future__ import annotations

import numpy as np

from .base import Module, check_float_dtype


def _flatten(modules, attr: str) -> dict[str, np.ndarray]:
    out = {}
    for i, m in enumerate(modules):
        for key, value in getattr(m, attr).items():
            out[f"{i}.{key}"] = value
    return out


class _Container(Module):
    layers: list[Module]

    def __init__(self) -> None:                # no own params/grads/buffers: they are views
        self._cache = None

    @property
    def params(self):  # type: ignore[override]
        return _flatten(self.layers, "params")

    @property
    def grads(self):  # type: ignore[override]
        return _flatten(self.layers, "grads")

    @property
    def buffers(self):  # type: ignore[override]
        return _flatten(self.layers, "buffers")

    def set_state(self, key: str, value: np.ndarray, kind: str = "params") -> None:
        """Replace ``kind[key]`` (``"i.name"``) in the child that owns it."""
        head, _, rest = key.partition(".")
        child = self.layers[int(head)]
        if isinstance(child, _Container):
            child.set_state(rest, value, kind)
        else:
            getattr(child, kind)[rest] = value

    def zero_grad(self) -> None:
        for m in self.layers:
            m.zero_grad()

    def astype(self, dtype) -> Module:
        check_float_dtype(dtype, f"{self.name}.astype")
        for m in self.layers:
            m.astype(dtype)
        return self

    def input_of(self, layer: Module, x: np.ndarray) -> np.ndarray:
        """The input ``layer`` (a leaf of this container) receives in the evaluation-mode forward
        of this container on ``x``; only the layers before it run.

        Raises ``ValueError`` if ``layer`` is not a leaf of this container.
        """
        for m in self.layers:
            if m is layer:
                return x
            if isinstance(m, _Container) and any(leaf is layer for leaf in m.modules()):
                return m.input_of(layer, x)
            x = m.forward(x, training=False)   # a chain (Residual overrides this)
        raise ValueError(f"{self.name}.input_of: {layer!r} is not a layer of this model")

    def modules(self):
        """Every leaf module, depth first."""
        for m in self.layers:
            if isinstance(m, _Container):
                yield from m.modules()
            else:
                yield m

    def __getitem__(self, i):
        return self.layers[i]

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self):
        return iter(self.layers)


def gives_no_input_gradient(m: Module) -> bool:
    """Whether ``m``'s backward returns no input gradient: a layer made with
    ``input_gradient=False`` (a network's first :class:`~slaf_np.nn.conv.Conv2D`), or a chain
    that starts with one."""
    if isinstance(m, Sequential):
        return bool(m.layers) and gives_no_input_gradient(m.layers[0])
    return getattr(m, "input_gradient", True) is False


class Sequential(_Container):
    """Apply layers in order; backward runs them in reverse.

    Examples
    --------
    >>> import numpy as np, slaf_np as sn
    >>> model = sn.Sequential(sn.Dense(2, 8, rng=0), sn.ReLU(), sn.Dense(8, 1, rng=1))
    >>> model.forward(np.zeros((5, 2), np.float32)).shape
    (5, 1)
    """

    def __init__(self, *layers: Module) -> None:
        super().__init__()
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        for i, m in enumerate(layers):
            if not isinstance(m, Module):
                what = (f"the class {m.__name__}; pass an instance, {m.__name__}(...)"
                        if isinstance(m, type) else f"{m!r} (a {type(m).__name__})")
                raise TypeError(f"Sequential: layer {i} is {what}, not a Module")
            if i > 0 and gives_no_input_gradient(m):
                raise ValueError(f"Sequential: layer {i} ({m!r}) computes no input gradient, "
                                 f"but layer {i - 1} needs one; only the first layer of a "
                                 f"network may set input_gradient=False")
        self.layers = list(layers)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        for m in self.layers:
            x = m.forward(x, training=training)
        return x

    def backward(self, dy: np.ndarray) -> np.ndarray:
        for m in reversed(self.layers):
            dy = m.backward(dy)
        return dy

    def output_shape(self, input_shape: tuple) -> tuple:
        for m in self.layers:
            input_shape = m.output_shape(input_shape)
        return input_shape

    def summary(self, input_shape: tuple) -> str:
        """A table of layer, output shape and parameter count for inputs of ``input_shape``.

        ``input_shape`` excludes the batch axis, e.g. ``(784,)`` or ``(1, 28, 28)``.
        """
        shape = (None, *input_shape)
        rows = [("layer", "output shape", "params")]
        for i, m in enumerate(self.layers):
            shape = m.output_shape(shape)
            rows.append((f"{i}: {m!r}", str(shape), f"{m.n_params():,}"))
        rows.append(("total", "", f"{self.n_params():,}"))
        w = [max(len(r[j]) for r in rows) for j in range(3)]
        lines = [f"{r[0]:<{w[0]}}  {r[1]:<{w[1]}}  {r[2]:>{w[2]}}" for r in rows]
        lines.insert(1, "-" * len(lines[0]))
        lines.insert(len(lines) - 1, "-" * len(lines[0]))
        return "\n".join(lines)

    def __repr__(self) -> str:
        inner = "\n".join(f"  ({i}) {m!r}".replace("\n", "\n  ") for i, m in enumerate(self.layers))
        return f"Sequential(\n{inner}\n)"
