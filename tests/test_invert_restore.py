"""Restoration with the GAN prior: degradations and baselines vs NumPy, and (trained shapes
generator) inpainting / super-resolution beat the naive baselines on held-out scenes."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from jaxgan.invert import DistanceWeights, ProjectConfig
from jaxgan.invert.restore import (Downsample, Grayscale, inpaint, mean_fill,
                                   paste, psnr, semantic_diffusion, super_resolve,
                                   upsample_bilinear, upsample_nearest)

G_FIXTURE = Path(__file__).parent / "fixtures" / "trained" / "G_shapes32"


def test_degradations_and_baselines_match_numpy():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (2, 8, 8, 3)).astype(np.float32)
    np.testing.assert_allclose(Downsample(4)(x), x.reshape(2, 2, 4, 2, 4, 3).mean((2, 4)),
                               rtol=1e-6)
    y = np.asarray(Grayscale()(x))
    luma = x @ np.array([0.299, 0.587, 0.114], np.float32)
    np.testing.assert_allclose(y, np.repeat(luma[..., None], 3, -1), rtol=1e-5, atol=1e-6)
    low = x[:, :4, :4]
    np.testing.assert_array_equal(upsample_nearest(low, 2)[:, ::2, ::2], low)
    np.testing.assert_array_equal(upsample_nearest(low, 2)[:, 1::2, 1::2], low)
    # Bilinear with half-pixel centres: output pixel 2k+1 (x2) sits at 1/4 between k and k+1.
    up = np.asarray(upsample_bilinear(low, 2))
    np.testing.assert_allclose(up[:, 1, 1], 0.5625 * low[:, 0, 0] + 0.1875 * low[:, 0, 1]
                               + 0.1875 * low[:, 1, 0] + 0.0625 * low[:, 1, 1], rtol=1e-5)
    m = np.ones((2, 8, 8), np.float32)
    m[:, 2:6, 2:6] = 0
    filled = np.asarray(mean_fill(x, m))
    np.testing.assert_array_equal(filled[:, 0, 0], x[:, 0, 0])
    want = np.stack([x[i][m[i] > 0].mean(0) for i in range(2)])
    np.testing.assert_allclose(filled[:, 3, 3], want, rtol=1e-5)
    comp, pm = paste(x, -x, (1, 2, 3, 4))
    assert float(pm.sum()) == 2 * 12
    np.testing.assert_array_equal(comp[:, 1:4, 2:6], -x[:, 1:4, 2:6])
    np.testing.assert_array_equal(comp[:, 0], x[:, 0])
    assert float(psnr(x, x + 0.02)[0]) == pytest.approx(10 * np.log10(4 / 4e-4), rel=1e-4)
    with pytest.raises(ValueError, match="divisible"):
        Downsample(3)(x)
    with pytest.raises(ValueError, match="does not fit"):
        paste(x, x, (6, 0, 4, 4))


@pytest.fixture(scope="module")
def trained():
    if not (G_FIXTURE / "arch.json").is_file():
        pytest.skip(f"trained generator fixture {G_FIXTURE} missing")
    from jaxgan.checkpoint import load_network
    from jaxgan.data import render_shapes, to_float
    from jaxgan.invert.report import SHAPES_HELDOUT_START
    G, g = load_network(G_FIXTURE)
    x = to_float(render_shapes(4, G.cfg.img_resolution, seed=0,
                               start=SHAPES_HELDOUT_START + 100)["image"])
    return G, g, x


CFG = ProjectConfig(space="wplus", num_steps=100, optimize_noise=False, noise_init="const",
                    distance=DistanceWeights(lpips=0.0, l2=1.0), w_avg_samples=2000)


def _mse(a, b):
    return float(np.mean((np.asarray(a) - np.asarray(b)) ** 2))


@pytest.mark.slow  # trained-G acceptance check: minutes on CPU (`pytest -m slow`)
def test_inpainting_beats_mean_fill(trained):
    G, g, x = trained
    m = np.ones(x.shape[:3], np.float32)
    m[:, 10:22, 10:22] = 0                                     # a 12x12 hole in the middle
    observed = x * m[..., None]
    _, composite = inpaint(G, g, observed, m, CFG)
    hole = m == 0
    err_gan = np.mean((np.asarray(composite) - x)[hole] ** 2)
    err_fill = np.mean((np.asarray(mean_fill(observed, m)) - x)[hole] ** 2)
    assert err_gan < err_fill, (err_gan, err_fill)


@pytest.mark.slow  # trained-G acceptance check: minutes on CPU (`pytest -m slow`)
def test_super_resolution_beats_upsampling(trained):
    G, g, x = trained
    low = np.asarray(Downsample(4)(x))                          # [N, 8, 8, 3]
    r = super_resolve(G, g, low, 4, CFG)
    err = _mse(r.images, x)
    # The restored image is closer to the ground truth than both naive up-samplings.
    assert err < _mse(upsample_bilinear(low, 4), x), err
    assert err < _mse(upsample_nearest(low, 4), x), err


@pytest.mark.slow  # trained-G acceptance check: minutes on CPU (`pytest -m slow`)
def test_semantic_diffusion_keeps_the_patch(trained):
    G, g, x = trained
    comp, pm = paste(x, x[::-1], (8, 8, 16, 16))       # same program as the inpainting test
    r = semantic_diffusion(G, g, comp, pm, context_weight=0.05, cfg=CFG)
    inside = np.asarray(pm) > 0
    err_in = np.mean((np.asarray(r.images) - np.asarray(comp))[inside] ** 2)
    err_out = np.mean((np.asarray(r.images) - np.asarray(comp))[~inside] ** 2)
    assert err_in < err_out, (err_in, err_out)
