"""Synthetic shapes scenes: determinism, masks vs pixels and geometry, tasks, errors."""
from __future__ import annotations

import colorsys
import math

import numpy as np
import pytest

from jaxgan.data import (ALL_SHAPES, FACTOR_NAMES, MASK_NAMES, TASKS, array_items,
                         make_task_dataset, render_factors, render_shapes, sample_factors,
                         to_float, to_uint8)
from jaxgan.data.shapes import STRIPE_DARKEN, SUN_COLOR, shape_scale


@pytest.fixture(scope="module")
def scenes64():
    """24 scenes of all five shapes at 64x64, most with sun and texture."""
    return render_shapes(24, 64, seed=7, shapes=ALL_SHAPES, p_sun=0.8, p_texture=0.6)


def _erode(mask, k=1):
    """Binary erosion with a (2k+1)^2 square; border pixels count as outside."""
    m = np.pad(mask, ((0, 0), (k, k), (k, k)))
    out = np.ones_like(mask)
    h, w = mask.shape[1:]
    for dy in range(2 * k + 1):
        for dx in range(2 * k + 1):
            out &= m[:, dy:dy + h, dx:dx + w]
    return out


def test_schema_and_determinism():
    a = render_shapes(12, 16, seed=3)
    b = render_shapes(12, 16, seed=3)
    assert set(a) == {"image", *FACTOR_NAMES, *(f"mask_{m}" for m in MASK_NAMES)}
    assert a["image"].shape == (12, 16, 16, 3) and a["image"].dtype == np.uint8
    assert all(len(v) == 12 for v in a.values()) and array_items(a).keys() == a.keys()
    assert a["mask_sky"].dtype == bool and a["object_color"].shape == (12, 3)
    for k in a:
        assert a[k].tobytes() == b[k].tobytes(), k
    # Chunked rendering (start=...) concatenates to the same arrays as one call.
    parts = [render_shapes(5, 16, seed=3), render_shapes(7, 16, seed=3, start=5)]
    for k in a:
        np.testing.assert_array_equal(np.concatenate([p[k] for p in parts]), a[k], err_msg=k)
    c = render_shapes(12, 16, seed=4)
    assert not np.array_equal(a["image"], c["image"])
    assert not np.array_equal(a["object_x"], c["object_x"])


def test_masks_partition_image(scenes64):
    d = scenes64
    layers = np.stack([d[f"mask_{m}"] for m in ("sky", "ground", "sun", "object")])
    assert np.all(layers.sum(0) == 1)                      # disjoint and covering
    per_shape = np.stack([d[f"mask_{s}"] for s in ALL_SHAPES])
    np.testing.assert_array_equal(per_shape.sum(0), d["mask_object"])
    for k, s in enumerate(ALL_SHAPES):
        assert not d[f"mask_{s}"][d["shape"] != k].any()
    assert not (d["mask_texture"] & ~d["mask_object"]).any()
    assert not d["mask_texture"][~d["has_texture"]].any()
    assert not d["mask_sun"][~d["has_sun"]].any()
    assert d["has_sun"].any() and d["has_texture"].any() and (~d["has_texture"]).any()


def test_masks_agree_with_pixels(scenes64):
    d = scenes64
    img = d["image"].astype(np.float32) / 255
    obj = d["object_color"][:, None, None, :]
    stripe = STRIPE_DARKEN * obj
    checks = {"sky": d["sky_color"][:, None, None, :], "ground": d["ground_color"][:, None, None, :],
              "sun": np.asarray(SUN_COLOR, np.float32)}
    for name, colour in checks.items():
        m = _erode(d[f"mask_{name}"])
        assert m.sum() > 50, name
        err = np.abs(img - colour)[m]
        assert err.max() < 1.5 / 255, name
    plain = _erode(d["mask_object"] & ~d["mask_texture"])
    assert np.abs(img - obj)[plain].max() < 1.5 / 255
    tex = _erode(d["mask_texture"])
    assert tex.sum() > 20 and np.abs(img - stripe)[tex].max() < 1.5 / 255
    # Anywhere inside the (eroded) object, the colour is a blend of object and stripe colours.
    inside = _erode(d["mask_object"])
    t = np.clip(((img - obj) * (stripe - obj)).sum(-1, keepdims=True)
                / ((stripe - obj) ** 2).sum(-1, keepdims=True), 0, 1)
    dist = np.abs(img - (obj + t * (stripe - obj))).max(-1)
    assert dist[inside].max() < 2 / 255


