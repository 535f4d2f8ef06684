"""Evaluation of an adapted generator: sample quality in the target domain and source identity.

* **FD to the target**: Fréchet distance of classifier features (``fd_classifier``, the
  committed shapes classifier by default) between generated images and held-out target-domain
  images (scenes never used for training).
* **FD of colour statistics** (``fd_colour``): the same distance on 12 features per image
  (mean and standard deviation of R, G, B in the top and bottom halves: sky vs ground). On a
  weak source G the classifier FD is dominated by what the G cannot draw (small objects)
  rather than by the domain; this one measures the domain (palette) itself.
* **Mask IoU source vs adapted**: the segmenter's masks (sky, ground, object, sun) of the
  source G's image and of the adapted G's image *for the same latent*, pooled over images
  per concept, averaged over concepts. A domain whose pixels the segmenter does not know is
  first mapped back by its exact inverse (``'inverted'``: ``-x``); other domains are
  segmented as they are. The same IoU of *shuffled* pairs (different latents) is the
  chance level the adapted IoU must clear.
"""
from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan.metrics.frechet import frechet_distance
from jaxgan.metrics.stats import FeatureStats
from jaxgan.nets.segmenter import iou_counts, iou_from_counts, segment
from jaxgan.data import to_float
from jaxgan.data.shapes import render_domain, render_shapes
from jaxgan.domain.mix import generator_fn

LAYOUT_CONCEPTS = ("sky", "ground", "object", "sun")
#: Exact pixel inverses of the built-in domains (``[-1, 1]`` images), for the segmenter.
TO_SOURCE = {"inverted": lambda x: -x}


def to_source_fn(domain: str):
    """The map that brings ``domain`` images back to the segmenter's (source) domain."""
    return TO_SOURCE.get(domain or "", lambda x: x)


def target_images(domain: str, n: int, resolution: int = 32, seed: int = 12345):
    """Held-out target-domain images ``[n, R, R, 3]`` float32 in [-1, 1] (``seed`` differs
    from every training seed) and their true masks ``{concept: bool [n, R, R]}``."""
    d = (render_domain(n, resolution, seed, domain=domain) if domain
         else render_shapes(n, resolution, seed))
    return to_float(d["image"]), {c: d[f"mask_{c}"] for c in LAYOUT_CONCEPTS}


def image_stats(net, images, batch_size: int = 100) -> FeatureStats:
    """Feature statistics of images ``[N, R, R, C]`` under a :class:`FeatureNet`."""
    fn = jax.jit(net.fn)
    st = FeatureStats()
    for s in range(0, len(images), batch_size):
        st.append(np.asarray(fn(net.params, jnp.asarray(images[s:s + batch_size]))))
    return st


def colour_features(images):
    """``[N, R, R, 3] -> [N, 12]``: mean and std of each channel in the top / bottom half."""
    x = np.asarray(images, np.float64)
    h = x.shape[1] // 2
    parts = [x[:, :h], x[:, h:]]
    return np.concatenate([f(p, axis=(1, 2)) for p in parts for f in (np.mean, np.std)], axis=1)


def colour_stats(images) -> FeatureStats:
    """:class:`FeatureStats` of :func:`colour_features`."""
    st = FeatureStats()
    st.append(colour_features(images))
    return st


def fd(st_a: FeatureStats, st_b: FeatureStats) -> float:
    """Fréchet distance between two :class:`FeatureStats`."""
    return frechet_distance(*st_a.mean_cov(), *st_b.mean_cov())


def generate(G, g_vars, z, batch_size: int = 100):
    """Images ``[N, R, R, C]`` of latents ``z`` (const noise, no truncation), batched."""
    fn = generator_fn(G, 1.0)
    return np.concatenate([np.asarray(fn(g_vars, z[s:s + batch_size]))
                           for s in range(0, len(z), batch_size)])


def layout_masks(seg, images, to_source=lambda x: x, batch_size: int = 100,
                 concepts=LAYOUT_CONCEPTS):
    """Segmenter masks ``{concept: bool [N, R, R]}`` of images (after ``to_source``)."""
    module, variables = seg
    fn = jax.jit(partial(segment, module, variables))
    out = {c: [] for c in concepts}
    for s in range(0, len(images), batch_size):
        m = fn(to_source(jnp.asarray(images[s:s + batch_size])))
        for c in concepts:
            out[c].append(np.asarray(m[c]))
    return {c: np.concatenate(v) for c, v in out.items()}


