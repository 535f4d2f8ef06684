"""EigenFind (CheXplaining in Style): SeFa eigenvectors of the StylEx style weights as
candidate attributes, moved by ±degree, ranked by the classifier's mean change, with the
same greedy image coverage as AttFind.

SeFa (Shen & Zhou 2021): stack the affine (w -> style) weights of every synthesis layer
as ``A [sum_C, w_dim]`` (rows normalised... per input column, as the SeFa code), and take the
eigenvectors of ``AᵀA`` with the largest eigenvalues: the w directions that move the styles
most. With a classifier-conditioned generator only the ``w`` rows of the affines are used
(the logit inputs are not a direction in W).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan import model
from jaxgan.stylex import attfind as af
from jaxgan.sharding import map_rows


def style_weights(g_params, w_dim: int):
    """``[sum_C, w_dim]``: every synthesis affine's weight (w rows only), transposed, stacked."""
    mats = []
    for bname in sorted(g_params["synthesis"], key=lambda b: int(b[1:])):
        block = g_params["synthesis"][bname]
        for lname in ("conv0", "conv1", "torgb"):
            if lname in block:
                w = np.asarray(block[lname]["affine"]["weight"], np.float64)    # [in, C]
                mats.append(w[:w_dim].T)
    return np.concatenate(mats, axis=0)


def sefa_directions(g_params, w_dim: int, num: int | None = None):
    """SeFa eigenvectors ``[num, w_dim]`` (unit norm, largest eigenvalue first) and eigenvalues."""
    a = style_weights(g_params, w_dim)
    a = a / np.linalg.norm(a, axis=0, keepdims=True)
    vals, vecs = np.linalg.eigh(a.T @ a)
    order = np.argsort(vals)[::-1][:num]
    return vecs[:, order].T.astype(np.float32), vals[order]


def eigen_effects(G, g_vars, classify, ws, cond_logits, directions, degree: float,
                  measure: str = "logit", chunk: int = 256, mesh=None):
    """Effect tensor ``[N, 2, D, K]``: class change when ``ws`` (all layers) moves by
    ``-degree`` (index 0) or ``+degree`` (index 1) along each direction.

    Args:
      G, g_vars: the conditioned generator; classify: ``images -> logits``.
      ws: ``[N, num_ws, w_dim]``; cond_logits: ``[N, K]`` (the conditioning, kept fixed).
      directions: ``[D, w_dim]``.
      chunk, mesh: renders per block and the data mesh the blocks run on (default one device).
    """
    ws = jnp.asarray(ws)
    cond = jnp.asarray(cond_logits)
    dirs = jnp.asarray(directions)

    def out(w, c):
        lg = classify(model.synthesize(G, g_vars, model.condition_ws(w, c)))
        return jax.nn.softmax(lg, -1) if measure == "prob" else lg

    base_fn = jax.jit(out)
    base = map_rows(lambda r: base_fn(*r), (np.asarray(ws), np.asarray(cond)), batch=chunk,
                    mesh=mesh)

    @jax.jit
    def moved(n_idx, s_idx, d_idx):
        step = jnp.where(s_idx == 0, -degree, degree)[:, None, None] * dirs[d_idx][:, None, :]
        return out(ws[n_idx] + step, cond[n_idx]) - jnp.asarray(base)[n_idx]

    n, d = ws.shape[0], dirs.shape[0]
    nn, ss, dd = (a.ravel() for a in np.meshgrid(np.arange(n), np.arange(2), np.arange(d),
                                                 indexing="ij"))
    res = map_rows(lambda r: moved(*r), (nn, ss, dd), batch=chunk, mesh=mesh, shrink=False)
    return res.reshape(n, 2, d, base.shape[1]), base


def run_eigenfind(sx, enc: dict, *, degree: float = 3.0, num_directions: int = 16,
                  num_indices: int = 8, max_image_effect: float = 0.2, measure: str = "prob"):
    """EigenFind over encoded images: SeFa directions, effects, per-class greedy ranking.

    Returns:
      dict with ``directions [D, w_dim]``, ``eigenvalues``, ``effects [N, 2, D, K]``,
      ``ranking {class: [(sign 0/1, direction, score)]}`` and a JSON summary under ``json``
      (also the mean change per direction, the CheXplaining ranking).
    """
    dirs, vals = sefa_directions(sx.g["params"], sx.G.cfg.w_dim, num_directions)
    eff, base = eigen_effects(sx.G, sx.g, sx.logits, enc["ws"], enc["cond_logits"], dirs, degree,
                              measure)
    labels = np.argmax(base, -1)
    k = eff.shape[-1]
    ranking = {c: af.find_significant_styles(eff, labels, c, num_indices, max_image_effect)
               for c in range(k)}
    mean_change = eff.mean(0)                                           # [2, D, K]
    names = list(sx.clf.cfg.class_names) or [f"class{c}" for c in range(k)]
    js = {"degree": degree, "measure": measure, "eigenvalues": [float(v) for v in vals],
          "ranking": {names[c]: [{"sign": "+" if s else "-", "direction": j, "score": sc}
                                 for s, j, sc in r] for c, r in ranking.items()},
          "mean_change": {names[c]: mean_change[..., c].tolist() for c in range(k)}}
    return {"directions": dirs, "eigenvalues": vals, "effects": eff, "ranking": ranking,
            "json": js}
