"""Test-local "user" models for the model contract (``jaxgan.contract``): factories named as
``own_models:NAME`` (``tests/`` on PYTHONPATH). Each returns ``(apply_fn, params[, meta])``.
Tiny on purpose: the tests check the adapter and the commands' plumbing, not accuracy.
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp


def mean_colour_classifier():
    """Plain JAX: logits = mean RGB @ w + b, expects [0, 255] images at 8x8."""
    params = {"w": jnp.array([[1.0, -1.0], [0.0, 0.0], [-1.0, 1.0]]) / 255.0,
              "b": jnp.zeros(2)}

    def apply(p, x):                                   # x [N, 8, 8, 3] in [0, 255]
        return jnp.mean(x, axis=(1, 2)) @ p["w"] + p["b"]   # [N, 2]
    return apply, params, {"resolution": 8, "value_range": "[0,255]",
                           "class_names": ("blue", "red")}


class TinyNet(nn.Module):
    """Conv -> mean pool -> dense: a Flax classifier of K classes."""
    num_classes: int = 2

    @nn.compact
    def __call__(self, x):                             # [N, 16, 16, 3] in [0, 1]
        x = nn.relu(nn.Conv(4, (3, 3), strides=2)(x))  # [N, 8, 8, 4]
        return nn.Dense(self.num_classes)(jnp.mean(x, axis=(1, 2)))   # [N, K]


def flax_classifier():
    """A Flax module factory: ``module.apply`` and its initialised variables."""
    net = TinyNet(2)
    variables = net.init(jax.random.key(0), jnp.zeros((1, 16, 16, 3)))
    return net.apply, variables, {"resolution": 16, "value_range": "[0,1]",
                                  "class_names": ("face", "non-face")}


def range_probe():
    """Features = (min, max) of the input: shows what range and size the function saw."""
    def apply(p, x):
        return jnp.stack([jnp.min(x, axis=(1, 2, 3)), jnp.max(x, axis=(1, 2, 3)),
                          jnp.full(x.shape[:1], x.shape[1] * 1.0)], -1)   # [N, 3]
    return apply, {}, {"resolution": 4, "value_range": "[0,255]", "name": "probe"}


def brightness_assessor():
    """Assessor: mean brightness in [-1, 1], ``[N]``."""
    return (lambda p, x: p["scale"] * jnp.mean(x, axis=(1, 2, 3))), {"scale": jnp.float32(1.0)}


def sky_segmenter():
    """Segmenter (probabilities): 'top' = upper half, 'bright' = sigmoid of brightness."""
    def apply(p, x):                                   # [N, H, W, 3]
        n, h, w, _ = x.shape
        top = jnp.broadcast_to((jnp.arange(h) < h // 2)[None, :, None], (n, h, w))
        return {"top": top.astype(jnp.float32) * 0.98 + 0.01,
                "bright": jax.nn.sigmoid(p["k"] * jnp.mean(x, -1))}
    return apply, {"k": jnp.float32(4.0)}, {"outputs": "probabilities"}


# --------------------------------------------------------------------- broken on purpose

def wrong_rank():
    return (lambda p, x: jnp.mean(x, axis=(1, 2, 3))), {}


def wrong_k():
    return (lambda p, x: jnp.zeros((x.shape[0], 3))), {}, {"class_names": ("a", "b")}


def not_jittable():
    def apply(p, x):
        if float(jnp.mean(x)) > 0:                     # Python control flow on a tracer
            return jnp.zeros((x.shape[0], 2))
        return jnp.ones((x.shape[0], 2))
    return apply, {}


def nan_outputs():
    return (lambda p, x: jnp.log(jnp.mean(x, axis=(1, 2)) - 5.0)[:, :2]), {}


def not_a_tuple():
    return "oops"
