"""The standard CIFAR augmentation in NumPy: random crop with zero padding, random horizontal flip.

For images ``x`` of shape ``(N, C, H, W)`` and a padding ``p`` (4 for CIFAR-10, He et al. 2016):

* **crop**: pad every side with ``p`` zeros and cut an ``H x W`` window at a random offset
  ``(dy, dx)``, each uniform in ``{-p, ..., p}``. The result is the image shifted by the offset::

      out[n, c, i, j] = x[n, c, i + dy_n, j + dx_n]   if that pixel is inside the image, else 0

* **flip**: mirror left-right with probability 1/2: ``out[n, c, i, j] = x[n, c, i, W - 1 - j]``.

Vectorised: the samples are grouped by offset (at most ``(2p + 1)^2`` groups), each group copied
with one slice, so the cost is one pass over the data and no padded copy of the whole set.
Randomness comes from the ``rng`` argument only: the same generator state gives the same images.
"""

from __future__ import annotations

import numpy as np

from ..nn.base import as_rng

__all__ = ["crop", "flip", "random_crop", "random_flip", "augment"]


def _check_images(x: np.ndarray, where: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"{where}: expected images of shape (N, C, H, W), got shape {x.shape}; "
                         f"convert NHWC arrays with slaf_np.datasets.to_nchw")
    return x


def crop(x: np.ndarray, offsets: np.ndarray, pad: int = 4) -> np.ndarray:
    """Shift each image by its offset, filling with zeros (a crop of the zero-padded image).

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    offsets : int ndarray, shape (N, 2)
        ``(dy, dx)`` per image, each in ``[-pad, pad]``.
    pad : int >= 0

    Returns
    -------
    ndarray, shape (N, C, H, W), x's dtype
        ``out[n, :, i, j] = x[n, :, i + dy_n, j + dx_n]`` where that index is inside the image,
        else 0.
    """
    x = _check_images(x, "crop")
    offsets = np.asarray(offsets)
    N, _, H, W = x.shape
    if offsets.shape != (N, 2) or not np.issubdtype(offsets.dtype, np.integer):
        raise ValueError(f"crop: offsets must be integers of shape (N, 2) = ({N}, 2), got "
                         f"{offsets.dtype} {offsets.shape}")
    if pad < 0 or (N and np.abs(offsets).max() > pad):
        raise ValueError(f"crop: offsets must lie in [-pad, pad] = [-{pad}, {pad}], got "
                         f"{np.abs(offsets).max() if N else None}; pass a larger pad")
    out = np.zeros_like(x)
    codes = (offsets[:, 0] + pad) * (2 * pad + 1) + (offsets[:, 1] + pad)
    for code in np.unique(codes):
        idx = np.flatnonzero(codes == code)
        dy, dx = int(offsets[idx[0], 0]), int(offsets[idx[0], 1])
        # rows i with 0 <= i + dy < H, columns j with 0 <= j + dx < W
        out[idx, :, max(0, -dy):H - max(0, dy), max(0, -dx):W - max(0, dx)] = \
            x[idx, :, max(0, dy):H - max(0, -dy), max(0, dx):W - max(0, -dx)]
    return out


def flip(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mirror left-right the images where ``mask`` is true; a new array (``x`` is not changed).

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    mask : bool ndarray, shape (N,)
    """
    x = _check_images(x, "flip")
    mask = np.asarray(mask)
    if mask.shape != (len(x),) or mask.dtype != bool:
        raise ValueError(f"flip: mask must be booleans of shape ({len(x)},), got {mask.dtype} "
                         f"{mask.shape}")
    out = x.copy()
    out[mask] = x[mask][..., ::-1]
    return out


def random_crop(x: np.ndarray, rng: np.random.Generator | int | None = None,
                pad: int = 4) -> np.ndarray:
    """:func:`crop` at offsets drawn uniformly from ``{-pad, ..., pad}^2`` per image (``rng``)."""
    x = _check_images(x, "random_crop")
    return crop(x, as_rng(rng).integers(-pad, pad + 1, size=(len(x), 2)), pad)


def random_flip(x: np.ndarray, rng: np.random.Generator | int | None = None) -> np.ndarray:
    """:func:`flip` of each image with probability 1/2 (``rng``)."""
    x = _check_images(x, "random_flip")
    return flip(x, as_rng(rng).random(len(x)) < 0.5)


def augment(x: np.ndarray, rng: np.random.Generator | int | None = None,
            pad: int = 4) -> np.ndarray:
    """The standard CIFAR augmentation: :func:`random_crop` then :func:`random_flip`.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    rng : numpy.random.Generator or int
        Draws the offsets, then the flips.
    pad : int
        4 for CIFAR-10.

    Returns
    -------
    ndarray, shape (N, C, H, W), x's dtype
    """
    rng = as_rng(rng)
    return random_flip(random_crop(x, rng, pad), rng)
