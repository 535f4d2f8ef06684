"""Adaptive discriminator augmentation (ADA, Karras et al. 2020) in pure JAX.

Functional counterpart of ``AugmentPipe`` (``training/augment.py``) and of the ADA heuristic
in ``training/training_loop.py`` of stylegan2-ada-pytorch, for ``[N, H, W, C]`` float32
images in [-1, 1]::

    cfg = augment_preset("bgc")
    ada = ada_init()
    d_in = augment(images, ada.p, key, cfg)                 # differentiable in ``images``
    ada = ada_accumulate(ada, real_logits)                  # every D step on reals
    ada = ada_update(ada, None, batch_size)                 # once per training step

Same as the official: the operations, their order, probabilities (``p * multiplier``,
sampled per sample; the two arbitrary rotations each with ``1 - sqrt(1 - rotate * p)``),
parameter distributions and defaults, the composition into one 3x3 geometric matrix and one
4x4 colour matrix, the handling of 1-channel images, the image-space filter bank, noise,
cutout, and the ADA rule.

Differences (by design):

* Random numbers come from ``jax.random`` (one uniform block per call, a fixed column
  per draw, normals by the inverse CDF), so results are not bit-identical to torch's RNG
  stream; enabling an operation does not change the draws of the others.
* Geometric resampling (``resample='wavelet'``, default) follows the official
  upsample/``grid_sample``/downsample algorithm with static shapes: the reflect padding is
  infinite (periodic) instead of a data-dependent margin clamped to ``size - 1`` beyond which
  the official samples zeros. ``resample='bilinear'`` is a cheaper single bilinear
  ``grid_sample`` with reflection (no anti-aliasing).
* Samples whose geometric matrix is exactly the identity, or whose filter-bank gains did not
  fire, are passed through bit-exactly (the official runs them through the filters: identity
  up to ~1e-6), and the resampling is skipped (``lax.cond``) when no sample needs it. Hence
  ``p = 0`` returns the input exactly.
* ``exact_blit=True`` (default): samples whose composed transform is a pure pixel move
  (x-flip, 90-degree rotation, integer translation and no general op) are moved exactly, as
  the paper describes blitting. The official sends them through the wavelet chain too, which
  for flips and rotations is not exact: the asymmetric ``sym6`` filter's delay (~0.05 px)
  no longer cancels under mirroring, a ~0.1 px shift (errors ~0.04 on a smooth image, ~0.25
  on white noise). ``exact_blit=False`` reproduces the official behaviour.
* The image filter uses infinite reflection too, so images smaller than 22 px work.
"""
from __future__ import annotations

import dataclasses
import numbers
import types
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxgan.training import augment_ops as ops

_MULTIPLIERS = ("xflip", "rotate90", "xint", "scale", "rotate", "aniso", "xfrac", "brightness",
                "contrast", "lumaflip", "hue", "saturation", "imgfilter", "noise", "cutout")
_GEOM = _MULTIPLIERS[:7]
_COLOR = _MULTIPLIERS[7:12]
# Fixed column of each random draw in the uniform / normal parts of one [N, K] block, so
# that enabling an operation does not change the draws of the others.
_UNIFORM = types.MappingProxyType({name: i for i, name in enumerate((
    "xflip", "xflip_i", "rotate90", "rotate90_i", "xint", "xint_x", "xint_y", "scale",
    "rotate", "rotate_theta", "rotate_post", "rotate_post_theta", "aniso", "xfrac",
    "brightness", "contrast", "lumaflip", "lumaflip_i", "hue", "hue_theta", "saturation",
    "imgfilter0", "imgfilter1", "imgfilter2", "imgfilter3", "noise", "cutout", "cutout_x",
    "cutout_y"))})
_NORMAL = types.MappingProxyType({name: i for i, name in enumerate((
    "scale", "aniso", "xfrac_x", "xfrac_y", "brightness", "contrast", "saturation",
    "imgfilter0", "imgfilter1", "imgfilter2", "imgfilter3", "noise"))})
