"""StylEx explanation metrics: flip rate (sufficiency), factor changes measured by
independent estimators (segmenter / shape classifier on the built-in data), and an
FID-style proxy of how far changed images drift from real ones.

All functions take a ``render(flat_styles [B, S]) -> images`` and estimators
``images -> [B]`` (pure, jittable) and run in blocks of rows on a data mesh (``mesh=``,
default one device; :func:`jaxgan.sharding.map_rows`).
"""
from __future__ import annotations

from typing import Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan.data.tasks import LARGE_SIZE, LOW_HORIZON, RED_HUE, object_redness
from jaxgan.stylex.attfind import apply_attributes
from jaxgan.metrics.frechet import frechet_distance
from jaxgan.classify import load_model
from jaxgan.metrics.features import classifier_penultimate
from jaxgan.nets.classifier import classifier_probs
from jaxgan.nets.segmenter import segmenter_logits
from jaxgan.sharding import map_rows


def batched(fn, x, batch: int = 250, mesh=None):
    """``fn`` (row-wise, jitted) over ``x`` in blocks of ``batch`` rows on ``mesh`` (the last
    padded; default one device; :func:`jaxgan.sharding.map_rows`), concatenated as NumPy."""
    return map_rows(fn, np.asarray(x), batch=batch, mesh=mesh)


def flip_rate(render: Callable, classify: Callable, flat_styles, labels, ranking: Mapping,
              smin, smax, shift: float, k: int = 4, batch: int = 250, mesh=None) -> dict:
    """Sufficiency: the fraction of images whose predicted class flips when the top-``k``
    attributes *toward another class* are changed together.

    An image of class ``y`` gets ``ranking[t][:k]`` of the target class ``t`` (for two
    classes ``t = 1 - y``; otherwise the most frequent other class's list is tried per target
    and the image counts as flipped if any target flips it).

    Args:
      render: ``flat styles [B, S] -> images``; classify: ``images -> logits``.
      flat_styles: ``[N, S]``; labels: ``[N]`` current classes (of the regenerated images).
      ranking: ``{class: [(direction, coordinate, ...), ...]}``.
      smin, smax, shift: as AttFind.
      k: how many attributes.

    Returns:
      ``{'flip_rate', 'per_class': {c: rate}, 'n', 'flipped' [N] bool}``.
    """
    labels = np.asarray(labels)
    fn = jax.jit(lambda s: jnp.argmax(classify(render(s)), -1))
    classes = sorted(ranking)
    flipped = np.zeros(len(labels), bool)
    for y in np.unique(labels):
        idx = np.nonzero(labels == y)[0]
        for t in classes:
            if t == y:
                continue
            changed = np.asarray(apply_attributes(flat_styles[idx], ranking[t][:k], smin, smax,
                                                  shift))
            pred = batched(fn, changed, batch, mesh)
            flipped[idx] |= pred != y
    per_class = {int(c): float(flipped[labels == c].mean()) for c in np.unique(labels)}
    return {"flip_rate": float(flipped.mean()), "per_class": per_class, "n": int(len(labels)),
            "flipped": flipped}


def attribute_factor_changes(render: Callable, estimators: Mapping[str, Callable], flat_styles,
                             attrs, smin, smax, shift: float, thresholds: Mapping[str, float],
                             batch: int = 250, mesh=None) -> list[dict]:
    """What each attribute changes, measured by independent factor estimators.

    For every attribute (direction, coordinate) alone: render the images before/after, apply
    each estimator (``images -> [B]`` continuous estimate, e.g. sun area fraction from the
    segmenter, P(circle) from the shape classifier) and binarise with ``thresholds``.

    Returns:
      per attribute ``{'direction', 'coordinate', 'mean_delta': {factor: float},
      'flip_frac': {factor: fraction of images whose binarised factor changed}}``.
    """
    names = list(estimators)

    @jax.jit
    def factors(s):                     # one render per batch, every estimator on it
        img = render(s)
        return jnp.stack([estimators[k](img) for k in names], -1)         # [B, F]

    def run(flat):
        return batched(factors, flat, batch, mesh).T                      # [F, N]

    before = run(flat_styles)                                              # [F, N]
    out = []
    for a in attrs:
        d, j = int(a[0]), int(a[1])
        after = run(np.asarray(apply_attributes(flat_styles, [(d, j)], smin, smax, shift)))
        rec = {"direction": d, "coordinate": j, "mean_delta": {}, "flip_frac": {}}
        for i, k in enumerate(names):
            t = thresholds[k]
            rec["mean_delta"][k] = float(np.mean(after[i] - before[i]))
            rec["flip_frac"][k] = float(np.mean((after[i] > t) != (before[i] > t)))
        out.append(rec)
    return out


