"""A user's own data: classifier and segmenter training on folders (``--data folder:PATH``),
on a real dataset nobody here made (scikit-image's LFW subset, faces / non-faces)."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from jaxgan import classify, contract
from jaxgan.data.labelled import interleaved_order, load_labelled_folder, split_folder

pytest.importorskip("skimage")


@pytest.fixture(scope="module")
def lfw(tmp_path_factory):
    from own_models.lfw import write_lfw_folder
    return write_lfw_folder(tmp_path_factory.mktemp("lfw") / "lfw")


def test_interleaved_split_is_stratified_and_disjoint():
    labels = np.array([0] * 30 + [1] * 10)
    order = interleaved_order(labels, seed=3)
    assert sorted(order.tolist()) == list(range(40))
    assert np.bincount(labels[order[:8]]).tolist() == [6, 2]          # 3 : 1 in every prefix
    parts = split_folder({"label": labels, "image": np.arange(40)}, {"a": 20, "b": 20}, 3)
    assert not set(parts["a"]["image"]) & set(parts["b"]["image"])
    with pytest.raises(ValueError, match="fewer than the 41"):
        split_folder({"label": labels}, {"a": 41}, 0)


def test_train_classifier_on_lfw_folder(lfw, tmp_path):
    """Face / non-face on 25x25 LFW crops (upscaled to 32): the held-out report equals an
    independent evaluation of the saved checkpoint on the held-out files, and is high."""
    from jaxgan.train.classifier import main
    out = tmp_path / "clf"
    rc = main(["--data", f"folder:{lfw}", "--steps", "40", "--out", str(out), "--no-progress",
               "model.widths=8,16"])
    assert rc == 0
    metrics = __import__("json").loads((out / "metrics.json").read_text())
    assert metrics["num_test"] == 40 and metrics["num_train"] == 160
    module, variables = contract.load_model(out, "classifier")
    assert module.cfg.class_names == ("face", "non-face")
    data, names = load_labelled_folder(lfw, 32)
    test = split_folder(data, {"test": 40, "train": 160}, 0)["test"]
    assert np.bincount(test["label"]).tolist() == [20, 20]
    logits = np.asarray(module.apply(variables, test["image"] / 127.5 - 1.0))
    acc = float(np.mean(np.argmax(logits, -1) == test["label"]))
    assert acc == pytest.approx(metrics["test_accuracy"], abs=1e-6)
    assert acc >= 0.8, acc


def test_train_segmenter_on_mask_folder(tmp_path):
    """images/ + masks/<concept>/: a bright square on noise; the reported mIoU equals an
    independent IoU of the saved segmenter's masks on the held-out files."""
    rng = np.random.default_rng(0)
    root = tmp_path / "seg"
    for d in ("images", "masks/square", "masks/background"):
        (root / d).mkdir(parents=True)
    for i in range(40):
        img = rng.integers(0, 90, (16, 16, 3)).astype(np.uint8)
        m = np.zeros((16, 16), bool)
        y, x, s = rng.integers(0, 9), rng.integers(0, 9), rng.integers(4, 8)
        m[y:y + s, x:x + s] = True
        img[m] = 230
        Image.fromarray(img).save(root / "images" / f"{i:02d}.png")
        Image.fromarray(m.astype(np.uint8) * 255).save(root / "masks/square" / f"{i:02d}.png")
        Image.fromarray((~m).astype(np.uint8) * 255).save(
            root / "masks/background" / f"{i:02d}.png")
    res = classify.run_segmenter(
        {"task": f"folder:{root}", "resolution": 16, "steps": 60, "batch_size": 16,
         "learning_rate": 5e-3, "warmup_steps": 5, "flip": True, "test_fraction": 0.25},
        {"widths": (8, 16), "global_context": False}, out=tmp_path / "segck", progress=False)
    m = res["metrics"]
    assert m["num_test"] == 10 and set(m["iou"]) == {"background", "square"}
    module, variables = contract.load_model(tmp_path / "segck", "segmenter")
    from jaxgan.data.labelled import load_mask_folder
    data, concepts = load_mask_folder(root, 16)
    test = split_folder(data, {"test": 10, "train": 30}, 0)["test"]
    pred = np.asarray(module.apply(variables, test["image"] / 127.5 - 1.0)) > 0     # [N,R,R,K]
    ious = [np.sum(pred[..., k] & test["masks"][..., k]) / np.sum(pred[..., k] | test["masks"][..., k])
            for k in range(len(concepts))]
    assert np.mean(ious) == pytest.approx(m["mean_iou"], abs=1e-4)
    assert m["mean_iou"] > 0.7, m


TINY_G = ["G.z_dim=16", "G.w_dim=16", "G.mapping_layers=2", "G.channel_base=128",
          "G.channel_max=16", "D.channel_base=128", "D.channel_max=16", "D.mbstd_group_size=2",
          "batch_size=4", "augment.mode=noaug", "ema_kimg=0.01"]


