"""Kernel distance (KID): unbiased MMD² with the cubic polynomial kernel, averaged over
random subsets exactly as the official ``kernel_inception_distance.py`` (stylegan2-ada):
``k(x, y) = (x·y / D + 1)^3``, ``num_subsets`` subsets of size
``m = min(n_real, n_gen, max_subset_size)`` drawn without replacement."""
from __future__ import annotations

import jax
import numpy as np


def kid_subset_indices(key, n_gen: int, n_real: int, m: int, num_subsets: int):
    """The subsets used by :func:`kernel_distance`: list of ``(gen_idx [m], real_idx [m])``.

    Args:
      key: a ``jax.random`` key; subset ``i`` uses ``fold_in(key, i)``.
      n_gen, n_real: set sizes. m: subset size. num_subsets: how many.
    """
    out = []
    for i in range(num_subsets):
        kg, kr = jax.random.split(jax.random.fold_in(key, i))
        out.append((np.asarray(jax.random.permutation(kg, n_gen))[:m],
                    np.asarray(jax.random.permutation(kr, n_real))[:m]))
    return out


def mmd2_unbiased(x, y) -> float:
    """Unbiased MMD² between equal-size sets ``x, y [m, D]`` with the KID kernel (float64)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    m, d = x.shape
    a = (x @ x.T / d + 1) ** 3 + (y @ y.T / d + 1) ** 3
    b = (x @ y.T / d + 1) ** 3
    return float(((a.sum() - np.diag(a).sum()) / (m - 1) - b.sum() * 2 / m) / m)


def kernel_distance(gen_features, real_features, key=None, num_subsets: int = 100,
                    max_subset_size: int = 1000) -> float:
    """KID between generated and real features.

    Args:
      gen_features: ``[N_gen, D]``.
      real_features: ``[N_real, D]``.
      key: ``jax.random`` key for the subsets (default ``key(0)``).
      num_subsets: number of subsets averaged (official: 100).
      max_subset_size: subset size cap (official: 1000).

    Returns:
      The mean unbiased MMD² over the subsets (can be slightly negative when the two sets
      come from the same distribution).

    Raises:
      ValueError: bad shapes, fewer than 2 items, or NaN/Inf.
    """
    g, r = np.asarray(gen_features, np.float64), np.asarray(real_features, np.float64)
    if g.ndim != 2 or r.ndim != 2 or g.shape[1] != r.shape[1]:
        raise ValueError(f"kernel_distance expects [N, D] features with equal D, got {g.shape} "
                         f"and {r.shape}")
    if not (np.all(np.isfinite(g)) and np.all(np.isfinite(r))):
        raise ValueError("kernel_distance: features contain NaN/Inf")
    m = min(len(g), len(r), max_subset_size)
    if m < 2:
        raise ValueError(f"kernel_distance needs at least 2 features per set, got {len(g)}, {len(r)}")
    key = jax.random.key(0) if key is None else key
    subsets = kid_subset_indices(key, len(g), len(r), m, num_subsets)
    return float(np.mean([mmd2_unbiased(g[gi], r[ri]) for gi, ri in subsets]))
