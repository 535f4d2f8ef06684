"""Inference precision vs the official outputs: distance and speed per precision.

For each case it converts the official networks (as a released configuration: ``num_fp16_res=4,
conv_clamp=256``), renders the case's ws / scores its images with jaxgan in float32 (the
default), float16 and bfloat16, and prints the max abs / RMS distance to the official float32
outputs next to the official fp16-vs-fp32 distance, plus images/s of the jitted synthesis.

Cases (default: the committed fixtures, made with the official code; see
``tests/test_precision.py``): ``released32`` (fixture_g32/d32_perturbed + fp16_released32.npz)
and ``cond32`` (fixture_cond32.npz). ``--snapshot PKL --outputs NPZ`` adds a real official
snapshot with official outputs (``z``, ``c``, ``img32``, ``logits32`` and optionally ``img16``,
``logits16``; NCHW; made with the official code, e.g. ``G.synthesis(ws, noise_mode='const',
force_fp32=True/False)``).

    .venv/bin/python benchmarks/bench_precision.py
    .venv/bin/python benchmarks/bench_precision.py --snapshot snap.pkl --outputs snap.npz
    JAX_PLATFORMS=cuda .venv/bin/python benchmarks/bench_precision.py --batch 32   # GPU speed
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan import model
from jaxgan.checkpoint import load_network
from jaxgan.convert import convert

FIX = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "official"
OUTPUTS = {"z", "ws", "img", "img_unfused", "ws_psi07", "img_psi07", "logits", "meta", "c",
           "img_fp16", "logits_fp16"}
RELEASED = {"num_fp16_res": 4, "conv_clamp": 256}


def _nets_from_npz(g_state, d_state, tmp: Path):
    np.savez(tmp / "nets.npz", **{f"G.{k}": v for k, v in g_state.items()},
             **{f"D.{k}": v for k, v in d_state.items()})
    convert(tmp / "nets.npz", tmp / "ck", overrides=RELEASED)
    return load_network(tmp / "ck", "G") + load_network(tmp / "ck", "D")


def cases(args, tmp: Path):
    """Yield ``(name, G, g, D, d, ws, c, official)``."""
    g = dict(np.load(FIX / "fixture_g32_perturbed.npz"))
    d = dict(np.load(FIX / "fixture_d32_perturbed.npz"))
    fp16 = dict(np.load(FIX / "fp16_released32.npz"))
    (tmp / "r").mkdir()
    G, gv, D, dv = _nets_from_npz({k: v for k, v in g.items() if k not in OUTPUTS},
                                  {k: v for k, v in d.items() if k not in OUTPUTS}, tmp / "r")
    yield ("released32", G, gv, D, dv, jnp.asarray(g["ws"]), None,
           dict(img32=fp16["img_fp32"], img16=fp16["img_fp16"], logits32=fp16["logits_fp32"],
                logits16=fp16["logits_fp16"]))
    c = dict(np.load(FIX / "fixture_cond32.npz"))
    (tmp / "c").mkdir()
    G, gv, D, dv = _nets_from_npz({k[2:]: v for k, v in c.items() if k.startswith("G.")},
                                  {k[2:]: v for k, v in c.items() if k.startswith("D.")}, tmp / "c")
    yield ("cond32", G, gv, D, dv, jnp.asarray(c["ws"]), jnp.asarray(c["c"]),
           dict(img32=c["img"], img16=c["img_fp16"], logits32=c["logits"],
                logits16=c["logits_fp16"]))
    if args.snapshot:
        convert(args.snapshot, tmp / "snap", allow_pickle=True)
        out = dict(np.load(args.outputs))
        G, gv = load_network(tmp / "snap", "G_ema")
        D, dv = load_network(tmp / "snap", "D")
        cc = jnp.asarray(out["c"]) if G.cfg.c_dim else None
        ws = model.mapping(G, gv, jnp.asarray(out["z"]), cc)
        yield (Path(args.snapshot).stem, G, gv, D, dv, ws, cc, out)


def _dist(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max()), float(np.sqrt(np.mean((a - b) ** 2)))


def _speed(G, gv, ws, precision, batch, repeats):
    ws = jnp.broadcast_to(ws[:1], (batch,) + ws.shape[1:])
    fn = jax.jit(lambda v, w: model.synthesize(G, v, w, precision=precision))
    fn(gv, ws).block_until_ready()
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn(gv, ws).block_until_ready()
    return batch * repeats / (time.perf_counter() - t0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--snapshot", help="an official snapshot .pkl to add as a case")
    p.add_argument("--outputs", help="its official outputs .npz (with --snapshot)")
    p.add_argument("--batch", type=int, default=8, help="batch for the speed figures")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--json", help="also write the rows to this JSON file")
    args = p.parse_args()
    rows = []
    print(f"backend {jax.default_backend()} ({jax.devices()[0].device_kind})")
    print(f"{'case':<14}{'net':<4}{'precision':<16}{'max abs':>10}{'rms':>10}{'img/s':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, G, gv, D, dv, ws, c, off in cases(args, Path(tmp)):
            img_nhwc = jnp.asarray(np.transpose(off["img32"], (0, 2, 3, 1)))
            for net, ref, official in (("G", off["img32"], off.get("img16")),
                                       ("D", off["logits32"], off.get("logits16"))):
                if official is not None:          # the official fp16 outputs are optional
                    mx, rms = _dist(official, ref)
                    rows.append(dict(case=name, net=net, precision="official fp16", max=mx,
                                     rms=rms))
                    print(f"{name:<14}{net:<4}{'official fp16':<16}{mx:>10.2e}{rms:>10.2e}")
                for prec in ("float32", "float16", "bfloat16"):
                    if net == "G":
                        out = np.transpose(np.asarray(model.synthesize(G, gv, ws, precision=prec)),
                                           (0, 3, 1, 2))
                        speed = _speed(G, gv, ws, prec, args.batch, args.repeats)
                    else:
                        out, speed = np.asarray(model.discriminate(D, dv, img_nhwc, c,
                                                                   precision=prec)), None
                    mx, rms = _dist(out, ref)
                    rows.append(dict(case=name, net=net, precision=prec, max=mx, rms=rms,
                                     img_per_s=speed))
                    sp = f"{speed:>9.1f}" if speed else ""
                    print(f"{name:<14}{net:<4}{'jaxgan ' + prec:<16}{mx:>10.2e}{rms:>10.2e}{sp}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
