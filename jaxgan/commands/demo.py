"""``jaxgan demo --out OUT``: the README main job in one command (see :mod:`jaxgan.demo`).

Starts from the built-in generator and StylEx model, inverts held-out scenes, fits a GANalyze
direction, runs StylEx AttFind + the counterfactual report and GAN dissection, and writes
``OUT/explorer/index.html`` (a few minutes on 2 CPU cores; rerun to resume).
``--classifier`` first trains a StylEx for that classifier from the built-in generator;
``--from-scratch`` trains a small generator and StylEx here first (~9 minutes more);
``--quick`` is a smoke run of every stage for a few steps.
"""
from __future__ import annotations

import argparse

from jaxgan.commands.base import Command, UsageError


def _arguments(p: argparse.ArgumentParser) -> None:
    from jaxgan.demo import BUILTIN_STYLEX, CLASSIFIER, SEGMENTER  # noqa: PLC0415 - no JAX there
    p.add_argument("--out", default="out/demo", help="output folder (default out/demo)")
    p.add_argument("--seed", type=int, default=0, help="seed of every stage (default 0)")
    p.add_argument("--quick", action="store_true",
                   help="no training: a few steps of every other stage on the built-in "
                        "networks (a smoke run of a few minutes, results meaningless)")
    p.add_argument("--from-scratch", action="store_true",
                   help="train the generator (configs/demo_shapes.py, 14 kimg) and a StylEx "
                        "from it (configs/demo_stylex.py, 4 kimg) here instead of starting "
                        "from the built-in networks (~9 minutes more on 2 CPU cores)")
    p.add_argument("--classifier", default=None,
                   help=f"two-class shapes classifier (32 px) StylEx explains; given, a StylEx "
                        f"for it is trained first (4 kimg from the built-in generator, or "
                        f"with --from-scratch). Default: the built-in {BUILTIN_STYLEX}'s own "
                        f"(large_high_horizon); with --from-scratch {CLASSIFIER}")
    p.add_argument("--segmenter", default=SEGMENTER,
                   help=f"shapes segmenter: direction assessor, dissection (default {SEGMENTER})")
    p.add_argument("--redo", action="store_true",
                   help="rerun every stage even when its outputs exist (default: resume)")


def _run(args: argparse.Namespace) -> int:
    from jaxgan.demo import run_demo  # noqa: PLC0415
    if args.seed < 0:
        raise UsageError(f"--seed must be >= 0, got {args.seed}")
    if args.quick and (args.from_scratch or args.classifier is not None):
        raise UsageError("--quick trains nothing, so it takes neither --from-scratch nor "
                         "--classifier (it explains the built-in StylEx)")
    res = run_demo(args.out, seed=args.seed, quick=args.quick, from_scratch=args.from_scratch,
                   classifier=args.classifier, segmenter=args.segmenter, redo=args.redo)
    print(res["explorer"])
    return 0


COMMANDS = (
    Command("demo", "the main job: from the built-in shapes networks, invert, a direction, "
            "StylEx AttFind, dissection, and the explorer page (a few minutes on 2 CPU cores; "
            "--from-scratch trains them first)",
            _arguments, _run),
)
