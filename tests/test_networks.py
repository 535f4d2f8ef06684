"""Generator/discriminator behaviour beyond the fixtures: transforms, StyleSpace, noise,
w_avg, mixed precision, config validation. Tiny networks throughout."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import model
from jaxgan.nets.configs import DiscriminatorConfig, GeneratorConfig, config_from_json

GCFG = GeneratorConfig(img_resolution=16, z_dim=16, w_dim=16, mapping_layers=2,
                       channel_base=256, channel_max=16)
DCFG = DiscriminatorConfig(img_resolution=16, channel_base=256, channel_max=16, mbstd_group_size=2)


def _perturb(variables, key, scale=0.3):
    """Non-zero biases, noise strengths and w_avg (fresh init leaves them zero)."""
    leaves, tree = jax.tree_util.tree_flatten_with_path(variables)
    out = []
    for i, (path, leaf) in enumerate(leaves):
        name = jax.tree_util.keystr(path)
        if any(s in name for s in ("bias", "noise_strength", "w_avg")):
            leaf = leaf + scale * jax.random.normal(jax.random.fold_in(key, i), leaf.shape)
        out.append(leaf)
    return jax.tree_util.tree_unflatten(tree, out)


@pytest.fixture(scope="module")
def gen():
    G, v = model.init_generator(GCFG, jax.random.key(0))
    return G, _perturb(v, jax.random.key(1))


@pytest.fixture(scope="module")
def disc():
    D, v = model.init_discriminator(DCFG, jax.random.key(2))
    return D, _perturb(v, jax.random.key(3))


def test_shapes_and_num_ws(gen):
    G, v = gen
    z = jax.random.normal(jax.random.key(4), (3, GCFG.z_dim))
    ws = model.mapping(G, v, z)
    assert ws.shape == (3, GCFG.num_ws, GCFG.w_dim) and GCFG.num_ws == 6
    img = model.synthesize(G, v, ws)
    assert img.shape == (3, 16, 16, 3) and img.dtype == jnp.float32
    st = model.styles(G, v, ws)
    assert sorted(st) == ["b16", "b4", "b8"]
    assert sorted(st["b4"]) == ["conv1", "torgb"] and sorted(st["b8"]) == ["conv0", "conv1", "torgb"]
    assert st["b8"]["conv0"].shape == (3, GCFG.channels(4))


def test_jit_vmap_grad_generator(gen):
    G, v = gen
    z = jax.random.normal(jax.random.key(5), (4, GCFG.z_dim))
    ref = model.generate(G, v, z)
    jitted = jax.jit(lambda v, z: model.generate(G, v, z))(v, z)
    np.testing.assert_allclose(jitted, ref, atol=1e-5)
    # vmap over a leading axis of single-image batches equals the batched call.
    vm = jax.vmap(lambda zz: model.generate(G, v, zz[None])[0])(z)
    np.testing.assert_allclose(vm, ref, atol=1e-5)
    # grad w.r.t. ws and w.r.t. params: finite, and matches a finite difference along a direction.
    ws = model.mapping(G, v, z)
    loss = lambda ws: jnp.mean(model.synthesize(G, v, ws) ** 2)
    g = jax.grad(loss)(ws)
    d = jax.random.normal(jax.random.key(6), ws.shape)
    eps = 1e-2
    fd = (loss(ws + eps * d) - loss(ws - eps * d)) / (2 * eps)
    np.testing.assert_allclose(jnp.vdot(g, d), fd, rtol=2e-2)
    gp = jax.grad(lambda p: jnp.mean(model.generate(G, {**v, "params": p}, z) ** 2))(v["params"])
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(gp))
    assert float(jnp.abs(gp["synthesis"]["b16"]["conv1"]["weight"]).max()) > 0


def test_jit_vmap_grad_discriminator(disc):
    D, v = disc
    img = jax.random.normal(jax.random.key(7), (4, 16, 16, 3))
    ref = model.discriminate(D, v, img)
    np.testing.assert_allclose(jax.jit(lambda v, x: model.discriminate(D, v, x))(v, img), ref, atol=1e-5)
    # vmap over groups of 2 (= mbstd group size) equals calling per group.
    grp = img.reshape(2, 2, 16, 16, 3)
    vm = jax.vmap(lambda x: model.discriminate(D, v, x))(grp).reshape(4, 1)
    loop = jnp.concatenate([model.discriminate(D, v, grp[i]) for i in range(2)])
    np.testing.assert_allclose(vm, loop, atol=1e-5)
    g = jax.grad(lambda x: model.discriminate(D, v, x).sum())(img)
    assert g.shape == img.shape and float(jnp.abs(g).max()) > 0


def test_stylespace_is_the_synthesis_input(gen):
    G, v = gen
    ws = model.mapping(G, v, jax.random.normal(jax.random.key(8), (2, GCFG.z_dim)))
    st = model.styles(G, v, ws)
    np.testing.assert_allclose(model.synthesize(G, v, styles=st), model.synthesize(G, v, ws), atol=1e-6)
    # The style of a layer is its affine map of the layer's w: style = w @ W * g + b.
    aff = v["params"]["synthesis"]["b8"]["conv1"]["affine"]
    expect = ws[:, 3] @ aff["weight"] / np.sqrt(GCFG.w_dim) + aff["bias"]
    np.testing.assert_allclose(st["b8"]["conv1"], expect, rtol=1e-5, atol=1e-5)
    # Editing one channel of one layer is a pure function; it changes the image, and only
    # via that layer: an edit at 16x16 torgb leaves the 8x8 features (hence coarse layers) alone.
    def edit(delta):
        st2 = jax.tree.map(lambda x: x, st)
        st2["b16"]["torgb"] = st2["b16"]["torgb"].at[:, 0].add(delta)
        return model.synthesize(G, v, styles=st2)
    diff = edit(5.0) - edit(0.0)
    assert float(jnp.abs(diff).max()) > 1e-3
    # torgb is linear in its style: the image change is linear in delta.
    np.testing.assert_allclose(edit(10.0) - edit(0.0), 2 * diff, atol=1e-4)
    g = jax.grad(lambda d: edit(d).sum())(1.0)
    assert np.isfinite(float(g)) and abs(float(g)) > 0


def test_noise_modes(gen):
    G, v = gen
    ws = model.mapping(G, v, jax.random.normal(jax.random.key(9), (2, GCFG.z_dim)))
    const = model.synthesize(G, v, ws, noise_mode="const")
    none = model.synthesize(G, v, ws, noise_mode="none")
    assert float(jnp.abs(const - none).max()) > 1e-4
    # Explicit maps equal to the noise_const buffers reproduce 'const'.
    buf = v["buffers"]["synthesis"]
    explicit = {b: {l: jnp.broadcast_to(m["noise_const"], (2,) + m["noise_const"].shape)
                    for l, m in layers.items()} for b, layers in buf.items()}
    np.testing.assert_allclose(model.synthesize(G, v, ws, noise=explicit), const, atol=1e-6)
    # Explicit zero maps reproduce 'none'.
    zeros = jax.tree.map(jnp.zeros_like, explicit)
    np.testing.assert_allclose(model.synthesize(G, v, ws, noise=zeros, noise_mode="const"), none, atol=1e-6)
    # 'random' is a deterministic function of the key and differs between keys.
    r1 = model.synthesize(G, v, ws, noise_mode="random", noise_key=jax.random.key(1))
    r1b = model.synthesize(G, v, ws, noise_mode="random", noise_key=jax.random.key(1))
    r2 = model.synthesize(G, v, ws, noise_mode="random", noise_key=jax.random.key(2))
    np.testing.assert_array_equal(r1, r1b)
    assert float(jnp.abs(r1 - r2).max()) > 1e-4
    with pytest.raises(ValueError, match="noise_key"):
        model.synthesize(G, v, ws, noise_mode="random")
    with pytest.raises(ValueError, match="noise_mode"):
        model.synthesize(G, v, ws, noise_mode="bogus")


def test_w_avg_update_and_truncation(gen):
    G, v = gen
    z = jax.random.normal(jax.random.key(10), (5, GCFG.z_dim))
    ws, v2 = model.mapping_update_w_avg(G, v, z)
    old = v["buffers"]["mapping"]["w_avg"]
    mean = ws[:, 0].mean(0)
    np.testing.assert_allclose(v2["buffers"]["mapping"]["w_avg"], mean + 0.995 * (old - mean), atol=1e-6)
    # truncation: w_avg + psi (w - w_avg) on the first `cutoff` ws only.
    wt = model.mapping(G, v, z, truncation_psi=0.5, truncation_cutoff=2)
    np.testing.assert_allclose(wt[:, :2], old + 0.5 * (ws[:, :2] - old), atol=1e-5)
    np.testing.assert_allclose(wt[:, 2:], ws[:, 2:], atol=1e-6)
    # psi = 0 collapses every sample to w_avg.
    w0 = model.mapping(G, v, z, truncation_psi=0.0)
    np.testing.assert_allclose(w0, jnp.broadcast_to(old, w0.shape), atol=1e-6)


def test_style_mixing():
    a = jnp.zeros((2, 6, 4))
    b = jnp.ones((2, 6, 4))
    m = model.style_mixing(a, b, jnp.array([2, 5]))
    assert float(m[0, :2].sum()) == 0 and float(m[0, 2:].min()) == 1
    assert float(m[1, :5].sum()) == 0 and float(m[1, 5:].min()) == 1


def test_mixed_precision_blocks():
    cfg = GCFG.replace(num_fp16_res=2, conv_clamp=256.0)
    G, v = model.init_generator(cfg, jax.random.key(11))
    G32 = type(G)(cfg.replace(num_fp16_res=0))
    ws = model.mapping(G, v, jax.random.normal(jax.random.key(12), (2, cfg.z_dim)))
    lo = model.synthesize(G, v, ws, precision="config")
    ref = model.synthesize(G32, v, ws)
    np.testing.assert_array_equal(model.synthesize(G, v, ws, force_fp32=True), ref)
    err = float(jnp.abs(lo - ref).max())
    assert 0 < err < 0.1 * float(jnp.abs(ref).max()) + 0.05
    assert lo.dtype == jnp.float32


def test_errors(gen, disc):
    G, v = gen
    D, dv = disc
    with pytest.raises(ValueError, match=r"z must be \[N, 16\]"):
        model.mapping(G, v, jnp.zeros((2, 8)))
    with pytest.raises(ValueError, match="ws must be"):
        model.synthesize(G, v, jnp.zeros((2, 5, 16)))
    with pytest.raises(ValueError, match="NHWC"):
        model.discriminate(D, dv, jnp.zeros((2, 3, 16, 16)))
    with pytest.raises(ValueError, match="not divisible by group size"):
        model.discriminate(D, dv, jnp.zeros((3, 16, 16, 3)))
    with pytest.raises(ValueError, match="exactly one"):
        model.synthesize(G, v)
    with pytest.raises(ValueError, match="unknown key"):
        GeneratorConfig.from_dict({"img_resolution": 16, "chanel_base": 3})
    with pytest.raises(ValueError, match="power of two"):
        GeneratorConfig(img_resolution=48)
    with pytest.raises(ValueError, match="architecture"):
        DiscriminatorConfig(architecture="bogus")


def test_config_json_roundtrip():
    for cfg in (GCFG.replace(c_dim=3, conv_clamp=256.0), DCFG.replace(mbstd_group_size=None)):
        assert config_from_json(cfg.to_json()) == cfg
