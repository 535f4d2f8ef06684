"""``jaxgan export``: networks from a training run, or official-format weight files.

Usage::

    jaxgan export --run RUN [--step N] [--out DIR]            # jaxgan checkpoints G_ema/ G/ D/
    jaxgan export (--ckpt CKPT | --run RUN [--step N]) --format official-npz --out OUT.npz
    jaxgan export (--ckpt CKPT | --run RUN [--step N]) --format safetensors --out OUT.safetensors

``--format jaxgan`` (the default) writes checkpoint directories from a run's snapshot.
``official-npz`` / ``safetensors`` write one file with G/D/G_ema under the official
stylegan2-ada-pytorch state-dict names (loadable into the official networks with
``load_state_dict``; read back by ``jaxgan convert``); see :mod:`jaxgan.convert.export`.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from jaxgan.commands.base import Command, UsageError
from jaxgan.outputs import guard_file, guard_outputs

FORMATS = ("jaxgan", "official-npz", "safetensors")


def _arguments(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--run", help="training run directory (has config.json, checkpoints/)")
    src.add_argument("--ckpt", help="checkpoint directory: one network, or G/ D/ G_ema/ "
                     "sub-checkpoints (as `jaxgan convert` writes them)")
    p.add_argument("--step", type=int, default=None, help="--run: checkpoint step (default: latest)")
    p.add_argument("--format", dest="fmt", choices=FORMATS, default="jaxgan",
                   help="jaxgan: checkpoint directories (--run only; default); official-npz: "
                   "one .npz of official state-dict names; safetensors: the same as .safetensors")
    p.add_argument("--out", default=None, help="output: a directory for --format jaxgan (default "
                   "RUN/snapshots/STEP), else the .npz / .safetensors file (required)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file "
                   "(--format jaxgan: the G_ema/ G/ D/ checkpoints in --out, only those)")


def _run(args) -> int:
    from jaxgan.convert.export import export  # noqa: PLC0415 - loads jax/orbax
    from jaxgan.training.export import export_snapshot  # noqa: PLC0415
    if args.fmt == "jaxgan":
        if args.ckpt:
            raise UsageError("--ckpt is already a jaxgan checkpoint: pass --format "
                             "official-npz or safetensors to export it")
        if args.out is not None:
            guard_outputs(args.out, ("G_ema", "G", "D"), args.overwrite)
        res = export_snapshot(args.run, args.out, args.step)
        print(f"exported step {res['step']} ({res['kimg']:.1f} kimg) to {res['out_dir']}/"
              f"{{G_ema,G,D}}", file=sys.stderr)
        return 0
    if not args.out:
        raise UsageError(f"--format {args.fmt} needs --out FILE")
    if args.ckpt and args.step is not None:
        raise UsageError("--step applies to --run only")
    guard_file(args.out, args.overwrite)
    if args.ckpt:
        out = export(args.ckpt, args.out, args.fmt, overwrite=args.overwrite)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            res = export_snapshot(args.run, Path(tmp) / "net", args.step)
            out = export(res["out_dir"], args.out, args.fmt, overwrite=args.overwrite)
    print(f"wrote {out} ({args.fmt})", file=sys.stderr)
    return 0


COMMANDS = (
    Command("export", "export G_ema/G/D from a training run, or write them under the official "
            "state-dict names (.npz / .safetensors)", _arguments, _run),
)
