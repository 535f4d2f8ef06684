"""Artifact units: units whose activation goes with low realism, and what ablating them does.

Realism per generated sample comes from the discriminator's logit (higher = more real) or
from a user's labels of bad samples (1 = bad). Each unit's per-sample statistic is the
spatial mean of its map; units are ranked by the Pearson correlation of that statistic
with *badness* (``-logit`` or the label). Ablating the top artifact units (set to 0
everywhere) should raise realism; the sample-quality check is the Fréchet distance (FD)
between generated and real images in a classifier's penultimate feature space, before
and after (:func:`jaxgan.metrics.frechet_distance`).
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan.dissect.features import feature_shape, sample_ws, synthesize_features
from jaxgan.dissect.intervene import ablate


def discriminator_realism(D, d_variables) -> Callable:
    """``images [N, R, R, C] -> [N]`` realism = the discriminator's logit (jitted).

    Minibatch-stddev groups need ``N`` divisible by the group size: the batch is scored as
    its largest divisible part plus the remainder (a group of its own, as the official
    ``min(group_size, N)``).
    """
    from jaxgan.model import discriminate  # noqa: PLC0415
    g = max(int(getattr(D.cfg, "mbstd_group_size", 1) or 1), 1)
    f = jax.jit(lambda x: discriminate(D, d_variables, x)[:, 0])

    def realism(x):
        n = (x.shape[0] // g) * g
        parts = [f(x[:n])] if n else []
        if n < x.shape[0]:
            parts.append(f(x[n:]))
        return jnp.concatenate(parts)
    return realism


def classifier_features(module, variables) -> Callable:
    """``images -> [N, F]`` penultimate (pooled) features of a :class:`Classifier` (jitted;
    :func:`jaxgan.metrics.features.classifier_penultimate`)."""
    from jaxgan.metrics.features import classifier_penultimate  # noqa: PLC0415
    return jax.jit(lambda x: classifier_penultimate(module, variables, x))


def frechet_distance(feats_a, feats_b) -> float:
    """FD between Gaussians fitted to two feature sets ``[N, F]`` and ``[M, F]``
    (:func:`jaxgan.metrics.frechet_distance` on their means and covariances)."""
    from jaxgan.metrics import frechet_distance as fd  # noqa: PLC0415
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


def artifact_study(G, variables, layer: str, *, realism_fn: Callable | None = None,
                   bad_labels=None, features_fn: Callable, real_images, num_samples: int = 500,
                   batch_size: int = 50, num_ablate: int = 4, key=None,
                   truncation_psi: float = 1.0) -> dict:
    """Rank artifact units and report sample quality before/after ablating the top ones.

    Args:
      G, variables, layer: the generator and layer.
      realism_fn: images -> ``[N]`` realism (e.g. :func:`discriminator_realism`); or
      bad_labels: ``[num_samples]`` 0/1 user labels of bad samples (sample ``i`` is
        ``z_i = normal(fold_in(key, i))``).
      features_fn: images -> ``[N, F]`` (e.g. :func:`classifier_features`).
      real_images: float ``[M, R, R, C]`` in [-1, 1] reference set for FD.
      num_samples, batch_size: generated samples (ranking and FD use the same ones).
      num_ablate: top artifact units ablated.
      key: latent key (default ``key(0)``).

    Returns:
      dict: ``order``, ``correlation``, ``ablated_units``, ``fd_before``, ``fd_after``
      and, with ``realism_fn``, ``realism_before`` / ``realism_after`` (means).
    """
    if (realism_fn is None) == (bad_labels is None):
        raise ValueError("artifact_study: pass exactly one of realism_fn or bad_labels")
    if bad_labels is not None and len(bad_labels) != num_samples:
        raise ValueError(f"bad_labels has {len(bad_labels)} entries, expected {num_samples}")
    key = jax.random.key(0) if key is None else key
    u = feature_shape(G, layer)[2]
    stats = jax.jit(lambda idx, ab: unit_statistics(
        G, variables, layer, sample_ws(G, variables, key, idx, truncation_psi), ab))
    none = jnp.zeros(u)

    def run(ab):
        imgs, means, feats, real = [], [], [], []
        for s in range(0, num_samples, batch_size):
            x, m = stats(jnp.arange(s, min(s + batch_size, num_samples)), ab)
            means.append(np.asarray(m))
            feats.append(np.asarray(features_fn(x)))
            if realism_fn is not None:
                real.append(np.asarray(realism_fn(x)))
        return (np.concatenate(means), np.concatenate(feats),
                np.concatenate(real) if real else None)

    means, f_before, r_before = run(none)
    badness = -r_before if bad_labels is None else np.asarray(bad_labels, np.float64)
    order, corr = rank_artifact_units(means, badness)
    top = order[:num_ablate]
    _, f_after, r_after = run(jnp.zeros(u).at[jnp.asarray(top)].set(1.0))
    f_real = np.concatenate([np.asarray(features_fn(real_images[s:s + batch_size]))
                             for s in range(0, len(real_images), batch_size)])
    out = {"order": order, "correlation": corr, "ablated_units": top,
           "fd_before": frechet_distance(f_before, f_real),
           "fd_after": frechet_distance(f_after, f_real)}
    if realism_fn is not None:
        out["realism_before"] = float(r_before.mean())
        out["realism_after"] = float(r_after.mean())
    return out
