"""Fréchet distance between two Gaussians (the FID formula), on the host in float64.

``d² = ||mu1 - mu2||² + tr(S1 + S2 - 2 (S1 S2)^½)``. The trace of the matrix square root is
computed as ``sum sqrt(eig(S1^½ S2 S1^½))`` (a symmetric PSD matrix with the same
eigenvalues as ``S1 S2``), which is stable and real; the official code's
``scipy.linalg.sqrtm(S1 @ S2)`` gives the same value (checked in the tests).
"""
from __future__ import annotations

import numpy as np


def _check(mu, sigma, name: str):
    mu = np.asarray(mu, np.float64)
    sigma = np.asarray(sigma, np.float64)
    if mu.ndim != 1:
        raise ValueError(f"frechet_distance: {name} mean must be 1-D [D], got shape {mu.shape}")
    if sigma.shape != (mu.shape[0], mu.shape[0]):
        raise ValueError(f"frechet_distance: {name} covariance must be [{mu.shape[0]}, "
                         f"{mu.shape[0]}], got {sigma.shape}")
    if not (np.all(np.isfinite(mu)) and np.all(np.isfinite(sigma))):
        raise ValueError(f"frechet_distance: {name} statistics contain NaN/Inf")
    return mu, sigma


def _psd_sqrt(s):
    w, v = np.linalg.eigh((s + s.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2).

    Args:
      mu1, mu2: means ``[D]``.
      sigma1, sigma2: covariances ``[D, D]`` (symmetric PSD).

    Returns:
      The distance (a non-negative float; FID when the statistics are Inception pool3 ones).

    Raises:
      ValueError: mismatched shapes or non-finite statistics.
    """
    mu1, sigma1 = _check(mu1, sigma1, "first")
    mu2, sigma2 = _check(mu2, sigma2, "second")
    if mu1.shape != mu2.shape:
        raise ValueError(f"frechet_distance: feature dims differ: {mu1.shape[0]} vs {mu2.shape[0]}")
    r1 = _psd_sqrt(sigma1)
    m = r1 @ sigma2 @ r1                                       # [D, D], eigenvalues of S1 S2
    tr_covmean = np.sum(np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)))
    d = np.sum((mu1 - mu2) ** 2) + np.trace(sigma1) + np.trace(sigma2) - 2 * tr_covmean
    return float(max(d, 0.0))
