"""What every subcommand module uses: the :class:`Command` record, the user-error type and
the shared ``--precision`` flag. The CLI (:mod:`jaxgan.cli`) imports the command modules;
they import this module, never the CLI."""
from __future__ import annotations

import argparse
import math
from typing import Callable, NamedTuple

import numpy as np

from jaxgan.errors import UsageError

__all__ = ["Command", "PRECISION_CHOICES", "UsageError", "add_precision_argument", "check_finite",
           "check_finite_array", "with_precision"]


class Command(NamedTuple):
    """One subcommand: ``add_arguments(parser)`` then ``run(args) -> exit code``."""
    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int | None]


PRECISION_CHOICES = ("float32", "float16", "bfloat16")   # = jaxgan.nets.configs.PRECISIONS


def add_precision_argument(p: argparse.ArgumentParser) -> None:
    """``--precision float32|float16|bfloat16`` (default float32) for a rendering command."""
    p.add_argument("--precision", choices=PRECISION_CHOICES, default="float32",
                   help="compute precision of the generator/discriminator (default float32: "
                   "the official float32 result whatever num_fp16_res the checkpoint carries; "
                   "float16: the official mixed-precision path, fp16 in the top blocks with "
                   "clamping; bfloat16: the same in bfloat16, for TPUs)")


def with_precision(module, args: argparse.Namespace):
    """``module`` computing in ``args.precision`` (float32 when the command has no flag)."""
    from jaxgan.model import with_precision as _with  # noqa: PLC0415
    return _with(module, getattr(args, "precision", "float32"))


def check_finite(value: float, flag: str) -> float:
    """``value`` if finite, else a :class:`UsageError` naming ``flag``."""
    if not math.isfinite(value):
        raise UsageError(f"{flag} must be a finite number, got {value}")
    return value


def check_finite_array(a: np.ndarray, what: str) -> np.ndarray:
    """``a`` if every entry is finite, else a :class:`UsageError` naming ``what``."""
    bad = ~np.isfinite(a)
    if bad.any():
        rows = np.unique(np.nonzero(bad.reshape(len(a), -1) if a.ndim else bad)[0])
        raise UsageError(f"{what} holds {int(bad.sum())} non-finite value(s) (NaN/Inf), "
                         f"in row(s) {rows[:5].tolist()}")
    return a
