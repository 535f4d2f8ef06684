"""Image processing with the GAN prior: degradation-aware inversion and naive baselines.

Restoration inverts the observed image through a known differentiable degradation ``D``:
``w* = argmin_w dist(D(G(w)), y)`` and returns ``G(w*)`` (mGANprior / in-domain inversion's
applications). Degradations are frozen dataclasses (hashable, so a jitted projector is
reused): :class:`Downsample` (super-resolution), :class:`Grayscale` (colourisation);
inpainting uses the identity with a 0/1 ``pixel_weight`` mask, semantic diffusion a weight map
that favours the pasted patch. Baselines: nearest / bilinear up-sampling, mean-fill.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from jaxgan.invert.projector import ProjectConfig, ProjectionResult, project

LUMA = (0.299, 0.587, 0.114)


@dataclasses.dataclass(frozen=True)
class Downsample:
    """Area down-sampling by an integer ``factor``: ``[N, R, R, C] -> [N, R/f, R/f, C]``."""
    factor: int

    def __post_init__(self):
        if not (isinstance(self.factor, int) and self.factor >= 1):
            raise ValueError(f"Downsample.factor must be an int >= 1, got {self.factor!r}")

    def __call__(self, x):
        n, h, w, c = x.shape
        f = self.factor
        if h % f or w % f:
            raise ValueError(f"Downsample: {h}x{w} is not divisible by {f}")
        return x.reshape(n, h // f, f, w // f, f, c).mean(axis=(2, 4))


@dataclasses.dataclass(frozen=True)
class Grayscale:
    """Luma (ITU-R 601) replicated to all channels: ``[N, H, W, 3] -> [N, H, W, 3]``."""

    def __call__(self, x):
        if x.shape[-1] != 3:
            raise ValueError(f"Grayscale: expected RGB images, got {x.shape[-1]} channels")
        y = jnp.einsum("nhwc,c->nhw", x, jnp.asarray(LUMA, x.dtype))
        return jnp.repeat(y[..., None], 3, axis=-1)


# ----------------------------------------------------------------------------- baselines

def upsample_nearest(x, factor: int):
    """Nearest-neighbour up-sampling ``[N, h, w, C] -> [N, h*f, w*f, C]``."""
    return jnp.repeat(jnp.repeat(jnp.asarray(x), factor, axis=1), factor, axis=2)


def upsample_bilinear(x, factor: int):
    """Bilinear up-sampling (half-pixel centres, edge clamped) ``[N, h, w, C] -> [N, hf, wf, C]``."""
    x = jnp.asarray(x)
    n, h, w, c = x.shape
    return jax.image.resize(x, (n, h * factor, w * factor, c), "bilinear", antialias=False)


def mean_fill(x, mask):
    """Fill the missing pixels (``mask == 0``) with each image's mean observed colour.

    Args:
      x: ``[N, H, W, C]``; mask: ``[N, H, W]`` (1 = observed).
    """
    x, m = jnp.asarray(x), jnp.asarray(mask, x.dtype)[..., None]
    mean = jnp.sum(x * m, (1, 2), keepdims=True) / jnp.maximum(jnp.sum(m, (1, 2), keepdims=True),
                                                               1)
    return x * m + mean * (1 - m)


def psnr(pred, truth):
    """Per-image PSNR in dB for images in [-1, 1] (peak-to-peak 2): ``[N]``."""
    mse = jnp.mean(jnp.square(jnp.asarray(pred) - jnp.asarray(truth)), axis=(1, 2, 3))
    return 10 * jnp.log10(4.0 / jnp.maximum(mse, 1e-12))


# ----------------------------------------------------------------------------- restoration

def restore(G, g, observed, degrade=None, cfg: ProjectConfig = ProjectConfig(space="wplus"), *,
            pixel_weight=None, lp=None, key=None, **project_kw) -> ProjectionResult:
    """Degradation-aware inversion; ``result.images`` is the restored image ``G(w*)``.

    Args:
      G, g: generator; observed: ``[N, h, w, C]`` degraded images in [-1, 1].
      degrade: a degradation (e.g. ``Downsample(4)``, ``Grayscale()``) or None (inpainting).
      cfg: inversion settings; pixel_weight: ``[N, h, w]`` map (mask / diffusion weights).
      lp, key, project_kw: as :func:`jaxgan.invert.projector.project`.
    """
    return project(G, g, observed, cfg, degrade=degrade, pixel_weight=pixel_weight, lp=lp,
                   key=key, **project_kw)


def inpaint(G, g, observed, mask, cfg: ProjectConfig = ProjectConfig(space="wplus"), **kw):
    """Inpainting: fit only the observed pixels (``mask`` ``[N, H, W]``, 1 = observed).

    Returns:
      ``(result, composite)``: the projection (``result.images`` = G(w*)) and the observed
      pixels pasted over it.
    """
    mask = jnp.asarray(mask, jnp.float32)
    res = restore(G, g, observed, None, cfg, pixel_weight=mask, **kw)
    m = mask[..., None]
    return res, observed * m + res.images * (1 - m)


def super_resolve(G, g, low, factor: int, cfg: ProjectConfig = ProjectConfig(space="wplus"),
                  **kw) -> ProjectionResult:
    """Super-resolution of ``low`` ``[N, R/f, R/f, C]`` by ``factor`` through G's prior."""
    return restore(G, g, low, Downsample(factor), cfg, **kw)


def colorize(G, g, gray, cfg: ProjectConfig = ProjectConfig(space="wplus"),
             **kw) -> ProjectionResult:
    """Colourisation of grey images ``[N, R, R, 3]`` (luma in every channel)."""
    return restore(G, g, gray, Grayscale(), cfg, **kw)


def paste(context, patch_images, box):
    """Composite for semantic diffusion: ``patch_images`` cropped to ``box`` pasted into
    ``context``.

    Args:
      context, patch_images: ``[N, R, R, C]``; box: ``(top, left, height, width)`` ints.

    Returns:
      ``(composite [N, R, R, C], patch_mask [N, R, R])``.
    """
    t, l, h, w = box
    n, r1, r2, _ = context.shape
    if not (0 <= t and 0 <= l and h > 0 and w > 0 and t + h <= r1 and l + w <= r2):
        raise ValueError(f"paste: box {box} does not fit in {r1}x{r2} images")
    m = jnp.zeros((n, r1, r2), jnp.float32).at[:, t:t + h, l:l + w].set(1.0)
    return context * (1 - m[..., None]) + patch_images * m[..., None], m


def semantic_diffusion(G, g, composite, patch_mask, context_weight: float = 0.05,
                       cfg: ProjectConfig = ProjectConfig(space="wplus"), **kw):
    """Invert a composite with the patch weighted 1 and the context ``context_weight``, so G
    keeps the patch and re-draws the context to match it (the result blends in)."""
    wmap = jnp.asarray(patch_mask, jnp.float32)
    wmap = wmap + context_weight * (1 - wmap)
    return restore(G, g, composite, None, cfg, pixel_weight=wmap, **kw)