_LUMA_AXIS = np.array([1, 1, 1, 0], np.float64) / np.sqrt(3)
_EXPECTED_POWER = np.array([10, 1, 1, 1], np.float32) / 13       # 1/f power of the 4 bands


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
    """Static settings of the pipeline (hashable: usable as a ``jit`` static argument).

    Multipliers scale the overall probability ``p`` of each operation (0 disables it);
    strengths are as the official ``AugmentPipe`` arguments (``*_std`` of ``log2`` scales are
    in octaves; translations are relative to the image size; ``*_max`` of angles in turns/2).
    """
    xflip: float = 0.0             # x-flip
    rotate90: float = 0.0          # rotation by a multiple of 90 degrees
    xint: float = 0.0              # integer translation
    xint_max: float = 0.125        # range of integer translation, relative to image size
    scale: float = 0.0             # isotropic scaling
    rotate: float = 0.0            # arbitrary rotation (pre and post anisotropic scaling)
    aniso: float = 0.0             # anisotropic scaling
    xfrac: float = 0.0             # fractional translation
    scale_std: float = 0.2         # log2 std of isotropic scaling
    rotate_max: float = 1.0        # range of arbitrary rotation, 1 = full circle
    aniso_std: float = 0.2         # log2 std of anisotropic scaling
    xfrac_std: float = 0.125       # std of fractional translation, relative to image size
    brightness: float = 0.0        # additive brightness
    contrast: float = 0.0          # contrast (all channels scaled about 0 = mid-grey)
    lumaflip: float = 0.0          # luma flip (Householder reflection of the luma axis)
    hue: float = 0.0               # hue rotation about the luma axis (RGB only)
    saturation: float = 0.0        # saturation (RGB only)
    brightness_std: float = 0.2    # std of brightness
    contrast_std: float = 0.5      # log2 std of contrast
    hue_max: float = 1.0           # range of hue rotation, 1 = full circle
    saturation_std: float = 1.0    # log2 std of saturation
    imgfilter: float = 0.0         # image-space filtering (4 frequency bands)
    imgfilter_bands: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0)   # per-band multipliers
    imgfilter_std: float = 1.0     # log2 std of band amplification
    noise: float = 0.0             # additive Gaussian noise
    cutout: float = 0.0            # cutout (zeroed rectangle)
    noise_std: float = 0.1         # std of the noise std (half-normal)
    cutout_size: float = 0.5       # cutout side, relative to image size
    resample: str = "wavelet"      # 'wavelet' (official algorithm) or 'bilinear' (cheap)
    exact_blit: bool = True        # pure pixel moves as exact gathers (see module doc)

    def __post_init__(self):
        for name in _MULTIPLIERS:
            if getattr(self, name) < 0:
                raise ValueError(f"AugmentConfig.{name} must be >= 0, got {getattr(self, name)}")
        if self.resample not in ("wavelet", "bilinear"):
            raise ValueError(f"resample must be 'wavelet' or 'bilinear', got {self.resample!r}")
        bands = tuple(float(b) for b in self.imgfilter_bands)
        if len(bands) != 4:
            raise ValueError(f"imgfilter_bands needs 4 entries, got {len(bands)}")
        object.__setattr__(self, "imgfilter_bands", bands)

    @property
    def enabled(self) -> tuple[str, ...]:
        """Names of the operations with a non-zero multiplier."""
        return tuple(n for n in _MULTIPLIERS if getattr(self, n) > 0)


# Official ``--augpipe`` groups; a preset name is one of the long names or a string of the
# letters b, g, c, f, n, c in this order (the second 'c' is cutout, as in 'bgcfnc').
_GROUPS = (("b", "blit", ("xflip", "rotate90", "xint")),
           ("g", "geom", ("scale", "rotate", "aniso", "xfrac")),
           ("c", "color", _COLOR),
           ("f", "filter", ("imgfilter",)),
           ("n", "noise", ("noise",)),
           ("c", "cutout", ("cutout",)))


