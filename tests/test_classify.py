"""Classifier / segmenter: shapes, grad, jit, vmap, short training runs, mIoU, checkpoints,
determinism and input validation. Tiny networks at 16x16 so the file runs in well under a
minute on two CPU cores."""
from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import classify
from jaxgan.nets.classifier import classifier_logits, classifier_probs, init_classifier
from jaxgan.nets.configs import ClassifierConfig, SegmenterConfig, config_from_json
from jaxgan.nets.segmenter import init_segmenter, mean_iou, segment, segmenter_logits

CLS = ClassifierConfig(img_resolution=16, img_channels=3, num_classes=3, widths=(8, 16))
SEG = SegmenterConfig(img_resolution=16, concepts=("sky", "ground", "object"), widths=(8, 16))


def _images(n, res=16, ch=3, seed=0):
    return jnp.asarray(np.random.default_rng(seed).uniform(-1, 1, (n, res, res, ch)), jnp.float32)


@pytest.fixture(scope="module")
def trained_classifier(tmp_path_factory):
    """A short has_sun run at 16x16 (1500 train / 500 held-out images), saved.

    At 16x16 about 4% of the images have their sun hidden behind the object, so ~0.96 is
    the ceiling; this run reaches ~0.93-0.95 depending on the seed (chance: 0.5).
    """
    out = tmp_path_factory.mktemp("ckpt") / "clf"
    res = classify.run_classifier(
        dict(task="shapes:has_sun", resolution=16, num_train=1500, num_test=500, steps=300,
             batch_size=32, learning_rate=1e-2, warmup_steps=20, seed=0),
        dict(widths=(16, 32)), out=out, progress=False)
    return res


@pytest.mark.parametrize("channels", [1, 3])
def test_classifier_shapes_grad_jit_vmap(channels):
    cfg = CLS.replace(img_channels=channels, img_resolution=8 if channels == 1 else 16)
    module, variables = init_classifier(cfg, jax.random.key(0))
    x = _images(4, cfg.img_resolution, channels)

    @jax.jit   # one compilation covers batched, vmapped and differentiated calls
    def run(v, im):
        one = jax.vmap(lambda i: classifier_logits(module, v, i[None])[0])(im)
        g = jax.grad(lambda i: classifier_logits(module, v, i)[:, 1].sum())(im)
        return classifier_probs(module, v, im), one, g
    probs, one, g = run(variables, x)
    assert probs.shape == one.shape == (4, 3) and one.dtype == jnp.float32
    np.testing.assert_allclose(probs.sum(-1), 1, rtol=1e-5)
    np.testing.assert_allclose(jax.nn.softmax(one), probs, rtol=1e-5, atol=1e-6)  # no batch stats
    assert g.shape == x.shape and bool(jnp.all(jnp.isfinite(g))) and float(jnp.abs(g).max()) > 0
    # Each example's output depends on that example only.
    probs2 = run(variables, x.at[0].set(0.0))[0]
    np.testing.assert_array_equal(probs2[1:], probs[1:])


def test_segmenter_shapes_grad_jit_vmap():
    module, variables = init_segmenter(SEG, jax.random.key(1))
    x = _images(3)

    @jax.jit
    def run(im):
        one = jax.vmap(lambda i: segmenter_logits(module, variables, i[None])[0])(im)
        g = jax.grad(lambda i: segmenter_logits(module, variables, i)[..., 0].mean())(im)
        return one, g, segment(module, variables, im, threshold=None)
    one, g, probs = run(x)
    assert one.shape == (3, 16, 16, 3)
    assert set(probs) == set(SEG.concepts)
    for k, c in enumerate(SEG.concepts):                        # per-example, no batch stats
        assert probs[c].shape == (3, 16, 16) and probs[c].dtype == jnp.float32
        np.testing.assert_allclose(probs[c], jax.nn.sigmoid(one[..., k]), rtol=1e-5, atol=1e-6)
    assert g.shape == x.shape and bool(jnp.all(jnp.isfinite(g)))


