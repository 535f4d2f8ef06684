"""Numbers that say whether a direction works (used by the commands and the tests).

* steering: for each edit with a statistic (zoom -> object area, shift -> object
  centre, colour -> channel mean), the mean statistic of walked images over a sweep of
  steps; its Spearman rank correlation with the step and its fitted slope against the
  slope of the same statistic under the real edit;
* GANalyze: the fitted slope of assessor change vs alpha on held-out latents (target 1);
* InterFaceGAN: accuracy of the boundary on held-out latents labelled by the labeller.
"""
from __future__ import annotations

import numpy as np


def rankdata(x) -> np.ndarray:
    """Ranks (0-based, ties averaged) of a 1-D array."""
    x = np.asarray(x, np.float64)
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x), np.float64)
    ranks[order] = np.arange(len(x), dtype=np.float64)
    for v in np.unique(x):                      # average the ranks of ties
        tie = x == v
        if tie.sum() > 1:
            ranks[tie] = ranks[tie].mean()
    return ranks


def spearman(x, y) -> float:
    """Spearman rank correlation of two 1-D arrays (Pearson correlation of the ranks)."""
    rx, ry = rankdata(x), rankdata(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    den = np.sqrt((rx * rx).sum() * (ry * ry).sum())
    return float((rx * ry).sum() / den) if den > 0 else 0.0


def steer_metrics(curves: dict, names) -> dict:
    """Summaries of :func:`jaxgan.directions.steer.steerability` output.

    Returns:
      ``{edit: {'natural', 'achieved_mean', 'target_mean', 'spearman', 'slope',
      'target_slope', 'slope_ratio', 'per_latent_spearman'}}`` (lists / floats, JSON-ready).
    """
    out = {}
    for k, name in enumerate(names):
        x = np.asarray(curves["natural"][k], np.float64)
        ach = np.asarray(curves["achieved"][k], np.float64)                # [A, N]
        tgt = np.asarray(curves["target"][k], np.float64)
        am, tm = ach.mean(axis=1), tgt.mean(axis=1)
        slope = float(np.polyfit(x, am, 1)[0])
        tslope = float(np.polyfit(x, tm, 1)[0])
        per = [spearman(x, ach[:, i]) for i in range(ach.shape[1])]
        out[name] = {"natural": x.tolist(), "achieved_mean": am.tolist(),
                     "target_mean": tm.tolist(), "spearman": spearman(x, am),
                     "per_latent_spearman": float(np.mean(per)), "slope": slope,
                     "target_slope": tslope,
                     "slope_ratio": slope / tslope if tslope != 0 else float("nan")}
    return out


def accuracy(pred, labels) -> float:
    """Share of equal entries of two boolean arrays."""
    return float(np.mean(np.asarray(pred, bool) == np.asarray(labels, bool)))
