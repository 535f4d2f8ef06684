"""Latent directions on a tiny random generator: the API shape, the edits, the solvers.

References: NumPy arithmetic (apply), scipy.ndimage.map_coordinates (warps), scikit-learn
LinearSVC / LogisticRegression / PCA (InterFaceGAN, GANSpace), numpy.linalg.eigh (SeFa),
the generator's own style computation (ws index of each layer). The trained-generator
must-shows are in ``test_directions_trained.py``.
"""
from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import ndimage
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

from jaxgan import model
from jaxgan.checkpoint import save_network
from jaxgan.cli import main
from jaxgan.directions import (Directions, apply, boundary_accuracy, conditional_direction,
                               fit_boundary,
                               fit_ganalyze, fit_ganspace, fit_linear_boundary, fit_sefa,
                               fit_slope, fit_steer, pca, sample_latents, style_layers)
from jaxgan.directions.edits import EDITS, apply_edit, transform
from jaxgan.directions.ganalyze import assessor_curve
from jaxgan.nets.configs import GeneratorConfig


def cos(a, b):
    a, b = np.ravel(a), np.ravel(b)
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


@pytest.fixture(scope="module")
def tiny():
    """8x8 generator, z = w = 8, three ws (b4: conv1, torgb; b8: conv0, conv1, torgb)."""
    return model.init_generator(GeneratorConfig(img_resolution=8, z_dim=8, w_dim=8,
                                                mapping_layers=1, channel_base=64,
                                                channel_max=8), jax.random.key(0))


# ----------------------------------------------------------------------------- apply

def test_apply_shapes_layers_and_sweeps():
    rng = np.random.default_rng(0)
    ws = rng.normal(size=(5, 4, 3)).astype(np.float32)
    v = rng.normal(size=3).astype(np.float32)
    out = np.asarray(apply(v, ws, 2.0, layers=(1, 3)))
    ref = ws.copy()
    ref[:, [1, 3]] += 2.0 * v
    np.testing.assert_allclose(out, ref, rtol=1e-6)
    sweep = np.asarray(apply(v, ws, jnp.array([-1.0, 0.0, 0.5])))                # [A, N, L, D]
    assert sweep.shape == (3, 5, 4, 3)
    np.testing.assert_allclose(sweep[0], ws - v, rtol=1e-6)
    np.testing.assert_allclose(sweep[1], ws)
    d = Directions(jnp.asarray(rng.normal(size=(2, 4, 3)), jnp.float32), space="wp",
                   names=("a", "b"), layers=(0,))
    both = np.asarray(apply(d, ws, jnp.array([1.0, 2.0])))                       # [K, A, N, L, D]
    assert both.shape == (2, 2, 5, 4, 3)
    ref = ws.copy()
    ref[:, 0] += 2.0 * np.asarray(d.vectors[1, 0])
    np.testing.assert_allclose(both[1, 1], ref, rtol=1e-6)
    z = rng.normal(size=(5, 3)).astype(np.float32)
    np.testing.assert_allclose(apply(v, z, -1.0, space="z"), z - v, rtol=1e-6)
    with pytest.raises(ValueError, match="space 'z'"):
        apply(v, ws, 1.0, space="z")
    with pytest.raises(ValueError, match="layers"):
        apply(v, ws, 1.0, layers=(7,))
    with pytest.raises(ValueError, match="space must be"):
        apply(v, ws, 1.0, space="s")


def test_directions_index_save_load(tmp_path):
    d = Directions(jnp.arange(12.0).reshape(3, 4), space="w", names=("a", "b", "c"),
                   layers=(0, 2), extras={"var": jnp.array([3.0, 2.0, 1.0]),
                                          "mean": jnp.ones(3)}, shared=("mean",))
    sub = d[[0, 2]]
    assert sub.names == ("a", "c") and sub.vectors.shape == (2, 4)
    np.testing.assert_array_equal(sub.extras["var"], [3.0, 1.0])
    np.testing.assert_array_equal(sub.extras["mean"], np.ones(3))               # shared: kept
    d.save(tmp_path / "d.npz")
    back = Directions.load(tmp_path / "d.npz")
    assert (back.space, back.names, back.layers, back.shared) == ("w", d.names, (0, 2), ("mean",))
    np.testing.assert_array_equal(back.vectors, d.vectors)
    with pytest.raises(ValueError, match="K, D"):
        Directions(jnp.zeros(4), space="w")


# ----------------------------------------------------------------------------- edits

