"""Differentiable image edits on device: zoom, shift, rotation, colour, brightness.

Each edit of the steerability paper (Jahanian, Chai, Isola) is one *linear* path through a
7-parameter transform ``p = [log2_zoom, shift_x, shift_y, angle_deg, d_r, d_g, d_b]``:
edit ``e`` at strength ``alpha`` (natural units: log2 of the zoom factor, pixels, degrees,
image units) is ``p = alpha * EDITS[e].coef``. One function, :func:`transform`, applies any
``p`` to a batch, so several edits vmap together (one row of ``p`` per edit).

Geometry: an output pixel at ``u`` (pixel-centre coordinates relative to the image
centre, x right, y down) samples the input at ``R(-angle) (u - shift) / 2**log2_zoom``
with bilinear interpolation (content is scaled by ``2**log2_zoom``, moved by ``shift``,
rotated clockwise on screen by ``angle``). Pixels whose source lies outside the image
are invalid: the returned mask is 0 there (the loss ignores them). Colour: ``d_rgb`` is
added per channel; the result is clipped to [-1, 1].
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

NUM_PARAMS = 7


class Edit(NamedTuple):
    """One edit: ``coef`` [7] (parameters per natural unit), ``max_alpha`` (natural units
    of the training range ``[-max_alpha, max_alpha]``), ``unit`` (for plots)."""
    coef: tuple[float, ...]
    max_alpha: float
    unit: str


#: Built-in edits. ``zoom`` is log-scaled: alpha = log2(zoom), so [-2, 2] is 0.25x ... 4x.
EDITS: dict[str, Edit] = {
    "zoom": Edit((1, 0, 0, 0, 0, 0, 0), 2.0, "log2 zoom"),
    "shift_x": Edit((0, 1, 0, 0, 0, 0, 0), 8.0, "pixels"),
    "shift_y": Edit((0, 0, 1, 0, 0, 0, 0), 8.0, "pixels"),
    "rotate": Edit((0, 0, 0, 1, 0, 0, 0), 45.0, "degrees"),
    "color_r": Edit((0, 0, 0, 0, 1, 0, 0), 1.0, "red offset"),
    "color_g": Edit((0, 0, 0, 0, 0, 1, 0), 1.0, "green offset"),
    "color_b": Edit((0, 0, 0, 0, 0, 0, 1), 1.0, "blue offset"),
    "brightness": Edit((0, 0, 0, 0, 1, 1, 1), 1.0, "offset"),
}


def get_edit(name: str, max_alpha: float | None = None) -> Edit:
    """Look up an edit, optionally with another training range.

    Raises:
      ValueError: unknown name or a non-positive ``max_alpha``.
    """
    if name not in EDITS:
        raise ValueError(f"unknown edit {name!r}; choose from {sorted(EDITS)}")
    e = EDITS[name]
    if max_alpha is not None:
        if not max_alpha > 0:
            raise ValueError(f"max_alpha of edit {name!r} must be > 0, got {max_alpha}")
        e = e._replace(max_alpha=float(max_alpha))
    return e


def edit_table(names, max_alphas=None) -> tuple[np.ndarray, np.ndarray]:
    """``(coef [K, 7], max_alpha [K])`` for a list of edit names (vmapped training)."""
    max_alphas = [None] * len(names) if max_alphas is None else list(max_alphas)
    if len(max_alphas) != len(names):
        raise ValueError(f"{len(max_alphas)} max_alphas for {len(names)} edits")
    edits = [get_edit(n, m) for n, m in zip(names, max_alphas)]
    return (np.asarray([e.coef for e in edits], np.float32),
            np.asarray([e.max_alpha for e in edits], np.float32))


def _bilinear(img, x, y):
    """Sample ``img [H, W, C]`` at float pixel indices ``x, y [H, W]`` (edge-clamped)."""
    h, w = img.shape[:2]
    x0, y0 = jnp.floor(x), jnp.floor(y)
    fx, fy = (x - x0)[..., None], (y - y0)[..., None]
    x0, y0 = x0.astype(jnp.int32), y0.astype(jnp.int32)

    def at(yy, xx):
        return img[jnp.clip(yy, 0, h - 1), jnp.clip(xx, 0, w - 1)]

    top = at(y0, x0) * (1 - fx) + at(y0, x0 + 1) * fx
    bot = at(y0 + 1, x0) * (1 - fx) + at(y0 + 1, x0 + 1) * fx
    return top * (1 - fy) + bot * fy


def _transform_one(img, p):
    """One image ``[H, W, C]`` and parameters ``p [7]`` -> (image, valid mask [H, W])."""
    h, w = img.shape[:2]
    v, u = jnp.meshgrid(jnp.arange(h) + 0.5 - h / 2, jnp.arange(w) + 0.5 - w / 2, indexing="ij")
    scale = jnp.exp2(p[0])
    theta = jnp.deg2rad(p[3])
    c, s = jnp.cos(theta), jnp.sin(theta)
    du, dv = u - p[1], v - p[2]
    # Inverse rotation R(-theta) of the shifted coordinates, then the inverse zoom.
    su, sv = (c * du + s * dv) / scale, (-s * du + c * dv) / scale
    x, y = su + w / 2 - 0.5, sv + h / 2 - 0.5
    valid = (x >= -0.5) & (x <= w - 0.5) & (y >= -0.5) & (y <= h - 0.5)
    out = _bilinear(img, x, y)
    out = out + p[4:4 + img.shape[-1]] if img.shape[-1] == 3 else out + jnp.mean(p[4:7])
    return jnp.clip(out, -1.0, 1.0), valid.astype(img.dtype)


def transform(images, params):
    """Apply transform parameters to a batch.

    Args:
      images: ``[N, H, W, C]`` float in [-1, 1] (C = 3, or 1: the mean colour offset).
      params: ``[N, 7]`` (one row per image) or ``[7]`` (all images).

    Returns:
      ``(edited [N, H, W, C], valid [N, H, W])`` (valid: 1 where the source pixel exists).
    """
    images = jnp.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"transform: images must be [N, H, W, C], got {images.shape}")
    params = jnp.asarray(params, images.dtype)
    if params.shape == (NUM_PARAMS,):
        params = jnp.broadcast_to(params, (images.shape[0], NUM_PARAMS))
    if params.shape != (images.shape[0], NUM_PARAMS):
        raise ValueError(f"transform: params must be [{NUM_PARAMS}] or [N={images.shape[0]}, "
                         f"{NUM_PARAMS}], got {params.shape}")
    return jax.vmap(_transform_one)(images, params)


def apply_edit(name: str, images, alpha):
    """Edit ``name`` at ``alpha`` (natural units; scalar or ``[N]``) -> (edited, valid)."""
    coef = jnp.asarray(get_edit(name).coef, jnp.float32)
    alpha = jnp.broadcast_to(jnp.asarray(alpha, jnp.float32), (images.shape[0],))
    return transform(images, alpha[:, None] * coef)


def masked_l2(x, y, mask):
    """Per-sample mean squared error over valid pixels: ``[N]``.

    Args:
      x, y: ``[N, H, W, C]``; mask: ``[N, H, W]`` in {0, 1}.
    """
    m = mask[..., None]
    num = jnp.sum(m * jnp.square(x - y), axis=(1, 2, 3))
    return num / jnp.maximum(jnp.sum(m, axis=(1, 2, 3)) * x.shape[-1], 1.0)
