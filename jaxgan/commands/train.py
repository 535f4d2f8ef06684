"""``jaxgan train`` (the trainer, same flags as ``python -m train``) and ``jaxgan export``
(networks from any snapshot of a run)."""
from __future__ import annotations

import argparse
import sys

from jaxgan.cli import Command, UsageError


def train_config_group(args, group: str, example: str) -> dict:
    """Train ``args.config`` (+ ``args.overrides``) into ``args.out``; the config must hold the
    ``group`` section (e.g. 'stylex', 'domain'), else a usage error naming ``example``.

    Returns:
      :func:`jaxgan.training.loop.train`'s result.
    """
    from jaxgan.training.config import load_config  # noqa: PLC0415
    from jaxgan.training.loop import train  # noqa: PLC0415
    cfg = load_config(args.config, args.overrides)
    if group not in cfg:
        raise UsageError(f"config {args.config!r} has no {group!r} group (use {example})")
    return train(cfg, args.out, progress=not args.no_progress,
                 allow_changed=getattr(args, "allow_changed", False))


def _train_arguments(p: argparse.ArgumentParser) -> None:
    from train.__main__ import build_parser  # noqa: PLC0415
    build_parser(p)


def _train_run(args) -> int:
    from train.__main__ import run  # noqa: PLC0415
    return run(args)


def _export_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run", required=True, help="training run directory (has config.json, checkpoints/)")
    p.add_argument("--step", type=int, default=None, help="checkpoint step (default: latest)")
    p.add_argument("--out", default=None, help="output directory (default RUN/snapshots/STEP)")


def _export_run(args) -> int:
    from jaxgan.training.export import export_snapshot  # noqa: PLC0415
    res = export_snapshot(args.run, args.out, args.step)
    print(f"exported step {res['step']} ({res['kimg']:.1f} kimg) to {res['out_dir']}/"
          f"{{G_ema,G,D}}", file=sys.stderr)
    return 0


COMMANDS = (
    Command("train", "train or resume a StyleGAN2 (same as `python -m train`)",
            _train_arguments, _train_run),
    Command("export", "export G_ema/G/D from any checkpoint of a training run",
            _export_arguments, _export_run),
)
