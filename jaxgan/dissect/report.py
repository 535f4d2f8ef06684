"""Dissection outputs: unit tables (JSON, Markdown) and PNG sheets and curves.

* :func:`write_tables` - per layer, every unit's best concept, IoU, threshold and ``k``
  (``dissection.json``, ``dissection.md``, units sorted by IoU);
* :func:`unit_sheet` - each unit's top-activating samples with the thresholded unit mask
  overlaid (outside the mask darkened, mask outline in red);
* :func:`intervention_sheet` - labelled rows of images (original / ablated / inserted);
* :func:`plot_curves` - concept area remaining vs number of ablated units.
"""
from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan.dissect.characterize import LayerDissection
from jaxgan.dissect.features import sample_ws, synthesize_features
from jaxgan.dissect.stats import upsample_features
from jaxgan.viz.grid import save_image_grid, to_uint8
from jaxgan.viz import manifest as mf


def unit_rows(d: LayerDissection) -> list[dict]:
    """One dict per unit: unit, concept, iou, threshold, high_mean, per-concept IoUs."""
    rows = []
    for u in range(d.iou.shape[0]):
        j = int(d.iou[u].argmax())
        rows.append({"unit": u, "concept": d.concepts[j], "iou": float(d.iou[u, j]),
                     "threshold": d.threshold_for(u), "high_mean": float(d.high_mean[u]),
                     "iou_per_concept": {c: float(v) for c, v in zip(d.concepts, d.iou[u])}})
    return rows


def summary(results: dict[str, LayerDissection], min_iou: float = 0.0) -> dict:
    """Per layer and concept, the best unit and its IoU, plus counts of units above ``min_iou``."""
    out = {}
    for name, d in results.items():
        best = {c: {"unit": int(d.iou[:, j].argmax()), "iou": float(d.iou[:, j].max())}
                for j, c in enumerate(d.concepts)}
        labels = [c for c, v in zip(d.best_concept, d.best_iou) if v >= min_iou]
        out[name] = {"best_unit_per_concept": best,
                     "units_per_concept": {c: labels.count(c) for c in d.concepts}}
    return out


