"""Every command that takes a model accepts a user's ``package.module:factory``
(jaxgan.contract) beside the checkpoints their own tests use: a plain JAX function and a
Flax module factory from ``tests/own_models``, run through the command's parser in-process."""
from __future__ import annotations

import json

import jax
import numpy as np
import pytest

from jaxgan import model
from jaxgan.checkpoint import save_network
from jaxgan.cli import main
from jaxgan.nets.configs import GeneratorConfig


@pytest.fixture(scope="module")
def g_dir(tmp_path_factory):
    """A tiny random 16x16 generator checkpoint (biases perturbed: non-trivial masks)."""
    cfg = GeneratorConfig(img_resolution=16, z_dim=16, w_dim=16, channel_base=128,
                          channel_max=8, mapping_layers=2)
    G, g = model.init_generator(cfg, jax.random.key(3))
    leaves, tree = jax.tree_util.tree_flatten_with_path(g["params"])
    keys = jax.random.split(jax.random.key(4), len(leaves))
    new = [v + 0.3 * jax.random.normal(k, v.shape) if str(p[-1].key) in ("bias", "noise_strength")
           else v for (p, v), k in zip(leaves, keys)]
    path = tmp_path_factory.mktemp("own") / "G"
    save_network(path, G, {**g, "params": jax.tree_util.tree_unflatten(tree, new)})
    return path


def test_dissect_with_user_segmenter(g_dir, tmp_path):
    """A plain-JAX segmenter (probabilities, concepts from its dict): the 'top' concept is
    the upper half of every image, so the dissection's concept coverage is exactly 1/2."""
    out = tmp_path / "d"
    rc = main(["dissect", "--ckpt", str(g_dir), "--segmenter", "own_models:sky_segmenter",
               "--layer", "b8.conv1", "--samples", "8", "--batch", "8", "--quantile", "0.1",
               "--out", str(out)])
    assert rc == 0
    best = json.loads((out / "summary.json").read_text())["tables"]["b8.conv1"][
        "best_unit_per_concept"]
    assert set(best) == {"top", "bright"} and all(0 < b["iou"] <= 1 for b in best.values())
    rc = main(["dissect", "--ckpt", str(g_dir), "--segmenter", "own_models:wrong_rank",
               "--layer", "b8.conv1", "--samples", "16", "--batch", "8",
               "--out", str(tmp_path / "bad")])          # a classifier's shape: exit 2
    assert rc == 2


def test_dissect_artifacts_with_user_realism_and_feature_net(g_dir, tmp_path):
    """Artifact units with a user's realism classifier and a user's feature net for the FD:
    the FD before/after ablation is computed on the feature net's [N, D] outputs."""
    out = tmp_path / "a"
    rc = main(["dissect", "--ckpt", str(g_dir), "--segmenter", "own_models:sky_segmenter",
               "--layer", "b8.conv1", "--samples", "8", "--batch", "8", "--quantile", "0.1",
               "--artifacts-layer", "b8.conv1",
               "--realism-classifier", "own_models:mean_colour_classifier",
               "--classifier", "own_models:range_probe", "--artifact-samples", "16",
               "--artifact-units", "1", "--out", str(out)])
    assert rc == 0
    art = json.loads((out / "artifacts.json").read_text())
    text = json.dumps(art)
    assert "fd" in text.lower()
    fds = [v for k, v in _walk(art) if "fd" in k.lower() and isinstance(v, (int, float))]
    assert fds and all(np.isfinite(fds)) and max(fds) > 0


def _walk(d, prefix=""):
    """``(dotted key, value)`` of every leaf of a JSON tree."""
    if isinstance(d, dict):
        for k, v in d.items():
            yield from _walk(v, f"{prefix}.{k}")
    elif isinstance(d, list):
        for i, v in enumerate(d):
            yield from _walk(v, f"{prefix}.{i}")
    else:
        yield prefix, d


