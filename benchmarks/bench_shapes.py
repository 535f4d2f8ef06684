"""Time the synthetic shapes renderer (factor sampling and rendering) on the CPU.

    .venv/bin/python benchmarks/bench_shapes.py                # 50k images at 32x32
    .venv/bin/python benchmarks/bench_shapes.py --n 10000 --resolution 64

Target: 50k images at 32x32 well under a minute on a 2-core CPU.
"""
from __future__ import annotations

import argparse
import time

from jaxgan.data.shapes import render_factors, sample_factors


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=50_000)
    p.add_argument("--resolution", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    t0 = time.perf_counter()
    factors = sample_factors(a.n, a.seed)
    t1 = time.perf_counter()
    out = render_factors(factors, a.resolution)
    t2 = time.perf_counter()
    mb = sum(v.nbytes for v in out.values()) / 2**20
    print(f"shapes: n={a.n} R={a.resolution}: sample {t1 - t0:.2f} s, render {t2 - t1:.2f} s, "
          f"total {t2 - t0:.2f} s ({a.n / (t2 - t0):.0f} img/s), images+masks {mb:.0f} MiB")


if __name__ == "__main__":
    main()