def _reference_warp(img, p):
    """scipy bilinear sampling at the inverse-transformed pixel centres (independent maths)."""
    h, w, c = img.shape
    yy, xx = np.meshgrid(np.arange(h) + 0.5 - h / 2, np.arange(w) + 0.5 - w / 2, indexing="ij")
    s, th = 2.0 ** p[0], np.deg2rad(p[3])
    u, v = xx - p[1], yy - p[2]
    src_x = (np.cos(th) * u + np.sin(th) * v) / s + w / 2 - 0.5
    src_y = (-np.sin(th) * u + np.cos(th) * v) / s + h / 2 - 0.5
    out = np.stack([ndimage.map_coordinates(img[..., k], [src_y, src_x], order=1, mode="nearest")
                    for k in range(c)], -1)
    valid = (src_x >= -0.5) & (src_x <= w - 0.5) & (src_y >= -0.5) & (src_y <= h - 0.5)
    return np.clip(out + np.asarray(p[4:7]), -1, 1), valid


def test_transform_matches_scipy_and_exact_cases():
    rng = np.random.default_rng(1)
    img = rng.uniform(-0.8, 0.8, size=(2, 12, 12, 3)).astype(np.float32)
    params = np.array([[0.4, 1.3, -2.2, 17.0, 0.1, -0.2, 0.05],
                       [-0.7, -0.5, 0.8, -33.0, 0.0, 0.0, 0.0]], np.float32)
    out, valid = map(np.asarray, transform(img, params))
    for i in range(2):
        ref, rv = _reference_warp(img[i], params[i])
        inner = rv & (valid[i] > 0)
        assert (rv == (valid[i] > 0)).mean() > 0.97            # boundary pixels may round apart
        np.testing.assert_allclose(out[i][inner], ref[inner], atol=2e-5)
    # Integer shift = np.roll inside the valid region; content moves right/down.
    out, valid = map(np.asarray, apply_edit("shift_x", img, 3.0))
    np.testing.assert_allclose(out[:, :, 3:], img[:, :, :-3], atol=1e-6)
    assert valid[:, :, :3].sum() == 0 and valid[:, :, 3:].all()
    # 90 degrees is a rotation of the pixel grid (clockwise on screen).
    out, valid = map(np.asarray, apply_edit("rotate", img, 90.0))
    np.testing.assert_allclose(out, np.rot90(img, k=-1, axes=(1, 2)), atol=1e-5)
    # Zoom out by 2: only the central half of the output is valid.
    _, valid = map(np.asarray, apply_edit("zoom", img, -1.0))
    assert valid[0, 3:9, 3:9].all() and valid[0].sum() == 36
    out, _ = map(np.asarray, apply_edit("brightness", img, 0.5))
    np.testing.assert_allclose(out, np.clip(img + 0.5, -1, 1), atol=1e-6)
    with pytest.raises(ValueError, match="unknown edit"):
        apply_edit("blur", img, 1.0)


# ----------------------------------------------------------------------------- InterFaceGAN

def _planted(n=600, d=10, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32) + 0.3
    normal = rng.normal(size=d)
    y = x @ normal + 0.8 * rng.normal(size=n) > 0.5
    return x, y, normal


def test_linear_boundary_matches_sklearn():
    x, y, _ = _planted()
    coef, b = fit_linear_boundary(x, y, method="svm", C=1.0)
    ref = LinearSVC(C=1.0, tol=1e-8, max_iter=100000).fit(x, y)
    assert cos(coef, ref.coef_) >= 0.99
    np.testing.assert_allclose(float(b), ref.intercept_[0], atol=5e-3)
    coef, b = fit_linear_boundary(x, y, method="logistic", C=0.5)
    ref = LogisticRegression(C=0.5, tol=1e-10, max_iter=10000).fit(x, y)
    assert cos(coef, ref.coef_) >= 0.99
    np.testing.assert_allclose(float(b), ref.intercept_[0], atol=5e-3)
    with pytest.raises(ValueError, match="two classes"):
        fit_linear_boundary(x, np.ones(len(x), bool))


