"""StyleGAN2 generator = mapping + synthesis (official ``Generator``)."""
from __future__ import annotations

import flax.linen as nn

from jaxgan.nets.configs import GeneratorConfig
from jaxgan.nets.mapping import MappingNetwork
from jaxgan.nets.synthesis import SynthesisNetwork


class Generator(nn.Module):
    """Variables: ``params`` (trainable) and ``buffers`` (``w_avg``, ``noise_const``).

    Methods (use with ``apply(..., method=...)``, or through :mod:`jaxgan.model`):
    ``__call__`` (z, c -> image), ``mapping``, ``styles``, ``synthesis``.
    """
    cfg: GeneratorConfig

    def setup(self):
        cfg = self.cfg
        self.synthesis_net = SynthesisNetwork(cfg, name="synthesis")
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

    def __call__(self, z, c=None, truncation_psi=1.0, truncation_cutoff=None, **synthesis_kw):
        ws = self.mapping(z, c, truncation_psi, truncation_cutoff)
        return self.synthesis(self.styles(ws), **synthesis_kw)
