"""Digits (scikit-learn, upsampled, fixed split) and image-folder loading."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from jaxgan.data import load_digits_dataset, load_image_folder, render_shapes
from jaxgan.data.digits import resize_matrix, split_indices
from jaxgan.data.folder import iter_image_folder

# ------------------------------------------------------------------------------ digits

@pytest.fixture(scope="module")
def digits_source():
    return pytest.importorskip("sklearn.datasets").load_digits()


def test_digits_split_sizes_disjoint_deterministic(digits_source):
    tr, te = load_digits_dataset("train", 16), load_digits_dataset("test", 16)
    assert len(tr["image"]) + len(te["image"]) == 1797 and len(te["image"]) == 355
    assert tr["image"].shape[1:] == (16, 16, 1) and tr["image"].dtype == np.uint8
    assert not set(tr["index"]) & set(te["index"])
    np.testing.assert_array_equal(np.sort(np.concatenate([tr["index"], te["index"]])),
                                  np.arange(1797))
    np.testing.assert_array_equal(tr["label"], digits_source.target[tr["index"]])
    # Stratified: every class has ~20% of its images in test.
    frac = np.bincount(te["label"], minlength=10) / np.bincount(digits_source.target)
    assert np.all(np.abs(frac - 0.2) < 0.01)
    again = load_digits_dataset("test", 16)
    for k in te:
        np.testing.assert_array_equal(te[k], again[k])
    np.testing.assert_array_equal(split_indices(digits_source.target, "test"), te["index"])


@pytest.mark.parametrize("method", ["bilinear", "lanczos"])
def test_digits_upsampling_preserves_pattern(digits_source, method):
    d = load_digits_dataset("all", 32, method=method)
    assert d["image"].shape == (1797, 32, 32, 1)
    down = d["image"][..., 0].astype(np.float64).reshape(-1, 8, 4, 8, 4).mean((2, 4))
    src = digits_source.images * (255 / 16)
    a, b = down.reshape(1797, -1), src.reshape(1797, -1)
    a, b = a - a.mean(1, keepdims=True), b - b.mean(1, keepdims=True)
    corr = (a * b).sum(1) / np.sqrt((a * a).sum(1) * (b * b).sum(1))
    assert corr.min() > 0.95
    assert abs(down.mean() - src.mean()) < 3


def test_digits_channels_and_errors(digits_source):
    d = load_digits_dataset("test", 16, channels=3)
    assert d["image"].shape == (355, 16, 16, 3)
    assert np.all(d["image"][..., 0] == d["image"][..., 2])
    np.testing.assert_allclose(resize_matrix(8, 32).sum(1), 1)
    for kwargs in (dict(split="val"), dict(resolution=24), dict(channels=2)):
        with pytest.raises(ValueError):
            load_digits_dataset(**kwargs)


# ------------------------------------------------------------------------------ folder

def _save(path, array, mode=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode).save(path)
    return path


@pytest.fixture()
def class_folder(tmp_path):
    imgs = render_shapes(5, 16, seed=0)["image"]
    root = tmp_path / "ds"
    _save(root / "cats" / "0.png", imgs[0])
    _save(root / "cats" / "1.jpg", imgs[1])
    _save(root / "cats" / "nested" / "2.png", imgs[2])
    _save(root / "dogs" / "3.png", imgs[3][..., 0])                               # grey
    _save(root / "dogs" / "4.png", np.dstack([imgs[4], np.full((16, 16), 128, np.uint8)]))
    (root / "dogs" / "corrupt.png").write_bytes(np.random.default_rng(0).bytes(300))
    (root / "dogs" / "notes.txt").write_text("not an image")
    return root


def test_folder_loads_labels_and_skips_corrupt(class_folder):
    with pytest.warns(RuntimeWarning) as rec:
        d = load_image_folder(class_folder, 8)
    messages = [str(w.message) for w in rec]
    assert len(messages) == 2 and "corrupt.png" in messages[0]
    assert "skipped 1 unreadable file(s) of 6" in messages[1]
    assert d["image"].shape == (5, 8, 8, 3) and d["image"].dtype == np.uint8
    assert d["class_names"] == ["cats", "dogs"]
    np.testing.assert_array_equal(d["label"], [0, 0, 0, 1, 1])
    assert [p.rsplit("/", 1)[-1] for p in d["files"]] == ["0.png", "1.jpg", "2.png", "3.png",
                                                           "4.png"]
    assert len(d["skipped"]) == 1 and d["skipped"][0].endswith("corrupt.png")
    assert not d["flipped"].any()
    grey = d["image"][3]
    assert np.all(grey[..., 0] == grey[..., 1]) and np.all(grey[..., 1] == grey[..., 2])
    with pytest.warns(RuntimeWarning):
        g1 = load_image_folder(class_folder, 8, channels=1, labels_from_subfolders=False)
    assert g1["image"].shape == (5, 8, 8, 1) and "label" not in g1 and g1["class_names"] == []
    with pytest.warns(RuntimeWarning, match="corrupt.png"):
        streamed = list(iter_image_folder(class_folder, 8))
    assert [lab for _, _, lab in streamed] == [0, 0, 0, 1, 1]
    np.testing.assert_array_equal(np.stack([im for _, im, _ in streamed]), d["image"])


def test_folder_mirror_doubles_and_flips(class_folder):
    with pytest.warns(RuntimeWarning):
        d = load_image_folder(class_folder, 8)
        m = load_image_folder(class_folder, 8, mirror=True)
    assert len(m["image"]) == 10 and len(m["label"]) == 10 and m["flipped"].sum() == 5
    np.testing.assert_array_equal(m["image"][:5], d["image"])
    np.testing.assert_array_equal(m["image"][5:], d["image"][:, :, ::-1])
    np.testing.assert_array_equal(m["label"], np.tile(d["label"], 2))


def test_folder_resize_centre_crop(tmp_path):
    a = np.zeros((20, 40, 3), np.uint8)       # 40 wide x 20 high: green|red|blue|green bands
    a[:, :10] = (0, 255, 0)
    a[:, 10:20] = (255, 0, 0)
    a[:, 20:30] = (0, 0, 255)
    a[:, 30:] = (0, 255, 0)
    _save(tmp_path / "flat" / "bands.png", a)
    d = load_image_folder(tmp_path / "flat", 16)
    assert "label" not in d and d["image"].shape == (1, 16, 16, 3)
    img = d["image"][0].astype(int)
    left, right = img[:, :8], img[:, 8:]
    assert left[..., 0].min() > 200 and right[..., 2].min() > 200
    assert img[..., 1].max() < 20                # the green side bands were cropped away
    assert left[..., 2].max() < 20 and right[..., 0].max() < 20


def test_folder_errors(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_image_folder(missing, 8)
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "readme.txt").write_text("x")
    with pytest.raises(ValueError, match="empty"):
        load_image_folder(empty, 8)
    with pytest.raises(NotADirectoryError):
        load_image_folder(empty / "readme.txt", 8)
    with pytest.raises(ValueError, match="power of two"):
        load_image_folder(empty, 12)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.png").write_bytes(b"nope")
    with pytest.warns(RuntimeWarning) as rec, pytest.raises(ValueError, match="readable"):
        load_image_folder(bad, 8)
    assert "x.png" in str(rec[0].message)
    mixed = tmp_path / "mixed"
    _save(mixed / "top.png", np.zeros((4, 4), np.uint8))
    _save(mixed / "cls" / "a.png", np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match="top level"):
        load_image_folder(mixed, 4)
