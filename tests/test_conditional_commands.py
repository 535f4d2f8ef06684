"""The commands on a conditional generator: ``jaxgan invert`` (class by name, index,
sub-folder, or classifier), ``generate --class NAME``, ``directions`` and class names saved
with the network; inverted images keep their sub-folder."""
from __future__ import annotations

import json
from pathlib import Path

import jax
import numpy as np
import pytest

import jaxgan
from jaxgan import model
from jaxgan.checkpoint import load_class_names, save_network
from jaxgan.cli import main
from jaxgan.viz.grid import save_image

NAMES = ["cat", "dog", "owl"]


@pytest.fixture(scope="module")
def cond_ckpt(tmp_path_factory):
    """A tiny conditional G saved with class names, and a folder of its images: dog/ holds
    two images rendered with class 'dog', owl/ one rendered with class 'owl'."""
    root = tmp_path_factory.mktemp("cond")
    cfg = jaxgan.GeneratorConfig(img_resolution=8, z_dim=8, w_dim=8, mapping_layers=2,
                                 channel_base=64, channel_max=8, c_dim=3)
    G, g = jaxgan.init_generator(cfg, jax.random.key(5))
    save_network(root / "G", G, g, class_names=NAMES)
    z = jax.random.normal(jax.random.key(1), (3, 8))
    cls = np.array([1, 1, 2])
    imgs = np.asarray(model.generate(G, g, z, jax.nn.one_hot(cls, 3)))
    for i, (k, im) in enumerate(zip(cls, imgs)):
        (root / "imgs" / NAMES[k]).mkdir(parents=True, exist_ok=True)
        save_image(im, root / "imgs" / NAMES[k] / f"img{i}.png")
    return root, G, g


def _invert(root, out, *extra):
    return main(["invert", "--ckpt", str(root / "G"), "--images", str(root / "imgs"),
                 "--space", "w", "--steps", "3", "--lpips", "0", "--l2", "1",
                 "--out", str(out), *extra])


def test_class_names_travel_with_the_network(cond_ckpt):
    root, G, g = cond_ckpt
    assert load_class_names(root / "G") == NAMES
    with pytest.raises(ValueError, match="3 unique names"):
        save_network(root / "bad", G, g, class_names=["a", "a", "b"])


def test_invert_takes_the_class_from_the_sub_folder(cond_ckpt, tmp_path, capsys, monkeypatch):
    root, _, _ = cond_ckpt
    monkeypatch.setenv("JAXGAN_PROGRESS_SECONDS", "0")
    assert _invert(root, tmp_path / "o") == 0
    err = capsys.readouterr().err          # not a terminal: log lines, compiling first
    assert "invert (w, 3 steps): compiling" in err
    assert "current: step 3/3" in err and "3/3 img (100%)" in err
    d = np.load(tmp_path / "o" / "latents.npz")
    assert list(d["names"]) == ["dog/img0", "dog/img1", "owl/img2"]
    np.testing.assert_array_equal(d["c"], np.eye(3)[[1, 1, 2]])
    rep = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert rep["class_from"] == "folder"
    assert [r["class"] for r in rep["images"]] == ["dog", "dog", "owl"]
    assert (tmp_path / "o" / "images" / "dog" / "0001_img1.png").is_file()
    assert (tmp_path / "o" / "images" / "owl" / "0002_img2.png").is_file()


def test_invert_class_by_name_or_index(cond_ckpt, tmp_path, capsys):
    root, _, _ = cond_ckpt
    assert _invert(root, tmp_path / "a", "--class", "owl") == 0
    np.testing.assert_array_equal(np.load(tmp_path / "a" / "latents.npz")["c"],
                                  np.eye(3)[[2, 2, 2]])
    assert _invert(root, tmp_path / "b", "--class", "0") == 0
    np.testing.assert_array_equal(np.load(tmp_path / "b" / "latents.npz")["c"],
                                  np.eye(3)[[0, 0, 0]])
    capsys.readouterr()
    assert _invert(root, tmp_path / "c", "--class", "emu") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--class 'emu': unknown class" in err[0] and "cat, dog, owl" in err[0]
    assert _invert(root, tmp_path / "d", "--class", "3") == 2
    assert "out of range" in capsys.readouterr().err


def test_invert_asks_for_a_class_when_none_can_be_found(cond_ckpt, tmp_path, capsys):
    root, _, _ = cond_ckpt
    (root / "imgs" / "dog").rename(root / "imgs" / "unknown")
    try:
        assert _invert(root, tmp_path / "o") == 2
    finally:
        (root / "imgs" / "unknown").rename(root / "imgs" / "dog")
    err = capsys.readouterr().err
    assert "conditional" in err and "--class" in err and "Traceback" not in err


def test_generate_class_by_name(cond_ckpt, tmp_path):
    root, _, _ = cond_ckpt
    assert main(["generate", "--ckpt", str(root / "G"), "--seeds", "0", "--class", "dog",
                 "--save-npz", "--outdir", str(tmp_path / "a")]) == 0
    assert main(["generate", "--ckpt", str(root / "G"), "--seeds", "0", "--class", "1",
                 "--save-npz", "--outdir", str(tmp_path / "b")]) == 0
    a, b = (np.load(tmp_path / k / "images.npz") for k in "ab")
    np.testing.assert_array_equal(a["img"], b["img"])
    np.testing.assert_array_equal(a["c"], np.eye(3)[[1]])