def augment_preset(name: str, **overrides) -> AugmentConfig:
    """Config of an official ``--augpipe`` preset.

    Args:
      name: 'blit', 'geom', 'color', 'filter', 'noise', 'cutout', 'noaug', or letters of
        'bgcfnc' in order: 'b', 'g', 'c', 'bg', 'gc', 'bgc' (the official default), 'bgcf',
        'bgcfn', 'bgcfnc', ...
      **overrides: any :class:`AugmentConfig` field (strengths, ``resample``...).

    Returns:
      :class:`AugmentConfig` with the preset's multipliers set to 1.
    """
    ops_on: list[str] = []
    long_names = {g[1]: g[2] for g in _GROUPS}
    if name in long_names:
        ops_on = list(long_names[name])
    elif name != "noaug":
        rest = name
        for letter, _, members in _GROUPS:
            if rest[:1] == letter:
                ops_on += members
                rest = rest[1:]
        if rest or not name:
            raise ValueError(f"unknown augmentation preset {name!r}; use one of "
                             f"{sorted(long_names) + ['noaug']} or letters of 'bgcfnc' in order")
    return AugmentConfig(**{**{op: 1.0 for op in ops_on}, **overrides})


def _check_inputs(images, p, cfg: AugmentConfig):
    if not isinstance(cfg, AugmentConfig):
        raise TypeError(f"cfg must be an AugmentConfig, got {type(cfg).__name__}")
    if images.ndim != 4:
        raise ValueError(f"images must be [N, H, W, C], got shape {images.shape}")
    _, h, w, ch = images.shape
    if (h < 2 or w < 2) and (set(cfg.enabled) & set(_GEOM + ("imgfilter",))):
        raise ValueError(f"geometric/filter augmentations need H, W >= 2, got {h}x{w}")
    if ch not in (1, 3) and set(cfg.enabled) & set(_COLOR):
        raise ValueError(f"colour augmentations need 1 or 3 channels, got {ch}")
    if jnp.ndim(p) != 0:
        raise ValueError(f"p must be a scalar, got shape {jnp.shape(p)}")
    if isinstance(p, (numbers.Real, np.ndarray, np.generic)) and not 0 <= float(p) <= 1:
        raise ValueError(f"p must be in [0, 1], got {float(p)}")


class AugmentParams(NamedTuple):
    """Per-sample random parameters of one :func:`augment` call."""
    geom: jax.Array           # [N, 3, 3] G_inv: output -> input centred pixel coordinates
    color: jax.Array          # [N, 4, 4] C: input -> output homogeneous [r, g, b, 1]
    filter_taps: jax.Array    # [N, 43] separable image filter (used where filter_fire)
    filter_fire: jax.Array    # [N] bool any filter band fired
    noise_sigma: jax.Array    # [N] std of the additive noise (0 = none)
    noise_key: jax.Array      # PRNG key of the noise field
    cutout_size: jax.Array    # [N] cutout side relative to the image (0 = none)
    cutout_centre: jax.Array  # [N, 2] (x, y) relative to the image
    fired: dict               # op name -> [N] bool, whether the op fired (for diagnostics)


