"""Layers: the Module protocol and every layer, re-exported here."""

from .activations import ELU, Flatten, Identity, LeakyReLU, ReLU, SiLU, Sigmoid, Tanh
from .base import Module
from .containers import Residual, Sequential
from .dense import Dense
from .norm import BatchNorm, Dropout

LAYERS: dict[str, type] = {
    cls.__name__: cls
    for cls in (Dense, ReLU, LeakyReLU, Tanh, Sigmoid, SiLU, ELU, Identity, Flatten, BatchNorm,
                Dropout, Sequential, Residual)
}


def register_layer(cls: type) -> type:
    """Make a layer class known to :mod:`slaf_np.io` (save/load) by its name."""
    LAYERS[cls.__name__] = cls
    return cls


__all__ = ["Module", "Dense", "ReLU", "LeakyReLU", "Tanh", "Sigmoid", "SiLU", "ELU", "Identity",
           "Flatten", "BatchNorm", "Dropout", "Sequential", "Residual", "LAYERS", "register_layer"]