def test_metrics_with_user_feature_net(g_dir, tmp_path):
    """A plain-JAX feature net (min, max, size seen): FD on it is reported as fd_probe."""
    out = tmp_path / "m"
    rc = main(["metrics", "--ckpt", str(g_dir), "--metrics", "fd_probe", "--data", "shapes",
               "--feature-net", "own_models:range_probe", "--num-gen", "32", "--num-real", "32",
               "--batch", "16", "--cache-dir", "", "--out", str(out), "--no-progress"])
    assert rc == 0
    res = json.loads((out / "metrics.json").read_text())
    assert np.isfinite(res["results"]["fd_probe"]) and res["results"]["fd_probe"] > 0


def test_directions_with_user_assessor_and_classifier(g_dir, tmp_path):
    """GANalyze with a user's assessor (plain JAX mean brightness) finds the same direction
    as with the built-in ``brightness`` assessor (the same function); ``--classifier`` /
    ``--segmenter`` load a user's Flax classifier / JAX segmenter for the built-in assessors."""
    common = ["--ckpt", str(g_dir), "--steps", "4", "--batch", "4", "--num-eval", "4",
              "--num-strip", "1", "--alphas=-0.1,0.1"]
    for name, assessor in (("own", "own_models:brightness_assessor"), ("builtin", "brightness")):
        rc = main(["directions", "ganalyze", *common, "--assessor", assessor,
                   "--out", str(tmp_path / name)])
        assert rc == 0
    own, ref = (np.load(tmp_path / n / "directions.npz")["vectors"] for n in ("own", "builtin"))
    np.testing.assert_allclose(own, ref, rtol=1e-4, atol=1e-6)
    # --classifier / --segmenter of the class_* and segmenter assessors: the same loader
    from jaxgan.commands.directions import _instrument
    from jaxgan.directions.assessors import builtin_assessor
    clf = _instrument("own_models:flax_classifier", "--classifier")
    f = builtin_assessor("class_logit", classifier=clf, class_idx=1)
    x = jax.random.uniform(jax.random.key(2), (3, 16, 16, 3), minval=-1.0, maxval=1.0)
    np.testing.assert_allclose(f(x), np.asarray(clf[0].apply(clf[1], x))[:, 1], rtol=1e-6)
    seg = _instrument("own_models:sky_segmenter", "--segmenter")
    area = builtin_assessor("sky_area", segmenter=seg) if "sky" in seg[0].cfg.concepts else None
    assert area is None and seg[0].cfg.concepts == ("bright", "top")


@pytest.fixture(scope="module")
def lfw(tmp_path_factory):
    pytest.importorskip("skimage")
    from own_models.lfw import write_lfw_folder
    return write_lfw_folder(tmp_path_factory.mktemp("lfw") / "lfw")


def _folder_split(lfw, res, sizes, seed=0):
    from jaxgan.data.labelled import load_labelled_folder, split_folder
    data, names = load_labelled_folder(lfw, res)
    return split_folder(data, sizes, seed), names


def test_ensemble_with_user_folder_and_classifier(g_dir, lfw, tmp_path):
    """``--data folder:PATH --classifier own_models:flax_classifier``: the table's 'user'
    classifier alone scores what the Flax model scores on the same held-out split."""
    from jaxgan import contract
    out = tmp_path / "e"
    rc = main(["ensemble", "--ckpt", str(g_dir), "--data", f"folder:{lfw}",
               "--classifier", "own_models:flax_classifier", "--num-train", "8",
               "--num-val", "16", "--num-test", "16", "--encoder-steps", "0", "--inv-steps", "2",
               "--views", "2", "--perturb", "isotropic:fine:0.2", "--jitter", "",
               "--num-boot", "20", "--block", "8", "--inv-batch", "16", "--out", str(out)])
    assert rc == 0
    res = json.loads((out / "results.json").read_text())
    assert list(res["classifiers"]) == ["user"] and res["class_names"] == ["face", "non-face"]
    parts, _ = _folder_split(lfw, 16, {"train": 8, "val": 16, "test": 16})
    m, v = contract.load_model("own_models:flax_classifier", "classifier")
    pred = np.argmax(np.asarray(m.apply(v, parts["test"]["image"] / 127.5 - 1)), -1)
    assert res["classifiers"]["user"]["test_acc"] == pytest.approx(
        float(np.mean(pred == parts["test"]["label"])))


