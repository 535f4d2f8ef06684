"""``jaxgan train`` (the trainer, same flags as ``python -m train``); ``jaxgan export`` (networks
from any snapshot of a run, or official-format files) lives in :mod:`jaxgan.commands.export`."""
from __future__ import annotations

import argparse

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
    return train(cfg, args.out, progress=not args.no_progress)


def _train_arguments(p: argparse.ArgumentParser) -> None:
    from train.__main__ import build_parser  # noqa: PLC0415
    build_parser(p)


def _train_run(args) -> int:
    from train.__main__ import run  # noqa: PLC0415
    return run(args)


COMMANDS = (
    Command("train", "train or resume a StyleGAN2 (same as `python -m train`)",
            _train_arguments, _train_run),
)
