"""Read and replace the units of a synthesis layer: r = h(z), x = f(r) (pure functions).

A *layer* is one modulated convolution's output inside the synthesis network, named
``'b{res}.conv0'`` (the up-sampling conv of block ``res``) or ``'b{res}.conv1'``; its
*units* are the channels of its feature map ``r: [N, res, res, C]`` (after bias, leaky
ReLU and clamp, as the next layer sees it). Reading uses the synthesis network's
``capture`` argument, replacing its ``feature_edits`` argument
(:mod:`jaxgan.nets.synthesis`); both cost nothing when unused.

Latents: sample ``i`` of a dissection run is ``z_i = normal(fold_in(key, i))``, so any
sample (e.g. a unit's top-activating image) can be regenerated from its index alone.
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from jaxgan.model import default_fused_modconv
from jaxgan.nets.generator import Generator


def feature_names(G: Generator) -> tuple[str, ...]:
    """Dissectable layer names of a generator, input to output (e.g. ``'b16.conv0'``)."""
    return tuple(f"b{res}.{layer}" for res in G.cfg.block_resolutions
                 for layer in (("conv1",) if res == 4 else ("conv0", "conv1")))


def feature_shape(G: Generator, layer: str) -> tuple[int, int, int]:
    """``(res, res, num_units)`` of a layer's feature map (one sample).

    Raises:
      ValueError: unknown layer name.
    """
    check_layer(G, layer)
    res = int(layer.split(".")[0][1:])
    return res, res, G.cfg.channels(res)


def check_layer(G: Generator, layer: str) -> str:
    """Return ``layer`` if the generator has it, else raise a ValueError listing the names."""
    names = feature_names(G)
    if layer not in names:
        raise ValueError(f"unknown layer {layer!r}; this generator has {list(names)}")
    return layer


def sample_latents(G: Generator, key, indices):
    """Per-sample latents ``z_i = normal(fold_in(key, i))``.

    Args:
      G: the generator (for ``z_dim``).
      key: a ``jax.random`` key.
      indices: int ``[N]`` sample indices.

    Returns:
      ``[N, z_dim]`` float32.
    """
    idx = jnp.asarray(indices, jnp.uint32)
    return jax.vmap(lambda i: jax.random.normal(jax.random.fold_in(key, i), (G.cfg.z_dim,)))(idx)


def sample_ws(G: Generator, variables, key, indices, truncation_psi: float = 1.0):
    """ws ``[N, num_ws, w_dim]`` of samples ``indices`` (see :func:`sample_latents`)."""
    z = sample_latents(G, key, indices)
    return G.apply(variables, z, None, truncation_psi, method=Generator.mapping)


def synthesize_features(G: Generator, variables, ws, layers=(), feature_edits=None, *,
                        noise_mode: str = "const", noise_key=None, fused: bool | None = None):
    """Render images and read feature maps, optionally replacing some first.

    Args:
      G, variables: the generator.
      ws: ``[N, num_ws, w_dim]``.
      layers: names of the maps to return (after any edit).
      feature_edits: ``{layer: fn}``; ``fn(r [N, res, res, C]) -> r'`` (same shape).
      noise_mode, noise_key, fused: as :func:`jaxgan.model.synthesize`.

    Returns:
      ``(images [N, R, R, C], {layer: [N, res, res, units]})``.
    """
    for name in tuple(layers) + tuple(feature_edits or {}):
        check_layer(G, name)
    fused = default_fused_modconv() if fused is None else fused
    st = G.apply(variables, ws, method=Generator.styles)
    out = G.apply(variables, st, noise_mode=noise_mode, noise_key=noise_key, fused=fused,
                  feature_edits=feature_edits, capture=tuple(layers), method=Generator.synthesis)
    return out if layers else (out, {})


def synthesize_edited(G: Generator, variables, ws, layer: str, edit: Callable, **kw):
    """x = f(edit(h(z))): images ``[N, R, R, C]`` with ``layer``'s map replaced by ``edit(r)``."""
    return synthesize_features(G, variables, ws, (), {layer: edit}, **kw)[0]


def unit_vector(units, num_units: int):
    """A per-unit weight vector ``[num_units]`` from unit indices, a bool mask or weights.

    Args:
      units: int indices (list/array), bool ``[num_units]`` or float ``[num_units]``.
      num_units: layer width.

    Returns:
      float32 ``[num_units]`` (1 at the chosen units for indices / masks).
    """
    u = jnp.asarray(units)
    if u.dtype == jnp.bool_ or jnp.issubdtype(u.dtype, jnp.floating):
        if u.shape != (num_units,):
            raise ValueError(f"unit mask/weights must have shape ({num_units},), got {u.shape}")
        return u.astype(jnp.float32)
    u = u.reshape(-1)
    if u.size and (int(u.min()) < 0 or int(u.max()) >= num_units):
        raise ValueError(f"unit indices must lie in [0, {num_units}), got {u.tolist()}")
    return jnp.zeros((num_units,), jnp.float32).at[u].set(1.0)


def position_mask(positions, n: int, h: int, w: int):
    """Positions ``P`` as float ``[N or 1, h, w, 1]`` (None = everywhere).

    Args:
      positions: None, or bool/float ``[h, w]`` / ``[N, h, w]``; a mask at another
        resolution (e.g. drawn on the image) is area-resized to ``h x w``.
    """
    if positions is None:
        return jnp.ones((1, h, w, 1), jnp.float32)
    p = jnp.asarray(positions, jnp.float32)
    if p.ndim == 2:
        p = p[None]
    if p.ndim != 3 or p.shape[0] not in (1, n):
        raise ValueError(f"positions must be [H, W] or [{n}, H, W], got {tuple(jnp.shape(positions))}")
    if p.shape[1:] != (h, w):
        p = jax.image.resize(p, (p.shape[0], h, w), "linear", antialias=True)
    return p[..., None]


def replace_units(r, new, units, positions=None):
    """``r`` with units ``U`` at positions ``P`` moved to ``new``: ``r + m (new - r)``.

    ``m = units[u] * P[n, y, x]`` (weights in [0, 1] give partial replacement).

    Args:
      r: ``[N, H, W, C]`` feature map.
      new: array broadcastable to ``r`` (e.g. ``[C]`` constants, or a full map).
      units: see :func:`unit_vector`.
      positions: see :func:`position_mask`.

    Returns:
      ``[N, H, W, C]``.
    """
    n, h, w, c = r.shape
    m = position_mask(positions, n, h, w) * unit_vector(units, c)   # [N|1, H, W, C]
    return r + m * (jnp.asarray(new, r.dtype) - r)
