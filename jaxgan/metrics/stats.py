"""Streaming feature statistics (running mean / covariance) and their on-disk cache.

Features arrive in batches (from a jitted extractor); the host keeps float64 sufficient
statistics merged with Chan et al.'s pairwise update, so 50k images never sit in memory:
``n``, ``mean [D]`` and ``m2 [D, D] = sum (x - mean)(x - mean)^T``. Optionally the features
themselves are kept too (KID and precision/recall need them), up to ``max_items``.

The covariance uses ``ddof=0`` by default, as the official stylegan2-ada
``metric_utils.FeatureStats`` (``raw_cov / n - mean mean^T``); ``ddof=1`` gives
``np.cov``'s (pytorch-fid's) convention.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Callable

import numpy as np


class FeatureStats:
    """Accumulator of feature statistics (host side, float64).

    Args:
      capture_mean_cov: keep the running mean/covariance.
      capture_all: also keep the features (float32), for KID / precision-recall.
      max_items: stop accepting features after this many (``None``: no limit).
    """

    def __init__(self, capture_mean_cov: bool = True, capture_all: bool = False,
                 max_items: int | None = None):
        self.capture_mean_cov, self.capture_all, self.max_items = capture_mean_cov, capture_all, max_items
        self.n = 0
        self.dim: int | None = None
        self.mean: np.ndarray | None = None
        self.m2: np.ndarray | None = None
        self._all: list[np.ndarray] = []

    def is_full(self) -> bool:
        """Whether ``max_items`` features have been seen."""
        return self.max_items is not None and self.n >= self.max_items

    def append(self, feats) -> None:
        """Add a batch ``[B, D]`` of features (the part beyond ``max_items`` is dropped).

        Raises:
          ValueError: not 2-D, a dimension change, or NaN/Inf features.
        """
        x = np.asarray(feats, np.float64)
        if x.ndim != 2:
            raise ValueError(f"FeatureStats.append expects [B, D] features, got shape {x.shape}")
        if self.dim is None:
            self.dim = x.shape[1]
        elif x.shape[1] != self.dim:
            raise ValueError(f"FeatureStats: feature dim changed from {self.dim} to {x.shape[1]}")
        if self.max_items is not None:
            x = x[:max(self.max_items - self.n, 0)]
        if len(x) == 0:
            return
        if not np.all(np.isfinite(x)):
            raise ValueError("FeatureStats: features contain NaN/Inf")
        if self.capture_all:
            self._all.append(x.astype(np.float32))
        if self.capture_mean_cov:
            self._merge(len(x), x.mean(0), _centered_m2(x))
        self.n += len(x)

    def _merge(self, nb: int, mb: np.ndarray, m2b: np.ndarray) -> None:
        if self.mean is None:
            self.mean, self.m2 = mb, m2b
            return
        na = self.n
        n = na + nb
        delta = mb - self.mean
        self.mean = self.mean + delta * (nb / n)
        self.m2 = self.m2 + m2b + np.outer(delta, delta) * (na * nb / n)

    def merge(self, other: "FeatureStats") -> "FeatureStats":
        """Fold another accumulator (e.g. from another process) into this one; returns self."""
        if other.n == 0:
            return self
        if self.dim is not None and other.dim != self.dim:
            raise ValueError(f"FeatureStats.merge: dims differ ({self.dim} vs {other.dim})")
        self.dim = other.dim
        if self.capture_mean_cov:
            if other.mean is None:
                raise ValueError("FeatureStats.merge: the other accumulator has no mean/cov")
            self._merge(other.n, other.mean, other.m2)
        if self.capture_all:
            self._all.extend(other._all)
        self.n += other.n
        return self

    def mean_cov(self, ddof: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(mean [D], cov [D, D])`` in float64.

        Raises:
          ValueError: nothing captured, or too few items for ``ddof``.
        """
        if not self.capture_mean_cov or self.mean is None:
            raise ValueError("FeatureStats: no mean/covariance captured")
        if self.n <= ddof:
            raise ValueError(f"FeatureStats: {self.n} items are too few for ddof={ddof}")
        return self.mean.copy(), self.m2 / (self.n - ddof)

    def features(self) -> np.ndarray:
        """All captured features ``[n, D]`` (float32)."""
        if not self.capture_all:
            raise ValueError("FeatureStats: features were not captured (capture_all=False)")
        if not self._all:
            return np.zeros((0, self.dim or 0), np.float32)
        return np.concatenate(self._all)

    # -------------------------------------------------------------------------- disk

    def save(self, path) -> Path:
        """Write to ``path`` (``.npz``, atomically)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {"n": np.int64(self.n), "dim": np.int64(self.dim or 0)}
        if self.capture_mean_cov and self.mean is not None:
            arrays.update(mean=self.mean, m2=self.m2)
        if self.capture_all:
            arrays["features"] = self.features()
        tmp = path.with_name(path.name + f".tmp{os.getpid()}.npz")
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path) -> "FeatureStats":
        """Read a file written by :meth:`save`."""
        with np.load(Path(path)) as d:
            st = cls(capture_mean_cov="mean" in d, capture_all="features" in d)
            st.n, st.dim = int(d["n"]), int(d["dim"]) or None
            if "mean" in d:
                st.mean, st.m2 = d["mean"], d["m2"]
            if "features" in d:
                st._all = [d["features"]]
        return st


def _centered_m2(x: np.ndarray) -> np.ndarray:
    c = x - x.mean(0)
    return c.T @ c                                              # [D, D]


def cache_key(**parts) -> str:
    """Stable short hash of a JSON-able description (dataset config, feature net id, ...)."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cached_stats(cache_dir, key_parts: dict, compute: Callable[[], FeatureStats], *,
                 need_all: bool = False, min_items: int = 0) -> FeatureStats:
    """Load dataset statistics from ``cache_dir`` or compute and store them.

    The file name is ``<dataset>-<feature net>-<hash>.npz`` with the hash over every entry of
    ``key_parts`` (which should name the dataset config and the feature network, including
    a fingerprint of its weights).

    Args:
      cache_dir: directory of the cache (``None``: no caching).
      key_parts: JSON-able description; ``dataset`` and ``features`` entries name the file.
      compute: builds the statistics on a miss.
      need_all: the cached entry must hold the features themselves.
      min_items: the cached entry must hold at least this many items.

    Returns:
      The statistics.
    """
    if cache_dir is None:
        return compute()
    stem = "-".join(str(key_parts.get(k, "x")) for k in ("dataset", "features"))
    stem = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in stem)[:80]
    path = Path(cache_dir) / f"{stem}-{cache_key(**key_parts)}.npz"
    if path.is_file():
        st = FeatureStats.load(path)
        if st.n >= min_items and (st.capture_all or not need_all):
            return st
    st = compute()
    st.save(path)
    return st
