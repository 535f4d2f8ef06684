"""``jaxgan train`` (the trainer, same flags as ``python -m jaxgan.train``), ``jaxgan train-classifier``
/ ``train-segmenter`` (the measuring networks; ``python -m jaxgan.train.classifier`` / ``.segmenter``).
Every one takes config overrides as positional ``key=value`` arguments. ``jaxgan export`` (networks
from any snapshot of a run, or official-format files) lives in :mod:`jaxgan.commands.export`."""
from __future__ import annotations

import argparse

from jaxgan.commands.base import Command, UsageError


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
    from jaxgan.train.__main__ import build_parser  # noqa: PLC0415
    build_parser(p)


def _train_run(args) -> int:
    from jaxgan.train.__main__ import run  # noqa: PLC0415
    return run(args)


def _classifier_arguments(kind: str):
    def add(p: argparse.ArgumentParser) -> None:
        from jaxgan.train.classifier import build_parser  # noqa: PLC0415
        build_parser(kind, p)
    return add


def _classifier_run(kind: str):
    def run(args) -> int:
        from jaxgan.train.classifier import run as run_classifier  # noqa: PLC0415
        return run_classifier(args, kind)
    return run


COMMANDS = (
    Command("train", "train or resume a StyleGAN2: --config NAME key=value ... (same as `python -m jaxgan.train`)",
            _train_arguments, _train_run),
    Command("train-classifier", "train a small classifier on the built-in data and print its "
            "held-out accuracy (same as `python -m jaxgan.train.classifier`)",
            _classifier_arguments("classifier"), _classifier_run("classifier")),
    Command("train-segmenter", "train the shapes concept segmenter and print its held-out mean "
            "IoU (same as `python -m jaxgan.train.segmenter`)",
            _classifier_arguments("segmenter"), _classifier_run("segmenter")),
)
