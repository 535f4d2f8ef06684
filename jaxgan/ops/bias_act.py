"""Bias + activation + gain + clamp, as ``torch_utils/ops/bias_act.py`` (channels last)."""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp

#: Default gains of the official activation table.
DEF_GAIN = {"linear": 1.0, "relu": math.sqrt(2), "lrelu": math.sqrt(2), "tanh": 1.0,
            "sigmoid": 1.0, "elu": 1.0, "selu": 1.0, "softplus": 1.0, "swish": math.sqrt(2)}


def activate(x, act: str, alpha: float = 0.2):
    """Apply a named activation (official names)."""
    if act == "linear":
        return x
    if act == "lrelu":
        return jnp.where(x >= 0, x, x * jnp.asarray(alpha, x.dtype))
    if act == "relu":
        return jax.nn.relu(x)
    if act == "tanh":
        return jnp.tanh(x)
    if act == "sigmoid":
        return jax.nn.sigmoid(x)
    if act == "elu":
        return jax.nn.elu(x)
    if act == "selu":
        return jax.nn.selu(x)
    if act == "softplus":
        return jax.nn.softplus(x)
    if act == "swish":
        return jax.nn.swish(x)
    raise ValueError(f"unknown activation {act!r}; expected one of {sorted(DEF_GAIN)}")


def bias_act(x, b=None, act: str = "linear", alpha: float = 0.2, gain: float | None = None,
             clamp: float | None = None):
    """``x + b`` (broadcast over the last axis), activation, ``* gain``, clamp to ±clamp.

    Args:
      x: ``[..., C]``.
      b: ``[C]`` or None.
      act: activation name; ``gain=None`` uses its default gain (√2 for lrelu).
      clamp: clamp the output magnitude (the official ``conv_clamp``), or None.

    Returns:
      Array shaped like ``x``.
    """
    if act not in DEF_GAIN:
        raise ValueError(f"unknown activation {act!r}; expected one of {sorted(DEF_GAIN)}")
    if b is not None:
        if b.shape != (x.shape[-1],):
            raise ValueError(f"bias shape {b.shape} does not match channels {x.shape[-1]}")
        x = x + b.astype(x.dtype)
    x = activate(x, act, alpha)
    gain = DEF_GAIN[act] if gain is None else gain
    if gain != 1:
        x = x * jnp.asarray(gain, x.dtype)
    if clamp is not None and clamp >= 0:
        x = jnp.clip(x, -clamp, clamp)
    return x
