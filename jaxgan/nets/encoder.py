"""Image -> W+ encoder: StyleGAN2 discriminator backbone + pyramid (pSp-style) W+ head.

Architecture (channels last, equalised learning rate throughout, as the rest of the package):

* **Backbone** -- exactly the resnet ``Discriminator`` trunk: blocks ``b{R}, ..., b8``
  (``DiscriminatorBlock``: FromRGB 1x1 in the first block, two 3x3 convs with FIR
  down-sampling and a 1x1 down-sampling skip), channels ``min(channel_base // res,
  channel_max)``.  The parameter tree ``params['b{res}']`` has the same names and shapes as a
  ``Discriminator``'s with the same ``img_resolution``/``img_channels``/``channel_base``/
  ``channel_max``, so a trained discriminator's trunk can initialise the encoder
  (``backbone_from_discriminator``; StylEx's encoder is this architecture).
  No minibatch-stddev: every sample is encoded independently (``vmap``-safe).
* **Feature pyramid** -- the three deepest feature maps (4x4, 8x8, 16x16; fewer when the image
  is smaller than 32x32) are merged top-down as in FPN / pSp:
  ``p4 = f4``, ``p_r = sqrt(1/2) * (upsample2d(p_{r/2}) + lateral{r}(f_r))`` with a linear 1x1
  ``lateral{r}`` to the pyramid width ``channels(4)`` (the sqrt(1/2) keeps unit variance).
* **W+ head** -- W+ index ``i`` drives generator resolution ``4 * 2**(i // 2)``, so the ws are
  split into pSp's coarse / middle / fine groups by generator resolution: ``i < 4`` (4-8 px)
  from ``p4``, ``4 <= i < 8`` (16-32 px) from ``p8``, ``i >= 8`` (64 px and up) from ``p16``
  (clipped to the finest available level).  Each used level ``r`` has a ``head{r}``:
  ``log2(r/4)`` stride-2 3x3 convs down to 4x4, a 3x3 conv, NHWC flatten, an lrelu
  ``FullyConnected`` and a linear ``FullyConnected`` to ``k * w_dim`` (``k`` ws of the group).
  For 1024 px / 18 ws the groups are 4/4/10 (pSp uses 3/4/11 with the same rationale).
  Levels that receive no ws (small custom ``num_ws``) are not built.  A level's ws are a
  function of its ``channels(4)``-wide fc code; ws within a group are strongly correlated
  (identical for W-space targets), and pSp's one-head-per-w would cost several times more.

Because of equalised learning rate the initial output has O(1) scale independent of the
channel counts.  ``__call__(img, w_avg)`` optionally adds the generator's mean ``w`` so the
network predicts offsets from ``w_avg`` (common practice for encoder initialised inversion).
The encoder always runs in float32 and uses no batch statistics (``vmap``/``jit``/``grad``-safe,
a pure function of ``(variables, img)``).
"""
from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxgan.nets.configs import EncoderConfig
from jaxgan.nets.discriminator import DiscriminatorBlock
from jaxgan.nets.layers import Conv2dLayer, FullyConnected
from jaxgan.ops import setup_filter, upsample2d

#: W+ indices per pyramid level before the last level takes the rest (4 = two generator blocks).
WS_PER_LEVEL = 4
#: Feature resolutions of the pyramid levels, coarse to fine.
LEVEL_RESOLUTIONS = (4, 8, 16)


