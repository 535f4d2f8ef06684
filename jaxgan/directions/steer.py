"""Steerability (Jahanian, Chai, Isola 2020): latent walks supervised by image edits.

For each edit ``e`` (zoom, shift, rotate, colour, brightness; see :mod:`.edits`) learn a
direction ``w_e`` minimising::

    E_{z, a ~ U[-1, 1]}  L( G(z + a w_e),  edit_e(G(z), a * max_alpha_e) ; valid mask )

with ``L`` the masked L2 (optionally + LPIPS on the masked images). ``a`` is the
*normalised* step: ``apply(d[k], latents, a)`` at ``a = 1`` aims at the edit's
``max_alpha`` (natural units: log2 zoom, pixels, degrees...); ``extras['max_alpha']``
holds it. All edits train at once: the parameters are ``[K, ...]`` and the per-edit loss
is ``vmap``-ed over (direction, edit); Adam treats every element independently, so this
is exactly K separate problems sharing the generator's forward pass of ``G(z)``.

Walks: ``'linear'`` (``z + a w``) or ``'nonlinear'``: ``K_e`` Euler steps of a small
residual MLP velocity ``v(x) = w + W2 tanh(W1 x + b1)`` (W2 starts at 0, so it starts
as the linear walk); use :func:`walk_apply` for those.
"""
from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxgan.directions.apply import (Directions, apply, latent_dim, layer_mask, render,
                                     sample_latents, shift)
from jaxgan.directions.edits import edit_table, masked_l2, transform
from jaxgan.directions.optimize import run_optax

WALKS = ("linear", "nonlinear")


def _velocity(p, x):
    """MLP velocity on the last axis of ``x``: ``w + W2 tanh(W1 x + b1)``."""
    return p["w"] + jnp.tanh(x @ p["w1"] + p["b1"]) @ p["w2"]


def walk_apply(params, latents, alpha, layers=None, space: str = "w", num_steps: int = 4):
    """Non-linear walk of one direction: ``num_steps`` Euler steps of size ``alpha/num_steps``.

    Args:
      params: ``{'w': [D], 'w1': [D, H], 'b1': [H], 'w2': [H, D]}`` (one direction).
      latents: ``[N, D]`` ('z', or 'w' with single ws) or ``[N, num_ws, D]`` ('w').
      alpha: scalar or ``[N]`` (normalised step).
      layers: ws indices that move (None: all).
      space: 'z' or 'w' ('wp' walks are linear only).
      num_steps: Euler steps.

    Returns:
      latents of the same shape.
    """
    if space == "wp":
        raise ValueError("non-linear walks are defined in spaces 'z' and 'w' only")
    a = jnp.asarray(alpha, latents.dtype)
    a = a.reshape((-1,) + (1,) * (latents.ndim - 1)) if a.ndim else a
    m = 1.0
    if latents.ndim == 3:
        m = jnp.asarray(layer_mask(latents.shape[1], layers))[:, None]
    x = latents
    for _ in range(num_steps):
        x = x + (a / num_steps) * m * _velocity(params, x)
    return x


def _init_params(key, k: int, shape, walk: str, hidden: int):
    """Linear part 0; the MLP's first layer random per direction (``fold_in(key, i)``)."""
    p = {"w": jnp.zeros((k,) + shape)}
    if walk == "nonlinear":
        d = shape[-1]
        keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(k))
        p.update(w1=jax.vmap(lambda kk: jax.random.normal(kk, (d, hidden)) / np.sqrt(d))(keys),
                 b1=jnp.zeros((k, hidden)), w2=jnp.zeros((k, hidden, d)))
    return p


def steer_loss(G, space: str, layers, walk: str, walk_steps: int, lpips_fn=None,
               lpips_weight: float = 1.0, psi: float = 1.0, batch: int = 16):
    """The vmapped steerability loss ``(params, consts, key) -> (loss, per_edit [K])``.

    ``consts = {'g': G's variables, 'coef': [K, 7], 'max_alpha': [K], 'lpips': ...}``.
    """
    def per_edit(p, coef, max_alpha, g, lat, img0, key, lp):
        a = jax.random.uniform(key, (batch,), minval=-1.0, maxval=1.0)        # [B]
        target, valid = transform(img0, (a * max_alpha)[:, None] * coef)       # [B, R, R, C]
        if walk == "linear":
            moved = shift(p["w"], lat, a, layers, space)
        else:
            moved = walk_apply(p, lat, a, layers, space, walk_steps)
        out = render(G, g, moved, space, psi)
        loss = jnp.mean(masked_l2(out, target, valid))
        if lpips_fn is not None:
            m = valid[..., None]
            loss = loss + lpips_weight * jnp.mean(lpips_fn(lp, out * m, target * m))
        return loss

    def loss_fn(params, consts, key):
        g = consts["g"]
        k_lat, k_a = jax.random.split(key)
        lat = sample_latents(G, g, k_lat, batch, "z" if space == "z" else "w", psi)
        img0 = jax.lax.stop_gradient(render(G, g, lat, space, psi))              # [B, R, R, C]
        # Edit k's alphas come from fold_in(k_a, k): a direction's training does not depend
        # on which other edits train beside it.
        keys = jax.vmap(lambda i: jax.random.fold_in(k_a, i))(jnp.arange(consts["coef"].shape[0]))
        per = jax.vmap(per_edit, in_axes=(0, 0, 0, None, None, None, 0, None))(
            params, consts["coef"], consts["max_alpha"], g, lat, img0, keys, consts.get("lpips"))
        return jnp.sum(per), per

    return loss_fn


