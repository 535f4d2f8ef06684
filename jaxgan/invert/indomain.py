"""Encoder-initialised inversion: in-domain inversion (Zhu et al. 2020) and gan-ensembling's.

In-domain GAN inversion starts at the encoder's code ``w0 = E(x)`` and minimises
``||G(w) - x||^2 + lambda_perc * LPIPS(G(w), x) + lambda_dom * ||w - E(G(w))||^2`` in W+,
so the result stays where the encoder (the "domain") can reach it. gan-ensembling (Chai et
al. 2021) uses the same ingredients with ``0.5 L1 + 0.5 LPIPS + 0.25 latent term``.
Both are :func:`jaxgan.invert.projector.project` runs with an ``init`` and an ``encoder``.
"""
from __future__ import annotations

import jax.numpy as jnp

from jaxgan import model
from jaxgan.invert.encoder import encode_ws
from jaxgan.invert.losses import DistanceWeights
from jaxgan.invert.projector import ProjectConfig, ProjectionResult, latent_from_ws, project


def indomain_config(num_steps: int = 100, learning_rate: float = 0.01, lambda_perc: float = 1.0,
                    lambda_dom: float = 2.0, l2: float = 1.0,
                    lpips_resolution: int | None = None) -> ProjectConfig:
    """In-domain inversion settings: W+, Adam at a constant ``learning_rate`` (idinvert: 0.01,
    100 steps), const noise, no latent noise, ``lambda_dom = 2`` (idinvert's)."""
    return ProjectConfig(space="wplus", num_steps=num_steps, initial_learning_rate=learning_rate,
                         lr_rampup_length=0.0, lr_rampdown_length=0.0, initial_noise_factor=0.0,
                         optimize_noise=False, noise_init="const", domain_weight=lambda_dom,
                         distance=DistanceWeights(lpips=lambda_perc, l2=l2,
                                                  lpips_resolution=lpips_resolution))


def ganensembling_config(num_steps: int = 100, optimizer: str = "lbfgs",
                         learning_rate: float = 0.01,
                         lpips_resolution: int | None = None) -> ProjectConfig:
    """gan-ensembling's variant: W+, ``0.5 L1 + 0.5 LPIPS + 0.25 ||w - E(G(w))||^2``,
    L-BFGS (or Adam at ``learning_rate``), const noise."""
    return ProjectConfig(space="wplus", num_steps=num_steps, optimizer=optimizer,
                         initial_learning_rate=learning_rate, lr_rampup_length=0.0,
                         lr_rampdown_length=0.0, initial_noise_factor=0.0, optimize_noise=False,
                         noise_init="const", domain_weight=0.25,
                         distance=DistanceWeights(lpips=0.5, l1=0.5,
                                                  lpips_resolution=lpips_resolution))


def encoder_invert(G, g, x, E, e_vars):
    """Encoder-only inversion.

    Args:
      G, g: generator; x: ``[N, R, R, C]`` images; E, e_vars: the encoder.

    Returns:
      ``(ws [N, num_ws, w_dim], reconstructions [N, R, R, C])`` (const noise).
    """
    ws = encode_ws(E, e_vars, g, jnp.asarray(x, jnp.float32))
    return ws, model.synthesize(G, g, ws)


def invert_indomain(G, g, x, E, e_vars, cfg: ProjectConfig | None = None, *, lp=None,
                    key=None, **project_kw) -> ProjectionResult:
    """Encoder initialisation + optimisation with the domain term (default
    :func:`indomain_config`; pass :func:`ganensembling_config` for that variant).

    Args:
      G, g: generator; x: ``[N, R, R, C]`` targets in [-1, 1]; E, e_vars: the encoder.
      cfg: a :class:`ProjectConfig` (space 'w', 'wplus' or 's'; its ``domain_weight`` uses E).
      lp: LPIPS network (when ``cfg.distance.lpips > 0``).
      key: PRNG key; further keywords go to :func:`project`.

    Returns:
      :class:`ProjectionResult`.
    """
    cfg = indomain_config() if cfg is None else cfg
    if cfg.space == "z":
        raise ValueError("invert_indomain: the encoder predicts W+; use space w, wplus or s")
    x = jnp.asarray(x, jnp.float32)
    ws0 = encode_ws(E, e_vars, g, x)
    init = latent_from_ws(G, g, cfg.space, ws0)
    return project(G, g, x, cfg, key=key, init=init, lp=lp, encoder=(E, e_vars), **project_kw)
