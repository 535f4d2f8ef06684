"""Per-concept causal study: rank units by ACE, ablation curves (IoU vs ACE order, the
paper's Fig. 4), removal of a concept by its top-k ACE units, and insertion at an empty
region ("draw a sun in the sky").

All samples here are *held out* from the dissection pass: sample ``i`` uses
``z = normal(fold_in(key, i))`` with a key different from the dissection key.
"""
from __future__ import annotations

from typing import Callable

import jax.numpy as jnp
import numpy as np

from jaxgan.dissect.characterize import LayerDissection
from jaxgan.dissect.features import feature_shape, sample_ws
from jaxgan.dissect.intervene import ablation_curve, intervene_images, unit_ace


def ws_batches(G, variables, key, num_samples: int, batch_size: int,
               truncation_psi: float = 1.0) -> list:
    """Latent batches ``[B, num_ws, w_dim]`` of samples ``0 .. num_samples - 1`` under ``key``."""
    return [sample_ws(G, variables, key, jnp.arange(s, min(s + batch_size, num_samples)),
                      truncation_psi) for s in range(0, num_samples, batch_size)]


def default_counts(max_units: int) -> list[int]:
    """0, 1, 2, 3, 4, 6, 8, 12, 16, ... up to ``max_units``."""
    out, n = [0], 1
    while n <= max_units:
        out.append(n)
        n = n + 1 if n < 4 else int(n * 1.5)
    return out if out[-1] == max_units else out + [max_units]


def concept_study(G, variables, segment_fn: Callable, d: LayerDissection, concept: str, *,
                  key, num_samples: int = 64, batch_size: int = 32, max_units: int = 16,
                  concepts=None, truncation_psi: float = 1.0, effect: str = "ace",
                  counts=None, progress: bool = True) -> dict:
    """ACE per unit, unit orders by IoU and by ACE, and both ablation curves.

    Args:
      G, variables: the generator.
      segment_fn: images -> ``{concept: [N, S, S]}`` (bool or probabilities).
      d: the layer's dissection (``k`` and the IoU order).
      concept: the concept studied.
      key: latent key of the held-out samples.
      num_samples, batch_size: held-out samples for ACE and curves.
      max_units: longest ablation.
      concepts: concepts whose areas the curves track (default ``d.concepts``).
      effect: the per-unit effect ranking units (see :func:`jaxgan.dissect.unit_ace`).
      counts: curve points (default :func:`default_counts` up to ``max_units``).

    Returns:
      dict: ``ace [U]``, ``order_ace``, ``order_iou``, ``curve_ace`` / ``curve_iou`` (see
      :func:`jaxgan.dissect.intervene.ablation_curve`).
    """
    concepts = tuple(concepts or d.concepts)
    if concept not in concepts:
        concepts = concepts + (concept,)
    batches = ws_batches(G, variables, key, num_samples, batch_size, truncation_psi)
    ace = unit_ace(G, variables, batches, d.layer, segment_fn, concept, d.high_mean,
                   effect=effect, progress=progress)
    order_ace = np.argsort(-ace, kind="stable")
    order_iou = d.units_for(concept)
    counts = default_counts(min(max_units, len(ace))) if counts is None else sorted(set(counts))
    return {"layer": d.layer, "concept": concept, "ace": ace, "order_ace": order_ace,
            "order_iou": order_iou,
            "curve_ace": ablation_curve(G, variables, batches, d.layer, segment_fn, concepts,
                                        order_ace, counts),
            "curve_iou": ablation_curve(G, variables, batches, d.layer, segment_fn, concepts,
                                        order_iou, counts)}


def removal_effect(curve: dict, concept: str, n_units: int, others, min_area: float = 0.01) -> dict:
    """From an ablation curve: fraction of ``concept`` removed and the other concepts'
    relative area changes after ablating ``n_units`` units.

    Concepts covering less than ``min_area`` of the unedited images are listed under
    ``absent`` instead (a relative change of a near-empty area is meaningless).
    """
    counts = list(np.asarray(curve["counts"]))
    if n_units not in counts:
        raise ValueError(f"{n_units} units not on the curve (counts {counts})")
    j = counts.index(n_units)
    rem, area = curve["remaining"], curve["area"]
    others = [c for c in others if c != concept]
    return {"units": n_units, "removed": float(1 - rem[concept][j]),
            "other_change": {c: float(rem[c][j] - 1) for c in others if area[c][0] >= min_area},
            "absent": [c for c in others if area[c][0] < min_area]}


