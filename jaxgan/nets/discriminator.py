"""StyleGAN2 discriminator (official ``DiscriminatorBlock``, ``DiscriminatorEpilogue``,
``Discriminator``), channels last.

The epilogue's ``fc`` flattens ``[N, 4, 4, C]`` in NHWC order; the converter reorders the
official (NCHW-flattened) weight accordingly.
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import flax.linen as nn

from jaxgan.nets.configs import DiscriminatorConfig, block_dtype, check_precision
from jaxgan.nets.layers import Conv2dLayer, FullyConnected
from jaxgan.nets.mapping import MappingNetwork
from jaxgan.ops import downsample2d, minibatch_stddev, setup_filter


class DiscriminatorBlock(nn.Module):
    in_channels: int          # 0 for the first block
    tmp_channels: int
    out_channels: int
    resolution: int
    img_channels: int
    architecture: str = "resnet"
    activation: str = "lrelu"
    resample_filter: tuple[float, ...] = (1, 3, 3, 1)
    conv_clamp: float | None = None

    def setup(self):
        act, clamp, f = self.activation, self.conv_clamp, self.resample_filter
        if self.in_channels == 0 or self.architecture == "skip":
            self.fromrgb = Conv2dLayer(self.img_channels, self.tmp_channels, 1, activation=act,
                                       conv_clamp=clamp)
        self.conv0 = Conv2dLayer(self.tmp_channels, self.tmp_channels, 3, activation=act,
                                 conv_clamp=clamp)
        self.conv1 = Conv2dLayer(self.tmp_channels, self.out_channels, 3, activation=act, down=2,
                                 resample_filter=f, conv_clamp=clamp)
        if self.architecture == "resnet":
            self.skip = Conv2dLayer(self.tmp_channels, self.out_channels, 1, bias=False, down=2,
                                    resample_filter=f)

    def __call__(self, x, img, dtype="float32"):
        """``dtype``: the block's compute dtype (see ``configs.block_dtype``)."""
        dtype = jnp.dtype(dtype)
        if x is not None:
            x = x.astype(dtype)
        if self.in_channels == 0 or self.architecture == "skip":
            img = img.astype(dtype)                  # the official block casts img too
            y = self.fromrgb(img)
            x = x + y if x is not None else y
            img = (downsample2d(img, setup_filter(self.resample_filter))
                   if self.architecture == "skip" else None)
        if self.architecture == "resnet":
            y = self.skip(x, gain=np.sqrt(0.5))
            x = self.conv0(x)
            x = self.conv1(x, gain=np.sqrt(0.5))
            x = y + x
        else:
            x = self.conv1(self.conv0(x))
        return x, img


class DiscriminatorEpilogue(nn.Module):
    in_channels: int
    cmap_dim: int
    resolution: int
    img_channels: int
    architecture: str = "resnet"
    mbstd_group_size: int | None = 4
    mbstd_num_channels: int = 1
    activation: str = "lrelu"
    conv_clamp: float | None = None

    def setup(self):
        c, act = self.in_channels, self.activation
        if self.architecture == "skip":
            self.fromrgb = Conv2dLayer(self.img_channels, c, 1, activation=act)
        self.conv = Conv2dLayer(c + self.mbstd_num_channels, c, 3, activation=act,
                                conv_clamp=self.conv_clamp)
        self.fc = FullyConnected(c * self.resolution ** 2, c, activation=act)
        self.out = FullyConnected(c, 1 if self.cmap_dim == 0 else self.cmap_dim)

    def __call__(self, x, img, cmap):
        x = x.astype(jnp.float32)
        if self.architecture == "skip":
            x = x + self.fromrgb(img.astype(jnp.float32))
        if self.mbstd_num_channels > 0:
            x = minibatch_stddev(x, self.mbstd_group_size, self.mbstd_num_channels)
        x = self.conv(x)
        x = self.fc(x.reshape(x.shape[0], -1))        # NHWC flatten
        x = self.out(x)
        if self.cmap_dim > 0:
            x = jnp.sum(x * cmap, axis=1, keepdims=True) * (1 / np.sqrt(self.cmap_dim))
        return x


class Discriminator(nn.Module):
    """image ``[N, R, R, C]`` (and c ``[N, c_dim]``) -> logits ``[N, 1]``.

    ``precision``: the default compute precision (``'float32'``, the official float32 result
    whatever ``cfg.num_fp16_res`` says; see ``configs.block_dtype``).
    """
    cfg: DiscriminatorConfig
    precision: str = "float32"

    def setup(self):
        cfg = self.cfg
        for res in cfg.block_resolutions:
            setattr(self, f"b{res}", DiscriminatorBlock(
                in_channels=cfg.channels(res) if res < cfg.img_resolution else 0,
                tmp_channels=cfg.channels(res), out_channels=cfg.channels(res // 2),
                resolution=res, img_channels=cfg.img_channels, architecture=cfg.architecture,
                resample_filter=tuple(cfg.resample_filter), conv_clamp=cfg.conv_clamp))
        cmap_dim = cfg.resolved_cmap_dim
        if cfg.c_dim > 0:
            self.mapping = MappingNetwork(z_dim=0, c_dim=cfg.c_dim, w_dim=cmap_dim, num_ws=None,
                                          num_layers=cfg.mapping_layers, w_avg_beta=None,
                                          lr_multiplier=cfg.mapping_lr_multiplier)
        self.b4 = DiscriminatorEpilogue(
            cfg.channels(4), cmap_dim=cmap_dim, resolution=4, img_channels=cfg.img_channels,
            architecture=cfg.architecture, mbstd_group_size=cfg.mbstd_group_size,
            mbstd_num_channels=cfg.mbstd_num_channels, conv_clamp=cfg.conv_clamp)

    def __call__(self, img, c=None, precision: str | None = None):
        """Logits ``[N, 1]``; ``precision`` as ``configs.block_dtype`` (None: the module's)."""
        cfg = self.cfg
        precision = check_precision(self.precision if precision is None else precision)
        shape = (cfg.img_resolution, cfg.img_resolution, cfg.img_channels)
        if img.ndim != 4 or img.shape[1:] != shape:
            raise ValueError(f"discriminator: img must be [N, {shape[0]}, {shape[1]}, {shape[2]}] "
                             f"(NHWC), got {img.shape}")
        x = None
        for res in cfg.block_resolutions:
            x, img = getattr(self, f"b{res}")(x, img, dtype=block_dtype(cfg, res, precision))
        cmap = None
        if cfg.c_dim > 0:
            if c is None or c.shape != (img.shape[0] if img is not None else x.shape[0], cfg.c_dim):
                raise ValueError(f"discriminator: c must be [N, {cfg.c_dim}], got "
                                 f"{None if c is None else c.shape}")
            cmap = self.mapping(None, c)
        return self.b4(x, img, cmap)
