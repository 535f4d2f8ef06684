"""Synthesis network (official ``SynthesisLayer``/``ToRGBLayer``/``SynthesisBlock``/
``SynthesisNetwork``), run from an explicit StyleSpace pytree.

StyleSpace: every modulated layer's style vector (its affine output) is an entry of a
nested dict ``styles[f'b{res}'][layer] -> [N, in_channels]`` with ``layer`` in
``conv0``, ``conv1``, ``torgb``. :meth:`SynthesisNetwork.styles` computes it from ws;
:meth:`SynthesisNetwork.__call__` renders from it, so editing one style channel is a pure
function of the pytree.

Noise: ``noise_mode`` is ``'const'`` (the ``noise_const`` buffers), ``'random'``
(N(0, 1) from ``noise_key``, folded in per layer) or ``'none'``. An explicit ``noise``
dict with the same nesting (``[N, H, W]`` or ``[H, W]`` maps, unscaled) overrides the
mode for the layers it names; inversion optimises these. Every map is multiplied by the
layer's learned ``noise_strength``, as the official code.

Feature maps (for dissection; default off): every modulated conv layer's output (after
bias, activation and clamp) is named ``'b{res}.conv0'`` / ``'b{res}.conv1'``
(``[N, res, res, C]``). ``feature_edits={name: fn}`` replaces that map by ``fn(x)`` (same
shape) before the rest of the network runs; ``capture=(name, ...)`` makes the network
return ``(img, {name: map})`` (the maps after any edit). Both are trace-time Python
branches: when unused the computation is exactly the unhooked one.
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import flax.linen as nn

from jaxgan.nets.configs import GeneratorConfig, block_dtype, check_precision
from jaxgan.nets.layers import Conv2dLayer, FullyConnected, const_init, normal_init
from jaxgan.ops import DEF_GAIN, bias_act, modulated_conv2d, setup_filter, upsample2d

NOISE_MODES = ("random", "const", "none")


def _layer_noise(noise, mode, key, strength, n, res, dtype):
    """Scaled noise ``[N or 1, res, res, 1]`` for one layer, or None."""
    if noise is not None:
        noise = jnp.asarray(noise, jnp.float32)
        if noise.ndim == 2:
            noise = noise[None]
        if noise.shape[-2:] != (res, res):
            raise ValueError(f"noise map for a {res}x{res} layer has shape {noise.shape}")
        return (noise[..., None] * strength).astype(dtype)
    if mode == "none":
        return None
    if mode == "random":
        if key is None:
            raise ValueError("noise_mode='random' needs noise_key")
        return (jax.random.normal(key, (n, res, res, 1)) * strength).astype(dtype)
    return None  # 'const' handled by the caller (needs the buffer)


class SynthesisLayer(nn.Module):
    """Modulated 3x3 conv (+ optional ×2 up-sampling), noise, bias, lrelu, clamp."""
    in_channels: int
    out_channels: int
    w_dim: int
    resolution: int
    kernel_size: int = 3
    up: int = 1
    use_noise: bool = True
    activation: str = "lrelu"
    resample_filter: tuple[float, ...] = (1, 3, 3, 1)
    conv_clamp: float | None = None

    def setup(self):
        k = self.kernel_size
        self.affine = FullyConnected(self.w_dim, self.in_channels, bias_init=1.0)
        self.weight = self.param("weight", normal_init(1.0), (k, k, self.in_channels, self.out_channels))
        if self.use_noise:
            self.noise_const = self.variable(
                "buffers", "noise_const",
                lambda: jax.random.normal(self.make_rng("params"), (self.resolution, self.resolution)))
            self.noise_strength = self.param("noise_strength", nn.initializers.zeros, ())
        self.bias = self.param("bias", nn.initializers.zeros, (self.out_channels,))

    def style(self, w):
        """Affine: ``[N, w_dim] -> [N, in_channels]``."""
        return self.affine(w)

    def __call__(self, x, style, noise_mode="const", noise=None, noise_key=None, fused=True,
                 gain: float = 1.0):
        n = x.shape[0]
        nz = None
        if self.use_noise:
            nz = _layer_noise(noise, noise_mode, noise_key, self.noise_strength, n,
                              self.resolution, x.dtype)
            if nz is None and noise is None and noise_mode == "const":
                nz = (self.noise_const.value * self.noise_strength)[None, :, :, None].astype(x.dtype)
        x = modulated_conv2d(x, self.weight, style, noise=nz, up=self.up,
                             padding=self.kernel_size // 2,
                             resample_filter=setup_filter(self.resample_filter), fused=fused,
                             flip_weight=self.up == 1)
        act_gain = DEF_GAIN[self.activation] * gain
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_act(x, self.bias, act=self.activation, gain=act_gain, clamp=clamp)


class ToRGBLayer(nn.Module):
    """Modulated 1x1 conv without demodulation; styles scaled by 1/√in."""
    in_channels: int
    out_channels: int
    w_dim: int
    kernel_size: int = 1
    conv_clamp: float | None = None

    def setup(self):
        k = self.kernel_size
        self.affine = FullyConnected(self.w_dim, self.in_channels, bias_init=1.0)
        self.weight = self.param("weight", normal_init(1.0), (k, k, self.in_channels, self.out_channels))
        self.bias = self.param("bias", nn.initializers.zeros, (self.out_channels,))

    def style(self, w):
        return self.affine(w)

    def __call__(self, x, style, fused=True):
        s = style * (1 / np.sqrt(self.in_channels * self.kernel_size ** 2))
        x = modulated_conv2d(x, self.weight, s, demodulate=False, fused=fused)
        return bias_act(x, self.bias, clamp=self.conv_clamp)


class SynthesisBlock(nn.Module):
    """One resolution: [const | conv0 (up)], conv1, [torgb], [resnet skip]."""
    in_channels: int
    out_channels: int
    w_dim: int
    resolution: int
    img_channels: int
    is_last: bool
    architecture: str = "skip"
    resample_filter: tuple[float, ...] = (1, 3, 3, 1)
    conv_clamp: float | None = None
    use_noise: bool = True

    @property
    def layer_names(self) -> tuple[str, ...]:
        names = () if self.in_channels == 0 else ("conv0",)
        names += ("conv1",)
        if self.is_last or self.architecture == "skip":
            names += ("torgb",)
        return names

    @property
    def num_conv(self) -> int:
        return 1 if self.in_channels == 0 else 2

    def setup(self):
        kw = dict(w_dim=self.w_dim, resolution=self.resolution, conv_clamp=self.conv_clamp,
                  use_noise=self.use_noise, resample_filter=self.resample_filter)
        if self.in_channels == 0:
            self.const = self.param("const", normal_init(1.0),
                                    (self.resolution, self.resolution, self.out_channels))
        else:
            self.conv0 = SynthesisLayer(self.in_channels, self.out_channels, up=2, **kw)
        self.conv1 = SynthesisLayer(self.out_channels, self.out_channels, **kw)
        if self.is_last or self.architecture == "skip":
            self.torgb = ToRGBLayer(self.out_channels, self.img_channels, w_dim=self.w_dim,
                                    conv_clamp=self.conv_clamp)
        if self.in_channels != 0 and self.architecture == "resnet":
            self.skip = Conv2dLayer(self.in_channels, self.out_channels, kernel_size=1, bias=False,
                                    up=2, resample_filter=self.resample_filter)

    def styles(self, ws):
        """``ws: [N, len(layer_names), w_dim]`` -> ``{layer: [N, in]}``."""
        return {name: getattr(self, name).style(ws[:, i]) for i, name in enumerate(self.layer_names)}

    def __call__(self, x, img, styles, noise_mode="const", noise=None, noise_key=None,
                 fused=True, dtype="float32", feature_edits=None, capture=()):
        """One block. ``dtype``: its compute dtype (see ``configs.block_dtype``);
        ``feature_edits``: ``{layer: fn}`` applied to that layer's output; ``capture``: layer
        names whose outputs are returned as a third value ``{layer: map}`` (only when
        non-empty)."""
        dtype = jnp.dtype(dtype)
        noise = noise or {}
        edits = feature_edits or {}
        feats = {}

        def hook(name, h):
            if name in edits:
                out = edits[name](h)
                if out.shape != h.shape:
                    raise ValueError(f"feature edit for {name!r} returned shape {out.shape}, "
                                     f"expected {h.shape}")
                h = out.astype(h.dtype)
            if name in capture:
                feats[name] = h
            return h

        keys = (jax.random.split(noise_key, 2) if noise_key is not None else (None, None))
        lk = dict(noise_mode=noise_mode, fused=fused)
        if self.in_channels == 0:
            n = styles["conv1"].shape[0]
            x = jnp.broadcast_to(self.const.astype(dtype)[None], (n,) + self.const.shape)
            x = self.conv1(x, styles["conv1"], noise=noise.get("conv1"), noise_key=keys[1], **lk)
            x = hook("conv1", x)
        else:
            x = x.astype(dtype)
            if self.architecture == "resnet":
                y = self.skip(x, gain=np.sqrt(0.5))
                x = self.conv0(x, styles["conv0"], noise=noise.get("conv0"), noise_key=keys[0], **lk)
                x = hook("conv0", x)
                x = self.conv1(x, styles["conv1"], noise=noise.get("conv1"), noise_key=keys[1],
                               gain=np.sqrt(0.5), **lk)
                x = y + hook("conv1", x)
            else:
                x = self.conv0(x, styles["conv0"], noise=noise.get("conv0"), noise_key=keys[0], **lk)
                x = hook("conv0", x)
                x = self.conv1(x, styles["conv1"], noise=noise.get("conv1"), noise_key=keys[1], **lk)
                x = hook("conv1", x)
        if img is not None:
            img = upsample2d(img, setup_filter(self.resample_filter))
        if self.is_last or self.architecture == "skip":
            y = self.torgb(x, styles["torgb"], fused=fused).astype(jnp.float32)
            img = img + y if img is not None else y
        if capture:
            return x, img, feats
        return x, img


class SynthesisNetwork(nn.Module):
    """ws or styles -> image ``[N, R, R, img_channels]`` (float32, roughly [-1, 1]).

    ``precision``: the default compute precision of :meth:`__call__` (``'float32'``,
    ``'float16'``, ``'bfloat16'`` or ``'config'``; see ``configs.block_dtype``).
    """
    cfg: GeneratorConfig
    precision: str = "float32"

    def setup(self):
        cfg = self.cfg
        for res in cfg.block_resolutions:
            in_ch = cfg.channels(res // 2) if res > 4 else 0
            setattr(self, f"b{res}", SynthesisBlock(
                in_ch, cfg.channels(res), w_dim=cfg.w_dim, resolution=res,
                img_channels=cfg.img_channels, is_last=res == cfg.img_resolution,
                architecture=cfg.architecture, resample_filter=tuple(cfg.resample_filter),
                conv_clamp=cfg.conv_clamp, use_noise=cfg.use_noise))

    def styles(self, ws):
        """``ws: [N, num_ws, w_dim]`` -> StyleSpace dict ``{f'b{res}': {layer: [N, C]}}``."""
        cfg = self.cfg
        if ws.ndim != 3 or ws.shape[1:] != (cfg.num_ws, cfg.w_dim):
            raise ValueError(f"synthesis: ws must be [N, {cfg.num_ws}, {cfg.w_dim}], got {ws.shape}")
        ws = ws.astype(jnp.float32)
        out, idx = {}, 0
        for res in cfg.block_resolutions:
            block = getattr(self, f"b{res}")
            k = len(block.layer_names)
            out[f"b{res}"] = block.styles(ws[:, idx:idx + k])
            idx += block.num_conv
        return out

    def feature_names(self) -> tuple[str, ...]:
        """Names of the feature maps ``feature_edits`` / ``capture`` accept, input to output."""
        cfg = self.cfg
        return tuple(f"b{res}.{layer}" for res in cfg.block_resolutions
                     for layer in (("conv1",) if res == 4 else ("conv0", "conv1")))

    def __call__(self, styles, noise_mode="const", noise=None, noise_key=None, fused=True,
                 precision: str | None = None, feature_edits: dict[str, Callable] | None = None,
                 capture: tuple[str, ...] | list[str] = ()):
        """Render from a StyleSpace pytree.

        Args:
          styles, noise_mode, noise, noise_key, fused: see the module docstring.
          precision: ``'float32'`` (the official float32 result whatever
            ``num_fp16_res`` says), ``'float16'`` / ``'bfloat16'`` (the official mixed
            precision layout) or ``'config'`` (training); see ``configs.block_dtype``.
            None: the module's ``precision`` (float32 unless built with another).
          feature_edits: optional ``{'b{res}.conv{0,1}': fn}``; ``fn([N, res, res, C]) ->
            [N, res, res, C]`` replaces that layer's output (pure function of the map).
          capture: feature-map names to return.

        Returns:
          image ``[N, R, R, img_channels]``; with ``capture``, ``(image, {name: map})``.
        """
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        precision = check_precision(self.precision if precision is None else precision)
        noise = noise or {}
        capture = tuple(capture)
        per_block: dict[str, dict] = {}
        if feature_edits or capture:
            valid = self.feature_names()
            for name in list(feature_edits or {}) + list(capture):
                if name not in valid:
                    raise ValueError(f"unknown feature map {name!r}; valid names: {list(valid)}")
            for name, fn in (feature_edits or {}).items():
                b, layer = name.split(".")
                per_block.setdefault(b, {"edits": {}, "capture": ()})["edits"][layer] = fn
            for name in capture:
                b, layer = name.split(".")
                d = per_block.setdefault(b, {"edits": {}, "capture": ()})
                d["capture"] = d["capture"] + (layer,)
        feats = {}
        x = img = None
        for i, res in enumerate(self.cfg.block_resolutions):
            name = f"b{res}"
            if name not in styles:
                raise ValueError(f"styles pytree has no entry {name!r}; keys: {sorted(styles)}")
            key = jax.random.fold_in(noise_key, i) if noise_key is not None else None
            hk = per_block.get(name)
            hook_kw = {} if hk is None else dict(feature_edits=hk["edits"], capture=hk["capture"])
            out = getattr(self, name)(x, img, styles[name], noise_mode=noise_mode,
                                      noise=noise.get(name), noise_key=key, fused=fused,
                                      dtype=block_dtype(self.cfg, res, precision), **hook_kw)
            if hk is not None and hk["capture"]:
                x, img, f = out
                feats.update({f"{name}.{k}": v for k, v in f.items()})
            else:
                x, img = out
        if capture:
            return img, {n: feats[n] for n in capture}
        return img
