"""slaf_np: Self-Learnable Activation Functions (Goyal, Goyal and Lall, arXiv:1906.09529) in NumPy
and numba, with hand-derived gradients and no autograd.

The layers are imported eagerly; the names below that pull in numba or matplotlib (``SLAF``, the
training loop, expansion, plotting) are loaded on first use, so ``import slaf_np`` stays fast and
compiles nothing.
"""

from ._jit import configure_cache as _configure_cache
from ._jit import configure_threading as _configure_threading

_configure_cache()  # both before numba is imported anywhere
_configure_threading()

import importlib  # noqa: E402

from .layers import (  # noqa: E402
    ELU,
    BatchNorm,
    Dense,
    Dropout,
    Flatten,
    Identity,
    LeakyReLU,
    Module,
    ReLU,
    Residual,
    Sequential,
    Sigmoid,
    SiLU,
    Tanh,
)

__version__ = "0.1.0"

_LAZY = {
    "SLAF": "slaf_np.layers.slaf",
    "AvgPool2D": "slaf_np.layers.pool",
    "MaxPool2D": "slaf_np.layers.pool",
    "Reshape": "slaf_np.layers.pool",
    "recalibrate": "slaf_np.calibration",
    "plot_activations": "slaf_np.plotting",
    "fit": "slaf_np.train",
    "evaluate": "slaf_np.train",
    "predict": "slaf_np.train",
    "History": "slaf_np.train",
    "TrainingDivergedError": "slaf_np.train",
    "SGD": "slaf_np.optim",
    "Adam": "slaf_np.optim",
    "StepSchedule": "slaf_np.optim",
    "save": "slaf_np.io",
    "load": "slaf_np.io",
    "expand": "slaf_np.polynomial",
    "Polynomial": "slaf_np.polynomial",
}


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'slaf_np' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY))


__all__ = ["Module", "Dense", "ReLU", "LeakyReLU", "Tanh", "Sigmoid", "SiLU", "ELU", "Identity",
           "Flatten", "BatchNorm", "Dropout", "Sequential", "Residual", "__version__", *_LAZY]