def ws_levels(cfg: EncoderConfig) -> tuple[tuple[int, int, int], ...]:
    """Which pyramid level predicts which ws.

    Args:
      cfg: the encoder configuration.
    Returns:
      ``((feature_res, start, stop), ...)`` coarse to fine: ``ws[:, start:stop]`` come from the
      ``feature_res`` x ``feature_res`` level.  Only levels with ``stop > start`` are listed;
      they are always a prefix of ``(4, 8, 16)``.
    """
    available = [r for r in LEVEL_RESOLUTIONS if r <= cfg.img_resolution // 2]
    num_ws = cfg.resolved_num_ws
    out = []
    for j, res in enumerate(available):
        start = j * WS_PER_LEVEL
        stop = num_ws if j == len(available) - 1 else min((j + 1) * WS_PER_LEVEL, num_ws)
        if stop > start:
            out.append((res, start, stop))
    return tuple(out)


def backbone_from_discriminator(params, d_params):
    """Copy a discriminator's resnet blocks ``b{res}`` into encoder params (StylEx-style init).

    Args:
      params: encoder ``variables['params']``.
      d_params: ``Discriminator`` ``variables['params']`` with the same ``img_resolution``,
        ``img_channels``, ``channel_base`` and ``channel_max`` (architecture ``'resnet'``).
    Returns:
      A new encoder params dict; the heads and laterals are kept.
    """
    blocks = [k for k in params if k.startswith("b") and k[1:].isdigit()]
    out = dict(params)
    for k in blocks:
        if k not in d_params:
            raise ValueError(f"backbone_from_discriminator: discriminator has no block {k!r}")
        want = jax.tree_util.tree_map(jnp.shape, params[k])
        got = jax.tree_util.tree_map(jnp.shape, d_params[k])
        if want != got:
            raise ValueError(f"backbone_from_discriminator: block {k!r} shapes differ: "
                             f"expected {want}, got {got}")
        out[k] = d_params[k]
    return out


class EncoderHead(nn.Module):
    """One pyramid level (pSp's ``map2style``): ``[N, r, r, C]`` -> ``[N, num_ws, w_dim]``."""
    channels: int
    resolution: int           # input feature resolution r >= 4
    num_ws: int
    w_dim: int
    resample_filter: tuple[float, ...] = (1, 3, 3, 1)

    def setup(self):
        c, f = self.channels, self.resample_filter
        self.num_down = int(math.log2(self.resolution // 4))
        for i in range(self.num_down):
            setattr(self, f"down{i}", Conv2dLayer(c, c, 3, activation="lrelu", down=2,
                                                  resample_filter=f))
        self.conv = Conv2dLayer(c, c, 3, activation="lrelu")
        self.fc = FullyConnected(c * 16, c, activation="lrelu")
        self.out = FullyConnected(c, self.num_ws * self.w_dim)

    def __call__(self, x):
        """Args: x ``[N, r, r, C]``. Returns ``[N, num_ws, w_dim]``."""
        for i in range(self.num_down):
            x = getattr(self, f"down{i}")(x)                    # [N, r/2^(i+1), .., C]
        x = self.conv(x)                                        # [N, 4, 4, C]
        x = self.fc(x.reshape(x.shape[0], -1))                  # [N, C] (NHWC flatten)
        return self.out(x).reshape(x.shape[0], self.num_ws, self.w_dim)


class Encoder(nn.Module):
    """images ``[N, R, R, C]`` in [-1, 1] -> W+ ``[N, num_ws, w_dim]``.

    Submodules: ``b{res}`` (discriminator blocks, ``res = R .. 8``), ``lateral{r}`` (FPN 1x1,
    ``r = 8, 16`` where used) and ``head{r}`` (per level W+ heads), see the module docstring.
    """
    cfg: EncoderConfig

    def setup(self):
        cfg = self.cfg
        f = tuple(cfg.resample_filter)
        self.levels = ws_levels(cfg)
        width = self.channels(4)
        for res in self.block_resolutions:
            setattr(self, f"b{res}", DiscriminatorBlock(
                in_channels=self.channels(res) if res < cfg.img_resolution else 0,
                tmp_channels=self.channels(res), out_channels=self.channels(res // 2),
                resolution=res, img_channels=cfg.img_channels, architecture="resnet",
                resample_filter=f))
        for r, start, stop in self.levels:
            if r > 4:
                setattr(self, f"lateral{r}", Conv2dLayer(self.channels(r), width, 1))
            setattr(self, f"head{r}", EncoderHead(width, r, stop - start, cfg.w_dim,
                                                  resample_filter=f))

    @property
    def block_resolutions(self) -> list[int]:
        """Backbone block resolutions, ``[R, R/2, ..., 8]``."""
        return [2 ** i for i in range(int(math.log2(self.cfg.img_resolution)), 2, -1)]

    def channels(self, res: int) -> int:
        """Feature channels at resolution ``res``."""
        return min(self.cfg.channel_base // res, self.cfg.channel_max)

    def __call__(self, img, w_avg=None):
        """Encode images.

        Args:
          img: ``[N, R, R, img_channels]`` images in [-1, 1] (NHWC).
          w_avg: optional ``[w_dim]`` (or ``[num_ws, w_dim]``) offset added to every output w,
            typically the generator's ``buffers['mapping']['w_avg']``.
        Returns:
          ws ``[N, num_ws, w_dim]`` (float32).
        """
        cfg = self.cfg
        shape = (cfg.img_resolution, cfg.img_resolution, cfg.img_channels)
        if img.ndim != 4 or tuple(img.shape[1:]) != shape:
            raise ValueError(f"encoder: img must be [N, {shape[0]}, {shape[1]}, {shape[2]}] "
                             f"(NHWC), got {tuple(img.shape)}")
        num_ws = cfg.resolved_num_ws
        allowed = ((cfg.w_dim,), (num_ws, cfg.w_dim))
        if w_avg is not None and tuple(jnp.shape(w_avg)) not in allowed:
            raise ValueError(f"encoder: w_avg must be [{cfg.w_dim}] or [{num_ws}, {cfg.w_dim}], "
                             f"got {tuple(jnp.shape(w_avg))}")

        feats = {}                                              # res -> [N, res, res, C_res]
        x, rgb = None, img.astype(jnp.float32)
        for res in self.block_resolutions:
            x, rgb = getattr(self, f"b{res}")(x, rgb)
            feats[res // 2] = x

        ws, p = [], feats[4]                                    # p: pyramid level [N, r, r, C4]
        f = setup_filter(tuple(cfg.resample_filter))
        for r, _, _ in self.levels:                             # top-down: 4, 8, 16
            if r > 4:
                p = (upsample2d(p, f) + getattr(self, f"lateral{r}")(feats[r])) * np.sqrt(0.5)
            ws.append(getattr(self, f"head{r}")(p))             # [N, k, w_dim]
        ws = jnp.concatenate(ws, axis=1) if len(ws) > 1 else ws[0]
        if w_avg is not None:
            ws = ws + jnp.asarray(w_avg, ws.dtype)
        return ws
