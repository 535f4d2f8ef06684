"""Image conversion and grids: jaxgan images (``[N, H, W, C]`` float in [-1, 1]) to PNG.

The float -> uint8 conversion is the official one (stylegan2-ada-pytorch
``generate.py``): ``clip(img * 127.5 + 128, 0, 255)`` truncated to ``uint8``.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image


def to_uint8(images) -> np.ndarray:
    """Float images in [-1, 1] -> uint8 as the official ``generate.py``.

    Args:
      images: array of any shape (e.g. ``[N, H, W, C]`` or ``[H, W, C]``).

    Returns:
      ``uint8`` array of the same shape.
    """
    x = np.asarray(images, dtype=np.float32) * 127.5 + 128
    return np.clip(x, 0, 255).astype(np.uint8)


def _pil_image(img_hwc_uint8: np.ndarray):
    c = img_hwc_uint8.shape[-1]
    if c == 1:
        return Image.fromarray(img_hwc_uint8[..., 0], "L")
    if c in (3, 4):
        return Image.fromarray(img_hwc_uint8, "RGB" if c == 3 else "RGBA")
    raise ValueError(f"cannot write an image with {c} channels (expected 1, 3 or 4)")


def save_image(image_hwc, path) -> Path:
    """Write one image ``[H, W, C]`` (float in [-1, 1] or uint8) as a PNG.

    Args:
      image_hwc: the image; float arrays are converted with :func:`to_uint8`.
      path: destination file.

    Returns:
      ``path`` as a :class:`~pathlib.Path`.
    """
    a = np.asarray(image_hwc)
    if a.dtype != np.uint8:
        a = to_uint8(a)
    path = Path(path)
    _pil_image(a).save(path)
    return path


def make_grid(images_nhwc, ncols: int | None = None) -> np.ndarray:
    """Tile images row-major into one ``uint8`` image (empty cells black).

    Args:
      images_nhwc: ``[N, H, W, C]`` float in [-1, 1] (or uint8).
      ncols: images per row; default ``ceil(sqrt(N))``.

    Returns:
      ``[rows * H, ncols * W, C]`` uint8.
    """
    a = np.asarray(images_nhwc)
    if a.ndim != 4 or a.shape[0] == 0:
        raise ValueError(f"make_grid: expected [N, H, W, C] with N >= 1, got shape {a.shape}")
    if a.dtype != np.uint8:
        a = to_uint8(a)
    n, h, w, c = a.shape
    ncols = max(1, min(int(ncols or math.ceil(math.sqrt(n))), n))
    rows = math.ceil(n / ncols)
    grid = np.zeros((rows * ncols, h, w, c), np.uint8)
    grid[:n] = a
    return grid.reshape(rows, ncols, h, w, c).transpose(0, 2, 1, 3, 4).reshape(
        rows * h, ncols * w, c)


def save_image_grid(images_nhwc, path, ncols: int | None = None) -> Path:
    """Write ``[N, H, W, C]`` images (float in [-1, 1]) as one PNG grid.

    Args:
      images_nhwc: the images.
      path: destination file.
      ncols: images per row; default ``ceil(sqrt(N))``.

    Returns:
      ``path`` as a :class:`~pathlib.Path`.
    """
    return save_image(make_grid(images_nhwc, ncols), path)
