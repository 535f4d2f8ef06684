"""Conditional generators (c_dim > 0) in inversion, encoders, directions and ensembling.

The reference for "the conditional path equals the unconditional path": a conditional G
whose class embedding is zero maps ``[normalize(z), 0]`` through fc0, i.e. exactly what an
unconditional G with fc0's z rows does; so every inversion space must give the same
result on both (the conditional code path with c, the unconditional one without).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxgan
from jaxgan import model
from jaxgan.nets.generator import Generator
from jaxgan.invert import DistanceWeights, ProjectConfig, latent_stats, project
from jaxgan.invert.stats import class_means

PIXEL = DistanceWeights(lpips=0.0, l2=1.0)
C_DIM = 3


def _cfg(c_dim, res=8):
    return jaxgan.GeneratorConfig(img_resolution=res, z_dim=8, w_dim=8, mapping_layers=2,
                                  channel_base=64, channel_max=8, c_dim=c_dim)


@pytest.fixture(scope="module")
def cond_g():
    return jaxgan.init_generator(_cfg(C_DIM), jax.random.key(5))


@pytest.fixture(scope="module")
def zero_embed_pair(cond_g):
    """(conditional G with a zero class embedding, the equivalent unconditional G)."""
    return _zero_embed_pair(*cond_g)


def _zero_embed_pair(G, g):
    m = g["params"]["mapping"]
    m_c = {**m, "embed": jax.tree.map(jnp.zeros_like, m["embed"])}
    gc = {**g, "params": {**g["params"], "mapping": m_c}}
    Gu = Generator(_cfg(0, G.cfg.img_resolution))
    # the z rows; the runtime weight gain is 1/sqrt(fan-in): 16 inputs there, 8 here
    fc0 = {"weight": m["fc0"]["weight"][:8] * np.sqrt(8 / 16), "bias": m["fc0"]["bias"]}
    m_u = {k: v for k, v in m.items() if k != "embed"} | {"fc0": fc0}
    gu = {**g, "params": {**g["params"], "mapping": m_u}}
    return (G, gc), (Gu, gu)


def _onehot(idx):
    return jax.nn.one_hot(jnp.asarray(idx), C_DIM)


def test_bound_class_maps_like_explicit_c(cond_g):
    G, g = cond_g
    z = jax.random.normal(jax.random.key(1), (4, 8))
    for k in range(C_DIM):
        Gb = model.bind_class(G, k)
        assert isinstance(Gb, Generator) and not model.needs_class(Gb)
        np.testing.assert_array_equal(model.mapping(Gb, g, z),
                                      model.mapping(G, g, z, _onehot([k] * 4)))
        np.testing.assert_array_equal(model.generate(Gb, g, z),
                                      model.generate(G, g, z, _onehot([k] * 4)))
    assert model.needs_class(G) and model.unbind_class(model.bind_class(G, 0)) == G
    with pytest.raises(ValueError, match="out of range"):
        model.bind_class(G, C_DIM)
    with pytest.raises(ValueError, match="unconditional"):
        model.bind_class(Generator(_cfg(0)), 0)


def test_latent_stats_class_mean_matches_direct_mapping(cond_g):
    G, g = cond_g
    key = jax.random.key(7)
    mean, std = latent_stats(G, g, "w", 500, key, c=_onehot(2))
    z = jax.random.normal(key, (500, 8))
    w = np.asarray(model.mapping(G, g, z, _onehot([2] * 500))[:, 0], np.float64)
    np.testing.assert_allclose(mean, w.mean(0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(std, np.sqrt(((w - w.mean(0)) ** 2).sum() / 500), rtol=1e-4)
    # the per-image starts gather the class means
    starts = class_means(G, g, "wplus", _onehot([2, 0, 2]), 500, key)
    ref0 = latent_stats(G, g, "wplus", 500, key, c=_onehot(0))[0]
    np.testing.assert_allclose(starts[0], starts[2])
    np.testing.assert_allclose(starts[1], ref0, rtol=1e-6)
    # classes differ, so the means do
    assert float(jnp.abs(starts[0] - starts[1]).max()) > 1e-3


@pytest.mark.parametrize("space", ["z", "w", "wplus", "s"])
def test_conditional_inversion_equals_unconditional_path(zero_embed_pair, space):
    (Gc, gc), (Gu, gu) = zero_embed_pair
    x = model.generate(Gu, gu, jax.random.normal(jax.random.key(2), (2, 8)))  # [2, 8, 8, 3]
    cfg = ProjectConfig(space=space, num_steps=15, distance=PIXEL, w_avg_samples=200)
    c = _onehot([0, 2])
    rc = project(Gc, gc, x, cfg, key=jax.random.key(4), c=c)
    ru = project(Gu, gu, x, cfg, key=jax.random.key(4))
    np.testing.assert_allclose(rc.images, ru.images, atol=2e-5)
    np.testing.assert_allclose(rc.loss, ru.loss, rtol=1e-4, atol=1e-7)
    for a, b in zip(jax.tree.leaves(rc.latent), jax.tree.leaves(ru.latent)):
        np.testing.assert_allclose(a, b, atol=2e-5)


def test_z_inversion_with_the_right_class_recovers_the_image(cond_g):
    G, g = cond_g
    z = jax.random.normal(jax.random.key(8), (1, 8))
    x = model.generate(G, g, z, _onehot([1]))
    cfg = ProjectConfig(space="z", num_steps=150, distance=PIXEL, optimize_noise=False,
                        noise_init="const", initial_noise_factor=0.0)
    right = project(G, g, x, cfg, key=jax.random.key(0), c=_onehot([1]))
    wrong = project(G, g, x, cfg, key=jax.random.key(0), c=_onehot([0]))
    # the result's ws are the mapping of the found z with the image's class
    np.testing.assert_allclose(right.ws, model.mapping(G, g, right.latent, _onehot([1])),
                               atol=1e-5)
    assert float(right.dist[0]) < 0.25 * float(wrong.dist[0])
    # a class-bound generator is the same inversion without c
    bound = project(model.bind_class(G, 1), g, x, cfg, key=jax.random.key(0))
    np.testing.assert_allclose(bound.dist, right.dist, rtol=1e-5)


def test_project_asks_for_the_class(cond_g):
    G, g = cond_g
    x = jnp.zeros((1, 8, 8, 3))
    cfg = ProjectConfig(space="w", num_steps=2, distance=PIXEL, w_avg_samples=10)
    with pytest.raises(ValueError, match="conditional"):
        project(G, g, x, cfg)
    with pytest.raises(ValueError, match=r"c must be \[1, 3\]"):
        project(G, g, x, cfg, c=jnp.zeros((2, 3)))


# ----------------------------------------------------------------------------- directions, ensembling

def _brightness(img):
    return jnp.mean(img, axis=(1, 2, 3))


def test_directions_on_a_bound_class_equal_the_unconditional_path(zero_embed_pair):
    from jaxgan.directions.ganalyze import fit_ganalyze
    from jaxgan.directions.ganspace import fit_ganspace
    from jaxgan.directions.interfacegan import fit_interfacegan
    from jaxgan.directions.steer import fit_steer
    (Gc, gc), (Gu, gu) = zero_embed_pair
    Gb = model.bind_class(Gc, 2)
    key = jax.random.key(3)
    a = fit_ganspace(Gb, gc, key, num=300, num_components=3)
    b = fit_ganspace(Gu, gu, key, num=300, num_components=3)
    np.testing.assert_allclose(np.abs(a.vectors), np.abs(b.vectors), atol=1e-4)
    kw = {"steps": 4, "batch": 4, "progress": False}
    for space in ("z", "w"):
        a = fit_ganalyze(Gb, gc, _brightness, key, space=space, **kw)
        b = fit_ganalyze(Gu, gu, _brightness, key, space=space, **kw)
        np.testing.assert_allclose(a.vectors, b.vectors, atol=1e-5)
        assert float(jnp.abs(a.vectors).max()) > 0
    a = fit_steer(Gb, gc, key, ("zoom",), **kw)
    b = fit_steer(Gu, gu, key, ("zoom",), **kw)
    np.testing.assert_allclose(a.vectors, b.vectors, atol=1e-5)
    a = fit_interfacegan(Gb, gc, _brightness, key, num=60)
    b = fit_interfacegan(Gu, gu, _brightness, key, num=60)
    np.testing.assert_allclose(a.vectors, b.vectors, atol=1e-4)


def test_bound_classes_give_different_directions(cond_g):
    from jaxgan.directions.ganspace import fit_ganspace
    G, g = cond_g
    key = jax.random.key(3)
    a = fit_ganspace(model.bind_class(G, 0), g, key, num=300, num_components=2)
    b = fit_ganspace(model.bind_class(G, 1), g, key, num=300, num_components=2)
    assert np.abs(np.abs(a.vectors) - np.abs(b.vectors)).max() > 1e-3


def test_ensembling_on_a_bound_class_equals_the_unconditional_path(zero_embed_pair):
    from jaxgan.dataplus import Inverter
    from jaxgan.ensemble.experiment import invert_cached
    from jaxgan.ensemble.perturb import PerturbSpec, pca_basis, perturb_batch
    (Gc, gc), (Gu, gu) = zero_embed_pair
    Gb = model.bind_class(Gc, 1)
    x = np.asarray((model.generate(Gu, gu, jax.random.normal(jax.random.key(2), (3, 8)))
                    .clip(-1, 1) + 1) * 127.5, np.uint8)
    inv = Inverter(cfg=ProjectConfig(space="wplus", num_steps=4, initial_noise_factor=0.0,
                                     optimize_noise=False, noise_init="const",
                                     w_avg_samples=256, distance=PIXEL))
    key = jax.random.key(0)
    wa, _ = invert_cached(Gb, gc, x, inv, None, "a", batch=3, key=key)
    wb, _ = invert_cached(Gu, gu, x, inv, None, "b", batch=3, key=key)
    np.testing.assert_allclose(wa, wb, atol=2e-5)
    ba, bb = pca_basis(Gb, gc, key, 300, 4), pca_basis(Gu, gu, key, 300, 4)
    for spec in (PerturbSpec("stylemix", "fine"), PerturbSpec("pca", "all", 1.0, top_k=4)):
        va = perturb_batch(Gb, gc, jnp.asarray(wa), key, spec, 2, basis=ba)
        vb = perturb_batch(Gu, gu, jnp.asarray(wa), key, spec, 2, basis=bb)
        np.testing.assert_allclose(va, vb, atol=1e-4)


def test_encoder_and_indomain_inversion_equal_the_unconditional_path(zero_embed_pair):
    from jaxgan.invert import indomain
    from jaxgan.invert.encoder import EncoderTrainConfig, train_encoder
    (Gc, gc), (Gu, gu) = zero_embed_pair
    ecfg = EncoderTrainConfig(steps=3, batch_size=4, lpips=0.0, channel_base=64, channel_max=8)
    key = jax.random.key(6)
    Ec, ec, hc = train_encoder(Gc, gc, None, ecfg, key=key, progress=False)  # random classes
    Eu, eu, hu = train_encoder(Gu, gu, None, ecfg, key=key, progress=False)
    np.testing.assert_allclose([h["loss"] for h in hc], [h["loss"] for h in hu], rtol=1e-5)
    x = model.generate(Gu, gu, jax.random.normal(jax.random.key(2), (2, 8)))
    cfg = indomain.indomain_config(num_steps=5, lambda_perc=0.0)
    rc = indomain.invert_indomain(Gc, gc, x, Ec, ec, cfg, key=key, c=_onehot([1, 0]))
    ru = indomain.invert_indomain(Gu, gu, x, Eu, eu, cfg, key=key)
    np.testing.assert_allclose(rc.ws, ru.ws, atol=2e-5)
    np.testing.assert_allclose(rc.loss, ru.loss, rtol=1e-4)
    with pytest.raises(ValueError, match="conditional"):
        indomain.invert_indomain(Gc, gc, x, Ec, ec, cfg, key=key)


def test_per_class_runs_each_group_on_its_bound_class(cond_g):
    from jaxgan.ensemble.conditional import per_class, task_to_generator_classes
    G, _ = cond_g
    classes = np.array([2, 0, 2, 1, 0])
    calls = []

    def run(Gk, idx):
        calls.append(int(np.argmax(Gk.class_vector)))
        k = np.full(len(idx), calls[-1])
        return k * 10 + idx, np.stack([idx, idx], 1)          # two outputs, rows = idx

    a, b = per_class(G, classes, run)
    assert sorted(calls) == [0, 1, 2]
    np.testing.assert_array_equal(a, classes * 10 + np.arange(5))
    np.testing.assert_array_equal(b[:, 1], np.arange(5))
    np.testing.assert_array_equal(task_to_generator_classes(("b", "a"), ["a", "b", "c"], 3),
                                  [1, 0])
    np.testing.assert_array_equal(task_to_generator_classes(("x", "y", "z"), [], 3), [0, 1, 2])
    with pytest.raises(ValueError, match="no class names"):
        task_to_generator_classes(("x", "y"), [], 3)


@pytest.mark.slow
def test_ensemble_experiment_with_inferred_classes_equals_the_unconditional_run(tmp_path):
    """End to end on 16x16 scenes: per-image classes from the weak classifier (3 shape
    classes = the generator's 3) give, on the zero-embedding generator, the unconditional
    run's numbers; and the per-class grouping really happens."""
    import jaxgan.ensemble.experiment as ex
    (Gc, gc), (Gu, gu) = _zero_embed_pair(*jaxgan.init_generator(_cfg(C_DIM, 16),
                                                                  jax.random.key(5)))
    cfg = ex.EnsembleConfig(num_train=9, num_val=6, num_test=6, num_views=2, block=6,
                            classifier_steps=6, perturbations=("stylemix:fine", "pca:all:1"),
                            jitter=(), inv_steps=2, inv_batch=6, encoder_steps=0,
                            pca_samples=64, top_k=2, mitigate=False, num_boot=20)
    seen = []
    real = ex.per_class

    def spy(G, classes, run):
        seen.append(np.asarray(classes).copy())
        return real(G, classes, run)

    ex.per_class = spy
    try:
        rc = ex.run_experiment(Gc, gc, ex.EnsembleConfig(**{**cfg.to_dict(),
                                                             "infer_class": True}),
                               out=tmp_path / "c", progress=False)
    finally:
        ex.per_class = real
    ru = ex.run_experiment(Gu, gu, cfg, out=None, progress=False)
    assert seen and all(len(s) == 6 for s in seen)
    assert rc["methods"].keys() == ru["methods"].keys()
    for cname in ru["methods"]:
        for m, r in ru["methods"][cname].items():
            np.testing.assert_allclose(rc["methods"][cname][m]["test_curve"], r["test_curve"],
                                       atol=1e-6)
    assert (tmp_path / "c" / "views" / "stylemix_fine.png").is_file()
    with pytest.raises(ValueError, match="needs a class"):
        ex.run_experiment(Gc, gc, cfg, out=None, progress=False)
    with pytest.raises(ValueError, match="are not classes of the generator"):
        ex.task_to_generator_classes(("circle", "square"), ["a", "b", "c"], 3)
