"""What an inversion run writes: per-image metrics and the target | reconstruction |
difference sheet."""
from __future__ import annotations

from pathlib import Path

import jax.numpy as jnp
import numpy as np

#: First index of the held-out shapes scenes (training sets use indices below it).
SHAPES_HELDOUT_START = 1_000_000


def reconstruction_metrics(x, rec, lp=None) -> dict[str, np.ndarray]:
    """Per-image MSE, PSNR (dB, images in [-1, 1]) and LPIPS (when ``lp`` is given).

    Args:
      x, rec: ``[N, H, W, C]`` targets and reconstructions in [-1, 1].
      lp: LPIPS network (``jaxgan.nets.lpips.load_lpips``); images < 16 px are up-sampled.

    Returns:
      ``{'mse': [N], 'psnr': [N], 'lpips': [N] (if lp)}`` NumPy float64.
    """
    x, rec = np.asarray(x, np.float64), np.asarray(rec, np.float64)
    if x.shape != rec.shape or x.ndim != 4:
        raise ValueError(f"reconstruction_metrics: shapes {x.shape} and {rec.shape} differ or "
                         "are not [N, H, W, C]")
    mse = np.mean(np.square(x - rec), axis=(1, 2, 3))
    out = {"mse": mse, "psnr": 10 * np.log10(4.0 / np.maximum(mse, 1e-12))}
    if lp is not None:
        from jaxgan.nets.lpips import lpips_distance, min_resolution  # noqa: PLC0415
        a, b = jnp.asarray(x, jnp.float32), jnp.asarray(rec, jnp.float32)
        if a.shape[-1] == 1:
            a, b = jnp.repeat(a, 3, -1), jnp.repeat(b, 3, -1)
        need = min_resolution(lp.net)
        res = None if min(a.shape[1:3]) >= need else need
        out["lpips"] = np.asarray(lpips_distance(lp, a, b, resolution=res), np.float64)
    return out


def difference_images(x, rec):
    """``|x - rec|`` (channel mean, grey) mapped to [-1, 1] for display: ``[N, H, W, C]``."""
    d = np.mean(np.abs(np.asarray(x) - np.asarray(rec)), axis=-1, keepdims=True)  # [N,H,W,1] in [0,2]
    return np.repeat(d - 1.0, np.asarray(x).shape[-1], axis=-1)


def save_sheet(x, rec, path) -> Path:
    """One row per image: target | reconstruction | difference (PNG)."""
    from jaxgan.viz.grid import save_image_grid  # noqa: PLC0415
    x, rec = np.asarray(x, np.float32), np.asarray(rec, np.float32)
    rows = np.stack([x, rec, difference_images(x, rec)], axis=1)      # [N, 3, H, W, C]
    return save_image_grid(rows.reshape(-1, *x.shape[1:]), path, ncols=3)
