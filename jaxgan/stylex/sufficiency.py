"""Sufficiency curves (the StylEx paper's measure), bootstrap intervals and the baselines.

Sufficiency at ``k``: the fraction of images whose classifier decision flips when their
class-specific top-``k`` attributes (toward another class, the official shift) are applied
together. The paper's claim is comparative: the attributes AttFind finds in a StylEx
generator's StyleSpace are more sufficient than those found the same way in a vanilla
StyleGAN2's StyleSpace (Wu et al.'s StyleSpace method) and than random style coordinates.

* :func:`flipped_by_k` — the ``[len(ks), N]`` flip matrix of ranked attributes;
* :func:`flipped_by_k_random` — the same for random coordinates (a fresh random ordering per
  image, nested across ``k``, directions random);
* :func:`bootstrap_ci` / :func:`bootstrap_diff_ci` — percentile bootstrap over images of a
  rate and of the difference of two rates (independent image sets);
* :func:`curve` — per ``k`` the overall and per-class rates with their intervals.

Everything renders through an :class:`~jaxgan.stylex.attfind.AttFindModel`'s ``render`` and
``classify`` (pure, jitted once per call) in blocks of rows on a data mesh (``mesh=``, default
one device; :func:`jaxgan.sharding.map_rows`).
"""
from __future__ import annotations

from typing import Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan.ensemble import combine
from jaxgan.stylex.attfind import apply_attributes
from jaxgan.stylex.metrics import batched

#: ``k`` values of the paper's sufficiency plots.
KS = tuple(range(1, 11))


def _predict_fn(render: Callable, classify: Callable):
    return jax.jit(lambda s: jnp.argmax(classify(render(s)), -1))


def flipped_by_k(render: Callable, classify: Callable, flat_styles, labels,
                 ranking: Mapping, smin, smax, shift: float, ks: Sequence[int] = KS,
                 batch: int = 250, mesh=None) -> np.ndarray:
    """Which images flip under their top-``k`` attributes, for every ``k``.

    An image of class ``y`` gets ``ranking[t][:k]`` of each other class ``t`` (two classes:
    ``t = 1 - y``); it counts as flipped when the predicted class is no longer ``y`` for any
    ``t`` (as :func:`jaxgan.stylex.metrics.flip_rate`, which this reproduces at one ``k``).

    Args:
      render: ``flat styles [B, S] -> images``; classify: ``images -> logits [B, K]``.
      flat_styles: ``[N, S]``; labels: ``[N]`` classes of the regenerated images.
      ranking: ``{class: [(direction, coordinate, ...), ...]}`` (AttFind's, at least
        ``max(ks)`` long per class for a full curve; shorter lists use what they have).
      smin, smax, shift: as AttFind.
      ks: the ``k`` values.
      batch, mesh: rows per block and the data mesh the blocks run on (default one device).

    Returns:
      ``[len(ks), N]`` bool.
    """
    labels = np.asarray(labels)
    fn = _predict_fn(render, classify)
    out = np.zeros((len(ks), len(labels)), bool)
    for y in np.unique(labels):
        idx = np.nonzero(labels == y)[0]
        for t in sorted(ranking):
            if t == y:
                continue
            for i, k in enumerate(ks):
                changed = apply_attributes(flat_styles[idx], ranking[t][:k], smin, smax, shift)
                out[i, idx] |= batched(fn, np.asarray(changed), batch, mesh) != y
    return out


def random_attributes(key, n: int, size: int, kmax: int):
    """Random attributes per image: ``kmax`` distinct coordinates (a random ordering, so the
    top-``k`` sets are nested) and random directions.

    Args:
      key: PRNG key; image ``i`` uses ``fold_in(key, i)``.
      n: images; size: StyleSpace size ``S``; kmax: attributes per image.

    Returns:
      ``(directions [n, kmax] int32 in {0, 1}, coordinates [n, kmax] int32)``.
    """
    def one(i):
        kc, kd = jax.random.split(jax.random.fold_in(key, i))
        coords = jax.random.permutation(kc, size)[:kmax]
        dirs = jax.random.bernoulli(kd, 0.5, (kmax,)).astype(jnp.int32)
        return dirs, coords.astype(jnp.int32)
    d, c = jax.vmap(one)(jnp.arange(n))
    return np.asarray(d), np.asarray(c)