@pytest.mark.slow
def test_end_to_end_on_lfw(tmp_path, monkeypatch, capsys):
    """docs/own-data.md at 16x16 and a few steps each (`pytest -m slow -k end_to_end_on_lfw`):
    a user's folder and Flax classifier through every method. Checks that each stage runs
    and writes its results; the figures at this size are not meaningful."""
    import json
    from own_models.lfw import write_lfw_split
    from own_models.lfw_flax import train as train_flax
    from jaxgan.cli import main
    lfw = write_lfw_split(tmp_path / "lfw")
    params = tmp_path / "flax_face.msgpack"
    assert train_flax(lfw["train"], params, steps=60) > 0.5
    monkeypatch.setenv("LFW_FLAX_PARAMS", str(params))
    flax_clf = "own_models.lfw_flax:classifier"
    out = tmp_path / "out"
    assert main(["train-classifier", "--data", f"folder:{lfw['all']}", "--resolution", "16",
                 "--steps", "60", "--out", str(out / "classifier"), "--no-progress"]) == 0
    assert main(["train", "--config", "tiny", "--out", str(out / "G"), "data.source=folder",
                 f"data.path={lfw['train']}", "data.cond=True", "data.num_images=160",
                 "run.total_kimg=0.064", "--no-progress"]) == 0
    G = str(out / "G" / "network")
    assert main(["invert", "--ckpt", G, "--images", str(lfw["heldout"] / "face"), "--class",
                 "face", "--steps", "20", "--out", str(out / "invert")]) == 0
    inv = json.loads((out / "invert" / "metrics.json").read_text())
    assert "psnr" in json.dumps(inv).lower()
    assert main(["ensemble", "--ckpt", G, "--data", f"folder:{lfw['all']}", "--classifier",
                 flax_clf, "--infer-class", "--num-train", "8", "--num-val", "24",
                 "--num-test", "40", "--encoder-steps", "0", "--inv-steps", "5", "--views", "4",
                 "--perturb", "isotropic:fine:0.2,stylemix:fine", "--jitter", "color+crop",
                 "--num-boot", "100", "--out", str(out / "ensemble")]) == 0
    ens = json.loads((out / "ensemble" / "results.json").read_text())
    assert list(ens["classifiers"]) == ["user"]
    assert main(["directions", "interfacegan", "--ckpt", G, "--class", "face", "--labeller",
                 "class_margin", "--classifier", str(out / "classifier"), "--num", "200",
                 "--num-eval", "100", "--num-strip", "2", "--out", str(out / "interfacegan")]) == 0
    assert main(["explain", "train", "--config", "stylex_shapes", "--out", str(out / "stylex"),
                 "--no-progress", *TINY_G, "data.source=folder", f"data.path={lfw['train']}",
                 "data.task=", "data.resolution=16", "data.num_images=160",
                 f"stylex.classifier={flax_clf}", "stylex.init_from=", "stylex.init_d_from=",
                 "stylex.init_e_from=", "stylex.lpips=", "stylex.e_channel_base=128",
                 "stylex.e_channel_max=16", "run.total_kimg=0.064", "run.tick_kimg=0.032"]) == 0
    assert main(["explain", "report", "--ckpt", str(out / "stylex" / "network"), "--data",
                 f"folder:{lfw['heldout']}", "--num-images", "40", "--k", "2",
                 "--out", str(out / "explain"), "--no-progress"]) == 0
    rep = json.loads((out / "explain" / "report.json").read_text())
    assert "agreement_C(G(E(x)))=C(x)" in json.dumps(rep)
    assert main(["explore", str(out)]) == 0
    assert (out / "explorer" / "index.html").is_file()


def test_train_classifier_on_a_prepared_tfds_dataset(tmp_path):
    """``task='tfds:mnist'`` reads a TFDS dataset already prepared in ``data_dir`` (here
    tfds's own mock data: nothing is downloaded), with its train and test splits; the
    reported held-out accuracy equals an independent evaluation of the returned classifier
    on the test split read directly through ``open_public``."""
    import tensorflow_datasets as tfds

    from jaxgan.classify import load_model, run_classifier
    from jaxgan.data.builders import open_public, read_arrays
    from jaxgan.nets.classifier import classifier_logits
    with tfds.testing.mock_data(num_examples=48):
        a = read_arrays(open_public("mnist", str(tmp_path), "test"))
        b = read_arrays(open_public("mnist", str(tmp_path), "test"))
        np.testing.assert_array_equal(a["image"], b["image"])     # the mock is deterministic
        res = run_classifier({"task": "tfds:mnist", "data_dir": str(tmp_path),
                              "resolution": 28, "channels": 1, "steps": 6, "batch_size": 8,
                              "warmup_steps": 1}, model={"widths": (8, 16)},
                             out=tmp_path / "clf", progress=False)
    m = res["metrics"]
    assert m["num_train"] == 48 and res["module"].cfg.num_classes == 10
    x = a["image"].astype(np.float32) / 127.5 - 1.0
    pred = np.argmax(np.asarray(classifier_logits(res["module"], res["variables"], x)), -1)
    assert m["test_accuracy"] == pytest.approx(float(np.mean(pred == a["label"])))
    module, _ = load_model(tmp_path / "clf")
    assert module.cfg.task == "tfds:mnist"
    with pytest.raises(ValueError, match="needs data_dir"):
        run_classifier({"task": "tfds:mnist", "steps": 1}, progress=False)
