"""Training throughput: images/s over full official iterations (Gmain + Dmain every step,
Greg every 4, Dreg every 16: lazy regularisation amortised), compile time, peak memory.

    python benchmarks/bench_training.py                 # R=32, channel_base 16384, max 256, batch 16
    python benchmarks/bench_training.py --res 64 --iters 32

Reference (stylegan2-ada-pytorch, torch 2.13 CPU, 2 threads, same config): 5.5 img/s at
R=32, 1.1 img/s at R=64 (torch.compile is slower). Target: >= 1.5x.
"""
from __future__ import annotations

import argparse
import resource
import time

import jax
import numpy as np

from jaxgan.training.config import load_config
from jaxgan.training.loop import build_run
from jaxgan.training.step import make_step_fns, train_step

OFFICIAL = {32: 5.5, 64: 1.1}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--res", type=int, default=32)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--channel-base", type=int, default=16384)
    ap.add_argument("--channel-max", type=int, default=256)
    ap.add_argument("--iters", type=int, default=16, help="timed iterations (multiple of 16)")
    ap.add_argument("--augment", default="noaug", choices=["noaug", "ada"])
    ap.add_argument("--bf16", action="store_true", help="num_fp16_res=4 with conv_clamp=256")
    ap.add_argument("--precision", default="float32",
                    help="run.matmul_precision of the float32 layers: float32 (the official "
                         "allow_tf32=False) or tensorfloat32 (GPU only)")
    args = ap.parse_args()
    fp16 = 4 if args.bf16 else 0
    cfg = load_config("base", [
        f"batch_size={args.batch}", "G.mapping_layers=8", f"G.channel_base={args.channel_base}",
        f"G.channel_max={args.channel_max}", f"D.channel_base={args.channel_base}",
        f"D.channel_max={args.channel_max}", f"augment.mode={args.augment}",
        f"G.num_fp16_res={fp16}", f"D.num_fp16_res={fp16}", "run.allow_low_precision_on_cpu=True",
        f"run.matmul_precision={args.precision}"]
        + (["G.conv_clamp=256.0", "D.conv_clamp=256.0"] if fp16 else []))
    defs, state = build_run(cfg, dict(resolution=args.res, channels=3, num_classes=0))
    fns = make_step_fns(defs)
    rng = np.random.default_rng(0)
    batch = {"image": jax.device_put(rng.uniform(-1, 1, (args.batch, args.res, args.res, 3)).astype(np.float32)),
             "c": jax.device_put(np.zeros((args.batch, 0), np.float32))}
    key = jax.random.key(0)
    t0 = time.time()
    state, m = train_step(fns, defs, state, batch, key, 0)      # compiles all four phases
    jax.block_until_ready(m)
    compile_s = time.time() - t0
    for step in range(1, 16):                                    # warm up a full lazy cycle
        state, m = train_step(fns, defs, state, batch, key, step)
    jax.block_until_ready(m)
    t0 = time.time()
    for step in range(16, 16 + args.iters):
        state, m = train_step(fns, defs, state, batch, key, step)
    jax.block_until_ready((state, m))
    dt = time.time() - t0
    ips = args.iters * args.batch / dt
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    ref = OFFICIAL.get(args.res)
    print(f"backend={jax.default_backend()} devices={jax.device_count()} R={args.res} batch={args.batch} "
          f"channel_base={args.channel_base} channel_max={args.channel_max} bf16={args.bf16} "
          f"augment={args.augment} matmul_precision={args.precision}")
    print(f"compile (first iteration, all phases): {compile_s:.1f} s")
    print(f"training: {ips:.2f} img/s over {args.iters} iterations (lazy regularisation amortised)")
    print(f"peak host memory (RSS): {peak:.0f} MiB")
    if jax.default_backend() == "gpu":
        stats = jax.devices()[0].memory_stats() or {}
        print(f"peak device memory: {stats.get('peak_bytes_in_use', 0) / 2**20:.0f} MiB")
    if ref and jax.default_backend() == "cpu":
        print(f"official PyTorch (2 CPU threads): {ref} img/s; target >= {1.5 * ref:.2f} img/s; "
              f"ratio {ips / ref:.2f}x")


if __name__ == "__main__":
    main()
