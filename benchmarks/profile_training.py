"""Per-phase profile of one training iteration: for Gmain, Greg, Dmain, Dreg and the EMA
(``finish``) phase, the wall and process-CPU ms per batch, XLA's ``cost_analysis()`` FLOPs and
bytes accessed, the achieved GFLOP/s, and the ops that took the most time in a
``jax.profiler`` trace (per-op ``ph == 'X'`` events of the XLA:CPU threads), each named by its
HLO opcode, what a fusion contains and the JAX op it came from.

    python benchmarks/profile_training.py                       # R=32 benchmark config
    python benchmarks/profile_training.py --res 64 --top 12
    python benchmarks/profile_training.py --no-trace --json out.json

Same configuration flags as ``bench_training.py`` (mapping 8, channel_base 16384,
channel_max 256, batch 16, float32, no augmentation by default). Each phase is compiled
ahead of time once (``lower().compile()``) and that executable is both timed and traced, so
the FLOPs, the trace and the timings describe one program. The load average is printed at
start and end: wall figures on a shared machine move with it, process CPU time much less.
"""
from __future__ import annotations

import argparse
import collections
import glob
import gzip
import json
import os
import re
import statistics
import tempfile
import time

import jax

from bench_training import add_config_arguments, load_average, setup  # noqa: E402 - the script beside this one

PHASES = (("g_main", "Gmain"), ("g_reg", "Greg"), ("d_main", "Dmain"), ("d_reg", "Dreg"),
          ("finish", "EMA"))
_SKIP = ("end: ", "ThreadpoolListener", "ThunkExecutor")
_NOTABLE = ("convolution", "dot", "reduce-window", "reduce", "transpose", "copy", "gather",
            "scatter", "select-and-scatter", "pad", "concatenate", "while", "custom-call")


def cost(compiled) -> dict:
    """``{'gflop', 'gbytes'}`` from XLA's cost analysis (nan where the backend has none)."""
    try:
        c = compiled.cost_analysis()
        c = c[0] if isinstance(c, (list, tuple)) else (c or {})
    except Exception:  # noqa: BLE001 - cost analysis is backend-dependent, best effort
        c = {}
    return {"gflop": float(c.get("flops", float("nan"))) / 1e9,
            "gbytes": float(c.get("bytes accessed", float("nan"))) / 1e9}


def hlo_index(text: str) -> dict[str, str]:
    """Instruction name -> a short description from the compiled HLO text: opcode, shape, the
    notable ops of a fusion's computation and the JAX ``op_name`` of its metadata."""
    comps: dict[str, list[str]] = {}
    cur = None
    for line in text.splitlines():
        m = re.match(r"^\s*(?:ENTRY\s+)?%?([\w.\-]+)\s.*\{\s*$", line)
        if m and "=" not in line.split("{")[0]:
            cur = m.group(1)
            comps[cur] = []
        elif cur is not None:
            comps[cur].append(line)
    out = {}
    for lines in comps.values():
        for line in lines:
            m = re.match(r"^\s*(?:ROOT\s+)?%?([\w.\-]+)\s*=\s*(\S+(?:\[[^\]]*\])?(?:\{[^}]*\})?)\s+([\w\-]+)\(",
                         line)
            if not m:
                continue
            name, shape, op = m.groups()
            desc = f"{op} {shape.split('{')[0]}"
            called = re.search(r"calls=%?([\w.\-]+)", line)
            if called and called.group(1) in comps:
                inner = collections.Counter(
                    o for ln in comps[called.group(1)]
                    for o in re.findall(r"=\s*\S+\s+([\w\-]+)\(", ln) if o in _NOTABLE)
                if inner:
                    desc += " {" + ", ".join(f"{o}x{n}" if n > 1 else o for o, n in inner.most_common()) + "}"
            meta = re.search(r'op_name="([^"]*)"', line)
            if meta:
                bwd = " [bwd]" if "transpose(" in meta.group(1) else ""
                desc += "  <- " + _short_op(meta.group(1)) + bwd
            out[name] = desc
    return out


def kind_of(desc: str) -> str:
    """A coarse class of an op from :func:`hlo_index`'s description: what it computes (conv/dot,
    reduce, layout = transpose/copy/concatenate/pad, other elementwise) and whether it belongs to
    a backward pass (a ``transpose(...)`` in its JAX op_name)."""
    head, _, origin = desc.partition("  <- ")
    if re.search(r"\b(convolution|dot)\b", head):
        what = "conv/dot"
    elif re.search(r"\breduce(-window)?\b", head):
        what = "reduce"
    elif re.search(r"\b(transpose|copy|concatenate|pad|gather|scatter)\b", head):
        what = "layout"
    else:
        what = "elementwise"
    return what + (" (bwd)" if "[bwd]" in origin else " (fwd)" if origin else "")


def _short_op(op_name: str) -> str:
    """The last few components of a JAX op_name (the transformation and the primitive)."""
    parts = op_name.split("/")
    return "/".join(parts[-3:]) if len(parts) > 3 else op_name


