"""Scale on paper: lower and compile (never run) the training phases of a preset on N fake
CPU devices for several ``mesh.fsdp`` sizes, and print per-device memory from
``compiled.memory_analysis()`` (arguments, outputs, temporaries, generated code) and the bytes
each device sends into collectives per call (operands of all-reduce, all-gather,
reduce-scatter, collective-permute and all-to-all in the compiled, partitioned HLO).

    python benchmarks/scale_on_paper.py --devices 8 --fsdp 1,4,8                  # paper256
    python benchmarks/scale_on_paper.py --devices 64 --fsdp 1,8 --config stylegan2 data.resolution=1024
    python benchmarks/scale_on_paper.py --devices 8 --fsdp 1,8 --config tiny --phases d_reg --json o.json

Positional ``key=value`` arguments override the preset (as ``jaxgan train``). Low precision
(``num_fp16_res``) is kept as the preset has it (``run.allow_low_precision_on_cpu=True``), so
the programs are the ones an accelerator would get, compiled by XLA:CPU: buffer sizes and
collectives follow from the partitioning and carry over; the generated-code size and the
temporaries depend on the backend's fusion and scheduling, so read them as estimates.
The state is never materialised (``jax.eval_shape``), so a 1024² preset needs no memory for
its parameters. The script sets ``--xla_force_host_platform_device_count`` itself (before jax
starts) unless ``XLA_FLAGS`` already names a device count; LLVM's optimisation passes are
skipped (``--xla_backend_optimization_level=0``: they change neither buffers nor collectives,
and take most of the compile time).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time

#: Collective opcodes counted (the ``-start`` halves of async pairs count, ``-done`` not).
COLLECTIVES = ("all-reduce", "all-gather", "reduce-scatter", "collective-permute", "all-to-all")
_BYTES = {"f64": 8, "s64": 8, "u64": 8, "c64": 8, "f32": 4, "s32": 4, "u32": 4, "bf16": 2,
          "f16": 2, "s16": 2, "u16": 2, "s8": 1, "u8": 1, "pred": 1, "f8e4m3fn": 1, "f8e5m2": 1}
_SHAPE = re.compile(r"\b(" + "|".join(_BYTES) + r")\[([\d,]*)\]")
_DEF = re.compile(r"^\s*(?:ROOT\s+)?%?([\w.\-]+)\s*=\s*(.*?)\s([a-z][\w\-]*)\((.*)$")


def shape_bytes(shape: str) -> int:
    """Bytes of an HLO shape (a tuple's elements summed), e.g. ``(f32[3,3]{1,0}, bf16[8])``."""
    total = 0
    for dtype, dims in _SHAPE.findall(shape):
        n = 1
        for d in filter(None, dims.split(",")):
            n *= int(d)
        total += n * _BYTES[dtype]
    return total


def _operands(rest: str) -> list[str]:
    """The operand names of an instruction (``rest`` starts just after the opcode's ``(``)."""
    depth, i = 1, 0
    for i, ch in enumerate(rest):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth == 0:
            break
    return re.findall(r"%([\w.\-]+)", re.sub(r"/\*.*?\*/", "", rest[:i]))


def collective_bytes(hlo_text: str) -> dict[str, int]:
    """Bytes of the operands of every collective in a compiled (per-device) HLO module, by
    opcode, and how many there are (``'<op> count'``). The compiled text names operands
    without shapes, so each operand's shape is looked up from its definition; combined
    (tuple) collectives sum their operands."""
    shapes: dict[str, str] = {}
    found = []
    for line in hlo_text.splitlines():
        m = _DEF.match(line)
        if not m:
            continue
        name, shape, op, rest = m.groups()
        shapes[name] = shape
        base = op[:-len("-start")] if op.endswith("-start") else op
        if base in COLLECTIVES:
            found.append((base, shape, _operands(rest)))
    out: dict[str, int] = {k: 0 for k in COLLECTIVES}
    for op, shape, operands in found:
        known = [shapes[o] for o in operands if o in shapes]
        # An all-reduce's (or permute's, all-to-all's) operands have its result's shape.
        if len(known) == len(operands):
            nbytes = sum(shape_bytes(s) for s in known)
        elif op in ("all-reduce", "collective-permute", "all-to-all"):
            nbytes = shape_bytes(shape)
        else:
            raise ValueError(f"collective_bytes: operand shapes of a {op} not found: {operands}")
        out[op] += nbytes
        out[op + " count"] = out.get(op + " count", 0) + 1
    return out


def param_bytes(tree) -> int:
    import jax
    return sum(int(x.size) * x.dtype.itemsize for x in jax.tree.leaves(tree))


def sharded_bytes(tree, shardings) -> int:
    """Per-device bytes of ``tree`` under ``shardings`` (the largest shard of each leaf)."""
    import jax
    import numpy as np
    total = 0
    for x, s in zip(jax.tree.leaves(tree), jax.tree.leaves(shardings)):
        shard = s.shard_shape(x.shape)
        total += int(np.prod(shard, dtype=np.int64)) * x.dtype.itemsize
    return total


def compile_phases(config: str, overrides: list[str], devices: int, fsdp: int,
                   phases: list[str]) -> dict:
    """Lower and compile ``phases`` of the preset on ``devices`` devices with ``mesh.fsdp=fsdp``.

    Returns:
      ``{'params': {...}, 'state_bytes_per_device': ..., 'phases': {name: {...}}}``.
    """
    import jax
    import jax.numpy as jnp

    from jaxgan import sharding as shd
    from jaxgan.training.config import load_config
    from jaxgan.training.loop import build_run
    from jaxgan.training.step import make_step_fns

    cfg = load_config(config, [*overrides, f"mesh.fsdp={fsdp}", "run.allow_low_precision_on_cpu=True"])
    info = dict(resolution=cfg.data.resolution, channels=3, num_classes=0)
    holder: dict = {}

    def build():
        defs, state = build_run(cfg, info)
        holder["defs"] = defs
        return state
    state = jax.eval_shape(build)                       # shapes only: nothing materialised
    defs = holder["defs"]
    mesh = shd.make_mesh(fsdp, jax.devices()[:devices])
    state_sh = shd.tree_shardings(state, mesh)
    batch_sh, repl = shd.batch_sharding(mesh), shd.replicated(mesh)
    fns = make_step_fns(defs, state_sh, batch_sh, repl)
    n, r = cfg.batch_size, cfg.data.resolution
    a_state = jax.tree.map(lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s), state, state_sh)
    batch = {"image": jax.ShapeDtypeStruct((n, r, r, 3), jnp.float32, sharding=batch_sh),
             "c": jax.ShapeDtypeStruct((n, 0), jnp.float32, sharding=batch_sh)}
    key = jax.random.key(0)
    out: dict = {"config": config, "overrides": overrides, "devices": devices, "fsdp": fsdp,
                 "batch": n, "resolution": r,
                 "params": {"G": param_bytes(state.g["params"]), "D": param_bytes(state.d["params"])},
                 "state_bytes": param_bytes(state),
                 "state_bytes_per_device": sharded_bytes(state, state_sh), "phases": {}}
    for name in phases:
        fn = getattr(fns, name)
        if fn is None:
            continue
        t0 = time.perf_counter()
        compiled = fn.lower(a_state, batch, key).compile()
        dt = time.perf_counter() - t0
        mem = compiled.memory_analysis()
        rec = {"compile_s": dt}
        for f in ("argument_size_in_bytes", "output_size_in_bytes", "temp_size_in_bytes",
                  "generated_code_size_in_bytes", "alias_size_in_bytes"):
            rec[f.replace("_size_in_bytes", "")] = int(getattr(mem, f, -1)) if mem is not None else -1
        rec["collectives"] = collective_bytes(compiled.as_text())
        out["phases"][name] = rec
        print(f"  compiled {name} (devices {devices}, fsdp {fsdp}) in {dt:.1f} s", file=sys.stderr, flush=True)
    return out


