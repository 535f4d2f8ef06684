"""Encoder image -> W+: shapes, transformations (jit/vmap/grad), errors, learning, scale."""
from __future__ import annotations

from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxgan.nets.configs import DiscriminatorConfig, EncoderConfig
from jaxgan.nets.discriminator import Discriminator
from jaxgan.nets.encoder import Encoder, backbone_from_discriminator, ws_levels

R, W_DIM, N = 16, 16, 16
CFG = EncoderConfig(img_resolution=R, img_channels=3, w_dim=W_DIM, channel_base=1024,
                    channel_max=64)


def _key(seed):
    # 'rbg' keys: the initialiser compiles several times faster than threefry on CPU.
    return jax.random.key(seed, impl="rbg")


def _smooth_images(seed, n, res, channels):
    """Low-frequency images ``[n, res, res, channels]`` (bilinear 4x4 noise, numpy)."""
    x = np.random.default_rng(seed).standard_normal((n, 4, 4, channels))
    u = np.clip((np.arange(res) + 0.5) * 4 / res - 0.5, 0, 3)
    m = np.maximum(0, 1 - np.abs(u[:, None] - np.arange(4)[None]))          # [res, 4]
    return np.clip(np.einsum("ia,jb,nabc->nijc", m, m, x), -1, 1).astype(np.float32)


def _init_numpy(E, img_shape, seed):
    """Host-side replica of the initialiser (weights N(0, 1), biases 0; lr_multiplier 1 here):
    saves compiling ``E.init``; the fixture's real ``E.init`` is checked against it."""
    rng = np.random.default_rng(seed)
    abstract = jax.eval_shape(E.init, {"params": jax.random.key(0)},
                              jax.ShapeDtypeStruct(img_shape, jnp.float32))
    return jax.tree_util.tree_map_with_path(
        lambda path, s: (np.zeros if path[-1].key == "bias" else rng.standard_normal)(
            s.shape).astype(np.float32), abstract)


@pytest.fixture(scope="module")
def enc():
    """Shared encoder for CFG; every jitted function is compiled once for the batch of N."""
    E = Encoder(CFG)
    imgs = _smooth_images(1, N, R, 3)                                   # [N, R, R, 3]
    variables, apply = jax.jit(E.init)({"params": _key(0)}, imgs), jax.jit(E.apply)

    def loss(params, img, target):
        return jnp.mean(jnp.square(E.apply({"params": params}, img) - target))

    return SimpleNamespace(E=E, variables=variables, imgs=imgs, ws=apply(variables, imgs),
                           apply=apply,
                           value_and_grad=jax.jit(jax.value_and_grad(loss, argnums=(0, 1))))


@pytest.mark.parametrize("res,channels,num_ws", [
    (8, 3, None), (8, 1, 1), (16, 1, None), (16, 3, 3), (32, 3, None), (32, 1, 20),
    (64, 3, None)])
def test_output_shape(res, channels, num_ws):
    cfg = EncoderConfig(img_resolution=res, img_channels=channels, w_dim=W_DIM, num_ws=num_ws,
                        channel_base=256, channel_max=32)
    E = Encoder(cfg)
    img = jax.ShapeDtypeStruct((2, res, res, channels), jnp.float32)
    variables = jax.eval_shape(E.init, {"params": jax.random.key(0)}, img)
    ws = jax.eval_shape(E.apply, variables, img)
    expected_ws = num_ws if num_ws is not None else 2 * int(np.log2(res)) - 2
    assert ws.shape == (2, expected_ws, W_DIM) and ws.dtype == jnp.float32
    # The backbone has the discriminator's block names; the levels tile [0, num_ws).
    assert {f"b{2 ** i}" for i in range(3, int(np.log2(res)) + 1)} <= set(variables["params"])
    levels = ws_levels(cfg)
    assert levels[0][1] == 0 and levels[-1][2] == expected_ws
    assert all(a[2] == b[1] for a, b in zip(levels, levels[1:]))
    assert all(f"head{r}" in variables["params"] for r, _, _ in levels)


