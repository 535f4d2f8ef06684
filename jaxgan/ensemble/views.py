"""Views of a batch of images: GAN views (perturbed latents rendered by G) and the image-space
baseline (colour jitter + crop/shift), generated for N images x K views in one jitted call.

Chunking: inside the jitted function the N images are padded to a multiple of ``chunk`` and
``lax.map`` runs one chunk (``chunk * K`` renders) at a time, so memory is bounded by the
chunk while the whole batch stays one compiled program. :func:`make_view_probs` fuses the
classifiers in, so only ``[N, K, num_classes]`` probabilities leave the device.

Image i's view k depends only on ``(x_i or w*_i, fold_in(fold_in(key, indices[i]), k))``:
a batch gives exactly what a per-image loop with the same indices gives.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from jaxgan import model
from jaxgan.ensemble.perturb import (PerturbSpec, perturb_batch, perturb_batch_with, spec_params,
                                     view_keys)
from jaxgan.nets.classifier import classifier_probs


@dataclasses.dataclass(frozen=True)
class JitterSpec:
    """Image-space augmentation views (the paper's baseline), hashable.

    Attributes:
      color: random brightness / contrast / saturation.
      crop: random translation by up to ``shift`` pixels (crop of the edge-padded image).
      brightness: offset ~ U(-b, b) in [0, 1] image units.
      contrast, saturation: factors ~ U(1 - c, 1 + c).
      shift: maximum translation in pixels.
      flip: also random left-right flips (only where the label is flip-invariant).
    """
    color: bool = True
    crop: bool = True
    brightness: float = 0.2
    contrast: float = 0.2
    saturation: float = 0.3
    shift: int = 2
    flip: bool = False

    def __post_init__(self):
        if not (self.color or self.crop or self.flip):
            raise ValueError("JitterSpec: enable at least one of color, crop, flip")
        if self.shift < 0 or min(self.brightness, self.contrast, self.saturation) < 0:
            raise ValueError("JitterSpec: magnitudes must be >= 0")

    @property
    def name(self) -> str:
        """e.g. ``jitter_color_crop``."""
        parts = [p for p, on in (("color", self.color), ("crop", self.crop),
                                 ("flip", self.flip)) if on]
        return "jitter_" + "_".join(parts)


def jitter_params(spec: JitterSpec) -> dict:
    """A :class:`JitterSpec` as traced arrays (one compiled program for every jitter type)."""
    on = float(spec.color)
    return {"brightness": jnp.float32(spec.brightness * on),
            "contrast": jnp.float32(spec.contrast * on),
            "saturation": jnp.float32(spec.saturation * on),
            "shift": jnp.int32(spec.shift if spec.crop else 0),
            "flip": jnp.float32(0.5 if spec.flip else 0.0)}


def jitter_with(x, key, params: dict, max_shift: int):
    """One augmented view of ``x [H, W, C]`` in [-1, 1] with traced :func:`jitter_params`
    (``params['shift'] <= max_shift``, static)."""
    h, w, c = x.shape
    kb, kc, ks, kt, kf = jax.random.split(key, 5)
    u = lambda k, a: a * jax.random.uniform(k, (), minval=-1.0, maxval=1.0)   # noqa: E731
    y = x + 2.0 * u(kb, params["brightness"])
    mean = jnp.mean(y)
    y = (y - mean) * (1.0 + u(kc, params["contrast"])) + mean
    if c == 3:
        gray = jnp.sum(y * jnp.array([0.299, 0.587, 0.114]), -1, keepdims=True)
        y = gray + (y - gray) * (1.0 + u(ks, params["saturation"]))
    colored = (params["brightness"] + params["contrast"] + params["saturation"]) > 0
    x = jnp.where(colored, jnp.clip(y, -1.0, 1.0), x)
    if max_shift:
        s = jnp.minimum(params["shift"], max_shift)
        off = max_shift - s + jax.random.randint(kt, (2,), 0, 2 * s + 1)
        p = jnp.pad(x, ((max_shift, max_shift), (max_shift, max_shift), (0, 0)), mode="edge")
        x = jax.lax.dynamic_slice(p, (off[0], off[1], 0), (h, w, c))
    flip = jax.random.uniform(kf) < params["flip"]
    return jnp.where(flip, x[:, ::-1], x)


def jitter_one(x, key, spec: JitterSpec):
    """One augmented view of one image ``x [H, W, C]`` in [-1, 1] -> ``[H, W, C]``."""
    return jitter_with(x, key, jitter_params(spec), spec.shift)


def jitter_views(x, key, spec: JitterSpec, num_views: int, indices=None):
    """``K`` jitter views of each image: ``x [N, H, W, C]`` -> ``[N, K, H, W, C]``."""
    x = jnp.asarray(x, jnp.float32)
    if x.ndim != 4:
        raise ValueError(f"jitter_views: x must be [N, H, W, C], got {x.shape}")
    indices = jnp.arange(x.shape[0]) if indices is None else indices
    keys = view_keys(key, indices, num_views)                             # [N, K]
    return _jitter_batch(x, keys, jitter_params(spec), spec.shift)


def _jitter_batch(x, keys, params, max_shift):
    one = lambda xi, ks: jax.vmap(lambda k: jitter_with(xi, k, params, max_shift))(ks)  # noqa
    return jax.vmap(one)(x, keys)


def gan_views(G, g, ws, key, spec: PerturbSpec | None, num_views: int, basis=None,
              indices=None):
    """Render ``K`` perturbed latents per image (const noise): ``ws [N, num_ws, w_dim]`` ->
    ``[N, K, R, R, C]``. ``spec=None``: the reconstruction ``G(w*)`` itself (``K`` must be 1)."""
    n, num_ws, w_dim = ws.shape
    if spec is None:
        if num_views != 1:
            raise ValueError("gan_views: spec=None (reconstruction) needs num_views=1")
        pw = ws[:, None]
    else:
        pw = perturb_batch(G, g, ws, key, spec, num_views, basis, indices)  # [N, K, L, D]
    img = model.synthesize(G, g, pw.reshape(n * num_views, num_ws, w_dim))
    return img.reshape(n, num_views, *img.shape[1:])


def _chunked(fn, arrays, chunk: int):
    """``fn`` over the leading axis of ``arrays`` (a tuple) in chunks via ``lax.map``."""
    n = arrays[0].shape[0]
    chunk = max(1, min(chunk, n))
    pad = (-n) % chunk
    padded = tuple(jnp.concatenate([a, jnp.repeat(a[:1], pad, 0)]) if pad else a
                   for a in arrays)
    resh = tuple(a.reshape(-1, chunk, *a.shape[1:]) for a in padded)
    out = jax.lax.map(lambda xs: fn(*xs), resh)
    return jax.tree.map(lambda o: o.reshape(-1, *o.shape[2:])[:n], out)


SOURCES = ("gan", "jitter", "recon")


def params_for(spec, num_ws: int | None = None) -> dict:
    """Traced parameters of a :class:`PerturbSpec` (needs ``num_ws``) or :class:`JitterSpec`
    (``None``: the reconstruction, no parameters)."""
    if spec is None:
        return {}
    if isinstance(spec, JitterSpec):
        return jitter_params(spec)
    if isinstance(spec, PerturbSpec):
        return spec_params(spec, num_ws)
    raise TypeError(f"spec must be a PerturbSpec, a JitterSpec or None, got {spec!r}")


def source_of(spec) -> str:
    """'gan' | 'jitter' | 'recon' for a spec."""
    params_for(spec, 2)
    return "recon" if spec is None else "jitter" if isinstance(spec, JitterSpec) else "gan"


def _render(G, g, source, src, keys, params, basis, max_shift):
    """Views ``[c, K, R, R, C]`` of a chunk (``keys [c, K]``)."""
    if source == "jitter":
        return _jitter_batch(src, keys, params, max_shift)
    c, num_ws, w_dim = src.shape
    if source == "recon":
        pw = src[:, None]
    else:
        pw = perturb_batch_with(G, g, src, keys, params, basis)           # [c, K, L, D]
    k = pw.shape[1]
    img = model.synthesize(G, g, pw.reshape(c * k, num_ws, w_dim))
    return img.reshape(c, k, *img.shape[1:])


def make_views(G, source: str, num_views: int, chunk: int = 8, max_shift: int = 4):
    """Jitted ``views(g, src, key, indices, params, basis) -> [N, K, R, R, C]``.

    One compiled program serves every spec of a source (the spec is the traced ``params`` of
    :func:`params_for`).

    Args:
      G: generator module (static; unused for 'jitter').
      source: 'gan' (``src`` = ws ``[N, num_ws, w_dim]``, a :class:`PerturbSpec`), 'jitter'
        (``src`` = images ``[N, R, R, C]``, a :class:`JitterSpec`) or 'recon' (``src`` = ws,
        ``num_views=1``, no params).
      num_views: ``K``; chunk: images rendered per ``lax.map`` step.
      max_shift: static bound of the jitter shift.
    """
    if source not in SOURCES:
        raise ValueError(f"make_views: source must be one of {SOURCES}, got {source!r}")
    if source == "recon" and num_views != 1:
        raise ValueError("make_views: source 'recon' needs num_views=1")

    @jax.jit
    def views(g, src, key, indices, params, basis=None):
        def one(s, idx):
            return _render(G, g, source, s, view_keys(key, idx, num_views), params, basis,
                           max_shift)
        return _chunked(one, (src, jnp.asarray(indices)), chunk)
    return views


def make_view_probs(G, classifiers: tuple, source: str, num_views: int, chunk: int = 8,
                    max_shift: int = 4):
    """Jitted ``fn(g, cls_vars, src, key, indices, params, basis) -> tuple of
    [N, K, num_classes]`` softmax probabilities of every classifier on every view (the views
    never leave the device).

    Args:
      G: generator module; classifiers: tuple of classifier modules (static);
      source, num_views, chunk, max_shift: as :func:`make_views`.
    """
    if source not in SOURCES:
        raise ValueError(f"make_view_probs: source must be one of {SOURCES}, got {source!r}")
    classifiers = tuple(classifiers)

    @jax.jit
    def fn(g, cls_vars, src, key, indices, params, basis=None):
        def one(s, idx):
            v = _render(G, g, source, s, view_keys(key, idx, num_views), params, basis,
                        max_shift)
            flat = v.reshape(-1, *v.shape[2:])                            # [c*K, R, R, C]
            return tuple(classifier_probs(m, cv, flat).reshape(*v.shape[:2], -1)
                         for m, cv in zip(classifiers, cls_vars))
        return _chunked(one, (src, jnp.asarray(indices)), chunk)
    return fn
