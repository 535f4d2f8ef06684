"""Equalised-learning-rate layers (official ``FullyConnectedLayer`` and ``Conv2dLayer``).

Parameters are stored as the official ones (N(0, 1) / lr_multiplier) in JAX layouts:
fully connected ``weight: [in, out]``, convolution ``weight: [kh, kw, in, out]``; the
runtime gains are applied in the forward pass, exactly as the official code.
"""
from __future__ import annotations

import math
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxgan.ops import DEF_GAIN, bias_act, conv2d_resample, setup_filter


def normal_init(scale: float = 1.0):
    """N(0, scale²) initialiser."""
    def init(key, shape, dtype=jnp.float32):
        return jax.random.normal(key, shape, dtype) * scale
    return init


def const_init(value: float):
    def init(key, shape, dtype=jnp.float32):
        del key
        return jnp.full(shape, value, dtype)
    return init


def normalize_2nd_moment(x, axis: int = -1, eps: float = 1e-8):
    """``x * rsqrt(mean(x², axis) + eps)``."""
    return x * jax.lax.rsqrt(jnp.mean(jnp.square(x), axis=axis, keepdims=True) + eps)


class FullyConnected(nn.Module):
    """Official ``FullyConnectedLayer``: ``act(x @ (W·lr/√in) + b·lr)``."""
    in_features: int
    out_features: int
    bias: bool = True
    activation: str = "linear"
    lr_multiplier: float = 1.0
    bias_init: float = 0.0

    def setup(self):
        self.weight = self.param("weight", normal_init(1.0 / self.lr_multiplier),
                                 (self.in_features, self.out_features))
        if self.bias:
            self.b = self.param("bias", const_init(self.bias_init), (self.out_features,))

    def __call__(self, x):
        """Args: x ``[N, in]``. Returns ``[N, out]``."""
        if x.shape[-1] != self.in_features:
            raise ValueError(f"FullyConnected expects {self.in_features} features, got {x.shape}")
        w = self.weight.astype(x.dtype) * (self.lr_multiplier / math.sqrt(self.in_features))
        x = x @ w
        b = None
        if self.bias:
            b = self.b.astype(x.dtype)
            if self.lr_multiplier != 1:
                b = b * self.lr_multiplier
        return bias_act(x, b, act=self.activation)


class Conv2dLayer(nn.Module):
    """Official ``Conv2dLayer``: equalised conv with optional FIR up/down-sampling."""
    in_channels: int
    out_channels: int
    kernel_size: int
    bias: bool = True
    activation: str = "linear"
    up: int = 1
    down: int = 1
    resample_filter: Sequence[float] = (1, 3, 3, 1)
    conv_clamp: float | None = None

    def setup(self):
        k = self.kernel_size
        self.weight = self.param("weight", normal_init(1.0),
                                 (k, k, self.in_channels, self.out_channels))
        if self.bias:
            self.b = self.param("bias", nn.initializers.zeros, (self.out_channels,))

    def __call__(self, x, gain: float = 1.0):
        """Args: x ``[N, H, W, in]``; gain multiplies the activation gain and the clamp."""
        w = self.weight * (1 / np.sqrt(self.in_channels * self.kernel_size ** 2))
        f = setup_filter(self.resample_filter)
        x = conv2d_resample(x, w.astype(x.dtype), f=f, up=self.up, down=self.down,
                            padding=self.kernel_size // 2, flip_weight=self.up == 1)
        act_gain = DEF_GAIN[self.activation] * gain
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        b = self.b if self.bias else None
        return bias_act(x, b, act=self.activation, gain=act_gain, clamp=clamp)