def test_fit_boundary_recovers_planted_normal_and_conditional():
    x, _, normal = _planted(n=2000, seed=3)
    scores = x @ normal                                      # noiseless attribute score
    d = fit_boundary(x, scores, ratio=0.3, space="w")
    assert cos(d.vectors[0], normal) > 0.95
    assert float(d.extras["val_accuracy"][0]) == 1.0        # the extremes are separable
    # Threshold labels (a rare binary factor): the boundary sits at the threshold.
    thr = np.quantile(scores, 0.9)
    d2 = fit_boundary(x, scores, threshold=thr)
    x_new, _, _ = _planted(n=2000, seed=5)
    assert boundary_accuracy(d2, x_new, x_new @ normal > thr) >= 0.97
    other = np.random.default_rng(4).normal(size=(2, x.shape[1]))
    c = np.asarray(conditional_direction(d.vectors[0], other))
    np.testing.assert_allclose(other @ c, 0, atol=1e-5)
    # Least-squares projection off span(other), normalised: the same vector.
    p = np.asarray(d.vectors[0], np.float64)
    coef = np.linalg.lstsq(other.T, p, rcond=None)[0]
    ref = p - other.T @ coef
    np.testing.assert_allclose(c, ref / np.linalg.norm(ref), atol=1e-5)


# ----------------------------------------------------------------------------- GANSpace / SeFa

def test_pca_and_ganspace_match_sklearn(tiny):
    x = np.random.default_rng(5).normal(size=(300, 6)) @ np.diag([3, 2, 1.5, 1, 0.5, 0.2])
    p = pca(x, 4)
    ref = PCA(4, svd_solver="full").fit(x)
    for k in range(4):
        assert abs(cos(p["components"][k], ref.components_[k])) > 0.9999
    np.testing.assert_allclose(p["explained_variance"], ref.explained_variance_, rtol=1e-4)
    np.testing.assert_allclose(p["explained_variance_ratio"], ref.explained_variance_ratio_, rtol=1e-4)
    G, g = tiny
    key = jax.random.key(3)
    d = fit_ganspace(G, g, key, num=400, num_components=3, batch=200, layers=(0, 1))
    w = np.concatenate([np.asarray(sample_latents(G, g, jax.random.fold_in(key, s), 200))[:, 0]
                        for s in (0, 200)])
    ref = PCA(3, svd_solver="full").fit(w)
    for k in range(3):
        assert abs(cos(d.vectors[k], ref.components_[k])) > 0.999
    np.testing.assert_allclose(d.extras["explained_variance"], ref.explained_variance_, rtol=1e-3)
    assert d.layers == (0, 1) and d.names == ("pc0", "pc1", "pc2")


def test_style_layer_indices_follow_the_generator(tiny):
    G, g = tiny
    layers = style_layers(G, g)
    assert layers == [(0, "b4", "conv1"), (1, "b4", "torgb"), (1, "b8", "conv0"),
                      (2, "b8", "conv1"), (3, "b8", "torgb")]
    ws = np.asarray(sample_latents(G, g, jax.random.key(0), 2))
    base = model.styles(G, g, jnp.asarray(ws))
    for i in range(G.cfg.num_ws):                # moving ws[:, i] changes exactly those styles
        ws2 = ws.copy()
        ws2[:, i] += 1.0
        st = model.styles(G, g, jnp.asarray(ws2))
        changed = {(b, n) for b in st for n in st[b]
                   if not np.allclose(st[b][n], base[b][n])}
        assert changed == {(b, n) for j, b, n in layers if j == i}


def test_sefa_matches_numpy_eigh(tiny):
    G, g = tiny
    d = fit_sefa(G, g, layers=(1, 2), num_components=4)
    syn = g["params"]["synthesis"]
    w = np.concatenate([np.asarray(syn["b8"]["conv0"]["affine"]["weight"]),
                        np.asarray(syn["b8"]["conv1"]["affine"]["weight"])], axis=1)
    w = w / np.linalg.norm(w, axis=0, keepdims=True)
    vals, vecs = np.linalg.eigh(w @ w.T)
    vals, vecs = vals[::-1], vecs[:, ::-1]
    np.testing.assert_allclose(d.extras["eigenvalues"], vals[:4], rtol=1e-4)
    for k in range(4):
        assert abs(cos(d.vectors[k], vecs[:, k])) > 0.999
        n = np.asarray(d.vectors[k])                # eigenvalue = squared style change per unit step
        np.testing.assert_allclose(np.sum((w.T @ n) ** 2), vals[k], rtol=1e-4)
    assert d.layers == (1, 2)
    with pytest.raises(ValueError, match="no style layers"):
        fit_sefa(G, g, layers=(3,))                 # ws 3 feeds only b8's torgb


# ----------------------------------------------------------------------------- learned

