"""Combine classifier outputs on an image and on its views; pick alpha on validation.

``p(alpha) = (1 - alpha) * C(x) + alpha * mean_k C(view_k)`` on softmax probabilities
(gan-ensembling's rule). ``alpha`` is chosen on a validation split over a grid (the paper's
21 values ``0, 0.05, ..., 1``; ties go to the smallest alpha) and reported on the test
split with percentile bootstrap confidence intervals (``numpy.random.Generator`` seeded
from the config seed), including a paired interval of the gain over the classifier alone.
"""
from __future__ import annotations

import numpy as np


def alpha_grid(num: int = 21) -> np.ndarray:
    """``num`` equally spaced alphas in [0, 1] (default the paper's 21)."""
    if num < 2:
        raise ValueError(f"alpha_grid: num must be >= 2, got {num}")
    return np.linspace(0.0, 1.0, num)


def _check(p_img, p_views, labels=None):
    p_img = np.asarray(p_img, np.float64)
    p_views = np.asarray(p_views, np.float64)
    if p_views.ndim == 3:                                   # [N, K, C] -> mean over views
        p_views = p_views.mean(1)
    if p_img.ndim != 2 or p_views.shape != p_img.shape:
        raise ValueError(f"combine: p_img must be [N, C] and p_views [N, C] or [N, K, C] with "
                         f"the same N, C; got {p_img.shape}, {np.shape(p_views)}")
    if not (np.all(np.isfinite(p_img)) and np.all(np.isfinite(p_views))):
        raise ValueError("combine: probabilities contain NaN or Inf")
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != (p_img.shape[0],):
            raise ValueError(f"combine: labels must be [{p_img.shape[0]}], got {labels.shape}")
    return p_img, p_views, labels


def ensemble_probs(p_img, p_views, alpha):
    """``(1 - alpha) * p_img + alpha * mean_k p_views``.

    Args:
      p_img: ``[N, C]`` probabilities on the images.
      p_views: ``[N, K, C]`` on the views (or their mean ``[N, C]``).
      alpha: weight of the views in [0, 1].

    Returns:
      ``[N, C]`` float64.
    """
    if not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"ensemble_probs: alpha must be in [0, 1], got {alpha}")
    p_img, p_views, _ = _check(p_img, p_views)
    return (1.0 - alpha) * p_img + alpha * p_views


def accuracy_curve(p_img, p_views, labels, alphas=None) -> np.ndarray:
    """Accuracy of the ensemble at each alpha: ``[len(alphas)]`` (default :func:`alpha_grid`)."""
    p_img, p_views, labels = _check(p_img, p_views, labels)
    alphas = alpha_grid() if alphas is None else np.asarray(alphas, np.float64)
    a = alphas[:, None, None]
    pred = np.argmax((1.0 - a) * p_img[None] + a * p_views[None], -1)    # [A, N]
    return (pred == labels[None]).mean(1)


def select_alpha(p_img, p_views, labels, alphas=None) -> tuple[float, np.ndarray]:
    """The alpha with the best validation accuracy (first of ties: the smallest).

    Returns:
      ``(alpha, accuracies [len(alphas)])``.
    """
    alphas = alpha_grid() if alphas is None else np.asarray(alphas, np.float64)
    acc = accuracy_curve(p_img, p_views, labels, alphas)
    return float(alphas[int(np.argmax(acc))]), acc


def bootstrap_ci(correct, num_boot: int = 2000, seed: int = 0, level: float = 0.95,
                 baseline=None) -> tuple[float, float, float]:
    """Percentile bootstrap of the mean of ``correct`` (optionally minus ``baseline``, paired).

    Args:
      correct: ``[N]`` 0/1 (or real) per-example scores.
      num_boot: resamples; seed: seeds ``numpy.random.default_rng``; level: coverage.
      baseline: optional ``[N]`` scores of a baseline on the same examples: the interval is
        then for ``mean(correct) - mean(baseline)`` with the same resampled indices.

    Returns:
      ``(estimate, low, high)``.
    """
    c = np.asarray(correct, np.float64)
    if c.ndim != 1 or c.size == 0:
        raise ValueError(f"bootstrap_ci: correct must be a non-empty [N] array, got {c.shape}")
    if not 0 < level < 1:
        raise ValueError(f"bootstrap_ci: level must be in (0, 1), got {level}")
    if baseline is not None:
        b = np.asarray(baseline, np.float64)
        if b.shape != c.shape:
            raise ValueError(f"bootstrap_ci: baseline must be {c.shape}, got {b.shape}")
        c = c - b
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, c.size, size=(num_boot, c.size))
    means = c[idx].mean(1)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(c.mean()), float(lo), float(hi)


def evaluate_method(p_img_val, p_views_val, y_val, p_img_test, p_views_test, y_test, *,
                    alphas=None, num_boot: int = 2000, seed: int = 0, level: float = 0.95) -> dict:
    """Select alpha on validation and report test accuracy with bootstrap intervals.

    Returns:
      dict: ``alpha``, ``val_curve`` / ``test_curve`` (accuracy per alpha), ``alphas``,
      ``test_acc`` / ``test_ci`` (ensemble at the chosen alpha), ``gain`` / ``gain_ci``
      (paired, minus the classifier alone), ``views_only_test_acc`` (alpha = 1).
    """
    alphas = alpha_grid() if alphas is None else np.asarray(alphas, np.float64)
    alpha, val_curve = select_alpha(p_img_val, p_views_val, y_val, alphas)
    test_curve = accuracy_curve(p_img_test, p_views_test, y_test, alphas)
    y = np.asarray(y_test)
    ens = np.argmax(ensemble_probs(p_img_test, p_views_test, alpha), -1) == y
    alone = np.argmax(np.asarray(p_img_test), -1) == y
    acc, lo, hi = bootstrap_ci(ens, num_boot, seed, level)
    gain, glo, ghi = bootstrap_ci(ens, num_boot, seed, level, baseline=alone)
    return {"alpha": alpha, "alphas": alphas.tolist(), "val_curve": val_curve.tolist(),
            "test_curve": test_curve.tolist(), "val_acc": float(val_curve.max()),
            "test_acc": acc, "test_ci": [lo, hi], "gain": gain, "gain_ci": [glo, ghi],
            "views_only_test_acc": float(test_curve[-1])}
