"""Few-shot domain adaptation (jaxgan.domain) as a configuration of the trainer, on tiny nets:
masked training (frozen leaves bit-identical, optimiser state only for trained leaves),
parameter counts against analytic ones, the offset / low-rank parameterisations against
their definitions, mixing endpoints, checkpoint resume, the consistency term against NumPy
and the shapes target domains."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import model
from jaxgan.domain import params as P
from jaxgan.domain.losses import cdc_term
from jaxgan.domain.mix import (domain_generator, generator_fn, mix, morph_strip,
                               zeros_like_domain)

RES = 16


def _gen(G, g, z):
    return generator_fn(G)(g, z)


def _tiny_cfg(g_path, d_path, param, rank=2):
    from jaxgan.configs import tiny
    c = tiny.get_config()
    c.loss.pl_weight = 0.0
    c.optim.d_reg_interval = None             # Dboth: one D phase to compile
    c.domain = dict(param=param, rank=rank, layers="", init_from=str(g_path),
                    init_d_from=str(d_path), update_buffers=False, seed=0,
                    consistency=dict(weight=1.0, kind="cdc", layers=("b8.conv1",),
                                     temperature=1.0, batch=4))
    return c


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A tiny source G/D saved as checkpoints (the run's ``init_from``)."""
    from jaxgan.configs import tiny
    from jaxgan.checkpoint import save_network
    from jaxgan.training.loop import build_run
    c = tiny.get_config()
    defs, state = build_run(c, dict(resolution=RES, channels=3, num_classes=0))
    d = tmp_path_factory.mktemp("src")
    # Non-trivial G: perturb the params so that offsets/ranks act on a generic network.
    g = jax.tree.map(lambda x: x + 0.1 * jax.random.normal(jax.random.key(3), x.shape, x.dtype),
                     state.g["params"])
    save_network(d / "G", defs.G, {**state.g, "params": g})
    save_network(d / "D", defs.D, state.d)
    return d / "G", d / "D", defs.G, {**state.g, "params": g}


def _build(source, param):
    from jaxgan.training.loop import build_run
    g_path, d_path, _, _ = source
    return build_run(_tiny_cfg(g_path, d_path, param), dict(resolution=RES, channels=3,
                                                              num_classes=0))


def _batch(n=4, seed=0):
    x = jax.random.uniform(jax.random.key(seed), (n, RES, RES, 3), minval=-1, maxval=1)
    return {"image": x, "c": jnp.zeros((n, 0))}


def _run_steps(defs, state, steps, fns=None):
    from jaxgan.training.step import make_step_fns, train_step
    fns = fns or make_step_fns(defs)
    key = jax.random.key(5)
    for s in range(steps):
        state, _ = train_step(fns, defs, state, _batch(seed=s), key, s)
    return state, fns


