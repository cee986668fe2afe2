"""The neural-network engine: the Module protocol and every layer, re-exported here."""

from .activations import ELU, Identity, LeakyReLU, ReLU, Sigmoid, SiLU, Tanh
from .base import Module
from .containers import Sequential
from .conv import Conv2D
from .dense import Dense
from .dropout import Dropout
from .norm import BatchNorm
from .pool import AvgPool2D, GlobalAvgPool2D, MaxPool2D
from .residual import Residual, basic_block
from .scaling import Affine, MaxScale, SampleMaxScale
from .shape import Flatten, Reshape
from .slaf import SLAF

LAYERS: dict[str, type] = {
    cls.__name__: cls
    for cls in (Dense, ReLU, LeakyReLU, Tanh, Sigmoid, SiLU, ELU, Identity, Flatten, BatchNorm,
                Dropout, Sequential, Residual, Reshape, AvgPool2D, MaxPool2D, SLAF, MaxScale,
                SampleMaxScale, Affine, Conv2D, GlobalAvgPool2D)
}


def register_layer(cls: type) -> type:
    """Make a layer class known to :mod:`slaf_np.nn.io` (save/load) by its name."""
    LAYERS[cls.__name__] = cls
    return cls


__all__ = ["Module", "SLAF", "Dense", "ReLU", "LeakyReLU", "Tanh", "Sigmoid", "SiLU", "ELU",
           "Identity", "Flatten", "BatchNorm", "Dropout", "Sequential", "Residual", "Reshape",
           "AvgPool2D", "MaxPool2D", "MaxScale", "SampleMaxScale", "Affine", "LAYERS",
           "register_layer", "Conv2D", "GlobalAvgPool2D", "basic_block"]
