"""Data++ operations (edit, perturb, interpolate, reconstruct, invert) on a tiny generator,
and the `jaxgan invert` command end to end on the trained shapes generator."""
from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxgan
from jaxgan.dataplus import DataPlus, Inverter, invert
from jaxgan.invert import DistanceWeights, ProjectConfig

G_FIXTURE = Path(__file__).parent / "fixtures" / "trained" / "G_shapes32"


@pytest.fixture(scope="module")
def dp():
    cfg = jaxgan.GeneratorConfig(img_resolution=8, z_dim=8, w_dim=8, mapping_layers=2,
                                 channel_base=64, channel_max=8)
    G, g = jaxgan.init_generator(cfg, jax.random.key(3))
    ws = jaxgan.mapping(G, g, jax.random.normal(jax.random.key(1), (2, 8)))
    x = jaxgan.synthesize(G, g, ws)
    return DataPlus(x=x, ws=ws, noise=None, g=g, inverter=Inverter(), G=G)


def test_reconstruct_and_edit(dp):
    np.testing.assert_allclose(dp.reconstruct(), dp.x, atol=1e-6)
    d = np.arange(8, dtype=np.float32)
    e = dp.edit(d, jnp.array([1.0, -2.0]), layers=[1, 3])
    delta = np.asarray(e.ws - dp.ws)
    np.testing.assert_allclose(delta[0, 1], d, atol=1e-6)
    np.testing.assert_allclose(delta[1, 3], -2 * d, atol=1e-6)
    assert np.all(delta[:, [0, 2]] == 0)
    np.testing.assert_array_equal(e.x, dp.x)                  # x stays the observation
    with pytest.raises(ValueError, match="direction"):
        dp.edit(np.zeros(5), 1.0)
    # Pure: jit-able as a pytree.
    out = jax.jit(lambda o: o.edit(d, 0.5).ws)(dp)
    np.testing.assert_allclose(out, dp.ws + 0.5 * d, atol=1e-6)


def test_perturb_and_interpolate(dp):
    key = jax.random.key(5)
    n, num_ws = 3, dp.ws.shape[1]
    p = dp.perturb("gaussian", n, key, scale=0.1)
    assert p.ws.shape == (6, num_ws, 8) and p.x.shape[0] == 6
    np.testing.assert_array_equal(p.x[3:], jnp.repeat(dp.x[1:], 3, 0))
    dev = np.asarray(p.ws - jnp.repeat(dp.ws, n, 0))
    assert 0.07 < dev.std() < 0.13
    cut = num_ws // 2
    c = dp.perturb("coarse", n, key)
    f = dp.perturb("fine", n, key)
    rep = np.asarray(jnp.repeat(dp.ws, n, 0))
    np.testing.assert_array_equal(c.ws[:, cut:], rep[:, cut:])   # fine layers kept
    assert not np.allclose(c.ws[:, :cut], rep[:, :cut])
    np.testing.assert_array_equal(f.ws[:, :cut], rep[:, :cut])   # coarse layers kept
    with pytest.raises(ValueError, match="kind"):
        dp.perturb("blur", 2, key)
    other = dp.replace(ws=dp.ws[::-1])
    np.testing.assert_allclose(dp.interpolate(other, 0.0).ws, dp.ws)
    np.testing.assert_allclose(dp.interpolate(other, 1.0).ws, other.ws)
    np.testing.assert_allclose(dp.interpolate(other, 0.25).ws, 0.75 * dp.ws + 0.25 * other.ws,
                               atol=1e-6)


def test_invert_with_projection(dp):
    cfg = ProjectConfig(space="wplus", num_steps=60, optimize_noise=False, noise_init="const",
                        distance=DistanceWeights(lpips=0.0, l2=1.0), w_avg_samples=500)
    d = invert(dp.G, dp.g, dp.x, Inverter(cfg=cfg))
    assert d.ws.shape == dp.ws.shape
    err = float(jnp.mean((d.reconstruct() - dp.x) ** 2))
    start = float(jnp.mean((jaxgan.synthesize(dp.G, dp.g, jnp.broadcast_to(
        dp.g["buffers"]["mapping"]["w_avg"], dp.ws.shape)) - dp.x) ** 2))
    assert err < 0.5 * start
    with pytest.raises(ValueError, match="ProjectConfig"):
        invert(dp.G, dp.g, dp.x, Inverter())


@pytest.mark.slow  # trained-G acceptance check: minutes on CPU (`pytest -m slow`)
def test_invert_command(tmp_path):
    if not (G_FIXTURE / "arch.json").is_file():
        pytest.skip(f"trained generator fixture {G_FIXTURE} missing")
    from jaxgan.checkpoint import load_network
    from jaxgan.cli import main
    from jaxgan.data import render_shapes, to_float
    from jaxgan.invert.report import SHAPES_HELDOUT_START
    out = tmp_path / "inv"
    # LPIPS + L2 objective (the command's default distance is LPIPS), 3 images in batches of 2.
    rc = main(["invert", "--ckpt", str(G_FIXTURE), "--data", "shapes", "--num", "3",
               "--space", "wplus", "--steps", "8", "--no-noise-opt", "--batch", "2",
               "--l2", "1", "--out", str(out)])
    assert rc == 0
    rep = json.loads((out / "metrics.json").read_text())
    assert len(rep["images"]) == 3 and {"mse", "psnr", "lpips"} <= set(rep["images"][0])
    lat = np.load(out / "latents.npz")
    assert lat["ws"].shape == (3, 8, 64) and lat["curve"].shape == (3, 8)
    from PIL import Image
    assert Image.open(out / "sheet.png").size == (3 * 32, 3 * 32)
    # The JSON's MSE is the reconstruction from the saved ws (const noise), recomputed here.
    G, g = load_network(G_FIXTURE)
    x = to_float(render_shapes(3, 32, seed=0, start=SHAPES_HELDOUT_START)["image"])
    rec = np.asarray(jaxgan.synthesize(G, g, jnp.asarray(lat["ws"])))
    mse = ((rec - x) ** 2).mean((1, 2, 3))
    np.testing.assert_allclose([im["mse"] for im in rep["images"]], mse, rtol=1e-3)
    assert main(["invert", "--ckpt", str(G_FIXTURE), "--data", "shapes", "--num", "0",
                 "--out", str(out)]) == 2
