"""Time NVIDIA's official stylegan2-ada-pytorch training phases on this machine (CPU, eager).

This script is run by ``bench_training.py --official DIR`` in a separate Python that has torch
(jaxgan never needs torch); it can also be run alone::

    /path/to/torch-venv/bin/python benchmarks/official_training.py --official ~/stylegan2-ada-pytorch

``DIR`` is a checkout of https://github.com/NVlabs/stylegan2-ada-pytorch (not shipped with
jaxgan). The script builds the official ``Generator``/``Discriminator`` and ``StyleGAN2Loss``
with the benchmark configuration and drives them as ``training/training_loop.py`` does:
phases ``[Gmain, Greg, Dmain, Dreg]`` (Greg every 4, Dreg every 16 iterations, each with
gain = its interval and Adam with the lazy-regularisation ratio), the ``nan_to_num`` of the
gradients, then the G_ema update; no augmentation, float32 (``num_fp16_res=0``,
``conv_clamp=None``). It prints a per-phase table and, last, one JSON line with the figures
(``bench_training.py`` reads that line).
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import subprocess
import sys
import time


def run_in(python: str, args: list[str]) -> dict | None:
    """Run this script in ``python`` (one with torch) with ``args``; echo its output and return
    the JSON of its last line, or None (with a message) when it failed. Imports no torch."""
    cmd = [python, __file__, *args]
    print(f"$ {' '.join(cmd)}", flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    sys.stdout.write(proc.stdout)
    if proc.returncode != 0:
        print(f"official run failed (exit {proc.returncode}): {proc.stderr.strip().splitlines()[-1:]}")
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--official", required=True, help="checkout of NVlabs/stylegan2-ada-pytorch")
    ap.add_argument("--res", type=int, default=32)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--channel-base", type=int, default=16384)
    ap.add_argument("--channel-max", type=int, default=256)
    ap.add_argument("--mapping-layers", type=int, default=8)
    ap.add_argument("--iters", type=int, default=16, help="timed iterations (multiple of 16)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed iterations first (each runs every phase)")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    ap.add_argument("--forward", action="store_true",
                    help="time the G forward instead (eval mode = fused modconv, train mode = unfused)")
    ap.add_argument("--repeats", type=int, default=30, help="--forward: timed calls per path")
    args = ap.parse_args(argv)
    if not os.path.isfile(os.path.join(args.official, "training", "loss.py")):
        print(f"official_training: error: {args.official!r} is not a stylegan2-ada-pytorch checkout "
              "(no training/loss.py)", file=sys.stderr)
        return 2
    sys.path.insert(0, os.path.abspath(args.official))
    import numpy as np
    import torch
    from torch_utils import misc
    from training.loss import StyleGAN2Loss
    from training.networks import Discriminator, Generator

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    dev = torch.device("cpu")
    syn = dict(channel_base=args.channel_base, channel_max=args.channel_max, num_fp16_res=0, conv_clamp=None)
    G = Generator(z_dim=512, c_dim=0, w_dim=512, img_resolution=args.res, img_channels=3,
                  mapping_kwargs=dict(num_layers=args.mapping_layers), synthesis_kwargs=syn)
    D = Discriminator(c_dim=0, img_resolution=args.res, img_channels=3, epilogue_kwargs=dict(mbstd_group_size=4),
                      **syn)
    G.train().requires_grad_(False)
    D.train().requires_grad_(False)
    if args.forward:
        return forward(G, args)
    G_ema = copy.deepcopy(G).eval()
    loss = StyleGAN2Loss(dev, G.mapping, G.synthesis, D, r1_gamma=10, style_mixing_prob=0.9, pl_weight=2)

    # training_loop.py: lazy regularisation scales lr and betas by mb_ratio; phase gain = interval.
    phases = []
    for name, module, reg_interval in [("G", G, 4), ("D", D, 16)]:
        mb_ratio = reg_interval / (reg_interval + 1)
        opt = torch.optim.Adam(module.parameters(), lr=0.0025 * mb_ratio,
                               betas=[0 ** mb_ratio, 0.99 ** mb_ratio], eps=1e-8)
        phases += [(name + "main", module, opt, 1), (name + "reg", module, opt, reg_interval)]
    ema_beta = 0.5 ** (args.batch / (10 * 1000))

    rng = np.random.default_rng(0)
    real = torch.from_numpy(rng.uniform(-1, 1, (args.batch, 3, args.res, args.res)).astype(np.float32))
    real_c = torch.zeros([args.batch, 0])
    times: dict[str, list[float]] = {p[0]: [] for p in phases}
    times["ema"] = []

    def iteration(i, record):
        gen_z = torch.randn([args.batch, 512])
        gen_c = torch.zeros([args.batch, 0])
        for name, module, opt, interval in phases:
            if record is not None and i % interval != 0:      # warm-up runs every phase
                continue
            t0 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            module.requires_grad_(True)
            loss.accumulate_gradients(phase=name, real_img=real, real_c=real_c, gen_z=gen_z, gen_c=gen_c,
                                      sync=True, gain=interval)
            module.requires_grad_(False)
            for p in module.parameters():
                if p.grad is not None:
                    misc.nan_to_num(p.grad, nan=0, posinf=1e5, neginf=-1e5, out=p.grad)
            opt.step()
            if record is not None:
                record[name].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        with torch.no_grad():
            for p_ema, p in zip(G_ema.parameters(), G.parameters()):
                p_ema.copy_(p.lerp(p_ema, ema_beta))
            for b_ema, b in zip(G_ema.buffers(), G.buffers()):
                b_ema.copy_(b)
        if record is not None:
            record["ema"].append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    for i in range(args.warmup):
        iteration(i, None)
    first_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for i in range(args.iters):
        iteration(i, times)
    wall = time.perf_counter() - t0
    ips = args.iters * args.batch / wall
    per = {k: statistics.median(v) for k, v in times.items() if v}
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"official stylegan2-ada-pytorch, torch {torch.__version__}, {args.threads} threads, R={args.res} "
          f"batch={args.batch} channel_base={args.channel_base} channel_max={args.channel_max} "
          f"load average {load:.2f} on {os.cpu_count()} CPUs")
    print(f"first {args.warmup} iteration(s), every phase: {first_s:.1f} s")
    for k, v in per.items():
        print(f"  {k:>6}: {v * 1e3:9.1f} ms per batch (median of {len(times[k])})")
    print(f"training: {ips:.2f} img/s over {args.iters} iterations (lazy regularisation amortised)")
    print(json.dumps({"official": True, "img_per_s": ips, "phase_ms": {k: v * 1e3 for k, v in per.items()},
                      "first_iteration_s": first_s, "load": load, "torch": torch.__version__,
                      "res": args.res, "batch": args.batch}))
    return 0


def forward(G, args) -> int:
    """Time ``G(z, c, noise_mode='const')`` with no grad: eval mode (the official fused
    modulated convolution) and train mode (unfused); print a JSON line last."""
    import torch
    z = torch.randn([args.batch, 512])
    c = torch.zeros([args.batch, 0])
    out = {}
    for path, train in (("fused", False), ("unfused", True)):
        G.train(train)
        with torch.no_grad():
            for _ in range(3):
                G(z, c, noise_mode="const")
            times = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                G(z, c, noise_mode="const")
                times.append(time.perf_counter() - t0)
        out[path] = args.batch / statistics.median(times)
        print(f"official G forward {path}: {out[path]:.1f} img/s")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(json.dumps({"official": True, "forward_img_per_s": out, "load": load, "torch": torch.__version__,
                      "res": args.res, "batch": args.batch}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
