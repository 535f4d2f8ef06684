"""Figures of the directions methods (matplotlib, PNG): strips over alpha, score vs alpha,
steerability curves, training curves."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from jaxgan.viz.grid import to_uint8


def _plt():
    import matplotlib  # noqa: PLC0415
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415
    return plt


def save_strips(images, path, alphas=None, row_labels=None) -> Path:
    """One row per sample (or direction), one column per alpha.

    Args:
      images: ``[A, N, R, R, C]`` float in [-1, 1] (alpha-major, as ``apply`` sweeps).
      path: PNG file.
      alphas: ``[A]`` column titles (optional).
      row_labels: N row labels (optional).
    """
    x = np.asarray(images)
    if x.ndim != 5:
        raise ValueError(f"save_strips: images must be [A, N, R, R, C], got {x.shape}")
    a, n = x.shape[:2]
    plt = _plt()
    fig, axes = plt.subplots(n, a, figsize=(1.1 * a + 0.6, 1.1 * n + 0.3), squeeze=False)
    for i in range(n):
        for j in range(a):
            img = to_uint8(x[j, i])
            ax = axes[i, j]
            ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray", vmin=0, vmax=255)
            ax.set_xticks([]), ax.set_yticks([])
            if i == 0 and alphas is not None:
                ax.set_title(f"{float(alphas[j]):+.3g}", fontsize=8)
            if j == 0 and row_labels is not None:
                ax.set_ylabel(str(row_labels[i]), fontsize=8)
    fig.tight_layout(pad=0.2)
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_score_vs_alpha(alphas, scores, path, *, target_slope: float | None = 1.0,
                        label: str = "assessor score", title: str = "") -> Path:
    """Mean ± sd of ``scores [A, N]`` against alpha, with the target line through alpha = 0."""
    alphas, scores = np.asarray(alphas), np.asarray(scores)
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4, 3))
    m, s = scores.mean(axis=1), scores.std(axis=1)
    ax.plot(alphas, m, "o-", label="achieved")
    ax.fill_between(alphas, m - s, m + s, alpha=0.2)
    if target_slope is not None:
        zero = np.flatnonzero(np.isclose(alphas, 0))
        base = m[zero[0]] if zero.size else m.mean()
        ax.plot(alphas, base + target_slope * alphas, "k--", label=f"target (slope {target_slope:g})")
    ax.set_xlabel("alpha"), ax.set_ylabel(label), ax.legend(fontsize=8)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_steerability(natural, achieved, target, names, path, units=None) -> Path:
    """One panel per direction: statistic of the walked images vs of the edited ones.

    Args:
      natural: ``[K, A]`` steps in the edit's units; achieved, target: ``[K, A, N]``.
      names: K edit names; units: K unit labels.
    """
    natural, achieved, target = map(np.asarray, (natural, achieved, target))
    k = len(names)
    plt = _plt()
    fig, axes = plt.subplots(1, k, figsize=(3.2 * k, 2.9), squeeze=False)
    for i in range(k):
        ax = axes[0, i]
        for arr, lab, st, col in ((target[i], "edit (target)", "--", "k"),
                                  (achieved[i], "walk (G)", "o-", "C0")):
            m, s = arr.mean(axis=1), arr.std(axis=1)
            ax.plot(natural[i], m, st, color=col, label=lab)
            ax.fill_between(natural[i], m - s, m + s, color=col, alpha=0.12)
        ax.set_title(names[i], fontsize=9)
        ax.set_xlabel(units[i] if units else "alpha")
        ax.legend(fontsize=7)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_curves(curves, names, path, ylabel: str = "loss") -> Path:
    """Training curves ``[K, steps]`` (one line per direction)."""
    curves = np.asarray(curves)
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4, 3))
    for c, n in zip(curves, names):
        ax.plot(c, label=str(n))
    ax.set_xlabel("step"), ax.set_ylabel(ylabel), ax.set_yscale("log"), ax.legend(fontsize=7)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_bars(values, names, path, ylabel: str) -> Path:
    """Bar chart (explained variance, eigenvalues)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(max(3, 0.35 * len(names) + 1), 3))
    ax.bar(range(len(names)), np.asarray(values))
    ax.set_xticks(range(len(names)), [str(n) for n in names], rotation=90, fontsize=7)
    ax.set_ylabel(ylabel)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