def trace_ops(run, outdir: str) -> dict[str, float]:
    """Per-op µs (summed over the XLA:CPU threads' ``ph == 'X'`` events) of ``run()``."""
    with jax.profiler.trace(outdir, create_perfetto_trace=True):
        run()
    files = sorted(glob.glob(os.path.join(outdir, "**", "*.trace.json.gz"), recursive=True))
    data = json.load(gzip.open(files[-1]))
    events = data["traceEvents"] if isinstance(data, dict) else data
    threads = {(e.get("pid"), e.get("tid")): e["args"]["name"] for e in events
               if e.get("ph") == "M" and e.get("name") == "thread_name"}
    per: dict[str, float] = collections.Counter()
    for e in events:
        if e.get("ph") != "X" or e["name"].startswith(_SKIP) or e["name"].startswith("$"):
            continue
        if not threads.get((e.get("pid"), e.get("tid")), "").startswith("tf_XLA"):
            continue
        per[e["name"]] += float(e.get("dur", 0.0))
    return per


def profile(args) -> dict:
    defs, state, fns, batch, key = setup(args)
    out: dict = {"load_start": load_average(), "jax": jax.__version__, "backend": jax.default_backend(),
                 "phases": {}}
    tmp = tempfile.mkdtemp(prefix="jaxgan-profile-")
    for name, label in PHASES:
        fn = getattr(fns, name)
        if fn is None:
            continue
        t0 = time.perf_counter()
        compiled = fn.lower(state, batch, key).compile()
        compile_s = time.perf_counter() - t0
        rec = {"compile_s": compile_s, **cost(compiled)}
        state, m = compiled(state, batch, key)                       # warm-up
        jax.block_until_ready((state, m))
        wall, cpu = [], []
        for _ in range(args.repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            state, m = compiled(state, batch, key)
            jax.block_until_ready((state, m))
            wall.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        rec["ms"] = statistics.median(wall) * 1e3
        rec["cpu_ms"] = statistics.median(cpu) * 1e3
        rec["gflops_per_s"] = rec["gflop"] / (rec["ms"] / 1e3)
        rec["gflops_per_cpu_s"] = rec["gflop"] / max(rec["cpu_ms"] / 1e3, 1e-9)
        if args.trace:
            holder = {"state": state}

            def run_once():
                s, mm = compiled(holder["state"], batch, key)
                jax.block_until_ready((s, mm))
                holder["state"] = s
            per = trace_ops(run_once, os.path.join(tmp, name))
            state = holder["state"]
            index = hlo_index(compiled.as_text())
            total = sum(per.values()) or 1.0
            rec["traced_op_ms"] = total / 1e3
            kinds: dict[str, float] = collections.Counter()
            for k, v in per.items():
                kinds[kind_of(index.get(k, ""))] += v
            rec["kinds"] = {k: v / total for k, v in kinds.most_common()}
            rec["top"] = [{"op": k, "ms": v / 1e3, "share": v / total, "what": index.get(k, "?")}
                          for k, v in sorted(per.items(), key=lambda kv: -kv[1])[:args.top]]
        out["phases"][label] = rec
        print(f"{label}: {rec['ms']:.1f} ms wall, {rec['cpu_ms']:.1f} ms cpu, {rec['gflop']:.2f} GFLOP, "
              f"compile {compile_s:.1f} s ({load_average()})", flush=True)
    out["load_end"] = load_average()
    return out


def print_report(out: dict, args) -> None:
    print(f"\njax {out['jax']} ({out['backend']}), R={args.res} batch={args.batch} channel_base="
          f"{args.channel_base} channel_max={args.channel_max} augment={args.augment}; "
          f"{out['load_start']} at start, {out['load_end']} at end")
    print(f"{'phase':>6} {'wall ms':>9} {'cpu ms':>9} {'GFLOP':>8} {'GFLOP/s':>8} {'/cpu-s':>7} {'GB accessed':>11}")
    for label, r in out["phases"].items():
        print(f"{label:>6} {r['ms']:9.1f} {r['cpu_ms']:9.1f} {r['gflop']:8.2f} {r['gflops_per_s']:8.1f} "
              f"{r['gflops_per_cpu_s']:7.1f} {r['gbytes']:11.3f}")
    for label, r in out["phases"].items():
        if "top" not in r:
            continue
        print(f"\n{label}: largest ops of one traced call (op time summed over threads: "
              f"{r['traced_op_ms']:.1f} ms)")
        print("  by kind: " + ", ".join(f"{k} {100 * v:.0f}%" for k, v in r["kinds"].items()))
        for t in r["top"]:
            print(f"  {t['ms']:8.2f} ms {100 * t['share']:5.1f}%  {t['op']}: {t['what'][:150]}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_arguments(ap)
    ap.add_argument("--repeats", type=int, default=5, help="timed calls per phase (median)")
    ap.add_argument("--top", type=int, default=10, help="ops listed per phase")
    ap.add_argument("--no-trace", dest="trace", action="store_false", help="skip the profiler trace")
    ap.add_argument("--json", default=None, help="also write the figures to this file")
    args = ap.parse_args()
    out = profile(args)
    print_report(out, args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
