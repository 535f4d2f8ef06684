"""Parity beyond the single official fixture configuration.

1. ``official_ref`` (an independent NumPy implementation of stylegan2-ada-pytorch's forward
   pass, NCHW, float64, on official state dicts) reproduces the official fixtures — this
   validates the reference — and its primitives agree with SciPy / with the official
   generic (fallback) resampling path.
2. For a grid of other configurations (conditional G and D, resolutions 8/16/64, mapping
   depths 1/2/4, G 'skip'/'orig'/'resnet', D 'resnet'/'skip'/'orig', minibatch-stddev group
   2/4/None/8(> batch) and 0/1/2 channels, 1 and 3 image channels, conv_clamp 256 and 0.5,
   noise modes const/none/random (explicit maps), truncation with cutoff, z_dim 0), random
   official-layout state dicts (perturbed like the fixtures) are converted with jaxgan's
   converter and jaxgan must agree with the reference to ≤ 1e-4 (float32).
"""
from __future__ import annotations

import functools

import numpy as np
import pytest
import scipy.signal

import official_ref as ref
from conftest import load_fixture

TOL = 1e-4
N = 4


def _err(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape, f"shape {a.shape} != {b.shape}"
    return float(np.abs(a - b).max())


def _nchw(x):
    return np.asarray(x).transpose(0, 3, 1, 2)


# ============================================================================ 1. reference

def _g_cfg_from_meta(m):
    return dict(z_dim=m["z_dim"], w_dim=m["w_dim"], c_dim=m["c_dim"], img_resolution=m["R"],
                img_channels=m["img_channels"], mapping_layers=m["mapping_num_layers"],
                channel_base=m["channel_base"], channel_max=m["channel_max"],
                architecture="skip", conv_clamp=m["conv_clamp"])


@pytest.mark.parametrize("suffix", ["", "_perturbed"])
def test_reference_generator_matches_official_fixture(suffix):
    state, io, meta = load_fixture(f"fixture_g32{suffix}")
    cfg = _g_cfg_from_meta(meta)
    ws = ref.generator_mapping(state, io["z"], **cfg)
    assert _err(ws, io["ws"]) <= TOL
    ws7 = ref.generator_mapping(state, io["z"], truncation_psi=0.7, **cfg)
    assert _err(ws7, io["ws_psi07"]) <= TOL
    assert _err(ref.synthesis(state, io["ws"], noise_mode="const", fused=True, **cfg), io["img"]) <= TOL
    if suffix:   # the perturbed fixture exercises strictly more; check every output there
        assert _err(ref.synthesis(state, io["ws"], noise_mode="const", fused=False, **cfg),
                    io["img_unfused"]) <= TOL
        assert _err(ref.synthesis(state, ws7, noise_mode="const", **cfg), io["img_psi07"]) <= TOL


@pytest.mark.parametrize("suffix", ["", "_perturbed"])
def test_reference_discriminator_matches_official_fixture(suffix):
    state, io, meta = load_fixture(f"fixture_d32{suffix}")
    logits = ref.discriminator(state, io["img"], img_resolution=meta["R"],
                               img_channels=meta["img_channels"],
                               channel_base=meta["channel_base"], channel_max=meta["channel_max"],
                               architecture=meta["D_architecture"],
                               mbstd_group_size=meta["mbstd_group_size"],
                               mbstd_num_channels=meta["mbstd_num_channels"])
    assert _err(logits, io["logits"]) <= TOL


def test_reference_official_init_matches_fixture_layout():
    """official_init produces exactly the fixture's keys and shapes (same configuration)."""
    for kind, name in (("G", "fixture_g32"), ("D", "fixture_d32")):
        state, _, m = load_fixture(name)
        if kind == "G":
            sd = ref.official_init("G", **_g_cfg_from_meta(m))
        else:
            sd = ref.official_init("D", img_resolution=m["R"], channel_base=m["channel_base"],
                                   channel_max=m["channel_max"], architecture=m["D_architecture"],
                                   mbstd_num_channels=m["mbstd_num_channels"])
        assert {k: v.shape for k, v in sd.items()} == {k: v.shape for k, v in state.items()}
        for k, v in sd.items():
            if k.endswith("resample_filter"):
                np.testing.assert_allclose(v, state[k], atol=1e-7)


def test_reference_primitives_against_scipy_and_official_fallback():
    rng = np.random.default_rng(0)
    f = ref._fir2d()
    x = rng.standard_normal((2, 3, 7, 6))
    # upfirdn2d (no resampling) = true 2-D convolution of the zero-padded image.
    got = ref.upfirdn2d(x, f, padding=(2, 1, 1, 2))
    xp = np.pad(x, [(0, 0), (0, 0), (1, 2), (2, 1)])
    want = np.stack([np.stack([scipy.signal.convolve2d(xp[n, c], f, mode="valid")
                               for c in range(3)]) for n in range(2)])
    np.testing.assert_allclose(got, want, atol=1e-12)
    # correlate2d = torch conv2d (correlation).
    w = rng.standard_normal((4, 3, 3, 3))
    got = ref.correlate2d(x, w, padding=1)
    want = np.stack([np.stack([sum(scipy.signal.correlate2d(x[n, c], w[o, c], mode="same")
                                   for c in range(3)) for o in range(4)]) for n in range(2)])
    np.testing.assert_allclose(got, want, atol=1e-12)
    # Up-sampling 3x3 conv: transposed conv with the *unflipped* weight + FIR equals the
    # official generic fallback (zero-insert + FIR with gain 4, padding [3, 2, 3, 2], then a
    # flip_weight=False conv, i.e. a true convolution).
    got = ref.conv2d_resample(x, w, f=f, up=2, padding=1)
    u = ref.upfirdn2d(x, f, up=2, padding=(3, 2, 3, 2), gain=4)
    want = np.stack([np.stack([sum(scipy.signal.convolve2d(u[n, c], w[o, c], mode="valid")
                                   for c in range(3)) for o in range(4)]) for n in range(2)])
    assert got.shape == (2, 4, 14, 12)
    np.testing.assert_allclose(got, want, atol=1e-10)
    # Per-sample (fused) weights give the same as the shared weight.
    ws = np.repeat(w[None], 2, axis=0)
    np.testing.assert_allclose(ref.conv2d_resample(x, ws, f=f, up=2, padding=1), got, atol=1e-12)
    # Down-sampling 3x3 conv = FIR (pad 2) + stride-1 correlation, every other pixel.
    x8 = rng.standard_normal((2, 3, 8, 8))
    got = ref.conv2d_resample(x8, w, f=f, down=2, padding=1)
    full = ref.correlate2d(ref.upfirdn2d(x8, f, padding=(2, 2, 2, 2)), w)
    np.testing.assert_allclose(got, full[:, :, ::2, ::2], atol=1e-12)
    # 1x1 up / down paths equal their generic forms.
    w1 = rng.standard_normal((4, 3, 1, 1))
    np.testing.assert_allclose(ref.conv2d_resample(x, w1, f=f, up=2),
                               ref.upsample2d(ref.correlate2d(x, w1), f), atol=1e-12)
    np.testing.assert_allclose(ref.conv2d_resample(x8, w1, f=f, down=2),
                               ref.correlate2d(ref.downsample2d(x8, f), w1), atol=1e-12)


def test_reference_fused_equals_unfused_on_random_config():
    cfg = dict(z_dim=16, w_dim=16, c_dim=3, img_resolution=16, img_channels=3, mapping_layers=2,
               channel_base=256, channel_max=32, architecture="resnet", conv_clamp=None)
    sd = ref.perturb(ref.official_init("G", seed=5, **cfg))
    rng = np.random.default_rng(0)
    z, c = rng.standard_normal((N, 16)), rng.standard_normal((N, 3))
    a = ref.generator(sd, z, c, fused=True, **cfg)
    b = ref.generator(sd, z, c, fused=False, **cfg)
    assert _err(a, b) <= 1e-9


# ============================================================================ 2. jaxgan vs reference

G_CASES = {
    "g8_skip_map1_uncond": dict(img_resolution=8, channel_base=256, channel_max=32, z_dim=16,
                                w_dim=16, mapping_layers=1, architecture="skip"),
    "g16_orig_c5_img1_clamp256": dict(img_resolution=16, channel_base=256, channel_max=32,
                                      z_dim=16, w_dim=16, c_dim=5, mapping_layers=2,
                                      architecture="orig", img_channels=1, conv_clamp=256),
    "g16_resnet_c3_map4_clamp0.5": dict(img_resolution=16, channel_base=256, channel_max=32,
                                        z_dim=16, w_dim=16, c_dim=3, mapping_layers=4,
                                        architecture="resnet", conv_clamp=0.5),
    "g16_skip_c4_embed8_layer24_clamp0.5": dict(img_resolution=16, channel_base=256,
                                                channel_max=32, z_dim=24, w_dim=16, c_dim=4,
                                                mapping_layers=2, embed_features=8,
                                                layer_features=24, architecture="skip",
                                                conv_clamp=0.5),
    "g8_resnet_img1_nonoise": dict(img_resolution=8, channel_base=256, channel_max=32, z_dim=16,
                                   w_dim=16, mapping_layers=2, architecture="resnet",
                                   img_channels=1, use_noise=False),
    "g8_orig_map4": dict(img_resolution=8, channel_base=256, channel_max=32, z_dim=32, w_dim=32,
                         mapping_layers=4, architecture="orig"),
    "g8_skip_z0_c5": dict(img_resolution=8, channel_base=256, channel_max=32, z_dim=0, w_dim=16,
                          c_dim=5, mapping_layers=2, architecture="skip"),
    "g64_skip_max16": dict(img_resolution=64, channel_base=1024, channel_max=16, z_dim=16,
                           w_dim=16, mapping_layers=2, architecture="skip", conv_clamp=256),
}

D_CASES = {
    "d8_resnet_mbstd2x1": dict(img_resolution=8, channel_base=256, channel_max=32,
                               architecture="resnet", mbstd_group_size=2, mbstd_num_channels=1),
    "d16_skip_c5_img1_mbstd4x2_clamp0.5": dict(img_resolution=16, channel_base=256,
                                               channel_max=32, architecture="skip", c_dim=5,
                                               img_channels=1, mbstd_group_size=4,
                                               mbstd_num_channels=2, mapping_layers=2,
                                               conv_clamp=0.5),
    "d16_orig_c3_cmap12_mbstdNone_clamp0.5": dict(img_resolution=16, channel_base=256,
                                                  channel_max=32, architecture="orig", c_dim=3,
                                                  cmap_dim=12, mbstd_group_size=None,
                                                  mbstd_num_channels=1, mapping_layers=2,
                                                  conv_clamp=0.5),
    "d16_resnet_c4_map8_clamp0.5_mbstd2x2": dict(img_resolution=16, channel_base=256,
                                                 channel_max=32, architecture="resnet", c_dim=4,
                                                 mbstd_group_size=2, mbstd_num_channels=2,
                                                 conv_clamp=0.5),
    "d8_skip_mbstdNone_x2_clamp256": dict(img_resolution=8, channel_base=256, channel_max=32,
                                          architecture="skip", mbstd_group_size=None,
                                          mbstd_num_channels=2, conv_clamp=256),
    "d8_orig_img1_no_mbstd": dict(img_resolution=8, channel_base=256, channel_max=32,
                                  architecture="orig", img_channels=1, mbstd_num_channels=0),
    # mbstd_group_size 8 > batch 4: the official layer clips it to the batch size.
    "d64_resnet_max16_mbstd8": dict(img_resolution=64, channel_base=1024, channel_max=16,
                                    architecture="resnet", mbstd_group_size=8,
                                    mbstd_num_channels=1, conv_clamp=256),
}


def _jax():
    import jax  # noqa: PLC0415
    import jax.numpy as jnp  # noqa: PLC0415
    from jaxgan import model  # noqa: PLC0415
    from jaxgan.convert import official  # noqa: PLC0415
    from jaxgan.nets.discriminator import Discriminator  # noqa: PLC0415
    from jaxgan.nets.generator import Generator  # noqa: PLC0415
    return jax, jnp, model, official, Generator, Discriminator


# Image variants per generator case. The small cases share array shapes, so op-by-op
# (eager) execution is cheapest for them; the 64x64 case is jitted per variant and runs
# fewer variants (its code paths are the 16x16 ones, repeated).
ALL_VARIANTS = [(m, f) for m in ("const", "none", "random") for f in (True, False)]
G_VARIANTS = {name: ALL_VARIANTS for name in G_CASES}
G_VARIANTS["g64_skip_max16"] = [("const", True), ("none", False)]
G_VARIANTS["g8_skip_z0_c5"] = [("const", True)]
G_JIT = {"g64_skip_max16"}


@functools.lru_cache(maxsize=None)
def _gcase(name):
    _, jnp, model, official, Generator, _ = _jax()
    cfg = dict(G_CASES[name])
    seed = sorted(G_CASES).index(name)
    state = ref.perturb(ref.official_init("G", seed=100 + seed, **cfg), seed=200 + seed)
    gcfg = official.infer_generator_config(state, conv_clamp=cfg.get("conv_clamp"))
    G = Generator(gcfg)
    v = official.state_dict_to_variables(state, model.variables_shape(G))
    rng = np.random.default_rng(300 + seed)
    z = rng.standard_normal((N, cfg["z_dim"])).astype(np.float32)
    c = rng.standard_normal((N, cfg["c_dim"])).astype(np.float32) if cfg.get("c_dim") else None
    return dict(name=name, cfg=cfg, state=state, G=G, v=v, z=z, c=c)


@pytest.mark.parametrize("name", sorted(G_CASES))
def test_inferred_generator_config_matches(name):
    g = _gcase(name)
    cfg, gc = g["cfg"], g["G"].cfg
    full = {**ref.G_DEFAULTS, **cfg}
    for k in ("img_resolution", "img_channels", "z_dim", "c_dim", "w_dim", "mapping_layers",
              "architecture", "use_noise", "conv_clamp"):
        assert getattr(gc, k) == full[k], f"{name}: inferred {k}={getattr(gc, k)!r}, official {full[k]!r}"
    assert gc.num_ws == ref.num_ws(cfg)
    for res in ref.g_block_resolutions(full):
        assert gc.channels(res) == ref.g_channels(full, res)


@pytest.mark.parametrize("psi,cutoff", [(1.0, None), (0.7, None), (0.7, 3), (0.5, 1)])
@pytest.mark.parametrize("name", sorted(G_CASES))
def test_mapping_matches_reference(name, psi, cutoff):
    _, jnp, model, *_ = _jax()
    g = _gcase(name)
    c = None if g["c"] is None else jnp.asarray(g["c"])
    ws = model.mapping(g["G"], g["v"], jnp.asarray(g["z"]), c, truncation_psi=psi,
                       truncation_cutoff=cutoff)
    want = ref.generator_mapping(g["state"], g["z"], g["c"], truncation_psi=psi,
                                 truncation_cutoff=cutoff, **g["cfg"])
    e = _err(ws, want)
    assert e <= TOL, f"{name}: ws (psi={psi}, cutoff={cutoff}) max abs error {e:.3g}"
    if psi != 1:   # the perturbed w_avg makes truncation (and its cutoff) visible
        plain = ref.generator_mapping(g["state"], g["z"], g["c"], **g["cfg"])
        assert _err(want, plain) > 100 * TOL
        if cutoff is not None:
            np.testing.assert_array_equal(want[:, cutoff:], plain[:, cutoff:])


def _noise_maps(cfg, seed):
    rng = np.random.default_rng(seed)
    maps = {}
    for res in ref.g_block_resolutions({**ref.G_DEFAULTS, **cfg}):
        for layer in (("conv1",) if res == 4 else ("conv0", "conv1")):
            maps[f"b{res}.{layer}"] = rng.standard_normal((N, res, res)).astype(np.float32)
    return maps


@pytest.mark.parametrize("name,noise_mode,fused", [
    pytest.param(name, m, f, id=f"{name}-{m}-{'fused' if f else 'unfused'}")
    for name in sorted(G_CASES) for m, f in G_VARIANTS[name]])
def test_images_match_reference(name, noise_mode, fused):
    jax, jnp, model, *_ = _jax()
    g = _gcase(name)
    cfg = g["cfg"]
    ws = ref.generator_mapping(g["state"], g["z"], g["c"], truncation_psi=0.7,
                               truncation_cutoff=3, **cfg).astype(np.float32)
    noise, rkw = None, {}
    if noise_mode == "random":   # explicit maps stand in for the official torch.randn draws
        maps = _noise_maps(cfg, 7)
        rkw["noise"] = maps
        noise = {}
        for k, m in maps.items():
            b, layer = k.split(".")
            noise.setdefault(b, {})[layer] = jnp.asarray(m)

    def run(v, ws, noise):
        return model.synthesize(g["G"], v, ws, noise_mode=noise_mode, fused=fused, noise=noise)

    img = (jax.jit(run) if name in G_JIT else run)(g["v"], jnp.asarray(ws), noise)
    want = ref.synthesis(g["state"], ws, noise_mode=noise_mode, fused=fused, **rkw, **cfg)
    e = _err(_nchw(img), want)
    assert e <= TOL, (f"{name}: images (noise_mode={noise_mode}, fused={fused}) "
                      f"max abs error {e:.3g} (|ref| max {np.abs(want).max():.3g})")
    # The comparison has teeth: the clamp and the noise actually change the images.
    if cfg.get("conv_clamp") is not None and cfg["conv_clamp"] < 1:
        unclamped = ref.synthesis(g["state"], ws, noise_mode=noise_mode, fused=fused, **rkw,
                                  **{**cfg, "conv_clamp": None})
        assert _err(want, unclamped) > 100 * TOL
    if noise_mode != "none" and cfg.get("use_noise", True):
        silent = ref.synthesis(g["state"], ws, noise_mode="none", fused=fused, **cfg)
        assert _err(want, silent) > 100 * TOL


@pytest.mark.parametrize("name", sorted(D_CASES))
def test_discriminator_matches_reference(name):
    jax, jnp, model, official, _, Discriminator = _jax()
    cfg = dict(D_CASES[name])
    seed = sorted(D_CASES).index(name)
    state = ref.perturb(ref.official_init("D", seed=400 + seed, **cfg), seed=500 + seed)
    full = {**ref.D_DEFAULTS, **cfg}
    dcfg = official.infer_discriminator_config(state, mbstd_group_size=full["mbstd_group_size"],
                                               conv_clamp=full["conv_clamp"])
    assert dcfg.architecture == full["architecture"], f"{name}: inferred architecture"
    assert dcfg.mbstd_num_channels == full["mbstd_num_channels"], f"{name}: inferred mbstd channels"
    assert dcfg.resolved_cmap_dim == ref.d_cmap_dim(full), f"{name}: inferred cmap_dim"
    assert dcfg.img_channels == full["img_channels"], f"{name}: inferred img_channels"
    D = Discriminator(dcfg)
    v = official.state_dict_to_variables(state, model.variables_shape(D))
    rng = np.random.default_rng(600 + seed)
    R, C = full["img_resolution"], full["img_channels"]
    # Per-sample scales make the minibatch-stddev grouping matter (official groups are
    # strided: sample n belongs to group n mod (N / G)).
    scales = np.array([0.25, 1.0, 2.0, 0.5], np.float32)[:, None, None, None]
    img = (rng.standard_normal((N, C, R, R)) * scales).astype(np.float32)
    c = rng.standard_normal((N, full["c_dim"])).astype(np.float32) if full["c_dim"] else None
    # One XLA compilation per configuration is cheaper than op-by-op dispatch here.
    logits = jax.jit(lambda v, x, c: model.discriminate(D, v, x, c))(
        v, jnp.asarray(img.transpose(0, 2, 3, 1)), None if c is None else jnp.asarray(c))
    want = ref.discriminator(state, img, c, **cfg)
    assert np.asarray(logits).shape == (N, 1)
    e = _err(logits, want)
    assert e <= TOL, (f"{name}: logits max abs error {e:.3g} "
                      f"(ref {want.ravel()}, jaxgan {np.asarray(logits).ravel()})")
    # Teeth: the mbstd grouping, the clamp and the label all change the logits.
    if full["mbstd_num_channels"]:
        g = N if full["mbstd_group_size"] is None else min(full["mbstd_group_size"], N)
        other = ref.discriminator(state, img, c, **{**cfg, "mbstd_group_size": 2 if g != 2 else N})
        assert _err(want, other) > 10 * TOL
    if full["conv_clamp"] is not None and full["conv_clamp"] < 1:
        assert _err(want, ref.discriminator(state, img, c, **{**cfg, "conv_clamp": None})) > 10 * TOL
    if c is not None:
        assert _err(want, ref.discriminator(state, img, c[::-1].copy(), **cfg)) > 10 * TOL
