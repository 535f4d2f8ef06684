"""Metric maths against independent references: scipy sqrtm (FD), numpy mean/cov (streaming
stats), a direct double-sum MMD (KID), sklearn nearest neighbours (precision/recall)."""
from __future__ import annotations

import jax
import numpy as np
import pytest
import scipy.linalg
from sklearn.neighbors import NearestNeighbors

from jaxgan.metrics.frechet import frechet_distance
from jaxgan.metrics.kid import kernel_distance, kid_subset_indices
from jaxgan.metrics.precision_recall import precision_recall
from jaxgan.metrics.stats import FeatureStats, cached_stats


def _random_stats(rng, d, n):
    x = rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) + rng.normal(size=d)
    return x.mean(0), np.atleast_2d(np.cov(x, rowvar=False))


def test_frechet_matches_scipy_sqrtm():
    rng = np.random.default_rng(0)
    for d in (1, 5, 32):
        mu1, s1 = _random_stats(rng, d, 200)
        mu2, s2 = _random_stats(rng, d, 300)
        covmean = scipy.linalg.sqrtm(s1 @ s2)
        ref = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * np.real(covmean))
        assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(ref, rel=1e-6, abs=1e-8)
    # identical Gaussians: zero; analytic case: 1-D N(0, a) vs N(m, b) -> m² + (√a - √b)²
    assert frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0.0, abs=1e-6 * np.trace(s1))
    assert frechet_distance([0.0], [[4.0]], [3.0], [[1.0]]) == pytest.approx(9 + 1)


def test_frechet_errors():
    with pytest.raises(ValueError, match="covariance"):
        frechet_distance(np.zeros(3), np.eye(2), np.zeros(3), np.eye(3))
    with pytest.raises(ValueError, match="dims differ"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(2), np.eye(2))
    with pytest.raises(ValueError, match="NaN"):
        frechet_distance(np.array([np.nan, 0]), np.eye(2), np.zeros(2), np.eye(2))


def test_streaming_stats_match_numpy(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(1003, 7)) * rng.uniform(0.1, 5, 7) + 100.0     # big offset: stability
    st = FeatureStats(capture_all=True)
    for s in range(0, len(x), 64):
        st.append(x[s:s + 64])
    mu, cov = st.mean_cov()
    np.testing.assert_allclose(mu, x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(cov, np.cov(x, rowvar=False, ddof=0), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(st.mean_cov(ddof=1)[1], np.cov(x, rowvar=False), rtol=1e-9)
    np.testing.assert_allclose(st.features(), x.astype(np.float32))
    # merging two halves (another process) == one pass
    a, b = FeatureStats(), FeatureStats()
    a.append(x[:500])
    b.append(x[500:])
    np.testing.assert_allclose(a.merge(b).mean_cov()[1], cov, rtol=1e-9)
    # max_items and the disk round trip
    lim = FeatureStats(max_items=100)
    lim.append(x[:64])
    lim.append(x[64:200])
    assert lim.n == 100 and lim.is_full()
    np.testing.assert_allclose(lim.mean_cov()[0], x[:100].mean(0))
    st2 = FeatureStats.load(st.save(tmp_path / "s.npz"))
    np.testing.assert_allclose(st2.mean_cov()[1], cov)
    with pytest.raises(ValueError, match="NaN"):
        FeatureStats().append(np.full((2, 7), np.nan))


def test_stats_cache(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        st = FeatureStats()
        st.append(np.arange(12.0).reshape(4, 3))
        return st

    key = dict(dataset="shapes_32", features="classifier", n=4)
    a = cached_stats(tmp_path, key, compute)
    b = cached_stats(tmp_path, key, compute)
    assert len(calls) == 1 and np.allclose(a.mean_cov()[1], b.mean_cov()[1])
    cached_stats(tmp_path, {**key, "n": 5}, compute)           # a different key recomputes
    assert len(calls) == 2


def _mmd_direct(x, y):
    """Unbiased MMD² from its definition (double loops over kernel values)."""
    d = x.shape[1]
    k = lambda a, b: (a @ b / d + 1) ** 3  # noqa: E731
    m = len(x)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return xx + yy - 2 * xy


def test_kid_matches_direct_mmd():
    rng = np.random.default_rng(2)
    g = rng.normal(size=(30, 4))
    r = rng.normal(size=(25, 4)) + 0.5
    key = jax.random.key(7)
    kid = kernel_distance(g, r, key, num_subsets=5, max_subset_size=20)
    subs = kid_subset_indices(key, 30, 25, 20, 5)
    ref = np.mean([_mmd_direct(g[gi], r[ri]) for gi, ri in subs])
    assert kid == pytest.approx(ref, rel=1e-9)
    assert all(len(set(gi)) == 20 for gi, _ in subs)           # without replacement
    # full-size subsets: any permutation gives the same MMD
    full = kernel_distance(g[:25], r, key, num_subsets=2, max_subset_size=1000)
    assert full == pytest.approx(_mmd_direct(g[:25], r), rel=1e-9)
    # same distribution: unbiased estimate near 0; shifted: clearly positive and growing
    a, b = rng.normal(size=(400, 8)), rng.normal(size=(400, 8))
    same = kernel_distance(a, b, key, num_subsets=10, max_subset_size=200)
    shifts = [kernel_distance(a, b + s, key, num_subsets=10, max_subset_size=200) for s in (0.5, 1.0)]
    assert abs(same) < 0.2 * shifts[0] and shifts[0] < shifts[1]


def _pr_reference(real, gen, k=3):
    def radii(x):
        return NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x)[0][:, -1]

    def coverage(manifold, probes):
        r = radii(manifold)
        d = np.linalg.norm(probes[:, None] - manifold[None], axis=-1)
        return float(np.mean(np.any(d <= r[None], axis=1)))
    return coverage(real, gen), coverage(gen, real)


def test_precision_recall_matches_sklearn_and_self_is_one():
    rng = np.random.default_rng(3)
    real = rng.normal(size=(300, 6)).astype(np.float32)
    gen = (rng.normal(size=(250, 6)) * 0.6 + 0.8).astype(np.float32)   # narrower, shifted
    p, r = precision_recall(real, gen, row_batch_size=128)
    rp, rr = _pr_reference(real, gen)
    assert abs(p - rp) <= 1 / 250 and abs(r - rr) <= 1 / 300    # at most one boundary tie
    assert 0.05 < r < p < 1.0                                   # narrow gen: precise, low recall
    p1, r1 = precision_recall(real, real, row_batch_size=128)
    assert p1 == 1.0 and r1 == 1.0
