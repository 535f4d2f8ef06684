"""Perceptual path length (Karras et al. 2019), as the official stylegan2-ada
``perceptual_path_length.py``, with jaxgan's LPIPS (:mod:`jaxgan.nets.lpips`, VGG16).

For each sample: ``z0, z1 ~ N(0, I)``, ``w_i = mapping(z_i)``, ``t ~ U(0, 1)`` (``'full'``) or
``t = 0`` (``'end'``: ``ppl_wend``); images at ``lerp(w0, w1, t)`` and ``lerp(w0, w1, t + eps)``
rendered with the same random noise (float32); optional official centre crop
(``[3R/8 : 7R/8, 2R/8 : 6R/8]``; off for ``ppl2``-style / non-face data); area downsampling
to 256 when larger; grey images repeated to RGB; ``d = LPIPS(img0, img1) / eps²``. The
score is the mean of ``d`` over the samples between the 1st (lower) and 99th (higher)
percentiles.

Every sample's randomness comes from ``fold_in(key, sample_index)``, so results do not
depend on the batch size.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from jaxgan import model
from jaxgan.nets.lpips import lpips_distance, min_resolution
from jaxgan.sharding import map_row_blocks


def _noise_layers(resolution: int):
    out = []
    for i in range(2, int(math.log2(resolution)) + 1):
        r = 2 ** i
        out += [(r, "conv1")] if r == 4 else [(r, "conv0"), (r, "conv1")]
    return out


def _sample_noise(key, resolution: int):
    """Per-sample noise maps ``{f'b{r}': {layer: [r, r]}}`` from one key."""
    noise: dict = {}
    for j, (r, layer) in enumerate(_noise_layers(resolution)):
        noise.setdefault(f"b{r}", {})[layer] = jax.random.normal(jax.random.fold_in(key, j), (r, r))
    return noise


def ppl_distances(G, variables, lp, key, indices, *, epsilon: float = 1e-4, sampling: str = "end",
                  crop: bool = False, lpips_resolution: int | None = None):
    """Per-sample scaled LPIPS distances (pure; jit with ``G``, ``sampling``, ``crop`` static).

    Args:
      G, variables: the generator.
      lp: LPIPS weights (:func:`jaxgan.nets.lpips.load_lpips`).
      key: base ``jax.random`` key; sample ``i`` uses ``fold_in(key, i)``.
      indices: int ``[B]`` sample indices.
      epsilon: step in W (official 1e-4).
      sampling: ``'end'`` (t = 0) or ``'full'`` (t ~ U(0, 1)).
      crop: official centre crop.
      lpips_resolution: resize both images before LPIPS (``None``: as rendered, or upsampled to
        the LPIPS net's minimum when smaller).

    Returns:
      ``[B]`` values ``LPIPS(img(t), img(t + eps)) / eps²``.
    """
    if sampling not in ("end", "full"):
        raise ValueError(f"sampling must be 'end' or 'full', got {sampling!r}")
    cfg = G.cfg
    keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.asarray(indices))

    def draws(k):
        kt, k0, k1, kc, kn = jax.random.split(k, 5)
        t = jax.random.uniform(kt, ()) * (1.0 if sampling == "full" else 0.0)
        c = (jax.nn.one_hot(jax.random.randint(kc, (), 0, cfg.c_dim), cfg.c_dim) if cfg.c_dim
             else jnp.zeros((0,)))
        return (t, jax.random.normal(k0, (cfg.z_dim,)), jax.random.normal(k1, (cfg.z_dim,)), c,
                _sample_noise(kn, cfg.img_resolution))

    t, z0, z1, c, noise = jax.vmap(draws)(keys)
    c2 = jnp.concatenate([c, c]) if cfg.c_dim else None
    ws = model.mapping(G, variables, jnp.concatenate([z0, z1]), c2)        # [2B, num_ws, w_dim]
    w0, w1 = jnp.split(ws, 2)
    t = t[:, None, None]
    wt0 = w0 + (w1 - w0) * t
    wt1 = w0 + (w1 - w0) * (t + epsilon)
    render = lambda w: model.synthesize(G, variables, w, noise=noise, force_fp32=True)  # noqa: E731
    img = jnp.concatenate([render(wt0), render(wt1)])                       # [2B, R, R, C]
    if crop:
        q = img.shape[1] // 8
        img = img[:, q * 3:q * 7, q * 2:q * 6]
    factor = img.shape[1] // 256
    if factor > 1:
        n, h, w, ch = img.shape
        img = img.reshape(n, h // factor, factor, w // factor, factor, ch).mean((2, 4))
    if img.shape[-1] == 1:
        img = jnp.repeat(img, 3, axis=-1)
    need = min_resolution(lp.net)
    if lpips_resolution is None and min(img.shape[1:3]) < need:
        lpips_resolution = 1 << (need - 1).bit_length()
    a, b = jnp.split(img, 2)
    return lpips_distance(lp, a, b, resolution=lpips_resolution) / epsilon ** 2


def ppl_from_distances(dist) -> float:
    """The official filtered mean: values between the 1st (lower) and 99th (higher) percentiles."""
    d = np.asarray(dist, np.float64)
    if d.ndim != 1 or len(d) == 0 or not np.all(np.isfinite(d)):
        raise ValueError(f"ppl_from_distances needs a non-empty finite 1-D array, got {d.shape}")
    lo = np.percentile(d, 1, method="lower")
    hi = np.percentile(d, 99, method="higher")
    return float(d[(d >= lo) & (d <= hi)].mean())


def compute_ppl(G, variables, lp, key, num_samples: int = 50000, batch_size: int = 32, *,
                epsilon: float = 1e-4, sampling: str = "end", crop: bool = False,
                lpips_resolution: int | None = None, progress: bool = True, mesh=None) -> dict:
    """PPL over ``num_samples`` (official ``ppl2_wend``: 50000, eps 1e-4, W, end points), in
    blocks of ``batch_size`` samples split over ``mesh``'s devices (default one).

    Returns:
      ``{'ppl': float, 'distances': [num_samples] array}``.
    """
    if num_samples < 1 or batch_size < 1:
        raise ValueError("num_samples and batch_size must be positive")
    fn = jax.jit(lambda v, lp_, k, idx: ppl_distances(
        G, v, lp_, k, idx, epsilon=epsilon, sampling=sampling, crop=crop,
        lpips_resolution=lpips_resolution))
    out = []
    fn_rows = lambda idx, v, lp_, k: fn(v, lp_, k, idx)  # noqa: E731
    with tqdm(total=num_samples, desc="ppl", unit="img", disable=not progress) as bar:
        for _, d in map_row_blocks(fn_rows, np.arange(num_samples), variables, lp, key,
                                   batch=batch_size, mesh=mesh, shrink=False):  # one compile
            out.append(d)
            bar.update(len(d))
    dist = np.concatenate(out)
    return {"ppl": ppl_from_distances(dist), "distances": dist}
