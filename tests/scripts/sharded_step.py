"""Run two training iterations on one device and on an 8-device ('data'=4, 'fsdp'=2) CPU
mesh from the same state and batch; print a JSON comparison. Run in a fresh process:
XLA_FLAGS=--xla_force_host_platform_device_count=8 must be set before jax starts."""
import json
import sys

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan import sharding as shd
from jaxgan.training.config import load_config
from jaxgan.training.loop import build_run
from jaxgan.training.step import make_step_fns, train_step

assert jax.device_count() == 8, jax.devices()
cfg = load_config("tiny", ["batch_size=8", "G.channel_base=512", "G.channel_max=32",
                           "D.channel_base=512", "D.channel_max=32", "D.mbstd_group_size=2",
                           "ema_rampup=None"] + sys.argv[1:])
defs, state0 = build_run(cfg, dict(resolution=16, channels=3, num_classes=0))
batch = {"image": np.asarray(jax.random.uniform(jax.random.key(1), (8, 16, 16, 3)) * 2 - 1),
         "c": np.zeros((8, 0), np.float32)}
key = jax.random.key(0)
copy = lambda t: jax.tree.map(lambda x: jnp.array(x, copy=True), t)  # noqa: E731


def run(fns, state, b):
    hist = []
    for step in range(2):                          # step 0 runs all four phases
        state, m = train_step(fns, defs, state, b, key, step)
        hist.append({k: float(v) for k, v in m.items()})
    return state, hist


s1, h1 = run(make_step_fns(defs), jax.device_put(copy(state0), jax.devices()[0]), batch)
mesh = shd.make_mesh(fsdp=2)
sh = shd.tree_shardings(state0, mesh)
fns = make_step_fns(defs, sh, shd.batch_sharding(mesh), shd.replicated(mesh))
s8, h8 = run(fns, jax.device_put(copy(state0), sh), jax.device_put(batch, shd.batch_sharding(mesh)))

leaves1 = jax.tree.leaves(s1)
leaves8 = jax.tree.leaves(s8)
diffs = [np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)) for a, b in zip(leaves1, leaves8)
         if np.issubdtype(np.asarray(a).dtype, np.floating)]
flat = np.concatenate([d.ravel() for d in diffs])
w = s8.g["params"]["synthesis"]["b16"]["conv1"]["weight"]
print(json.dumps({
    "max_diff": float(flat.max()), "frac_gt_1e5": float(np.mean(flat > 1e-5)),
    "metric_max_rel": max(abs(h1[i][k] - h8[i][k]) / max(abs(h1[i][k]), 1e-3)
                          for i in range(2) for k in h1[i]),
    "conv_weight_spec": list(w.sharding.spec), "conv_weight_shard_shape": list(w.addressable_shards[0].data.shape),
    "num_fsdp_leaves": sum("fsdp" in str(x.sharding.spec) for x in jax.tree.leaves(s8)),
    "batch_spec": str(shd.batch_sharding(mesh).spec),
}))
