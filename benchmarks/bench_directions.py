"""Latent-direction fitting speed: steering steps/s (K edits vmapped vs one), the on-device
linear SVM vs scikit-learn's LinearSVC, GANSpace and SeFa.

    .venv/bin/python benchmarks/bench_directions.py                  # shapes32 architecture
    .venv/bin/python benchmarks/bench_directions.py --ckpt tests/fixtures/trained/G_shapes32

Prints wall and process-CPU seconds (on a shared machine CPU time moves much less).
``steer K=3`` trains three edits in one vmapped problem; compare its ms/step with 3x the
``K=1`` figure (what three separate runs cost).
"""
from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np


def _timed(fn, repeats=1):
    fn()                                                     # compile / warm up
    w, c = time.perf_counter(), time.process_time()
    for _ in range(repeats):
        out = fn()
    jax.block_until_ready(out)
    return (time.perf_counter() - w) / repeats, (time.process_time() - c) / repeats


def main() -> None:
    from jaxgan import model
    from jaxgan.directions import fit_ganspace, fit_linear_boundary, fit_sefa
    from jaxgan.directions.steer import steer_loss
    from jaxgan.directions.edits import edit_table
    from jaxgan.nets.configs import GeneratorConfig
    import optax

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ckpt", default=None, help="generator checkpoint (default: random shapes32 G)")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--steps", type=int, default=10, help="timed steering steps")
    args = p.parse_args()
    if args.ckpt:
        from jaxgan.checkpoint import load_network
        G, g = load_network(args.ckpt)
    else:
        G, g = model.init_generator(GeneratorConfig(img_resolution=32, z_dim=64, w_dim=64,
                                                    mapping_layers=2, channel_base=2048,
                                                    channel_max=64), jax.random.key(0))
    print(f"backend {jax.default_backend()}, R={G.cfg.img_resolution}, batch {args.batch}")
    for edits in (("zoom",), ("zoom", "shift_x", "shift_y")):
        coef, mx = edit_table(edits)
        loss = steer_loss(G, "w", None, "linear", 4, batch=args.batch)
        tx = optax.adam(0.01)
        params = {"w": jnp.zeros((len(edits), G.cfg.w_dim))}
        consts = {"g": g, "coef": jnp.asarray(coef), "max_alpha": jnp.asarray(mx)}

        @jax.jit
        def step(p, s, c, key):
            (_, per), gr = jax.value_and_grad(loss, has_aux=True)(p, c, key)
            u, s = tx.update(gr, s, p)
            return optax.apply_updates(p, u), s, per

        state = tx.init(params)
        t = time.perf_counter()
        jax.block_until_ready(step(params, state, consts, jax.random.key(0)))
        comp = time.perf_counter() - t
        keys = [jax.random.key(i) for i in range(args.steps)]

        def run():
            p_, s_ = params, state
            for k in keys:
                p_, s_, _ = step(p_, s_, consts, k)
            return p_

        wall, cpu = _timed(run)
        print(f"steer K={len(edits)}: compile {comp:.1f} s, {1e3 * wall / args.steps:.0f} ms/step "
              f"(cpu {1e3 * cpu / args.steps:.0f} ms), "
              f"{len(edits) * args.batch * args.steps / wall:.1f} walked img/s")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, G.cfg.w_dim)).astype(np.float32)
    y = x @ rng.normal(size=G.cfg.w_dim) + 0.5 * rng.normal(size=2000) > 0
    wall, cpu = _timed(lambda: fit_linear_boundary(x, y)[0], repeats=3)
    from sklearn.svm import LinearSVC
    w2, c2 = _timed(lambda: LinearSVC(C=1.0, max_iter=10000).fit(x, y).coef_, repeats=3)
    print(f"linear SVM 2000x{G.cfg.w_dim}: jaxgan {1e3 * wall:.0f} ms (cpu {1e3 * cpu:.0f}), "
          f"sklearn LinearSVC {1e3 * w2:.0f} ms (cpu {1e3 * c2:.0f})")
    wall, cpu = _timed(lambda: fit_ganspace(G, g, jax.random.key(0), num=5000).vectors)
    print(f"GANSpace 5000 samples: {wall:.2f} s (cpu {cpu:.2f})")
    wall, cpu = _timed(lambda: fit_sefa(G, g).vectors, repeats=3)
    print(f"SeFa all layers: {1e3 * wall:.1f} ms (cpu {1e3 * cpu:.1f})")


if __name__ == "__main__":
    main()
