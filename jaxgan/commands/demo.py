"""``jaxgan demo --out OUT``: the README main job in one command (see :mod:`jaxgan.demo`).

Trains a small shapes generator and a short StylEx from it, inverts held-out scenes, fits a
GANalyze direction, runs StylEx AttFind + the counterfactual report and GAN dissection, and
writes ``OUT/explorer/index.html``. About 9 minutes on 2 CPU cores; rerun to resume;
``--quick`` trains nothing (a smoke run on the built-in networks).
"""
from __future__ import annotations

import argparse

from jaxgan.commands.base import Command, UsageError


def _arguments(p: argparse.ArgumentParser) -> None:
    from jaxgan.demo import CLASSIFIER, SEGMENTER  # noqa: PLC0415 - no JAX import there
    p.add_argument("--out", default="out/demo", help="output folder (default out/demo)")
    p.add_argument("--seed", type=int, default=0, help="seed of every stage (default 0)")
    p.add_argument("--quick", action="store_true",
                   help="no training: a few steps of every other stage on the built-in "
                        "networks (a smoke run of a few minutes, results meaningless)")
    p.add_argument("--classifier", default=CLASSIFIER,
                   help=f"two-class shapes classifier StylEx explains (default {CLASSIFIER})")
    p.add_argument("--segmenter", default=SEGMENTER,
                   help=f"shapes segmenter: direction assessor, dissection (default {SEGMENTER})")
    p.add_argument("--redo", action="store_true",
                   help="rerun every stage even when its outputs exist (default: resume)")


def _run(args: argparse.Namespace) -> int:
    from jaxgan.demo import run_demo  # noqa: PLC0415
    if args.seed < 0:
        raise UsageError(f"--seed must be >= 0, got {args.seed}")
    res = run_demo(args.out, seed=args.seed, quick=args.quick, classifier=args.classifier,
                   segmenter=args.segmenter, redo=args.redo)
    print(res["explorer"])
    return 0


COMMANDS = (
    Command("demo", "the main job: train small nets on shapes, invert, a direction, StylEx "
            "AttFind, dissection, and the explorer page (~9 min on 2 CPU cores)",
            _arguments, _run),
)