def feature_stats(features):
    """``(mean [D], covariance [D, D])`` of ``[N, D]`` features (float64)."""
    f = np.asarray(features, np.float64)
    return f.mean(0), np.cov(f, rowvar=False)


def frechet_proxy(feature_fn: Callable, real_images, changed_images, batch: int = 250,
                  mesh=None) -> float:
    """FID-style proxy: Fréchet distance between ``feature_fn`` statistics of real images and
    of changed images (e.g. the shape classifier's penultimate features)."""
    fn = jax.jit(feature_fn)
    a = feature_stats(batched(fn, real_images, batch, mesh))
    b = feature_stats(batched(fn, changed_images, batch, mesh))
    return float(frechet_distance(a[0], a[1], b[0], b[1]))


def shapes_estimators(segmenter_path: str, shape_classifier_path: str):
    """Planted-factor estimators for the built-in shapes data (independent of StylEx):
    ``sun_area`` (segmenter sun mask, fraction of pixels), ``object_area`` (object mask),
    ``horizon`` (the sky/ground line's height from the top, from the segmenter's per-row
    majority), ``object_redness`` (hue of the object's mean colour over the segmenter's object
    mask, as :func:`jaxgan.data.tasks.object_redness`; 0 without an object) and ``p_circle``
    (shape classifier, P(circle)), plus the thresholds that binarise them (the task
    definitions' ``LARGE_SIZE ** 2``, ``LOW_HORIZON`` and ``RED_HUE``).

    Returns:
      ``(estimators {name: images -> [B]}, thresholds {name: float}, feature_fn)`` where
      ``feature_fn`` gives the shape classifier's penultimate features (for the proxy).
    """
    seg, seg_vars = load_model(segmenter_path)
    shp, shp_vars = load_model(shape_classifier_path)
    concepts = list(seg.cfg.concepts)
    names = list(shp.cfg.class_names) or ["circle", "square", "triangle"]
    ci = names.index("circle") if "circle" in names else 0

    def seg_area(x, concept):
        p = jax.nn.sigmoid(segmenter_logits(seg, seg_vars, x))          # [B, H, W, C]
        return jnp.mean(p[..., concepts.index(concept)] > 0.5, axis=(1, 2))

    def horizon(x):
        # A row is ground when more of its pixels are ground than sky or sun (the object is
        # ignored, it never spans a row); the horizon is the sky rows' fraction, from the top.
        m = jax.nn.sigmoid(segmenter_logits(seg, seg_vars, x)) > 0.5        # [B, H, W, C]
        ground = jnp.sum(m[..., concepts.index("ground")], axis=2)         # [B, H]
        sky = jnp.sum(m[..., concepts.index("sky")] | m[..., concepts.index("sun")], axis=2)
        return 1.0 - jnp.mean(ground > sky, axis=1)

    def redness(x):
        m = jax.nn.sigmoid(segmenter_logits(seg, seg_vars, x))[..., concepts.index("object")]
        m = (m > 0.5).astype(x.dtype)[..., None]                            # [B, H, W, 1]
        n = jnp.sum(m, axis=(1, 2))                                          # [B, 1]
        rgb = jnp.sum((x + 1.0) / 2.0 * m, axis=(1, 2)) / jnp.maximum(n, 1.0)  # [B, 3]
        return jnp.where(n[:, 0] > 0, object_redness(rgb, jnp), 0.0)

    est = {"sun_area": lambda x: seg_area(x, "sun"),
           "object_area": lambda x: seg_area(x, "object"),
           "horizon": horizon,
           "object_redness": redness,
           "p_circle": lambda x: classifier_probs(shp, shp_vars, x)[:, ci]}
    thr = {"sun_area": 0.004, "object_area": LARGE_SIZE ** 2, "horizon": LOW_HORIZON,
           "object_redness": RED_HUE, "p_circle": 0.5}
    return est, thr, (lambda x: classifier_penultimate(shp, shp_vars, x))
