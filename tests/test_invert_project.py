"""Optimisation inversion: schedules and noise regulariser vs the projector's formulas
(NumPy), batch == one-by-one, error handling, and (on the trained shapes generator) W
inversion quality and W+ <= W <= Z on held-out real images."""
from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxgan
from jaxgan.invert import (DistanceWeights, ProjectConfig, image_distance, latent_noise_scale,
                           latent_stats, learning_rate, noise_regularizer, normalize_noise, project)

G_FIXTURE = Path(__file__).parent / "fixtures" / "trained" / "G_shapes32"
PIXEL = DistanceWeights(lpips=0.0, l2=1.0)


@pytest.fixture(scope="module")
def tiny_g():
    cfg = jaxgan.GeneratorConfig(img_resolution=8, z_dim=8, w_dim=8, mapping_layers=2,
                                 channel_base=64, channel_max=8)
    return jaxgan.init_generator(cfg, jax.random.key(3))


def _trained_g():
    if not (G_FIXTURE / "arch.json").is_file():
        pytest.skip(f"trained generator fixture {G_FIXTURE} missing")
    from jaxgan.checkpoint import load_network
    return load_network(G_FIXTURE)


# ----------------------------------------------------------------------------- formulas

def _projector_lr(step, T, lr0=0.1, down=0.25, up=0.05):
    """stylegan2-ada-pytorch projector.py, verbatim."""
    t = step / T
    lr_ramp = min(1.0, (1.0 - t) / down)
    lr_ramp = 0.5 - 0.5 * np.cos(lr_ramp * np.pi)
    lr_ramp = lr_ramp * min(1.0, t / up)
    return lr0 * lr_ramp


@pytest.mark.parametrize("T", [1000, 300])
def test_schedules_match_projector(T):
    cfg = ProjectConfig(num_steps=T)
    steps = np.arange(T)
    lr = np.asarray(jax.vmap(lambda s: learning_rate(s, cfg))(steps))
    ref = np.array([_projector_lr(s, T) for s in steps])
    np.testing.assert_allclose(lr, ref, rtol=1e-5, atol=1e-7)
    assert lr[0] == 0 and abs(lr.max() - 0.1) < 1e-6
    ns = np.asarray(jax.vmap(lambda s: latent_noise_scale(s, cfg))(steps))
    ref_ns = np.array([0.05 * max(0.0, 1.0 - (s / T) / 0.75) ** 2 for s in steps])
    np.testing.assert_allclose(ns, ref_ns, rtol=1e-5, atol=1e-8)
    assert ns[int(0.75 * T) + 1:].max() == 0


def _np_noise_reg(maps):
    """projector.py's regulariser, with numpy.roll and 2x2 mean pooling."""
    reg = 0.0
    for n in maps:
        n = np.asarray(n, np.float64)
        while True:
            reg += np.mean(n * np.roll(n, 1, axis=1)) ** 2
            reg += np.mean(n * np.roll(n, 1, axis=0)) ** 2
            if n.shape[0] <= 8:
                break
            h = n.shape[0] // 2
            n = n.reshape(h, 2, h, 2).mean(axis=(1, 3))
    return reg


def test_noise_regularizer_matches_numpy():
    rng = np.random.default_rng(0)
    # Smooth (autocorrelated) maps give a large penalty; white noise a small one.
    maps = {"b4": {"conv1": rng.standard_normal((4, 4))},
            "b16": {"conv0": np.cumsum(rng.standard_normal((16, 16)), 0),
                    "conv1": rng.standard_normal((16, 16))},
            "b32": {"conv0": np.cumsum(np.cumsum(rng.standard_normal((32, 32)), 0), 1)}}
    maps = jax.tree.map(lambda a: a.astype(np.float32), maps)
    got = float(noise_regularizer(maps))
    want = _np_noise_reg(jax.tree.leaves(maps))
    assert got == pytest.approx(want, rel=1e-4)
    white = {"b": {"c": rng.standard_normal((32, 32)).astype(np.float32)}}
    assert float(noise_regularizer(white)) < 1e-2 * want
    norm = normalize_noise(maps)
    for n in jax.tree.leaves(norm):
        assert abs(float(jnp.mean(n))) < 1e-5 and float(jnp.mean(n * n)) == pytest.approx(1, 1e-4)


def test_latent_stats_match_numpy(tiny_g):
    G, g = tiny_g
    mean, std = latent_stats(G, g, "w", 500, key=jax.random.key(7))
    z = jax.random.normal(jax.random.key(7), (500, G.cfg.z_dim))
    w = np.asarray(jaxgan.mapping(G, g, z)[:, 0], np.float64)
    np.testing.assert_allclose(mean, w.mean(0), rtol=1e-4, atol=1e-5)
    assert float(std) == pytest.approx((np.sum((w - w.mean(0)) ** 2) / 500) ** 0.5, rel=1e-4)
    mp, _ = latent_stats(G, g, "wplus", 500, key=jax.random.key(7))
    assert mp.shape == (G.cfg.num_ws, G.cfg.w_dim)
    ms, ss = latent_stats(G, g, "s", 500, key=jax.random.key(7))
    ref = jaxgan.styles(G, g, jnp.broadcast_to(jnp.asarray(mean, jnp.float32),
                                               (1, G.cfg.num_ws, G.cfg.w_dim)))
    # The affines are linear: the mean style is the style of the mean w.
    for a, b in zip(jax.tree.leaves(ms), jax.tree.leaves(ref)):
        np.testing.assert_allclose(a, b[0], rtol=1e-3, atol=1e-4)
    assert jax.tree.structure(ss) == jax.tree.structure(ms)


