"""Metrics throughput: images/s of the generate + features + statistics pass, LPIPS pairs/s
and PPL samples/s (all after compilation).

Defaults: the trained shapes 32² generator fixture (or a random one of that architecture),
the committed shapes classifier as the feature net, batch 64.

    .venv/bin/python benchmarks/bench_metrics.py
    .venv/bin/python benchmarks/bench_metrics.py --batch 128 --batches 10 --inception W.pth
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import jax
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
FIX = ROOT / "tests" / "fixtures" / "trained"


def _timed(fn, repeats):
    fn()                                                       # compile / warm up
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - t0) / repeats


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--batches", type=int, default=5)
    p.add_argument("--inception", default=None, help="FID Inception weights (.pth/.npz), optional")
    args = p.parse_args()

    import jaxgan
    from jaxgan.checkpoint import load_network
    from jaxgan.metrics.features import classifier_features, inception_features
    from jaxgan.metrics.ppl import ppl_distances
    from jaxgan.metrics.runner import images_per_second
    from jaxgan.nets.lpips import load_lpips, lpips_distance

    if (FIX / "G_shapes32").exists():
        G, g = load_network(FIX / "G_shapes32")
    else:
        G, g = jaxgan.init_generator(jaxgan.GeneratorConfig(img_resolution=32, z_dim=64, w_dim=64,
                                                            channel_base=2048, channel_max=64),
                                     jax.random.key(0))
    print(f"backend {jax.default_backend()}, G {G.cfg.img_resolution}px, batch {args.batch}")
    net = classifier_features(FIX / "classifier_shapes_shape")
    ips = images_per_second(G, g, net, args.batch, args.batches)
    print(f"generate + classifier features + stats: {ips:8.1f} img/s")
    if args.inception:
        inc = inception_features(args.inception)
        ips = images_per_second(G, g, inc, args.batch, args.batches)
        print(f"generate + Inception (299²) features + stats: {ips:8.1f} img/s")

    lp = load_lpips("vgg16")
    x = jax.random.uniform(jax.random.key(1), (args.batch, 32, 32, 3), minval=-1, maxval=1)
    f = jax.jit(lpips_distance)
    dt = _timed(lambda: f(lp, x, x[::-1]).block_until_ready(), args.batches)
    print(f"LPIPS vgg16 32²: {args.batch / dt:8.1f} pairs/s")
    idx = np.arange(args.batch)
    pf = jax.jit(lambda v, lp_, k, i: ppl_distances(G, v, lp_, k, i))
    dt = _timed(lambda: pf(g, lp, jax.random.key(2), idx).block_until_ready(), args.batches)
    print(f"PPL (W, end, eps 1e-4) samples: {args.batch / dt:8.1f} samples/s")


if __name__ == "__main__":
    main()