def test_short_classifier_training(trained_classifier):
    m = trained_classifier["metrics"]
    assert m["num_test"] == 500 and m["flip"] is True
    assert m["test_accuracy"] >= 0.9, m                                    # chance is 0.5


def test_checkpoint_round_trip(trained_classifier, tmp_path):
    path = trained_classifier["path"]
    module, variables = classify.load_model(path)
    assert module.cfg == trained_classifier["module"].cfg
    assert module.cfg.task == "shapes:has_sun" and module.cfg.class_names == ("no_sun", "sun")
    jax.tree.map(np.testing.assert_array_equal, variables, trained_classifier["variables"])
    saved = json.loads((path / "metrics.json").read_text())
    assert saved["test_accuracy"] == trained_classifier["metrics"]["test_accuracy"]
    # Segmenter too, and overwriting an existing checkpoint leaves no temporary dirs.
    seg, seg_vars = init_segmenter(SEG, jax.random.key(2))
    target = tmp_path / "seg"
    classify.save_model(target, seg, seg_vars)
    classify.save_model(target, seg, seg_vars)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seg"]
    module2, vars2 = classify.load_model(target)
    assert module2.cfg == SEG
    jax.tree.map(np.testing.assert_array_equal, vars2, seg_vars)
    with pytest.raises(FileNotFoundError, match="not a classifier/segmenter checkpoint"):
        classify.load_model(tmp_path / "missing")


def test_short_segmenter_training():
    res = classify.run_segmenter(
        dict(resolution=16, num_train=600, num_test=200, steps=120, batch_size=16,
             learning_rate=1e-2, warmup_steps=10, flip=True),
        dict(widths=(8, 16), concepts=("sky", "ground", "object")), progress=False)
    iou = res["metrics"]["iou"]
    assert iou["sky"] >= 0.7 and iou["ground"] >= 0.7, iou
    module, variables = res["module"], res["variables"]
    both = jax.jit(lambda im: (segment(module, variables, im),
                               segment(module, variables, im, threshold=None)))
    masks, probs = both(_images(2))
    for c in ("sky", "ground", "object"):
        assert masks[c].shape == (2, 16, 16) and masks[c].dtype == jnp.bool_
        np.testing.assert_array_equal(masks[c], probs[c] > 0.5)


def _np_iou(p, t):
    u = np.logical_or(p, t).sum()
    return np.logical_and(p, t).sum() / u if u else np.nan


def test_mean_iou_matches_numpy_reference():
    rng = np.random.default_rng(0)
    true = {"a": rng.random((2, 5, 5)) > 0.5, "b": np.zeros((2, 5, 5), bool),
            "c": np.zeros((2, 5, 5), bool), "d": rng.random((2, 5, 5)) > 0.7}
    pred = {"a": rng.random((2, 5, 5)) > 0.5, "b": np.zeros((2, 5, 5), bool),
            "c": np.zeros((2, 5, 5), bool), "d": true["d"].copy()}
    true["c"][0, 1, 1] = True                           # c: present in truth only -> IoU 0
    pred["a"][0] = true["a"][0]
    miou, per = mean_iou(pred, true)
    ref = {k: _np_iou(pred[k], true[k]) for k in true}
    assert np.isnan(per["b"]) and np.isnan(ref["b"])     # absent from both -> excluded
    assert per["c"] == 0.0 and per["d"] == 1.0
    for k in "acd":
        assert per[k] == pytest.approx(ref[k])
    assert miou == pytest.approx(np.mean([ref["a"], ref["c"], ref["d"]]))
    # Batched evaluation (batches of 1) pools pixels exactly as one call.
    calls = iter(range(2))

    def segment_fn(images):
        i = next(calls)
        return {k: v[i:i + len(images)] for k, v in pred.items()}
    m1, per1 = classify.evaluate_segmenter(segment_fn, np.zeros((2, 5, 5, 3), np.uint8), true,
                                           batch_size=1)
    assert m1 == pytest.approx(miou) and per1["a"] == pytest.approx(per["a"])
    assert np.isnan(mean_iou({"b": pred["b"]}, {"b": true["b"]})[0])
    with pytest.raises(ValueError, match="missing"):
        mean_iou(pred, true, concepts=["zzz"])


