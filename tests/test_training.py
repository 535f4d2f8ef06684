"""Training: losses vs independent references, optimiser and EMA formulas, resume
exactness, NaN guard, config overrides. Tiny networks (16², 16 channels)."""
from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import model
from jaxgan.nets.configs import DiscriminatorConfig, GeneratorConfig
from jaxgan.training import losses
from jaxgan.training.config import apply_overrides, load_config
from jaxgan.training.losses import LossConfig
from jaxgan.training.state import make_optimizer
from jaxgan.training.step import TrainDefs, ema_beta

GCFG = GeneratorConfig(img_resolution=8, z_dim=8, w_dim=8, mapping_layers=1, channel_base=32,
                       channel_max=4)
DCFG = DiscriminatorConfig(img_resolution=8, channel_base=32, channel_max=4, mbstd_group_size=2)


@pytest.fixture(scope="module")
def nets():
    G, g = model.init_generator(GCFG, jax.random.key(0))
    D, d = model.init_discriminator(DCFG, jax.random.key(1))
    return G, g, D, d


def test_r1_penalty_matches_finite_differences(nets):
    _, _, D, d = nets
    x = jax.random.normal(jax.random.key(2), (2, 8, 8, 3)) * 0.5
    cfg = LossConfig(r1_gamma=4.0)
    loss, (logits, penalty) = losses.d_r1_loss(d["params"], d, D, x, None, jax.random.key(0), cfg=cfg)
    # Independent reference: central differences of sum_i D(x_i) along every pixel.
    f = lambda x: float(jnp.sum(model.discriminate(D, d, x)))  # noqa: E731
    eps = 1e-2
    g = np.zeros(x.shape)
    xn = np.asarray(x, np.float64)
    for idx in np.ndindex(x.shape):
        e = np.zeros(x.shape)
        e[idx] = eps
        g[idx] = (f(jnp.asarray(xn + e, jnp.float32)) - f(jnp.asarray(xn - e, jnp.float32))) / (2 * eps)
    ref = (g ** 2).sum(axis=(1, 2, 3))
    np.testing.assert_allclose(penalty, ref, rtol=2e-2)
    np.testing.assert_allclose(loss, ref.mean() * cfg.r1_gamma / 2, rtol=2e-2)


def test_path_length_matches_finite_differences(nets):
    """pl_lengths (reverse-mode vjp) vs J^T y from central finite differences."""
    G, g, _, _ = nets
    cfg = LossConfig(style_mixing_prob=0.0, pl_batch_shrink=1)
    z = jax.random.normal(jax.random.key(3), (2, GCFG.z_dim))
    key = jax.random.key(4)
    loss, (_, new_mean, lengths) = losses.g_pl_loss(g["params"], g, G, z, None, key,
                                                     jnp.float32(0.5), cfg=cfg)
    # Rebuild the same random pieces the loss draws (documented key usage).
    k_ws, k_noise, k_y = jax.random.split(key, 3)
    ws, _ = losses.sample_ws(G, g, z, None, k_ws, 0.0)
    synth = lambda w: model.synthesize(G, g, w, noise_mode="random", noise_key=k_noise, fused=False)  # noqa: E731
    y = jax.random.normal(k_y, synth(ws).shape) / np.sqrt(8 * 8)
    # (1) The formula, exactly: sqrt(mean_l sum_d (J^T y)^2) with J^T y from a full Jacobian.
    jac = np.asarray(jax.jacrev(lambda w: jnp.sum(synth(w) * y))(ws), np.float64)
    ref = np.sqrt((jac ** 2).sum(axis=2).mean(axis=1))
    np.testing.assert_allclose(lengths, ref, rtol=1e-4)
    mean_ref = 0.5 + 0.01 * (ref.mean() - 0.5)
    np.testing.assert_allclose(new_mean, mean_ref, rtol=1e-4)
    np.testing.assert_allclose(loss, np.mean((ref - mean_ref) ** 2) * 2.0, rtol=1e-3)
    # (2) The gradient itself, independently: central finite differences (float32, lrelu
    # kinks: a loose tolerance; the custom conv VJPs are checked exactly in test_ops).
    f = jax.jit(jax.vmap(lambda w: jnp.sum(synth(w) * y)))
    eps = 3e-3
    basis = jnp.eye(ws.size).reshape((ws.size,) + ws.shape) * eps
    jty = np.asarray((f(ws[None] + basis) - f(ws[None] - basis)) / (2 * eps)).reshape(ws.shape)
    fd = np.sqrt((jty.astype(np.float64) ** 2).sum(axis=2).mean(axis=1))
    np.testing.assert_allclose(lengths, fd, rtol=4e-2)


