"""GAN Dissection: feature hooks, exact streaming quantiles, IoU, interventions, alpha
optimisation, artifact ranking and FD - each against an independent reference (NumPy,
analytic properties of the network, planted ground truth)."""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import model
from jaxgan.dissect import (ablate, alpha_loss, dissect, feature_names, frechet_distance, insert,
                            optimize_alpha, quantile_init, quantile_result, quantile_update,
                            rank_artifact_units, replace_units, sample_ws, synthesize_features)
from jaxgan.dissect.artifacts import unit_statistics
from jaxgan.dissect.stats import IoUAccumulator, iou_counts
from jaxgan.dissect.study import find_empty_region
from jaxgan.nets.configs import GeneratorConfig


@functools.lru_cache(maxsize=None)
def tiny_g(res=16):
    cfg = GeneratorConfig(img_resolution=res, z_dim=16, w_dim=16, channel_base=128,
                          channel_max=8, mapping_layers=2)
    G, g = model.init_generator(cfg, jax.random.key(3))
    # Fresh init leaves biases and noise strengths at zero (then G is positively homogeneous
    # in every feature map); perturb them as the official "perturbed" fixtures do.
    leaves, tree = jax.tree_util.tree_flatten_with_path(g["params"])
    keys = jax.random.split(jax.random.key(4), len(leaves))
    new = [v + 0.3 * jax.random.normal(k_, v.shape) if str(p[-1].key) in ("bias", "noise_strength")
           else v for (p, v), k_ in zip(leaves, keys)]
    return G, {**g, "params": jax.tree_util.tree_unflatten(tree, new)}


def synth_features(G, g, ws, layers=(), edits=None):
    """Jitted :func:`synthesize_features` (eager G is slow)."""
    return jax.jit(lambda w: synthesize_features(G, g, w, layers, edits, fused=False))(ws)


def _ws(G, g, n=4, seed=0):
    return sample_ws(G, g, jax.random.key(seed), jnp.arange(n))


# ----------------------------------------------------------------------------- hooks

def test_hooks_off_capture_and_identity_edits_match_plain_synthesis():
    G, g = tiny_g()
    assert feature_names(G) == ("b4.conv1", "b8.conv0", "b8.conv1", "b16.conv0", "b16.conv1")
    ws = _ws(G, g)
    ref = np.asarray(jax.jit(lambda w: model.synthesize(G, g, w, fused=False))(ws))
    img, f = synth_features(G, g, ws, ("b8.conv0", "b16.conv0"))
    np.testing.assert_array_equal(np.asarray(img), ref)
    assert f["b8.conv0"].shape == (4, 8, 8, 8) and f["b16.conv0"].shape == (4, 16, 16, 8)
    # Replace a map by the very values it had: identity.
    r = f["b8.conv0"]
    img2, _ = synth_features(G, g, ws, (), {"b8.conv0": lambda x: r})
    np.testing.assert_allclose(np.asarray(img2), ref, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="unknown layer"):
        synthesize_features(G, g, ws, ("b32.conv0",))
    with pytest.raises(ValueError, match="returned shape"):
        synth_features(G, g, ws, (), {"b8.conv1": lambda x: x[:, :4]})


def test_edit_acts_where_named_last_layer_is_affine_into_torgb():
    # The last conv's output r feeds only ToRGB (a 1x1 modulated conv without
    # demodulation) plus the upsampled skip image, so the image is affine in r:
    # x(2r) - x(0) = 2 (x(r) - x(0)); an edit at an earlier layer breaks this.
    G, g = tiny_g()
    ws = _ws(G, g)
    def scaled(layer):
        f = jax.jit(lambda s: synthesize_features(G, g, ws, (), {layer: lambda x: x * s})[0])
        return [np.asarray(f(s)) for s in (0.0, 1.0, 2.0)]
    x0, x1, x2 = scaled("b16.conv1")
    np.testing.assert_allclose(x2 - x0, 2 * (x1 - x0), atol=1e-4)
    assert np.abs(x1 - x0).max() > 1e-2
    e0, e1, e2 = scaled("b8.conv0")
    assert np.abs((e2 - e0) - 2 * (e1 - e0)).max() > 1e-2


# ----------------------------------------------------------------------------- stats

