"""Improved precision and recall (Kynkäänniemi et al. 2019) as the official
``precision_recall.py`` (stylegan2-ada): each set's manifold is the union of balls around
its points with radius the distance to the k-th nearest neighbour (k=3, self excluded);
precision = fraction of generated points inside the real manifold, recall = fraction of
real points inside the generated manifold. Distances run batched and jitted."""
from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan.sharding import map_rows


@jax.jit
def _dist(rows, cols):
    """Euclidean distances ``[R, C]`` (float32, clamped at 0)."""
    d2 = (jnp.sum(rows ** 2, 1)[:, None] + jnp.sum(cols ** 2, 1)[None, :] - 2 * rows @ cols.T)
    return jnp.sqrt(jnp.maximum(d2, 0.0))


@partial(jax.jit, static_argnames="k")
def _kth(rows, cols, k: int):
    # distance to the (k+1)-th smallest, i.e. the k-th neighbour when the row is in `cols`
    return -jax.lax.top_k(-_dist(rows, cols), k + 1)[0][:, -1]


@jax.jit
def _inside(rows, cols, radii):
    return jnp.any(_dist(rows, cols) <= radii[None, :], axis=1)


def manifold_radii(features, k: int = 3, row_batch_size: int = 1000, mesh=None) -> np.ndarray:
    """k-NN radius of every point of ``features [N, D]`` within the set (self excluded); rows
    in blocks of ``row_batch_size`` on ``mesh`` (default one device)."""
    f = np.asarray(features, np.float32)
    if len(f) <= k:
        raise ValueError(f"precision/recall: need more than k={k} features, got {len(f)}")
    return map_rows(lambda x, cols: _kth(x, cols, k), f, f, batch=row_batch_size, mesh=mesh)


def precision_recall(real_features, gen_features, k: int = 3,
                     row_batch_size: int = 1000, mesh=None) -> tuple[float, float]:
    """Improved precision and recall.

    Args:
      real_features: ``[N_real, D]``.
      gen_features: ``[N_gen, D]``.
      k: neighbourhood size (official: 3).
      row_batch_size: rows per distance block.
      mesh: a data mesh the row blocks are split over; None: one device.

    Returns:
      ``(precision, recall)`` in [0, 1].

    Raises:
      ValueError: bad shapes, too few points, NaN/Inf.
    """
    r, g = np.asarray(real_features, np.float32), np.asarray(gen_features, np.float32)
    if r.ndim != 2 or g.ndim != 2 or r.shape[1] != g.shape[1]:
        raise ValueError(f"precision_recall expects [N, D] features with equal D, got {r.shape} "
                         f"and {g.shape}")
    if not (np.all(np.isfinite(r)) and np.all(np.isfinite(g))):
        raise ValueError("precision_recall: features contain NaN/Inf")
    res = []
    for manifold, probes in ((r, g), (g, r)):
        radii = manifold_radii(manifold, k, row_batch_size, mesh)
        inside = map_rows(_inside, probes, manifold, radii, batch=row_batch_size, mesh=mesh)
        res.append(float(np.mean(inside)))
    return res[0], res[1]
