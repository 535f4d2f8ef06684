"""Training throughput: images/s over full official iterations (Gmain + Dmain every step,
Greg every 4, Dreg every 16: lazy regularisation amortised), compile time, peak memory, and
a per-phase table (ms per batch, XLA ``cost_analysis()`` FLOPs, achieved GFLOP/s).

    python benchmarks/bench_training.py                 # R=32, channel_base 16384, max 256, batch 16
    python benchmarks/bench_training.py --res 64 --iters 32
    python benchmarks/bench_training.py --official ~/stylegan2-ada-pytorch \\
        --official-python ~/torch-venv/bin/python       # the official code side by side

Ratios against the official code are printed only when it runs in the same sitting
(``--official``): it is timed before and after jaxgan by ``benchmarks/official_training.py``
in the given Python (one that has torch 2.x, numpy and requests; jaxgan itself never needs
torch), with the machine's load average printed beside every figure. Without ``--official``
this prints jaxgan's figures alone; the last official figures measured on this machine
class, with their dates, are in ``benchmarks/README.md`` and ``../shared/README.md`` and are
not comparable with figures from another day (they move by 20-30%).
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import time

import jax
import numpy as np

from official_training import run_in  # noqa: E402 - the script beside this one
from jaxgan.training.config import load_config
from jaxgan.training.loop import build_run
from jaxgan.training.step import make_step_fns, train_step



def load_average() -> str:
    """The 1-minute load average and CPU count, for printing beside a figure."""
    if not hasattr(os, "getloadavg"):
        return "load average n/a"
    return f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"


def run_official(args) -> dict | None:
    """Run ``official_training.py`` in ``args.official_python``; its last line is JSON."""
    return run_in(args.official_python, ["--official", args.official,
           "--res", str(args.res), "--batch", str(args.batch), "--channel-base", str(args.channel_base),
           "--channel-max", str(args.channel_max), "--iters", str(args.iters)])


def phase_table(fns, state, batch, key, repeats: int) -> dict[str, dict]:
    """Time each jitted phase alone (state threaded through, donated) and read its FLOPs.

    Returns:
      ``{phase: {'ms': median ms per batch, 'gflop': XLA's FLOP count / 1e9}}``.
    """
    out = {}
    for name in ("g_main", "g_reg", "d_main", "d_reg", "finish"):
        fn = getattr(fns, name)
        if fn is None:
            continue
        try:
            cost = fn.lower(state, batch, key).compile().cost_analysis()
            cost = cost[0] if isinstance(cost, (list, tuple)) else cost
            flops = float(cost.get("flops", float("nan"))) if cost else float("nan")
        except Exception:  # noqa: BLE001 - cost analysis is best effort (backend-dependent)
            flops = float("nan")
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            state, m = fn(state, batch, key)
            jax.block_until_ready((state, m))
            times.append(time.perf_counter() - t0)
        out[name] = {"ms": statistics.median(times) * 1e3, "gflop": flops / 1e9}
    return out, state


def setup(args):
    """The benchmark run of ``args`` (res, batch, channel_base, channel_max, augment, bf16,
    precision): ``(defs, state, fns, batch, key)`` with a fixed uniform batch."""
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
    return defs, state, fns, batch, key


def add_config_arguments(ap: argparse.ArgumentParser) -> None:
    """The benchmark configuration's options, read by :func:`setup`."""
    ap.add_argument("--res", type=int, default=32)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--channel-base", type=int, default=16384)
    ap.add_argument("--channel-max", type=int, default=256)
    ap.add_argument("--augment", default="noaug", choices=["noaug", "ada"])
    ap.add_argument("--bf16", action="store_true", help="num_fp16_res=4 with conv_clamp=256")
    ap.add_argument("--precision", default="float32",
                    help="run.matmul_precision of the float32 layers: float32 (the official "
                         "allow_tf32=False) or tensorfloat32 (GPU only)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_arguments(ap)
    ap.add_argument("--iters", type=int, default=16, help="timed iterations (multiple of 16)")
    ap.add_argument("--phase-repeats", type=int, default=3, help="timed calls per phase (0: no phase table)")
    ap.add_argument("--official", default=None,
                    help="checkout of NVlabs/stylegan2-ada-pytorch: time it before and after jaxgan")
    ap.add_argument("--official-python", default="python3",
                    help="a Python with torch, numpy and requests for --official")
    args = ap.parse_args()
    official = [run_official(args)] if args.official else []

    defs, state, fns, batch, key = setup(args)
    load_before = load_average()
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
    phases = {}
    if args.phase_repeats > 0:
        phases, state = phase_table(fns, state, batch, key, args.phase_repeats)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"jaxgan: backend={jax.default_backend()} devices={jax.device_count()} R={args.res} batch={args.batch} "
          f"channel_base={args.channel_base} channel_max={args.channel_max} bf16={args.bf16} "
          f"augment={args.augment} matmul_precision={args.precision}; {load_before} at start, "
          f"{load_average()} at end")
    print(f"compile (first iteration, all phases): {compile_s:.1f} s")
    print(f"training: {ips:.2f} img/s over {args.iters} iterations (lazy regularisation amortised)")
    print(f"peak host memory (RSS): {peak:.0f} MiB")
    if jax.default_backend() == "gpu":
        stats = jax.devices()[0].memory_stats() or {}
        print(f"peak device memory: {stats.get('peak_bytes_in_use', 0) / 2**20:.0f} MiB")
    if phases:
        print(f"{'phase':>8} {'ms/batch':>10} {'GFLOP':>9} {'GFLOP/s':>9}")
        for name, p in phases.items():
            print(f"{name:>8} {p['ms']:10.1f} {p['gflop']:9.2f} {p['gflop'] / (p['ms'] / 1e3):9.1f}")

    if args.official:
        official.append(run_official(args))
        got = [o for o in official if o]
        if got:
            ref = [o["img_per_s"] for o in got]
            print(f"official (before, after): {', '.join(f'{r:.2f}' for r in ref)} img/s; "
                  f"jaxgan {ips:.2f} img/s; ratio {ips / max(ref):.2f}x-{ips / min(ref):.2f}x "
                  f"(target >= 1.5x); official first iteration {got[0]['first_iteration_s']:.1f} s "
                  f"vs jaxgan compile {compile_s:.1f} s")
            names = {"g_main": "Gmain", "g_reg": "Greg", "d_main": "Dmain", "d_reg": "Dreg", "finish": "ema"}
            for name, p in phases.items():
                o = [g["phase_ms"].get(names[name]) for g in got if names[name] in g["phase_ms"]]
                if o:
                    print(f"{names[name]:>8}: jaxgan {p['ms']:8.1f} ms, official "
                          f"{' / '.join(f'{x:.1f}' for x in o)} ms")


if __name__ == "__main__":
    main()