@pytest.mark.parametrize("n,q,bs", [(1000, 0.01, 64), (997, 0.05, 100), (10, 0.3, 3), (3, 0.5, 2)])
def test_streaming_quantile_equals_numpy(n, q, bs):
    rng = np.random.default_rng(n)
    x = rng.standard_normal((n, 5)).astype(np.float32) * rng.uniform(0.5, 3, 5)
    st = quantile_init(5, n, q)
    for s in range(0, n, bs):
        st = quantile_update(st, jnp.asarray(x[s:s + bs]))
    t, k = quantile_result(st, n, q)
    ref = np.quantile(x.astype(np.float64), 1 - q, axis=0)
    np.testing.assert_allclose(t, ref, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(k, [x[x[:, u] > ref[u], u].mean() for u in range(5)], rtol=1e-5)
    with pytest.raises(ValueError, match="expected n_total"):
        quantile_result(st, n + 1, q)


def test_iou_counts_match_numpy():
    rng = np.random.default_rng(0)
    acc = IoUAccumulator(6, 3)
    acts, masks = [], []
    t = rng.standard_normal(6).astype(np.float32)
    for _ in range(3):
        a = rng.standard_normal((4, 8, 8, 6)).astype(np.float32)
        m = rng.random((4, 8, 8, 3)) < [0.1, 0.5, 0.9]
        acc.add(iou_counts(jnp.asarray(a), jnp.asarray(t), jnp.asarray(m)))
        acts.append(a)
        masks.append(m)
    a, m = np.concatenate(acts) > t, np.concatenate(masks)
    ref = np.array([[(a[..., u] & m[..., c]).sum() / (a[..., u] | m[..., c]).sum()
                     for c in range(3)] for u in range(6)])
    np.testing.assert_allclose(acc.iou(), ref, rtol=1e-12)


def test_dissect_end_to_end_matches_direct_computation():
    # A planted "segmenter" (bright red pixels) and a direct NumPy re-computation of the
    # thresholds (numpy.quantile over upsampled maps) and of the IoU table.
    G, g = tiny_g()
    key = jax.random.key(7)
    seg = lambda x: {"red": x[..., 0] > 0.0, "dark": x.mean(-1) < 0.0}  # noqa: E731
    res = dissect(G, g, seg, ["b8.conv1"], num_samples=12, batch_size=5, key=key,
                  quantile=(0.05, 0.2), top_k=3, concepts=("red", "dark"),
                  progress=False)["b8.conv1"]
    ws = sample_ws(G, g, key, jnp.arange(12))
    img, f = synth_features(G, g, ws, ("b8.conv1",))
    up = np.asarray(jax.image.resize(f["b8.conv1"], (12, 16, 16, 8), "bilinear"), np.float64)
    img = np.asarray(img)
    m = np.stack([img[..., 0] > 0, img.mean(-1) < 0], -1)
    refs = []
    for qi, q in enumerate((0.05, 0.2)):
        t = np.quantile(up.reshape(-1, 8), 1 - q, axis=0)
        np.testing.assert_allclose(res.thresholds_q[qi], t, rtol=1e-5, atol=1e-5)
        a = up > t
        refs.append([[(a[..., u] & m[..., c]).sum() / (a[..., u] | m[..., c]).sum()
                      for c in range(2)] for u in range(8)])
        # rare pixels exactly at t may flip between float paths
        np.testing.assert_allclose(res.iou_q[qi], refs[-1], atol=2e-3)
    np.testing.assert_allclose(res.iou, np.max(refs, 0), atol=2e-3)
    np.testing.assert_array_equal(res.thresholds, res.thresholds_q[0])
    top = np.argsort(-np.asarray(f["b8.conv1"]).max((1, 2)), axis=0, kind="stable")[:3].T
    np.testing.assert_array_equal(np.sort(res.top_samples, 1), np.sort(top, 1))
    assert res.concepts == ("red", "dark")


# ----------------------------------------------------------------------------- interventions

def test_ablate_insert_replace_formulas():
    rng = np.random.default_rng(1)
    r = jnp.asarray(rng.standard_normal((2, 4, 4, 5)), jnp.float32)
    np.testing.assert_array_equal(ablate(r, [1, 3], alpha=0.0), r)
    np.testing.assert_array_equal(insert(r, [1, 3], jnp.ones(5), alpha=0.0), r)
    np.testing.assert_array_equal(replace_units(r, r, [0, 1, 2]), r)
    P = np.zeros((4, 4), bool)
    P[1:3, 2:] = True
    a = np.asarray(ablate(r, [1, 3], alpha=0.25, positions=P))
    want = np.asarray(r).copy()
    for u in (1, 3):
        want[:, P, u] *= 0.75
    np.testing.assert_allclose(a, want, rtol=1e-6)
    k = jnp.arange(5.0) + 10
    i = np.asarray(insert(r, [2], k, alpha=1.0, positions=P))
    want = np.asarray(r).copy()
    want[:, P, 2] = 12.0
    np.testing.assert_allclose(i, want, rtol=1e-6)
    al = jnp.asarray([0.0, 0.5, 0.0, 1.0, 0.2])           # per-unit alpha on all units
    np.testing.assert_allclose(ablate(r, jnp.ones(5), al), np.asarray(r) * (1 - np.asarray(al)),
                               rtol=1e-6)
    # A mask drawn at another resolution is area-resized: a full 8x8 mask is all ones.
    np.testing.assert_allclose(ablate(r, [0], positions=np.ones((8, 8))), ablate(r, [0]), atol=1e-6)
    with pytest.raises(ValueError, match="indices"):
        ablate(r, [7])
    with pytest.raises(ValueError, match="k must"):
        insert(r, [0], jnp.ones(3))


def test_find_empty_region_planted():
    free = np.zeros((16, 16), bool)
    free[2:9, 3:12] = True
    reg = find_empty_region(free, 4)
    assert reg.sum() == 16 and not (reg & ~free).any()
    assert find_empty_region(free, 8) is None
    reg = find_empty_region(free, 4, stride=4)      # corners on the 4-pixel grid
    ys, xs = np.nonzero(reg)
    assert ys.min() % 4 == 0 and xs.min() % 4 == 0 and not (reg & ~free).any()


def test_alpha_loss_gradient_and_optimisation_reduce_concept():
    # Planted soft concept: "bright" pixels. Ablating units of the last layer changes it;
    # the jitted alpha gradient matches central finite differences, and optimisation of
    # the ablation objective (on fresh latents) removes more of it on held-out latents
    # than the starting point alpha = 0.5, within the [0, 1] box.
    G, g = tiny_g(8)
    seg = lambda x: {"bright": jax.nn.sigmoid(8 * x.mean(-1))}  # noqa: E731
    layer = "b8.conv1"
    ws = _ws(G, g, 6, seed=1)
    k = jnp.full((8,), 1.0)
    f = jax.jit(lambda a: alpha_loss(a, G, g, ws, layer, seg, "bright", k, lam=0.0,
                                     objective="ablate")[0])
    a0 = jnp.full((8,), 0.5)
    grad = jax.grad(f)(a0)
    e = np.zeros(8, np.float32)
    e[2] = 1e-2
    fd = (f(a0 + e) - f(a0 - e)) / 2e-2
    np.testing.assert_allclose(grad[2], fd, rtol=5e-2, atol=1e-4)
    alpha, hist = optimize_alpha(G, g, layer, seg, "bright", k, steps=25, batch_size=6,
                                 learning_rate=0.1, lam=0.0, objective="ablate",
                                 key=jax.random.key(1), progress=False)
    assert alpha.min() >= 0 and alpha.max() <= 1
    base = float(f(jnp.zeros(8)))            # -(base - base) = 0 at alpha = 0
    assert abs(base) < 1e-6
    assert float(f(jnp.asarray(alpha))) < min(float(f(a0)), 0.0) - 1e-3
    assert hist["loss"].shape == (25,) and np.isfinite(hist["delta"]).all()


# ----------------------------------------------------------------------------- artifacts

def test_rank_artifact_units_vs_corrcoef_and_planted_unit():
    G, g = tiny_g()
    ws = _ws(G, g, 40, seed=2)
    _, means = jax.jit(lambda w: unit_statistics(G, g, "b16.conv0", w))(ws)
    means = np.asarray(means)
    bad = (means[:, 5] > np.median(means[:, 5])).astype(float)     # planted: unit 5 = bad
    order, corr = rank_artifact_units(means, bad)
    ref = [np.corrcoef(means[:, u], bad)[0, 1] for u in range(means.shape[1])]
    np.testing.assert_allclose(corr, ref, rtol=1e-10)
    assert order[0] == 5
    with pytest.raises(ValueError, match="NaN"):
        rank_artifact_units(np.full((3, 2), np.nan), [0, 1, 0])


def test_causal_artifact_ranking_and_heldout_fd_curve():
    """Causal ranking = each unit's ablation effect on realism, recomputed here unit by unit
    with a plain zeroing edit; FD before/after on the held-out latents equals FD of
    independently rendered held-out samples; one FD per requested k."""
    from jaxgan.dissect import artifact_study
    G, g = tiny_g()
    layer, n = "b8.conv0", 12
    realism = jax.jit(lambda x: jnp.mean(x, axis=(1, 2, 3)))       # "bright = real"
    feats = jax.jit(lambda x: jnp.stack([x.mean((1, 2, 3)), x.std((1, 2, 3)),
                                         x[..., 0].mean((1, 2))], -1))
    real = jax.random.uniform(jax.random.key(9), (20, 16, 16, 3), minval=-1, maxval=1)
    key = jax.random.key(7)
    out = artifact_study(G, g, layer, realism_fn=realism, features_fn=feats, real_images=real,
                         num_samples=n, batch_size=6, num_ablate=[1, 3], key=key,
                         ranking="causal", rank_samples=n)
    ws = sample_ws(G, g, key, jnp.arange(n))
    base = float(realism(synth_features(G, g, ws)[0]).mean())
    ref = []
    for u in range(8):
        zero = lambda r, u=u: r.at[..., u].set(0.0)                   # noqa: E731
        ref.append(float(realism(synth_features(G, g, ws, (), {layer: zero})[0]).mean()) - base)
    np.testing.assert_allclose(out["score"], ref, rtol=1e-4, atol=1e-5)
    assert list(out["order"][:3]) == list(np.argsort(-np.asarray(ref), kind="stable")[:3])
    held = sample_ws(G, g, key, jnp.arange(n, 2 * n))
    f_real = np.asarray(feats(real))
    np.testing.assert_allclose(out["fd_before"],
                               frechet_distance(np.asarray(feats(synth_features(G, g, held)[0])),
                                                f_real), rtol=1e-4)
    top3 = out["order"][:3]
    zero3 = lambda r: r.at[..., jnp.asarray(top3)].set(0.0)           # noqa: E731
    img3 = synth_features(G, g, held, (), {layer: zero3})[0]
    np.testing.assert_allclose(out["fd_by_k"][3], frechet_distance(np.asarray(feats(img3)), f_real),
                               rtol=1e-4)
    assert set(out["fd_by_k"]) == {1, 3} and out["fd_after"] == out["fd_by_k"][3]
    np.testing.assert_allclose(out["realism_after"], float(realism(img3).mean()), rtol=1e-4)
    with pytest.raises(ValueError, match="needs realism_fn"):
        artifact_study(G, g, layer, bad_labels=np.zeros(n), features_fn=feats, real_images=real,
                       num_samples=n, ranking="causal")
    with pytest.raises(ValueError, match="num_ablate"):
        artifact_study(G, g, layer, realism_fn=realism, features_fn=feats, real_images=real,
                       num_samples=n, num_ablate=99)


def test_frechet_distance_vs_scipy_sqrtm_formula():
    import scipy.linalg
    rng = np.random.default_rng(0)
    a = rng.standard_normal((200, 6)) @ rng.standard_normal((6, 6))
    b = rng.standard_normal((150, 6)) * 2 + 1
    ma, mb = a.mean(0), b.mean(0)
    sa, sb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    ref = ((ma - mb) ** 2).sum() + np.trace(sa + sb - 2 * np.real(scipy.linalg.sqrtm(sa @ sb)))
    np.testing.assert_allclose(frechet_distance(a, b), ref, rtol=1e-6)
    assert abs(frechet_distance(a, a)) < 1e-6
    with pytest.raises(ValueError, match="frechet_distance"):
        frechet_distance(a, b[:, :3])


def test_cli_rejects_unknown_layer(tmp_path):
    from jaxgan.checkpoint import save_network
    from jaxgan.cli import main
    G, g = tiny_g()
    save_network(tmp_path / "G", G, g)
    rc = main(["dissect", "--ckpt", str(tmp_path / "G"), "--segmenter",
               "tests/fixtures/trained/segmenter_shapes", "--layer", "b64.conv0",
               "--out", str(tmp_path / "o")])
    assert rc == 2
