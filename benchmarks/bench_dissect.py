"""Dissection statistics pass: samples/s at R=32 on CPU (prints numbers; not a test).

The generator is the trained fixture ``tests/fixtures/trained/G_shapes32`` when present
(else a random one with its architecture: z = w = 64, channel_base 2048, channel_max 64),
the segmenter ``tests/fixtures/trained/segmenter_shapes``. One run of
:func:`jaxgan.dissect.dissect` = pass 1 (generate + exact streaming top-quantile) and
pass 2 (generate again + segment + IoU counts); "samples/s" counts each sample once.
A small warm-up run compiles everything first (compile time reported separately).

    python benchmarks/bench_dissect.py [--samples 400] [--batch 50] [--layers b16.conv0]
"""
from __future__ import annotations

import argparse
import functools
import os
import time
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402

from jaxgan import model  # noqa: E402
from jaxgan.checkpoint import load_network  # noqa: E402
from jaxgan.classify import load_model  # noqa: E402
from jaxgan.dissect import dissect  # noqa: E402
from jaxgan.nets.configs import GeneratorConfig  # noqa: E402
from jaxgan.nets.segmenter import segment  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FIX = ROOT / "tests" / "fixtures" / "trained"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=400)
    p.add_argument("--batch", type=int, default=50)
    p.add_argument("--layers", default="b16.conv0", help="comma-separated, or 'all'")
    p.add_argument("--quantiles", default="0.01", help="comma-separated top quantiles")
    a = p.parse_args()
    if (FIX / "G_shapes32").is_dir():
        G, g = load_network(FIX / "G_shapes32")
        which = "trained fixture G_shapes32"
    else:
        G, g = model.init_generator(GeneratorConfig(img_resolution=32, z_dim=64, w_dim=64,
                                                    channel_base=2048, channel_max=64),
                                    jax.random.key(0))
        which = "random G (fixture missing)"
    sm, sv = load_model(FIX / "segmenter_shapes")
    seg = functools.partial(segment, sm, sv)
    from jaxgan.dissect import feature_names  # noqa: PLC0415
    layers = feature_names(G) if a.layers == "all" else tuple(a.layers.split(","))
    qs = tuple(float(q) for q in a.quantiles.split(","))
    kw = dict(batch_size=a.batch, quantile=qs, progress=False)
    t0 = time.perf_counter()
    dissect(G, g, seg, layers, num_samples=a.batch, **kw)          # compile (one batch)
    t_compile = time.perf_counter() - t0
    t0 = time.perf_counter()
    dissect(G, g, seg, layers, num_samples=a.samples, **kw)
    dt = time.perf_counter() - t0
    print(f"device: {jax.devices()[0].platform} x{len(jax.devices())}; {which}; "
          f"layers {list(layers)}; quantiles {list(qs)}; batch {a.batch}")
    print(f"warm-up (compile + 1 batch): {t_compile:.1f} s")
    print(f"dissection statistics pass: {a.samples} samples in {dt:.2f} s = "
          f"{a.samples / dt:.1f} samples/s (two passes: thresholds, then segment + IoU)")


if __name__ == "__main__":
    main()
