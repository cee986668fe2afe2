"""Parameter groups: which parameters of a model get which optimiser hyperparameters.

``groups`` (an argument of every optimiser in :mod:`slaf_np.train.optim`) is a list of dicts,
each selecting parameters with ``"match"`` and overriding hyperparameters (``lr``, ``l1``, ``l2``
and the optimiser's own, e.g. ``beta1``)::

    Adam(model, lr=1e-3, groups=[{"match": "slaf", "lr": 5e-3, "l1": 0.01}])

``match`` is a callable ``(key, array) -> bool``, a layer class (parameters of leaf modules that
are instances of it), a string (parameters of leaf modules whose class name equals it, case
insensitively: ``"slaf"`` selects the SLAF layers, ``"dense"`` the Dense ones), or a tuple of
these (any of them). A parameter goes to the first group that matches it; the others form the
default group, with the optimiser's own hyperparameters. A spec may give ``"keys"`` (a list of
parameter keys) instead of ``"match"``. :func:`param_groups` does the selection.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from ..nn.base import Module

__all__ = ["param_groups", "named_leaves"]


def named_leaves(model, prefix: str = "") -> Iterator[tuple[str, Module]]:
    """Every leaf module with the key prefix of its parameters, depth first.

    Containers (anything with a ``layers`` list) contribute ``"<index>."`` to the prefix, as their
    ``params`` dicts do: the ``W`` of ``Sequential(Dense, ReLU, Dense)[2]`` is ``"2.W"``.
    """
    layers = getattr(model, "layers", None)
    if isinstance(layers, (list, tuple)):
        for i, m in enumerate(layers):
            yield from named_leaves(m, f"{prefix}{i}.")
    else:
        yield prefix, model


def _matcher(match) -> Callable[[str, np.ndarray, object], bool]:
    if isinstance(match, tuple):
        parts = [_matcher(m) for m in match]
        return lambda key, p, owner: any(f(key, p, owner) for f in parts)
    if isinstance(match, type):
        return lambda key, p, owner: isinstance(owner, match)
    if isinstance(match, str):
        name = match.lower()
        return lambda key, p, owner: type(owner).__name__.lower() == name
    if callable(match):
        return lambda key, p, owner: bool(match(key, p))
    raise TypeError(f"param_groups: match must be a callable (key, array) -> bool, a layer class, "
                    f"a class name or a tuple of these, got {match!r}")


def param_groups(model, *specs: dict) -> list[dict]:
    """Split a model's parameters into groups by the specs' ``match`` (see the module docstring).

    Parameters
    ----------
    model : Module
        Anything with a ``params`` dict; leaf modules are found through ``layers`` lists.
    *specs : dict
        Each with ``"match"`` (or ``"keys"``) and any hyperparameter overrides.

    Returns
    -------
    list of dict
        One dict per spec, with ``"keys"`` (the selected parameter keys, in model order) in place of
        ``"match"`` and the spec's overrides, then the default group ``{"keys": rest}``.
    """
    params = model.params
    owner = {}
    for prefix, leaf in named_leaves(model):
        for name in getattr(leaf, "params", {}):
            owner[prefix + name] = leaf
    taken: set[str] = set()
    groups = []
    for i, spec in enumerate(specs):
        if not isinstance(spec, dict):
            raise TypeError(f"param_groups: group {i} must be a dict, got {type(spec).__name__}")
        spec = dict(spec)
        if "keys" in spec:
            if "match" in spec:
                raise ValueError(f"param_groups: group {i} gives both 'match' and 'keys'")
            unknown = [k for k in spec["keys"] if k not in params]
            if unknown:
                raise ValueError(f"param_groups: group {i} names unknown parameters {unknown}; "
                                 f"the model has {list(params)}")
            keys = [k for k in params if k in set(spec["keys"]) and k not in taken]
        elif "match" in spec:
            f = _matcher(spec.pop("match"))
            keys = [k for k, p in params.items() if k not in taken and f(k, p, owner.get(k))]
        else:
            raise ValueError(f"param_groups: group {i} needs 'match' or 'keys', got keys "
                             f"{sorted(spec)}")
        taken.update(keys)
        spec["keys"] = keys
        groups.append(spec)
    groups.append({"keys": [k for k in params if k not in taken]})
    return groups
