"""Save and load models: one ``.npz`` file with the architecture as JSON and every array.

File layout (an ordinary NumPy ``.npz``, readable without pickle)::

    __slaf_np__        uint8 array: UTF-8 JSON header (below)
    params/<key>       every parameter, keyed as in model.params ("0.W", "3.c", ...)
    buffers/<key>      every buffer (running statistics), keyed as in model.buffers
    extra/<i>          arrays found inside ``extra`` (e.g. an optimiser's state_dict)

    header = {"format": "slaf_np.model", "version": 1, "slaf_np": "<package version>",
              "architecture": <node>, "extra": <extra with arrays replaced by {"__array__": i}>}
    node   = {"class": "Dense", "config": {...}, "dtype": "float32"}        (a leaf)
           | {"class": "Sequential", "layers": [<node>, ...]}               (a container)
           | {"class": "Residual", "layers": [...], "shortcut": [<node>, ...]}  (a shortcut)

A leaf is rebuilt as ``LAYERS[class](**config)``, cast with ``astype(dtype)`` and filled with the
stored arrays, which must match the rebuilt model's keys, shapes and dtypes exactly (so predictions
are bit-identical after a round trip). Constructor arguments that are not configuration (``rng``)
take their defaults: a loaded Dropout draws fresh masks. Layers that register themselves with
:func:`slaf_np.nn.register_layer` are found by name; the modules of :mod:`slaf_np.nn` are
imported on demand when a name is missing.

:func:`load` builds a new model from the file; :func:`load_weights` fills an existing model of the
same architecture in place (what resuming a training run needs); :func:`read` returns the checked
contents without building anything.

Writes are atomic (:func:`slaf_np.utils.atomic_write_bytes`): the file is built in memory, written
to a temporary file beside the target and renamed, so an interrupted save leaves the old file.
"""

from __future__ import annotations

import importlib
import io as _io
import json
import os
import pkgutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import nn as _layers
from ..utils import atomic_write_bytes, to_json
from . import LAYERS, Residual
from .base import Module

__all__ = ["save", "load", "load_weights", "read", "Saved", "describe", "build",
           "first_difference", "FORMAT", "VERSION"]

FORMAT = "slaf_np.model"
VERSION = 1
HEADER = "__slaf_np__"


# -- architecture <-> JSON -------------------------------------------------------------------
def _children(m: Module) -> list[Module] | None:
    if isinstance(m, Residual):
        return m.body.layers
    layers = getattr(m, "layers", None)
    return layers if isinstance(layers, list) else None


def describe(model: Module) -> dict:
    """The JSON-able architecture of ``model`` (see the module docstring)."""
    name = type(model).__name__
    if LAYERS.get(name) is not type(model):
        raise ValueError(f"save: layer class {name} is not registered in slaf_np.nn.LAYERS; "
                         f"decorate it with slaf_np.nn.register_layer")
    children = _children(model)
    if children is not None:
        node = {"class": name, "layers": [describe(m) for m in children]}
        if isinstance(model, Residual) and model.shortcut is not None:
            node["shortcut"] = [describe(m) for m in model.shortcut.layers]
        return node
    node = {"class": name, "config": model.config()}
    if model.dtype is not None:
        node["dtype"] = np.dtype(model.dtype).name
    return node


def _discover_layers() -> None:
    for info in pkgutil.iter_modules(_layers.__path__):
        importlib.import_module(f"{_layers.__name__}.{info.name}")


def build(node: dict) -> Module:
    """Rebuild an (untrained) model from :func:`describe`'s output."""
    if not isinstance(node, dict) or "class" not in node:
        raise ValueError(f"load: architecture node must be a dict with 'class', got {node!r}")
    name = node["class"]
    if name not in LAYERS:
        _discover_layers()
    if name not in LAYERS:
        raise ValueError(f"load: unknown layer class {name!r}; known: {sorted(LAYERS)}")
    cls = LAYERS[name]
    if "layers" in node:
        shortcut = {"shortcut": [build(c) for c in node["shortcut"]]} if "shortcut" in node else {}
        return cls(*[build(child) for child in node["layers"]], **shortcut)
    try:
        m = cls(**node.get("config", {}))
    except (TypeError, ValueError) as e:
        raise ValueError(f"load: cannot rebuild {name} from config {node.get('config')}: "
                         f"{e}") from e
    if "dtype" in node:
        m.astype(node["dtype"])
    return m