def test_nonsaturating_losses_are_softplus_of_logits(nets):
    G, g, D, d = nets
    cfg = LossConfig(style_mixing_prob=0.0)
    z = jax.random.normal(jax.random.key(5), (2, GCFG.z_dim))
    key = jax.random.key(6)
    loss, (_, logits) = losses.g_main_loss(g["params"], g, d, G, D, z, None, key, cfg=cfg)
    np.testing.assert_allclose(loss, np.mean(np.log1p(np.exp(-np.asarray(logits)))), rtol=1e-5)
    real = jax.random.uniform(jax.random.key(7), (2, 8, 8, 3)) * 2 - 1
    dl, (_, rl, fl) = losses.d_main_loss(d["params"], d, g, G, D, real, None, z, None, key, cfg=cfg)
    ref = np.mean(np.log1p(np.exp(np.asarray(fl)))) + np.mean(np.log1p(np.exp(-np.asarray(rl))))
    np.testing.assert_allclose(dl, ref, rtol=1e-5)
    np.testing.assert_allclose(rl, model.discriminate(D, d, real)[:, 0], rtol=1e-5)


def test_adam_with_lazy_regularisation_matches_torch_formula():
    """optax chain == torch.optim.Adam(lr·r, betas**r, eps) with r = I/(I+1), written in NumPy."""
    interval, lr, betas, eps = 4, 0.0025, (0.0, 0.99), 1e-8
    tx = make_optimizer(lr, betas, eps, reg_interval=interval)
    r = interval / (interval + 1)
    b1, b2, a = betas[0] ** r, betas[1] ** r, lr * r
    rng = np.random.default_rng(0)
    p = rng.standard_normal(5).astype(np.float32)
    params, st = jnp.asarray(p), tx.init(jnp.asarray(p))
    m = v = np.zeros(5)
    pr = p.astype(np.float64)
    for t in range(1, 6):
        grad = rng.standard_normal(5)
        upd, st = tx.update(jnp.asarray(grad, jnp.float32), st, params)
        params = params + upd
        m = b1 * m + (1 - b1) * grad
        v = b2 * v + (1 - b2) * grad ** 2
        pr = pr - a / (1 - b1 ** t) * m / (np.sqrt(v) / np.sqrt(1 - b2 ** t) + eps)
    np.testing.assert_allclose(params, pr, rtol=1e-4, atol=1e-6)
    # Non-finite gradients are sanitised (official nan_to_num), not propagated.
    upd, _ = tx.update(jnp.asarray([np.nan, np.inf, -np.inf, 0, 1], jnp.float32), st, params)
    assert bool(jnp.all(jnp.isfinite(upd)))


def test_ema_beta_formula(nets):
    G, _, D, _ = nets
    defs = TrainDefs(G, D, None, None, batch_size=32, ema_kimg=10.0, ema_rampup=0.05)
    np.testing.assert_allclose(ema_beta(defs, 1e9), 0.5 ** (32 / 10000), rtol=1e-6)
    np.testing.assert_allclose(ema_beta(defs, 64000.0), 0.5 ** (32 / 3200), rtol=1e-6)


def test_config_overrides_and_errors():
    cfg = load_config("tiny", ["batch_size=8", "loss.r1_gamma=2", "data.task=has_sun"])
    assert cfg.batch_size == 8 and cfg.loss.r1_gamma == 2.0 and cfg.data.task == "has_sun"
    with pytest.raises(ValueError, match="unknown config key 'loss.r1_gama'"):
        load_config("tiny", ["loss.r1_gama=1"])
    with pytest.raises(ValueError, match="expects int"):
        apply_overrides(load_config("tiny"), ["batch_size=abc"])
    with pytest.raises(ValueError, match="key=value"):
        load_config("tiny", ["batch_size"])
    with pytest.raises(FileNotFoundError, match="no preset"):
        load_config("no_such_preset")
    with pytest.raises(AttributeError):
        load_config("tiny").new_key = 1          # locked


def test_every_preset_loads_and_its_fixtures_exist():
    """Each ``configs/*.py`` preset loads; every network it names (``builtin:`` or under
    tests/fixtures) exists, and
    a StylEx preset's classifier was trained for the preset's task."""
    from pathlib import Path
    root = Path(__file__).parents[1]
    names = sorted(p.stem for p in (root / "configs").glob("*.py")
                   if p.stem not in ("__init__", "classifier"))     # classifier: not a GAN preset
    assert {"tiny", "shapes32", "stylex_shapes", "stylex_shapes_red"} <= set(names)

    def strings(d):
        for v in d.values():
            if isinstance(v, dict):
                yield from strings(v)
            elif isinstance(v, str):
                yield v
    from jaxgan import assets
    for name in names:
        cfg = load_config(name)
        for v in strings(cfg.to_dict()):
            if v.startswith("tests/fixtures/"):
                assert (root / v).exists(), (name, v)
            if v.startswith("builtin:"):                     # a network shipped in the package
                assert Path(assets.resolve(v)).is_dir(), (name, v)
        if "stylex" in cfg and cfg.stylex.classifier:
            clf = Path(assets.resolve(cfg.stylex.classifier))
            opts = json.loads((clf if clf.is_absolute() else root / clf).joinpath("metrics.json").read_text())
            assert opts["options"]["task"].split(":")[-1] == cfg.data.task, name


