"""ADA augmentation (jaxgan.training.augment): operations against independent expectations,
the geometric resampler against a literal transcription of the official algorithm, identity
at p = 0, determinism, gradients, jit/vmap, firing frequencies and the ADA controller.

Single-operation configs are traced inside one ``jit`` per group to keep compile time low.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan.ops.upfirdn2d import downsample2d, setup_filter, upsample2d
from jaxgan.training import augment_ops as ops
from jaxgan.training.augment import (AdaState, AugmentConfig, ada_accumulate, ada_adjust,
                                     ada_init, ada_update, augment, augment_preset,
                                     sample_params)

aug_jit = jax.jit(augment, static_argnames="cfg")


def _images(n=8, size=16, ch=3, seed=0):
    return jnp.asarray(np.random.default_rng(seed).uniform(-1, 1, (n, size, size, ch)),
                       jnp.float32)


# ------------------------------------------------------------------------------ presets


def test_presets_and_errors():
    bgc = augment_preset("bgc")
    assert set(bgc.enabled) == {"xflip", "rotate90", "xint", "scale", "rotate", "aniso",
                                "xfrac", "brightness", "contrast", "lumaflip", "hue",
                                "saturation"}
    assert (bgc.xint_max, bgc.scale_std, bgc.rotate_max, bgc.aniso_std, bgc.xfrac_std) == (
        0.125, 0.2, 1, 0.2, 0.125)
    assert (bgc.brightness_std, bgc.contrast_std, bgc.hue_max, bgc.saturation_std) == (
        0.2, 0.5, 1, 1)
    assert augment_preset("bg").enabled == bgc.enabled[:7]
    assert augment_preset("b").enabled == ("xflip", "rotate90", "xint")
    assert augment_preset("g").enabled == ("scale", "rotate", "aniso", "xfrac")
    assert augment_preset("c").enabled == bgc.enabled[7:]
    assert augment_preset("gc").enabled == bgc.enabled[3:]
    assert augment_preset("bgcfnc").enabled[-3:] == ("imgfilter", "noise", "cutout")
    assert augment_preset("noaug").enabled == ()
    assert augment_preset("bgc", scale_std=0.1).scale_std == 0.1
    for bad in ("xyz", "cb", "", "bgcc c"):
        with pytest.raises(ValueError, match="unknown augmentation preset"):
            augment_preset(bad)
    key = jax.random.key(0)
    with pytest.raises(ValueError, match=r"\[N, H, W, C\]"):
        augment(jnp.zeros((16, 16, 3)), 0.5, key, bgc)
    with pytest.raises(ValueError, match="1 or 3 channels"):
        augment(jnp.zeros((2, 16, 16, 2)), 0.5, key, bgc)
    augment_preset("bg")  # geometric ops accept any channel count (no error below)
    for p in (-0.1, 1.5):
        with pytest.raises(ValueError, match=r"p must be in \[0, 1\]"):
            augment(jnp.zeros((2, 16, 16, 3)), p, key, bgc)
    with pytest.raises(ValueError, match="scalar"):
        augment(jnp.zeros((2, 16, 16, 3)), jnp.ones(2), key, bgc)
    with pytest.raises(ValueError, match="resample"):
        AugmentConfig(resample="cubic")


# ------------------------------------------------------------------------------ pipeline


def test_identity_at_p0_changes_at_p1_deterministic():
    x = _images()
    cfg = augment_preset("bgc")
    key = jax.random.key(1)
    y0 = aug_jit(x, 0.0, key, cfg)
    assert bool(jnp.all(y0 == x))                                    # bit-exact
    y1 = aug_jit(x, 1.0, key, cfg)
    assert y1.shape == x.shape and y1.dtype == x.dtype
    assert bool(jnp.all(jnp.abs(y1 - x).max(axis=(1, 2, 3)) > 1e-3))  # every image changed
    assert bool(jnp.all(aug_jit(x, 1.0, key, cfg) == y1))           # same key, same result
    assert not bool(jnp.all(aug_jit(x, 1.0, jax.random.key(2), cfg) == y1))
    assert bool(jnp.all(jnp.isfinite(y1)))


def test_blit_ops_exact():
    """x-flip, rot90 and integer translation alone at p = 1 are exact pixel moves."""
    x = _images(n=8, size=16)
    cfgs = (AugmentConfig(xflip=1), AugmentConfig(rotate90=1), AugmentConfig(xint=1))
    outs = jax.jit(lambda x, k: [augment(x, 1.0, k, c) for c in cfgs])(x, jax.random.key(3))
    xn, outs = np.asarray(x), [np.asarray(o) for o in outs]

    def match(y, cands):
        return [i for i, c in enumerate(cands) if np.array_equal(y, c)]

    seen = set()
    for i in range(8):                                              # flip: {identity, flipped}
        m = match(outs[0][i], [xn[i], xn[i][:, ::-1]])
        assert m, "x-flip output is neither the image nor its mirror"
        seen.add(m[0])
    assert seen == {0, 1}
    seen = set()
    for i in range(8):                                              # rot90: one of 4 turns
        m = match(outs[1][i], [np.rot90(xn[i], k, axes=(0, 1)) for k in range(4)])
        assert m, "rotate90 output is not a 90-degree turn of the image"
        seen.add(m[0])
    assert len(seen) >= 3
    # Integer translation by (dx, dy) with |d| <= round(0.125 * 16) = 2 and reflection
    # padding (torch 'reflect', the edge pixel not repeated).
    pad = np.pad(xn, ((0, 0), (2, 2), (2, 2), (0, 0)), mode="reflect")
    shifts = [(dx, dy) for dy in range(-2, 3) for dx in range(-2, 3)]
    moved = 0
    for i in range(8):
        cands = [pad[i, 2 - dy:18 - dy, 2 - dx:18 - dx] for dx, dy in shifts]
        m = match(outs[2][i], cands)
        assert m, "xint output is not a reflect-padded integer shift"
        moved += shifts[m[0]] != (0, 0)
    assert moved >= 4


def test_color_ops_alone():
    x = _images(n=8, size=8)
    names = ("brightness", "contrast", "lumaflip", "hue", "saturation")
    cfgs = [AugmentConfig(**{n: 1}) for n in names]
    grey_cfg = augment_preset("c")
    xg = x[..., :1]

    def run(x, xg, k):
        return [augment(x, 1.0, k, c) for c in cfgs] + [augment(xg, 1.0, k, grey_cfg)]

    *outs, grey = jax.jit(run)(x, xg, jax.random.key(4))
    out = dict(zip(names, outs))
    mean = x.mean(axis=-1, keepdims=True)                          # luma (per pixel)
    chroma = x - mean
    tol = 2e-5
    d = out["brightness"] - x                                      # + b, same everywhere
    assert float(jnp.abs(d - d[:, :1, :1, :1]).max()) < tol
    assert float(jnp.abs(d[:, 0, 0, 0]).min()) > 1e-4
    c = out["contrast"][:, 0, 0, 0] / x[:, 0, 0, 0]                 # scaled by c about 0
    assert float(jnp.abs(out["contrast"] - x * c[:, None, None, None]).max()) < tol
    assert float(jnp.abs(c - 1).min()) > 1e-4
    y = out["lumaflip"]                                            # luma negated or kept,
    ym = y.mean(axis=-1, keepdims=True)                            # chroma kept
    assert float(jnp.abs(y - ym - chroma).max()) < tol
    flipped = jnp.abs(ym + mean).max(axis=(1, 2, 3)) < tol
    kept = jnp.abs(ym - mean).max(axis=(1, 2, 3)) < tol
    assert bool(jnp.all(flipped | kept)) and bool(jnp.any(flipped))
    y = out["hue"]                                                 # luma and |chroma| kept
    assert float(jnp.abs(y.mean(axis=-1, keepdims=True) - mean).max()) < tol
    yc = y - y.mean(axis=-1, keepdims=True)
    assert float(jnp.abs(jnp.linalg.norm(yc, axis=-1) - jnp.linalg.norm(chroma, axis=-1)).max()
                 ) < 1e-4
    assert float(jnp.abs(yc - chroma).max()) > 1e-2
    y = out["saturation"]                                          # chroma scaled by s > 0
    assert float(jnp.abs(y.mean(axis=-1, keepdims=True) - mean).max()) < tol
    s = ((y - mean) * chroma).sum(axis=(1, 2, 3)) / (chroma * chroma).sum(axis=(1, 2, 3))
    assert float(jnp.abs(y - mean - chroma * s[:, None, None, None]).max()) < 1e-4
    assert bool(jnp.all(s > 0))
    # Saturation factor 0 gives grey: the official matrix vv^T + (I - vv^T) * 0.
    v = np.array([1, 1, 1, 0]) / np.sqrt(3)
    m0 = jnp.asarray(np.outer(v, v), jnp.float32)[None].repeat(8, 0)
    grey_out = ops.apply_color(x, m0)
    assert float(jnp.abs(grey_out - mean).max()) < 1e-6
    # 1-channel images: affine per sample (brightness/contrast/luma flip), hue/sat skipped.
    a = (grey[:, 0, 0, 0] - grey[:, 0, 1, 0]) / (xg[:, 0, 0, 0] - xg[:, 0, 1, 0])
    b = grey[:, 0, 0, 0] - a * xg[:, 0, 0, 0]
    assert float(jnp.abs(grey - xg * a[:, None, None, None] - b[:, None, None, None]).max()
                 ) < 1e-4


def test_isotropic_scale_maps_disc_radius():
    """scale + rotation at p = 1: a centred disc of radius r becomes radius s * r."""
    size, r, n = 32, 5.0, 8
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    disc = np.where(np.hypot(xx, yy) <= r, 1.0, -1.0).astype(np.float32)
    # Anti-aliased disc: 8x supersampled coverage.
    sub = (np.arange(8) + 0.5) / 8 - 0.5
    cov = np.mean([np.hypot(xx + a, yy + b) <= r for a in sub for b in sub], axis=0)
    disc = (cov * 2 - 1).astype(np.float32)
    x = jnp.asarray(np.broadcast_to(disc[None, :, :, None], (n, size, size, 1)))
    cfg = AugmentConfig(scale=1, rotate=1)
    key = jax.random.key(5)
    y, g = jax.jit(lambda x, k: (augment(x, 1.0, k, cfg),
                                 sample_params(k, 1.0, cfg, x.shape).geom))(x, key)
    y, g = np.asarray(y), np.asarray(g)
    s = 1 / np.sqrt(np.abs(np.linalg.det(g[:, :2, :2])))           # G_inv scales by 1/s
    inside = np.hypot(xx, yy) <= 12                                # away from reflections
    area = (((y[..., 0] + 1) / 2) * inside).sum(axis=(1, 2))
    expect = np.pi * (s * r) ** 2
    assert np.ptp(s) > 0.05
    np.testing.assert_allclose(area, expect, rtol=0.05)
    assert np.abs(cov.sum() - np.pi * r * r) / (np.pi * r * r) < 0.01


def test_wavelet_resampler_matches_official_algorithm():
    """Static-shape resampler vs a literal transcription of the official execution
    (data-dependent reflect padding, sym6 upsample, grid_sample, downsample)."""
    rng = np.random.default_rng(6)
    x = rng.uniform(-1, 1, (3, 16, 16, 2)).astype(np.float32)

    def rot(t):
        return np.array([[np.cos(t), -np.sin(t), 0], [np.sin(t), np.cos(t), 0], [0, 0, 1]])

    g = np.stack([rot(0.3) @ np.diag([1 / 1.1, 1 / 1.1, 1]) @ [[1, 0, 1.3], [0, 1, -0.7],
                                                                [0, 0, 1]],
                  np.diag([1.3, 0.8, 1]) @ rot(-0.2),
                  np.diag([-1.0, 1, 1])]).astype(np.float32)
    ours, exact = jax.jit(lambda x, g: (ops.resample(x, g, "wavelet", exact_blit=False),
                                        ops.resample(x, g, "wavelet")))(x, g)
    np.testing.assert_allclose(ours, _official_geom(x, g), atol=2e-5)
    # The official x-flip is not an exact mirror (asymmetric sym6 delay); exact_blit fixes it.
    assert np.abs(ours[2] - x[2, :, ::-1]).max() > 1e-2
    assert np.array_equal(exact[2], x[2, :, ::-1])
    np.testing.assert_array_equal(exact[:2], ours[:2])


def _official_geom(images, g_inv):
    n, h, w, c = images.shape
    f = setup_filter(ops.SYM6)
    hz_pad = f.shape[0] // 4

    def t2(tx, ty):
        return np.array([[1, 0, tx], [0, 1, ty], [0, 0, 1]], np.float64)

    def s2(sx, sy):
        return np.diag([sx, sy, 1.0])

    cx, cy = (w - 1) / 2, (h - 1) / 2
    cp = g_inv.astype(np.float64) @ np.array([[-cx, -cy, 1], [cx, -cy, 1], [cx, cy, 1],
                                              [-cx, cy, 1]]).T
    margin = cp[:, :2, :].transpose(1, 0, 2).reshape(2, -1)
    margin = np.concatenate([-margin, margin]).max(axis=1)
    margin = margin + np.array([hz_pad * 2 - cx, hz_pad * 2 - cy] * 2)
    mx0, my0, mx1, my1 = np.ceil(np.clip(margin, 0, [w - 1, h - 1] * 2)).astype(int)
    x = np.pad(images, ((0, 0), (my0, my1), (mx0, mx1), (0, 0)), mode="reflect")
    g = t2((mx0 - mx1) / 2, (my0 - my1) / 2) @ g_inv
    x = np.asarray(jax.jit(lambda a: upsample2d(a, f, up=2))(jnp.asarray(x, jnp.float32)),
                   np.float64)
    g = s2(2, 2) @ g @ s2(0.5, 0.5)
    g = t2(-0.5, -0.5) @ g @ t2(0.5, 0.5)
    ho, wo = (h + hz_pad * 2) * 2, (w + hz_pad * 2) * 2
    g = s2(2 / x.shape[2], 2 / x.shape[1]) @ g @ s2(wo / 2, ho / 2)
    gx_, gy_ = np.meshgrid((2 * np.arange(wo) + 1) / wo - 1, (2 * np.arange(ho) + 1) / ho - 1)
    out = np.zeros((n, ho, wo, c))
    for i in range(n):   # grid_sample, bilinear, zeros outside, align_corners=False
        ix = ((g[i, 0, 0] * gx_ + g[i, 0, 1] * gy_ + g[i, 0, 2] + 1) * x.shape[2] - 1) / 2
        iy = ((g[i, 1, 0] * gx_ + g[i, 1, 1] * gy_ + g[i, 1, 2] + 1) * x.shape[1] - 1) / 2
        for yi in (np.floor(iy), np.floor(iy) + 1):
            for xi in (np.floor(ix), np.floor(ix) + 1):
                wgt = (1 - np.abs(ix - xi)) * (1 - np.abs(iy - yi))
                ok = (xi >= 0) & (xi < x.shape[2]) & (yi >= 0) & (yi < x.shape[1])
                v = x[i, np.clip(yi, 0, x.shape[1] - 1).astype(int),
                      np.clip(xi, 0, x.shape[2] - 1).astype(int)]
                out[i] += (wgt * ok)[..., None] * v
    down = jax.jit(lambda a: downsample2d(a, f, down=2, padding=-hz_pad * 2, flip_filter=True))
    return np.asarray(down(jnp.asarray(out, jnp.float32)))


def test_gradient_jit_vmap():
    x = _images(n=8, size=16)
    cfg = augment_preset("bgc")
    key = jax.random.key(7)
    w = jnp.asarray(np.random.default_rng(8).normal(size=x.shape), jnp.float32)
    loss_and_grad = jax.jit(jax.value_and_grad(lambda x: (augment(x, 0.8, key, cfg) * w).sum()))
    _, grad = loss_and_grad(x)
    assert bool(jnp.all(jnp.isfinite(grad))) and float(jnp.abs(grad).max()) > 0
    # For a fixed key the pipeline is affine in the images: the directional derivative
    # equals the central difference up to float32 rounding.
    d = jnp.asarray(np.random.default_rng(9).normal(size=x.shape), jnp.float32)
    fd = loss_and_grad(x + 0.5 * d)[0] - loss_and_grad(x - 0.5 * d)[0]
    np.testing.assert_allclose(float(fd), float((grad * d).sum()), rtol=2e-3, atol=2e-2)
    # vmap over independent (images, key) pairs equals separate calls (a cheap config).
    cheap = AugmentConfig(xflip=1, xfrac=1, brightness=1, resample="bilinear")
    keys = jax.random.split(key, 2)
    xs = jnp.stack([x, -x])[:, :4]

    def f(a, k):
        return augment(a, 0.5, k, cheap)

    batched, *single = jax.jit(lambda xs, ks: [jax.vmap(f)(xs, ks)] + [f(xs[i], ks[i])
                                                                      for i in range(2)])(xs, keys)
    for i in range(2):
        np.testing.assert_allclose(batched[i], single[i], atol=1e-5)
    assert not np.allclose(batched[0], xs[0])


def test_firing_frequency():
    p, n = 0.3, 4000
    cfg = augment_preset("bgcfnc", saturation=0.5)
    fired = jax.jit(lambda k: sample_params(k, p, cfg, (n, 8, 8, 3)).fired)(jax.random.key(10))
    tol = 4 * np.sqrt(p * (1 - p) / n)
    for op, f in fired.items():
        expect = 1 - (1 - p) ** 4 if op == "imgfilter" else p * getattr(cfg, op)
        assert abs(float(f.mean()) - expect) < tol, (op, float(f.mean()), expect)
    assert set(fired) == set(cfg.enabled)


def test_filter_noise_cutout():
    x = _images(n=4, size=16)
    cfg = augment_preset("fnc")
    run = jax.jit(lambda x, p: augment(x, p, jax.random.key(11), cfg))
    assert bool(jnp.all(run(x, 0.0) == x))
    y1 = run(x, 1.0)
    assert bool(jnp.all(jnp.isfinite(y1))) and bool(jnp.all(jnp.abs(y1 - x).max((1, 2, 3)) > 0))
    # Cutout (last op) zeroes a rectangle: side 0.5 * 16 = 8 pixels, clipped at the borders.
    for img in np.asarray(y1):
        zero = np.abs(img).max(axis=-1) == 0
        rows, cols = zero.any(axis=1).sum(), zero.any(axis=0).sum()
        assert 4 <= rows <= 8 and 4 <= cols <= 8 and zero.sum() == rows * cols


def test_filter_bank():
    bank = ops.filter_bank()
    assert bank.shape == (4, 43)
    impulse = np.zeros(43)
    impulse[21] = 1
    np.testing.assert_allclose(bank.sum(axis=0), impulse, atol=1e-6)
    np.testing.assert_allclose(bank, bank[:, ::-1], atol=1e-7)      # symmetric bands


# ------------------------------------------------------------------------------ ADA


def test_ada_update_rule():
    batch, interval, kimg = 32, 4, 500
    step = batch * interval / (kimg * 1000)
    st = ada_init(0.1)
    for i in range(1, 9):                                          # sign mean above target
        st = ada_update(st, 0.9, batch, 0.6, kimg, interval)
        assert int(st.step) == i
        assert float(st.p) == pytest.approx(0.1 + step * (i // interval), abs=1e-7)
    p_hi = float(st.p)
    st = ada_update(st._replace(step=jnp.int32(3)), 0.2, batch)    # below target: down
    assert float(st.p) == pytest.approx(p_hi - step, abs=1e-7)
    st = ada_update(AdaState(jnp.float32(step / 2), *ada_init()[1:])._replace(step=jnp.int32(3)),
                    -1.0, batch)                                   # clipped at 0
    assert float(st.p) == 0.0
    assert float(ada_adjust(0.5, 0.6, batch)) == 0.5                # at target: unchanged
    assert float(ada_adjust(0.99, 1.0, batch * 1000)) > 1.0        # no upper clamp (official)


def test_ada_accumulate_jit():
    @jax.jit
    def train_steps(st, logits):                                   # logits [steps, N]
        def body(st, lg):
            st = ada_accumulate(st, lg)
            return ada_update(st, None, lg.shape[0]), st.p
        return jax.lax.scan(body, st, logits)

    n = 16
    pos = jnp.ones((8, n)).at[:, :2].set(-1.0)                     # E[sign] = 0.75 > 0.6
    st, _ = train_steps(ada_init(), pos)
    assert float(st.p) == pytest.approx(2 * n * 4 / 500e3, abs=1e-8)
    assert float(st.count) == 0 and int(st.step) == 8               # reset after interval
    neg = jnp.ones((4, n)).at[:, :8].set(-1.0)                     # E[sign] = 0 < 0.6
    st2, _ = train_steps(st, neg)
    assert float(st2.p) == pytest.approx(n * 4 / 500e3, abs=1e-8)
    st3 = ada_update(ada_accumulate(ada_init(0.5), pos[0]), None, n, interval=1)
    assert float(st3.p) > 0.5
    assert float(ada_update(ada_init(0.5), None, n, interval=1).p) == 0.5   # empty: no-op