# -- extra: JSON with arrays -------------------------------------------------------------------
_JSON_LEAVES = (type(None), bool, int, float, str, np.generic, Path)


def _split_extra(obj, arrays: list, where: str = "extra"):
    if isinstance(obj, np.ndarray):
        arrays.append(obj)
        return {"__array__": len(arrays) - 1}
    if isinstance(obj, dict):
        return {str(k): _split_extra(v, arrays, f"{where}[{k!r}]") for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_split_extra(v, arrays, f"{where}[{i}]") for i, v in enumerate(obj)]
    if not isinstance(obj, _JSON_LEAVES):
        raise TypeError(f"save: {where} is a {type(obj).__name__}, which cannot be saved; extra "
                        f"holds dicts, lists, tuples, numbers, strings, None and NumPy arrays "
                        f"(convert it, e.g. a set to a sorted list)")
    return obj


def _join_extra(obj, arrays: dict, path, where: str = "extra"):
    if isinstance(obj, dict):
        if set(obj) == {"__array__"}:
            key = f"extra/{obj['__array__']}"
            if key not in arrays:
                raise ValueError(f"load: {path}: {where} refers to array {obj['__array__']!r}, "
                                 f"which the file does not hold (a damaged or hand-edited "
                                 f"file; save it again)")
            return arrays[key]
        return {k: _join_extra(v, arrays, path, f"{where}[{k!r}]") for k, v in obj.items()}
    if isinstance(obj, list):
        return [_join_extra(v, arrays, path, f"{where}[{i}]") for i, v in enumerate(obj)]
    return obj


# -- save / load -------------------------------------------------------------------------------
def save(model: Module, path: str | os.PathLike, extra: dict | None = None,
         weights: dict | None = None) -> Path:
    """Write ``model`` (architecture, parameters, buffers) to ``path`` atomically.

    Parameters
    ----------
    model : Module
        A registered layer or container.
    path : str or Path
        Target file; ``.npz`` is the convention but not added.
    extra : dict, optional
        Anything JSON-able, and NumPy arrays at any depth of dicts and lists (e.g. a training
        history and ``optimizer.state_dict()``); read back with ``load(path, with_extra=True)``.
        Anything else (a set, a function) raises :class:`TypeError` naming its key.
    weights : dict, optional
        ``{"params": {...}, "buffers": {...}}`` with the model's keys, shapes and dtypes, written
        instead of the model's own arrays (a checkpoint stores the best weights this way while
        the model holds the current ones).

    Returns
    -------
    Path

    Raises
    ------
    TypeError
        ``model`` is not a Module, ``extra`` is not a dict, or a value in ``extra`` cannot be
        saved (the message names its key path).
    OSError
        The target cannot be written; the error names ``path`` (not the temporary file).
    """
    from .._version import __version__

    if not isinstance(model, Module):
        raise TypeError(f"save: model must be a slaf_np Module (a layer or a Sequential), got "
                        f"{type(model).__name__}")
    if extra is not None and not isinstance(extra, dict):
        raise TypeError(f"save: extra must be a dict (load returns it as one), got "
                        f"{type(extra).__name__} {extra!r:.80}; wrap it, e.g. "
                        f"extra={{'data': ...}}")
    arrays: list[np.ndarray] = []
    header = {"format": FORMAT, "version": VERSION, "slaf_np": __version__,
              "architecture": describe(model), "extra": _split_extra(extra or {}, arrays)}
    content = {HEADER: np.frombuffer(to_json(header, indent=None).encode(), dtype=np.uint8)}
    for kind in ("params", "buffers"):
        own = getattr(model, kind)
        source = own if weights is None else weights[kind]
        if source is not own and (list(source) != list(own) or any(
                a.shape != own[k].shape or a.dtype != own[k].dtype for k, a in source.items())):
            raise ValueError(f"save: weights[{kind!r}] must have the model's keys, shapes and "
                             f"dtypes ({list(own)}), got {list(source)}")
        for key, a in source.items():
            content[f"{kind}/{key}"] = a
    for i, a in enumerate(arrays):
        content[f"extra/{i}"] = np.asarray(a)
    buf = _io.BytesIO()
    np.savez(buf, **content)
    try:
        return atomic_write_bytes(path, buf.getvalue())
    except OSError as e:
        if e.errno is None or e.filename == str(path):
            raise
        # the error names the temporary file beside the target; name the target instead
        raise type(e)(e.errno, f"save: cannot write {path}: {e.strerror} (check that its "
                               f"folder exists and is writable, and the disk has room)",
                      str(path)) from e


