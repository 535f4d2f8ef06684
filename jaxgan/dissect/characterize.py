"""Dissection (characterisation): which units of which layers match which concepts.

:func:`dissect` makes two streaming passes over the same ``num_samples`` generated
images (sample ``i`` from ``z_i = normal(fold_in(key, i))``):

1. per layer and unit, the exact ``1 - q`` quantile ``t_u`` of the unit's activations
   upsampled (bilinear) to the segmentation resolution, and ``k_u``, its mean above
   ``t_u`` (:mod:`jaxgan.dissect.stats`);
2. the IoU of every unit's thresholded map ``r_u^ > t_u`` with every concept's
   segmentation ``s_c(x)``, pooled over all pixels, and each unit's top-activating samples
   (by the maximum of its map).

Several quantiles ``q_1, ..., q_Q`` may be given (one pass computes them all): the IoU
table is then ``max_q IoU_{u,c}(t_u(q))``, a per-(unit, concept) threshold chosen from
the grid as the paper's ``t_{u,c} = argmax_t`` (a top-1% mask cannot overlap a concept
covering 40% of the image by more than IoU 0.025). ``k_u`` and the primary
``thresholds`` are those of ``q_1``.

Any *segmentation function* ``images [N, R, R, C] -> {concept: [N, S, S] bool or prob}``
works: ``functools.partial(jaxgan.nets.segmenter.segment, module, variables)``, the exact
masks of the shapes renderer, a rule.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from jaxgan.dissect.features import check_layer, feature_shape, sample_ws, synthesize_features
from jaxgan.dissect.stats import (IoUAccumulator, iou_counts, masks_array, quantile_init,
                                  quantile_result, quantile_update, upsample_features)


@dataclasses.dataclass
class LayerDissection:
    """Dissection of one layer (NumPy arrays; ``U`` units, ``C`` concepts).

    Attributes:
      layer: e.g. ``'b16.conv0'``.
      concepts: concept names (columns).
      quantile: the primary top quantile ``q_1``.
      num_samples: images used.
      thresholds: ``[U]`` ``t_u`` at ``q_1``.
      high_mean: ``[U]`` ``k_u``, mean activation above ``t_u`` at ``q_1``.
      iou: ``[U, C]`` best IoU over the quantile grid.
      intersection, unit_area, concept_area: the pooled pixel counts behind ``iou_q``
        (``[Q, U, C]``, ``[Q, U]``, ``[C]``).
      quantiles: ``(q_1, ..., q_Q)``.
      thresholds_q: ``[Q, U]``; iou_q: ``[Q, U, C]``.
      top_samples: int ``[U, K]`` sample indices with the highest per-image max activation.
      top_scores: ``[U, K]`` those maxima.
    """
    layer: str
    concepts: tuple[str, ...]
    quantile: float
    num_samples: int
    thresholds: np.ndarray
    high_mean: np.ndarray
    iou: np.ndarray
    intersection: np.ndarray
    unit_area: np.ndarray
    concept_area: np.ndarray
    top_samples: np.ndarray
    top_scores: np.ndarray
    quantiles: tuple[float, ...] = ()
    thresholds_q: np.ndarray | None = None
    iou_q: np.ndarray | None = None

    @property
    def best_concept(self) -> list[str]:
        """Per unit, the concept with the highest IoU."""
        return [self.concepts[j] for j in self.iou.argmax(1)]

    @property
    def best_iou(self) -> np.ndarray:
        """Per unit, its highest IoU ``[U]``."""
        return self.iou.max(1)

    def units_for(self, concept: str) -> np.ndarray:
        """Unit indices sorted by IoU with ``concept``, best first."""
        if concept not in self.concepts:
            raise ValueError(f"unknown concept {concept!r}; have {list(self.concepts)}")
        return np.argsort(-self.iou[:, self.concepts.index(concept)], kind="stable")

    def threshold_for(self, unit: int, concept: str | None = None) -> float:
        """The threshold giving ``unit`` its best IoU with ``concept`` (default its best one)."""
        j = int(self.iou[unit].argmax()) if concept is None else self.concepts.index(concept)
        if self.iou_q is None:
            return float(self.thresholds[unit])
        return float(self.thresholds_q[int(self.iou_q[:, unit, j].argmax()), unit])


def _merge_top(idx, score, new_idx, new_score, k):
    """Keep the ``k`` best (index, score) per unit; arrays ``[U, *]``."""
    i = np.concatenate([idx, new_idx], 1)
    s = np.concatenate([score, new_score], 1)
    order = np.argsort(-s, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(i, order, 1), np.take_along_axis(s, order, 1)


def dissect(G, variables, segment_fn: Callable, layers, *, num_samples: int = 1000,
            batch_size: int = 50, key=None, quantile: float = 0.01, truncation_psi: float = 1.0,
            concepts=None, seg_resolution: int | None = None, top_k: int = 8,
            jit_segment: bool = True, progress: bool = True) -> dict[str, LayerDissection]:
    """Characterise every unit of the given layers by IoU with every concept.

    Args:
      G, variables: the generator.
      segment_fn: images -> ``{concept: [N, S, S]}``.
      layers: layer name or names (see :func:`jaxgan.dissect.features.feature_names`).
      num_samples: images per pass (the same images in both passes).
      batch_size: images per step.
      key: ``jax.random`` key for the latents (default ``key(0)``).
      quantile: top quantile ``q`` for the thresholds (0.01 = top 1% of activations), or a
        sequence of them (the first is primary; IoU takes the best per unit and concept).
      truncation_psi: truncation of the sampled ws.
      concepts: concept names to score, in this order (default: all the segmenter returns,
        sorted by name).
      seg_resolution: size ``S`` of the segmentation masks (default: the image size).
      top_k: top-activating samples kept per unit.
      jit_segment: jit ``segment_fn`` (set False for non-traceable, e.g. NumPy, functions).
      progress: show tqdm bars.

    Returns:
      ``{layer: LayerDissection}``.
    """
    layers = (layers,) if isinstance(layers, str) else tuple(layers)
    if not layers:
        raise ValueError("dissect: no layers given")
    for name in layers:
        check_layer(G, name)
    if num_samples < 1 or batch_size < 1:
        raise ValueError(f"num_samples and batch_size must be >= 1, got {num_samples}, {batch_size}")
    key = jax.random.key(0) if key is None else key
    S = int(seg_resolution or G.cfg.img_resolution)
    seg = jax.jit(segment_fn) if jit_segment else segment_fn

    @jax.jit
    def features(idx):
        ws = sample_ws(G, variables, key, idx, truncation_psi)
        img, feats = synthesize_features(G, variables, ws, layers)
        up = {n: upsample_features(f.astype(jnp.float32), S) for n, f in feats.items()}
        return img, up, {n: f.max((1, 2)) for n, f in feats.items()}

    starts = list(range(0, num_samples, batch_size))
    n_total = num_samples * S * S
    qlist = (float(quantile),) if np.ndim(quantile) == 0 else tuple(float(q) for q in quantile)
    if not qlist:
        raise ValueError("dissect: empty quantile list")
    units = {n: feature_shape(G, n)[2] for n in layers}
    qs = {n: quantile_init(units[n], n_total, max(qlist)) for n in layers}
    for s in tqdm(starts, desc="dissect: thresholds", disable=not progress):
        idx = jnp.arange(s, min(s + batch_size, num_samples))
        _, up, _ = features(idx)
        qs = {n: quantile_update(qs[n], up[n].reshape(-1, units[n])) for n in layers}
    th = {n: [quantile_result(qs[n], n_total, q) for q in qlist] for n in layers}
    del qs

    acc, tops = {}, {}
    for s in tqdm(starts, desc="dissect: IoU", disable=not progress):
        idx = np.arange(s, min(s + batch_size, num_samples))
        img, up, mx = features(jnp.asarray(idx))
        masks = seg(img)
        if concepts is None:
            concepts = tuple(sorted(masks))
        m = masks_array(masks, concepts)
        if m.shape[1:3] != (S, S):
            raise ValueError(f"segment_fn returned {m.shape[1]}x{m.shape[2]} masks; "
                             f"pass seg_resolution={m.shape[1]}")
        for n in layers:
            acc.setdefault(n, [IoUAccumulator(units[n], len(concepts)) for _ in qlist])
            for a, (t, _) in zip(acc[n], th[n]):
                a.add(iou_counts(up[n], jnp.asarray(t), m))
            sc = np.asarray(mx[n]).T                                            # [U, B]
            bi = np.broadcast_to(idx[None], sc.shape)
            prev = tops.get(n, (np.zeros((units[n], 0), int), np.zeros((units[n], 0))))
            tops[n] = _merge_top(*prev, bi, sc, top_k)
    out = {}
    for n in layers:
        iou_q = np.stack([a.iou() for a in acc[n]])
        out[n] = LayerDissection(
            layer=n, concepts=tuple(concepts), quantile=qlist[0], num_samples=num_samples,
            thresholds=th[n][0][0], high_mean=th[n][0][1], iou=iou_q.max(0),
            intersection=np.stack([a.inter for a in acc[n]]),
            unit_area=np.stack([a.unit_area for a in acc[n]]),
            concept_area=acc[n][0].concept_area, top_samples=tops[n][0],
            top_scores=tops[n][1].astype(np.float32), quantiles=qlist,
            thresholds_q=np.stack([t for t, _ in th[n]]), iou_q=iou_q)
    return out