def mask_iou(masks_a: dict, masks_b: dict) -> tuple[float, dict]:
    """Pooled per-concept IoU of two mask sets of the same images, and their mean."""
    return iou_from_counts(iou_counts(masks_a, masks_b))


def shuffled_iou(masks_a: dict, masks_b: dict, seed: int = 0, per_concept: bool = False):
    """Chance level: IoU of ``masks_a`` against ``masks_b`` of *other* latents (a
    derangement by a fixed rotation of a random permutation)."""
    n = len(next(iter(masks_a.values())))
    perm = np.random.default_rng(seed).permutation(n)
    shift = np.roll(perm, 1)
    idx = np.empty(n, np.int64)
    idx[perm] = shift
    out = mask_iou(masks_a, {c: m[idx] for c, m in masks_b.items()})
    return out[1] if per_concept else out[0]


def evaluate_adapted(G, g_src, g_adapted, *, net, target_stats: FeatureStats, seg, domain: str,
                     num: int = 500, key=None, src_cache: dict | None = None,
                     target_colour: FeatureStats | None = None) -> dict:
    """FD to the target and mask IoU against the source for one adapted generator.

    Args:
      G: generator module; g_src / g_adapted: source and adapted variables.
      net: feature net (:func:`jaxgan.metrics.features.classifier_features`).
      target_stats: statistics of held-out target images.
      seg: ``(module, variables)`` of the segmenter.
      domain: the target domain's name (for :func:`to_source_fn`).
      num: latents evaluated; key: their PRNG key.
      src_cache: dict reused across calls for the source's images/masks.

    Returns:
      ``{'fd_target', 'fd_colour', 'mask_iou', 'mask_iou_per_concept', 'mask_iou_shuffled',
      'mask_iou_shuffled_per_concept', 'layout_iou', 'layout_iou_shuffled', 'sky_corr',
      'images'}``
      (``layout_*``: mean over sky and ground, the layout a weak G draws reliably).
    """
    key = jax.random.key(0) if key is None else key
    z = jax.random.normal(key, (num, G.cfg.z_dim))
    cache = {} if src_cache is None else src_cache
    if "masks" not in cache:
        cache["images"] = generate(G, g_src, z)
        cache["masks"] = layout_masks(seg, cache["images"])
        cache["fd_target"] = fd(image_stats(net, cache["images"]), target_stats)
        if target_colour is not None:
            cache["fd_colour"] = fd(colour_stats(cache["images"]), target_colour)
    imgs = generate(G, g_adapted, z)
    masks = layout_masks(seg, imgs, to_source_fn(domain))
    miou, per = mask_iou(cache["masks"], masks)
    shuf = shuffled_iou(cache["masks"], masks, per_concept=True)
    return {"fd_target": fd(image_stats(net, imgs), target_stats),
            "fd_colour": fd(colour_stats(imgs), target_colour) if target_colour is not None
            else float("nan"),
            "mask_iou": miou, "mask_iou_per_concept": per,
            "mask_iou_shuffled": shuffled_iou(cache["masks"], masks),
            "mask_iou_shuffled_per_concept": shuf,
            "layout_iou": float(np.mean([per["sky"], per["ground"]])),
            "layout_iou_shuffled": float(np.mean([shuf["sky"], shuf["ground"]])),
            "sky_corr": sky_fraction_corr(cache["masks"], masks),
            "images": imgs}


def sky_fraction_corr(masks_a: dict, masks_b: dict) -> float:
    """Pearson correlation over latents of the sky area (fraction of pixels) in the source
    and adapted images: 0 for unrelated layouts (shuffled pairs), 1 for the same horizon.
    Unlike the pooled IoU it is not inflated by the common prior "sky on top"."""
    fa = np.asarray(masks_a["sky"], np.float64).mean(axis=(1, 2))
    fb = np.asarray(masks_b["sky"], np.float64).mean(axis=(1, 2))
    return float(np.corrcoef(fa, fb)[0, 1])
