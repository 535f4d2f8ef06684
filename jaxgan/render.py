"""Render images from a generator in batches: z (through the mapping, with truncation) or W+,
one jitted program for every batch, images independent of the batch they fall in.

:func:`make_renderer` builds ``render(variables, x, c, idx) -> images``; :func:`render_batches`
runs it over ``N`` inputs in padded batches of one size (so it compiles once) and yields the
real rows. ``jaxgan generate`` is these two plus file writing.
"""
from __future__ import annotations

from typing import Iterator

import jax
import numpy as np

from jaxgan import model
from jaxgan.sharding import map_row_blocks


def make_renderer(G, kind: str, psi: float = 1.0, cutoff=None, noise_mode: str = "const",
                  seed: int = 0):
    """One jitted ``render(variables, x, c, idx) -> images [B, R, R, C]``.

    Args:
      G: the generator module.
      kind: ``'z'`` (x = z ``[B, z_dim]``) or ``'w'`` (x = ws ``[B, num_ws, w_dim]``).
      psi, cutoff: truncation (z only).
      noise_mode: 'const' | 'random' | 'none'; 'random' draws each image's noise from
        ``fold_in(key(seed), idx[i])``, so an image does not depend on its batch.
      seed: the noise seed.

    Returns:
      The jitted function; ``c`` is ``[B, c_dim]`` or None, ``idx`` ``[B]`` uint32 image indices.
    """
    if kind not in ("z", "w"):
        raise ValueError(f"kind must be 'z' or 'w', got {kind!r}")

    def render(variables, x, c, idx):
        ws = x if kind == "w" else model.mapping(G, variables, x, c, psi, cutoff)
        if noise_mode != "random":
            return model.synthesize(G, variables, ws, noise_mode=noise_mode)
        keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.key(seed), i))(idx)
        one = lambda w, k: model.synthesize(G, variables, w[None], noise_mode="random",  # noqa: E731
                                            noise_key=k)[0]
        return jax.vmap(one)(ws, keys)

    return jax.jit(render)


def render_batches(render, variables, x, c=None, batch: int = 16,
                   mesh=None) -> Iterator[tuple[int, np.ndarray]]:
    """Run ``render`` over every row of ``x`` in batches of ``min(batch, N)`` rows on ``mesh``
    (:func:`jaxgan.sharding.map_row_blocks`).

    Args:
      render: :func:`make_renderer` output.
      variables: the generator's variables.
      x: ``[N, z_dim]`` or ``[N, num_ws, w_dim]``; c: ``[N, c_dim]`` or None.
      batch: rows per call (the last batch is padded, so one program serves all).
      mesh: a data mesh (batches split over its devices); None: one device.

    Yields:
      ``(start, images [m, R, R, C] float32)`` for rows ``start .. start + m``.
    """
    idx = np.arange(len(x), dtype=np.uint32)                # image i's noise: fold_in(seed, i)
    fn = lambda rows, v: render(v, *rows)  # noqa: E731
    for start, img in map_row_blocks(fn, (x, c, idx), variables, batch=batch, mesh=mesh):
        yield start, np.asarray(img)
