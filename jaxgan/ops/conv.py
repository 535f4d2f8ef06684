"""2-D convolution with FIR resampling, and modulated convolution (channels last).

Follows ``torch_utils/ops/conv2d_resample.py`` and ``modulated_conv2d`` of
stylegan2-ada-pytorch with ``x: [N, H, W, C]`` and weights ``[kh, kw, in, out]`` (HWIO).
The official weights are cross-correlation kernels (``flip_weight=True``); so are ours.

Modulated convolution has two paths, tested to agree:

* ``fused=True``: per-sample weights ``w * s * d`` and one grouped convolution
  (the official eval-mode path);
* ``fused=False`` (reference): scale activations by the styles, one shared-weight
  convolution, scale by the demodulation coefficients (the official training path).
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxgan.ops.upfirdn2d import _parse_padding, filter_size, upfirdn2d

_DN = ("NHWC", "HWIO", "NHWC")


def conv2d(x, w, stride: int = 1, padding=((0, 0), (0, 0)), groups: int = 1,
           lhs_dilation=(1, 1)):
    """Plain cross-correlation ``[N,H,W,I] * [kh,kw,I/groups,O] -> [N,H',W',O]``."""
    return lax.conv_general_dilated(
        x, w.astype(x.dtype), window_strides=(stride, stride), padding=padding,
        lhs_dilation=lhs_dilation, dimension_numbers=_DN, feature_group_count=groups)


def conv2d_resample(x, w, f=None, up: int = 1, down: int = 1, padding: int = 0,
                    groups: int = 1, flip_weight: bool = True):
    """Convolution with optional FIR up/down-sampling, as the official ``conv2d_resample``.

    Args:
      x: ``[N, H, W, I]``.
      w: ``[kh, kw, I // groups, O]`` cross-correlation kernel.
      f: concrete FIR filter (1-D separable or 2-D), needed when up or down > 1.
      up, down: integer factors (not both > 1).
      padding: symmetric padding of the plain convolution (``kernel_size // 2``).
      groups: grouped convolution.
      flip_weight: as the official argument, it only matters for ``up > 1``: the official
        layers pass ``flip_weight=(up == 1)``, so their up-sampling convolutions use the
        spatially flipped kernel relative to a plain cross-correlation.

    Returns:
      ``[N, H', W', O]``.
    """
    kh, kw = int(w.shape[0]), int(w.shape[1])
    fw, fh = filter_size(f)
    px0, px1, py0, py1 = _parse_padding(padding)
    if up > 1:
        px0 += (fw + up - 1) // 2
        px1 += (fw - up) // 2
        py0 += (fh + up - 1) // 2
        py1 += (fh - up) // 2
    if down > 1:
        px0 += (fw - down + 1) // 2
        px1 += (fw - down) // 2
        py0 += (fh - down + 1) // 2
        py1 += (fh - down) // 2

    # 1x1 with down-sampling only: down-sample first, then convolve.
    if kw == 1 and kh == 1 and down > 1 and up == 1:
        x = upfirdn2d(x, f, down=down, padding=[px0, px1, py0, py1])
        return conv2d(x, w, groups=groups)
    # 1x1 with up-sampling only: convolve first, then up-sample.
    if kw == 1 and kh == 1 and up > 1 and down == 1:
        x = conv2d(x, w, groups=groups)
        return upfirdn2d(x, f, up=up, padding=[px0, px1, py0, py1], gain=up ** 2)
    # Down-sampling only: FIR with padding, then strided convolution.
    if down > 1 and up == 1:
        x = upfirdn2d(x, f, padding=[px0, px1, py0, py1])
        return conv2d(x, w, stride=down, groups=groups)
    # Up-sampling: transposed strided convolution, then FIR.
    if up > 1:
        # conv_transpose2d(x, flip(w)) equals a cross-correlation of the zero-dilated input
        # with w; without the flip (flip_weight=False) it correlates with flip(w).
        if not flip_weight:
            w = w[::-1, ::-1]
        px0 -= kw - 1
        px1 -= kw - up
        py0 -= kh - 1
        py1 -= kh - up
        pxt = max(min(-px0, -px1), 0)
        pyt = max(min(-py0, -py1), 0)
        x = conv2d(x, w, groups=groups, lhs_dilation=(up, up),
                   padding=((kh - 1 - pyt, kh - 1 - pyt), (kw - 1 - pxt, kw - 1 - pxt)))
        x = upfirdn2d(x, f, padding=[px0 + pxt, px1 + pxt, py0 + pyt, py1 + pyt], gain=up ** 2)
        if down > 1:
            x = upfirdn2d(x, f, down=down)
        return x
    if px0 == px1 and py0 == py1 and px0 >= 0 and py0 >= 0:
        return conv2d(x, w, padding=((py0, py0), (px0, px0)), groups=groups)
    x = upfirdn2d(x, np.ones([1], np.float32), padding=[px0, px1, py0, py1])
    return conv2d(x, w, groups=groups)


def demod_coefficients(weight, styles):
    """``rsqrt(sum_{kh,kw,i} (w * s)^2 + 1e-8)`` without forming per-sample weights.

    Args:
      weight: ``[kh, kw, I, O]``; styles: ``[N, I]``.

    Returns:
      ``[N, O]``.
    """
    wsq = jnp.sum(jnp.square(weight.astype(jnp.float32)), axis=(0, 1))   # [I, O]
    return lax.rsqrt(jnp.square(styles.astype(jnp.float32)) @ wsq + 1e-8)


def modulated_conv2d(x, weight, styles, noise=None, up: int = 1, down: int = 1,
                     padding: int = 0, resample_filter=None, demodulate: bool = True,
                     fused: bool = True, flip_weight: bool = True):
    """Modulated (and demodulated) convolution, official ``modulated_conv2d``.

    Args:
      x: ``[N, H, W, I]``.
      weight: ``[kh, kw, I, O]``.
      styles: ``[N, I]``.
      noise: broadcastable to the output ``[N, H', W', O]`` (already scaled), or None.
      up, down, padding, resample_filter: as :func:`conv2d_resample`.
      demodulate: weight demodulation.
      fused: grouped-convolution path (True) or the activation-scaling reference (False).
      flip_weight: see :func:`conv2d_resample`.

    Returns:
      ``[N, H', W', O]``.
    """
    n, _, _, cin = x.shape
    kh, kw, wi, cout = weight.shape
    if wi != cin:
        raise ValueError(f"modulated_conv2d: x has {cin} channels, weight expects {wi}")
    if styles.shape != (n, cin):
        raise ValueError(f"modulated_conv2d: styles shape {styles.shape}, expected {(n, cin)}")
    weight = weight.astype(jnp.float32)
    styles = styles.astype(jnp.float32)
    low_precision = x.dtype in (jnp.float16, jnp.bfloat16)
    if low_precision and demodulate:
        # Pre-normalise to avoid overflow (official fp16 path); demodulation cancels it.
        weight = weight * (1 / np.sqrt(cin * kh * kw)
                           / jnp.max(jnp.abs(weight), axis=(0, 1, 2), keepdims=True))
        styles = styles / jnp.max(jnp.abs(styles), axis=1, keepdims=True)
    dcoefs = demod_coefficients(weight, styles) if demodulate else None   # [N, O]

    if not fused:
        x = x * styles.astype(x.dtype)[:, None, None, :]
        x = conv2d_resample(x, weight.astype(x.dtype), f=resample_filter, up=up, down=down,
                            padding=padding, flip_weight=flip_weight)
        if demodulate:
            x = x * dcoefs.astype(x.dtype)[:, None, None, :]
        if noise is not None:
            x = x + noise.astype(x.dtype)
        return x

    w = weight[None] * styles[:, None, None, :, None]                     # [N, kh, kw, I, O]
    if demodulate:
        w = w * dcoefs[:, None, None, None, :]
    w = jnp.transpose(w, (1, 2, 3, 0, 4)).reshape(kh, kw, cin, n * cout)  # [kh, kw, I, N*O]
    h, wd = x.shape[1], x.shape[2]
    xg = jnp.transpose(x, (1, 2, 0, 3)).reshape(1, h, wd, n * cin)        # [1, H, W, N*I]
    y = conv2d_resample(xg, w.astype(x.dtype), f=resample_filter, up=up, down=down,
                        padding=padding, groups=n, flip_weight=flip_weight)
    ho, wo = y.shape[1], y.shape[2]
    y = jnp.transpose(y.reshape(ho, wo, n, cout), (2, 0, 1, 3))           # [N, H', W', O]
    if noise is not None:
        y = y + noise.astype(y.dtype)
    return y