def _losses(history):
    return [(h["step"], h.get("loss/G/main"), h.get("loss/D/main")) for h in history]


def test_resume_reproduces_uninterrupted_run(tmp_path):
    from jaxgan.training.loop import train
    cfg = load_config("tiny")
    full = train(cfg, tmp_path / "full", progress=False)
    assert full["step"] == 8 and (tmp_path / "full" / "network" / "G_ema" / "arch.json").exists()
    part = train(cfg, tmp_path / "cut", stop_after_steps=4, progress=False)
    assert part["step"] == 4 and not (tmp_path / "cut" / "network").exists()
    rest = train(cfg, tmp_path / "cut", progress=False)   # resumes from step 4
    assert rest["history"][0]["step"] == 6
    lines = [json.loads(s) for s in (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()]
    assert _losses(lines) == _losses(full["history"])
    a = model.variables_shape  # noqa: F841 - keep import used
    from jaxgan.checkpoint import load_network
    _, g1 = load_network(tmp_path / "full" / "network")
    _, g2 = load_network(tmp_path / "cut" / "network")
    jax.tree.map(np.testing.assert_array_equal, g1, g2)
    # Any snapshot exports to the same format; the last one equals the final export.
    from jaxgan.training.export import export_snapshot
    res = export_snapshot(tmp_path / "cut", tmp_path / "snap")
    assert res["step"] == 8
    for net in ("G_ema", "G", "D"):
        _, a = load_network(tmp_path / "snap" / net)
        _, b = load_network(tmp_path / "full" / "network" / net)
        jax.tree.map(np.testing.assert_array_equal, a, b)
    with pytest.raises(FileNotFoundError, match="no checkpoint at step 3"):
        export_snapshot(tmp_path / "cut", tmp_path / "snap3", step=3)
    assert (tmp_path / "full" / "samples" / "reals.png").exists()
    assert list((tmp_path / "full" / "samples").glob("fakes*.png"))


def test_nan_stops_with_last_good_checkpoint(tmp_path, monkeypatch):
    from jaxgan.training import step as step_mod
    from jaxgan.training.loop import TrainingDivergedError, train
    cfg = load_config("tiny", ["run.total_kimg=0.064"])
    train(cfg, tmp_path / "run", stop_after_steps=4, progress=False)
    orig = step_mod.losses.g_main_loss

    def poisoned(*a, **k):
        loss, aux = orig(*a, **k)
        return loss * jnp.nan, aux
    monkeypatch.setattr(step_mod.losses, "g_main_loss", poisoned)
    with pytest.raises(TrainingDivergedError, match=r"non-finite.*loss/G/main.*last good checkpoint is step 4"):
        train(cfg, tmp_path / "run", progress=False)
    monkeypatch.setattr(step_mod.losses, "g_main_loss", orig)
    from jaxgan.training.run_checkpoint import TrainCheckpointer
    ck = TrainCheckpointer(tmp_path / "run" / "checkpoints")
    assert ck.latest_step() == 4
    ck.close()


@pytest.mark.parametrize("precision,hlo", [("float32", "HIGHEST"), ("tensorfloat32", "HIGH"),
                                           (None, "DEFAULT")])
def test_matmul_precision_reaches_every_compiled_phase(precision, hlo):
    """``run.matmul_precision`` (official default: no TF32) is in the lowered program of every
    phase: StableHLO records a convolution's precision as HIGHEST ('float32') or HIGH
    ('tensorfloat32'); None leaves JAX's default (DEFAULT: TF32 on NVIDIA GPUs)."""
    from jaxgan.training.loop import build_run
    from jaxgan.training.step import make_step_fns
    overrides = ["batch_size=4", f"run.matmul_precision={precision}"] if precision else ["batch_size=4"]
    defs, state = build_run(load_config("tiny", overrides), dict(resolution=8, channels=3, num_classes=0))
    if precision is None:
        import dataclasses
        defs = dataclasses.replace(defs, matmul_precision=None)
    fns = make_step_fns(defs)
    batch = {"image": jnp.zeros((4, 8, 8, 3)), "c": jnp.zeros((4, 0))}
    for name in ("g_main", "d_main", "d_reg", "g_reg"):
        fn = getattr(fns, name)
        if fn is None:
            continue
        txt = fn.lower(state, batch, jax.random.key(0)).as_text()
        convs = [ln for ln in txt.splitlines() if "stablehlo.convolution" in ln]
        assert convs, name
        for ln in convs:
            assert f"#stablehlo<precision {hlo}>" in ln, (name, ln)
    with pytest.raises(ValueError, match="run.matmul_precision must be one of"):
        build_run(load_config("tiny", ["run.matmul_precision=fp32"]),
                  dict(resolution=8, channels=3, num_classes=0))