def test_pyramid_assignment():
    cfg = EncoderConfig(img_resolution=1024, w_dim=8, channel_base=64, channel_max=8)
    assert ws_levels(cfg) == ((4, 0, 4), (8, 4, 8), (16, 8, 18))
    assert ws_levels(cfg.replace(num_ws=3)) == ((4, 0, 3),)
    assert ws_levels(cfg.replace(img_resolution=16)) == ((4, 0, 4), (8, 4, 6))
    assert ws_levels(cfg.replace(img_resolution=8)) == ((4, 0, 4),)


def test_backbone_from_discriminator():
    shape = (2, R, R, 3)
    params = _init_numpy(Encoder(CFG), shape, 0)["params"]
    d_cfg = DiscriminatorConfig(img_resolution=R, channel_base=CFG.channel_base,
                                channel_max=CFG.channel_max, mbstd_group_size=None)
    d_params = _init_numpy(Discriminator(d_cfg), shape, 1)["params"]
    new = backbone_from_discriminator(params, d_params)
    assert new.keys() == params.keys()
    assert new["b16"] is d_params["b16"] and new["b8"] is d_params["b8"]
    assert new["head4"] is params["head4"]
    bad = _init_numpy(Discriminator(d_cfg.replace(channel_max=32)), shape, 1)["params"]
    with pytest.raises(ValueError, match="block 'b16' shapes differ"):
        backbone_from_discriminator(params, bad)


def test_jit_matches_eager():
    cfg = EncoderConfig(img_resolution=8, img_channels=1, w_dim=W_DIM, num_ws=2,
                        channel_base=256, channel_max=32)
    E = Encoder(cfg)
    img = _smooth_images(2, 2, 8, 1)
    variables = _init_numpy(E, img.shape, 1)
    eager = E.apply(variables, img)
    np.testing.assert_allclose(jax.jit(E.apply)(variables, img), eager, rtol=1e-5, atol=1e-5)


def test_vmap_and_w_avg(enc):
    a, b, c = enc.imgs, enc.imgs[::-1], _smooth_images(3, N, R, 3)
    stacked = np.stack([np.concatenate([a[:1], b[1:]]), np.concatenate([a[:1], c[1:]])])
    w_avg = np.linspace(-1.0, 1.0, W_DIM, dtype=np.float32)
    batched = jax.jit(jax.vmap(lambda x: enc.E.apply(enc.variables, x, w_avg)))(stacked)
    looped = np.stack([enc.apply(enc.variables, x) for x in stacked])    # [2, N, num_ws, w_dim]
    assert batched.shape == (2, N, CFG.resolved_num_ws, W_DIM)
    np.testing.assert_allclose(batched - w_avg, looped, rtol=1e-5, atol=1e-5)  # w_avg: offset
    # No minibatch statistics: sample 0 is encoded the same whatever the rest of the batch.
    np.testing.assert_allclose(batched[0, 0], batched[1, 0], rtol=1e-5, atol=1e-5)


def test_grad_params_and_input(enc):
    """jit(value_and_grad) w.r.t. params and image; checked by finite differences."""
    to_np = lambda tree: jax.tree_util.tree_map(np.asarray, tree)   # host maths: no op compiles
    params, imgs = to_np(enc.variables["params"]), np.asarray(enc.imgs)
    target = np.random.default_rng(5).standard_normal(enc.ws.shape).astype(np.float32)
    value, (g_params, g_img) = to_np(enc.value_and_grad(params, imgs, target))
    assert g_img.shape == imgs.shape
    leaves = jax.tree_util.tree_leaves(g_params)
    assert all(np.all(np.isfinite(g)) and np.abs(g).max() > 0 for g in leaves)  # all used
    np.testing.assert_allclose(value, np.mean(np.square(np.asarray(enc.ws) - target)),
                               rtol=1e-5)
    # Central finite differences along the normalised gradient give back its norm.
    loss = lambda p, x: float(enc.value_and_grad(p, x, target)[0])
    eps = 1e-2
    norm = np.linalg.norm(g_img)
    fd = loss(params, imgs + eps * g_img / norm) - loss(params, imgs - eps * g_img / norm)
    np.testing.assert_allclose(fd / (2 * eps), norm, rtol=2e-2)
    norm = np.sqrt(sum(np.sum(np.square(g)) for g in leaves))
    shift = lambda s: jax.tree_util.tree_map(lambda p, g: p + s * g / norm, params, g_params)
    fd = loss(shift(eps), imgs) - loss(shift(-eps), imgs)
    np.testing.assert_allclose(fd / (2 * eps), norm, rtol=2e-2)


