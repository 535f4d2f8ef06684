"""benchmarks/scale_on_paper.py: its collective-bytes parser against analytic programs, and
the per-device memory of a compiled (not run) tiny training phase on 8 fake CPU devices
against the bytes the sharding rules give."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import xla_flags_with_devices

ROOT = Path(__file__).resolve().parents[1]

ANALYTIC = r"""
import json, sys
import jax, jax.numpy as jnp
from jax.sharding import NamedSharding, PartitionSpec as P
sys.path.insert(0, "benchmarks")
from scale_on_paper import collective_bytes
mesh = jax.make_mesh((8,), ("x",), axis_types=(jax.sharding.AxisType.Auto,))
rep, rows, cols = NamedSharding(mesh, P()), NamedSharding(mesh, P("x")), NamedSharding(mesh, P(None, "x"))
w = jax.ShapeDtypeStruct((64, 96), jnp.float32, sharding=rep)
x = jax.ShapeDtypeStruct((32, 64), jnp.float32, sharding=rows)
# Data parallel: the gradient of replicated weights over a batch split 8 ways is all-reduced.
grad = jax.jit(jax.grad(lambda w, x: jnp.sum(jnp.tanh(x @ w))), out_shardings=rep)
dp = collective_bytes(grad.lower(w, x).compile().as_text())
# FSDP-like: weights split by columns, gathered whole on every device.
ws = jax.ShapeDtypeStruct((64, 96), jnp.float32, sharding=cols)
gather = jax.jit(lambda w: w * 2.0, out_shardings=rep)
ag = collective_bytes(gather.lower(ws).compile().as_text())
print(json.dumps({"dp": dp, "ag": ag}))
"""


def _run(args, **kw):
    env = dict(os.environ, XLA_FLAGS=xla_flags_with_devices(8), JAX_PLATFORMS="cpu")
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True,
                         timeout=900, cwd=ROOT, **kw)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def test_collective_bytes_analytic():
    r = json.loads(_run(["-c", ANALYTIC]).strip().splitlines()[-1])
    assert r["dp"]["all-reduce"] == 64 * 96 * 4, r            # the weights' gradient, once
    assert r["dp"]["all-gather"] == 0 and r["dp"]["reduce-scatter"] == 0, r
    assert r["ag"]["all-gather"] == 64 * 96 * 4 // 8, r        # each device sends its shard
    assert r["ag"]["all-reduce"] == 0, r


def test_training_phase_memory_and_collectives(tmp_path):
    """Tiny preset, batch 8 on 8 devices: per-device argument bytes equal the state's shard
    bytes under the rule table (plus one image where the phase reads the reals); fsdp=8
    shrinks them; both data-parallel phases all-reduce at least their network's gradient
    (Gmain too: its latents are split over the devices like the batch), and fsdp=8 adds only
    the gathering of the weights."""
    js = tmp_path / "scale.json"
    _run(["benchmarks/scale_on_paper.py", "--config", "tiny", "--devices", "8", "--fsdp", "1,8",
          "--phases", "g_main,d_main", "--json", str(js), "batch_size=8", "D.mbstd_group_size=1",
          "G.channel_base=1024", "G.channel_max=64", "D.channel_base=1024", "D.channel_max=64"])
    r1, r8 = json.loads(js.read_text())
    row = 16 * 16 * 3 * 4                          # one image of the batch per device
    for r in (r1, r8):
        for name, p in r["phases"].items():
            # Unused arguments are pruned: Gmain never reads the reals, Dmain does.
            want = r["state_bytes_per_device"] + (row if name == "d_main" else 0)
            assert 0 <= p["argument"] - want <= 64, (r["fsdp"], name, p["argument"], want)
    assert r1["state_bytes_per_device"] == r1["state_bytes"]
    # Most of the state is conv/fc weights (and their Adam moments, EMA) split 8 ways.
    assert r8["state_bytes_per_device"] < 0.25 * r1["state_bytes_per_device"], (r1, r8)
    for phase, net in (("g_main", "G"), ("d_main", "D")):
        c = r1["phases"][phase]["collectives"]
        assert c["all-reduce"] >= r1["params"][net], (phase, c, r1["params"])
        assert c["all-gather"] == 0, (phase, c)
    # fsdp=8 is ZeRO-3 style: the same gradient all-reduces as data parallelism plus one
    # all-gather of each device's weight shards, and no activation traffic.
    shards = (r1["params"]["G"] + r1["params"]["D"]) / 8
    for phase in ("g_main", "d_main"):
        c1, c8 = r1["phases"][phase]["collectives"], r8["phases"][phase]["collectives"]
        assert c8["all-reduce"] <= 1.05 * c1["all-reduce"], (phase, c1, c8)
        assert 0.5 * shards <= c8["all-gather"] <= 1.05 * shards, (phase, c8, shards)
        assert r8["phases"][phase]["temp"] <= 1.5 * r1["phases"][phase]["temp"], (phase, r1, r8)