def test_explain_with_user_classifier_and_folder(lfw, tmp_path):
    """AttFind on the built-in StylEx with a user's Flax classifier on a user's folder: the
    classes are the user's, and the labels AttFind explains are its argmax on those images."""
    from jaxgan import contract
    out = tmp_path / "x"
    rc = main(["explain", "attfind", "--ckpt", "builtin:stylex_shapes", "--classifier",
               "own_models:flax_classifier", "--data", f"folder:{lfw}", "--num-images", "8",
               "--layers", "b4.conv1", "--num-indices", "2", "--out", str(out), "--no-progress"])
    assert rc == 0
    ranking = json.loads((out / "attfind.json").read_text())["ranking"]
    assert set(ranking) == {"face", "non-face"}
    parts, _ = _folder_split(lfw, 32, {"x": 8})
    m, v = contract.load_model("own_models:flax_classifier", "classifier")
    pred = np.argmax(np.asarray(m.apply(v, parts["x"]["image"] / 127.5 - 1)), -1)
    np.testing.assert_array_equal(np.load(out / "attfind.npz")["labels"], pred)


def test_class_inference_with_user_classifier():
    """``--classifier own_models:flax_classifier`` on generate/invert/directions: the classes
    inferred are the Flax model's argmax, mapped by name onto the generator's class order."""
    from jaxgan import contract
    from jaxgan.commands.conditional import classify_images
    from jaxgan.errors import UsageError
    x = jax.random.uniform(jax.random.key(1), (12, 32, 32, 3), minval=-1.0, maxval=1.0)
    got = classify_images("own_models:flax_classifier", x, ["non-face", "face"], 2)
    m, v = contract.load_model("own_models:flax_classifier", "classifier")
    own = np.argmax(np.asarray(m.apply(v, x)), -1)                   # face = 0, non-face = 1
    np.testing.assert_array_equal(got, 1 - own)
    with pytest.raises(UsageError, match="not generator classes"):
        classify_images("own_models:flax_classifier", x, ["cat", "dog"], 2)


def test_interfacegan_from_csv_labels(g_dir, tmp_path):
    """``--labels image,label CSV`` + ``--latents`` (jaxgan invert's format): labels planted
    as the side of a known hyperplane in W; the fitted boundary's normal recovers it."""
    rng = np.random.default_rng(0)
    n, num_ws, w_dim = 200, 6, 16
    w = rng.normal(size=(n, w_dim)).astype(np.float32)
    v = rng.normal(size=w_dim)
    v /= np.linalg.norm(v)
    names = np.array([f"img{i:03d}.png" for i in range(n)])
    np.savez(tmp_path / "latents.npz", names=names, ws=np.repeat(w[:, None], num_ws, 1))
    lines = ["image,label"] + [f"face/{nm},{int(x @ v > 0)}" for nm, x in zip(names, w)]
    (tmp_path / "labels.csv").write_text("\n".join(lines) + "\n")
    out = tmp_path / "ifg"
    rc = main(["directions", "interfacegan", "--ckpt", str(g_dir), "--labels",
               str(tmp_path / "labels.csv"), "--latents", str(tmp_path / "latents.npz"),
               "--method", "logistic", "--num-strip", "1", "--alphas=-1,1", "--out", str(out)])
    assert rc == 0
    res = json.loads((out / "results.json").read_text())
    assert res["metrics"]["num_labelled"] == n and res["metrics"]["val_accuracy"] > 0.9
    normal = np.asarray(np.load(out / "directions.npz")["vectors"]).reshape(-1)
    assert abs(normal @ v) / np.linalg.norm(normal) > 0.9
    (tmp_path / "bad.csv").write_text("file,y\na,1\n")
    assert main(["directions", "interfacegan", "--ckpt", str(g_dir), "--labels",
                 str(tmp_path / "bad.csv"), "--latents", str(tmp_path / "latents.npz"),
                 "--out", str(tmp_path / "bad")]) == 2