def test_mask_geometry_matches_factors():
    n, r = 15, 128
    d = render_shapes(n, r, seed=11, shapes=ALL_SHAPES, has_sun=False, p_texture=0.0,
                      shape=np.arange(n) % 5)
    s = shape_scale(d["shape"], d["object_size"]).astype(np.float64)
    sqrt3 = math.sqrt(3)
    analytic = {"circle": math.pi * s ** 2, "square": (2 * s) ** 2,
                "triangle": 3 * sqrt3 / 4 * s ** 2, "hexagon": 3 * sqrt3 / 2 * s ** 2,
                "star": d["object_size"].astype(np.float64) ** 2}
    area = d["mask_object"].mean(axis=(1, 2))
    for k, name in enumerate(ALL_SHAPES):
        sel = d["shape"] == k
        np.testing.assert_allclose(area[sel], analytic[name][sel], rtol=0.04, err_msg=name)
        np.testing.assert_allclose(area[sel], d["object_area"][sel], rtol=0.04, err_msg=name)
    # Regular shapes: the mask centroid is the object's centre.
    g = (np.arange(r) + 0.5) / r
    m = d["mask_object"]
    cx = (m * g[None, None, :]).sum((1, 2)) / m.sum((1, 2))
    cy = (m * g[None, :, None]).sum((1, 2)) / m.sum((1, 2))
    np.testing.assert_allclose(cx, d["object_x"], atol=0.5 / r)
    np.testing.assert_allclose(cy, d["object_y"], atol=0.5 / r)
    # Ground mask is everything below the horizon (except the object).
    below = g[None, :, None] > d["horizon"][:, None, None]
    np.testing.assert_array_equal(d["mask_ground"], below & ~m)
    # Objects lie fully inside the image.
    assert not (m[:, 0].any() or m[:, -1].any() or m[:, :, 0].any() or m[:, :, -1].any())


def test_sun_geometry():
    d = render_shapes(8, 128, seed=5, has_sun=True, object_size=0.05, object_y=0.93)
    area = d["mask_sun"].mean(axis=(1, 2))
    np.testing.assert_allclose(area, math.pi * d["sun_radius"].astype(np.float64) ** 2, rtol=0.05)
    assert np.all(d["sun_y"] + d["sun_radius"] < d["horizon"])
    assert not (d["mask_sun"] & (np.arange(128)[None, :, None] + 0.5 > 128 * d["horizon"][:, None,
                                                                                   None])).any()


def test_resolutions_render_same_scene():
    lo = render_shapes(6, 16, seed=2)
    hi = render_shapes(6, 64, seed=2)
    assert hi["image"].shape == (6, 64, 64, 3) and lo["mask_object"].shape == (6, 16, 16)
    pooled = hi["image"].astype(np.float32).reshape(6, 16, 4, 16, 4, 3).mean((2, 4))
    assert np.abs(pooled - lo["image"]).mean() < 6
    for k in FACTOR_NAMES:
        np.testing.assert_array_equal(lo[k], hi[k])


def test_fixed_factors_and_smooth_edits():
    base = sample_factors(6, 9)
    no_sun = sample_factors(6, 9, has_sun=False, shape="circle")
    assert not no_sun["has_sun"].any() and np.all(no_sun["shape"] == 0)
    for k in ("object_color", "horizon", "sun_x", "stripe_angle", "rotation"):
        np.testing.assert_array_equal(base[k], no_sun[k])
    assert not render_factors(no_sun, 16)["mask_sun"].any()
    # A sub-pixel shift of the object changes the image a little, not a lot (anti-aliasing).
    moved = {**base, "object_x": base["object_x"] + 0.25 / 32}
    a, b = (render_factors(f, 32)["image"].astype(np.float32) for f in (base, moved))
    diff = np.abs(a - b)
    assert 0 < diff.mean() and diff.max() < 0.5 * 255


