"""Pixel conversions between uint8 images and the library's float32 images in [-1, 1]
(NumPy in -> NumPy out, JAX in -> JAX out); re-exported by :mod:`jaxgan.data`."""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np


def _is_numpy(x) -> bool:
    return isinstance(x, (np.ndarray, np.generic, list, tuple, int, float))


def to_float(images):
    """uint8 images -> float32 in [-1, 1] (``x / 127.5 - 1``).

    Args:
      images: uint8 array of any shape, e.g. ``[N, H, W, C]`` (NumPy or JAX).

    Returns:
      float32 array of the same shape and array type (NumPy in -> NumPy out).
    """
    if _is_numpy(images):
        return np.asarray(images).astype(np.float32) / np.float32(127.5) - np.float32(1)
    return jnp.asarray(images).astype(jnp.float32) / 127.5 - 1.0


def to_uint8(images):
    """Float images in [-1, 1] -> uint8, rounding and clipping.

    ``clip(floor((x + 1) * 127.5 + 0.5), 0, 255)``: round-half-up, the same values as the
    official ``clip(x * 127.5 + 128, 0, 255).astype(uint8)``; exact inverse of
    :func:`to_float` on uint8 inputs.

    Args:
      images: float array of any shape, e.g. ``[N, H, W, C]`` (NumPy or JAX).

    Returns:
      uint8 array of the same shape and array type.
    """
    if _is_numpy(images):
        x = np.asarray(images, dtype=np.float32)
        return np.clip(np.floor((x + 1) * 127.5 + 0.5), 0, 255).astype(np.uint8)
    x = jnp.asarray(images, dtype=jnp.float32)
    return jnp.clip(jnp.floor((x + 1) * 127.5 + 0.5), 0, 255).astype(jnp.uint8)
