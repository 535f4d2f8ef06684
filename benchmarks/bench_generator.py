"""Generator forward throughput (images/s) and compile time of a jitted ``jaxgan.model.generate``.

Default configuration: R=32, channel_base 16384, channel_max 256, 8 mapping layers,
z/w 512, batch 16, float32, noise_mode 'const', fused and unfused modulated convolution.
On a GPU backend it also measures bfloat16 (``num_fp16_res``) at 256x256.

    .venv/bin/python benchmarks/bench_generator.py
    .venv/bin/python benchmarks/bench_generator.py --resolution 64 --batch 8 --repeats 20

    .venv/bin/python benchmarks/bench_generator.py --official ~/stylegan2-ada-pytorch \\
        --official-python ~/torch-venv/bin/python   # the official forward side by side

Ratios against the official code are printed only when it runs in the same sitting
(``--official``: ``benchmarks/official_training.py --forward`` in a Python with torch, before
and after jaxgan). Without it, jaxgan's figures are printed alone; the official figures last
measured on this machine class, with dates, are in ``benchmarks/README.md`` (they move by
20-30% from day to day, so they are not a reference for today's run).
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import jax
import jax.numpy as jnp

from jaxgan import model
from official_training import run_in  # noqa: E402 - the script beside this one
from jaxgan.nets.configs import GeneratorConfig



def run_official(args) -> dict | None:
    """Time the official G forward (``official_training.py --forward``) in ``args.official_python``."""
    return run_in(args.official_python, ["--forward", "--official", args.official,
           "--res", str(args.resolution), "--batch", str(args.batch), "--channel-base", str(args.channel_base),
           "--channel-max", str(args.channel_max), "--mapping-layers", str(args.mapping_layers),
           "--repeats", str(args.repeats)])


def bench(cfg: GeneratorConfig, batch: int, fused: bool, repeats: int, warmup: int, seed: int = 0):
    """Return ``(compile_s, median_s, img_per_s)`` for one configuration."""
    G, variables = model.init_generator(cfg, jax.random.key(seed))
    # Non-zero noise strengths so that the noise path is exercised.
    variables = jax.tree_util.tree_map_with_path(
        lambda p, v: jnp.full_like(v, 0.1) if "noise_strength" in jax.tree_util.keystr(p) else v,
        variables)
    fn = jax.jit(lambda v, z: model.generate(G, v, z, noise_mode="const", fused=fused))
    z = jax.random.normal(jax.random.key(seed + 1), (batch, cfg.z_dim))
    t0 = time.perf_counter()
    compiled = fn.lower(variables, z).compile()
    compile_s = time.perf_counter() - t0
    for _ in range(warmup):
        compiled(variables, z).block_until_ready()
    times, cpu = [], []
    for _ in range(repeats):
        c0 = time.process_time()
        t0 = time.perf_counter()
        compiled(variables, z).block_until_ready()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    med = statistics.median(times)
    return compile_s, med, batch / med, statistics.median(cpu)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--resolution", type=int, default=32)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--channel-base", type=int, default=16384)
    p.add_argument("--channel-max", type=int, default=256)
    p.add_argument("--mapping-layers", type=int, default=8)
    p.add_argument("--z-dim", type=int, default=512)
    p.add_argument("--w-dim", type=int, default=512)
    p.add_argument("--num-fp16-res", type=int, default=0,
                   help="low-precision blocks for the main run (default 0: float32)")
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--paths", default="fused,unfused", help="comma list of fused,unfused")
    p.add_argument("--no-bf16", action="store_true", help="skip the GPU bf16 256x256 run")
    p.add_argument("--bf16-resolution", type=int, default=256)
    p.add_argument("--bf16-num-fp16-res", type=int, default=4)
    p.add_argument("--official", default=None,
                   help="checkout of NVlabs/stylegan2-ada-pytorch: time its forward before and after jaxgan")
    p.add_argument("--official-python", default="python3", help="a Python with torch, numpy, requests")
    args = p.parse_args(argv)
    if args.official and (args.z_dim, args.w_dim, args.num_fp16_res) != (512, 512, 0):
        p.error("--official times z/w 512 in float32: drop --z-dim/--w-dim/--num-fp16-res")
    official = [run_official(args)] if args.official else []

    backend = jax.default_backend()
    print(f"jax {jax.__version__}, backend {backend}, devices {jax.devices()}")
    print(f"default_fused_modconv() = {model.default_fused_modconv()}")
    cfg = GeneratorConfig(img_resolution=args.resolution, channel_base=args.channel_base,
                          channel_max=args.channel_max, mapping_layers=args.mapping_layers,
                          z_dim=args.z_dim, w_dim=args.w_dim, num_fp16_res=args.num_fp16_res)
    print(f"config: R={cfg.img_resolution} channel_base={cfg.channel_base} "
          f"channel_max={cfg.channel_max} mapping_layers={cfg.mapping_layers} z/w={cfg.z_dim}/"
          f"{cfg.w_dim} batch={args.batch} num_fp16_res={cfg.num_fp16_res} noise_mode=const")
    if hasattr(os, "getloadavg"):
        print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs "
              "(a busy machine lowers img/s; 'cpu ms' is the process CPU time per batch)")
    print(f"{'path':>9} {'compile s':>10} {'ms/batch':>10} {'cpu ms':>9} {'img/s':>9}")
    ours = {}
    for path in args.paths.split(","):
        fused = path.strip() == "fused"
        c, med, ips, cpu = bench(cfg, args.batch, fused, args.repeats, args.warmup)
        ours[path.strip()] = ips
        print(f"{path.strip():>9} {c:10.2f} {med * 1e3:10.2f} {cpu * 1e3:9.1f} {ips:9.1f}")
    if args.official:
        official.append(run_official(args))
        got = [o["forward_img_per_s"] for o in official if o]
        if got:
            best_official = [max(o.values()) for o in got]
            best_ours = max(ours.values())
            print(f"official best path (before, after): {', '.join(f'{b:.1f}' for b in best_official)} img/s; "
                  f"jaxgan best {best_ours:.1f} img/s; ratio {best_ours / max(best_official):.2f}x-"
                  f"{best_ours / min(best_official):.2f}x (target >= 1.5x)")

    if backend == "gpu" and not args.no_bf16:
        print(f"\nGPU, R={args.bf16_resolution}: float32 vs bfloat16 "
              f"(num_fp16_res={args.bf16_num_fp16_res})")
        print(f"{'':>14} {'compile s':>10} {'ms/batch':>10} {'img/s':>9}")
        for nfp in (0, args.bf16_num_fp16_res):
            c256 = cfg.replace(img_resolution=args.bf16_resolution, num_fp16_res=nfp)
            for fused in (True, False):
                c, med, ips, _ = bench(c256, args.batch, fused, args.repeats, args.warmup)
                name = f"{'bf16' if nfp else 'fp32'} {'fused' if fused else 'unfused'}"
                print(f"{name:>14} {c:10.2f} {med * 1e3:10.2f} {ips:9.1f}")


if __name__ == "__main__":
    main()
