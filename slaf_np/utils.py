"""Small shared helpers: atomic file writes and JSON that accepts NumPy values."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically: a temporary file in the same folder, fsync, rename.

    A crash or an interrupt leaves either the old file or the new one, never half of one.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"cannot write to {path}: it is a directory; give a file name")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; results are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def _default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _finite_or_none(obj):
    """Replace NaN and infinities by ``None`` (JSON has no such numbers; strict parsers reject
    the ``NaN`` token), recursively through dicts, lists and tuples."""
    if isinstance(obj, float | np.floating):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite_or_none(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _finite_or_none(obj.tolist())
    return obj


def to_json(obj, indent: int | None = 2) -> str:
    """Strict JSON: NumPy scalars and arrays become plain numbers and lists, and non-finite
    numbers become ``null`` (a diverged run's loss, say), so any JSON parser can read the file."""
    return json.dumps(_finite_or_none(obj), indent=indent, default=_default, allow_nan=False)


def atomic_write_json(path: str | os.PathLike, obj) -> Path:
    """Write ``obj`` as JSON to ``path`` atomically."""
    return atomic_write_bytes(path, (to_json(obj) + "\n").encode())


def save_figure(fig, path: str | os.PathLike, dpi: int = 120) -> Path:
    """Save a matplotlib ``Figure`` as PNG atomically (rendered to memory, then renamed into place).

    Works for figures made with ``matplotlib.figure.Figure()`` (no pyplot state is touched).
    """
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if fig.canvas is None or not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return atomic_write_bytes(path, buf.getvalue())
