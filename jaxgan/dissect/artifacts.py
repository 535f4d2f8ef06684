"""Artifact units: units whose activation goes with low realism, and what ablating them does.

Realism per generated sample comes from the discriminator's logit (higher = more real) or
from a user's labels of bad samples (1 = bad). Units are ranked either by the Pearson
correlation of their per-sample spatial mean with *badness* (``-logit`` or the label), or
causally: by how much ablating each unit alone raises the mean realism (its average causal
effect on realism, as the paper's per-unit interventions). Ablating the top artifact units
(set to 0 everywhere) should raise realism; the sample-quality check is the Fréchet
distance (FD) between generated and real images in a classifier's penultimate feature
space, before and after, on latents held out from the ranking
(:func:`jaxgan.metrics.frechet_distance`).
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan.dissect.features import feature_shape, sample_ws, synthesize_features
from jaxgan.dissect.intervene import ablate
from jaxgan.model import discriminate
from jaxgan.metrics.features import classifier_penultimate
from jaxgan.sharding import map_rows
from jaxgan.metrics import frechet_distance as fd
from tqdm.auto import tqdm


def discriminator_realism(D, d_variables) -> Callable:
    """``images [N, R, R, C] -> [N]`` realism = the discriminator's logit (jitted).

    Minibatch-stddev groups need ``N`` divisible by the group size: the batch is scored as
    its largest divisible part plus the remainder (a group of its own, as the official
    ``min(group_size, N)``).
    """
    g = max(int(getattr(D.cfg, "mbstd_group_size", 1) or 1), 1)
    f = jax.jit(lambda x: discriminate(D, d_variables, x)[:, 0])

    def realism(x):
        n = (x.shape[0] // g) * g
        parts = [f(x[:n])] if n else []
        if n < x.shape[0]:
            parts.append(f(x[n:]))
        return jnp.concatenate(parts)
    return realism


def classifier_confidence(module, variables) -> Callable:
    """``images [N, R, R, C] -> [N]`` realism = a classifier's confidence (max class
    probability, jitted): samples whose object the classifier recognises count as real.
    An automatic stand-in for a user's labels of bad samples on data with known classes."""
    return jax.jit(lambda x: jnp.max(jax.nn.softmax(module.apply(variables, x), -1), -1))


def classifier_features(module, variables) -> Callable:
    """``images -> [N, F]`` penultimate (pooled) features of a :class:`Classifier` (jitted;
    :func:`jaxgan.metrics.features.classifier_penultimate`)."""
    return jax.jit(lambda x: classifier_penultimate(module, variables, x))


def frechet_distance(feats_a, feats_b) -> float:
    """FD between Gaussians fitted to two feature sets ``[N, F]`` and ``[M, F]``
    (:func:`jaxgan.metrics.frechet_distance` on their means and covariances)."""
    a, b = np.asarray(feats_a, np.float64), np.asarray(feats_b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or len(a) < 2 or len(b) < 2:
        raise ValueError(f"frechet_distance needs [N>=2, F] and [M>=2, F], got {a.shape}, {b.shape}")
    return float(fd(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False)))


def unit_statistics(G, variables, layer: str, ws, ablate_units=None):
    """Images and per-unit spatial-mean activations ``[N, U]`` (pure; jittable).

    Args:
      ablate_units: optional unit indices / mask set to 0 before the rest of G runs.
    """
    edits = None if ablate_units is None else {layer: lambda r: ablate(r, ablate_units)}
    img, f = synthesize_features(G, variables, ws, (layer,), edits)
    return img, f[layer].astype(jnp.float32).mean((1, 2))


