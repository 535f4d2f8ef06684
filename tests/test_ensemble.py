"""Ensembling with generative views: perturbation statistics, batched views vs a per-image
loop, alpha selection, bootstrap intervals (tiny random generator, 16 px)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxgan
from jaxgan.ensemble import (JitterSpec, PerturbSpec, accuracy_curve, alpha_grid, bootstrap_ci,
                             ensemble_probs, evaluate_method, gan_views, jitter_views,
                             layer_ranges, make_view_probs, make_views, params_for, parse_spec,
                             pca_basis, perturb_batch, select_alpha)
from jaxgan.nets.classifier import classifier_probs, init_classifier
from jaxgan.nets.configs import ClassifierConfig


@pytest.fixture(scope="module")
def gen():
    cfg = jaxgan.GeneratorConfig(img_resolution=16, z_dim=16, w_dim=16, mapping_layers=2,
                                 channel_base=128, channel_max=16)
    G, g = jaxgan.init_generator(cfg, jax.random.key(0))
    ws = jaxgan.mapping(G, g, jax.random.normal(jax.random.key(1), (3, 16)))   # [3, 6, 16]
    return G, g, ws


# ----------------------------------------------------------------------------- layer ranges

def test_layer_ranges_scale_paper_ranges():
    assert layer_ranges(14) == {"coarse": (0, 4), "fine": (10, 14), "all": (0, 14)}  # paper, 256²
    assert layer_ranges(8)["coarse"] == (0, 2) and layer_ranges(8)["fine"] == (6, 8)   # 32²
    assert layer_ranges(18)["coarse"] == (0, 5) and layer_ranges(18)["fine"] == (13, 18)
    for n in range(2, 30):
        r = layer_ranges(n)
        (c0, c1), (f0, f1) = r["coarse"], r["fine"]
        assert c0 == 0 and f1 == n and 1 <= c1 <= f0 <= n - 1       # both non-empty, disjoint
        # the same fraction of layers as the paper's split, up to rounding
        assert abs(c1 / n - 4 / 14) <= 0.5 / n + 1e-9 or c1 == 1
        assert abs(f0 / n - 10 / 14) <= 0.5 / n + 1e-9 or f0 == n - 1
    with pytest.raises(ValueError, match="num_ws"):
        layer_ranges(1)


def test_parse_spec_and_bad_input():
    assert parse_spec("isotropic:fine:0.2") == PerturbSpec("isotropic", "fine", 0.2)
    assert parse_spec("pca:all:2:10") == PerturbSpec("pca", "all", 2.0, top_k=10)
    assert parse_spec("stylemix:coarse").name == "stylemix_coarse"
    for bad in ("gauss:fine:0.1", "isotropic:middle:0.1", "isotropic:fine", "pca:all:-1"):
        with pytest.raises(ValueError):
            parse_spec(bad)


# ----------------------------------------------------------------------------- perturbations

def test_isotropic_std_and_layers(gen):
    G, g, ws = gen
    sigma = 0.3
    out = perturb_batch(G, g, ws, jax.random.key(2), PerturbSpec("isotropic", "fine", sigma),
                        512)                                              # [3, 512, 6, 16]
    d = np.asarray(out - ws[:, None])
    lo, hi = layer_ranges(G.cfg.num_ws)["fine"]
    noise = d[:, :, lo:hi].ravel()
    # empirical std of 3*512*2*16 = 49152 draws: within 2% of sigma (se ~0.3%)
    assert abs(noise.std() - sigma) < 0.02 * sigma and abs(noise.mean()) < 0.01
    assert np.all(d[:, :, :lo] == 0) and np.all(d[:, :, hi:] == 0)
    # views of one image differ from each other
    assert np.abs(d[0, 0] - d[0, 1]).max() > 0


def test_pca_basis_matches_sklearn(gen):
    from sklearn.decomposition import PCA
    G, g, _ = gen
    key = jax.random.key(5)
    basis = pca_basis(G, g, key, num_samples=2000, top_k=5)
    w = np.asarray(jaxgan.mapping(G, g, jax.random.normal(key, (2000, G.cfg.z_dim)))[:, 0],
                   np.float64)
    ref = PCA(n_components=5).fit(w)
    c = np.asarray(basis.components, np.float64)
    np.testing.assert_allclose(c @ c.T, np.eye(5), atol=1e-4)                  # orthonormal
    np.testing.assert_allclose(np.abs(np.sum(c * ref.components_, 1)), 1.0, atol=1e-3)
    np.testing.assert_allclose(np.asarray(basis.stds) ** 2, ref.explained_variance_, rtol=1e-3)
    np.testing.assert_allclose(basis.mean, ref.mean_, atol=1e-4)


def test_pca_perturbation_moves_along_one_component(gen):
    G, g, ws = gen
    basis = pca_basis(G, g, jax.random.key(5), num_samples=2000, top_k=5)
    beta = 2.0
    out = perturb_batch(G, g, ws, jax.random.key(3), PerturbSpec("pca", "coarse", beta, top_k=5),
                        64, basis)
    d = np.asarray(out - ws[:, None])                                     # [3, 64, 6, 16]
    c0, c1 = layer_ranges(G.cfg.num_ws)["coarse"]
    assert np.all(d[:, :, c1:] == 0)
    steps = d[:, :, c0:c1]                                                # same on every layer
    np.testing.assert_allclose(steps, np.broadcast_to(steps[:, :, :1], steps.shape), atol=1e-6)
    coef = steps[:, :, 0] @ np.asarray(basis.components).T                # [3, 64, 5]
    d_idx = np.argmax(np.abs(coef), -1)
    # exactly one component, moved by +-beta * its std
    expect = beta * np.asarray(basis.stds)[d_idx]
    np.testing.assert_allclose(np.abs(np.take_along_axis(coef, d_idx[..., None], -1)[..., 0]),
                               expect, rtol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(steps[:, :, 0], axis=-1), expect, rtol=1e-4)
    assert set(np.unique(d_idx)) == set(range(5))                        # all top-k drawn
    assert np.any(np.take_along_axis(coef, d_idx[..., None], -1) < 0)     # both signs
    assert np.any(np.take_along_axis(coef, d_idx[..., None], -1) > 0)
    with pytest.raises(ValueError, match="PCABasis"):
        perturb_batch(G, g, ws, jax.random.key(3), PerturbSpec("pca", "all", 1.0, top_k=20), 2,
                      basis)


def test_stylemix_changes_exactly_the_chosen_layers(gen):
    G, g, ws = gen
    for layers in ("coarse", "fine"):
        out = perturb_batch(G, g, ws, jax.random.key(4), PerturbSpec("stylemix", layers), 8)
        lo, hi = layer_ranges(G.cfg.num_ws)[layers]
        sel = np.zeros(G.cfg.num_ws, bool)
        sel[lo:hi] = True
        o, w = np.asarray(out), np.asarray(ws)[:, None]
        assert np.all(o[:, :, ~sel] == np.broadcast_to(w, o.shape)[:, :, ~sel])
        assert np.all(np.abs(o[:, :, sel] - np.broadcast_to(w, o.shape)[:, :, sel]).max(-1) > 0)
        # the mixed layers hold one mapped random w_r (the mapping's w is the same per layer)
        np.testing.assert_allclose(o[:, :, sel], np.broadcast_to(o[:, :, lo:lo + 1],
                                                                 o[:, :, sel].shape))
        w_dists = np.linalg.norm(o[:, :, lo] - o[:, :1, lo], axis=-1)[:, 1:]
        assert np.all(w_dists > 0)                                        # a fresh w_r per view


# ----------------------------------------------------------------------------- batched views

def test_batched_view_probs_equal_per_image_loop(gen):
    G, g, ws = gen
    ccfg = ClassifierConfig(img_resolution=16, num_classes=3, widths=(8,))
    C, cv = init_classifier(ccfg, jax.random.key(7))
    basis = pca_basis(G, g, jax.random.key(5), num_samples=500, top_k=4)
    fn = make_view_probs(G, (C,), "gan", 4, chunk=2)          # N=3 with chunk 2: padding
    key, idx = jax.random.key(9), jnp.array([10, 11, 12])
    for spec in (PerturbSpec("isotropic", "all", 0.3), PerturbSpec("pca", "fine", 3.0, top_k=4),
                 PerturbSpec("stylemix", "coarse")):     # one compiled program for all three
        (probs,) = fn(g, (cv,), ws, key, idx, params_for(spec, G.cfg.num_ws), basis)
        assert probs.shape == (3, 4, 3)
        for i in range(3):                                # eager, one image at a time
            v = gan_views(G, g, ws[i:i + 1], key, spec, 4, basis, idx[i:i + 1])[0]
            np.testing.assert_allclose(probs[i], classifier_probs(C, cv, v), atol=2e-5)
    # views really differ from the reconstruction
    v = gan_views(G, g, ws[:1], key, PerturbSpec("isotropic", "all", 0.3), 4, None, idx[:1])
    assert float(jnp.abs(v[0] - jaxgan.synthesize(G, g, ws[:1])).max()) > 1e-3


def test_jitter_views_equal_per_image_loop_and_stay_in_range():
    x = jax.random.uniform(jax.random.key(0), (3, 16, 16, 3), minval=-1, maxval=1)
    fn = make_views(None, "jitter", 5, chunk=2, max_shift=2)
    key, idx = jax.random.key(1), jnp.arange(3)
    for spec in (JitterSpec(), JitterSpec(crop=False), JitterSpec(color=False, shift=2)):
        v = fn(None, x, key, idx, params_for(spec), None)
        assert v.shape == (3, 5, 16, 16, 3) and float(jnp.abs(v).max()) <= 1.0
        for i in range(3):
            np.testing.assert_allclose(v[i], jitter_views(x[i:i + 1], key, spec, 5,
                                                          idx[i:i + 1])[0], atol=1e-6)
    # crop only: every view is an integer translation of the edge-padded image
    v = np.asarray(fn(None, x, key, idx, params_for(JitterSpec(color=False, shift=2)), None))
    p = np.pad(np.asarray(x), ((0, 0), (2, 2), (2, 2), (0, 0)), mode="edge")
    for i in range(3):
        for k in range(5):
            assert any(np.array_equal(v[i, k], p[i, a:a + 16, b:b + 16])
                       for a in range(5) for b in range(5))
    with pytest.raises(ValueError):
        JitterSpec(color=False, crop=False)


# ----------------------------------------------------------------------------- combination

def _probs(rng, n, c, k=None):
    shape = (n, c) if k is None else (n, k, c)
    e = rng.gamma(1.0, size=shape)
    return e / e.sum(-1, keepdims=True)


def test_alpha_selection_is_argmax_of_direct_loop():
    rng = np.random.default_rng(0)
    for trial in range(5):
        p, v, y = _probs(rng, 150, 3), _probs(rng, 150, 3, 8), rng.integers(0, 3, 150)
        alphas = alpha_grid()
        assert len(alphas) == 21 and alphas[0] == 0 and alphas[-1] == 1
        direct = []
        for a in alphas:                          # independent loop over examples
            correct = 0
            for i in range(150):
                q = (1 - a) * p[i] + a * v[i].mean(0)
                correct += int(np.argmax(q) == y[i])
            direct.append(correct / 150)
        best, acc = select_alpha(p, v, y)
        np.testing.assert_allclose(acc, direct)
        assert best == alphas[int(np.argmax(direct))]
        assert acc[alphas.tolist().index(best)] == max(direct)


def test_alpha_zero_is_classifier_alone_and_ties_pick_smallest():
    rng = np.random.default_rng(1)
    p, v, y = _probs(rng, 80, 4), _probs(rng, 80, 4, 5), rng.integers(0, 4, 80)
    np.testing.assert_array_equal(ensemble_probs(p, v, 0.0), p)
    curve = accuracy_curve(p, v, y)
    assert curve[0] == np.mean(np.argmax(p, -1) == y)
    assert curve[-1] == np.mean(np.argmax(v.mean(1), -1) == y)
    # identical views: every alpha ties -> the smallest (classifier alone)
    best, acc = select_alpha(p, p[:, None], y)
    assert best == 0.0 and np.all(acc == acc[0])
    r = evaluate_method(p, v, y, p, v, y, num_boot=200, seed=0)
    assert r["test_curve"][0] == curve[0] and r["alpha"] == select_alpha(p, v, y)[0]
    with pytest.raises(ValueError, match="alpha"):
        ensemble_probs(p, v, 1.5)
    with pytest.raises(ValueError, match="NaN"):
        select_alpha(np.full_like(p, np.nan), v, y)


def test_bootstrap_ci_contains_estimate_and_shrinks():
    rng = np.random.default_rng(2)
    widths = []
    for n in (100, 1600):
        correct = rng.random(n) < 0.8
        est, lo, hi = bootstrap_ci(correct, num_boot=4000, seed=3)
        assert est == correct.mean() and lo < est < hi
        widths.append(hi - lo)
        # close to the normal approximation 2 * 1.96 * sqrt(p (1 - p) / n)
        normal = 2 * 1.96 * np.sqrt(est * (1 - est) / n)
        assert 0.8 * normal < hi - lo < 1.2 * normal
    assert 2.5 < widths[0] / widths[1] < 6                # ~ sqrt(16) = 4
    # seeded: same seed, same interval
    c = rng.random(200) < 0.5
    assert bootstrap_ci(c, 500, seed=7) == bootstrap_ci(c, 500, seed=7)
    # paired gain interval of identical predictions is exactly 0
    assert bootstrap_ci(c, 500, seed=7, baseline=c) == (0.0, 0.0, 0.0)
