"""SeFa (Shen & Zhou 2021): closed-form factorisation of the style-affine weights.

Every modulated layer's style is ``s = A^T w + b`` (``A = weight * lr / sqrt(w_dim)``,
stored ``[w_dim, C]`` in ``params['synthesis'][f'b{res}'][layer]['affine']``). The
directions that change the chosen layers' styles most are the top eigenvectors of
``sum_l A_l A_l^T`` - following the official code, each style channel's weight column is
first normalised to unit length (so the runtime gain cancels), the chosen layers'
columns are concatenated ``W [w_dim, sum C]`` and ``W W^T`` is diagonalised.

Layers are named by their ws index (what :func:`jaxgan.directions.apply` moves): for each
block in order, ``conv0``, ``conv1``, ``torgb`` take consecutive indices starting at the
block's first ws, so ``torgb`` of a block shares the index of the next ``conv0``.
"""
from __future__ import annotations

import jax.numpy as jnp

from jaxgan.directions.apply import Directions, layer_mask

LAYER_ORDER = ("conv0", "conv1", "torgb")


def style_layers(G, g) -> list[tuple[int, str, str]]:
    """``[(ws_index, block, layer), ...]`` of every modulated layer, in synthesis order."""
    syn = g["params"]["synthesis"]
    out, idx = [], 0
    for res in G.cfg.block_resolutions:
        block = f"b{res}"
        names = [n for n in LAYER_ORDER if n in syn[block]]
        out.extend((idx + i, block, n) for i, n in enumerate(names))
        idx += 1 if res == 4 else 2
    return out


def affine_weights(G, g, layers=None, include_torgb: bool = False):
    """The selected layers' style-affine weights.

    Args:
      layers: ws indices (None: all).
      include_torgb: also the ToRGB layers' affines (the official code uses the convs).

    Returns:
      list of ``((ws_index, block, layer), weight [w_dim, C])``.
    """
    sel = None if layers is None else set(int(i) for i in layers)
    if sel is not None:
        layer_mask(G.cfg.num_ws, sorted(sel))          # validates the indices
    out = []
    for i, block, name in style_layers(G, g):
        if (sel is None or i in sel) and (include_torgb or name != "torgb"):
            out.append(((i, block, name), g["params"]["synthesis"][block][name]["affine"]["weight"]))
    if not out:
        raise ValueError(f"no style layers selected by layers={layers} "
                         f"(include_torgb={include_torgb})")
    return out


def fit_sefa(G, g, *, layers=None, num_components: int | None = None,
             include_torgb: bool = False) -> Directions:
    """Closed-form directions of the chosen layers.

    Args:
      G, g: the generator.
      layers: ws indices whose styles are factorised - and that the directions then move
        (None: all).
      num_components: directions to keep (default ``w_dim``).
      include_torgb: include ToRGB affines.

    Returns:
      :class:`Directions` ``[K, w_dim]`` in space 'w' (eigenvalues descending in
      ``extras['eigenvalues']``), named ``sefa0, sefa1, ...``.
    """
    ws = affine_weights(G, g, layers, include_torgb)
    w = jnp.concatenate([jnp.asarray(a, jnp.float32) for _, a in ws], axis=1)     # [w_dim, sum C]
    w = w / jnp.linalg.norm(w, axis=0, keepdims=True)
    vals, vecs = jnp.linalg.eigh(w @ w.T)
    order = jnp.argsort(-vals)
    vals, vecs = vals[order], vecs[:, order].T                                      # [w_dim, w_dim]
    k = G.cfg.w_dim if num_components is None else int(num_components)
    if not 1 <= k <= G.cfg.w_dim:
        raise ValueError(f"num_components must be in [1, {G.cfg.w_dim}], got {num_components}")
    sign = jnp.sign(vecs[jnp.arange(k), jnp.argmax(jnp.abs(vecs[:k]), axis=1)])
    names = tuple(f"sefa{i}" for i in range(k))
    return Directions(vecs[:k] * sign[:, None], space="w", names=names,
                      layers=None if layers is None else tuple(int(i) for i in layers),
                      extras={"eigenvalues": vals[:k]})