def _layer_channels(cfg):
    """Analytic ``[(block, layer, in_channels)]`` of the tiny G's style layers."""
    out = []
    for res in cfg.block_resolutions:
        if res > 4:
            out.append((f"b{res}", "conv0", cfg.channels(res // 2)))
        out.append((f"b{res}", "conv1", cfg.channels(res)))
        out.append((f"b{res}", "torgb", cfg.channels(res)))
    return out


@pytest.fixture(scope="module")
def trained(source):
    """An AffineLight+ run (both masked G leaves and extra domain leaves) after 2 steps; the
    jitted phases are shared by the tests below (one compilation)."""
    defs, s0 = _build(source, "affine_light_plus")
    host0 = jax.device_get(s0)
    s2, fns = _run_steps(defs, jax.tree.map(jnp.array, s0), 2)
    return defs, host0, s2, fns


def test_only_masked_leaves_change_and_opt_state_only_for_them(trained):
    defs, host0, s1, _ = trained
    (ext,) = defs.extensions
    mask = ext.mask
    moved = jax.tree.map(lambda a, b: not np.array_equal(np.asarray(a), np.asarray(b)),
                         {"g": host0.g["params"], "dom": host0.ext["dom"]},
                         {"g": s1.g["params"], "dom": s1.ext["dom"]})
    flat_m, flat_mv = jax.tree.leaves(mask), jax.tree.leaves(moved)
    assert sum(flat_m) < len(flat_m) and sum(jax.tree.leaves(mask["dom"])) > 0
    # Frozen leaves bit-identical; the trained leaves moved.
    assert not any(mv for m, mv in zip(flat_m, flat_mv) if not m)
    assert sum(mv for m, mv in zip(flat_m, flat_mv) if m) == sum(flat_m)
    for a, b in zip(jax.tree.leaves(host0.g["buffers"]), jax.tree.leaves(s1.g["buffers"])):
        assert np.array_equal(a, b)                      # source w_avg kept
    # Optimiser moments exist only for trained leaves: float state = mu + nu = 2 x trained.
    opt_size = sum(int(np.size(x)) for x in jax.tree.leaves(s1.g_opt)
                   if jnp.issubdtype(jnp.asarray(x).dtype, jnp.floating))
    assert opt_size == 2 * ext.num_trained
    assert ext.num_trained == P.count_trained_params(
        {"g": host0.g["params"], "dom": host0.ext["dom"]}, mask)
    # Frozen source kept for the consistency term; D was fine-tuned; dom EMA moved.
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(host0.g),
                                                    jax.tree.leaves(s1.frozen["g_src"])))
    assert any(not np.array_equal(a, b) for a, b in zip(jax.tree.leaves(host0.d),
                                                        jax.tree.leaves(s1.d)))
    assert any(not np.array_equal(a, b) for a, b in zip(jax.tree.leaves(host0.ext["dom_ema"]),
                                                        jax.tree.leaves(s1.ext["dom_ema"])))


def test_param_counts_are_analytic(source):
    _, _, G, g = source
    cfg = G.cfg
    layers = _layer_channels(cfg)
    w, rank = cfg.w_dim, 3
    n_offset = sum(c for _, _, c in layers)
    n_affine = sum(w * c + c for _, _, c in layers)
    n_torgb_conv = sum(c * cfg.img_channels + cfg.img_channels for _, l, c in layers if l == "torgb")
    n_light = sum(rank * (w + c) for _, _, c in layers) + n_torgb_conv
    n_full = sum(int(np.prod(np.shape(x))) for x in jax.tree.leaves(g["params"]))
    want = {"offset": n_offset, "affine_plus": n_affine + n_torgb_conv,
            "affine_light_plus": n_light, "full": n_full}
    for param, n in want.items():
        dom = P.init_domain_params(g["params"], param, rank=rank, key=jax.random.key(0))
        mask = P.trainable_mask(g["params"], dom, param)
        assert P.count_trained_params({"g": g["params"], "dom": dom}, mask) == n, param
    assert want["offset"] < want["affine_light_plus"] < want["affine_plus"] < want["full"]
    # Layer selection: one block's offset = its layers' channels only.
    dom = P.init_domain_params(g["params"], "offset", layers=("b8",))
    mask = P.trainable_mask(g["params"], dom, "offset", ("b8",))
    assert P.count_trained_params({"g": g["params"], "dom": dom}, mask) == sum(
        c for b, _, c in layers if b == "b8")
    # Per-parameterisation layers (the preset's ToRGB-only offset): only the offset is limited.
    from jaxgan.domain.setup import layer_option
    opt = {"offset": "b4.torgb, b8.torgb"}
    assert layer_option(opt, "offset") == ("b4.torgb", "b8.torgb")
    assert layer_option(opt, "full") == () and layer_option("b8", "full") == ("b8",)
    dom = P.init_domain_params(g["params"], "offset", layers=layer_option(opt, "offset"))
    mask = P.trainable_mask(g["params"], dom, "offset", layer_option(opt, "offset"))
    assert P.count_trained_params({"g": g["params"], "dom": dom}, mask) == sum(
        c for b, l_, c in layers if l_ == "torgb" and b in ("b4", "b8"))
    with pytest.raises(ValueError, match="matches no style layer"):
        P.select_layers(g["params"], ("b64",))
    with pytest.raises(ValueError, match="domain.param"):
        P.init_domain_params(g["params"], "lora")


def test_zero_offset_is_source_and_offset_equals_style_shift(source):
    _, _, G, g = source
    z = jax.random.normal(jax.random.key(1), (3, G.cfg.z_dim))
    ref = _gen(G, g, z)
    dom = P.init_domain_params(g["params"], "offset")
    same = _gen(G, {**g, "params": P.effective_params(g["params"], dom)}, z)
    assert np.array_equal(np.asarray(ref), np.asarray(same))
    # A non-zero offset = the same shift of the StyleSpace styles (independent path).
    dom = jax.tree.map(lambda x: 0.3 * jax.random.normal(jax.random.key(4), x.shape), dom)
    ws = model.mapping(G, g, z)
    via_params = jax.jit(lambda v, w: model.synthesize(G, v, w))(
        {**g, "params": P.effective_params(g["params"], dom)}, ws)
    via_styles = jax.jit(lambda v, w, d: model.synthesize(
        G, v, styles=P.offset_styles(model.styles(G, v, w), d)))(g, ws, dom)
    np.testing.assert_allclose(via_params, via_styles, atol=1e-5)
    assert float(jnp.max(jnp.abs(via_params - ref))) > 1e-2


def test_low_rank_matches_dense_update(source):
    _, _, G, g = source
    rank = 2
    dom = P.init_domain_params(g["params"], "affine_light_plus", rank=rank, key=jax.random.key(2))
    dom = jax.tree.map(lambda x: x + 0.2 * jax.random.normal(jax.random.key(6), x.shape), dom)
    # Dense reference in NumPy: W + down @ up written into a copy of the params.
    dense = jax.tree.map(np.array, g["params"])
    for b, layers in dom["lowrank"].items():
        for l, f in layers.items():
            d, u = np.asarray(f["down"]), np.asarray(f["up"])
            assert d.shape[1] == u.shape[0] == rank
            assert np.linalg.matrix_rank(d @ u) == rank
            dense["synthesis"][b][l]["affine"]["weight"] += d @ u
    z = jax.random.normal(jax.random.key(1), (3, G.cfg.z_dim))
    a = _gen(G, {**g, "params": P.effective_params(g["params"], dom)}, z)
    b = _gen(G, {**g, "params": dense}, z)
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_mix_and_morph_endpoints(source):
    _, _, G, g = source
    d0 = P.init_domain_params(g["params"], "offset")
    d1 = jax.tree.map(lambda x: jax.random.normal(jax.random.key(8), x.shape), d0)
    d2 = jax.tree.map(lambda x: jax.random.normal(jax.random.key(9), x.shape), d0)
    for t, want in ((0.0, d1), (1.0, d2)):
        for a, b in zip(jax.tree.leaves(mix(d1, d2, t)), jax.tree.leaves(want)):
            assert np.array_equal(np.asarray(a), np.asarray(b))
    for a, b, c in zip(jax.tree.leaves(mix(d1, d2, 0.25)), jax.tree.leaves(d1), jax.tree.leaves(d2)):
        np.testing.assert_allclose(a, 0.75 * np.asarray(b) + 0.25 * np.asarray(c), rtol=1e-6)
    z = jax.random.normal(jax.random.key(1), (2, G.cfg.z_dim))
    strip = morph_strip(G, g, z, [0.0, 0.5, 1.0], dom=d2)          # [2, 3, R, R, C]
    np.testing.assert_array_equal(strip[:, 0], _gen(G, g, z))
    tgt = _gen(G, {**g, "params": P.effective_params(g["params"], d2)}, z)
    np.testing.assert_array_equal(strip[:, -1], tgt)
    g2 = domain_generator(g, dom=d2)                                   # params-space morph too
    strip2 = morph_strip(G, g, z, [0.0, 1.0], g_adapted=g2)
    np.testing.assert_array_equal(strip2[:, 0], strip[:, 0])
    np.testing.assert_array_equal(strip2[:, 1], tgt)
    assert all(float(jnp.max(jnp.abs(x))) == 0 for x in jax.tree.leaves(zeros_like_domain(d1)))
    with pytest.raises(ValueError, match="different structures"):
        mix(d1, {"offset": {}}, 0.5)


def test_checkpoint_resume_of_a_domain_run(source, trained, tmp_path):
    from jaxgan.training.run_checkpoint import TrainCheckpointer, abstract_like
    from jaxgan.training.step import train_step
    defs, _, s2, fns = trained
    s2 = jax.device_get(s2)
    ck = TrainCheckpointer(tmp_path / "ck")
    ck.save(2, s2, {}, {"step": 2})
    assert not (tmp_path / "ck" / "2" / "state" / "frozen").exists()   # source G not stored
    fresh = _build(source, "affine_light_plus")[1]      # what a restarted run builds
    restored, _, meta = ck.restore(2, abstract_like(fresh), unsaved=fresh)
    ck.close()
    assert meta["step"] == 2 and restored.ext["dom"] is not None and restored.frozen is not None
    for a, b in zip(jax.tree.leaves(s2), jax.tree.leaves(restored)):
        assert np.array_equal(np.asarray(a), np.asarray(b))
    # Continue both: identical (the frozen source comes from init_from, not the checkpoint).
    cont = [jax.device_get(train_step(fns, defs, jax.tree.map(jnp.array, s), _batch(seed=2),
                                      jax.random.key(5), 2)[0]) for s in (s2, restored)]
    for a, b in zip(jax.tree.leaves(cont[0]), jax.tree.leaves(cont[1])):
        assert np.array_equal(np.asarray(a), np.asarray(b))
    assert int(cont[0].step) == 3


def test_cdc_term_against_numpy():
    rng = np.random.default_rng(0)
    fs, ft = rng.normal(size=(5, 3, 3, 4)), rng.normal(size=(5, 3, 3, 4))

    def probs(f):
        f = f.reshape(5, -1)
        f = f / np.linalg.norm(f, axis=1, keepdims=True)
        s = f @ f.T / 0.5
        out = np.zeros_like(s)
        for i in range(5):
            others = [j for j in range(5) if j != i]
            e = np.exp(s[i, others] - s[i, others].max())
            out[i, others] = e / e.sum()
        return out
    ps, pt = probs(fs), probs(ft)
    off = ~np.eye(5, dtype=bool)
    want = np.sum(ps[off] * (np.log(ps[off]) - np.log(pt[off]))) / 5
    got = float(cdc_term(jnp.asarray(fs), jnp.asarray(ft), 0.5))
    np.testing.assert_allclose(got, want, rtol=1e-4)
    assert abs(float(cdc_term(jnp.asarray(fs), jnp.asarray(fs * 3.0)))) < 1e-6   # scale-free


def test_shapes_domains_keep_layout():
    from jaxgan.data.shapes import DOMAINS, render_domain, render_shapes
    src = render_shapes(6, 16, 3)
    for d in DOMAINS:
        t = render_domain(6, 16, 3, domain=d)
        for m in ("mask_object", "mask_sun", "mask_ground"):
            assert np.array_equal(src[m], t[m]), (d, m)
        assert np.mean(np.abs(t["image"].astype(float) - src["image"])) > 20, d
    inv = render_domain(6, 16, 3, domain="inverted")["image"]
    np.testing.assert_array_equal(inv, 255 - src["image"])
    with pytest.raises(ValueError, match="unknown shapes domain"):
        render_domain(2, 16, 0, domain="sepia")