def test_image_distance_terms():
    rng = np.random.default_rng(1)
    x, y = (rng.uniform(-1, 1, (2, 8, 8, 3)).astype(np.float32) for _ in range(2))
    d = np.asarray(image_distance(x, y, DistanceWeights(lpips=0, l1=0.5, l2=2.0)))
    want = 0.5 * np.abs(x - y).mean((1, 2, 3)) + 2.0 * ((x - y) ** 2).mean((1, 2, 3))
    np.testing.assert_allclose(d, want, rtol=1e-5)
    m = np.zeros((2, 8, 8), np.float32)
    m[:, :4] = 1
    dm = np.asarray(image_distance(x, y, DistanceWeights(lpips=0, l2=1.0), pixel_weight=m))
    np.testing.assert_allclose(dm, ((x - y)[:, :4] ** 2).mean((1, 2, 3)), rtol=1e-5)
    with pytest.raises(ValueError, match="lp"):
        image_distance(x, y, DistanceWeights())


# ----------------------------------------------------------------------------- batching

def test_batch_equals_one_by_one(tiny_g):
    G, g = tiny_g
    z = jax.random.normal(jax.random.key(1), (3, G.cfg.z_dim))
    x = jaxgan.generate(G, g, z, noise_mode="random", noise_key=jax.random.key(2))
    cfg = ProjectConfig(space="wplus", num_steps=40, distance=PIXEL, w_avg_samples=500)
    stats = latent_stats(G, g, "wplus", 500)
    key = jax.random.key(11)
    batch = project(G, g, x, cfg, key=key, stats=stats)
    assert batch.curve.shape == (3, 40) and batch.latent.shape == (3, G.cfg.num_ws, G.cfg.w_dim)
    assert jax.tree.leaves(batch.noise)[0].shape[0] == 3
    # The optimisation made progress (final distance below the first step's).
    assert np.all(np.asarray(batch.dist) < np.asarray(batch.dist_curve[:, 0]))
    for i in range(3):
        one = project(G, g, x[i:i + 1], cfg, key=key, indices=[i], stats=stats)
        np.testing.assert_allclose(one.latent[0], batch.latent[i], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(one.curve[0], batch.curve[i], rtol=1e-4, atol=1e-6)
        for a, b in zip(jax.tree.leaves(one.noise), jax.tree.leaves(batch.noise)):
            np.testing.assert_allclose(a[0], b[i], rtol=1e-4, atol=1e-4)
    # A different index (other randomness) gives a different run.
    other = project(G, g, x[:1], cfg, key=key, indices=[1], stats=stats)
    assert not np.allclose(other.curve[0], batch.curve[0])


def test_invert_batches_pads_and_matches_one_program(tiny_g):
    """jaxgan.invert.batch: 5 images in padded batches of 2 (3 programs, the last padded)
    equal one 5-image call of ``project``, row for row; the latents.npz arrays follow."""
    from jaxgan.invert.batch import invert_batches, latents_arrays
    G, g = tiny_g
    z = jax.random.normal(jax.random.key(4), (5, G.cfg.z_dim))
    x = np.asarray(jaxgan.generate(G, g, z))
    cfg = ProjectConfig(space="w", num_steps=12, distance=PIXEL, w_avg_samples=500)
    stats = latent_stats(G, g, "w", 500)
    key = jax.random.key(5)
    got = invert_batches(G, g, x, cfg, key=key, lp=None, stats=stats, batch=2,
                         show_progress=False)
    ref = project(G, g, x, cfg, key=key, stats=stats)
    assert got["images"].shape == x.shape and got["ws"].shape[0] == 5
    np.testing.assert_allclose(got["ws"], np.asarray(ref.ws), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got["curve"], np.asarray(ref.curve), rtol=1e-4, atol=1e-6)
    arrays = latents_arrays(got, "w", [f"i{k}" for k in range(5)])
    assert list(arrays["names"]) == [f"i{k}" for k in range(5)]
    np.testing.assert_array_equal(arrays["w"], got["ws"])
    assert any(k.startswith("noise/") for k in arrays)


def test_default_mesh_equals_an_explicit_one_device_mesh(tiny_g):
    """``mesh=None`` is a 1-device mesh: the same program as an explicit one, bit for bit
    (Adam W with a pixel weight map; L-BFGS W+), results sharded over it; keys of another
    PRNG implementation and raw uint32 keys pass through."""
    from jaxgan.sharding import make_data_mesh, one_device_mesh
    G, g = tiny_g
    x = np.tanh(np.random.default_rng(0).normal(size=(3, 8, 8, 3))).astype(np.float32)
    pw = np.random.default_rng(1).uniform(size=(3, 8, 8)).astype(np.float32)
    for cfg, w in ((ProjectConfig(space="w", num_steps=5, distance=PIXEL, w_avg_samples=64), pw),
                   (ProjectConfig(space="wplus", num_steps=4, optimizer="lbfgs",
                                  optimize_noise=False, distance=PIXEL, w_avg_samples=64), None)):
        a = project(G, g, x, cfg, key=jax.random.key(2), pixel_weight=w)
        b = project(G, g, x, cfg, key=jax.random.key(2), pixel_weight=w,
                    mesh=make_data_mesh(devices=jax.local_devices()[:1]))
        assert a.ws.sharding.mesh == one_device_mesh()
        jax.tree.map(lambda u, v: np.testing.assert_array_equal(np.asarray(u), np.asarray(v)),
                     a._asdict(), b._asdict())
    cfg = ProjectConfig(space="w", num_steps=3, distance=PIXEL, w_avg_samples=64)
    rbg = project(G, g, x, cfg, key=jax.random.key(2, impl="rbg"))
    raw = project(G, g, x, cfg, key=jax.random.PRNGKey(2))
    assert np.all(np.isfinite(np.asarray(rbg.curve)))
    assert not np.allclose(np.asarray(rbg.curve), np.asarray(raw.curve))   # other random bits
    typed = project(G, g, x, cfg, key=jax.random.wrap_key_data(jax.random.PRNGKey(2)))
    np.testing.assert_array_equal(np.asarray(raw.curve), np.asarray(typed.curve))


def test_bad_inputs(tiny_g):
    G, g = tiny_g
    x = np.zeros((2, 8, 8, 3), np.float32)
    with pytest.raises(ValueError, match="targets must be"):
        project(G, g, x[:, :4], ProjectConfig(distance=PIXEL))
    with pytest.raises(ValueError, match="NaN"):
        project(G, g, np.full_like(x, np.nan), ProjectConfig(distance=PIXEL))
    with pytest.raises(ValueError, match="lp="):
        project(G, g, x, ProjectConfig())
    with pytest.raises(ValueError, match="encoder"):
        project(G, g, x, ProjectConfig(distance=PIXEL, domain_weight=1.0))
    with pytest.raises(ValueError, match="space"):
        ProjectConfig(space="q")
    with pytest.raises(ValueError, match="lbfgs"):
        ProjectConfig(optimizer="lbfgs")
    with pytest.raises(ValueError, match="init"):
        project(G, g, x, ProjectConfig(distance=PIXEL), init=np.zeros((2, 3)))


# ----------------------------------------------------------------------------- trained G

@pytest.mark.slow  # trained-G acceptance check: minutes on CPU (`pytest -m slow`)
def test_w_inversion_of_generated_images():
    """Images G(w) of known w: W inversion reaches PSNR > 30 dB and LPIPS < 0.05 (the
    optimisation uses the pixel distance, the check real LPIPS)."""
    from jaxgan.invert.report import reconstruction_metrics
    from jaxgan.nets.lpips import load_lpips
    G, g = _trained_g()
    lp = load_lpips("vgg16")
    w = jaxgan.mapping(G, g, jax.random.normal(jax.random.key(4), (3, G.cfg.z_dim)),
                       truncation_psi=0.7)
    x = jaxgan.synthesize(G, g, w)
    cfg = ProjectConfig(space="w", num_steps=250, optimize_noise=False, noise_init="const",
                        distance=PIXEL, w_avg_samples=2000)
    r = project(G, g, x, cfg)
    m = reconstruction_metrics(x, r.images, lp)
    assert np.all(m["psnr"] > 30), m
    assert np.all(m["lpips"] < 0.05), m


@pytest.mark.slow  # trained-G acceptance check: minutes on CPU (`pytest -m slow`)
def test_space_ordering_on_heldout_shapes():
    """Reconstruction error of real held-out scenes: W+ <= W <= Z (mean over images)."""
    from jaxgan.data import render_shapes, to_float
    from jaxgan.invert.report import SHAPES_HELDOUT_START
    G, g = _trained_g()
    x = to_float(render_shapes(3, G.cfg.img_resolution, seed=0,
                               start=SHAPES_HELDOUT_START)["image"])
    err = {}
    for space in ("wplus", "w", "z"):
        cfg = ProjectConfig(space=space, num_steps=100, optimize_noise=False,
                            noise_init="const", distance=PIXEL, w_avg_samples=2000)
        r = project(G, g, x, cfg)
        err[space] = float(np.mean((np.asarray(r.images) - x) ** 2))
    assert err["wplus"] <= err["w"] <= err["z"], err
