"""GANSpace (Härkönen, Hertzmann, Lehtinen, Paris 2020): PCA directions, no supervision.

Sample ``num`` latents, take their ``w`` and compute its principal components: the unit
components are the directions, with their explained variance (``extras``: ``mean``,
``explained_variance``, ``explained_variance_ratio``, ``stdev`` - edit in units of
``stdev[k]``). The directions can be restricted to a range of ws (``layers``): GANSpace's
"apply to layers 0-3 only" edits.

``feature_block='b8'`` follows the paper's option for generators without a W: PCA of the
activations of an early synthesis block, whose components ``v_k`` are transferred to W
by linear regression of the centred ``w`` on the PCA coordinates ``x_k`` (``w - mean ~
x @ U``; the directions are the rows of ``U``, normalised).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxgan.directions.apply import Directions, sample_latents
from jaxgan import model
from jaxgan.nets.generator import Generator


def pca(x, num_components: int | None = None):
    """Principal components of ``x [N, D]`` by SVD of the centred data.

    Returns:
      dict with ``mean [D]``, ``components [K, D]`` (unit rows, sign: largest-magnitude
      entry positive), ``explained_variance [K]`` (``S^2 / (N - 1)``, as scikit-learn)
      and ``explained_variance_ratio [K]``.
    """
    x = jnp.asarray(x, jnp.float32)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"pca: x must be [N >= 2, D], got {x.shape}")
    k = min(x.shape) if num_components is None else int(num_components)
    if not 1 <= k <= min(x.shape):
        raise ValueError(f"num_components must be in [1, {min(x.shape)}], got {num_components}")
    mean = jnp.mean(x, axis=0)
    _, s, vt = jnp.linalg.svd(x - mean, full_matrices=False)
    vt = vt[:k]
    sign = jnp.sign(vt[jnp.arange(k), jnp.argmax(jnp.abs(vt), axis=1)])
    var = jnp.square(s) / (x.shape[0] - 1)
    return {"mean": mean, "components": vt * sign[:, None], "explained_variance": var[:k],
            "explained_variance_ratio": var[:k] / jnp.sum(var)}


def block_features(G, g, ws, block: str):
    """Flattened output activations ``[N, r * r * C]`` of synthesis block ``block`` ('b8')."""
    names = [f"b{r}" for r in G.cfg.block_resolutions]
    if block not in names:
        raise ValueError(f"feature_block must be one of {names}, got {block!r}")
    st = model.styles(G, g, ws)
    _, state = G.apply(g, st, method=Generator.synthesis, mutable=["intermediates"],
                       capture_intermediates=lambda mdl, name: mdl.name == block)
    x = state["intermediates"]["synthesis"][block]["__call__"][0][0]          # [N, r, r, C]
    return x.reshape(x.shape[0], -1)


def fit_ganspace(G, g, key, *, num: int = 5000, num_components: int = 10, layers=None,
                 feature_block: str | None = None, psi: float = 1.0, batch: int = 500
                 ) -> Directions:
    """PCA directions in W.

    Args:
      G, g: the generator.
      key: ``jax.random`` key of the sampled latents.
      num: number of samples.
      num_components: directions to keep.
      layers: ws indices the directions act on (None: all).
      feature_block: PCA of this block's activations instead of w (regressed back to W).
      psi: truncation of the samples.
      batch: samples per mapping/synthesis call.

    Returns:
      :class:`Directions` ``[K, w_dim]`` in space 'w', named ``pc0, pc1, ...``.
    """
    if num < 2:
        raise ValueError(f"num must be >= 2, got {num}")
    feats = None
    if feature_block:
        feats = jax.jit(lambda g_, ws: block_features(G, g_, ws, feature_block))
    sample = jax.jit(lambda g_, k, m: sample_latents(G, g_, k, m, "w", psi), static_argnums=2)
    ws_all, f_all = [], []
    for s in range(0, num, batch):
        m = min(batch, num - s)
        ws = sample(g, jax.random.fold_in(key, s), m)                               # [m, L, D]
        ws_all.append(ws[:, 0])
        if feats is not None:
            f_all.append(feats(g, ws))
    w = jnp.concatenate(ws_all)                                                     # [num, D]
    if feats is None:
        p = pca(w, num_components)
        vec = p["components"]
        stdev = jnp.sqrt(p["explained_variance"])
        mean = p["mean"]
    else:
        f = jnp.concatenate(f_all)
        p = pca(f, num_components)
        coords = (f - p["mean"]) @ p["components"].T                                # [num, K]
        mean = jnp.mean(w, axis=0)
        u = jnp.linalg.lstsq(coords, w - mean)[0]                                   # [K, D]
        norm = jnp.linalg.norm(u, axis=1)
        vec = u / norm[:, None]
        stdev = norm * jnp.sqrt(p["explained_variance"])     # w moved by 1 sd of coordinate k
    names = tuple(f"pc{i}" for i in range(vec.shape[0]))
    return Directions(vec, space="w", names=names,
                      layers=None if layers is None else tuple(layers),
                      extras={"explained_variance": p["explained_variance"],
                              "explained_variance_ratio": p["explained_variance_ratio"],
                              "stdev": stdev, "mean": mean}, shared=("mean",))
