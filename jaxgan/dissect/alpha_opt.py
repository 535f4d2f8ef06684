"""Optimised partial interventions: ``alpha* = argmin_alpha -delta_{alpha -> c} + lam ||alpha||_2``.

``alpha in [0, 1]^C`` weights every unit of a layer; ``x_a = f((1 - alpha) r)``,
``x_i = f(alpha k + (1 - alpha) r)`` at positions ``P`` (:mod:`jaxgan.dissect.intervene`),
and ``delta = E[s_c(x_i)] - E[s_c(x_a)]`` with *soft* segmentations (probabilities, so
the objective is differentiable through G and the segmenter). ``objective='ablate'``
optimises only the removal term (``-(E s_c(x) - E s_c(x_a))``), ``'insert'`` only the
insertion term. An optax problem over ``alpha`` whose loss closes over the frozen G;
Adam + projection onto [0, 1] after every step; each step draws fresh latents
``fold_in(key, step)``; the step is jitted.
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm.auto import tqdm

from jaxgan.dissect.features import feature_shape, sample_ws, synthesize_edited
from jaxgan.dissect.intervene import ablate, concept_fraction, insert

OBJECTIVES = ("ace", "ablate", "insert")


def alpha_loss(alpha, G, variables, ws, layer: str, segment_fn: Callable, concept: str, k, *,
               lam: float = 0.01, objective: str = "ace", positions=None):
    """``-delta_{alpha -> c} + lam ||alpha||_2`` on one batch of ws.

    Args:
      alpha: ``[C]`` unit weights in [0, 1].
      G, variables, ws: generator and ws ``[N, num_ws, w_dim]``.
      layer: layer name; k: ``[C]`` mean high activations.
      segment_fn: images -> ``{concept: [N, S, S] probabilities}`` (differentiable).
      lam: weight of the L2 penalty.
      objective: 'ace' | 'ablate' | 'insert'.
      positions: None or a mask (see :func:`jaxgan.dissect.intervene.ablate`).

    Returns:
      ``(loss, {'delta', 'inserted', 'ablated', 'base'})`` scalars.
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    ones = jnp.ones_like(alpha)
    aux = {}
    if objective in ("ace", "insert"):
        xi = synthesize_edited(G, variables, ws, layer,
                               lambda r: insert(r, ones, k, alpha, positions))
        aux["inserted"] = concept_fraction(segment_fn(xi), concept).mean()
    if objective in ("ace", "ablate"):
        xa = synthesize_edited(G, variables, ws, layer, lambda r: ablate(r, ones, alpha, positions))
        aux["ablated"] = concept_fraction(segment_fn(xa), concept).mean()
    if objective != "ace":
        x = synthesize_edited(G, variables, ws, layer, lambda r: r)
        aux["base"] = jax.lax.stop_gradient(concept_fraction(segment_fn(x), concept).mean())
    if objective == "ace":
        delta = aux["inserted"] - aux["ablated"]
    elif objective == "ablate":
        delta = aux["base"] - aux["ablated"]
    else:
        delta = aux["inserted"] - aux["base"]
    aux["delta"] = delta
    return -delta + lam * jnp.sqrt(jnp.sum(alpha ** 2) + 1e-12), aux


def optimize_alpha(G, variables, layer: str, segment_fn: Callable, concept: str, k, *,
                   key=None, steps: int = 200, batch_size: int = 8, learning_rate: float = 0.05,
                   lam: float = 0.01, objective: str = "ace", positions=None, alpha0=None,
                   truncation_psi: float = 1.0, progress: bool = True):
    """Find ``alpha*`` by projected Adam over fresh latent batches.

    Args:
      G, variables: the generator (frozen).
      layer, segment_fn, concept, k, lam, objective, positions: see :func:`alpha_loss`.
      key: ``jax.random`` key (default ``key(0)``); step ``t`` uses latents from
        ``fold_in(key, t)``.
      steps, batch_size, learning_rate: optimisation settings.
      alpha0: initial ``[C]`` (default 0.5 everywhere).
      truncation_psi: truncation of the sampled ws.
      progress: tqdm bar.

    Returns:
      ``(alpha [C] numpy, history {'loss': [steps], 'delta': [steps]})``.
    """
    c = feature_shape(G, layer)[2]
    k = jnp.asarray(k, jnp.float32)
    if k.shape != (c,):
        raise ValueError(f"k must have shape ({c},) for layer {layer}, got {k.shape}")
    key = jax.random.key(0) if key is None else key
    alpha = jnp.full((c,), 0.5, jnp.float32) if alpha0 is None else jnp.asarray(alpha0, jnp.float32)
    if alpha.shape != (c,):
        raise ValueError(f"alpha0 must have shape ({c},), got {alpha.shape}")
    tx = optax.adam(learning_rate)
    opt = tx.init(alpha)

    @jax.jit
    def step(alpha, opt, t):
        ws = sample_ws(G, variables, jax.random.fold_in(key, t), jnp.arange(batch_size),
                       truncation_psi)
        (loss, aux), g = jax.value_and_grad(alpha_loss, has_aux=True)(
            alpha, G, variables, ws, layer, segment_fn, concept, k, lam=lam,
            objective=objective, positions=positions)
        upd, opt = tx.update(g, opt, alpha)
        alpha = jnp.clip(optax.apply_updates(alpha, upd), 0.0, 1.0)
        return alpha, opt, loss, aux["delta"]

    hist = {"loss": [], "delta": []}
    bar = tqdm(range(steps), desc=f"alpha {layer} -> {concept}", disable=not progress)
    for t in bar:
        alpha, opt, loss, delta = step(alpha, opt, t)
        if not np.isfinite(float(loss)):
            raise FloatingPointError(f"alpha optimisation: non-finite loss at step {t}")
        hist["loss"].append(float(loss))
        hist["delta"].append(float(delta))
        bar.set_postfix(loss=f"{hist['loss'][-1]:.4f}", delta=f"{hist['delta'][-1]:.4f}")
    return np.asarray(alpha), {k_: np.asarray(v) for k_, v in hist.items()}
