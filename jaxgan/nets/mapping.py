"""Mapping network z (+ c) -> w (official ``MappingNetwork``)."""
from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from jaxgan.nets.layers import FullyConnected, normalize_2nd_moment


class MappingNetwork(nn.Module):
    """z, c -> w, with w_avg tracking (``buffers`` collection) and truncation.

    Attributes:
      z_dim, c_dim, w_dim: latent, condition and output sizes (z_dim may be 0: the
        discriminator's conditioning mapping).
      num_ws: broadcast w to ``[N, num_ws, w_dim]``; None returns ``[N, w_dim]``.
      w_avg_beta: None disables the w_avg buffer (and truncation).
    """
    z_dim: int
    c_dim: int
    w_dim: int
    num_ws: int | None
    num_layers: int = 8
    embed_features: int | None = None
    layer_features: int | None = None
    activation: str = "lrelu"
    lr_multiplier: float = 0.01
    w_avg_beta: float | None = 0.995

    def setup(self):
        embed = self.w_dim if self.embed_features is None else self.embed_features
        if self.c_dim == 0:
            embed = 0
        layer = self.w_dim if self.layer_features is None else self.layer_features
        feats = [self.z_dim + embed] + [layer] * (self.num_layers - 1) + [self.w_dim]
        if self.c_dim > 0:
            self.embed = FullyConnected(self.c_dim, embed)
        for i in range(self.num_layers):
            setattr(self, f"fc{i}", FullyConnected(feats[i], feats[i + 1], activation=self.activation,
                                                   lr_multiplier=self.lr_multiplier))
        if self.num_ws is not None and self.w_avg_beta is not None:
            self.w_avg = self.variable("buffers", "w_avg", jnp.zeros, (self.w_dim,))

    def __call__(self, z, c=None, truncation_psi: float = 1.0, truncation_cutoff: int | None = None,
                 update_w_avg: bool = False):
        """Map latents to w.

        Args:
          z: ``[N, z_dim]`` (ignored when z_dim == 0).
          c: ``[N, c_dim]`` one-hot or soft labels (required when c_dim > 0).
          truncation_psi: ``w_avg + psi (w - w_avg)``.
          truncation_cutoff: truncate only the first ``cutoff`` ws (None: all).
          update_w_avg: move w_avg toward the batch mean with beta ``w_avg_beta``
            (training; requires ``mutable=['buffers']``).

        Returns:
          ``[N, num_ws, w_dim]`` (or ``[N, w_dim]`` when num_ws is None).
        """
        x = None
        if self.z_dim > 0:
            if z is None or z.ndim != 2 or z.shape[1] != self.z_dim:
                raise ValueError(f"mapping: z must be [N, {self.z_dim}], got "
                                 f"{None if z is None else z.shape}")
            x = normalize_2nd_moment(z.astype(jnp.float32))
        if self.c_dim > 0:
            if c is None or c.ndim != 2 or c.shape[1] != self.c_dim:
                raise ValueError(f"mapping: c must be [N, {self.c_dim}] for a conditional network, "
                                 f"got {None if c is None else c.shape}")
            y = normalize_2nd_moment(self.embed(c.astype(jnp.float32)))
            x = jnp.concatenate([x, y], axis=1) if x is not None else y
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)
        if update_w_avg and self.w_avg_beta is not None and not self.is_initializing():
            batch_mean = jnp.mean(x, axis=0)
            self.w_avg.value = batch_mean + self.w_avg_beta * (self.w_avg.value - batch_mean)
        if self.num_ws is not None:
            x = jnp.broadcast_to(x[:, None, :], (x.shape[0], self.num_ws, x.shape[1]))
        if not (isinstance(truncation_psi, (int, float)) and truncation_psi == 1):
            if self.w_avg_beta is None or self.num_ws is None:
                raise ValueError("truncation needs a w_avg (w_avg_beta) and num_ws")
            w_avg = self.w_avg.value
            trunc = w_avg + truncation_psi * (x - w_avg)
            if truncation_cutoff is None:
                x = trunc
            else:
                layer = jnp.arange(self.num_ws)[None, :, None] < truncation_cutoff
                x = jnp.where(layer, trunc, x)
        return x
