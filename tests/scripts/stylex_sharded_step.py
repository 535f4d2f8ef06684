"""Run the StylEx encoder-path phase (``e_main``: G and E updated from reconstruction, cycle,
classifier-KL and adversarial losses) and D's step on the reconstructions (``d_main_rec``) on
one device and on an 8-device ('data'=4, 'fsdp'=2) CPU mesh from the same state and batch;
check ``d_main_rec``'s loss against the model functions; print a JSON comparison. Run in a
fresh process with XLA_FLAGS=--xla_force_host_platform_device_count=8. (The other phases are
the plain trainer's, covered by tests/scripts/sharded_step.py.)"""
import json
import sys
import tempfile

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan.classify import save_model
from jaxgan.nets.classifier import init_classifier
from jaxgan.nets.configs import ClassifierConfig
from jaxgan import sharding as shd
from jaxgan.training.config import load_config
from jaxgan.training.loop import build_run
from jaxgan.training.step import make_step_fns

assert jax.device_count() == 8, jax.devices()
tmp = tempfile.mkdtemp()
clf, clf_vars = init_classifier(ClassifierConfig(img_resolution=16, num_classes=2, widths=(8, 16)),
                                jax.random.key(3))
save_model(f"{tmp}/clf", clf, clf_vars)
cfg = load_config("stylex_shapes", [
    "batch_size=8", "data.resolution=16", "G.z_dim=16", "G.w_dim=16", "G.channel_base=256",
    "G.channel_max=16", "D.channel_base=256", "D.channel_max=16", "D.mbstd_group_size=2",
    "ema_rampup=None", f"stylex.classifier={tmp}/clf", "stylex.init_from=",
    "stylex.init_d_from=", "stylex.init_e_from=", "stylex.e_channel_base=256",
    "stylex.e_channel_max=16", "stylex.lpips="] + sys.argv[1:])
defs, state0 = build_run(cfg, dict(resolution=16, channels=3, num_classes=0))
batch = {"image": np.asarray(jax.random.uniform(jax.random.key(1), (8, 16, 16, 3)) * 2 - 1),
         "c": np.zeros((8, 0), np.float32)}
key = jax.random.key(0)
copy = lambda t: jax.tree.map(lambda x: jnp.array(x, copy=True), t)  # noqa: E731


def run(fns, state, b):
    state, m = fns.phase("e_main")(state, b, key)
    state, md = fns.phase("d_main_rec")(state, b, key)
    return state, [{k: float(v) for k, v in {**m, **md}.items()}]


def d_rec_reference(state, b):
    """softplus(D(G(E(x) + w_avg, C(x)))) + softplus(-D(x)), from the model functions."""
    from jaxgan import model
    x = jnp.asarray(b["image"])
    (sx,) = defs.extensions
    logits = sx.logits(state.frozen, x)
    w = model.encode(sx.E, state.ext["e"], x, state.g["buffers"]["mapping"]["w_avg"])
    rec = model.synthesize(defs.G, state.g, model.condition_ws(w, logits), noise_mode="const")
    fake = model.discriminate(defs.D, state.d, rec)
    real = model.discriminate(defs.D, state.d, x)
    return float(jnp.mean(jax.nn.softplus(fake)) + jnp.mean(jax.nn.softplus(-real)))


s_mid, _ = make_step_fns(defs).phase("e_main")(jax.device_put(copy(state0), jax.devices()[0]), batch, key)
want_d = d_rec_reference(s_mid, batch)


s1, h1 = run(make_step_fns(defs), jax.device_put(copy(state0), jax.devices()[0]), batch)
mesh = shd.make_mesh(fsdp=2)
sh = shd.tree_shardings(state0, mesh)
fns = make_step_fns(defs, sh, shd.batch_sharding(mesh), shd.replicated(mesh))
s8, h8 = run(fns, jax.device_put(copy(state0), sh), jax.device_put(batch, shd.batch_sharding(mesh)))

diffs = [np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))
         for a, b in zip(jax.tree.leaves(s1), jax.tree.leaves(s8))
         if np.issubdtype(np.asarray(a).dtype, np.floating)]
flat = np.concatenate([d.ravel() for d in diffs])
e_diff = max(float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
             for a, b in zip(jax.tree.leaves(s1.ext["e"]), jax.tree.leaves(s8.ext["e"])))
e_moved = max(float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
              for a, b in zip(jax.tree.leaves(state0.ext["e"]), jax.tree.leaves(s1.ext["e"])))
print(json.dumps({
    "max_diff": float(flat.max()), "frac_gt_1e5": float(np.mean(flat > 1e-5)),
    "metric_max_rel": max(abs(h1[i][k] - h8[i][k]) / max(abs(h1[i][k]), 1e-3)
                          for i in range(1) for k in h1[i]),
    "e_keys": sorted(k for k in h1[0] if k.startswith("loss/E")),
    "g_moved": max(float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
                   for a, b in zip(jax.tree.leaves(state0.g["params"]), jax.tree.leaves(s1.g["params"]))),
    "e_max_diff": e_diff, "e_moved": e_moved,
    "d_rec_loss": h1[0]["loss/D/main"], "d_rec_ref": want_d,
    "num_fsdp_e_leaves": sum("fsdp" in str(x.sharding.spec) for x in jax.tree.leaves(s8.ext["e"])),
}))
