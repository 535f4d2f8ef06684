"""Inception-v3 as used for FID (pytorch-fid's ``FIDInceptionV3``: the TF
``pt_inception-2015-12-05`` graph ported to torchvision's layout), channels last.

torchvision ``Inception3`` with ``aux_logits=False``, 1008 classes, and the FID blocks:
``Mixed_5b/c/d`` = FIDInceptionA (average pools without padding counted), ``Mixed_6b..e`` =
FIDInceptionC (same), ``Mixed_7b`` = FIDInceptionE_1 (same), ``Mixed_7c`` = FIDInceptionE_2
(max pool in the pool branch). Every conv is ``BasicConv2d``: conv (no bias) + BatchNorm
(eps 1e-3, running statistics) + ReLU. Submodule names equal the torch ones, so the
converter (:mod:`jaxgan.convert.inception`) maps ``Mixed_5b.branch1x1.conv.weight`` to
``params/Mixed_5b/branch1x1/conv/kernel``.

Inputs are ``[N, H, W, 3]`` in [-1, 1] (pytorch-fid's ``normalize_input`` output), normally
299x299 (:func:`jaxgan.metrics.features.inception_features` resizes); any size >= 75 runs.
Outputs: pool3 features ``[N, 2048]`` and logits ``[N, 1008]``.
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp


class BasicConv2d(nn.Module):
    """conv (no bias) + BatchNorm(eps=1e-3, running stats) + ReLU."""
    features: int
    kernel: tuple[int, int]
    stride: int = 1
    padding: tuple[int, int] = (0, 0)

    @nn.compact
    def __call__(self, x):
        ph, pw = self.padding
        x = nn.Conv(self.features, self.kernel, strides=(self.stride, self.stride),
                    padding=((ph, ph), (pw, pw)), use_bias=False, name="conv")(x)
        x = nn.BatchNorm(use_running_average=True, epsilon=1e-3, name="bn")(x)
        return nn.relu(x)


def _avg_pool_exclude_pad(x):
    """3x3 stride-1 average pool, padding 1, ``count_include_pad=False``."""
    s = nn.avg_pool(x, (3, 3), (1, 1), padding=((1, 1), (1, 1)), count_include_pad=False)
    return s


def _max_pool(x, k=3, s=2, pad=0):
    return nn.max_pool(x, (k, k), (s, s), padding=((pad, pad), (pad, pad)))


class InceptionA(nn.Module):
    pool_features: int

    @nn.compact
    def __call__(self, x):
        b1 = BasicConv2d(64, (1, 1), name="branch1x1")(x)
        b5 = BasicConv2d(48, (1, 1), name="branch5x5_1")(x)
        b5 = BasicConv2d(64, (5, 5), padding=(2, 2), name="branch5x5_2")(b5)
        b3 = BasicConv2d(64, (1, 1), name="branch3x3dbl_1")(x)
        b3 = BasicConv2d(96, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(b3)
        b3 = BasicConv2d(96, (3, 3), padding=(1, 1), name="branch3x3dbl_3")(b3)
        bp = BasicConv2d(self.pool_features, (1, 1), name="branch_pool")(_avg_pool_exclude_pad(x))
        return jnp.concatenate([b1, b5, b3, bp], axis=-1)


class InceptionB(nn.Module):
    @nn.compact
    def __call__(self, x):
        b3 = BasicConv2d(384, (3, 3), stride=2, name="branch3x3")(x)
        bd = BasicConv2d(64, (1, 1), name="branch3x3dbl_1")(x)
        bd = BasicConv2d(96, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(bd)
        bd = BasicConv2d(96, (3, 3), stride=2, name="branch3x3dbl_3")(bd)
        return jnp.concatenate([b3, bd, _max_pool(x)], axis=-1)


class InceptionC(nn.Module):
    channels_7x7: int

    @nn.compact
    def __call__(self, x):
        c7 = self.channels_7x7
        b1 = BasicConv2d(192, (1, 1), name="branch1x1")(x)
        b7 = BasicConv2d(c7, (1, 1), name="branch7x7_1")(x)
        b7 = BasicConv2d(c7, (1, 7), padding=(0, 3), name="branch7x7_2")(b7)
        b7 = BasicConv2d(192, (7, 1), padding=(3, 0), name="branch7x7_3")(b7)
        bd = BasicConv2d(c7, (1, 1), name="branch7x7dbl_1")(x)
        bd = BasicConv2d(c7, (7, 1), padding=(3, 0), name="branch7x7dbl_2")(bd)
        bd = BasicConv2d(c7, (1, 7), padding=(0, 3), name="branch7x7dbl_3")(bd)
        bd = BasicConv2d(c7, (7, 1), padding=(3, 0), name="branch7x7dbl_4")(bd)
        bd = BasicConv2d(192, (1, 7), padding=(0, 3), name="branch7x7dbl_5")(bd)
        bp = BasicConv2d(192, (1, 1), name="branch_pool")(_avg_pool_exclude_pad(x))
        return jnp.concatenate([b1, b7, bd, bp], axis=-1)


class InceptionD(nn.Module):
    @nn.compact
    def __call__(self, x):
        b3 = BasicConv2d(192, (1, 1), name="branch3x3_1")(x)
        b3 = BasicConv2d(320, (3, 3), stride=2, name="branch3x3_2")(b3)
        b7 = BasicConv2d(192, (1, 1), name="branch7x7x3_1")(x)
        b7 = BasicConv2d(192, (1, 7), padding=(0, 3), name="branch7x7x3_2")(b7)
        b7 = BasicConv2d(192, (7, 1), padding=(3, 0), name="branch7x7x3_3")(b7)
        b7 = BasicConv2d(192, (3, 3), stride=2, name="branch7x7x3_4")(b7)
        return jnp.concatenate([b3, b7, _max_pool(x)], axis=-1)


class InceptionE(nn.Module):
    max_pool_branch: bool = False         # FIDInceptionE_2 (Mixed_7c) uses a max pool

    @nn.compact
    def __call__(self, x):
        b1 = BasicConv2d(320, (1, 1), name="branch1x1")(x)
        b3 = BasicConv2d(384, (1, 1), name="branch3x3_1")(x)
        b3 = jnp.concatenate([BasicConv2d(384, (1, 3), padding=(0, 1), name="branch3x3_2a")(b3),
                              BasicConv2d(384, (3, 1), padding=(1, 0), name="branch3x3_2b")(b3)], -1)
        bd = BasicConv2d(448, (1, 1), name="branch3x3dbl_1")(x)
        bd = BasicConv2d(384, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(bd)
        bd = jnp.concatenate([BasicConv2d(384, (1, 3), padding=(0, 1), name="branch3x3dbl_3a")(bd),
                              BasicConv2d(384, (3, 1), padding=(1, 0), name="branch3x3dbl_3b")(bd)], -1)
        pooled = _max_pool(x, 3, 1, 1) if self.max_pool_branch else _avg_pool_exclude_pad(x)
        bp = BasicConv2d(192, (1, 1), name="branch_pool")(pooled)
        return jnp.concatenate([b1, b3, bd, bp], axis=-1)


class FIDInceptionV3(nn.Module):
    """``images [N, H, W, 3] in [-1, 1] -> (pool3 [N, 2048], logits [N, 1008])``."""
    num_classes: int = 1008

    @nn.compact
    def __call__(self, x):
        if x.ndim != 4 or x.shape[-1] != 3 or min(x.shape[1:3]) < 75:
            raise ValueError(f"FIDInceptionV3 expects [N, H, W, 3] images with H, W >= 75, got {x.shape}")
        x = BasicConv2d(32, (3, 3), stride=2, name="Conv2d_1a_3x3")(x)
        x = BasicConv2d(32, (3, 3), name="Conv2d_2a_3x3")(x)
        x = BasicConv2d(64, (3, 3), padding=(1, 1), name="Conv2d_2b_3x3")(x)
        x = _max_pool(x)
        x = BasicConv2d(80, (1, 1), name="Conv2d_3b_1x1")(x)
        x = BasicConv2d(192, (3, 3), name="Conv2d_4a_3x3")(x)
        x = _max_pool(x)
        x = InceptionA(32, name="Mixed_5b")(x)
        x = InceptionA(64, name="Mixed_5c")(x)
        x = InceptionA(64, name="Mixed_5d")(x)
        x = InceptionB(name="Mixed_6a")(x)
        x = InceptionC(128, name="Mixed_6b")(x)
        x = InceptionC(160, name="Mixed_6c")(x)
        x = InceptionC(160, name="Mixed_6d")(x)
        x = InceptionC(192, name="Mixed_6e")(x)
        x = InceptionD(name="Mixed_7a")(x)
        x = InceptionE(name="Mixed_7b")(x)
        x = InceptionE(max_pool_branch=True, name="Mixed_7c")(x)
        pool = jnp.mean(x, axis=(1, 2))                                  # [N, 2048]
        logits = nn.Dense(self.num_classes, name="fc")(pool)            # [N, 1008]
        return pool, logits


def init_inception(key, resolution: int = 299):
    """A randomly initialised :class:`FIDInceptionV3` (for structure tests / as a template).

    Returns:
      ``(module, variables)`` with ``variables = {'params', 'batch_stats'}``.
    """
    module = FIDInceptionV3()
    x = jnp.zeros((1, resolution, resolution, 3))
    return module, jax.jit(module.init)(key, x)


def inception_pool(module, variables, images):
    """Pool3 features ``[N, 2048]`` of images ``[N, H, W, 3]`` in [-1, 1] (pure, jit-able)."""
    return module.apply(variables, images)[0]


def inception_logits(module, variables, images):
    """Logits ``[N, 1008]`` (for the Inception Score; class 0 is the TF 'background')."""
    return module.apply(variables, images)[1]
