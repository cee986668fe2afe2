"""slaf_np: Self-Learnable Activation Functions (Goyal, Goyal and Lall, arXiv:1906.09529) in NumPy
and numba, with hand-derived gradients and no autograd.

Every public name below is loaded on first use, so ``import slaf_np`` imports neither NumPy nor
numba nor matplotlib, compiles nothing and changes nothing in the process (which lets the
``slaf-np`` command set OpenBLAS's defaults before NumPy loads).
"""

import importlib

from ._version import __version__

_LAZY = {
    "Module": "slaf_np.nn.base",
    "Dense": "slaf_np.nn.dense",
    "ReLU": "slaf_np.nn.activations",
    "LeakyReLU": "slaf_np.nn.activations",
    "Tanh": "slaf_np.nn.activations",
    "Sigmoid": "slaf_np.nn.activations",
    "SiLU": "slaf_np.nn.activations",
    "ELU": "slaf_np.nn.activations",
    "Identity": "slaf_np.nn.activations",
    "Flatten": "slaf_np.nn.shape",
    "BatchNorm": "slaf_np.nn.norm",
    "Dropout": "slaf_np.nn.dropout",
    "Sequential": "slaf_np.nn.containers",
    "Residual": "slaf_np.nn.residual",
    "basic_block": "slaf_np.nn.residual",
    "SLAF": "slaf_np.nn.slaf",
    "MaxScale": "slaf_np.nn.scaling",
    "SampleMaxScale": "slaf_np.nn.scaling",
    "Affine": "slaf_np.nn.scaling",
    "AvgPool2D": "slaf_np.nn.pool",
    "MaxPool2D": "slaf_np.nn.pool",
    "GlobalAvgPool2D": "slaf_np.nn.pool",
    "Reshape": "slaf_np.nn.shape",
    "Conv2D": "slaf_np.nn.conv",
    "recalibrate": "slaf_np.train.calibration",
    "plot_activations": "slaf_np.plotting",
    "fit": "slaf_np.train.loop",
    "evaluate": "slaf_np.train.loop",
    "predict": "slaf_np.train.loop",
    "History": "slaf_np.train.loop",
    "TrainingDivergedError": "slaf_np.train.loop",
    "SGD": "slaf_np.train.optim",
    "Adam": "slaf_np.train.optim",
    "StepSchedule": "slaf_np.train.optim",
    "save": "slaf_np.nn.io",
    "load": "slaf_np.nn.io",
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


__all__ = ["__version__", *_LAZY]
