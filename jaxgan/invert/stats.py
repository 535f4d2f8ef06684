"""Start points and scales of the inversion spaces: the projector's statistics of mapped
samples (``w_avg`` and ``w_std``), per class for a conditional generator."""
from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan import model

SPACES = ("z", "w", "wplus", "s")


def latent_stats(G, g, space: str, num_samples: int = 10000, key=None, c=None):
    """Start point and scale of a latent space from mapped samples (the projector's).

    Args:
      G, g: the generator.
      space: one of :data:`SPACES`.
      num_samples: number of z samples.
      key: PRNG key (default ``key(123)``, the projector's seed number).
      c: conditional generators: the condition ``[c_dim]`` every sample is mapped with
        (the class mean); None samples uniform classes (``fold_in(key, 1)``), as a
        class-bound generator (:func:`jaxgan.model.bind_class`) maps with its own class.
        Ignored for 'z'.

    Returns:
      ``(mean, std)``: the mean latent for one image (``[w_dim]``, ``[num_ws, w_dim]`` or a
      StyleSpace pytree of ``[C]``; zeros ``[z_dim]`` for 'z') and the square root of the
      summed per-coordinate variance (a scalar; one per leaf for 's').
    """
    if space not in SPACES:
        raise ValueError(f"latent_stats: space must be one of {SPACES}, got {space!r}")
    cfg = G.cfg
    if space == "z":
        return jnp.zeros(cfg.z_dim, jnp.float32), jnp.float32(math.sqrt(cfg.z_dim))
    key = jax.random.key(123) if key is None else key
    if c is not None:
        if not cfg.c_dim:
            raise ValueError("latent_stats: c given, but the generator is unconditional")
        c = jnp.asarray(c, jnp.float32)
        if c.shape != (cfg.c_dim,):
            raise ValueError(f"latent_stats: c must be [{cfg.c_dim}], got {c.shape}")
    return _latent_stats(G, space, num_samples)(g, key, c)


@functools.lru_cache(maxsize=32)
def _latent_stats(G, space: str, num_samples: int):
    """The jitted :func:`latent_stats` for one (G, space, sample count)."""
    cfg = G.cfg

    @jax.jit
    def stats(g, key, c):
        z = jax.random.normal(key, (num_samples, cfg.z_dim))
        if c is not None:
            cs = jnp.broadcast_to(c, (num_samples, cfg.c_dim))             # [S, c_dim]
        else:
            cs = model.sample_classes(G, jax.random.fold_in(key, 1), num_samples)
        w = model.mapping(G, g, z, cs)[:, 0]                               # [S, w_dim]
        if space == "s":
            st = model.styles(G, g, jnp.broadcast_to(w[:, None], (num_samples, cfg.num_ws,
                                                                  cfg.w_dim)))
            mean = jax.tree.map(lambda s: jnp.mean(s, 0), st)
            std = jax.tree.map(lambda s, m: jnp.sqrt(jnp.sum(jnp.square(s - m)) / num_samples),
                               st, mean)
            return mean, std
        mean = jnp.mean(w, 0)
        std = jnp.sqrt(jnp.sum(jnp.square(w - mean)) / num_samples)
        if space == "wplus":
            mean = jnp.broadcast_to(mean, (cfg.num_ws, cfg.w_dim))
        return mean, std

    return stats


def class_means(G, g, space: str, c, num_samples: int = 10000, key=None):
    """Per-image class-conditional start latents: the mean of :func:`latent_stats` for each
    image's condition (computed once per distinct row of ``c``).

    Args:
      G, g: a conditional generator.
      space: 'w', 'wplus' or 's' (for 'z' the start is random, not a mean).
      c: ``[N, c_dim]`` conditions.
      num_samples, key: as :func:`latent_stats`.

    Returns:
      ``[N, ...]`` start latents in ``space`` (a pytree of ``[N, C]`` for 's').
    """
    c = np.asarray(c, np.float32)
    rows, inverse = np.unique(c, axis=0, return_inverse=True)
    means = [latent_stats(G, g, space, num_samples, key, c=r)[0] for r in rows]
    table = jax.tree.map(lambda *m: jnp.stack(m), *means)                 # [U, ...]
    return jax.tree.map(lambda t: t[jnp.asarray(inverse.reshape(-1))], table)
