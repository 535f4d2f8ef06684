"""Distances and regularisers of GAN inversion (pure functions of arrays).

* :func:`image_distance` -- the reconstruction distance: LPIPS (VGG16 with the real LPIPS
  weights, ``jaxgan.nets.lpips``) plus pixel L1 / L2, each with a configurable weight, and an
  optional per-pixel weight map (inpainting masks, semantic diffusion).
* :func:`noise_regularizer` -- the multi-scale autocorrelation penalty on optimised noise maps
  of NVIDIA's ``projector.py``; :func:`normalize_noise` -- its per-step renormalisation.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from jaxgan.nets.lpips import lpips_distance


@dataclasses.dataclass(frozen=True)
class DistanceWeights:
    """Weights of the reconstruction distance (frozen, hashable: a static jit argument).

    Attributes:
      lpips: weight of LPIPS (VGG16 unless another net is loaded); 0 disables it.
      l1: weight of the mean absolute pixel difference (images in [-1, 1]).
      l2: weight of the mean squared pixel difference.
      lpips_resolution: resolution both images are area-resized / up-sampled to before
        LPIPS (None: as they are).
    """
    lpips: float = 1.0
    l1: float = 0.0
    l2: float = 0.0
    lpips_resolution: int | None = None

    def __post_init__(self):
        for name in ("lpips", "l1", "l2"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and v >= 0):
                raise ValueError(f"DistanceWeights.{name} must be a number >= 0, got {v!r}")
        if self.lpips == self.l1 == self.l2 == 0:
            raise ValueError("DistanceWeights: all weights are 0 (nothing to minimise)")


def _to_rgb(x):
    return jnp.repeat(x, 3, axis=-1) if x.shape[-1] == 1 else x


def image_distance(x, y, weights: DistanceWeights, lp=None, pixel_weight=None):
    """Per-image reconstruction distance.

    Args:
      x, y: images ``[N, H, W, C]`` in [-1, 1] (C = 1 or 3; grey images are tiled for LPIPS).
      weights: the :class:`DistanceWeights`.
      lp: the LPIPS network from ``jaxgan.nets.lpips.load_lpips`` (needed when
        ``weights.lpips > 0``).
      pixel_weight: optional ``[N, H, W]`` (or ``[H, W]``) non-negative map: pixel terms are
        weighted means with it, LPIPS compares ``pixel_weight * x`` with ``pixel_weight * y``.

    Returns:
      ``[N]`` distances (weighted sum of the enabled terms).
    """
    if x.shape != y.shape or x.ndim != 4:
        raise ValueError(f"image_distance: x and y must both be [N, H, W, C], got {x.shape} "
                         f"and {y.shape}")
    total = jnp.zeros(x.shape[0], jnp.float32)
    if pixel_weight is None:
        wmap = jnp.ones(x.shape[:3], jnp.float32)
    else:
        wmap = jnp.broadcast_to(jnp.asarray(pixel_weight, jnp.float32), x.shape[:3])
    wsum = jnp.maximum(jnp.sum(wmap, axis=(1, 2)) * x.shape[-1], 1e-8)          # [N]
    d = x - y                                                                   # [N, H, W, C]
    if weights.l1:
        total = total + weights.l1 * jnp.sum(wmap[..., None] * jnp.abs(d), (1, 2, 3)) / wsum
    if weights.l2:
        total = total + weights.l2 * jnp.sum(wmap[..., None] * jnp.square(d), (1, 2, 3)) / wsum
    if weights.lpips:
        if lp is None:
            raise ValueError("image_distance: weights.lpips > 0 needs the LPIPS network `lp` "
                             "(jaxgan.nets.lpips.load_lpips('vgg16'))")
        xm, ym = x, y
        if pixel_weight is not None:
            xm, ym = x * wmap[..., None], y * wmap[..., None]
        total = total + weights.lpips * lpips_distance(
            lp, _to_rgb(xm), _to_rgb(ym), resolution=weights.lpips_resolution)
    return total


def _avg_pool2(n):
    h, w = n.shape[-2:]
    return n.reshape(*n.shape[:-2], h // 2, 2, w // 2, 2).mean(axis=(-3, -1))


def noise_regularizer(noise):
    """NVIDIA ``projector.py``'s noise regulariser for one image's noise maps.

    For every map: at each scale (the map, then 2x2 average-pooled while larger than 8x8) add
    ``mean(n * roll(n, 1, x))**2 + mean(n * roll(n, 1, y))**2``.

    Args:
      noise: pytree of ``[H, W]`` maps (one image).

    Returns:
      scalar.
    """
    reg = jnp.float32(0)
    for n in jax.tree_util.tree_leaves(noise):
        if n.ndim != 2:
            raise ValueError(f"noise_regularizer: expected [H, W] maps, got {n.shape}")
        while True:
            reg = reg + jnp.mean(n * jnp.roll(n, 1, axis=1)) ** 2
            reg = reg + jnp.mean(n * jnp.roll(n, 1, axis=0)) ** 2
            if n.shape[0] <= 8:
                break
            n = _avg_pool2(n)
    return reg


def normalize_noise(noise):
    """Zero mean, unit second moment per map (``projector.py`` after every step)."""
    def one(n):
        n = n - jnp.mean(n)
        return n * jax.lax.rsqrt(jnp.mean(jnp.square(n)))
    return jax.tree.map(one, noise)