def test_bad_shapes(enc):
    abstract = jax.eval_shape(lambda: enc.variables)
    for bad in [(N, R, R, 1), (N, 3, R, R), (R, R, 3), (N, 2 * R, 2 * R, 3)]:
        with pytest.raises(ValueError, match=rf"img must be \[N, {R}, {R}, 3\].*got"):
            jax.eval_shape(enc.E.apply, abstract, jax.ShapeDtypeStruct(bad, jnp.float32))
    with pytest.raises(ValueError, match=rf"w_avg must be \[{W_DIM}\]"):
        jax.eval_shape(enc.E.apply, abstract, enc.imgs, jnp.zeros((W_DIM + 1,)))
    per_layer = jnp.zeros((CFG.resolved_num_ws, W_DIM))                  # also accepted
    assert jax.eval_shape(enc.E.apply, abstract, enc.imgs, per_layer).shape == enc.ws.shape


def test_learns_to_invert_linear_generator(enc):
    """Regress w from images of a fixed random linear generator (fresh batches, held-out loss)."""
    A = jax.random.normal(jax.random.key(11), (W_DIM, 4 * 4 * 3)) / np.sqrt(W_DIM)
    opt = optax.adam(1e-2)

    @jax.jit
    def render(key):                                   # -> (images [N, R, R, 3], ws targets)
        w = jax.random.normal(key, (N, W_DIM))
        img = jax.image.resize((w @ A).reshape(N, 4, 4, 3), (N, R, R, 3), "bilinear")
        return img, jnp.broadcast_to(w[:, None], (N, CFG.resolved_num_ws, W_DIM))

    params = enc.variables["params"]
    state = jax.jit(opt.init)(params)

    @jax.jit
    def update(g, state, params):
        updates, state = opt.update(g, state, params)
        return optax.apply_updates(params, updates), state

    held_out = [render(jax.random.key(1000 + i)) for i in range(4)]
    eval_loss = lambda p: np.mean([enc.value_and_grad(p, x, t)[0] for x, t in held_out])
    before = eval_loss(params)
    for i in range(100):
        _, (g, _) = enc.value_and_grad(params, *render(jax.random.key(i)))
        params, state = update(g, state, params)
    after = eval_loss(params)
    assert after < before / 5, (before, after)


def test_initial_scale_independent_of_width(enc):
    """Equalised learning rate: O(1) outputs at init for narrow and wide networks."""
    imgs, ws_narrow = enc.imgs, enc.ws
    for path, p in jax.tree_util.tree_leaves_with_path(enc.variables):   # the real init
        p = np.asarray(p)
        if path[-1].key == "bias":
            assert np.all(p == 0), path
        else:
            assert abs(p.mean()) < 0.2 and 0.8 < p.std() < 1.2, path
    wide = Encoder(CFG.replace(channel_base=8192, channel_max=256))
    ws_wide = jax.jit(wide.apply)(_init_numpy(wide, imgs.shape, 0), imgs)
    rms = [np.sqrt(np.mean(np.square(np.asarray(w)))) for w in (ws_narrow, ws_wide)]
    assert all(0.1 < r < 10 for r in rms), rms
    assert 1 / 3 < rms[0] / rms[1] < 3, rms