def test_directions_and_ensemble_take_a_class(cond_ckpt, tmp_path, capsys):
    root, _, _ = cond_ckpt
    base = ["directions", "ganspace", "--ckpt", str(root / "G"), "--num", "64",
            "--components", "2", "--num-strip", "2"]
    assert main([*base, "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert "conditional" in err and "cat, dog, owl" in err and "Traceback" not in err
    assert main([*base, "--out", str(tmp_path / "b"), "--class", "dog"]) == 0
    res = json.loads((tmp_path / "b" / "results.json").read_text())
    assert res["args"]["cls"] == "dog"
    assert main(["ensemble", "--ckpt", str(root / "G"), "--out", str(tmp_path / "e")]) == 2
    assert "--class" in capsys.readouterr().err


def test_conditional_run_exports_its_class_names(tmp_path):
    from jaxgan.data import get_task
    from jaxgan.training.config import load_config
    from jaxgan.training.data import build_source
    from jaxgan.training.loop import _export, build_run, export_class_names
    cfg = load_config("tiny", ["data.task=shape", "data.cond=True", "data.num_images=16"])
    _, info = build_source(cfg.data, tmp_path / "run")
    defs, state = build_run(cfg, info)
    names = list(get_task("shape").class_names)
    assert defs.G.cfg.c_dim == len(names) and export_class_names(defs, info) == names
    _export(tmp_path / "net", defs, state, class_names=export_class_names(defs, info))
    for net in ("G_ema", "G", "D"):
        assert load_class_names(tmp_path / "net" / net) == names
    # an unconditional run writes none
    cfg = load_config("tiny", ["data.task=shape", "data.num_images=16"])
    defs, _ = build_run(cfg, build_source(cfg.data, tmp_path / "run2")[1])
    assert export_class_names(defs, info) == []


def test_ensemble_infer_class_errors(cond_ckpt, tmp_path, capsys):
    root, _, _ = cond_ckpt
    # the task's classes (circle, square, triangle) are not the network's (cat, dog, owl)
    assert main(["ensemble", "--ckpt", str(root / "G"), "--out", str(tmp_path / "e"),
                 "--infer-class"]) == 2
    err = capsys.readouterr().err
    assert "task classes ['circle', 'square', 'triangle'] are not classes" in err
    assert "Traceback" not in err
    assert main(["ensemble", "--ckpt", str(root / "G"), "--out", str(tmp_path / "f"),
                 "--infer-class", "--class", "dog"]) == 2
    assert "--infer-class needs" in capsys.readouterr().err


CLASSIFIER = Path(__file__).parent / "fixtures" / "trained" / "classifier_shapes_shape"


def test_classifier_infers_classes_matched_by_name():
    """Held-out shape scenes: the inferred generator classes are the classifier's own argmax
    mapped through the generator's (permuted) class names, and mostly the true labels."""
    from jaxgan.classify import load_model
    from jaxgan.commands.conditional import classify_images
    from jaxgan.data import make_task_dataset, to_float
    from jaxgan.nets.classifier import classifier_logits
    if not (CLASSIFIER / "arch.json").is_file():
        pytest.skip("trained classifier fixture missing")
    d = make_task_dataset("shape", 24, 32, 0, start=200_000)
    x = to_float(d["image"])
    g_names = ["triangle", "circle", "square"]                      # the generator's order
    got = classify_images(CLASSIFIER, x, g_names, 3)
    m, v = load_model(CLASSIFIER)
    own = np.argmax(np.asarray(classifier_logits(m, v, x)), -1)     # circle, square, triangle
    np.testing.assert_array_equal(got, np.array([1, 2, 0])[own])
    assert np.mean(got == np.array([1, 2, 0])[d["label"]]) > 0.8
    # by index when the generator has no names; a count mismatch is a usage error
    np.testing.assert_array_equal(classify_images(CLASSIFIER, x, [], 3), own)
    from jaxgan.cli import UsageError
    with pytest.raises(UsageError, match="3 classes, the generator 4"):
        classify_images(CLASSIFIER, x, [], 4)
    with pytest.raises(UsageError, match="not generator classes"):
        classify_images(CLASSIFIER, x, ["cat", "dog", "owl"], 3)


def test_invert_with_a_classifier(cond_ckpt, tmp_path):
    """--classifier: the classes saved are what the classifier says about the (resized)
    images; the fixture network's names are not the classifier's, so a renamed copy."""
    from jaxgan.commands.conditional import classify_images
    from jaxgan.data import load_image_folder, to_float
    if not (CLASSIFIER / "arch.json").is_file():
        pytest.skip("trained classifier fixture missing")
    root, G, g = cond_ckpt
    names = ["square", "triangle", "circle"]
    save_network(tmp_path / "G", G, g, class_names=names)
    assert main(["invert", "--ckpt", str(tmp_path / "G"), "--images", str(root / "imgs"),
                 "--space", "wplus", "--steps", "2", "--lpips", "0", "--l2", "1",
                 "--classifier", str(CLASSIFIER), "--out", str(tmp_path / "o")]) == 0
    x = to_float(load_image_folder(root / "imgs", 8, labels_from_subfolders=False)["image"])
    want = classify_images(CLASSIFIER, x, names, 3)
    np.testing.assert_array_equal(np.load(tmp_path / "o" / "latents.npz")["c"],
                                  np.eye(3)[want])
    rep = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert rep["class_from"] == "classifier"
    assert [r["class"] for r in rep["images"]] == [names[k] for k in want]
