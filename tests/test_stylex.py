"""StylEx pieces on tiny networks: the classifier-conditioned generator, the encoder-path
losses against NumPy, AttFind against a naive per-image loop, the greedy selection against a
brute-force re-implementation, and the two-class merge."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import model
from jaxgan.checkpoint import load_network, save_network
from jaxgan.nets.configs import GeneratorConfig
from jaxgan.stylex import attfind as af
from jaxgan.stylex.losses import kl_divergence

CFG = GeneratorConfig(img_resolution=8, z_dim=8, w_dim=8, mapping_layers=1, channel_base=64,
                      channel_max=8, style_cond_dim=2)


@pytest.fixture(scope="module")
def tiny_g():
    return model.init_generator(CFG, jax.random.key(0))


def _lin_classifier(seed=1, k=2, res=8):
    m = np.asarray(jax.random.normal(jax.random.key(seed), (res * res * 3, k))) / 8
    return (lambda x: jnp.reshape(x, (x.shape[0], -1)) @ m), m


def test_conditioned_generator_shapes_and_logits_matter(tiny_g, tmp_path):
    G, g = tiny_g
    aff = g["params"]["synthesis"]["b4"]["conv1"]["affine"]["weight"]
    assert aff.shape == (CFG.w_dim + 2, 8)                       # affines read [w, logits]
    z = jax.random.normal(jax.random.key(1), (3, CFG.z_dim))
    ws = model.mapping(G, g, z)
    assert ws.shape == (3, CFG.num_ws, CFG.w_dim)                # mapping still outputs w_dim
    cws = model.condition_ws(ws, jnp.array([[1.0, -1.0]] * 3))
    assert cws.shape == (3, CFG.num_ws, CFG.w_dim + 2)
    np.testing.assert_array_equal(np.asarray(cws[:, 2, -2:]), [[1, -1]] * 3)   # tiled over layers
    a = model.synthesize(G, g, cws)
    b = model.synthesize(G, g, model.condition_ws(ws, jnp.array([[-3.0, 3.0]] * 3)))
    assert a.shape == (3, 8, 8, 3)
    assert float(jnp.max(jnp.abs(a - b))) > 1e-3                 # the logits change the image
    with pytest.raises(ValueError, match="ws must be"):
        model.synthesize(G, g, ws)                               # unconditioned ws: clear error
    # The checkpoint round-trips the new field.
    save_network(tmp_path / "G", G, g)
    G2, g2 = load_network(tmp_path / "G")
    assert G2.cfg.style_cond_dim == 2
    np.testing.assert_allclose(np.asarray(model.synthesize(G2, g2, cws)), np.asarray(a), atol=1e-6)
    with pytest.raises(ValueError, match="style_cond_dim"):
        GeneratorConfig(style_cond_dim=-1)


def test_kl_divergence_matches_numpy():
    rng = np.random.default_rng(0)
    p, q = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    pp = np.exp(p) / np.exp(p).sum(1, keepdims=True)
    qq = np.exp(q) / np.exp(q).sum(1, keepdims=True)
    want = np.sum(pp * np.log(pp / qq), axis=1)
    np.testing.assert_allclose(np.asarray(kl_divergence(jnp.asarray(p), jnp.asarray(q))), want,
                               rtol=1e-5)
    np.testing.assert_allclose(np.asarray(kl_divergence(jnp.asarray(p), jnp.asarray(p))), 0, atol=1e-6)


def _setup(tiny_g, n=3):
    G, g = tiny_g
    clf, _ = _lin_classifier()
    z = jax.random.normal(jax.random.key(2), (n, CFG.z_dim))
    ws = model.condition_ws(model.mapping(G, g, z), jnp.zeros((n, 2)))
    st = model.styles(G, g, ws)
    layout = af.style_layout(st)
    m = af.make_attfind_model(G, g, clf, layout)
    return G, g, clf, st, layout, m


def test_layout_roundtrip(tiny_g):
    _, _, _, st, layout, _ = _setup(tiny_g)
    assert layout.size == sum(v.shape[-1] for b in st.values() for v in b.values())
    flat = af.flatten_styles(st, layout)
    back = af.unflatten_styles(flat, layout)
    jax.tree.map(lambda a, b: np.testing.assert_array_equal(np.asarray(a), np.asarray(b)), st, back)
    b, l, c = layout.locate(layout.size - 1)
    assert layout.name(layout.size - 1) == f"{b}.{l}[{c}]"


def test_attfind_effects_match_naive_per_image_loop(tiny_g):
    G, g, clf, st, layout, m = _setup(tiny_g)
    flat = np.asarray(af.flatten_styles(st, layout))
    # Dataset extremes from a wider set, so targets differ from every image's value.
    z = jax.random.normal(jax.random.key(5), (16, CFG.z_dim))
    wide = af.flatten_styles(model.styles(G, g, model.condition_ws(model.mapping(G, g, z),
                                                                   jnp.zeros((16, 2)))), layout)
    smin, smax = af.style_min_max(wide)
    shift = 1.5
    eff = af.attfind_effects(m, flat, smin=smin, smax=smax, shift=shift, chunk=64, progress=False)
    assert eff.shape == (3, 2, layout.size, 2)

    # Independent naive reference: edit the styles *pytree*, one image at a time.
    render1 = jax.jit(lambda s: jax.nn.softmax(clf(model.synthesize(G, g, styles=s)), -1)[0])
    one = lambda s, i: jax.tree.map(lambda v: v[i:i + 1], s)      # noqa: E731
    want = np.zeros_like(eff)
    for i in range(3):
        base = render1(one(st, i))
        for j in range(layout.size):
            b, l, c = layout.locate(j)
            for d, t in ((0, smin[j]), (1, smax[j])):
                s1 = one(st, i)
                v = s1[b][l]
                s1 = {**s1, b: {**s1[b], l: v.at[0, c].set(v[0, c] + shift * (t - v[0, c]))}}
                want[i, d, j] = np.asarray(render1(s1) - base)
    np.testing.assert_allclose(eff, want, atol=2e-5)
    assert np.abs(want).max() > 1e-3                                  # effects are not all zero
    loop = af.attfind_effects_loop(m, flat, smin=smin, smax=smax, shift=shift)
    np.testing.assert_allclose(loop, want, atol=2e-5)
    # Logit measure and a coordinate subset agree with the full tensor's slices.
    sub = af.attfind_effects(m, flat, smin=smin, smax=smax, shift=shift, coords=[3, 7],
                             measure="logit", chunk=8, progress=False)
    full_l = af.attfind_effects(m, flat, smin=smin, smax=smax, shift=shift, measure="logit",
                                chunk=100, progress=False)
    np.testing.assert_allclose(sub, full_l[:, :, [3, 7]], atol=1e-5)
    with pytest.raises(ValueError, match="NaN"):
        af.attfind_effects(m, flat * np.nan, progress=False)
    with pytest.raises(ValueError, match="must be"):
        af.attfind_effects(m, flat[:, :5], progress=False)


def test_attfind_effects_in_bounded_blocks_equal_the_loop(tiny_g):
    """The default (1-device mesh) path with N = 7 images and ``chunk`` smaller than N:
    image blocks of 3 (3 blocks, the last padded: 7 is no multiple of 3), one edit per call,
    so every kernel call renders at most ``chunk`` images; the result equals the
    per-coordinate loop. A chunk above N batches edits instead (all 7 images x 4 edits)."""
    from jaxgan.sharding import one_device_mesh
    _, _, _, st, layout, m = _setup(tiny_g, n=7)
    flat = np.asarray(af.flatten_styles(st, layout))
    smin, smax = af.style_min_max(flat)
    np.testing.assert_array_equal(smin, flat.min(0))
    np.testing.assert_array_equal(smax, flat.max(0))
    coords = [0, 5, 9]
    loop = af.attfind_effects_loop(m, flat, smin=smin, smax=smax, shift=1.5, coords=coords)
    kernel = af.make_effect_fn(m, smin, smax, 1.5, "prob")
    for chunk, want_rows, want_calls in ((3, (3, 1), 3 * 6), (30, (7, 4), 2)):
        calls = []

        def counting(fl, base, d_idx, j_idx):
            calls.append((fl.shape[0], d_idx.shape[0]))
            return kernel(fl, base, d_idx, j_idx)
        eff = af.attfind_effects(m, flat, smin=smin, smax=smax, shift=1.5, coords=coords,
                                 chunk=chunk, effect_fn=counting, progress=False)
        assert set(calls) == {want_rows} and len(calls) == want_calls
        assert all(a * b <= chunk for a, b in calls)
        np.testing.assert_allclose(eff, loop, atol=2e-5)
    assert af.effect_blocks(7, 6, 3, one_device_mesh()) == (3, 1)
    assert af.effect_blocks(1000, 6, 512, one_device_mesh()) == (500, 1)   # even blocks
    # The deprecated spellings still work and say so.
    with pytest.warns(DeprecationWarning):
        old = af.make_sharded_effect_fn(m, smin, smax, 1.5, "prob", one_device_mesh())
    with pytest.warns(DeprecationWarning):
        eff = af.attfind_effects(m, flat, smin=smin, smax=smax, shift=1.5, coords=coords,
                                 chunk=5, effect_fn=old, progress=False,
                                 sharding=jax.sharding.NamedSharding(one_device_mesh(),
                                                                    jax.sharding.PartitionSpec()))
    np.testing.assert_allclose(eff, loop, atol=2e-5)


def _brute_select(effect, labels, k, num, cap):
    """Direct transcription of the notebook's loop (independent of the library's)."""
    x = effect[np.asarray(labels) != k][..., k]
    x = np.maximum(0, x.reshape(x.shape[0], -1)).copy()
    img = np.zeros(x.shape[0])
    res = []
    for _ in range(num):
        nxt = int(np.argmax(np.mean(x[img < cap], axis=0)))
        res.append(divmod(nxt, effect.shape[2]))
        img += x[:, nxt]
        x[:, nxt] = 0
    return res


def test_greedy_selection_matches_brute_force_and_respects_cap():
    rng = np.random.default_rng(3)
    eff = rng.normal(scale=0.1, size=(40, 2, 30, 2))
    labels = rng.integers(0, 2, 40)
    for k in (0, 1):
        got = af.find_significant_styles(eff, labels, k, num_indices=6, max_image_effect=0.2)
        assert [(d, j) for d, j, _ in got] == _brute_select(eff, labels, k, 6, 0.2)
    # Planted: 9 (toward min) helps every class-0 image a little, 5 (toward max) half of them a
    # lot, 3 the same half even more, 2 the other half. With the cap the third pick covers the
    # images still below it (2); without a cap the larger mean (3) wins.
    eff = np.zeros((20, 2, 12, 2))
    labels = np.zeros(20, int)
    eff[:, 0, 9, 1] = 0.3
    eff[:10, 1, 5, 1] = 0.5
    eff[:10, 1, 3, 1] = 0.4
    eff[10:, 1, 2, 1] = 0.35
    picks = lambda cap: [(d, j) for d, j, _ in af.find_significant_styles(  # noqa: E731
        eff, labels, 1, num_indices=3, max_image_effect=cap)]
    assert picks(0.4) == [(0, 9), (1, 5), (1, 2)]
    assert picks(np.inf) == [(0, 9), (1, 5), (1, 3)]
    assert picks(0.2) == [(0, 9)]                        # every image reached the cap at once
    rej = af.find_significant_styles(eff, labels, 1, num_indices=2, reject=lambda d, j: j == 9)
    assert all(j != 9 for _, j, _ in rej)


def test_merge_two_class():
    m = af.merge_two_class([(1, 4, 0.3), (0, 2, 0.2)], [(0, 4, 0.5), (1, 7, 0.1)])
    assert [(d, j) for d, j, _ in m[0]] == [(1, 4), (0, 2), (0, 7)]
    assert [(d, j) for d, j, _ in m[1]] == [(0, 4), (1, 7), (1, 2)]


def test_sefa_directions_are_eigenvectors_of_normalised_style_weights(tiny_g):
    from jaxgan.stylex.eigenfind import sefa_directions, style_weights
    _, g = tiny_g
    dirs, vals = sefa_directions(g["params"], CFG.w_dim, 4)
    a = style_weights(g["params"], CFG.w_dim)
    assert a.shape[1] == CFG.w_dim                       # logit rows of the affines excluded
    a = a / np.linalg.norm(a, axis=0, keepdims=True)
    # Independent reference: right singular vectors of A, singular values squared.
    _, sv, vt = np.linalg.svd(a, full_matrices=False)
    np.testing.assert_allclose(vals, sv[:4] ** 2, rtol=1e-5)
    for i in range(4):
        assert abs(abs(float(np.dot(dirs[i], vt[i]))) - 1) < 1e-4


def test_eigen_effects_match_direct_loop(tiny_g):
    from jaxgan.stylex.eigenfind import eigen_effects
    G, g = tiny_g
    clf, _ = _lin_classifier()
    ws = model.mapping(G, g, jax.random.normal(jax.random.key(4), (3, CFG.z_dim)))
    cond = jnp.array([[0.5, -0.5], [1.0, 0.0], [0.0, 2.0]])
    dirs = np.eye(CFG.w_dim, dtype=np.float32)[:2]
    eff, base = eigen_effects(G, g, clf, ws, cond, dirs, 2.0, measure="logit", chunk=5)
    for i in range(3):
        for s, sign in ((0, -2.0), (1, 2.0)):
            for d in range(2):
                w = ws[i:i + 1] + sign * dirs[d]
                out = clf(model.synthesize(G, g, model.condition_ws(w, cond[i:i + 1])))[0]
                np.testing.assert_allclose(eff[i, s, d], np.asarray(out) - base[i], atol=1e-4)


def test_latent_and_pixel_attacks_flip_with_penalised_change(tiny_g):
    from jaxgan.stylex.attack import latent_attack, pixel_attack
    G, g = tiny_g
    clf, _ = _lin_classifier()
    _, _, _, st, layout, m = _setup(tiny_g, n=4)
    flat = af.flatten_styles(st, layout)
    y = np.argmax(np.asarray(clf(m.render(flat))), -1)
    target = jnp.asarray(1 - y)
    d_small, lg_small, hist = latent_attack(m.render, clf, flat, target, steps=60, lr=0.05, l2=0.01)
    assert np.all(np.argmax(np.asarray(lg_small), -1) == np.asarray(target))
    assert hist.shape == (60,) and np.isfinite(np.asarray(hist)).all()
    d_big, _, _ = latent_attack(m.render, clf, flat, target, steps=60, lr=0.05, l2=1.0)
    assert float(jnp.sum(d_big ** 2)) < float(jnp.sum(d_small ** 2))     # L2 penalty shrinks δ
    x = m.render(flat)
    adv, lg, _ = pixel_attack(clf, x, target, steps=60, lr=0.01, l2=0.01)
    assert np.all(np.argmax(np.asarray(lg), -1) == np.asarray(target))
    assert float(jnp.max(jnp.abs(adv))) <= 1.0
    with pytest.raises(ValueError, match="target"):
        latent_attack(m.render, clf, flat, target[:2])


def test_linear_screen_matches_small_shift_effects(tiny_g):
    _, _, _, st, layout, m = _setup(tiny_g, n=3)
    flat = np.asarray(af.flatten_styles(st, layout))
    smin, smax = flat.min(0) - 1.0, flat.max(0) + 1.0
    shift = 1e-3
    coords, score = af.linear_screen(m, flat, smin, smax, shift, measure="logit", num=5, batch=2)
    exact = af.attfind_effects(m, flat, smin=smin, smax=smax, shift=shift, measure="logit",
                               progress=False)                               # [N, 2, S, K]
    want = np.abs(exact).sum(0).max(axis=(0, 2)) / flat.shape[0]              # [S]
    np.testing.assert_allclose(score, want, rtol=0.05, atol=1e-6)
    assert set(coords) == set(np.argsort(-want)[:5])


def test_attfind_layers_restrict_the_search_to_named_style_vectors(tiny_g, tmp_path):
    """``layers``: only the named style vectors are searched. The selected coordinates are
    exactly those whose name carries the layer (checked against ``layout.name``), their
    effects equal the full run's, and the ranking equals the greedy selection over the full
    effect tensor with the other coordinates removed."""
    from types import SimpleNamespace
    from jaxgan.stylex import pipeline
    G, g, clf, st, layout, m = _setup(tiny_g, n=6)
    flat = np.asarray(af.flatten_styles(st, layout))
    cond = np.asarray(clf(m.render(jnp.asarray(flat))))
    sx = SimpleNamespace(G=G, g=g, logits=clf, D=None)
    enc = {"styles": flat, "cond_logits": cond, "layout": layout}
    conv = af.layer_coords(layout, ["conv0", "conv1"])
    named = np.array([".torgb[" not in layout.name(j) for j in range(layout.size)])
    np.testing.assert_array_equal(conv, np.nonzero(named)[0])
    b8 = af.layer_coords(layout, ["b8.conv1"])
    assert b8.size and all(layout.name(j).startswith("b8.conv1[") for j in b8)
    with pytest.raises(ValueError, match=r"\['conv2'\] match no style vector"):
        af.layer_coords(layout, ["conv2"])
    kw = dict(shift=1.5, num_indices=3, chunk=24, progress=False)
    full = pipeline.run_attfind(sx, enc, **kw)
    part = pipeline.run_attfind(sx, enc, layers=["conv0", "conv1"], **kw)
    np.testing.assert_allclose(part["effects"][:, :, conv], full["effects"][:, :, conv], atol=1e-6)
    assert not part["effects"][:, :, ~named].any()
    assert np.abs(full["effects"][:, :, ~named]).max() > 1e-4     # ToRGB did matter
    masked = np.array(full["effects"])
    masked[:, :, ~named] = 0
    for c in (0, 1):
        want = af.find_significant_styles(masked, full["labels"], c, 3, 0.2)
        assert [(d, j) for d, j, _ in part["per_class"][c]] == [(d, j) for d, j, _ in want]
        assert all(named[j] for _, j, _ in part["ranking"][c])
    # With the first-order screen, only candidates of those layers are kept.
    coords, score = af.linear_screen(m, flat, part["smin"], part["smax"], 1.5, num=5, among=conv)
    assert set(coords) <= set(conv) and len(coords) == 5
    assert set(coords) == set(conv[np.argsort(-score[conv])[:5]])
    # The layers travel with the saved result and its JSON summary.
    pipeline.save_attfind(tmp_path / "a.npz", part)
    back = pipeline.load_attfind(tmp_path / "a.npz")
    assert back["layers"] == ["conv0", "conv1"]
    assert pipeline.attfind_json(back, layout)["layers"] == ["conv0", "conv1"]


def test_explain_cli_parses_and_reports_bad_checkpoint(tmp_path, capsys):
    from jaxgan.cli import build_parser, main
    p = build_parser()
    a = p.parse_args(["explain", "report", "--ckpt", "x", "--out", "y", "--k", "3",
                      "--prefilter", "32", "--layers", "conv0,conv1"])
    assert (a.explain_cmd, a.k, a.prefilter, a.shift, a.measure) == ("report", 3, 32, 2.0, "prob")
    assert a.layers == "conv0,conv1"
    a = p.parse_args(["explain", "train", "--out", "o", "run.total_kimg=1"])
    assert a.config == "stylex_shapes" and a.overrides == ["run.total_kimg=1"]
    # A directory that is not a StylEx export: one clear line, exit code 2.
    assert main(["explain", "attfind", "--ckpt", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "not a StylEx export" in capsys.readouterr().err


def test_generate_handles_the_style_condition(tiny_g):
    G, g = tiny_g
    z = jax.random.normal(jax.random.key(1), (2, CFG.z_dim))
    ws = model.mapping(G, g, z)
    sc = jnp.array([[1.0, 2.0], [0.0, -1.0]])
    np.testing.assert_allclose(np.asarray(model.generate(G, g, z, style_cond=sc)),
                               np.asarray(model.synthesize(G, g, model.condition_ws(ws, sc))),
                               atol=1e-6)
    np.testing.assert_allclose(np.asarray(model.generate(G, g, z)),        # zeros by default
                               np.asarray(model.synthesize(G, g, model.condition_ws(
                                   ws, jnp.zeros((2, 2))))), atol=1e-6)


def test_transplant_pretrained_into_conditioned_generator(tiny_g):
    from jaxgan.stylex.explainer import transplant
    G, g = tiny_g
    plain_cfg = CFG.replace(style_cond_dim=0)
    Gp, gp = model.init_generator(plain_cfg, jax.random.key(9))
    new = transplant(g["params"], gp["params"])
    a_new = new["synthesis"]["b8"]["conv1"]["affine"]["weight"]
    a_src = gp["params"]["synthesis"]["b8"]["conv1"]["affine"]["weight"]
    np.testing.assert_allclose(np.asarray(a_new[:CFG.w_dim]),                 # equalised-lr gain
                               np.asarray(a_src) * np.sqrt((CFG.w_dim + 2) / CFG.w_dim), rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(a_new[CFG.w_dim:]), 0)           # logit rows zero
    # With zero logit rows the conditioned G renders exactly what the pretrained one does.
    z = jax.random.normal(jax.random.key(1), (2, CFG.z_dim))
    gv = {"params": new, "buffers": transplant(g["buffers"], gp["buffers"])}
    np.testing.assert_allclose(np.asarray(model.generate(G, gv, z, style_cond=jnp.ones((2, 2)))),
                               np.asarray(model.generate(Gp, gp, z)), atol=1e-5)
    with pytest.raises(ValueError, match="transplant"):
        transplant({"x": jnp.zeros((2, 3))}, {"x": jnp.zeros((2, 4))})


def test_init_encoder_from_a_trained_encoder(tmp_path):
    """``stylex.init_e_from``: the encoder starts as the saved one (equal outputs); a saved
    encoder of other widths or a missing path is a clear error."""
    from jaxgan.checkpoint import save_network
    from jaxgan.nets.configs import EncoderConfig
    from jaxgan.stylex.explainer import _init_encoder_from
    cfg = EncoderConfig(img_resolution=16, img_channels=3, w_dim=8, num_ws=6, channel_base=256,
                        channel_max=16)
    E, fresh = model.init_encoder(cfg, jax.random.key(0))
    _, saved = model.init_encoder(cfg, jax.random.key(1))
    save_network(tmp_path / "E", E, saved)
    loaded = _init_encoder_from(tmp_path / "E", fresh)
    x = jax.random.uniform(jax.random.key(2), (2, 16, 16, 3), minval=-1, maxval=1)
    np.testing.assert_array_equal(np.asarray(model.encode(E, loaded, x)),
                                  np.asarray(model.encode(E, saved, x)))
    assert not np.allclose(np.asarray(model.encode(E, fresh, x)),
                           np.asarray(model.encode(E, saved, x)))
    E2, other = model.init_encoder(cfg.replace(channel_max=8), jax.random.key(3))
    save_network(tmp_path / "E2", E2, other)
    with pytest.raises(ValueError, match="init_e_from.*does not fit"):
        _init_encoder_from(tmp_path / "E2", fresh)
    with pytest.raises(FileNotFoundError, match="init_e_from"):
        _init_encoder_from(tmp_path / "missing", fresh)


def test_shapes_estimators_read_the_planted_factors():
    """The independent factor estimators used by the StylEx must-shows, against the renderer's
    exact factors on fresh scenes (the segmenter / shape classifier fixtures)."""
    from pathlib import Path

    from jaxgan.data import make_task_dataset, to_float
    from jaxgan.stylex.metrics import shapes_estimators
    fix = Path(__file__).parent / "fixtures" / "trained"
    est, thr, _ = shapes_estimators(str(fix / "segmenter_shapes"),
                                    str(fix / "classifier_shapes_shape"))
    d = make_task_dataset("large_low_horizon", 200, 32, seed=3, start=5 * 10 ** 6)
    x = jnp.asarray(to_float(d["image"]))
    hor = np.asarray(est["horizon"](x))
    area = np.asarray(est["object_area"](x))
    sun = np.asarray(est["sun_area"](x))
    assert np.mean(np.abs(hor - d["horizon"]) <= 1.5 / 32) >= 0.95      # a row and a half
    np.testing.assert_allclose(np.median(area / d["object_area"]), 1.0, atol=0.1)
    # Binarised with the task thresholds, they reproduce the label / sun presence.
    label = (area > thr["object_area"]) & (hor < thr["horizon"])
    assert np.mean(label == d["label"].astype(bool)) >= 0.9
    assert np.mean((sun > thr["sun_area"]) == d["has_sun"]) >= 0.9
    # Object hue: against the renderer's object colour (an independent numpy hue), close on
    # most scenes and on the right side of the red_high_horizon threshold.
    from jaxgan.data.tasks import object_redness
    red = np.asarray(est["object_redness"](x))
    truth = object_redness(d["object_color"])
    assert np.mean(np.abs(red - truth) <= 0.03) >= 0.9, np.abs(red - truth)
    assert np.mean((red > thr["object_redness"]) == (truth > thr["object_redness"])) >= 0.95