def test_determinism_same_seed_same_params():
    opts = dict(task="shapes:is_circle", resolution=16, num_train=64, num_test=16, steps=3,
                batch_size=16, seed=3)
    model = dict(widths=(8,))
    a = classify.run_classifier(opts, model, progress=False)["variables"]
    b = classify.run_classifier(opts, model, progress=False)["variables"]
    jax.tree.map(np.testing.assert_array_equal, a, b)
    c = classify.run_classifier({**opts, "seed": 4}, model, progress=False)["variables"]
    assert not np.array_equal(a["params"]["head"]["kernel"], c["params"]["head"]["kernel"])


def test_bad_inputs_raise_clear_errors():
    module, variables = init_classifier(CLS, jax.random.key(0))
    with pytest.raises(ValueError, match=r"\[N, 16, 16, 3\]"):
        classifier_logits(module, variables, _images(2, 16, 1))         # wrong channels
    with pytest.raises(ValueError, match=r"\[N, 16, 16, 3\]"):
        classifier_logits(module, variables, _images(2, 32, 3))         # wrong size
    with pytest.raises(ValueError, match="NHWC"):
        classifier_logits(module, variables, jnp.zeros((16, 16, 3)))    # no batch axis
    with pytest.raises(TypeError, match="to_float"):
        classifier_logits(module, variables, jnp.zeros((1, 16, 16, 3), jnp.uint8))
    seg, seg_vars = init_segmenter(SEG, jax.random.key(0))
    with pytest.raises(ValueError, match="Segmenter expects"):
        segment(seg, seg_vars, _images(1, 16, 1))
    with pytest.raises(ValueError, match="unknown task 'nope'"):
        classify.run_classifier(dict(task="shapes:nope"), progress=False)
    with pytest.raises(ValueError, match="unknown classification task"):
        classify.run_classifier(dict(task="imagenet"), progress=False)
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['bogus'\]"):
        classify.run_classifier(dict(task="digits", bogus=1), progress=False)
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['bogus'\]"):
        classify.run_classifier(dict(task="digits", steps=1), dict(bogus=1), progress=False)
    with pytest.raises(ValueError, match="flip=True changes the labels"):
        classify.run_classifier(dict(task="shapes:object_left", flip=True, num_train=32,
                                     num_test=8), progress=False)
    with pytest.raises(ValueError, match="num_classes"):
        ClassifierConfig(num_classes=1)
    with pytest.raises(ValueError, match="divisible"):
        SegmenterConfig(img_resolution=18, widths=(8, 16, 32))
    assert config_from_json(CLS.to_json()) == CLS and config_from_json(SEG.to_json()) == SEG


def test_cli_rejects_unknown_keys(capsys):
    from jaxgan.train.classifier import main
    assert main(["--task", "digits", "--set", "bogus=1", "--no-save", "--no-progress"]) == 2
    assert "bogus" in capsys.readouterr().err
    from jaxgan.configs.classifier import PRESETS, get_config
    assert set(PRESETS) == {"shapes_shape", "shapes_has_sun", "digits", "segmenter_shapes",
                            "folder", "segmenter_folder"}
    for name in PRESETS:
        cfg = get_config(name)
        classify.TrainOptions.from_dict(cfg["train"])
        kind = ClassifierConfig if cfg["kind"] == "classifier" else SegmenterConfig
        kind.from_dict(cfg["model"])
    with pytest.raises(ValueError, match="unknown preset"):
        get_config("nope")