def write_tables(results: dict[str, LayerDissection], out_dir, min_iou: float = 0.04) -> dict:
    """Write ``dissection.json`` and ``dissection.md`` into ``out_dir``.

    Args:
      results: ``{layer: LayerDissection}`` from :func:`jaxgan.dissect.dissect`.
      out_dir: destination folder (created).
      min_iou: units below this IoU are counted as unlabelled in the summary.

    Returns:
      the JSON content.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = {"summary": summary(results, min_iou), "layers": {
        n: {"quantiles": list(d.quantiles or (d.quantile,)), "num_samples": d.num_samples,
            "concepts": list(d.concepts),
            "units": unit_rows(d)} for n, d in results.items()}}
    (out / "dissection.json").write_text(json.dumps(data, indent=1))
    lines = ["# GAN Dissection", ""]
    for n, d in results.items():
        lines += [f"## {n} ({d.iou.shape[0]} units, {d.num_samples} samples, top quantiles "
                  f"{list(d.quantiles or (d.quantile,))})", "", "| unit | concept | IoU | threshold | k |",
                  "|---:|---|---:|---:|---:|"]
        for r in sorted(unit_rows(d), key=lambda r: -r["iou"]):
            lines.append(f"| {r['unit']} | {r['concept']} | {r['iou']:.3f} | "
                         f"{r['threshold']:.3f} | {r['high_mean']:.3f} |")
        lines.append("")
    (out / "dissection.md").write_text("\n".join(lines))
    return data


def overlay(images, masks, dim: float = 0.35):
    """Images with a mask overlaid: outside darkened, outline red. ``[N,H,W,3]`` in [-1, 1]."""
    x = (np.asarray(images, np.float32) + 1) / 2
    m = np.asarray(masks, bool)[..., None]
    out = np.where(m, x, x * dim)
    pad = np.pad(m[..., 0], ((0, 0), (1, 1), (1, 1)))
    inner = pad[:, 1:-1, 1:-1] & pad[:, :-2, 1:-1] & pad[:, 2:, 1:-1] & pad[:, 1:-1, :-2] \
        & pad[:, 1:-1, 2:]
    edge = (m[..., 0] & ~inner)[..., None]
    out = np.where(edge, np.array([1.0, 0.1, 0.1]), out)
    return out * 2 - 1


def top_images(G, variables, d: LayerDissection, units, key, truncation_psi: float = 1.0):
    """Regenerate each unit's top samples and their thresholded masks.

    Returns:
      ``(images [len(units), K, R, R, 3], masks bool [len(units), K, R, R])``.
    """
    units = np.asarray(units, int)
    idx = d.top_samples[units]                                        # [n, K]
    ws = sample_ws(G, variables, key, jnp.asarray(idx.reshape(-1)), truncation_psi)
    img, f = synthesize_features(G, variables, ws, (d.layer,))
    r = f[d.layer].astype(jnp.float32)
    up = upsample_features(r, img.shape[1])
    n, k = idx.shape
    sel = np.repeat(units, k)
    act = np.asarray(up)[np.arange(n * k), :, :, sel]                 # [n*K, R, R]
    t = np.asarray([d.threshold_for(int(u)) for u in sel], np.float32)
    masks = act > t[:, None, None]
    return (np.asarray(img).reshape(n, k, *img.shape[1:]), masks.reshape(n, k, *masks.shape[1:]))


def _figure_grid(rows, row_labels, col_labels, path, title=None):
    import matplotlib  # noqa: PLC0415
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415
    nr, nc = len(rows), max(len(r) for r in rows)
    fig, axes = plt.subplots(nr, nc, figsize=(1.3 * nc + 1.2, 1.3 * nr + 0.4), squeeze=False)
    for i, row in enumerate(rows):
        for j in range(nc):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            if j < len(row):
                ax.imshow(to_uint8(row[j]), interpolation="nearest")
            else:
                ax.axis("off")
            if j == 0 and row_labels:
                ax.set_ylabel(row_labels[i], fontsize=7)
            if i == 0 and col_labels and j < len(col_labels):
                ax.set_title(col_labels[j], fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def unit_sheet(G, variables, d: LayerDissection, units, path, key,
               truncation_psi: float = 1.0) -> Path:
    """PNG: one row per unit (label: unit, concept, IoU), its top samples with mask overlay.

    Each unit's first four overlays are also saved alone, 2 x 2, as
    ``<path stem>/unit<u>.png`` (a square thumbnail for the explorer).
    """
    imgs, masks = top_images(G, variables, d, units, key, truncation_psi)
    rows = [list(overlay(i, m)) for i, m in zip(imgs, masks)]
    for u, row in zip(units, rows):
        one = unit_image_path(path, int(u))
        one.parent.mkdir(parents=True, exist_ok=True)
        save_image_grid(np.stack(row[:4]), one, ncols=2)
    labels = [f"u{u} {d.concepts[int(d.iou[u].argmax())]}\nIoU {d.iou[u].max():.2f}"
              for u in units]
    return _figure_grid(rows, labels, None, path, title=f"{d.layer}: top-activating samples")


def unit_image_path(sheet_path, unit: int) -> Path:
    """Where :func:`unit_sheet` puts one unit's overlays: ``<sheet stem>/unit<u>.png``."""
    p = Path(sheet_path)
    return p.parent / p.stem / f"unit{unit:03d}.png"


def intervention_sheet(rows: dict, path, title=None) -> Path:
    """PNG of labelled image rows, e.g. ``{'original': x, 'ablated': xa, 'inserted': xi}``."""
    return _figure_grid([list(np.asarray(v)) for v in rows.values()], list(rows), None, path,
                        title)