def rank_artifact_units(unit_means, badness):
    """Units ranked by Pearson correlation of their activation with badness.

    Args:
      unit_means: ``[N, U]`` per-sample unit statistics.
      badness: ``[N]`` (e.g. ``-D logit`` or 0/1 bad labels).

    Returns:
      ``(order [U] most artifact-like first, correlation [U])``.
    """
    a = np.asarray(unit_means, np.float64)
    b = np.asarray(badness, np.float64).reshape(-1)
    if a.ndim != 2 or a.shape[0] != b.shape[0]:
        raise ValueError(f"unit_means [N, U] and badness [N] disagree: {a.shape}, {b.shape}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("rank_artifact_units: NaN/Inf in activations or badness")
    a = a - a.mean(0)
    b = b - b.mean()
    den = np.sqrt((a ** 2).sum(0) * (b ** 2).sum())
    corr = np.where(den > 0, (a * b[:, None]).sum(0) / np.maximum(den, 1e-300), 0.0)
    return np.argsort(-corr, kind="stable"), corr


def causal_artifact_effects(stats_fn: Callable, realism_fn: Callable, num_units: int,
                            num_samples: int, batch_size: int, progress: bool = False):
    """Per-unit average causal effect on realism: ``E[realism(x_a(u))] - E[realism(x)]`` with
    ``x_a(u)`` the sample with unit ``u`` alone ablated (set to 0 everywhere).

    Args:
      stats_fn: ``(indices [B], ablate_mask [U]) -> (images, unit means)`` (jitted).
      realism_fn: images -> ``[B]``.
      num_units, num_samples, batch_size: units, latents ``0..num_samples-1``, batch.

    Returns:
      ``[U]`` float64 effects (positive: ablating the unit makes samples look more real).
    """

    def mean_realism(mask):
        tot = 0.0
        for s in range(0, num_samples, batch_size):
            x, _ = stats_fn(jnp.arange(s, min(s + batch_size, num_samples)), mask)
            tot += float(np.sum(np.asarray(realism_fn(x), np.float64)))
        return tot / num_samples

    base = mean_realism(jnp.zeros(num_units))
    eff = np.zeros(num_units)
    for u in tqdm(range(num_units), desc="artifact ACE", disable=not progress):
        eff[u] = mean_realism(jnp.zeros(num_units).at[u].set(1.0)) - base
    return eff


def artifact_study(G, variables, layer: str, *, realism_fn: Callable | None = None,
                   bad_labels=None, features_fn: Callable, real_images, num_samples: int = 500,
                   batch_size: int = 50, num_ablate=4, key=None, truncation_psi: float = 1.0,
                   ranking: str = "correlation", rank_samples: int = 200,
                   progress: bool = False, mesh=None) -> dict:
    """Rank artifact units and report sample quality before/after ablating the top ones.

    Units are ranked on latents ``0..num_samples-1`` (``z_i = normal(fold_in(key, i))``);
    the FD before/after is measured on *held-out* latents ``num_samples..2·num_samples-1``
    against ``real_images``, so the selection is not scored on the samples it was chosen on.

    Args:
      G, variables, layer: the generator and layer.
      realism_fn: images -> ``[N]`` realism (e.g. :func:`discriminator_realism`); or
      bad_labels: ``[num_samples]`` 0/1 user labels of bad samples of the ranking latents.
      features_fn: images -> ``[N, F]`` (e.g. :func:`classifier_features`).
      real_images: float ``[M, R, R, C]`` in [-1, 1] reference set for FD.
      num_samples, batch_size: generated samples per set (ranking, held-out), batch size.
      num_ablate: number of top artifact units ablated, or a list of numbers (an FD curve).
      key: latent key (default ``key(0)``).
      ranking: 'correlation' (Pearson correlation of a unit's mean activation with badness)
        or 'causal' (each unit's average causal effect on realism when ablated alone, on the
        first ``rank_samples`` ranking latents; needs ``realism_fn``).
      progress: tqdm bar for the causal ranking.
      mesh: data mesh for the real images' features (row-wise, :func:`jaxgan.sharding.map_rows`;
        default one device). The generated samples run on the default device (the
        discriminator's minibatch-stddev groups make realism depend on the batch).

    Returns:
      dict: ``order``, ``score`` (correlation or causal effect per unit), ``ranking``,
      ``ablated_units`` (for the largest k), ``fd_before``, ``fd_after`` (largest k),
      ``fd_by_k`` ``{k: FD}`` and, with ``realism_fn``, held-out ``realism_before`` /
      ``realism_after`` (largest k) and ``realism_by_k``.
    """
    if (realism_fn is None) == (bad_labels is None):
        raise ValueError("artifact_study: pass exactly one of realism_fn or bad_labels")
    if bad_labels is not None and len(bad_labels) != num_samples:
        raise ValueError(f"bad_labels has {len(bad_labels)} entries, expected {num_samples}")
    if ranking not in ("correlation", "causal"):
        raise ValueError(f"artifact_study: ranking must be 'correlation' or 'causal', got {ranking!r}")
    if ranking == "causal" and realism_fn is None:
        raise ValueError("artifact_study: ranking='causal' needs realism_fn (labels only "
                         "exist for the unablated samples)")
    ks = sorted({int(k) for k in np.atleast_1d(num_ablate)})
    u = feature_shape(G, layer)[2]
    if not ks or ks[0] < 1 or ks[-1] > u:
        raise ValueError(f"artifact_study: num_ablate must be in [1, {u}] (units of {layer}), "
                         f"got {num_ablate}")
    key = jax.random.key(0) if key is None else key
    stats = jax.jit(lambda idx, ab: unit_statistics(
        G, variables, layer, sample_ws(G, variables, key, idx, truncation_psi), ab))
    none = jnp.zeros(u)

    def run(ab, start):
        means, feats, real = [], [], []
        for s in range(start, start + num_samples, batch_size):
            x, m = stats(jnp.arange(s, min(s + batch_size, start + num_samples)), ab)
            means.append(np.asarray(m))
            feats.append(np.asarray(features_fn(x)))
            if realism_fn is not None:
                real.append(np.asarray(realism_fn(x)))
        return (np.concatenate(means), np.concatenate(feats),
                np.concatenate(real) if real else None)

    if ranking == "correlation":
        means, _, r_rank = run(none, 0)
        badness = -r_rank if bad_labels is None else np.asarray(bad_labels, np.float64)
        order, score = rank_artifact_units(means, badness)
    else:
        score = causal_artifact_effects(stats, realism_fn, u, min(rank_samples, num_samples),
                                        batch_size, progress)
        order = np.argsort(-score, kind="stable")
    f_real = map_rows(features_fn, np.asarray(real_images), batch=batch_size, mesh=mesh)
    _, f_before, r_before = run(none, num_samples)
    fd_by_k, real_by_k = {}, {}
    for k in ks:
        _, f_after, r_after = run(jnp.zeros(u).at[jnp.asarray(order[:k])].set(1.0), num_samples)
        fd_by_k[k] = frechet_distance(f_after, f_real)
        if r_after is not None:
            real_by_k[k] = float(r_after.mean())
    out = {"order": order, "score": score, "ranking": ranking, "ablated_units": order[:ks[-1]],
           "fd_before": frechet_distance(f_before, f_real), "fd_after": fd_by_k[ks[-1]],
           "fd_by_k": fd_by_k}
    if realism_fn is not None:
        out["realism_before"] = float(r_before.mean())
        out["realism_after"] = real_by_k[ks[-1]]
        out["realism_by_k"] = real_by_k
    return out