def test_ganalyze_reaches_target_slope_on_tiny_generator(tiny):
    """Assessor = mean brightness: the held-out slope of score change vs alpha nears 1."""
    G, g = tiny
    bright = lambda im: jnp.mean(im, axis=(1, 2, 3))  # noqa: E731
    d = fit_ganalyze(G, g, bright, jax.random.key(1), steps=100, batch=8, learning_rate=0.05,
                     progress=False)
    curve = np.asarray(d.extras["loss_curve"][0])
    assert curve[-10:].mean() < 0.3 * curve[:10].mean()
    alphas = np.linspace(-0.2, 0.2, 5)
    held = sample_latents(G, g, jax.random.key(99), 32)
    scores = assessor_curve(G, g, d, bright, held, alphas)[0]
    # Independent slope: least squares of the per-latent change against alpha, numpy only.
    delta = (scores - scores[2][None]).ravel()
    slope = np.polyfit(np.repeat(alphas, 32), delta, 1)[0]
    assert abs(slope - fit_slope(alphas, scores)["slope"]) < 1e-6
    assert slope > 0.8


def test_steer_vmapped_edits_train_independently(tiny):
    """Direction k of a joint run equals the run of edit k alone (vmap = separate problems)."""
    G, g = tiny
    key = jax.random.key(2)
    both = fit_steer(G, g, key, ("brightness", "zoom"), steps=6, batch=4, progress=False)
    alone = fit_steer(G, g, key, ("brightness",), steps=6, batch=4, progress=False)
    assert both.names == ("brightness", "zoom") and both.vectors.shape == (2, 8)
    np.testing.assert_allclose(both.vectors[0], alone.vectors[0], rtol=1e-4, atol=1e-6)
    assert not np.allclose(both.vectors[1], both.vectors[0])
    assert float(jnp.abs(both.vectors[0]).sum()) > 0
    assert set(EDITS) >= set(both.names)


# ----------------------------------------------------------------------------- CLI

def test_cli_sefa_and_ganspace(tiny, tmp_path, capsys):
    G, g = tiny
    ckpt = save_network(tmp_path / "G", G, g)
    out = tmp_path / "sefa"
    rc = main(["directions", "sefa", "--ckpt", str(ckpt), "--out", str(out), "--layers", "1-2",
               "--components", "3", "--num-strip", "2"])
    assert rc == 0
    d = Directions.load(out / "directions.npz")
    ref = fit_sefa(G, g, layers=(1, 2), num_components=3)
    np.testing.assert_allclose(d.vectors, ref.vectors, atol=1e-6)
    res = json.loads((out / "results.json").read_text())
    np.testing.assert_allclose(res["metrics"]["eigenvalues"], ref.extras["eigenvalues"], rtol=1e-5)
    assert (out / "strips_sefa0.png").is_file() and (out / "eigenvalues.png").is_file()
    from jaxgan.viz.manifest import load_manifest
    man = load_manifest(out / "explorer.json")                 # validates the image paths
    assert {s["image"] for s in man["sections"] if s["type"] == "plot"} >= {"eigenvalues.png"}
    # The explorer strip: one row per (direction, latent), one image per alpha, each image
    # the generator's render of latent + alpha * direction (recomputed here).
    strip = next(s for s in man["sections"] if s["type"] == "strip")
    assert len(strip["rows"]) == 3 * 2 and strip["axis"] == "alpha"
    row = strip["rows"][0]
    assert row["facets"] == {"direction": "sefa0"}
    from PIL import Image
    from jaxgan.directions.apply import render, sample_latents
    from jaxgan.viz.grid import to_uint8
    held = sample_latents(G, g, jax.random.fold_in(jax.random.key(0), 1), 2, "w")
    for it in (row["images"][0], row["images"][-1]):
        lat = held[:1].at[:, 1:3].add(it["value"] * jnp.asarray(d.vectors[0]))  # ws 1-2
        want = to_uint8(np.asarray(render(G, g, lat, "w")))[0]
        got = np.asarray(Image.open(out / it["image"]))
        assert np.abs(got.astype(int) - want.astype(int)).max() <= 1
    out = tmp_path / "gs"
    rc = main(["directions", "ganspace", "--ckpt", str(ckpt), "--out", str(out), "--num", "200",
               "--components", "2", "--num-strip", "2"])
    assert rc == 0 and (out / "strips_pc1.png").is_file()
    out = tmp_path / "ifg"
    rc = main(["directions", "interfacegan", "--ckpt", str(ckpt), "--out", str(out),
               "--labeller", "brightness", "--num", "300", "--num-eval", "100", "--num-strip", "2",
               "--method", "logistic"])
    assert rc == 0
    m = json.loads((out / "results.json").read_text())["metrics"]
    assert m["heldout_accuracy"] > 0.8          # brightness is close to linear in w here
    out = tmp_path / "errors"                   # (a folder of results would be refused first)
    rc = main(["directions", "sefa", "--ckpt", str(tmp_path / "missing"), "--out", str(out)])
    assert rc == 2 and "does not exist" in capsys.readouterr().err
    rc = main(["directions", "sefa", "--ckpt", str(ckpt), "--out", str(out), "--layers", "9"])
    assert rc == 2 and "layer" in capsys.readouterr().err