def plot_curves(curves: dict, path, title: str = "", ylabel: str = "concept area remaining"):
    """Line plot of ``{label: (x [K], y [K])}`` to a PNG."""
    import matplotlib  # noqa: PLC0415
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    for label, (x, y) in curves.items():
        ax.plot(np.asarray(x), np.asarray(y), marker="o", ms=3, label=label)
    ax.set_xlabel("units ablated")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def to_jsonable(obj):
    """NumPy/JAX arrays and scalars inside dicts/lists -> JSON-serialisable Python values."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, (np.ndarray, jax.Array)):
        return np.asarray(obj).tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def manifest_sections(out_dir) -> list[dict]:
    """Explorer sections of a dissection folder (what :func:`jaxgan.dissect.runner.run_dissection`
    wrote): unit tables and overlay galleries (facets ``layer``, ``concept``), per studied
    concept the ablation curves (chart + plot), the removal/insertion figures and sheets.

    Args:
      out_dir: the dissection output folder (reads ``dissection.json``, ``study_*.json``).

    Returns:
      the section list (:mod:`jaxgan.viz.manifest`).
    """
    out = Path(out_dir)
    data = json.loads((out / "dissection.json").read_text())
    rows, sheets = [], []
    for layer, ld in data["layers"].items():
        sheet = out / f"units_{layer}.png"
        for r in sorted(ld["units"], key=lambda r: -r["iou"]):
            img = unit_image_path(sheet, r["unit"])
            cell = None
            if img.is_file():   # an overlay row: click for the unit's IoU with every concept
                cell = mf.item(img.relative_to(out).as_posix(),
                               caption=f"{layer} u{r['unit']}: {r['concept']} IoU {r['iou']:.2f}",
                               details={"unit": r["unit"], "iou": round(r["iou"], 4),
                                        "threshold": round(r["threshold"], 4),
                                        "k (mean activation above t)": round(r["high_mean"], 4),
                                        "iou per concept": {c: round(v, 4) for c, v in
                                                            r["iou_per_concept"].items()}})
            rows.append({"cells": [layer, r["unit"], r["concept"], round(r["iou"], 4),
                                   round(r["threshold"], 4), round(r["high_mean"], 4), cell],
                         "facets": {"layer": layer, "concept": r["concept"]}})
        if sheet.is_file():
            sheets.append(mf.plot(sheet.name, caption=f"{layer}: top units by IoU, top-activating "
                                                      "samples, unit mask outlined in red"))
    sections = [mf.table(["layer", "unit", "concept", "IoU", "threshold", "k",
                          "top-activating samples, unit mask in red"], rows,
                         title="Every unit's best concept (sorted by IoU; click an overlay for "
                               "its IoU with every concept)")]
    sections += sheets
    for p in sorted(out.glob("study_*.json")):
        c = p.stem[len("study_"):]
        st = json.loads(p.read_text())
        series = [{"name": f"units by {how}", "x": st[f"curve_{how}"]["counts"],
                   "y": st[f"curve_{how}"]["remaining"][c]}
                  for how in ("ace", "iou", "alpha") if f"curve_{how}" in st]
        sections.append(mf.chart(series, title=f"{c}: area remaining as units of "
                                               f"{st['layer']} are ablated",
                                 x_label="units ablated", y_label=f"{c} area remaining"))
        rem = st.get("removal", {})
        ins = st.get("insertion", {})
        cells = [c, st["layer"], round(st["best_iou"], 4), rem.get("units"), rem.get("ranking"),
                 None if "removed" not in rem else round(rem["removed"], 4),
                 ", ".join(f"{o} {v:+.3f}" for o, v in rem.get("other_change", {}).items()) or None,
                 None if "after" not in ins else round(float(np.mean(ins["after"])), 4)]
        sections.append(mf.table(["concept", "layer", "best IoU", "units ablated", "ranking",
                                  "share removed", "other concepts (relative change)",
                                  "inserted (mean area after)"], [cells],
                                 title=f"{c}: causal study"))
        for name, what in ((f"curve_{c}.png", "ablation curves"),
                           (f"ablate_{c}.png", "original vs units ablated"),
                           (f"insert_{c}.png", "units inserted into the sky")):
            if (out / name).is_file():
                sections.append(mf.plot(name, caption=f"{c}: {what}"))
    return sections


def write_manifest(out_dir) -> Path:
    """``out_dir/explorer.json`` for a dissection folder (see :func:`manifest_sections`)."""
    out = Path(out_dir)
    data = json.loads((out / "dissection.json").read_text())
    desc = ", ".join(f"`{n}` ({len(d['units'])} units, {d['num_samples']} samples)"
                     for n, d in data["layers"].items())
    return mf.write_manifest(out, "dissection", "GAN Dissection", manifest_sections(out),
                             description=f"Layers {desc}. Step 1: choose a layer, step 2: a "
                                         "concept.", facets=["layer", "concept"])
