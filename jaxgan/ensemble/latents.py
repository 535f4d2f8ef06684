"""Inverted latents of the ensembling experiment: content-addressed on-disk cache
(:func:`invert_cached`, keyed by a digest of the generator, images, settings and encoder),
batched inversion with fixed shapes (:func:`invert_batch`) and fixed-size blocked evaluation
(:func:`blocked`)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan.data import to_float
from jaxgan.invert import indomain
from jaxgan.invert.encoder import encode_ws
from jaxgan.invert.projector import project
from jaxgan.progress import progress as progress_reporter
from jaxgan.sharding import map_rows, pad_rows


# ----------------------------------------------------------------------------- hashing / cache

def tree_digest(tree) -> str:
    """sha256 of a pytree's leaves (shapes, dtypes and bytes, in tree order)."""
    h = hashlib.sha256()
    for leaf in jax.tree.leaves(tree):
        a = np.asarray(jax.device_get(leaf))
        h.update(f"{a.shape}{a.dtype}".encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def latent_cache_key(g_digest: str, images, settings: dict, e_digest: str | None = None) -> str:
    """Cache key of an inversion: generator weights + images + settings + encoder weights."""
    h = hashlib.sha256()
    h.update(g_digest.encode())
    h.update(tree_digest(np.asarray(images)).encode())
    h.update(json.dumps(settings, sort_keys=True, default=str).encode())
    h.update(str(e_digest).encode())
    return h.hexdigest()[:24]


def invert_cached(G, g, images_u8, inverter, cache_dir, g_digest: str, e_digest=None,
                  batch: int = 200, key=None, progress: bool = False):
    """Invert uint8 images to W+ through :class:`jaxgan.dataplus.Inverter`, cached on disk.

    Args:
      G, g: generator; images_u8: ``[N, R, R, C]`` uint8; inverter: the Inverter.
      cache_dir: directory of ``latents-<key>.npz`` files (None: no cache).
      g_digest, e_digest: :func:`tree_digest` of the generator / encoder weights.
      batch: images per jitted inversion call; key: PRNG key (image i uses index i).

    Returns:
      ``(ws [N, num_ws, w_dim] float32 numpy, hit: bool)``.
    """
    images_u8 = np.asarray(images_u8)
    if images_u8.dtype != np.uint8 or images_u8.ndim != 4:
        raise ValueError(f"invert_cached: images must be uint8 [N, R, R, C], got "
                         f"{images_u8.dtype} {images_u8.shape}")
    settings = {"cfg": repr(inverter.cfg), "encoder": inverter.E is not None,
                "key": str(jax.random.key_data(key).tolist()) if key is not None else None}
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / f"latents-{latent_cache_key(g_digest, images_u8, settings, e_digest)}.npz"
        if path.is_file():
            return np.load(path)["ws"], True
    key = jax.random.key(0) if key is None else key
    out = []
    for s in progress_reporter(range(0, len(images_u8), batch), desc="invert", unit="batch",
                               disable=not progress):
        xb = pad_rows(to_float(images_u8[s:s + batch]), batch)             # one compiled shape
        n = min(batch, len(images_u8) - s)
        out.append(np.asarray(invert_batch(G, g, jnp.asarray(xb), inverter, key, s),
                              np.float32)[:n])
    ws = np.concatenate(out)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, ws=ws)
        tmp.replace(path)
    return ws, False


def blocked(fn, src, indices, block: int, *args, mesh=None):
    """``fn(src_block, indices_block, *args)`` over fixed-size blocks (the last one padded),
    so that every split reuses one compiled program; outputs (a tuple) concatenated. The
    blocks run on ``mesh`` (:func:`jaxgan.sharding.map_rows`; default one device)."""
    out = map_rows(lambda rows, *a: tuple(fn(rows[0], rows[1], *a)),
                   (np.asarray(src), np.asarray(indices)), *args, batch=block, mesh=mesh,
                   shrink=False)
    return tuple(out)


def invert_batch(G, g, x, inverter, key, start: int):
    """W+ latents ``[n, num_ws, w_dim]`` of images ``x`` (batch indices ``start + i``): with an
    encoder, its W+ alone (``inverter.cfg`` None) or in-domain inversion
    (:func:`jaxgan.invert.indomain.invert_indomain`: encoder initialisation, then optimisation
    with the domain term when ``cfg.domain_weight``); without one,
    :func:`jaxgan.invert.projector.project` from the mean latent."""
    cfg = inverter.cfg
    idx = jnp.arange(len(x)) + start
    if inverter.E is None:
        return project(G, g, x, cfg, key=key, indices=idx, lp=inverter.lp).ws
    if cfg is None:
        return encode_ws(inverter.E, inverter.e_vars, g, x)
    return indomain.invert_indomain(G, g, x, inverter.E, inverter.e_vars, cfg, lp=inverter.lp,
                                    key=key, indices=idx).ws