def sample_params(key: jax.Array, p, cfg: AugmentConfig, shape) -> AugmentParams:
    """Draw the augmentation parameters of a batch (the random half of :func:`augment`).

    Args:
      key: PRNG key.
      p: scalar augmentation probability.
      cfg: :class:`AugmentConfig`.
      shape: image batch shape ``(N, H, W, C)``.

    Returns:
      :class:`AugmentParams`; identity entries for operations that did not fire.
    """
    n, h, w, ch = shape
    p = jnp.asarray(p, jnp.float32)
    # One uniform block (each PRNG call adds ~0.3 s of XLA compile time on CPU); normals by
    # the inverse CDF, as jax.random.normal does.
    u_all = jax.random.uniform(key, (n, len(_UNIFORM) + len(_NORMAL)))      # [N, 41]
    z_all = np.sqrt(2) * lax.erf_inv(jnp.clip(u_all[:, len(_UNIFORM):] * 2 - 1,
                                              np.nextafter(np.float32(-1), 0), 1))
    k_noise = jax.random.fold_in(key, 1) if cfg.noise > 0 else key
    fired = {}

    def uni(name):
        return u_all[:, _UNIFORM[name]]

    def normal(name):
        return z_all[:, _NORMAL[name]]

    def fire(op, prob=None, slot=None):
        """[N] bool: the operation fires, with probability p * multiplier."""
        f = uni(slot or op) < (getattr(cfg, op) * p if prob is None else prob)
        fired[op] = fired[op] | f if op in fired else f
        return f

    def gate(op, value, identity=0.0, prob=None, slot=None):
        return jnp.where(fire(op, prob, slot), value, identity)

    # Geometric: G_inv maps output to input pixel coordinates (centred), composed on the
    # right in the official order; each factor is the inverse of the forward operation.
    # Parameters of operations that did not fire take their identity value.
    g = ops.eye(n, 3)
    if cfg.xflip > 0:
        i = gate("xflip", jnp.floor(uni("xflip_i") * 2))
        g = ops.compose(g, ops.scale2d(1 - 2 * i, jnp.ones_like(i)))
    if cfg.rotate90 > 0:
        i = gate("rotate90", jnp.floor(uni("rotate90_i") * 4))
        g = ops.compose(g, ops.rotate2d(*ops.quarter_turn(i)))
    if cfg.xint > 0:
        t = [(uni(a) * 2 - 1) * cfg.xint_max for a in ("xint_x", "xint_y")]
        f = fire("xint")
        tx, ty = (jnp.where(f, jnp.round(t_ * size), 0.0) for t_, size in zip(t, (w, h)))
        g = ops.compose(g, ops.translate2d(-tx, -ty))
    if cfg.scale > 0:
        s = gate("scale", jnp.exp2(normal("scale") * cfg.scale_std), 1.0)
        g = ops.compose(g, ops.scale2d(1 / s, 1 / s))
    p_rot = 1 - jnp.sqrt(jnp.clip(1 - cfg.rotate * p, 0, 1))      # P(pre or post) = rotate*p
    if cfg.rotate > 0:
        theta = gate("rotate", (uni("rotate_theta") * 2 - 1) * np.pi * cfg.rotate_max,
                     prob=p_rot)
        g = ops.compose(g, ops.rotate2d(jnp.cos(theta), jnp.sin(theta)))
    if cfg.aniso > 0:
        s = gate("aniso", jnp.exp2(normal("aniso") * cfg.aniso_std), 1.0)
        g = ops.compose(g, ops.scale2d(1 / s, s))
    if cfg.rotate > 0:
        theta = gate("rotate", (uni("rotate_post_theta") * 2 - 1) * np.pi * cfg.rotate_max,
                     prob=p_rot, slot="rotate_post")
        g = ops.compose(g, ops.rotate2d(jnp.cos(theta), jnp.sin(theta)))
    if cfg.xfrac > 0:
        f = fire("xfrac")
        tx = jnp.where(f, normal("xfrac_x") * cfg.xfrac_std * w, 0.0)
        ty = jnp.where(f, normal("xfrac_y") * cfg.xfrac_std * h, 0.0)
        g = ops.compose(g, ops.translate2d(-tx, -ty))

    # Colour: C maps input to output [r, g, b, 1], composed on the left.
    c = ops.eye(n, 4)
    v = _LUMA_AXIS
    if cfg.brightness > 0:
        b = gate("brightness", normal("brightness") * cfg.brightness_std)
        c = ops.compose(ops.translate3d(b), c)
    if cfg.contrast > 0:
        s = gate("contrast", jnp.exp2(normal("contrast") * cfg.contrast_std), 1.0)
        c = ops.compose(ops.scale3d(s), c)
    if cfg.lumaflip > 0:
        i = gate("lumaflip", jnp.floor(uni("lumaflip_i") * 2))
        c = ops.compose(ops.householder(v, i), c)
    if cfg.hue > 0 and ch > 1:
        theta = gate("hue", (uni("hue_theta") * 2 - 1) * np.pi * cfg.hue_max)
        c = ops.compose(ops.rotate3d(v, jnp.sin(theta), 1 - jnp.cos(theta)), c)
    if cfg.saturation > 0 and ch > 1:
        s = gate("saturation", jnp.exp2(normal("saturation") * cfg.saturation_std), 1.0)
        c = ops.compose(ops.saturate(v, s), c)

    # Image-space filtering: per-band gains, each renormalised to the expected power.
    gains = jnp.ones((n, 4), jnp.float32)
    any_fire = jnp.zeros((n,), bool)
    if cfg.imgfilter > 0:
        for band, strength in enumerate(cfg.imgfilter_bands):
            fired_b = fire("imgfilter", cfg.imgfilter * p * strength, f"imgfilter{band}")
            t_i = jnp.exp2(normal(f"imgfilter{band}") * cfg.imgfilter_std)
            t_i = jnp.where(fired_b, t_i, 1.0)
            t = jnp.ones((n, 4), jnp.float32).at[:, band].set(t_i)
            t = t / jnp.sqrt((_EXPECTED_POWER * t * t).sum(axis=-1, keepdims=True))
            gains, any_fire = gains * t, any_fire | fired_b
    taps = (gains[:, :, None] * jnp.asarray(ops.filter_bank())).sum(axis=1)        # [N, 43]

    # Image-space corruptions.
    sigma = jnp.where(fire("noise"), jnp.abs(normal("noise")) * cfg.noise_std, 0.0)
    size = jnp.where(fire("cutout"), cfg.cutout_size, 0.0)
    centre = jnp.stack([uni("cutout_x"), uni("cutout_y")], axis=-1)
    fired = {op: f for op, f in fired.items() if getattr(cfg, op) > 0}
    return AugmentParams(g, c, taps, any_fire, sigma, k_noise, size, centre, fired)


