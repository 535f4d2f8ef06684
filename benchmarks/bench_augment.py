"""Throughput of the ADA augmentation pipeline (jitted forward, and forward + backward).

    .venv/bin/python benchmarks/bench_augment.py                      # bgc, batch 16, 32 and 256 px
    .venv/bin/python benchmarks/bench_augment.py --preset bgcfnc --resample bilinear --p 0.5

Prints images/s per resolution; ``p`` is the augmentation probability (1 = every op fires at
its full multiplier, the worst case).
"""
from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp

from jaxgan.training.augment import augment, augment_preset


def _time(fn, *args, iters: int) -> float:
    jax.block_until_ready(fn(*args))                              # compile + warm up
    t0 = time.perf_counter()
    for _ in range(iters):
        out = fn(*args)
    jax.block_until_ready(out)
    return (time.perf_counter() - t0) / iters


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="bgc")
    ap.add_argument("--resample", default="wavelet", choices=("wavelet", "bilinear"))
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--resolutions", type=int, nargs="+", default=[32, 256])
    ap.add_argument("--p", type=float, default=1.0)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--no-grad", action="store_true", help="skip the forward+backward timing")
    a = ap.parse_args(argv)
    cfg = augment_preset(a.preset, resample=a.resample)
    fwd = jax.jit(augment, static_argnames="cfg")
    grad = jax.jit(jax.grad(lambda x, p, k: augment(x, p, k, cfg).sum()))
    print(f"device {jax.devices()[0].device_kind}, preset {a.preset}, resample {a.resample}, "
          f"batch {a.batch}, p {a.p}")
    for res in a.resolutions:
        x = jax.random.uniform(jax.random.key(0), (a.batch, res, res, 3), minval=-1, maxval=1)
        key = jax.random.key(1)
        t = _time(lambda x, k: fwd(x, a.p, k, cfg), x, key, iters=a.iters)
        line = f"{res:4d}x{res:<4d} forward {a.batch / t:10.1f} img/s ({t * 1e3:8.2f} ms/batch)"
        if not a.no_grad:
            tg = _time(grad, x, jnp.float32(a.p), key, iters=a.iters)
            line += f" | fwd+bwd {a.batch / tg:10.1f} img/s ({tg * 1e3:8.2f} ms/batch)"
        print(line, flush=True)


if __name__ == "__main__":
    main()