def print_table(results: list[dict]) -> None:
    mib = 2 ** 20
    r0 = results[0]
    print(f"{r0['config']} {' '.join(r0['overrides'])}: R={r0['resolution']} batch={r0['batch']}; "
          f"trainable G {r0['params']['G'] / mib:.1f} MiB, D {r0['params']['D'] / mib:.1f} MiB; "
          f"whole state {r0['state_bytes'] / mib:.1f} MiB")
    print(f"{'dev':>4} {'fsdp':>4} {'state/dev':>9} {'phase':>7} {'args':>8} {'out':>8} {'temp':>8} "
          f"{'code':>6} {'all-red':>8} {'all-gat':>8} {'red-sca':>8} {'perm':>6} {'a2a':>6} {'compile':>7}")
    for r in results:
        for name, p in r["phases"].items():
            c = p["collectives"]
            print(f"{r['devices']:4d} {r['fsdp']:4d} {r['state_bytes_per_device'] / mib:9.1f} {name:>7} "
                  f"{p['argument'] / mib:8.1f} {p['output'] / mib:8.1f} {p['temp'] / mib:8.1f} "
                  f"{p['generated_code'] / mib:6.1f} {c['all-reduce'] / mib:8.2f} {c['all-gather'] / mib:8.2f} "
                  f"{c['reduce-scatter'] / mib:8.2f} {c['collective-permute'] / mib:6.2f} "
                  f"{c['all-to-all'] / mib:6.2f} {p['compile_s']:6.1f}s")
    print("(MiB per device; collectives: operand MiB one device sends per call of the phase)")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("overrides", nargs="*", help="key=value config overrides")
    ap.add_argument("--config", default="paper256")
    ap.add_argument("--devices", type=int, default=8)
    ap.add_argument("--fsdp", default="1,4,8", help="comma-separated mesh.fsdp sizes")
    ap.add_argument("--phases", default="g_main,g_reg,d_main,d_reg,finish")
    ap.add_argument("--json", default=None, help="also write the results to this file")
    args = ap.parse_args(argv)
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" not in flags:
        flags += f" --xla_force_host_platform_device_count={args.devices}"
    if "xla_backend_optimization_level" not in flags:
        flags += " --xla_backend_optimization_level=0"
    os.environ["XLA_FLAGS"] = flags.strip()
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import jax
    if jax.device_count() < args.devices:
        print(f"scale_on_paper: error: {jax.device_count()} devices, --devices {args.devices}", file=sys.stderr)
        return 2
    results = []
    for f in (int(x) for x in args.fsdp.split(",")):
        results.append(compile_phases(args.config, args.overrides, args.devices, f,
                                      args.phases.split(",")))
    print(f"jax {jax.__version__}, {args.devices} fake CPU devices, "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print_table(results)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