def apply_params(images: jax.Array, params: AugmentParams, cfg: AugmentConfig) -> jax.Array:
    """Apply sampled parameters (the deterministic half of :func:`augment`).

    Args:
      images: [N, H, W, C] float32.
      params: from :func:`sample_params` for the same shape and ``cfg``.
      cfg: :class:`AugmentConfig` (decides which stages run).

    Returns:
      [N, H, W, C] float32.
    """
    x = images
    _, h, w, _ = x.shape
    enabled = set(cfg.enabled)
    if enabled & set(_GEOM):
        x = ops.resample(x, params.geom, cfg.resample, cfg.exact_blit)
    if enabled & set(_COLOR):
        x = ops.apply_color(x, params.color)
    if cfg.imgfilter > 0:
        x = jnp.where(params.filter_fire[:, None, None, None],
                      ops.apply_imgfilter(x, params.filter_taps), x)
    if cfg.noise > 0:
        x = x + (jax.random.normal(params.noise_key, x.shape)
                 * params.noise_sigma[:, None, None, None])
    if cfg.cutout > 0:
        size = params.cutout_size[:, None]                                         # [N, 1]
        cx, cy = params.cutout_centre[:, :1], params.cutout_centre[:, 1:]
        mask_x = jnp.abs((jnp.arange(w) + 0.5) / w - cx) >= size / 2              # [N, W]
        mask_y = jnp.abs((jnp.arange(h) + 0.5) / h - cy) >= size / 2              # [N, H]
        mask = mask_y[:, :, None] | mask_x[:, None, :]
        x = x * mask[..., None].astype(x.dtype)
    return x


def augment(images: jax.Array, p, key: jax.Array, cfg: AugmentConfig) -> jax.Array:
    """Augment a batch as the official ``AugmentPipe.forward`` (differentiable in images).

    Args:
      images: [N, H, W, C] float in [-1, 1] (C = 1 or 3 when colour ops are enabled).
      p: scalar augmentation probability (float or traced array, e.g. ``AdaState.p``).
        Python/NumPy values must lie in [0, 1]; traced values are used as is.
      key: PRNG key; the same key gives the same augmentation.
      cfg: :class:`AugmentConfig` (static).

    Returns:
      [N, H, W, C] augmented images, same dtype as ``images``.
    """
    images = jnp.asarray(images)
    _check_inputs(images, p, cfg)
    params = sample_params(key, p, cfg, images.shape)
    return apply_params(images.astype(jnp.float32), params, cfg).astype(images.dtype)