def _read(path) -> dict[str, np.ndarray]:
    try:
        f = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as e:
        raise ValueError(f"load: {path} is not a readable slaf_np model file (truncated, or not "
                         f"an .npz archive): {e}") from e
    if isinstance(f, np.ndarray):
        raise ValueError(f"load: {path} holds a single .npy array of shape {f.shape}, not a "
                         f"slaf_np model (.npz written by slaf_np.nn.io.save)")
    try:
        with f:
            return {k: f[k] for k in f.files}
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as e:
        raise ValueError(f"load: {path} is damaged (truncated or corrupt archive member): "
                         f"{e}") from e


@dataclass
class Saved:
    """A file written by :func:`save`, read and checked but not yet turned into a model.

    ``architecture`` is :func:`describe`'s node, ``params`` / ``buffers`` map keys to arrays and
    ``extra`` is the ``extra`` dict given to :func:`save` (arrays restored in place).
    """

    path: str
    architecture: dict
    params: dict[str, np.ndarray]
    buffers: dict[str, np.ndarray]
    extra: dict


def read(path: str | os.PathLike) -> Saved:
    """Read a file written by :func:`save` without building the model (see :func:`load`)."""
    data = _read(path)
    if HEADER not in data:
        raise ValueError(f"load: {path} is an .npz without a slaf_np header (arrays "
                         f"{sorted(data)[:8]}); it was not written by slaf_np.nn.io.save")
    try:
        header = json.loads(data.pop(HEADER).tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"load: {path} has a corrupt slaf_np header: {e}") from e
    if not isinstance(header, dict):
        raise ValueError(f"load: {path}: the header is a {type(header).__name__}, expected a "
                         f"JSON object (a damaged or hand-edited file; save it again)")
    if header.get("format") != FORMAT:
        raise ValueError(f"load: {path} has format {header.get('format')!r}, expected {FORMAT!r}")
    if header.get("version") != VERSION:
        raise ValueError(f"load: {path} has format version {header.get('version')!r}; this "
                         f"slaf_np reads version {VERSION}")
    if "architecture" not in header:
        raise ValueError(f"load: {path}: the header has no 'architecture' (keys "
                         f"{sorted(header)}); a damaged or hand-edited file, save it again")
    _check_node(header["architecture"], path, "architecture")
    extra = header.get("extra", {})
    if not isinstance(extra, dict):
        raise ValueError(f"load: {path}: extra is {extra!r:.80}, expected a dict")
    stored = {kind: {k.split("/", 1)[1]: a for k, a in data.items() if k.startswith(kind + "/")}
              for kind in ("params", "buffers")}
    return Saved(str(path), header["architecture"], stored["params"], stored["buffers"],
                 _join_extra(extra, data, path))


def _check_node(node, path, where: str) -> None:
    """Check the shape of an architecture node from a file (what :func:`build` reads), so a
    malformed one is named with the file instead of failing inside a constructor."""
    def bad(what, value, expected):
        raise ValueError(f"load: {path}: {what} is {value!r:.80}, expected {expected} (a damaged "
                         f"or hand-edited file; save it again)")

    if not isinstance(node, dict) or not isinstance(node.get("class"), str):
        bad(where, node, "a dict with a 'class' name")
    if "layers" in node:
        if not isinstance(node["layers"], list):
            bad(f"{where}.layers", node["layers"], "a list of layer nodes")
        for i, child in enumerate(node["layers"]):
            _check_node(child, path, f"{where}.layers[{i}]")
    if "shortcut" in node:
        if not isinstance(node["shortcut"], list):
            bad(f"{where}.shortcut", node["shortcut"], "a list of layer nodes")
        for i, child in enumerate(node["shortcut"]):
            _check_node(child, path, f"{where}.shortcut[{i}]")
    if not isinstance(node.get("config", {}), dict):
        bad(f"{where}.config", node["config"], "a dict of constructor arguments")
    if "dtype" in node:
        try:
            np.dtype(node["dtype"])
        except TypeError:
            bad(f"{where}.dtype", node["dtype"], "a NumPy dtype name such as 'float32'")


