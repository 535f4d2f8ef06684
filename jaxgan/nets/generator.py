"""StyleGAN2 generator = mapping + synthesis (official ``Generator``)."""
from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from jaxgan.nets.configs import GeneratorConfig
from jaxgan.nets.mapping import MappingNetwork
from jaxgan.nets.synthesis import SynthesisNetwork


def with_style_cond(cfg, ws, style_cond=None):
    """The synthesis input of a generator with config ``cfg``: ``ws`` itself, or for a StylEx
    generator (``cfg.style_cond_dim > 0``) ``ws`` conditioned on ``style_cond`` (zeros
    when omitted).

    Raises:
      ValueError: ``style_cond`` given to a generator with ``style_cond_dim=0``.
    """
    if cfg.style_cond_dim:
        if style_cond is None:
            style_cond = jnp.zeros((ws.shape[0], cfg.style_cond_dim), ws.dtype)
        return condition_ws(ws, style_cond)
    if style_cond is not None:
        raise ValueError("style_cond given but the generator has style_cond_dim=0")
    return ws


def condition_ws(ws, style_cond):
    """StylEx conditioning: append ``style_cond`` to every w (tiled across layers).

    Args:
      ws: ``[N, num_ws, w_dim]``.
      style_cond: ``[N, K]`` (e.g. classifier logits).

    Returns:
      ``[N, num_ws, w_dim + K]``.
    """
    style_cond = jnp.asarray(style_cond, ws.dtype)
    if ws.ndim != 3 or style_cond.ndim != 2 or style_cond.shape[0] != ws.shape[0]:
        raise ValueError(f"condition_ws: need ws [N, num_ws, w_dim] and style_cond [N, K], got "
                         f"{ws.shape} and {style_cond.shape}")
    tiled = jnp.broadcast_to(style_cond[:, None, :], (ws.shape[0], ws.shape[1], style_cond.shape[1]))
    return jnp.concatenate([ws, tiled], axis=-1)


class Generator(nn.Module):
    """Variables: ``params`` (trainable) and ``buffers`` (``w_avg``, ``noise_const``).

    Methods (use with ``apply(..., method=...)``, or through :mod:`jaxgan.model`):
    ``__call__`` (z, c -> image), ``mapping``, ``styles``, ``synthesis``.

    ``precision`` (default ``'float32'``, the official float32 result whatever
    ``cfg.num_fp16_res`` says): the synthesis' default compute precision; ``'float16'``
    reproduces the official mixed-precision path, ``'bfloat16'`` is its TPU variant and
    ``'config'`` is training's (see ``configs.block_dtype``).

    With ``cfg.style_cond_dim > 0`` (StylEx) the synthesis is built for ws of width
    ``w_dim + style_cond_dim``: :meth:`styles` takes ws already conditioned
    (:func:`condition_ws`), ``__call__`` takes ``style_cond`` (zeros when omitted).
    """
    cfg: GeneratorConfig
    precision: str = "float32"     # synthesis compute precision (configs.block_dtype)

    def setup(self):
        cfg = self.cfg
        syn_cfg = cfg.replace(w_dim=cfg.synthesis_w_dim) if cfg.style_cond_dim else cfg
        self.synthesis_net = SynthesisNetwork(syn_cfg, precision=self.precision, name="synthesis")
        self.mapping_net = MappingNetwork(
            z_dim=cfg.z_dim, c_dim=cfg.c_dim, w_dim=cfg.w_dim, num_ws=cfg.num_ws,
            num_layers=cfg.mapping_layers, embed_features=cfg.embed_features,
            layer_features=cfg.layer_features, lr_multiplier=cfg.mapping_lr_multiplier,
            w_avg_beta=cfg.w_avg_beta, name="mapping")

    def mapping(self, z, c=None, truncation_psi=1.0, truncation_cutoff=None, update_w_avg=False):
        return self.mapping_net(z, c, truncation_psi=truncation_psi,
                                truncation_cutoff=truncation_cutoff, update_w_avg=update_w_avg)

    def styles(self, ws):
        return self.synthesis_net.styles(ws)

    def synthesis(self, styles, **kw):
        return self.synthesis_net(styles, **kw)

    def __call__(self, z, c=None, truncation_psi=1.0, truncation_cutoff=None, style_cond=None,
                 **synthesis_kw):
        ws = with_style_cond(self.cfg, self.mapping(z, c, truncation_psi, truncation_cutoff),
                             style_cond)
        return self.synthesis(self.styles(ws), **synthesis_kw)


class ClassBoundGenerator(Generator):
    """A conditional generator with a fixed condition: ``mapping(z)`` without ``c`` uses
    ``class_vector`` (an explicit ``c`` still wins). Same variables as :class:`Generator`;
    every tool written for unconditional generators (directions, ensembling, encoder
    training) runs on it unchanged. Build it with :func:`jaxgan.model.bind_class`.

    Attributes:
      class_vector: the condition ``[c_dim]`` as a tuple of floats (hashable; usually
        one-hot).
    """
    class_vector: tuple = ()

    def mapping(self, z, c=None, truncation_psi=1.0, truncation_cutoff=None, update_w_avg=False):
        if c is None and self.class_vector:
            c = jnp.broadcast_to(jnp.asarray(self.class_vector, jnp.float32),
                                 (z.shape[0], len(self.class_vector)))
        return super().mapping(z, c, truncation_psi, truncation_cutoff, update_w_avg)
