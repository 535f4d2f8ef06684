"""Interventions on units: ablation, insertion, average causal effect, ablation curves.

With ``r = h(z)`` a layer's feature map, units ``U`` and positions ``P`` (Bau et al. 2019):

* ablation   ``x_a = f((1 - alpha) r)`` on ``U x P`` (``alpha = 1``: set to 0);
* insertion  ``x_i = f(alpha k + (1 - alpha) r)`` on ``U x P`` (``k_u`` the unit's mean
  high activation, :attr:`LayerDissection.high_mean`);
* average causal effect ``delta_{U -> c} = E[s_c(x_i)] - E[s_c(x_a)]`` where ``s_c(x)`` is
  the fraction of the image the segmenter assigns to concept ``c``.

``alpha`` is a scalar or a per-unit vector ``[C]`` (zero outside ``U``), so partial and
optimised interventions (:mod:`jaxgan.dissect.alpha_opt`) use the same functions.
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from jaxgan.dissect.features import feature_shape, position_mask, synthesize_edited, unit_vector


def _alpha(units, alpha, c):
    return unit_vector(units, c) * jnp.asarray(alpha, jnp.float32)          # [C]


def ablate(r, units, alpha=1.0, positions=None):
    """``(1 - alpha) r`` on units ``U`` at positions ``P``; ``r`` elsewhere.

    Args:
      r: ``[N, H, W, C]``.
      units: indices, bool mask or per-unit weights ``[C]``.
      alpha: scalar or ``[C]`` in [0, 1] (1 = full ablation, 0 = identity).
      positions: None (everywhere) or ``[H, W]`` / ``[N, H, W]`` mask (any resolution).

    Returns:
      ``[N, H, W, C]``.
    """
    n, h, w, c = r.shape
    m = position_mask(positions, n, h, w) * _alpha(units, alpha, c)
    return r * (1.0 - m)


def insert(r, units, k, alpha=1.0, positions=None):
    """``alpha k + (1 - alpha) r`` on units ``U`` at positions ``P``; ``r`` elsewhere.

    Args:
      r: ``[N, H, W, C]``.
      units: indices, bool mask or per-unit weights ``[C]``.
      k: ``[C]`` values to insert (the units' mean high activations).
      alpha: scalar or ``[C]`` in [0, 1].
      positions: as :func:`ablate`.

    Returns:
      ``[N, H, W, C]``.
    """
    n, h, w, c = r.shape
    k = jnp.asarray(k, r.dtype)
    if k.shape != (c,):
        raise ValueError(f"insert: k must have shape ({c},), got {k.shape}")
    m = position_mask(positions, n, h, w) * _alpha(units, alpha, c)
    return r + m * (k - r)


def concept_fraction(masks: dict, concept: str):
    """Per-image fraction of pixels in ``concept``: ``[N]`` (bool masks or probabilities)."""
    if concept not in masks:
        raise ValueError(f"segmentation has no concept {concept!r}; it has {sorted(masks)}")
    return jnp.asarray(masks[concept]).astype(jnp.float32).mean((1, 2))


def concept_fractions(segment_fn: Callable, images, concepts) -> dict:
    """``{concept: [N]}`` area fractions of several concepts."""
    masks = segment_fn(images)
    return {c: concept_fraction(masks, c) for c in concepts}


def intervene_images(G, variables, ws, layer, mode: str, units, *, k=None, alpha=1.0,
                     positions=None):
    """Images after ablating (``mode='ablate'``) or inserting (``'insert'``) units.

    Args:
      G, variables, ws: the generator and ws ``[N, num_ws, w_dim]``.
      layer: layer name; units, k, alpha, positions: as :func:`ablate` / :func:`insert`.

    Returns:
      ``[N, R, R, C]``.
    """
    if mode == "ablate":
        fn = lambda r: ablate(r, units, alpha, positions)           # noqa: E731
    elif mode == "insert":
        if k is None:
            raise ValueError("insert needs k (the units' mean high activations)")
        fn = lambda r: insert(r, units, k, alpha, positions)        # noqa: E731
    else:
        raise ValueError(f"mode must be 'ablate' or 'insert', got {mode!r}")
    return synthesize_edited(G, variables, ws, layer, fn)


def average_causal_effect(G, variables, ws, layer, segment_fn: Callable, concept: str, units,
                          k, *, alpha=1.0, positions=None) -> dict:
    """``delta_{U -> c} = E[s_c(x_i)] - E[s_c(x_a)]`` over a batch of ws (pure; jittable).

    Returns:
      dict of scalars: ``delta``, ``inserted`` (E s_c(x_i)), ``ablated`` (E s_c(x_a)).
    """
    xi = intervene_images(G, variables, ws, layer, "insert", units, k=k, alpha=alpha,
                          positions=positions)
    xa = intervene_images(G, variables, ws, layer, "ablate", units, alpha=alpha,
                          positions=positions)
    si = concept_fraction(segment_fn(xi), concept).mean()
    sa = concept_fraction(segment_fn(xa), concept).mean()
    return {"delta": si - sa, "inserted": si, "ablated": sa}


def unit_ace(G, variables, ws_batches, layer, segment_fn: Callable, concept: str, k, *,
             positions=None, effect: str = "ace", progress: bool = True) -> np.ndarray:
    """Causal effect of every unit on its own (all positions by default).

    Args:
      ws_batches: list of ws arrays ``[B, num_ws, w_dim]`` (the expectation's samples).
      k: ``[C]`` mean high activations.
      effect: ``'ace'``: ``E s_c(x_i) - E s_c(x_a)`` (the paper's); ``'ablate'``: the
        removal part ``E s_c(x) - E s_c(x_a)``; ``'insert'``: ``E s_c(x_i) - E s_c(x)``.

    Returns:
      ``[C]`` float64 effect per unit.
    """
    c = int(jnp.asarray(k).shape[0])
    if effect not in ("ace", "ablate", "insert"):
        raise ValueError(f"effect must be 'ace', 'ablate' or 'insert', got {effect!r}")

    @jax.jit
    def one(u, ws):
        units = jax.nn.one_hot(u, c)
        if effect == "ace":
            return average_causal_effect(G, variables, ws, layer, segment_fn, concept, units, k,
                                         positions=positions)["delta"]
        base = concept_fraction(segment_fn(intervene_images(
            G, variables, ws, layer, "ablate", units, alpha=0.0)), concept).mean()
        mode = "ablate" if effect == "ablate" else "insert"
        x = intervene_images(G, variables, ws, layer, mode, units, k=k, positions=positions)
        s = concept_fraction(segment_fn(x), concept).mean()
        return base - s if effect == "ablate" else s - base

    out = np.zeros(c)
    for u in tqdm(range(c), desc=f"ACE {layer} -> {concept}", disable=not progress):
        out[u] = np.mean([float(one(u, ws)) for ws in ws_batches])
    return out


def ablation_curve(G, variables, ws_batches, layer, segment_fn: Callable, concepts, order,
                   counts, *, positions=None) -> dict:
    """Concept areas as more units are ablated, in the given order (the paper's Fig. 4).

    Args:
      ws_batches: list of ws ``[B, num_ws, w_dim]``.
      concepts: concept names to measure.
      order: unit indices, most important first.
      counts: numbers of units to ablate (0 = the unedited images), e.g. ``[0, 1, 2, 4, 8]``.

    Returns:
      ``{'counts': [K], 'area': {concept: [K] mean area fraction},
      'remaining': {concept: [K] area / area at 0 units}}``.
    """
    order = np.asarray(order)
    c_total = feature_shape(G, layer)[2]

    @jax.jit
    def areas(mask, ws):
        x = intervene_images(G, variables, ws, layer, "ablate", mask, positions=positions)
        return concept_fractions(segment_fn, x, concepts)

    res = {c: [] for c in concepts}
    for n in counts:
        mask = jnp.zeros(c_total).at[jnp.asarray(order[:n], jnp.int32)].set(1.0)
        got = [areas(mask, ws) for ws in ws_batches]
        for c in concepts:
            res[c].append(float(np.mean([float(g[c].mean()) for g in got])))
    area = {c: np.asarray(v) for c, v in res.items()}
    remaining = {c: v / v[0] if v[0] > 0 else np.full_like(v, np.nan) for c, v in area.items()}
    return {"counts": np.asarray(counts), "area": area, "remaining": remaining}
