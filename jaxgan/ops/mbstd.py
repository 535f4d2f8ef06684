"""Minibatch standard deviation layer (official ``MinibatchStdLayer``), channels last."""
from __future__ import annotations

import jax.numpy as jnp


def minibatch_stddev(x, group_size: int | None = 4, num_channels: int = 1):
    """Append ``num_channels`` minibatch-stddev feature maps as the last channels.

    Sample ``i`` belongs to group ``i % (N // G)``, exactly as the official
    ``reshape(G, -1, ...)`` grouping.

    Args:
      x: ``[N, H, W, C]``.
      group_size: G (clipped to N); None uses the whole batch.
      num_channels: F; C must be divisible by F.

    Returns:
      ``[N, H, W, C + F]``.
    """
    n, h, w, c = x.shape
    g = n if group_size is None else min(group_size, n)
    f = num_channels
    if n % g:
        raise ValueError(f"minibatch_stddev: batch size {n} is not divisible by group size {g}")
    if c % f:
        raise ValueError(f"minibatch_stddev: {c} channels not divisible by num_channels {f}")
    y = x.astype(jnp.float32).reshape(g, n // g, h, w, f, c // f)   # [G, n, H, W, F, c]
    y = y - y.mean(axis=0)
    y = jnp.square(y).mean(axis=0)                                   # [n, H, W, F, c]
    y = jnp.sqrt(y + 1e-8)
    y = y.mean(axis=(1, 2, 4))                                       # [n, F]
    y = jnp.tile(y, (g, 1))                                          # [N, F]
    y = jnp.broadcast_to(y[:, None, None, :], (n, h, w, f)).astype(x.dtype)
    return jnp.concatenate([x, y], axis=-1)