@pytest.mark.parametrize("name", sorted(TASKS))
def test_task_labels_match_factors(name):
    expected = {
        "is_circle": lambda f: f["shape"] == 0,
        "shape": lambda f: f["shape"],
        "shape5": lambda f: f["shape"],
        "has_sun": lambda f: f["has_sun"],
        "has_texture": lambda f: f["has_texture"],
        "circle_and_sun": lambda f: (f["shape"] == 0) & f["has_sun"],
        "object_size_large": lambda f: f["object_size"] > 0.29,
        "object_left": lambda f: f["object_x"] < 0.5,
        "large_low_horizon": lambda f: (f["object_size"] > 0.29) & (f["horizon"] < 0.575),
        "large_high_horizon": lambda f: (f["object_size"] > 0.29) & (f["horizon"] > 0.575),
        # hue from the standard library's HSV conversion, within a quarter turn of red
        "red_high_horizon": lambda f: np.array(
            [min(h, 1 - h) < 0.25 for h in (colorsys.rgb_to_hsv(*c)[0] for c in f["object_color"])])
        & (f["horizon"] > 0.575),
    }
    t = TASKS[name]
    d = make_task_dataset(name, 40, 16, seed=1)
    assert d["label"].dtype == np.int64 and d["image"].shape == (40, 16, 16, 3)
    np.testing.assert_array_equal(d["label"], np.asarray(expected[name](d), np.int64))
    assert d["label"].min() >= 0 and d["label"].max() < t.num_classes
    assert len(t.class_names) == t.num_classes and set(t.depends_on) <= set(FACTOR_NAMES)
    if name == "shape5":
        assert set(np.unique(d["label"])) == set(range(5))


def test_object_redness_against_colorsys():
    """Hue distance to red from the standard library's HSV; the jax path equals numpy's."""
    import jax.numpy as jnp

    from jaxgan.data.tasks import object_redness
    c = np.random.default_rng(0).random((500, 3))
    c[:3] = [[0.5, 0.5, 0.5], [1.0, 0.0, 0.0], [0.0, 1.0, 1.0]]      # grey, red, cyan
    hue = np.array([colorsys.rgb_to_hsv(*x)[0] for x in c])
    want = np.where(c.max(1) > c.min(1), 0.5 - np.minimum(hue, 1 - hue), 0.0)
    np.testing.assert_allclose(object_redness(c), want, atol=1e-12)
    np.testing.assert_allclose(object_redness(c)[:3], [0.0, 0.5, 0.0])
    np.testing.assert_allclose(np.asarray(object_redness(jnp.asarray(c, jnp.float32), jnp)),
                               want, atol=1e-6)


def test_shape_task_rejects_extra_shapes():
    with pytest.raises(ValueError, match="shape5"):
        make_task_dataset("shape", 4, 16, shapes=("star",))
    with pytest.raises(ValueError, match="unknown task"):
        make_task_dataset("nope", 4, 16)


@pytest.mark.parametrize("kwargs, match", [
    (dict(resolution=24), "power of two"), (dict(resolution=8), "power of two"),
    (dict(resolution=512), "power of two"), (dict(resolution="32"), "power of two"),
    (dict(n=-1), "non-negative"), (dict(seed=-2), "non-negative"),
    (dict(colour="red"), "unknown factor option"), (dict(p_sun=1.5), "p_sun"),
    (dict(shapes=("blob",)), "shapes"), (dict(size_range=(0.3, 0.1)), "size_range"),
    (dict(shape="blob"), "unknown shape"), (dict(object_x=[0.1, 0.2]), "broadcast"),
])
def test_bad_arguments(kwargs, match):
    args = dict(n=3, resolution=16, seed=0) | kwargs
    with pytest.raises(ValueError, match=match):
        render_shapes(args.pop("n"), args.pop("resolution"), args.pop("seed"), **args)


def test_zero_images_and_uint8_float_roundtrip():
    d = render_shapes(0, 16)
    assert d["image"].shape == (0, 16, 16, 3) and d["mask_sky"].shape == (0, 16, 16)
    x = np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1)
    f = to_float(x)
    assert f.dtype == np.float32 and f.min() == -1 and f.max() == 1
    np.testing.assert_array_equal(to_uint8(f), x)
    np.testing.assert_array_equal(to_uint8(np.array([-3.0, 3.0])), [0, 255])
    import jax.numpy as jnp  # noqa: PLC0415
    np.testing.assert_array_equal(np.asarray(to_uint8(to_float(jnp.asarray(x)))), x)