def find_empty_region(free, size: int, stride: int = 1):
    """A ``size x size`` window lying entirely inside ``free``, closest to its centre.

    Args:
      free: bool ``[H, W]`` (e.g. sky and no other concept).
      size: window side in pixels.
      stride: window corners on multiples of this (e.g. image / layer resolution, so the
        window covers whole feature-map cells).

    Returns:
      bool ``[H, W]`` window mask, or None if no window fits.
    """
    f = np.asarray(free, bool)
    h, w = f.shape
    if size > min(h, w):
        return None
    c = np.pad(np.cumsum(np.cumsum(f.astype(np.int64), 0), 1), ((1, 0), (1, 0)))
    s = c[size:, size:] - c[:-size, size:] - c[size:, :-size] + c[:-size, :-size]
    ok = s == size * size
    ok &= (np.arange(ok.shape[0]) % stride == 0)[:, None] & (np.arange(ok.shape[1]) % stride == 0)
    ys, xs = np.nonzero(ok)
    if len(ys) == 0:
        return None
    cy, cx = ys.mean(), xs.mean()
    i = int(np.argmin((ys - cy) ** 2 + (xs - cx) ** 2))
    out = np.zeros((h, w), bool)
    out[ys[i]:ys[i] + size, xs[i]:xs[i] + size] = True
    return out


def insertion_study(G, variables, segment_fn: Callable, layer: str, units, k, concept: str, ws,
                    *, region_size: int = 8, free_concept: str = "sky",
                    blockers=("object", "sun"), margin: int = 2) -> dict:
    """Insert ``units`` at an empty ``free_concept`` region of each image; measure ``concept``.

    For each image, a ``region_size`` square (rounded up to whole cells of the layer's
    grid, corners on that grid) is placed where (after dilating the blockers by ``margin``
    pixels) only ``free_concept`` is; images without such a place are skipped.

    Args:
      G, variables, segment_fn: generator and segmentation function.
      layer, units, k: the layer, units to turn on and their values ``[C]``.
      concept: the concept expected to appear.
      ws: ``[N, num_ws, w_dim]``.
      region_size, free_concept, blockers, margin: where to draw.

    Returns:
      dict: ``used`` (indices of images with a region), ``regions`` bool ``[n, R, R]``,
      ``before`` / ``after`` (concept fraction inside the region, ``[n]``),
      ``after_outside`` / ``before_outside`` (outside it), ``original`` / ``inserted`` images.
    """
    x = np.asarray(intervene_images(G, variables, ws, layer, "ablate", units, alpha=0.0))
    m = {c: np.asarray(v) > 0.5 if np.asarray(v).dtype != bool else np.asarray(v)
         for c, v in segment_fn(jnp.asarray(x)).items()}
    blocked = np.zeros(m[free_concept].shape, bool)
    for b in blockers:
        if b in m:
            blocked |= m[b]
    if margin:
        from scipy.ndimage import binary_dilation  # noqa: PLC0415
        blocked = np.stack([binary_dilation(b, iterations=margin) for b in blocked])
    stride = max(x.shape[1] // feature_shape(G, layer)[0], 1)
    size = -(-region_size // stride) * stride
    regions, used = [], []
    for i in range(len(x)):
        reg = find_empty_region(m[free_concept][i] & ~blocked[i], size, stride)
        if reg is not None:
            regions.append(reg)
            used.append(i)
    if not used:
        raise ValueError(f"no image has an empty {region_size}px {free_concept!r} region")
    used = np.asarray(used)
    regions = np.stack(regions)
    xi = np.asarray(intervene_images(G, variables, ws[used], layer, "insert", units, k=k,
                                     positions=jnp.asarray(regions)))
    after = np.asarray(segment_fn(jnp.asarray(xi))[concept]).astype(np.float32)
    before = m[concept][used].astype(np.float32)
    area = regions.sum((1, 2))
    out_area = (~regions).sum((1, 2))
    return {"used": used, "regions": regions,
            "before": (before * regions).sum((1, 2)) / area,
            "after": (after * regions).sum((1, 2)) / area,
            "before_outside": (before * ~regions).sum((1, 2)) / out_area,
            "after_outside": (after * ~regions).sum((1, 2)) / out_area,
            "original": x[used], "inserted": xi}