def _fill(model: Module, saved: Saved) -> None:
    """Copy the saved arrays into ``model`` after checking every key, shape and dtype (nothing
    is written unless all match)."""
    for kind in ("params", "buffers"):
        target, stored = getattr(model, kind), getattr(saved, kind)
        missing = [k for k in target if k not in stored]
        unused = [k for k in stored if k not in target]
        if missing or unused:
            raise ValueError(f"load: {saved.path}: the {kind} in the file do not match the "
                             f"architecture (missing {missing}, unexpected {unused})")
        for key, want in target.items():
            a = stored[key]
            if a.shape != want.shape or a.dtype != want.dtype:
                raise ValueError(f"load: {saved.path}: {kind} {key!r} is {a.dtype}{list(a.shape)} "
                                 f"in the file, the architecture expects "
                                 f"{want.dtype}{list(want.shape)}")
    for kind in ("params", "buffers"):
        for key, want in getattr(model, kind).items():
            want[...] = getattr(saved, kind)[key]


def first_difference(a, b, where: str = "model") -> str | None:
    """Where two :func:`describe` nodes first differ, as ``"model.layers[2].config.k: 3 vs 4"``
    (``None`` when they are equal)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                return f"{where}.{key}: {a.get(key, '(absent)')!r} vs {b.get(key, '(absent)')!r}"
            diff = first_difference(a[key], b[key], f"{where}.{key}")
            if diff:
                return diff
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{where}: {len(a)} entries vs {len(b)}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            diff = first_difference(x, y, f"{where}[{i}]")
            if diff:
                return diff
        return None
    return None if a == b else f"{where}: {a!r} vs {b!r}"


def load(path: str | os.PathLike, with_extra: bool = False):
    """Read a model written by :func:`save`.

    Parameters
    ----------
    path : str or Path
    with_extra : bool
        Also return the ``extra`` dict given to :func:`save`.

    Returns
    -------
    Module, or (Module, dict) with ``with_extra``

    Raises
    ------
    ValueError
        The file is truncated or not an ``.npz``, is an ``.npz`` not written by slaf_np, has an
        unsupported format version, a malformed header (not an object, no architecture, a node
        that is not a dict with a class, layers that are not a list, a config that is not a dict,
        an unknown dtype, extra pointing at a missing array), names an unknown layer, or holds
        arrays whose keys, shapes or dtypes do not match the architecture. The message names the
        file and says which.
    """
    saved = read(path)
    try:
        model = build(saved.architecture)
    except ValueError as e:
        raise ValueError(f"{e} (in {path})") from e
    _fill(model, saved)
    return (model, saved.extra) if with_extra else model


def load_weights(model: Module, source: str | os.PathLike | Saved, with_extra: bool = False):
    """Fill an existing ``model``'s parameters and buffers, in place, from a file of :func:`save`.

    The file must describe the same architecture (:func:`describe`); nothing is changed
    otherwise. Keeps the model's identity, so optimisers built on it stay attached.

    Parameters
    ----------
    model : Module
    source : str, Path or Saved
        A path, or a file already read with :func:`read`.
    with_extra : bool
        Return the ``extra`` dict given to :func:`save`.

    Returns
    -------
    dict or None
        ``extra`` with ``with_extra``.

    Raises
    ------
    ValueError
        Everything :func:`load` raises, and an architecture other than the model's (the message
        names the first difference).
    """
    saved = source if isinstance(source, Saved) else read(source)
    diff = first_difference(saved.architecture, describe(model))
    if diff:
        raise ValueError(f"load_weights: {saved.path} holds another architecture than the model "
                         f"(file vs model, first difference at {diff}); load it with "
                         f"slaf_np.nn.io.load(path) instead, or build the model it describes")
    _fill(model, saved)
    return saved.extra if with_extra else None