def fit_steer(G, g, key, edits: Sequence[str] = ("zoom", "shift_x", "shift_y"), *,
              space: str = "w", layers=None, steps: int = 300, batch: int = 16,
              learning_rate: float = 0.02, max_alphas=None, walk: str = "linear",
              walk_steps: int = 4, hidden: int = 32, lpips=None, lpips_weight: float = 1.0,
              psi: float = 1.0, progress: bool = True) -> Directions:
    """Learn one steering direction per edit, all at once.

    Args:
      G, g: the frozen generator and its variables.
      key: ``jax.random`` key (latents, alphas and init).
      edits: names in :data:`jaxgan.directions.edits.EDITS`.
      space: 'z' or 'w' (one vector added to the ws in ``layers``) or 'wp' (linear walk).
      layers: ws indices (None: all).
      steps, batch, learning_rate: Adam optimisation (loss closes over G).
      max_alphas: natural-unit range per edit (default each edit's own).
      walk: 'linear' or 'nonlinear' (see module docstring); walk_steps, hidden: its size.
      lpips: ``(lpips_distance, lpips_params)`` to add LPIPS to the masked L2, or None.
      lpips_weight: its weight.
      psi: truncation of the sampled latents.
      progress: tqdm bar.

    Returns:
      :class:`Directions` named by the edits; ``extras``: ``max_alpha [K]``, ``loss_curve
      [steps, K]``, and for non-linear walks ``walk_w1, walk_b1, walk_w2``.
    """
    if walk not in WALKS:
        raise ValueError(f"walk must be one of {WALKS}, got {walk!r}")
    if walk == "nonlinear" and space == "wp":
        raise ValueError("non-linear walks are defined in spaces 'z' and 'w' only")
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    edits = tuple(edits)
    if not edits:
        raise ValueError("fit_steer: give at least one edit")
    coef, max_alpha = edit_table(edits, max_alphas)
    lpips_fn, lp = (None, None) if lpips is None else lpips
    loss_fn = steer_loss(G, space, layers, walk, walk_steps, lpips_fn, lpips_weight, psi, batch)
    params = _init_params(jax.random.fold_in(key, 7), len(edits), latent_dim(G, space), walk,
                          hidden)
    consts = {"g": g, "coef": jnp.asarray(coef), "max_alpha": jnp.asarray(max_alpha)}
    if lp is not None:
        consts["lpips"] = lp
    params, curve = run_optax(loss_fn, params, consts, key, steps=steps,
                              tx=optax.adam(learning_rate), progress=progress, desc="steer")
    extras = {"max_alpha": jnp.asarray(max_alpha), "loss_curve": jnp.asarray(curve.T)}
    if walk == "nonlinear":
        extras.update(walk_w1=params["w1"], walk_b1=params["b1"], walk_w2=params["w2"])
    return Directions(params["w"], space=space, names=edits, layers=layers, extras=extras)


def walk_params(d: Directions, k: int) -> dict:
    """The non-linear walk parameters of direction ``k`` of a ``fit_steer(walk='nonlinear')``."""
    if "walk_w1" not in d.extras:
        raise ValueError("these directions hold no non-linear walk (fit with walk='nonlinear')")
    return {"w": d.vectors[k], "w1": d.extras["walk_w1"][k], "b1": d.extras["walk_b1"][k],
            "w2": d.extras["walk_w2"][k]}


def steerability(G, g, d: Directions, measures, latents, steps, *, psi: float = 1.0,
                 batch: int = 64):
    """How far each direction moves a measured statistic, against the target edit.

    For direction ``k`` and normalised step ``a``: ``achieved = measure_k(G(walk_k(z, a)))``
    and ``target = measure_k(edit_k(G(z), a * max_alpha_k))``, both averaged over latents.

    Args:
      G, g: the generator.
      d: steering directions from :func:`fit_steer` (``extras['max_alpha']``, names = edits).
      measures: one function ``images [N, R, R, C] -> [N]`` per direction.
      latents: ``[N, ...]`` held-out latents in ``d.space`` (z for 'z', ws otherwise).
      steps: ``[A]`` normalised steps.
      psi: truncation (space 'z').
      batch: images per rendering call.

    Returns:
      dict with ``steps [A]``, ``natural [K, A]`` (steps in the edit's units),
      ``achieved [K, A, N]`` and ``target [K, A, N]`` as NumPy arrays.
    """
    if len(measures) != len(d):
        raise ValueError(f"steerability: {len(measures)} measures for {len(d)} directions")
    steps = np.asarray(steps, np.float32)
    coef, _ = edit_table(d.names)
    max_alpha = np.asarray(d.extras["max_alpha"])
    nonlinear = "walk_w1" in d.extras
    rend = jax.jit(lambda g_, lat: render(G, g_, lat, d.space, psi))
    tf = jax.jit(transform)
    n = latents.shape[0]
    achieved = np.zeros((len(d), len(steps), n), np.float32)
    target = np.zeros_like(achieved)
    for start in range(0, n, batch):
        lat = latents[start:start + batch]
        img0 = rend(g, lat)
        for k in range(len(d)):
            for j, a in enumerate(steps):
                if nonlinear:
                    moved = walk_apply(walk_params(d, k), lat, a, d.layers, d.space)
                else:
                    moved = apply(d.vectors[k], lat, a, d.layers, d.space)
                achieved[k, j, start:start + batch] = np.asarray(measures[k](rend(g, moved)))
                edited, _ = tf(img0, jnp.asarray(a * max_alpha[k] * coef[k]))
                target[k, j, start:start + batch] = np.asarray(measures[k](edited))
    return {"steps": steps, "natural": steps[None] * max_alpha[:, None], "achieved": achieved,
            "target": target}
