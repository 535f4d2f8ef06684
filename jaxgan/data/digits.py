"""Real 8x8 handwritten digits (scikit-learn's ``load_digits``), upsampled.

The 1797 images ship inside scikit-learn (no download); pixel values 0..16 (ink high,
so digits are light on a dark background), labels 0..9.

Upsampling is separable and exact NumPy: ``'bilinear'`` (default; triangle kernel,
half-pixel centres, edges clamped - the same as ``jax.image.resize(..., 'linear')`` /
PIL bilinear when upsampling) or ``'lanczos'`` (Lanczos-3, rows renormalised, result
clipped), then ``round(v * 255 / 16)`` to uint8.

Split (fixed, stratified, RNG-free so it is identical on every machine and NumPy
version): within each class, images are taken in their ``load_digits`` order and every
5th one (rank ``% 5 == 4``) goes to ``'test'``, the rest to ``'train'``: 1442 train,
355 test (~80/20 in every class).
"""
from __future__ import annotations

import numpy as np

NUM_DIGITS = 1797
_METHODS = ("bilinear", "lanczos")


def _kernel(method: str, x: np.ndarray) -> np.ndarray:
    if method == "bilinear":
        return np.maximum(0.0, 1.0 - np.abs(x))
    x = np.asarray(x, np.float64)
    return np.where(np.abs(x) < 3, np.sinc(x) * np.sinc(x / 3), 0.0)


def resize_matrix(src: int, dst: int, method: str = "bilinear") -> np.ndarray:
    """1-D resampling matrix for upsampling ``src`` samples to ``dst``.

    Args:
      src: input length.
      dst: output length (>= src).
      method: ``'bilinear'`` or ``'lanczos'`` (Lanczos-3).

    Returns:
      float64 [dst, src], rows summing to 1 (``out = A @ x``); taps that fall outside
      ``[0, src)`` are folded onto the nearest edge sample.
    """
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    centre = (np.arange(dst) + 0.5) * (src / dst) - 0.5          # output centres, input coords
    taps = np.floor(centre)[:, None] + np.arange(-2, 4)[None, :]  # 6 taps cover Lanczos-3
    w = _kernel(method, centre[:, None] - taps)
    a = np.zeros((dst, src))
    np.add.at(a, (np.repeat(np.arange(dst), taps.shape[1]),
                  np.clip(taps, 0, src - 1).astype(int).ravel()), w.ravel())
    return a / a.sum(axis=1, keepdims=True)


def split_indices(labels: np.ndarray, split: str) -> np.ndarray:
    """Indices of the fixed stratified split (see module docstring).

    Args:
      labels: int [N] class of every image, in ``load_digits`` order.
      split: ``'train'``, ``'test'`` or ``'all'``.

    Returns:
      int64 [M] sorted indices into ``labels``.
    """
    if split not in ("train", "test", "all"):
        raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}")
    labels = np.asarray(labels)
    if split == "all":
        return np.arange(len(labels), dtype=np.int64)
    rank = np.empty(len(labels), np.int64)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rank[idx] = np.arange(len(idx))
    is_test = rank % 5 == 4
    return np.flatnonzero(is_test if split == "test" else ~is_test).astype(np.int64)


def load_digits_dataset(split: str = "train", resolution: int = 32, channels: int = 1, *,
                        method: str = "bilinear") -> dict:
    """Load scikit-learn's digits as uint8 images.

    Args:
      split: ``'train'`` (1442), ``'test'`` (355) or ``'all'`` (1797).
      resolution: output side, a power of two in 8..256 (16 or 32 typical).
      channels: 1 (grey) or 3 (grey replicated to RGB).
      method: upsampling kernel, ``'bilinear'`` or ``'lanczos'``.

    Returns:
      dict: ``image`` uint8 [N, R, R, channels], ``label`` int64 [N] (0..9),
      ``index`` int64 [N] (position in ``sklearn.datasets.load_digits()``).
    """
    r = resolution
    if not isinstance(r, (int, np.integer)) or not (8 <= r <= 256 and r & (r - 1) == 0):
        raise ValueError(f"resolution must be a power of two in 8..256, got {resolution!r}")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels!r}")
    from sklearn.datasets import load_digits  # noqa: PLC0415 (slow import, only when used)
    d = load_digits()
    idx = split_indices(d.target, split)
    src = d.images[idx].astype(np.float64)                       # [N, 8, 8] in 0..16
    a = resize_matrix(8, int(r), method)
    up = np.einsum("ij,njk,lk->nil", a, src, a)                   # [N, R, R]
    img = np.clip(np.rint(up * (255.0 / 16.0)), 0, 255).astype(np.uint8)[..., None]
    if channels == 3:
        img = np.repeat(img, 3, axis=-1)
    return {"image": img, "label": d.target[idx].astype(np.int64), "index": idx}
