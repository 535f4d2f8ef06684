"""What an inversion run writes: per-image metrics and the target | reconstruction |
difference sheet."""
from __future__ import annotations

from pathlib import Path

import jax.numpy as jnp
import numpy as np
from jaxgan.viz.grid import save_image, save_image_grid
from jaxgan.viz import manifest as mf
from jaxgan.nets.lpips import lpips_distance, min_resolution

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
    x, rec = np.asarray(x, np.float32), np.asarray(rec, np.float32)
    rows = np.stack([x, rec, difference_images(x, rec)], axis=1)      # [N, 3, H, W, C]
    return save_image_grid(rows.reshape(-1, *x.shape[1:]), path, ncols=3)


def write_manifest(out_dir, x, rec, names, metrics: dict, curves=None,
                   title: str = "Inversion: target | reconstruction") -> Path:
    """``out_dir/explorer.json`` for an inversion: per image a ``target | reconstruction |
    difference`` PNG (``images/<name>.png``, with the target and reconstruction alone as
    extra images) whose details hold its metrics and final loss, the sheet, a table of the
    per-image and mean metrics and, given ``curves``, the loss curves.

    Args:
      out_dir: the inversion's output folder (``sheet.png`` there is shown when present).
      x, rec: ``[N, H, W, C]`` targets and reconstructions in [-1, 1].
      names: ``N`` image names (paths below the input folder without the extension; a
        sub-folder ``cats/img01`` is kept: ``images/cats/0000_img01.png``).
      metrics: ``{name: [N]}`` from :func:`reconstruction_metrics`.
      curves: optional ``[N, steps]`` objective per optimisation step.
      title: the result's title.

    Returns:
      the manifest's path.
    """
    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    x, rec = np.asarray(x, np.float32), np.asarray(rec, np.float32)
    if x.shape != rec.shape or len(names) != len(x):
        raise ValueError(f"write_manifest: {len(names)} names for targets {x.shape} and "
                         f"reconstructions {rec.shape}")
    diff = difference_images(x, rec)
    curves = None if curves is None else np.asarray(curves, np.float64)
    items, rows = [], []
    for i, nm in enumerate(names):
        sub, _, base = str(nm).rpartition("/")       # 'cats/img01': images/cats/0000_img01
        stem = f"images/{sub + '/' if sub else ''}{i:04d}_{base}"
        (out / stem).parent.mkdir(parents=True, exist_ok=True)
        save_image_grid(np.stack([x[i], rec[i], diff[i]]), out / f"{stem}.png", ncols=3)
        save_image(x[i], out / f"{stem}_target.png")
        save_image(rec[i], out / f"{stem}_reconstruction.png")
        m = {k: round(float(v[i]), 5) for k, v in metrics.items()}
        if curves is not None:
            m["final loss"] = round(float(curves[i, -1]), 5)
        items.append(mf.item(f"{stem}.png", caption=f"{nm}: PSNR {m.get('psnr', float('nan')):.1f} dB",
                             details={"image": nm, **m},
                             extra_images=[(f"{stem}_target.png", "target"),
                                           (f"{stem}_reconstruction.png", "reconstruction")]))
        rows.append([nm, *m.values()])
    keys = list(metrics) + (["final loss"] if curves is not None else [])
    mean = ["mean", *(round(float(np.mean([r[j + 1] for r in rows])), 5) for j in range(len(keys)))]
    sections = [mf.gallery(items, title="target | reconstruction | difference (click for "
                                        "the image's metrics)"),
                mf.table(["image", *keys], rows + [mean], title="Reconstruction metrics")]
    if curves is not None and curves.ndim == 2 and curves.shape[1] > 1:
        steps = list(range(1, curves.shape[1] + 1))
        sections.append(mf.chart([{"name": nm, "x": steps, "y": curves[i].tolist()}
                                  for i, nm in enumerate(names)], title="Objective per step",
                                 x_label="step", y_label="loss"))
    if (out / "sheet.png").is_file():
        sections.append(mf.plot("sheet.png", caption="all images: target | reconstruction | "
                                                     "difference"))
    return mf.write_manifest(out, "inversion", title, sections,
                             description=f"{len(names)} image(s) inverted.")
