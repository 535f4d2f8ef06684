"""GANalyze (Goetschalckx, Andonian, Oliva, Isola 2019): directions supervised by an assessor.

Learn ``theta`` so that one step of size ``alpha`` changes the assessor's score by alpha::

    min_theta  E_{z, alpha ~ U[-r, r]} ( A(G(z + alpha theta)) - (A(G(z)) + alpha) )^2

in Z, W or W+ (``space``), with Adam; the loss closes over the frozen generator and
assessor. For a conditional generator ``class_dependent=True`` learns a linear map
``T [c_dim, D]`` and ``theta(c) = c @ T`` (the paper's class-dependent direction);
``extras['class_map']`` holds it and ``vectors`` its mean over classes.

:func:`assessor_curve` evaluates a direction: scores over a sweep of alpha on held-out
latents; :func:`fit_slope` fits the slope of score change vs alpha (target 1).
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxgan.directions.apply import Directions, apply, latent_dim, layer_mask, render, shift
from jaxgan.directions.optimize import run_optax
from jaxgan import model


def _move(theta, lat, alpha, layers, space, per_sample: bool):
    """``lat + alpha * theta``; ``per_sample``: theta has a leading batch axis (class-dependent)."""
    if not per_sample:
        return shift(theta, lat, alpha, layers, space)
    a = alpha.reshape((-1,) + (1,) * (lat.ndim - 1))
    if space == "w" and lat.ndim == 3:                 # theta [B, D] -> the selected ws
        theta = theta[:, None, :] * jnp.asarray(layer_mask(lat.shape[1], layers))[:, None]
    return lat + a * theta


def ganalyze_loss(G, assessor: Callable, space: str, layers, alpha_range: float, batch: int,
                  psi: float = 1.0, class_dependent: bool = False):
    """``(params, consts, key) -> (loss, [1])``; ``consts = {'g': G's variables}``."""
    c_dim = G.cfg.c_dim
    # random classes for a conditional G, unless it is class-bound (then its own class)
    sample_c = bool(c_dim) and (class_dependent or not getattr(G, "class_vector", ()))

    def loss_fn(params, consts, key):
        g = consts["g"]
        k_z, k_a, k_c = jax.random.split(key, 3)
        c = None
        if sample_c:
            c = jax.nn.one_hot(jax.random.randint(k_c, (batch,), 0, c_dim), c_dim)
        z = jax.random.normal(k_z, (batch, G.cfg.z_dim))
        lat = z if space == "z" else model.mapping(G, g, z, c, truncation_psi=psi)
        alpha = jax.random.uniform(k_a, (batch,), minval=-alpha_range, maxval=alpha_range)
        theta = c @ params["theta"] if class_dependent else params["theta"]
        img0 = render(G, g, lat, space, psi, c=c)                               # [B, R, R, C]
        moved = _move(theta, lat, alpha, layers, space, class_dependent)
        img1 = render(G, g, moved, space, psi, c=c)
        target = jax.lax.stop_gradient(assessor(img0)) + alpha
        loss = jnp.mean(jnp.square(assessor(img1) - target))
        return loss, loss[None]

    return loss_fn


def fit_ganalyze(G, g, assessor: Callable, key, *, space: str = "w", layers=None,
                 steps: int = 300, batch: int = 16, learning_rate: float = 0.01,
                 alpha_range: float = 0.5, psi: float = 1.0, class_dependent: bool = False,
                 name: str = "ganalyze", progress: bool = True) -> Directions:
    """Learn a GANalyze direction for ``assessor``.

    Args:
      G, g: the frozen generator.
      assessor: jax function ``images [N, R, R, C] -> scores [N]`` (see :mod:`.assessors`).
      key: ``jax.random`` key.
      space: 'z', 'w' or 'wp'; layers: ws indices the direction moves (None: all).
      steps, batch, learning_rate: Adam optimisation.
      alpha_range: alpha ~ U[-alpha_range, alpha_range] (the paper: 0.5).
      psi: truncation of the sampled latents.
      class_dependent: learn ``theta(c) = c @ T`` (conditional generators only).
      name: the direction's name.
      progress: tqdm bar.

    Returns:
      :class:`Directions` with one vector; ``extras``: ``loss_curve [1, steps]``,
      ``alpha_range``, and ``class_map [c_dim, D...]`` when class-dependent.
    """
    if class_dependent and not G.cfg.c_dim:
        raise ValueError("class_dependent=True needs a conditional generator (c_dim > 0)")
    if not alpha_range > 0:
        raise ValueError(f"alpha_range must be > 0, got {alpha_range}")
    shape = latent_dim(G, space)
    theta = jnp.zeros(((G.cfg.c_dim,) if class_dependent else ()) + shape)
    loss_fn = ganalyze_loss(G, assessor, space, layers, alpha_range, batch, psi, class_dependent)
    params, curve = run_optax(loss_fn, {"theta": theta}, {"g": g}, key, steps=steps,
                              tx=optax.adam(learning_rate), progress=progress, desc="ganalyze")
    extras = {"loss_curve": jnp.asarray(curve.T), "alpha_range": jnp.asarray(alpha_range)}
    vec = params["theta"]
    if class_dependent:
        extras["class_map"] = vec[None]
        vec = jnp.mean(vec, axis=0)
    return Directions(vec[None], space=space, names=(name,), layers=layers, extras=extras)


def assessor_curve(G, g, d: Directions, assessor: Callable, latents, alphas, *,
                   psi: float = 1.0, batch: int = 64) -> np.ndarray:
    """Scores ``[K, A, N]`` of ``assessor(G(apply(d, latents, alpha)))`` for each alpha.

    Args:
      latents: ``[N, ...]`` held-out latents in ``d.space``; alphas: ``[A]``.
    """
    alphas = jnp.asarray(alphas, jnp.float32)

    @jax.jit
    def scores(g_, vec, lat):
        moved = apply(vec, lat, alphas, d.layers, d.space)                     # [A, B, ...]
        flat = moved.reshape((-1,) + moved.shape[2:])
        return assessor(render(G, g_, flat, d.space, psi)).reshape(alphas.shape[0], -1)

    n = latents.shape[0]
    out = np.zeros((len(d), alphas.shape[0], n), np.float32)
    for k in range(len(d)):
        for s in range(0, n, batch):
            out[k, :, s:s + batch] = np.asarray(scores(g, d.vectors[k], latents[s:s + batch]))
    return out


def fit_slope(alphas, scores) -> dict:
    """Least-squares fit of score change vs alpha.

    Args:
      alphas: ``[A]`` (should include 0, or the change is taken from the mean score).
      scores: ``[A, N]`` assessor scores per alpha and latent.

    Returns:
      ``{'slope', 'intercept', 'r2'}`` of ``delta = slope * alpha + intercept`` where
      ``delta[a, n] = scores[a, n] - scores[alpha = 0, n]`` (pooled over latents).
    """
    alphas = np.asarray(alphas, np.float64)
    scores = np.asarray(scores, np.float64)
    if scores.ndim != 2 or scores.shape[0] != alphas.shape[0]:
        raise ValueError(f"fit_slope: scores must be [A={alphas.shape[0]}, N], got {scores.shape}")
    zero = np.flatnonzero(np.isclose(alphas, 0))
    base = scores[zero[0]] if zero.size else scores.mean(axis=0)
    delta = scores - base[None]
    x = np.repeat(alphas, scores.shape[1])
    y = delta.reshape(-1)
    slope, intercept = np.polyfit(x, y, 1)
    resid = y - (slope * x + intercept)
    r2 = 1 - resid.var() / max(y.var(), 1e-12)
    return {"slope": float(slope), "intercept": float(intercept), "r2": float(r2)}