def apply_per_image(flat_styles, directions, coordinates, smin, smax, shift: float):
    """Each row's own attributes applied together (the random baseline's edit).

    Args:
      flat_styles: ``[N, S]``; directions, coordinates: ``[N, k]`` (0 = toward ``smin``).

    Returns:
      ``[N, S]``: ``s_j + shift * (target_j - s_j)`` at each row's coordinates, as
      :func:`~jaxgan.stylex.attfind.apply_attributes`.
    """
    flat = jnp.asarray(flat_styles)
    smin, smax = jnp.asarray(smin), jnp.asarray(smax)
    rows = jnp.arange(flat.shape[0])[:, None]                              # [N, 1]
    c = jnp.asarray(coordinates)                                           # [N, k]
    target = jnp.where(jnp.asarray(directions) == 1, smax[c], smin[c])     # [N, k]
    return flat.at[rows, c].add(shift * (target - flat[rows, c]))


def flipped_by_k_random(render: Callable, classify: Callable, flat_styles, labels, key,
                        smin, smax, shift: float, ks: Sequence[int] = KS,
                        batch: int = 250, mesh=None) -> np.ndarray:
    """:func:`flipped_by_k` with random style coordinates instead of AttFind's (per image,
    :func:`random_attributes`).

    Returns:
      ``[len(ks), N]`` bool.
    """
    labels = np.asarray(labels)
    d, c = random_attributes(key, len(labels), np.shape(flat_styles)[1], max(ks))
    fn = _predict_fn(render, classify)
    out = np.zeros((len(ks), len(labels)), bool)
    for i, k in enumerate(ks):
        changed = np.asarray(apply_per_image(flat_styles, d[:, :k], c[:, :k], smin, smax, shift))
        out[i] = batched(fn, changed, batch, mesh) != labels
    return out


def bootstrap_ci(x, seed: int = 0, n_boot: int = 4000, level: float = 0.95):
    """Percentile bootstrap interval of the mean of ``x`` over its rows
    (:func:`jaxgan.ensemble.combine.bootstrap_ci`), NaN for an empty ``x``.

    Returns:
      ``(mean, low, high)``.
    """
    if np.size(x) == 0:
        return float("nan"), float("nan"), float("nan")
    return combine.bootstrap_ci(np.ravel(x), n_boot, seed, level)


def bootstrap_diff_ci(a, b, seed: int = 0, n_boot: int = 4000, level: float = 0.95):
    """Percentile bootstrap interval of ``mean(a) - mean(b)``, resampling each independently
    (two methods measured on their own image sets).

    Returns:
      ``(difference, low, high)``.
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    rng = np.random.default_rng(seed)
    da = a[rng.integers(0, len(a), (n_boot, len(a)))].mean(axis=1)
    db = b[rng.integers(0, len(b), (n_boot, len(b)))].mean(axis=1)
    d = da - db
    q = (1.0 - level) / 2.0
    return (float(a.mean() - b.mean()), float(np.quantile(d, q)), float(np.quantile(d, 1.0 - q)))


def curve(flipped, labels, ks: Sequence[int] = KS, class_names: Sequence[str] = (),
          seed: int = 0) -> dict:
    """The sufficiency curve with 95% bootstrap intervals, overall and per class.

    Args:
      flipped: ``[len(ks), N]`` bool (:func:`flipped_by_k` or :func:`flipped_by_k_random`).
      labels: ``[N]`` classes; class_names: their names (default ``class<i>``).

    Returns:
      JSON-able ``{'k': [...], 'n': N, 'overall': [{'rate', 'low', 'high'}, ...],
      'per_class': {name: [...]}}``.
    """
    flipped, labels = np.asarray(flipped), np.asarray(labels)

    def name(c):
        return class_names[c] if c < len(class_names) else f"class{c}"

    def row(x):
        m, lo, hi = bootstrap_ci(x, seed)
        return {"rate": m, "low": lo, "high": hi}
    return {"k": [int(k) for k in ks], "n": int(len(labels)),
            "overall": [row(f) for f in flipped],
            "per_class": {name(int(c)): [row(f[labels == c]) for f in flipped]
                          for c in np.unique(labels)}}


def save_plot(path, curves: Mapping[str, dict], title: str = "sufficiency") -> None:
    """Sufficiency curves (overall rate against ``k``, 95% bands) of several methods in one
    PNG (matplotlib, Agg backend)."""
    import matplotlib  # noqa: PLC0415 - heavy optional import, only when a plot is written
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, ax = plt.subplots(figsize=(5.0, 3.6), dpi=120)
    for label, c in curves.items():
        k = c["k"]
        rate = [r["rate"] for r in c["overall"]]
        ax.plot(k, rate, marker="o", ms=3, label=f"{label} (n={c['n']})")
        ax.fill_between(k, [r["low"] for r in c["overall"]], [r["high"] for r in c["overall"]],
                        alpha=0.2)
    ax.set_xlabel("k (top-k attributes applied together)")
    ax.set_ylabel("fraction of decisions flipped")
    ax.set_ylim(0.0, 1.0)
    ax.set_xticks(list(next(iter(curves.values()))["k"]) if curves else [])
    ax.grid(alpha=0.3)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