def test_nonlinear_walk_is_euler_integration():
    from jaxgan.directions.steer import walk_apply
    rng = np.random.default_rng(7)
    d, h = 4, 5
    p = {"w": rng.normal(size=d), "w1": rng.normal(size=(d, h)), "b1": rng.normal(size=h),
         "w2": np.zeros((h, d))}
    ws = rng.normal(size=(3, 2, d)).astype(np.float32)
    a = np.array([0.5, -1.0, 2.0], np.float32)
    lin = walk_apply({k: jnp.asarray(v, jnp.float32) for k, v in p.items()}, ws, a)
    np.testing.assert_allclose(lin, ws + a[:, None, None] * p["w"], rtol=1e-5, atol=1e-6)
    p["w2"] = rng.normal(size=(h, d))
    out = walk_apply({k: jnp.asarray(v, jnp.float32) for k, v in p.items()}, ws, a, layers=(1,),
                     num_steps=3)
    x = ws.astype(np.float64).copy()
    for _ in range(3):                          # numpy Euler steps on ws index 1 only
        v = p["w"] + np.tanh(x[:, 1] @ p["w1"] + p["b1"]) @ p["w2"]
        x[:, 1] += (a[:, None] / 3) * v
    np.testing.assert_allclose(out, x, rtol=1e-4, atol=1e-5)


def test_class_dependent_ganalyze_learns_one_direction_per_class(tiny):
    G, g = model.init_generator(GeneratorConfig(img_resolution=8, z_dim=8, w_dim=8, c_dim=3,
                                                mapping_layers=1, channel_base=64, channel_max=8),
                                jax.random.key(0))
    bright = lambda im: jnp.mean(im, axis=(1, 2, 3))  # noqa: E731
    d = fit_ganalyze(G, g, bright, jax.random.key(1), steps=3, batch=6, class_dependent=True,
                     progress=False)
    t = np.asarray(d.extras["class_map"][0])                                      # [3, 8]
    assert t.shape == (3, 8) and np.all(np.linalg.norm(t, axis=1) > 0)
    np.testing.assert_allclose(d.vectors[0], t.mean(axis=0), rtol=1e-6)
    with pytest.raises(ValueError, match="conditional"):
        fit_ganalyze(*tiny, bright, jax.random.key(1), steps=1, class_dependent=True)


def test_builtin_area_assessors_read_the_exact_masks():
    """``ground_area``/``sky_area``/``sun_area``/``object_size`` (the committed segmenter) vs the
    exact concept masks the scene renderer returns; unknown names are an error."""
    from pathlib import Path

    from jaxgan.classify import load_model
    from jaxgan.data import shapes
    from jaxgan.directions.assessors import builtin_assessor
    seg_dir = Path(__file__).parent / "fixtures" / "trained" / "segmenter_shapes"
    if not seg_dir.is_dir():
        pytest.skip("segmenter fixture missing")
    seg = load_model(seg_dir)
    scenes = shapes.render_factors(shapes.sample_factors(64, seed=7, start=5 * 10 ** 6), 32)
    x = jnp.asarray(scenes["image"], jnp.float32) / 127.5 - 1               # [N, 32, 32, 3]
    for name, concept in (("ground_area", "ground"), ("sky_area", "sky"), ("sun_area", "sun")):
        got = np.asarray(builtin_assessor(name, segmenter=seg, scale=10.0)(x)) / 10.0
        true = scenes[f"mask_{concept}"].mean(axis=(1, 2))
        assert np.abs(got - true).mean() < 0.02, (name, np.abs(got - true).mean())
        if true.std() > 0.01:
            assert np.corrcoef(got, true)[0, 1] > 0.95, name
    size = np.asarray(builtin_assessor("object_size", segmenter=seg)(x))
    assert np.corrcoef(size, np.sqrt(scenes["mask_object"].mean(axis=(1, 2))))[0, 1] > 0.95
    with pytest.raises(ValueError, match="unknown assessor 'horizon'.*ground_area"):
        builtin_assessor("horizon", segmenter=seg)
    with pytest.raises(ValueError, match="needs a segmenter"):
        builtin_assessor("ground_area")
