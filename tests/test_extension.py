"""The trainer's extension point (jaxgan.training.extension) with the worked example of
docs/architecture.md (tests/second_ema.py, a second EMA of G): a few jitted steps with and
without it on the same batches and keys change exactly what it claims (its own state, which
follows its recurrence; its export) and nothing else (every other field bit-identical);
its state is checkpointed beside the core fields; config groups resolve to extensions."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan.training.extension import TrainerExtension, check_combination, load_extensions

INFO = dict(resolution=8, channels=3, num_classes=0)
RES = INFO["resolution"]
STEPS = 3


def _cfg(second_ema: bool):
    from jaxgan.configs import tiny
    c = tiny.get_config()
    c.loss.pl_weight = 0.0                     # two jitted phases and finish: fast to compile
    c.optim.d_reg_interval = None
    c.data.resolution = RES
    if second_ema:
        c.ema2 = dict(module="second_ema", ema_kimg=0.02)
    return c


def _run(second_ema: bool):
    """``(defs, initial state (host), final state, G params after each step (host))``."""
    from jaxgan.training.loop import build_run
    from jaxgan.training.step import make_step_fns, train_step
    defs, state = build_run(_cfg(second_ema), INFO)
    host0 = jax.device_get(state)
    fns = make_step_fns(defs)
    key, g_params = jax.random.key(5), []
    for s in range(STEPS):
        x = jax.random.uniform(jax.random.key(s), (4, RES, RES, 3), minval=-1, maxval=1)
        state, _ = train_step(fns, defs, state, {"image": x, "c": jnp.zeros((4, 0))}, key, s)
        g_params.append(jax.device_get(state.g["params"]))
    return defs, host0, jax.device_get(state), g_params


def test_second_ema_changes_what_it_claims_and_nothing_else(tmp_path):
    from jaxgan.checkpoint import load_network
    from jaxgan.training.run_checkpoint import TrainCheckpointer, abstract_like, saved_fields
    from jaxgan.training.loop import _export, build_run
    _, _, plain, _ = _run(False)
    defs, host0, state, g_params = _run(True)
    (ext,) = defs.extensions
    assert ext.name == "ema2" and plain.ext is None and set(state.ext) == {"g_ema2"}
    # Nothing else: every field of the plain recipe is bit-identical.
    for field in plain._fields:
        if field not in ("ext", "frozen"):
            for a, b in zip(jax.tree.leaves(getattr(plain, field)), jax.tree.leaves(getattr(state, field))):
                np.testing.assert_array_equal(a, b, err_msg=field)
    # What it claims: e <- p + beta2 (e - p) after every step, from G's initial params.
    beta2 = 0.5 ** (4 / (0.02 * 1000))
    want = host0.g["params"]
    for p in g_params:
        want = jax.tree.map(lambda p_, e: p_ + np.float32(beta2) * (e - p_), p, want)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7),
                 state.ext["g_ema2"], want)
    assert any(not np.allclose(a, b) for a, b in zip(jax.tree.leaves(state.ext["g_ema2"]),
                                                     jax.tree.leaves(state.g_ema["params"])))
    # Checkpointed beside the core fields, restored exactly into a freshly built run.
    assert "g_ema2" in saved_fields(state) and "ext" not in saved_fields(state)
    ck = TrainCheckpointer(tmp_path / "ck")
    ck.save(STEPS, state, {}, {"step": STEPS})
    fresh = build_run(_cfg(True), INFO)[1]
    restored, _, _ = ck.restore(STEPS, abstract_like(fresh), unsaved=fresh)
    ck.close()
    assert jax.tree.structure(restored) == jax.tree.structure(fresh)
    for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(restored)):
        np.testing.assert_array_equal(a, b)
    # Exported beside G_ema/G/D.
    _export(tmp_path / "network", defs, state)
    _, g2 = load_network(tmp_path / "network" / "G_ema2")
    jax.tree.map(np.testing.assert_array_equal, g2["params"], state.ext["g_ema2"])


def test_config_groups_name_extensions():
    cfg = _cfg(False)
    assert load_extensions(cfg, INFO) == ()
    cfg.ema2 = dict(module="second_ema", ema_kimg=3.0)
    (ext,) = load_extensions(cfg, INFO)
    assert ext.name == "ema2" and ext.ema_kimg == 3.0
    cfg.nosuch = dict(x=1)
    with pytest.raises(ValueError, match="config group 'nosuch'.*no module jaxgan.nosuch.trainer"):
        load_extensions(cfg, INFO)


def test_extensions_that_cannot_be_combined():
    class Owner(TrainerExtension):
        owns_g_params = True

    class Alone(TrainerExtension):
        exclusive = True
    a, b, c = Owner(), Owner(), Alone()
    a.name, b.name, c.name = "domain", "other", "alone"
    check_combination([a, TrainerExtension()])
    with pytest.raises(ValueError, match="both a 'domain' and a 'other' group"):
        check_combination([a, b])
    with pytest.raises(ValueError, match="both a 'alone'"):
        check_combination([c, TrainerExtension()])
