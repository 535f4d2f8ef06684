"""Inversion throughput: images/minute, one batched jitted program vs a Python loop of
single-image inversions (the way public projectors are used).

    python benchmarks/bench_invert.py                      # N = 1, 16, 64 at R=32, 1000 steps
    python benchmarks/bench_invert.py --steps 100 --ns 1,16 --loop-images 4
    python benchmarks/bench_invert.py --ckpt out/ffhq --res 256   # e.g. on a GPU

Distance: LPIPS (VGG16, real weights) as NVIDIA's projector, W space, noise maps optimised
(``ProjectConfig`` defaults) unless ``--pixel``. Compilation is timed separately and excluded
from the rates; the loop times ``--loop-images`` single-image runs (one compiled N=1
program) and reports their rate.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import jax
import jax.numpy as jnp

import jaxgan
from jaxgan.invert import DistanceWeights, ProjectConfig, latent_stats, project

FIXTURE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "trained" / "G_shapes32"


def _generator(args):
    if args.ckpt or (args.res == 32 and FIXTURE.is_dir()):
        from jaxgan.checkpoint import load_network  # noqa: PLC0415
        return load_network(args.ckpt or FIXTURE), str(args.ckpt or FIXTURE)
    cfg = jaxgan.GeneratorConfig(img_resolution=args.res, z_dim=64, w_dim=64, mapping_layers=2,
                                 channel_base=2048 * args.res // 32, channel_max=64)
    return jaxgan.init_generator(cfg, jax.random.key(0)), f"random G {cfg.img_resolution}px"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--ckpt", default=None, help="generator (default: the shapes fixture)")
    p.add_argument("--res", type=int, default=32)
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--ns", default="1,16,64", help="batch sizes")
    p.add_argument("--loop-images", type=int, default=4,
                   help="single-image runs timed for the loop rate (default 4)")
    p.add_argument("--pixel", action="store_true", help="pixel L2 instead of LPIPS")
    args = p.parse_args()
    (G, g), name = _generator(args)
    lp = None
    if args.pixel:
        dist = DistanceWeights(lpips=0.0, l2=1.0)
    else:
        from jaxgan.nets.lpips import load_lpips  # noqa: PLC0415
        lp, dist = load_lpips("vgg16"), DistanceWeights()
    cfg = ProjectConfig(space="w", num_steps=args.steps, distance=dist)
    stats = latent_stats(G, g, "w", cfg.w_avg_samples)
    print(f"device {jax.devices()[0].platform}, {name}, R={G.cfg.img_resolution}, "
          f"{args.steps} steps, distance {'L2' if args.pixel else 'LPIPS vgg16'}")
    print(f"{'N':>4} {'compile s':>10} {'batched s':>10} {'batched img/min':>16} "
          f"{'loop img/min':>13} {'speed-up':>9}")
    loop_rate = None
    for n in [int(s) for s in args.ns.split(",")]:
        x = jaxgan.generate(G, g, jax.random.normal(jax.random.key(n), (n, G.cfg.z_dim)))
        t = time.perf_counter()
        jax.block_until_ready(project(G, g, x, cfg, lp=lp, stats=stats).loss)
        first = time.perf_counter() - t
        t = time.perf_counter()
        jax.block_until_ready(project(G, g, x, cfg, lp=lp, stats=stats, key=jax.random.key(1)).loss)
        run = time.perf_counter() - t
        if loop_rate is None:
            x1 = x[:1]
            jax.block_until_ready(project(G, g, x1, cfg, lp=lp, stats=stats).loss)  # compile
            k = max(1, args.loop_images)
            t = time.perf_counter()
            for i in range(k):
                jax.block_until_ready(project(G, g, x1, cfg, lp=lp, stats=stats,
                                              indices=jnp.array([i])).loss)
            loop_rate = 60 * k / (time.perf_counter() - t)
        rate = 60 * n / run
        print(f"{n:>4} {first - run:>10.1f} {run:>10.2f} {rate:>16.1f} {loop_rate:>13.1f} "
              f"{rate / loop_rate:>8.1f}x", flush=True)


if __name__ == "__main__":
    main()
