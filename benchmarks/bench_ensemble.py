"""Throughput of the gan-ensembling pipeline at R=32 on CPU: batched (vmap + jit + lax.map
chunks) vs a Python loop over images, in the same run.

Pipeline per image: W+ inversion (``--inv-steps`` Adam steps from the mean latent, pixel
L1 + L2) -> K perturbed latents (isotropic, fine layers) -> K renders -> classifier on the
image and its views -> ``(1 - alpha) C(x) + alpha mean C(views)``. Prints views/s (views
stage: perturb + render + classify) and images/s (whole pipeline), compile times apart.

    python benchmarks/bench_ensemble.py [--n 16] [--views 32] [--inv-steps 20] [--chunk 8]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jaxgan.checkpoint import load_network  # noqa: E402
from jaxgan.classify import load_model  # noqa: E402
from jaxgan.data import make_task_dataset, to_float  # noqa: E402
from jaxgan.dataplus import Inverter  # noqa: E402
from jaxgan.ensemble import PerturbSpec, ensemble_probs, make_view_probs, params_for  # noqa
from jaxgan.ensemble.experiment import invert_batch  # noqa: E402
from jaxgan.ensemble.perturb import dummy_basis  # noqa: E402
from jaxgan.invert import DistanceWeights, ProjectConfig  # noqa: E402
from jaxgan.nets.classifier import classifier_probs  # noqa: E402

FIX = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "trained"


def _block(tree):
    return jax.tree.map(lambda a: a.block_until_ready() if hasattr(a, "block_until_ready")
                        else a, tree)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=16, help="images")
    ap.add_argument("--views", type=int, default=32, help="views per image K")
    ap.add_argument("--inv-steps", type=int, default=20, help="inversion steps")
    ap.add_argument("--chunk", type=int, default=8, help="images per lax.map step")
    args = ap.parse_args()

    G, g = load_network(FIX / "G_shapes32")
    C, cv = load_model(FIX / "classifier_shapes_shape")
    x = jnp.asarray(to_float(make_task_dataset("shape", args.n, 32, 0, start=100_000)["image"]))
    inv = Inverter(cfg=ProjectConfig(space="wplus", num_steps=args.inv_steps,
                                     initial_learning_rate=0.03, initial_noise_factor=0.0,
                                     optimize_noise=False, noise_init="const",
                                     w_avg_samples=2000,
                                     distance=DistanceWeights(lpips=0.0, l1=0.5, l2=0.5)))
    spec = PerturbSpec("isotropic", "fine", 0.2)
    params, basis = params_for(spec, G.cfg.num_ws), dummy_basis(G.cfg.w_dim)
    key = jax.random.key(0)
    views = make_view_probs(G, (C,), "gan", args.views, args.chunk)
    cls = jax.jit(lambda v, im: classifier_probs(C, v, im))

    def pipeline(xb, idx):
        ws = invert_batch(G, g, xb, inv, key, int(idx[0]))
        (pv,) = views(g, (cv,), ws, key, idx, params, basis)
        return ensemble_probs(np.asarray(cls(cv, xb)), np.asarray(pv), 0.5)

    n, k = args.n, args.views
    idx = jnp.arange(n)
    print(f"backend {jax.default_backend()}, {jax.device_count()} device(s); R=32, N={n}, "
          f"K={k}, inversion {args.inv_steps} steps, chunk {args.chunk}")

    # compile (first calls) for both shapes
    for shape_n in (n, 1):
        t = time.perf_counter()
        pipeline(x[:shape_n], idx[:shape_n])
        print(f"compile + first call, batch {shape_n:3d}: {time.perf_counter() - t:7.1f} s")

    ws = _block(invert_batch(G, g, x, inv, key, 0))
    # views stage
    t = time.perf_counter()
    _block(views(g, (cv,), ws, key, idx, params, basis))
    tb = time.perf_counter() - t
    t = time.perf_counter()
    for i in range(n):
        _block(views(g, (cv,), ws[i:i + 1], key, idx[i:i + 1], params, basis))
    tl = time.perf_counter() - t
    print(f"views stage  batched: {n * k / tb:8.1f} views/s   loop: {n * k / tl:8.1f} views/s   "
          f"speed-up {tl / tb:.2f}x")
    # whole pipeline
    t = time.perf_counter()
    pipeline(x, idx)
    tb = time.perf_counter() - t
    t = time.perf_counter()
    for i in range(n):
        pipeline(x[i:i + 1], idx[i:i + 1])
    tl = time.perf_counter() - t
    print(f"pipeline     batched: {n / tb:8.2f} images/s ({n * k / tb:7.1f} views/s)   loop: "
          f"{n / tl:8.2f} images/s ({n * k / tl:7.1f} views/s)   speed-up {tl / tb:.2f}x")


if __name__ == "__main__":
    main()
