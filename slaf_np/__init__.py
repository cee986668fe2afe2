"""slaf_np: Self-Learnable Activation Functions (Goyal, Goyal and Lall, arXiv:1906.09529) in NumPy
and numba, with hand-derived gradients and no autograd."""

from ._jit import configure_cache as _configure_cache

_configure_cache()  # before numba is imported anywhere

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

__all__ = ["Module", "Dense", "ReLU", "LeakyReLU", "Tanh", "Sigmoid", "SiLU", "ELU", "Identity",
           "Flatten", "BatchNorm", "Dropout", "Sequential", "Residual", "__version__"]