# ----------------------------------------------------------------------------------------
# Adaptive p (official ADA heuristic).


class AdaState(NamedTuple):
    """State of the ADA controller (a pytree of scalars; carry it in the train state)."""
    p: jax.Array          # [] float32 current augmentation probability
    sign_sum: jax.Array   # [] float32 sum of sign(D(real)) since the last adjustment
    count: jax.Array      # [] float32 number of logits in sign_sum
    step: jax.Array       # [] int32 training steps (batches) seen


def ada_init(p: float = 0.0) -> AdaState:
    """Initial :class:`AdaState` (official ``augment_p``, default 0)."""
    if not 0 <= float(p) <= 1:
        raise ValueError(f"initial p must be in [0, 1], got {p}")
    return AdaState(jnp.float32(p), jnp.float32(0), jnp.float32(0), jnp.int32(0))


def ada_accumulate(state: AdaState, real_logits: jax.Array) -> AdaState:
    """Add ``sign(real_logits)`` (any shape, e.g. [N, 1]) to the running statistic, as the
    official ``Loss/signs/real`` report (made on every D pass over reals). Under data
    parallelism pass the global logits, or ``psum`` ``sign_sum`` and ``count`` over devices,
    so that every replica keeps the same p (the official averages over all GPUs)."""
    real_logits = jnp.asarray(real_logits, jnp.float32)
    return state._replace(sign_sum=state.sign_sum + jnp.sign(real_logits).sum(),
                          count=state.count + real_logits.size)


def ada_adjust(p, sign_mean, batch_size, target: float = 0.6, ada_kimg: float = 500,
               interval: int = 4) -> jax.Array:
    """The official rule: ``max(p + sign(sign_mean - target) * batch * interval /
    (ada_kimg * 1000), 0)`` (no upper clamp, as the official: p > 1 acts as p = 1 for
    unit multipliers)."""
    adjust = jnp.sign(sign_mean - target) * (batch_size * interval) / (ada_kimg * 1000)
    return jnp.maximum(jnp.asarray(p, jnp.float32) + adjust, 0.0).astype(jnp.float32)


def ada_update(state: AdaState, real_logits_sign_mean=None, batch_size: int = 32,
               target: float = 0.6, ada_kimg: float = 500, interval: int = 4) -> AdaState:
    """Advance the ADA controller by one training step (call once per step).

    Every ``interval``-th step (official ``batch_idx % ada_interval == 0`` after the
    increment) ``p`` is adjusted with :func:`ada_adjust` and the accumulator is reset.

    Args:
      state: current :class:`AdaState`.
      real_logits_sign_mean: E[sign(D(real))] over the interval; ``None`` uses the
        accumulator filled by :func:`ada_accumulate` (no adjustment if it is empty).
      batch_size: global batch size (all devices).
      target: ``ada_target`` (0.6 in the paper).
      ada_kimg: thousands of images for p to go from 0 to 1 at full speed.
      interval: ``ada_interval`` in steps.

    Returns:
      The new :class:`AdaState` (for a fixed p, just never call this).
    """
    step = state.step + 1
    due = step % interval == 0
    if real_logits_sign_mean is None:
        mean = state.sign_sum / jnp.maximum(state.count, 1.0)
        due = due & (state.count > 0)
    else:
        mean = jnp.asarray(real_logits_sign_mean, jnp.float32)
    p = jnp.where(due, ada_adjust(state.p, mean, batch_size, target, ada_kimg, interval),
                  state.p)
    reset = step % interval == 0
    zero = jnp.float32(0)
    return AdaState(p=p.astype(jnp.float32),
                    sign_sum=jnp.where(reset, zero, state.sign_sum),
                    count=jnp.where(reset, zero, state.count),
                    step=step.astype(jnp.int32))


__all__ = ["AdaState", "AugmentConfig", "AugmentParams", "ada_accumulate", "ada_adjust",
           "ada_init", "ada_update", "apply_params", "augment", "augment_preset", "sample_params"]
