"""Training start-up: the first iteration (trace + compile + run of every phase) at the
benchmark config, from a cold compilation cache and from the persistent cache the commands
keep (``jaxgan.xla_cache``), each in a fresh process; optionally the phases compiled in
parallel threads. Prints the machine's load beside the figures.

    python benchmarks/bench_startup.py                 # R=32: cold, then cached
    python benchmarks/bench_startup.py --res 64 --threads
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import sys, time
from concurrent.futures import ThreadPoolExecutor
import jax, numpy as np
from jaxgan.training.config import load_config
from jaxgan.training.loop import build_run
from jaxgan.training.step import make_step_fns, train_step
res, mode = int(sys.argv[1]), sys.argv[2]
cfg = load_config("base", ["batch_size=16", "G.mapping_layers=8", "G.channel_base=16384",
    "G.channel_max=256", "D.channel_base=16384", "D.channel_max=256", "augment.mode=noaug"])
defs, state = build_run(cfg, dict(resolution=res, channels=3, num_classes=0))
fns = make_step_fns(defs)
rng = np.random.default_rng(0)
batch = {"image": jax.device_put(rng.uniform(-1, 1, (16, res, res, 3)).astype(np.float32)),
         "c": jax.device_put(np.zeros((16, 0), np.float32))}
key = jax.random.key(0)
t0 = time.time()
if mode == "threads":
    names = [n for n in ("g_main", "g_reg", "d_main", "d_reg", "finish") if getattr(fns, n)]
    lowered = {n: fns.phase(n).lower(state, batch, key) for n in names}
    with ThreadPoolExecutor(len(names)) as ex:
        comp = dict(zip(names, ex.map(lambda n: lowered[n].compile(), names)))
    for n in names:
        state, m = comp[n](state, batch, key)
else:
    state, m = train_step(fns, defs, state, batch, key, 0)
jax.block_until_ready(m)
print(f"{time.time() - t0:.1f}")
"""


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def first_iteration(res: int, mode: str, cache: str | None) -> float:
    """Seconds of the first iteration in a fresh process (``cache``: its cache directory)."""
    env = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}
    env["PYTHONPATH"] = str(ROOT)
    if cache:
        env["JAX_COMPILATION_CACHE_DIR"] = cache
    r = subprocess.run([sys.executable, "-c", CHILD, str(res), mode], env=env,
                       capture_output=True, text=True, check=True)
    return float(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--res", type=int, default=32)
    ap.add_argument("--threads", action="store_true", help="also: phases compiled in threads")
    args = ap.parse_args()
    print(f"start: {load()}; R={args.res}, batch 16, channel_base 16384, channel_max 256")
    with tempfile.TemporaryDirectory() as d:
        t_cold = first_iteration(args.res, "seq", d)           # fills the empty cache
        t_warm = first_iteration(args.res, "seq", d)
    print(f"first iteration, cold cache:       {t_cold:.1f} s")
    print(f"first iteration, persistent cache: {t_warm:.1f} s")
    if args.threads:
        print(f"phases compiled in threads (cold): {first_iteration(args.res, 'threads', None):.1f} s")
    print(f"end: {load()}; {time.strftime('%Y-%m-%d %H:%M')}")


if __name__ == "__main__":
    main()
