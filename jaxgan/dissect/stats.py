"""Streaming dissection statistics: per-unit top-quantile thresholds and unit-concept IoU.

Thresholds (:func:`quantile_init` / :func:`quantile_update` / :func:`quantile_result`):
``t_u`` is the ``1 - q`` quantile of unit ``u``'s (upsampled) activations over every pixel
of every sample. It is computed *exactly*, streaming: when the total count ``n`` is known
in advance only the ``m = ceil((n - 1) q) + 1`` largest values per unit can influence
it, so each batch is merged into a running per-unit top-``m`` buffer (``lax.top_k``).
The result equals ``numpy.quantile(values, 1 - q, axis=0)`` (linear interpolation, the
NumPy default) up to float rounding - there is no estimation error; the cost is memory
``units x m`` floats (e.g. 64 units, q = 0.01, 2000 samples at 32x32: 1.3 M floats).
The same buffer gives ``k_u``, the unit's mean activation above ``t_u`` (what insertion
sets a unit to).

IoU (:func:`iou_counts`): ``IoU_{u,c} = sum |(r_u^ > t_u) & s_c| / sum |(r_u^ > t_u) | s_c|``
over all pixels of all samples, accumulated from per-batch integer counts.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class TopQuantile(NamedTuple):
    """Running state: ``top [U, m]`` largest values seen per unit (descending, -inf padded)
    and ``count`` values seen per unit so far."""
    top: jax.Array
    count: jax.Array


def quantile_keep(n_total: int, q: float) -> int:
    """Values per unit to keep for an exact ``1 - q`` quantile of ``n_total`` values."""
    if not 0.0 < q < 1.0:
        raise ValueError(f"quantile q must be in (0, 1), got {q}")
    if n_total < 1:
        raise ValueError(f"n_total must be >= 1, got {n_total}")
    return min(n_total, math.ceil((n_total - 1) * q) + 1)


def quantile_init(num_units: int, n_total: int, q: float) -> TopQuantile:
    """Empty state for ``num_units`` units and ``n_total`` values per unit."""
    m = quantile_keep(n_total, q)
    return TopQuantile(jnp.full((num_units, m), -jnp.inf, jnp.float32), jnp.zeros((), jnp.int32))


@jax.jit
def quantile_update(state: TopQuantile, values) -> TopQuantile:
    """Merge a batch of values ``[M, U]`` (rows = pixels, columns = units) into the state."""
    if values.ndim != 2 or values.shape[1] != state.top.shape[0]:
        raise ValueError(f"values must be [M, {state.top.shape[0]}], got {values.shape}")
    both = jnp.concatenate([state.top, values.astype(jnp.float32).T], axis=1)
    top, _ = jax.lax.top_k(both, state.top.shape[1])
    return TopQuantile(top, state.count + values.shape[0])


def quantile_result(state: TopQuantile, n_total: int, q: float):
    """Thresholds ``t [U]`` (``numpy.quantile(x, 1 - q)``) and means above them ``k [U]``.

    Raises:
      ValueError: the state did not see exactly ``n_total`` values per unit.
    """
    if int(state.count) != n_total:
        raise ValueError(f"quantile state saw {int(state.count)} values per unit, "
                         f"expected n_total={n_total}")
    top = np.asarray(state.top, np.float64)                 # [U, m] descending
    idx = (n_total - 1) * (1.0 - q)                         # ascending virtual index (NumPy)
    lo = math.floor(idx)
    hi = min(lo + 1, n_total - 1)
    g = idx - lo
    a, b = top[:, n_total - 1 - lo], top[:, n_total - 1 - hi]
    t = np.where(g >= 0.5, b - (b - a) * (1 - g), a + (b - a) * g)
    above = top > t[:, None]
    k = np.where(above.any(1), (top * above).sum(1) / np.maximum(above.sum(1), 1), top[:, 0])
    return t.astype(np.float32), k.astype(np.float32)


def upsample_features(r, size: int):
    """Bilinear upsampling of a feature map ``[N, h, w, U] -> [N, size, size, U]``."""
    n, h, w, u = r.shape
    if (h, w) == (size, size):
        return r
    return jax.image.resize(r, (n, size, size, u), "bilinear")


def masks_array(masks: dict, concepts) -> jax.Array:
    """``{concept: [N, S, S]}`` -> float32 ``[N, S, S, C]`` in ``concepts`` order (probabilities
    are thresholded at 0.5)."""
    missing = [c for c in concepts if c not in masks]
    if missing:
        raise ValueError(f"segmentation has no concept(s) {missing}; it has {sorted(masks)}")
    out = []
    for c in concepts:
        m = jnp.asarray(masks[c])
        out.append(m if m.dtype == jnp.bool_ else m > 0.5)
    return jnp.stack(out, -1).astype(jnp.float32)


@jax.jit
def iou_counts(act_up, thresholds, masks):
    """Per-batch counts for IoU.

    Args:
      act_up: ``[N, S, S, U]`` upsampled unit activations.
      thresholds: ``[U]``.
      masks: float/bool ``[N, S, S, C]`` concept masks.

    Returns:
      ``(intersection [U, C], unit_area [U], concept_area [C])`` int32 pixel counts.
    """
    a = (act_up > thresholds).astype(jnp.float32)
    m = masks.astype(jnp.float32)
    inter = jnp.einsum("nhwu,nhwc->uc", a, m)
    return (jnp.round(inter).astype(jnp.int32), a.sum((0, 1, 2)).astype(jnp.int32),
            m.sum((0, 1, 2)).astype(jnp.int32))


class IoUAccumulator:
    """Host-side int64 sums of :func:`iou_counts` over batches (exact for any dataset size)."""

    def __init__(self, num_units: int, num_concepts: int):
        self.inter = np.zeros((num_units, num_concepts), np.int64)
        self.unit_area = np.zeros(num_units, np.int64)
        self.concept_area = np.zeros(num_concepts, np.int64)

    def add(self, counts) -> None:
        """Add one batch's ``(intersection, unit_area, concept_area)``."""
        i, ua, ca = (np.asarray(x, np.int64) for x in counts)
        self.inter += i
        self.unit_area += ua
        self.concept_area += ca

    def iou(self) -> np.ndarray:
        """``[U, C]`` IoU (0 where the union is empty)."""
        union = self.unit_area[:, None] + self.concept_area[None, :] - self.inter
        return np.where(union > 0, self.inter / np.maximum(union, 1), 0.0)
